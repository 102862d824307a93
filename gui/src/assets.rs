//! The page: `gui/web/dist` as `cargo xtask build-ui` leaves it, embedded in release builds
//! (an installed keeperdb needs no Node and no network) and read from disk in debug builds.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "$CARGO_MANIFEST_DIR/web/dist/"]
#[allow_missing = true]
struct Assets;

/// What to do when the page is missing.
pub const NOT_BUILT: &str = "the GUI's page was not built into this keeperdb: run `cargo xtask build-ui` (it needs Node.js and npm), then build or install keeperdb again";

/// Whether this binary has the page.
pub fn assets_built() -> bool {
    Assets::get("index.html").is_some()
}

fn serve(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype();
            let mut response = file.data.into_owned().into_response();
            if let Ok(value) = HeaderValue::from_str(mime) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
        None if path == "index.html" => {
            (StatusCode::SERVICE_UNAVAILABLE, NOT_BUILT).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Where `index.html` has the per-response nonce of its style elements.
const NONCE_SLOT: &str = "__CSP_NONCE__";

/// The page, with a fresh nonce for the `<style>` elements its editor (CodeMirror) adds, and
/// the Content-Security-Policy that allows those and nothing else inline.
pub async fn index() -> Response {
    let Some(file) = Assets::get("index.html") else {
        return (StatusCode::SERVICE_UNAVAILABLE, NOT_BUILT).into_response();
    };
    let nonce = crate::guard::new_secret();
    let html = String::from_utf8_lossy(&file.data).replace(NONCE_SLOT, &nonce);
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&crate::guard::csp(Some(&nonce))) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

pub async fn asset(Path(path): Path<String>) -> Response {
    // Debug builds read from disk: no name may climb out of the folder.
    if path
        .split(['/', '\\'])
        .any(|part| part == ".." || part.is_empty())
    {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    serve(&format!("assets/{path}"))
}
