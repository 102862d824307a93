//! Calling into a component of one 0.x minor: instantiating the world its kind names, and
//! each export, with the answer converted to the crate's own types. Compiled once per minor.

use keeperdb_model::manifest::PluginKind;
use keeperdb_model::storage::{NewItem, StoredItem};
use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::{source_world, storage, storage_world, types};
use crate::host::HostState;
use crate::types::{Descriptor, PluginCredentials, PluginError, PluginListing};

/// The exports of one live v0 instance.
pub(crate) enum Exports {
    Source(source_world::ConnectionSource),
    Storage(storage_world::StorageBackend),
}

impl Exports {
    /// Instantiate the world of a plugin of `kind` (storage backend, or else source).
    pub(crate) fn instantiate(
        pre: &InstancePre<HostState>,
        kind: PluginKind,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        match kind {
            PluginKind::StorageBackend => storage_world::StorageBackendPre::new(pre.clone())
                .and_then(|pre| pre.instantiate(store))
                .map(Exports::Storage),
            _ => source_world::ConnectionSourcePre::new(pre.clone())
                .and_then(|pre| pre.instantiate(store))
                .map(Exports::Source),
        }
    }

    fn source(&self) -> wasmtime::Result<&source_world::ConnectionSource> {
        match self {
            Exports::Source(s) => Ok(s),
            Exports::Storage(_) => Err(wasmtime::Error::msg("not a connection source")),
        }
    }

    fn storage(&self) -> wasmtime::Result<&storage::Guest> {
        match self {
            Exports::Storage(s) => Ok(s.keeperdb_plugin_storage()),
            Exports::Source(_) => Err(wasmtime::Error::msg("not a storage backend")),
        }
    }

    /// `source.list-connections`.
    pub(crate) fn list_connections(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<PluginListing, PluginError>> {
        let answer = self
            .source()?
            .keeperdb_plugin_source()
            .call_list_connections(store)?;
        Ok(answer.map(Into::into).map_err(Into::into))
    }

    /// `source.fetch-credentials`.
    pub(crate) fn fetch_credentials(
        &self,
        store: &mut Store<HostState>,
        connection: &Descriptor,
    ) -> wasmtime::Result<Result<PluginCredentials, PluginError>> {
        let connection = types::Connection::from(connection);
        let answer = self
            .source()?
            .keeperdb_plugin_source()
            .call_fetch_credentials(store, &connection)?;
        Ok(answer.map(Into::into).map_err(Into::into))
    }

    /// `storage.list-items`.
    pub(crate) fn list_items(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<Vec<StoredItem>, PluginError>> {
        let answer = self.storage()?.call_list_items(store)?;
        Ok(answer
            .map(|items| items.into_iter().map(Into::into).collect())
            .map_err(Into::into))
    }

    /// `storage.put`.
    pub(crate) fn put(
        &self,
        store: &mut Store<HostState>,
        item: &NewItem,
    ) -> wasmtime::Result<Result<String, PluginError>> {
        let item = storage::NewItem::from(item);
        let answer = self.storage()?.call_put(store, &item)?;
        Ok(answer.map_err(Into::into))
    }

    /// `storage.remove`.
    pub(crate) fn remove(
        &self,
        store: &mut Store<HostState>,
        remote_ref: &str,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let answer = self.storage()?.call_remove(store, remote_ref)?;
        Ok(answer.map_err(Into::into))
    }
}
