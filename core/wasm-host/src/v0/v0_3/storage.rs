//! Calling into a storage backend (new in its 0.3.0 form): items whose secret crosses as a
//! handle lent for one `put`, and stored items that name the vault field holding theirs.

use keeperdb_model::storage::{ItemKind, NewItem, SecretRef, StoredItem};
use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::storage_world;
use super::storage_world::exports::keeperdb::plugin::storage;
use crate::host::HostState;
use crate::types::PluginError;

/// The exports of one live storage backend.
pub(crate) struct StorageExports(storage_world::StorageBackend);

impl StorageExports {
    /// Instantiate the `storage-backend` world.
    pub(crate) fn instantiate(
        pre: &InstancePre<HostState>,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        storage_world::StorageBackendPre::new(pre.clone())
            .and_then(|pre| pre.instantiate(store))
            .map(StorageExports)
    }

    /// `storage.list-items`.
    pub(crate) fn list_items(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<Vec<StoredItem>, PluginError>> {
        let answer = self.0.keeperdb_plugin_storage().call_list_items(store)?;
        Ok(answer
            .map(|items| items.into_iter().map(Into::into).collect())
            .map_err(Into::into))
    }

    /// `storage.put`, with the item's secret lent to the instance for this call only.
    pub(crate) fn put(
        &self,
        store: &mut Store<HostState>,
        item: &NewItem,
    ) -> wasmtime::Result<Result<String, PluginError>> {
        let handle = item
            .secret
            .clone()
            .map(|secret| store.data_mut().vault.lend(secret));
        let wire = storage::NewItem {
            local_id: item.local_id.clone(),
            kind: item.kind.into(),
            payload: item.payload.clone(),
            secret: handle,
        };
        let answer = self
            .0
            .keeperdb_plugin_storage()
            .call_put(&mut *store, &wire);
        store.data_mut().vault.handles.clear();
        Ok(answer?.map_err(Into::into))
    }

    /// `storage.remove`.
    pub(crate) fn remove(
        &self,
        store: &mut Store<HostState>,
        remote_ref: &str,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let answer = self
            .0
            .keeperdb_plugin_storage()
            .call_remove(store, remote_ref)?;
        Ok(answer.map_err(Into::into))
    }
}

impl From<ItemKind> for storage::ItemKind {
    fn from(kind: ItemKind) -> Self {
        match kind {
            ItemKind::Connection => storage::ItemKind::Connection,
            ItemKind::Preferences => storage::ItemKind::Preferences,
        }
    }
}

impl From<storage::ItemKind> for ItemKind {
    fn from(kind: storage::ItemKind) -> Self {
        match kind {
            storage::ItemKind::Connection => ItemKind::Connection,
            storage::ItemKind::Preferences => ItemKind::Preferences,
        }
    }
}

impl From<storage::StoredItem> for StoredItem {
    fn from(i: storage::StoredItem) -> Self {
        StoredItem {
            local_id: i.local_id,
            remote_ref: i.remote_ref,
            kind: i.kind.into(),
            payload: i.payload,
            secret: i.secret.map(|r| SecretRef {
                record_uid: r.record_uid,
                field: r.field,
            }),
        }
    }
}
