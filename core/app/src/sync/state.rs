//! What this machine knows about its storage sync, in `storage.toml` (no secrets): which vault
//! and backend it syncs to, the local id of its preferences item, when it last synced, and the
//! digest of every item it wrote or confirmed, which is what allows it to remove a record it
//! mirrored once the local item is gone, and never a record of another machine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::{LocalStore, StoreError};

pub(crate) const STORAGE_FILE: &str = "storage.toml";
const FORMAT: u32 = 1;

/// The sync state of one config dir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SyncState {
    #[serde(default = "format")]
    pub format: u32,
    /// The attached vault synced to, by name.
    pub vault: String,
    /// That attachment's id: a vault attached again under the same name is another vault.
    pub vault_id: String,
    /// The storage backend plugin.
    pub backend: String,
    /// The local id of this config dir's preferences item.
    pub preferences_id: String,
    /// When storage was enabled (seconds since the Unix epoch).
    pub enabled_at: u64,
    /// When the last sync finished with the backend equal to the local state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<u64>,
    /// Local id -> digest of what the backend held when it was last written or confirmed from
    /// here; empty while a write is under way.
    #[serde(default)]
    pub synced: BTreeMap<String, String>,
}

fn format() -> u32 {
    FORMAT
}

impl LocalStore {
    fn storage_path(&self) -> std::path::PathBuf {
        self.dir().path().join(STORAGE_FILE)
    }

    /// The sync state; none when storage is not enabled.
    pub(crate) fn sync_state(&self) -> Result<Option<SyncState>, StoreError> {
        let path = self.storage_path();
        let Some(text) = crate::store::read_optional(&path)? else {
            return Ok(None);
        };
        let state: SyncState = crate::store::parse_toml(&text, &path)?;
        if state.format > FORMAT {
            return Err(StoreError::NewerFormat {
                path,
                found: state.format,
            });
        }
        Ok(Some(state))
    }

    /// Write the sync state (atomically: a kill leaves the old or the new one).
    pub(crate) fn write_sync_state(&self, state: &SyncState) -> Result<(), StoreError> {
        let path = self.storage_path();
        let text = toml::to_string_pretty(state).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        self.locked(|_| {
            crate::store::write_atomic(
                &path,
                format!("# keeperdb storage sync state (no secrets).\n{text}").as_bytes(),
            )
        })
    }

    /// Forget the sync state (storage disabled).
    pub(crate) fn remove_sync_state(&self) -> Result<(), StoreError> {
        let path = self.storage_path();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }
}
