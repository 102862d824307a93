//! `/api/storage`: storage sync of saved connections and preferences into a vault, with the
//! sync's progress streamed to the page as JSON lines (`Configuring... N of M`).

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use keeperdb_core::App;
use keeperdb_core::sync::{PlanSummary, StorageStatus, SyncReport};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_stream::wrappers::ReceiverStream;

use super::{Answer, Body, Shared, blocking, time_text};
use crate::error::ApiError;

/// After a saved connection or a preference changed: sync if the user asked for that, and
/// say why it failed (the change itself is saved either way).
pub fn after_change(app: &App) -> Option<String> {
    match app.sync_after_change() {
        Some(Err(e)) => Some(format!(
            "the change was saved here, but storage sync failed: {e}; sync again from Settings, Storage"
        )),
        _ => None,
    }
}

fn pending(p: &PlanSummary) -> Value {
    json!({
        "in_sync": p.in_sync,
        "writes": p.writes.len(),
        "removals": p.removals.len(),
        "only_in_backend": p.only_remote.len(),
        "changed_elsewhere": p.changed_remotely.len(),
        "unreadable": p.unreadable.len(),
        "write_labels": p.writes.iter().map(|(label, _)| label).collect::<Vec<_>>(),
        "only_in_backend_labels": p.only_remote,
        "changed_elsewhere_labels": p.changed_remotely,
        "unreadable_labels": p.unreadable.iter().map(|(label, why)| json!({"name": label, "reason": why})).collect::<Vec<_>>(),
    })
}

fn shown(available: bool, status: Option<&StorageStatus>) -> Value {
    match status {
        Some(s) => json!({
            "available": available, "enabled": true, "vault": s.vault, "backend": s.backend,
            "enabled_at": time_text(s.enabled_at), "last_sync": s.last_sync.map(time_text),
            "pending": pending(&s.pending),
        }),
        None => json!({
            "available": available, "enabled": false, "vault": null, "backend": null,
            "enabled_at": null, "last_sync": null, "pending": null,
        }),
    }
}

pub async fn status(State(state): State<Shared>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let available = app.storage_available();
        if !available {
            return Ok(Json(shown(false, None)));
        }
        match app.storage_status() {
            Ok(s) => Ok(Json(shown(true, Some(&s)))),
            Err(keeperdb_core::Error::Sync(keeperdb_core::sync::SyncError::NotEnabled)) => {
                Ok(Json(shown(true, None)))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}

#[derive(Deserialize)]
pub struct Enable {
    vault: String,
}

pub async fn enable(State(state): State<Shared>, Body(e): Body<Enable>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let status = app.storage_enable(e.vault.trim())?;
        Ok(Json(shown(true, Some(&status))))
    })
    .await
}

pub async fn disable(State(state): State<Shared>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        app.storage_disable()?;
        Ok(Json(json!({})))
    })
    .await
}

pub async fn pull(State(state): State<Shared>) -> Answer {
    let app = state.app().clone();
    let _one = state.syncing.try_lock().map_err(|_| running())?;
    blocking(move || {
        let r = app.storage_pull()?;
        Ok(Json(json!({
            "restored": r.restored, "updated": r.updated, "passwords": r.passwords,
            "preferences": r.preferences,
            "skipped": r.skipped.iter().map(|(name, why)| json!({"name": name, "reason": why})).collect::<Vec<_>>(),
        })))
    })
    .await
}

fn running() -> ApiError {
    ApiError::conflict("a storage sync is running already: wait for it to finish")
}

#[derive(Deserialize)]
pub struct Sync {
    #[serde(default)]
    dry_run: bool,
}

fn line(value: &Value) -> Bytes {
    let mut text = value.to_string();
    text.push('\n');
    Bytes::from(text)
}

fn done(report: &SyncReport) -> Value {
    json!({
        "type": "done", "applied": report.applied, "rounds": report.rounds,
        "dry_run": report.dry_run, "pending": pending(&report.plan),
    })
}

/// Run a sync, answering with its progress as JSON lines, then how it ended.
pub async fn sync(State(state): State<Shared>, Body(s): Body<Sync>) -> Result<Response, ApiError> {
    let one = Arc::clone(&state.syncing)
        .try_lock_owned()
        .map_err(|_| running())?;
    // Subscribed before the sync starts, so no report is missed.
    let mut reports = state.progress.subscribe();
    let (lines, body) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    let app = state.app().clone();
    tokio::spawn(async move {
        let _one = one;
        let mut work = tokio::task::spawn_blocking(move || app.storage_sync(s.dry_run));
        let ended = loop {
            tokio::select! {
                biased;
                report = reports.recv() => match report {
                    Ok(p) => {
                        let progress = json!({
                            "type": "progress", "done": p.done, "total": p.total, "message": p.message,
                        });
                        // A page that went away stops nothing: the sync runs to its end.
                        let _ = lines.send(Ok(line(&progress))).await;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break (&mut work).await,
                },
                ended = &mut work => break ended,
            }
        };
        while let Ok(p) = reports.try_recv() {
            let progress = json!({
                "type": "progress", "done": p.done, "total": p.total, "message": p.message,
            });
            let _ = lines.send(Ok(line(&progress))).await;
        }
        let end = match ended {
            Ok(Ok(report)) => done(&report),
            Ok(Err(e)) => json!({"type": "error", "error": ApiError::from(e).json()}),
            Err(e) => {
                json!({"type": "error", "error": ApiError::internal(format!("the sync failed: {e}")).json()})
            }
        };
        let _ = lines.send(Ok(line(&end))).await;
    });
    let body = HttpBody::from_stream(ReceiverStream::new(body));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
