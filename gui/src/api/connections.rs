//! `/api/connections`: every source's connections in one list, with the host's badges, and
//! saving or removing keeperdb's own.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use keeperdb_core::Connection;
use keeperdb_core::model::LOCAL_SOURCE_ID;
use keeperdb_core::store::PasswordChange;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, Body, Shared, blocking, time_text};
use crate::error::ApiError;

/// A connection as the page shows it. Never a password: connections carry none.
pub fn shown(c: &Connection, stale: bool) -> Value {
    let spec = &c.spec;
    let scope = c.origin.vault.as_deref().unwrap_or(&c.origin.source);
    json!({
        "id": c.id.as_str(),
        "name": spec.name,
        "key": format!("{scope}/{}", spec.name),
        "source": c.origin.source,
        "badge": c.origin.badge,
        "vault": c.origin.vault,
        "engine": spec.engine.as_str(),
        "target": spec.target(),
        "host": spec.host,
        "port": spec.effective_port(),
        "database": spec.database,
        "user": spec.user,
        "environment": spec.environment,
        "color": spec.color,
        "read_only": spec.read_only,
        "stale": stale,
        "local": c.origin.source == LOCAL_SOURCE_ID,
    })
}

pub async fn list(State(state): State<Shared>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let listing = app.registry().list();
        let stale_sources: HashSet<&str> = listing.stale.iter().map(|(s, _)| s.as_str()).collect();
        let connections: Vec<Value> = listing
            .connections
            .iter()
            .map(|c| shown(c, stale_sources.contains(c.origin.source.as_str())))
            .collect();
        let failures: Vec<Value> = listing
            .failures
            .iter()
            .map(|f| json!({"source": f.source, "message": f.error.to_string()}))
            .collect();
        let stale: Vec<Value> = listing
            .stale
            .iter()
            .map(|(source, s)| {
                json!({"source": source, "refreshed_at": time_text(s.refreshed_at), "reason": s.reason})
            })
            .collect();
        let skipped: Vec<Value> = listing
            .skipped
            .iter()
            .map(|(source, s)| json!({"source": source, "name": s.entry, "reason": s.reason}))
            .collect();
        Ok(Json(json!({
            "connections": connections,
            "failures": failures,
            "stale": stale,
            "skipped": skipped,
        })))
    })
    .await
}

#[derive(Deserialize)]
pub struct NewConnection {
    name: Option<String>,
    url: String,
    password: Option<String>,
    environment: Option<String>,
    color: Option<String>,
    #[serde(default)]
    read_only: bool,
}

pub async fn add(State(state): State<Shared>, Body(new): Body<NewConnection>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let parsed = app.parse_url(new.url.trim())?;
        if parsed.password.is_some() {
            return Err(ApiError::invalid(
                "the URL contains a password: leave it out of the URL and type it in the password field, which is kept in the OS credential store",
            ));
        }
        let mut connection = parsed.connection;
        if connection.spec.engine.is_file_based()
            && !connection
                .spec
                .database
                .as_deref()
                .is_some_and(|p| std::path::Path::new(p).is_absolute())
        {
            return Err(ApiError::invalid(
                "a database file must be given by its absolute path (the GUI has no working directory to resolve it from)",
            ));
        }
        let blank = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if let Some(name) = blank(new.name) {
            connection.spec.name = name;
        }
        if connection.spec.name.is_empty() {
            connection.spec.name = connection.spec.target();
        }
        connection.spec.environment = blank(new.environment);
        connection.spec.color = blank(new.color);
        connection.spec.read_only = new.read_only;
        let change = match new.password.filter(|p| !p.is_empty()) {
            Some(p) => PasswordChange::Set(SecretString::from(p)),
            None => PasswordChange::Keep,
        };
        let saved = app.store().add(connection, change)?;
        let mut shown = shown(&saved.connection, false);
        shown["sync_warning"] = json!(super::storage::after_change(&app));
        Ok(Json(shown))
    })
    .await
}

#[derive(Deserialize)]
pub struct Named {
    id: String,
}

pub async fn remove(State(state): State<Shared>, Body(named): Body<Named>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        app.ensure_local(&named.id)?;
        app.store().remove(&named.id)?;
        Ok(Json(
            json!({"sync_warning": super::storage::after_change(&app)}),
        ))
    })
    .await
}
