//! keeperdb-gui: `keeperdb ui`, the local web GUI.
//!
//! An HTTP shell over the same [`keeperdb_core::App`] the CLI uses: it serves the page (built
//! from `gui/web` by `cargo xtask build-ui` and embedded in the binary) and a JSON API
//! (`gui/API.md`) on 127.0.0.1 only. Everything a shell decides (which connection, what may
//! run, what syncs) is the core's; this crate turns HTTP into core calls and core answers into
//! JSON.
//!
//! A local server is reachable by every web page the user opens, so it trusts no request by
//! default ([`guard`]): the `Host` must be this server's (DNS rebinding), the one-time launch
//! token becomes an HttpOnly, SameSite=Strict cookie, state changes need POST + JSON + a custom
//! header + a same-origin `Origin`, and a strict Content-Security-Policy holds the page to its
//! own scripts. No secret is ever sent to the page.

mod api;
mod assets;
mod error;
mod guard;
mod results;
mod worker;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use keeperdb_core::App;

pub use assets::{NOT_BUILT, assets_built};
pub use error::{UiError, UiErrorKind};

/// A bound, not yet serving, GUI server.
pub struct Ui {
    listener: TcpListener,
    port: u16,
    token: String,
    app: App,
}

impl Ui {
    /// Bind 127.0.0.1 on `port` (0: a free port the OS picks).
    pub fn bind(app: App, port: u16) -> Result<Self, UiError> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .map_err(|source| UiError::Bind { port, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| UiError::Bind { port, source })?
            .port();
        Ok(Self {
            listener,
            port,
            token: guard::new_secret(),
            app,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL to open: it carries the one-time token, which the first visit exchanges for a
    /// cookie. It is a secret until then: show it only to the user who started the server.
    pub fn launch_url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.token)
    }

    /// Serve until the process ends (or the listener fails).
    pub fn serve(self) -> Result<(), UiError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(UiError::Runtime)?;
        runtime.block_on(async move {
            self.listener
                .set_nonblocking(true)
                .map_err(UiError::Runtime)?;
            let listener =
                tokio::net::TcpListener::from_std(self.listener).map_err(UiError::Runtime)?;
            let state = api::State::new(self.app, guard::Guard::new(self.port, self.token));
            let router = api::router(Arc::clone(&state));
            axum::serve(listener, router)
                .await
                .map_err(UiError::Runtime)
        })
    }
}
