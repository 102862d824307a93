//! `/api/vaults`: attach a Keeper vault with a one-time token (the name checked first, so a
//! bad name never spends the token), list, refresh and disconnect.

use axum::Json;
use axum::extract::State;
use keeperdb_core::vaults::{AttachRequest, RefreshReport, VaultStatus};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, Body, Shared, blocking, time_text};
use crate::error::ApiError;

/// The regions a token prefix may name.
const REGIONS: [&str; 6] = ["US", "EU", "AU", "CA", "JP", "GOV"];

fn shown(v: &VaultStatus) -> Value {
    let cached = v.cached.as_ref();
    json!({
        "name": v.name,
        "host": v.host,
        "region": v.region,
        "proxy": v.proxy,
        "attached_at": time_text(v.attached_at),
        "state": v.state(),
        "records": cached.map(|c| c.records_seen),
        "connections": cached.map_or(0, |c| c.connections.len()),
        "refreshed_at": cached.and_then(|c| c.refreshed()).map(time_text),
        "last_failure": cached.and_then(|c| c.last_failure.as_ref().map(|(_, why)| why.clone())),
    })
}

fn report(r: &RefreshReport) -> Value {
    match &r.outcome {
        Ok((records, connections, skipped)) => json!({
            "name": r.name, "ok": true, "records": records, "connections": connections,
            "skipped": skipped, "error": null,
        }),
        Err(why) => json!({
            "name": r.name, "ok": false, "records": 0, "connections": 0, "skipped": 0,
            "error": why,
        }),
    }
}

pub async fn list(State(state): State<Shared>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let vaults: Vec<Value> = app.vaults()?.iter().map(shown).collect();
        Ok(Json(json!({ "vaults": vaults })))
    })
    .await
}

#[derive(Deserialize)]
pub struct Name {
    name: String,
}

pub async fn check(State(state): State<Shared>, Body(n): Body<Name>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        app.check_vault_attachable(n.name.trim())?;
        Ok(Json(json!({})))
    })
    .await
}

#[derive(Deserialize)]
pub struct Attach {
    name: String,
    token: String,
    region: Option<String>,
    proxy: Option<String>,
    server_public_key: Option<String>,
    server_public_key_id: Option<u32>,
}

/// The token as the core takes it: a bare token gets the chosen region's prefix.
fn token_with_region(token: &str, region: Option<&str>) -> Result<SecretString, ApiError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::invalid(
            "the one-time access token is empty: paste the token the Secrets Manager application gave",
        ));
    }
    let region = region.map(str::trim).filter(|r| !r.is_empty());
    Ok(match region {
        // The token names its own region or host, which wins.
        Some(_) if token.contains(':') => SecretString::from(token.to_string()),
        Some(r) => {
            let r = r.to_ascii_uppercase();
            if !REGIONS.contains(&r.as_str()) {
                return Err(ApiError::invalid(format!(
                    "unknown region `{r}`: choose one of {}",
                    REGIONS.join(", ")
                )));
            }
            SecretString::from(format!("{r}:{token}"))
        }
        None => SecretString::from(token.to_string()),
    })
}

pub async fn attach(State(state): State<Shared>, Body(a): Body<Attach>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let name = a.name.trim().to_string();
        app.check_vault_attachable(&name)?;
        let server_key = match (a.server_public_key, a.server_public_key_id) {
            (Some(k), Some(id)) if !k.trim().is_empty() => Some((k.trim().to_string(), id)),
            (None, None) => None,
            (Some(k), None) if k.trim().is_empty() => None,
            _ => {
                return Err(ApiError::invalid(
                    "a server public key and its id go together: give both, or neither",
                ));
            }
        };
        let token = token_with_region(&a.token, a.region.as_deref())?;
        let proxy = a
            .proxy
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        let (status, refreshed) = app.attach_vault(AttachRequest {
            name,
            token,
            proxy,
            ca_bundle: None,
            server_key,
        })?;
        Ok(Json(
            json!({"vault": shown(&status), "refresh": report(&refreshed)}),
        ))
    })
    .await
}

#[derive(Deserialize)]
pub struct MaybeName {
    name: Option<String>,
}

pub async fn refresh(State(state): State<Shared>, Body(n): Body<MaybeName>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let reports: Vec<Value> = app
            .refresh_vaults(n.name.as_deref())?
            .iter()
            .map(report)
            .collect();
        Ok(Json(json!({ "reports": reports })))
    })
    .await
}

pub async fn disconnect(State(state): State<Shared>, Body(n): Body<Name>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        app.detach_vault(&n.name)?;
        Ok(Json(json!({})))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_bare_token_takes_the_chosen_region_and_a_prefixed_one_keeps_its_own() {
        let t = token_with_region("abc", Some("eu")).unwrap();
        assert_eq!(t.expose_secret(), "EU:abc");
        let t = token_with_region("US:abc", Some("EU")).unwrap();
        assert_eq!(t.expose_secret(), "US:abc");
        let t = token_with_region(" abc ", None).unwrap();
        assert_eq!(t.expose_secret(), "abc");
    }

    #[test]
    fn an_unknown_region_or_an_empty_token_is_refused_by_name() {
        let e = token_with_region("abc", Some("MARS")).unwrap_err();
        assert!(
            e.message.contains("MARS") && e.message.contains("GOV"),
            "{}",
            e.message
        );
        let e = token_with_region("  ", Some("US")).unwrap_err();
        assert!(e.message.contains("empty"), "{}", e.message);
    }
}
