//! The JSON API (`gui/API.md`): routes, shared state, and the helpers every handler uses.

mod connections;
mod query;
mod schema;
mod settings;
mod storage;
mod vaults;

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use keeperdb_core::App;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::guard::{self, Guard};
use crate::results::Results;
use crate::worker::{Context, Workers};

/// One progress report of the core (a plugin's, or the sync engine's).
#[derive(Debug, Clone)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub message: String,
}

/// What every handler shares.
pub struct State {
    pub ctx: Context,
    pub guard: Guard,
    pub workers: Workers,
    pub progress: broadcast::Sender<Progress>,
    /// One storage sync at a time.
    pub syncing: Arc<tokio::sync::Mutex<()>>,
}

pub type Shared = Arc<State>;

impl State {
    pub fn new(app: App, guard: Guard) -> Shared {
        let (progress, _) = broadcast::channel(1024);
        let sender = progress.clone();
        let app = app.with_progress(Arc::new(move |done, total, message: &str| {
            // No page listening is fine: nobody asked for progress.
            let _ = sender.send(Progress {
                done,
                total,
                message: message.to_string(),
            });
        }));
        Arc::new(Self {
            ctx: Context {
                app: Arc::new(app),
                results: Arc::new(Results::default()),
            },
            guard,
            workers: Workers::default(),
            progress,
            syncing: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn app(&self) -> &Arc<App> {
        &self.ctx.app
    }
}

/// Run blocking core work (files, plugins, the vault, the database) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the request's work failed: {e}")))?
}

/// A JSON body whose rejection is an [`ApiError`] naming what was wrong.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError::invalid(format!(
                "the request is not what this call takes: {}",
                rejection.body_text()
            ))),
        }
    }
}

pub type Answer = Result<Json<serde_json::Value>, ApiError>;

/// RFC 3339 text of a time, for the page.
pub fn time_text(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn router(state: Shared) -> Router {
    let guarded = Arc::clone(&state);
    Router::new()
        .route("/", get(crate::assets::index))
        .route("/assets/{*path}", get(crate::assets::asset))
        .route("/api/state", get(settings::state))
        .route("/api/prefs", get(settings::prefs).post(settings::set_pref))
        .route("/api/connections", get(connections::list))
        .route("/api/connections/add", post(connections::add))
        .route("/api/connections/remove", post(connections::remove))
        .route("/api/vaults", get(vaults::list))
        .route("/api/vaults/check", post(vaults::check))
        .route("/api/vaults/attach", post(vaults::attach))
        .route("/api/vaults/refresh", post(vaults::refresh))
        .route("/api/vaults/disconnect", post(vaults::disconnect))
        .route("/api/storage", get(storage::status))
        .route("/api/storage/enable", post(storage::enable))
        .route("/api/storage/disable", post(storage::disable))
        .route("/api/storage/pull", post(storage::pull))
        .route("/api/storage/sync", post(storage::sync))
        .route("/api/connect", post(query::connect))
        .route("/api/query", post(query::query))
        .route("/api/cancel", post(query::cancel))
        .route("/api/history", get(query::history))
        .route("/api/results/{id}", get(query::result))
        .route("/api/results/{id}/rows", get(query::rows))
        .route("/api/results/{id}/fetch-all", post(query::fetch_all))
        .route("/api/results/{id}/text", get(query::text))
        .route("/api/results/{id}/export", get(query::export))
        .route("/api/results/{id}/close", post(query::close))
        .route("/api/schema/databases", get(schema::databases))
        .route("/api/schema/tables", get(schema::tables))
        .route("/api/schema/columns", get(schema::columns))
        .route("/api/schema/open", post(schema::open))
        .fallback(|| async { ApiError::not_found("no such page or API call") })
        .layer(middleware::from_fn(move |request, next| {
            let state = Arc::clone(&guarded);
            async move { guard::check(&state.guard, request, next).await }
        }))
        .with_state(state)
}
