//! Vault records as the SDK decrypts them, turned into the capability's records with every
//! secret value withheld, and secret values looked up for host-side resolution. Records are
//! hostile input: shapes are checked here, never assumed (the SDK's own accessors unwrap).

use keeper_secrets_manager_core::dto::dtos::Record;
use keeperdb_wasm_host::vault_types::{Field, RecordLink, VaultRecord, is_secret_field_type};
use secrecy::SecretString;
use serde_json::Value;

/// The record with secrets withheld; links only when they were asked for.
pub(crate) fn to_vault_record(record: &Record, with_links: bool) -> VaultRecord {
    let dict = &record.record_dict;
    VaultRecord {
        uid: record.uid.clone(),
        record_type: dict
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(&record.record_type)
            .to_string(),
        title: dict
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or(&record.title)
            .to_string(),
        folder_uid: record
            .inner_folder_uid
            .clone()
            .or_else(|| Some(record.folder_uid.clone()).filter(|f| !f.is_empty())),
        fields: fields(dict.get("fields")),
        custom: fields(dict.get("custom")),
        notes: dict
            .get("notes")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        links: if with_links {
            record
                .get_links()
                .iter()
                .map(|l| RecordLink {
                    record_uid: l.record_uid.clone(),
                    path: l.path.clone(),
                    is_admin: l.is_admin_user(),
                    is_launch_credential: l.is_launch_credential(),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

fn fields(list: Option<&Value>) -> Vec<Field> {
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let field_type = item.get("type")?.as_str()?.to_string();
            let label = item
                .get("label")
                .and_then(Value::as_str)
                .filter(|l| !l.is_empty())
                .map(str::to_string);
            // `Field::new` withholds a secret type's value (the host's one list).
            let value = match item.get("value") {
                Some(v @ Value::Array(_)) if !is_secret_field_type(&field_type) => v.to_string(),
                _ => "[]".to_string(),
            };
            Some(Field::new(field_type, label, value))
        })
        .collect()
}

/// The first value of a field, matched as the SDK matches: a standard field by exact label,
/// then by type (any case); then a custom field the same way. `None` when there is no such
/// field or its first value is not text.
pub(crate) fn field_value(record: &Record, name: &str) -> Option<SecretString> {
    let dict = &record.record_dict;
    ["fields", "custom"].into_iter().find_map(|section| {
        let Some(Value::Array(items)) = dict.get(section) else {
            return None;
        };
        let by_label = items
            .iter()
            .find(|f| f.get("label").and_then(Value::as_str) == Some(name));
        let by_type = || {
            items.iter().find(|f| {
                f.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case(name))
            })
        };
        let field = by_label.or_else(by_type)?;
        match field.get("value")?.as_array()?.first()? {
            Value::String(s) if !s.is_empty() => Some(SecretString::from(s.clone())),
            _ => None,
        }
    })
}
