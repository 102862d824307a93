//! [`WasmStorage`]: a loaded `storage-backend` plugin as a [`StorageBackend`]; the sync
//! algorithm stays in the host, the plugin only lists, puts and removes items. Secrets cross by
//! reference both ways: a put lends the plugin a handle, and a stored item names the vault field
//! the host reads itself.

use std::sync::Arc;

use keeperdb_model::manifest::PluginKind;
use keeperdb_model::storage::{NewItem, SecretRef, StorageBackend, StorageError, StoredItem};
use secrecy::SecretString;

use crate::WasmError;
use crate::loader::LoadedPlugin;
use crate::sanitize::sanitize;
use crate::types::PluginError;

/// A storage backend backed by a WASM plugin.
#[derive(Debug, Clone)]
pub struct WasmStorage {
    plugin: Arc<LoadedPlugin>,
}

impl WasmStorage {
    /// Wrap a loaded plugin of kind `storage-backend`.
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<Self, WasmError> {
        match plugin.manifest.kind {
            PluginKind::StorageBackend => Ok(Self { plugin }),
            kind => Err(WasmError::WrongKind {
                plugin: plugin.manifest.id.clone(),
                kind,
                wanted: PluginKind::StorageBackend,
            }),
        }
    }

    fn fail(&self, e: WasmError) -> StorageError {
        StorageError::Plugin {
            plugin: self.plugin.manifest.id.clone(),
            message: match e {
                WasmError::Call { call, message, .. } => format!("{call}: {message}"),
                other => other.to_string(),
            },
        }
    }

    fn answer_error(&self, e: &PluginError) -> StorageError {
        match e {
            PluginError::InvalidData(d) => StorageError::InvalidItem {
                remote_ref: sanitize(&d.what),
                message: sanitize(&d.message),
            },
            PluginError::Unavailable(m) => StorageError::Unavailable(sanitize(m)),
            PluginError::Denied(m) => StorageError::Denied(sanitize(m)),
            PluginError::NotFound(m) => StorageError::NotFound(sanitize(m)),
            other => StorageError::Plugin {
                plugin: self.plugin.manifest.id.clone(),
                message: other.describe(),
            },
        }
    }
}

impl StorageBackend for WasmStorage {
    fn id(&self) -> &str {
        &self.plugin.manifest.id
    }

    fn list(&self) -> Result<Vec<StoredItem>, StorageError> {
        let answer = self
            .plugin
            .call("list-items", |exports, store| exports.list_items(store))
            .map_err(|e| self.fail(e))?;
        let items = answer.map_err(|e| self.answer_error(&e))?;
        let size: usize = items
            .iter()
            .map(|i| 32 + i.local_id.len() + i.remote_ref.len() + i.payload.len())
            .sum();
        if size > self.plugin.runtime.limits().max_return_bytes {
            return Err(self.fail(self.plugin.too_big("list-items", size)));
        }
        Ok(items)
    }

    fn put(&self, item: &NewItem) -> Result<String, StorageError> {
        let answer = self
            .plugin
            .call("put", |exports, store| exports.put(store, item))
            .map_err(|e| self.fail(e))?;
        answer.map_err(|e| self.answer_error(&e))
    }

    fn remove(&self, remote_ref: &str) -> Result<(), StorageError> {
        let answer = self
            .plugin
            .call("remove", |exports, store| exports.remove(store, remote_ref))
            .map_err(|e| self.fail(e))?;
        answer.map_err(|e| self.answer_error(&e))
    }

    fn read_secret(&self, secret: &SecretRef) -> Result<SecretString, StorageError> {
        let vault = self.plugin.options.vault.as_ref().ok_or_else(|| {
            StorageError::Unavailable("no Keeper vault is attached to the storage backend".into())
        })?;
        let _span = tracing::info_span!("storage.read_secret", plugin = %self.plugin.manifest.id, record = %secret.record_uid).entered();
        vault
            .resolve_field(&secret.record_uid, &secret.field)
            .map_err(|e| self.answer_error(&e))
    }
}
