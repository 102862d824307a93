//! The seed file: plain (unencrypted) folders, records and applications that the emulator
//! encrypts into its vault at start. See the crate docs for the format.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::EmulatorError;

/// A whole seed: what the vault holds before any client talks to it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// KSM applications. When empty, one application named `keeperdb` is made that sees every
    /// shared folder (top-level folder) and every record outside a folder.
    #[serde(default)]
    pub apps: Vec<SeedApp>,
    /// Folders, parents before children. A folder without `parent` is a shared folder.
    #[serde(default)]
    pub folders: Vec<SeedFolder>,
    /// Records.
    #[serde(default)]
    pub records: Vec<SeedRecord>,
}

/// A KSM application (what a one-time token binds a client to).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApp {
    /// Name; tokens are issued by application name.
    pub name: String,
    /// Shared folders shared to the app, by UID or name.
    #[serde(default)]
    pub shared_folders: Vec<String>,
    /// Records shared to the app directly, by UID or title.
    #[serde(default)]
    pub records: Vec<String>,
    /// Whether the app may create, update and delete (default true).
    #[serde(default = "yes")]
    pub editable: bool,
}

fn yes() -> bool {
    true
}

/// A folder. Top-level folders are shared folders; folders with a `parent` are subfolders.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFolder {
    /// UID (url-safe base64 characters); made up when absent.
    #[serde(default)]
    pub uid: Option<String>,
    /// Folder name.
    pub name: String,
    /// Parent folder, by UID or name.
    #[serde(default)]
    pub parent: Option<String>,
}

/// A record in plain form: the JSON a KSM client decrypts, plus where it lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRecord {
    /// UID (url-safe base64 characters); made up when absent.
    #[serde(default)]
    pub uid: Option<String>,
    /// Folder holding the record, by UID or name; absent for a record outside any folder.
    #[serde(default)]
    pub folder: Option<String>,
    /// Record type, e.g. `databaseCredentials`, `pamDatabase`, `pamUser`, `login`.
    #[serde(rename = "type")]
    pub record_type: String,
    /// Title.
    pub title: String,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// Standard fields, each `{"type", "label"?, "value": [...]}`.
    #[serde(default)]
    pub fields: Vec<Value>,
    /// Custom fields, same shape.
    #[serde(default)]
    pub custom: Vec<Value>,
    /// Links to other records (e.g. a pamDatabase's pamUser credential).
    #[serde(default)]
    pub links: Vec<SeedLink>,
    /// File attachments (their UIDs are added to the record's `fileRef` field).
    #[serde(default)]
    pub files: Vec<SeedFile>,
}

/// A file attached to a record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    /// File name.
    pub name: String,
    /// Title (defaults to the name).
    #[serde(default)]
    pub title: Option<String>,
    /// MIME type (default `application/octet-stream`).
    #[serde(default, rename = "type")]
    pub mime_type: Option<String>,
    /// Content as text.
    #[serde(default)]
    pub content: Option<String>,
    /// Content as standard base64 (for binary files).
    #[serde(default)]
    pub content_base64: Option<String>,
}

/// A record link (protocol doc §7.4), returned when a client asks for links.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedLink {
    /// The linked record, by UID or title.
    pub record: String,
    /// Link data (sent as base64 of this JSON); null for a pure reference.
    #[serde(default)]
    pub data: Option<Value>,
    /// Link path: null for a credential link, `meta` for the settings self-link.
    #[serde(default)]
    pub path: Option<String>,
}

impl Seed {
    /// Reads a seed file; the error names the file and what was wrong.
    pub fn from_file(path: &Path) -> Result<Seed, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|e| EmulatorError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        serde_json::from_str(&text)
            .map_err(|e| EmulatorError::Seed(format!("{}: {e}", path.display())))
    }

    /// Parses seed JSON text.
    pub fn from_json(text: &str) -> Result<Seed, EmulatorError> {
        serde_json::from_str(text).map_err(|e| EmulatorError::Seed(e.to_string()))
    }
}

impl SeedRecord {
    /// The record JSON as the service stores it (what a client decrypts).
    pub fn record_json(&self) -> Value {
        serde_json::json!({
            "type": self.record_type,
            "title": self.title,
            "notes": self.notes,
            "fields": self.fields,
            "custom": self.custom,
        })
    }
}

pub(crate) fn check_fields(
    title: &str,
    which: &str,
    fields: &[Value],
) -> Result<(), EmulatorError> {
    for (i, f) in fields.iter().enumerate() {
        let ok = f.get("type").is_some_and(Value::is_string)
            && f.get("value").is_some_and(Value::is_array);
        if !ok {
            return Err(EmulatorError::Seed(format!(
                "record {title:?}: {which}[{i}] needs a string \"type\" and an array \"value\""
            )));
        }
    }
    Ok(())
}
