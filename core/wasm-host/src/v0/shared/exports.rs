//! Calling into a connection source of one 0.x minor: instantiating its world, and each
//! export, with the answer converted to the crate's own types. Compiled once per minor.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::{source_world, types};
use crate::host::HostState;
use crate::types::{Descriptor, PluginCredentials, PluginError, PluginListing};

/// The exports of one live connection source.
pub(crate) struct SourceExports(source_world::ConnectionSource);

impl SourceExports {
    /// Instantiate the `connection-source` world.
    pub(crate) fn instantiate(
        pre: &InstancePre<HostState>,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        source_world::ConnectionSourcePre::new(pre.clone())
            .and_then(|pre| pre.instantiate(store))
            .map(SourceExports)
    }

    fn source(&self) -> wasmtime::Result<&source_world::ConnectionSource> {
        Ok(&self.0)
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
}
