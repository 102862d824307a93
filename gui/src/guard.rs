//! Who may talk to the server. A server on 127.0.0.1 is reachable by every page the user's
//! browser opens and, through DNS rebinding, by any site's scripts; so every request is
//! checked here before any handler runs:
//!
//! - the `Host` must name this server (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`);
//! - the one-time token of the launch URL is exchanged, once, for a session cookie (HttpOnly,
//!   SameSite=Strict) and dropped from the address bar by a redirect;
//! - everything else needs that cookie;
//! - a state change is a POST of JSON with the `X-KeeperDB` header and this server's own
//!   `Origin`, so no form or cross-site script can make one; a cross-site `Origin` or
//!   `Sec-Fetch-Site` is refused on any request;
//! - every answer carries a strict Content-Security-Policy and no CORS headers.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;

use crate::error::ApiError;

/// The cookie that carries the session.
pub const COOKIE: &str = "keeperdb_session";
/// The header every state-changing call carries (a page on another origin cannot send it
/// without a CORS preflight, which this server never answers).
pub const CSRF_HEADER: &str = "x-keeperdb";

/// The Content-Security-Policy: the page's own scripts and styles only, plus, on the page
/// itself, `<style>` elements carrying its per-response nonce (the editor adds those).
pub fn csp(style_nonce: Option<&str>) -> String {
    let styles = match style_nonce {
        Some(n) => format!("'self' 'nonce-{n}'"),
        None => "'self'".to_string(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src {styles}; img-src 'self' data:; \
         font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// 32 random bytes as hex: launch tokens and session ids.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The launch token and the sessions it opened.
pub struct Guard {
    port: u16,
    token: Mutex<Option<String>>,
    sessions: Mutex<HashSet<String>>,
}

impl Guard {
    pub fn new(port: u16, token: String) -> Self {
        Self {
            port,
            token: Mutex::new(Some(token)),
            sessions: Mutex::new(HashSet::new()),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let port = self.port;
        [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Spend the launch token: a new session id if `offered` is it, once.
    fn exchange(&self, offered: &str) -> Option<String> {
        let mut token = self.token.lock().unwrap_or_else(|p| p.into_inner());
        let matches = token
            .as_deref()
            .is_some_and(|t| constant_time_eq(t.as_bytes(), offered.as_bytes()));
        if !matches {
            return None;
        }
        *token = None;
        let session = new_secret();
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session.clone());
        Some(session)
    }

    fn has_session(&self, headers: &HeaderMap) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        cookie(headers, COOKIE).is_some_and(|id| {
            sessions
                .iter()
                .any(|s| constant_time_eq(s.as_bytes(), id.as_bytes()))
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn launch_token(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_string())
}

/// A refusal: JSON for the API, a line of text for a page load.
fn refuse(api: bool, status: StatusCode, message: &str) -> Response {
    if api {
        return ApiError::new(status, "denied", message).into_response();
    }
    let mut response = (status, message.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The check in front of every route.
pub async fn check(guard: &Guard, request: Request, next: Next) -> Response {
    let mut response = decide(guard, request, next).await;
    secure_headers(response.headers_mut());
    response
}

async fn decide(guard: &Guard, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let headers = request.headers();
    let Some(host) = header_str(headers, header::HOST).filter(|h| guard.host_allowed(h)) else {
        return refuse(
            api,
            StatusCode::MISDIRECTED_REQUEST,
            "this keeperdb server answers only to 127.0.0.1, localhost and [::1] on its own port",
        );
    };
    let own_origin = format!("http://{host}");
    let origin = header_str(headers, header::ORIGIN);
    if origin.is_some_and(|o| o != own_origin)
        || header_str(headers, "sec-fetch-site").is_some_and(|s| s == "cross-site")
    {
        return refuse(
            api,
            StatusCode::FORBIDDEN,
            "requests from other sites are refused",
        );
    }
    if request.method() == Method::GET
        && request.uri().path() == "/"
        && let Some(offered) = launch_token(&request)
    {
        return match guard.exchange(&offered) {
            Some(session) => signed_in(&session),
            None => refuse(
                false,
                StatusCode::FORBIDDEN,
                "this launch link was already used or is not this server's; run `keeperdb ui` again for a new one",
            ),
        };
    }
    if !guard.has_session(headers) {
        return refuse(
            api,
            StatusCode::UNAUTHORIZED,
            "not signed in: open the link `keeperdb ui` printed, or run it again for a new one",
        );
    }
    match *request.method() {
        Method::GET | Method::HEAD => {}
        Method::POST => {
            let json = header_str(headers, header::CONTENT_TYPE)
                .is_some_and(|c| c.trim().starts_with("application/json"));
            let marked = header_str(headers, CSRF_HEADER) == Some("1");
            if !(json && marked && origin == Some(own_origin.as_str())) {
                return refuse(
                    api,
                    StatusCode::FORBIDDEN,
                    "a change must be a JSON POST from this page (Content-Type application/json, X-KeeperDB: 1, this server's Origin)",
                );
            }
        }
        _ => {
            return refuse(api, StatusCode::METHOD_NOT_ALLOWED, "only GET and POST");
        }
    }
    next.run(request).await
}

fn signed_in(session: &str) -> Response {
    let cookie = format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    response
}

fn secure_headers(headers: &mut HeaderMap) {
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(value) = HeaderValue::from_str(&csp(None))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launch_token_opens_one_session_only() {
        let guard = Guard::new(8080, "t0ken".into());
        assert!(guard.exchange("wrong").is_none());
        let session = guard.exchange("t0ken").expect("first use");
        assert!(guard.exchange("t0ken").is_none(), "second use");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={session}")).unwrap(),
        );
        assert!(guard.has_session(&headers));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{COOKIE}={session}x")).unwrap(),
        );
        assert!(!guard.has_session(&headers));
    }

    #[test]
    fn only_loopback_names_on_the_own_port_are_hosts() {
        let guard = Guard::new(8080, "t".into());
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(guard.host_allowed(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1:8081",
            "evil.example:8080",
            "127.0.0.1",
            "localhost",
        ] {
            assert!(!guard.host_allowed(bad), "{bad}");
        }
    }
}
