//! A keeperdb storage backend: keeps each item (a saved connection, or the preferences) as one
//! record in the Keeper vault folder `__ID__`, made inside the first shared folder the KSM
//! application can edit. The payload is the record's notes, the local id and kind are custom
//! fields, and a connection's password is the record's `password` field, written by the host
//! from a handle so it never enters this plugin.
//!
//! Change where and how items are kept; the SDK's guide is `keeperdb-sdk/plugin`
//! (`cargo doc --open`), and README.md says how to build, pack and install.

use keeperdb_plugin::vault::{self, NewField, NewRecord, VaultRecord};
use keeperdb_plugin::{Error, ItemKind, NewItem, StorageBackend, StoredItem, VaultFieldRef};

struct Storage;

const FOLDER: &str = "__ID__";
const LOCAL_ID: &str = "keeperdb_local_id";
const KIND: &str = "keeperdb_kind";

/// The folder items live in, made on first use.
fn folder() -> Result<String, Error> {
    let folders = vault::list_folders()?;
    if let Some(f) = folders.iter().find(|f| f.name == FOLDER) {
        return Ok(f.uid.clone());
    }
    let shared = folders.iter().find(|f| f.parent_uid.is_none()).ok_or_else(|| {
        Error::Unavailable("the application sees no shared folder: share one with it".into())
    })?;
    vault::create_folder(&shared.uid, FOLDER)
}

/// The one string in a field's JSON array value.
fn text(record: &VaultRecord, label: &str) -> Option<String> {
    let field = record.custom_field(label)?;
    let value: Vec<String> = serde_json::from_str(&field.value).ok()?;
    value.into_iter().next()
}

fn text_field(label: &str, value: &str) -> NewField {
    NewField::new("text", Some(label), serde_json::json!([value]).to_string())
}

impl StorageBackend for Storage {
    fn list_items() -> Result<Vec<StoredItem>, Error> {
        let folder = folder()?;
        let mut items = Vec::new();
        for record in vault::list_records(Some(&folder), false)? {
            // Records this backend did not write are not its items.
            let Some(local_id) = text(&record, LOCAL_ID) else {
                continue;
            };
            let kind = match text(&record, KIND).as_deref() {
                Some("preferences") => ItemKind::Preferences,
                _ => ItemKind::Connection,
            };
            let secret = record.fields.iter().any(|f| f.field_type == "password");
            items.push(StoredItem {
                local_id,
                remote_ref: record.uid.clone(),
                kind,
                payload: record.notes.clone().unwrap_or_default(),
                secret: secret.then(|| VaultFieldRef {
                    record_uid: record.uid.clone(),
                    field: "password".into(),
                }),
            });
        }
        Ok(items)
    }

    fn put(item: NewItem) -> Result<String, Error> {
        let kind = match item.kind {
            ItemKind::Connection => "connection",
            ItemKind::Preferences => "preferences",
        };
        let mut fields = Vec::new();
        if let Some(handle) = &item.secret {
            // The host writes the secret the handle stands for; this plugin never holds it.
            fields.push(NewField::secret("password", None, handle.as_str()));
        }
        let record = NewRecord {
            record_type: "login".into(),
            title: format!("keeperdb {kind} {}", item.local_id),
            fields,
            custom: vec![text_field(LOCAL_ID, &item.local_id), text_field(KIND, kind)],
            notes: Some(item.payload),
        };
        vault::create_record(&folder()?, &record)
    }

    fn remove(remote_ref: String) -> Result<(), Error> {
        vault::delete_record(&remote_ref)
    }
}

keeperdb_plugin::export_storage_backend!(Storage);
