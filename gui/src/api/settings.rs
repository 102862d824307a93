//! `/api/state` and `/api/prefs`: what the page needs to start, and preferences that apply at
//! once (and sync as the one preferences record when storage sync is on).

use axum::Json;
use axum::extract::State;
use keeperdb_core::prefs::Mode;
use serde::Deserialize;
use serde_json::json;

use super::{Answer, Body, Shared, blocking};

pub async fn state(State(state): State<Shared>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let prefs = app.store().preferences()?;
        let vaults = app.store().vault_attachments()?.len();
        let connections = app.store().connections()?.len();
        Ok(Json(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "mode": prefs.mode,
            "storage_available": prefs.mode == Mode::Standalone && app.storage_available(),
            "vaults": vaults,
            "connections": connections,
            "prefs": prefs,
        })))
    })
    .await
}

pub async fn prefs(State(state): State<Shared>) -> Answer {
    let app = state.app().clone();
    blocking(move || Ok(Json(json!(app.store().preferences()?)))).await
}

#[derive(Deserialize)]
pub struct SetPref {
    key: String,
    value: String,
}

pub async fn set_pref(State(state): State<Shared>, Body(set): Body<SetPref>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let prefs = app.store().set_preference(&set.key, &set.value)?;
        Ok(Json(json!({
            "prefs": prefs,
            "sync_warning": super::storage::after_change(&app),
        })))
    })
    .await
}
