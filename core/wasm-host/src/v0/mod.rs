//! Everything bound to the `keeperdb:plugin@0.x` WIT packages. A 0.x minor may change what
//! crosses the boundary, so each minor this host serves has its own bindings (`v0_1`, `v0_2`,
//! `v0_3`, `v0_4`, generated from sdk/wit/0.1 to 0.4); the host code they share is written once
//! in `shared/` and compiled into each. The linker holds every served minor's imports side by
//! side, and [`Exports`] calls a component through the bindings of the minor it was built for.
//! A new minor is a new folder here, a new WIT folder, and a line in each dispatch below.

mod v0_1;
mod v0_2;
mod v0_3;
mod v0_4;

use keeperdb_model::manifest::PluginKind;
use keeperdb_model::storage::{NewItem, StoredItem};
use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker};

use crate::cap::fs_read::FsReadState;
use crate::cap::http::HttpState;
use crate::cap::keeper_vault::VaultState;
use crate::cap::log::LogState;
use crate::cap::progress::ProgressState;
use crate::host::HostState;
use crate::types::{Descriptor, PluginCredentials, PluginError, PluginListing};

/// Link one interface in every served minor.
macro_rules! link_every_minor {
    ($(#[$doc:meta])* $name:ident, $state:ty) => {
        $(#[$doc])*
        pub(crate) fn $name<T: Send + 'static>(
            linker: &mut Linker<T>,
            get: fn(&mut T) -> &mut $state,
        ) -> wasmtime::Result<()> {
            v0_1::$name(linker, get)?;
            v0_2::$name(linker, get)?;
            v0_3::$name(linker, get)?;
            v0_4::$name(linker, get)
        }
    };
}

link_every_minor!(
    /// Link `log` in every served minor.
    add_log_to_linker, LogState
);
link_every_minor!(
    /// Link `progress` in every served minor.
    add_progress_to_linker, ProgressState
);
link_every_minor!(
    /// Link `fs-read` in every served minor.
    add_fs_read_to_linker, FsReadState
);
link_every_minor!(
    /// Link `http` in every served minor.
    add_http_to_linker, HttpState
);
link_every_minor!(
    /// Link `keeper-vault` in every served minor.
    add_keeper_vault_to_linker, VaultState
);

/// Link the functionless `types` interface of every served minor.
pub(crate) fn add_types_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    v0_1::add_types_to_linker(linker)?;
    v0_2::add_types_to_linker(linker)?;
    v0_3::add_types_to_linker(linker)?;
    v0_4::add_types_to_linker(linker)
}

/// The oldest API a storage backend may be built for: 0.3.0 carries secrets by reference.
pub(crate) const STORAGE_MIN_API: semver::Version = semver::Version::new(0, 3, 0);

/// The exports of one live instance, through the bindings of the minor it was built for.
pub(crate) enum Exports {
    V0_1(v0_1::SourceExports),
    V0_2(v0_2::SourceExports),
    V0_3(v0_3::SourceExports),
    V0_4(v0_4::SourceExports),
    StorageV0_3(v0_3::StorageExports),
    StorageV0_4(v0_4::StorageExports),
}

/// Call the same method on whichever minor's source exports these are.
macro_rules! dispatch_source {
    ($self:ident, $e:ident => $call:expr) => {
        match $self {
            Exports::V0_1($e) => $call,
            Exports::V0_2($e) => $call,
            Exports::V0_3($e) => $call,
            Exports::V0_4($e) => $call,
            Exports::StorageV0_3(_) | Exports::StorageV0_4(_) => {
                Err(wasmtime::Error::msg("not a connection source"))
            }
        }
    };
}

/// Call the same method on whichever minor's storage exports these are.
macro_rules! dispatch_storage {
    ($self:ident, $e:ident => $call:expr) => {
        match $self {
            Exports::StorageV0_3($e) => $call,
            Exports::StorageV0_4($e) => $call,
            _ => Err(wasmtime::Error::msg("not a storage backend")),
        }
    };
}

impl Exports {
    /// Instantiate the world of a plugin of `kind`, built against API `api` (one the loader
    /// checked this host serves, and for a storage backend at least [`STORAGE_MIN_API`]).
    pub(crate) fn instantiate(
        pre: &InstancePre<HostState>,
        kind: PluginKind,
        api: &semver::Version,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        match (kind, api.major, api.minor) {
            (PluginKind::StorageBackend, 0, 3) => {
                v0_3::StorageExports::instantiate(pre, store).map(Exports::StorageV0_3)
            }
            (PluginKind::StorageBackend, 0, 4) => {
                v0_4::StorageExports::instantiate(pre, store).map(Exports::StorageV0_4)
            }
            (PluginKind::StorageBackend, ..) => Err(wasmtime::Error::msg(format!(
                "storage backends need host API {STORAGE_MIN_API} or newer, not {api}"
            ))),
            (_, 0, 1) => v0_1::SourceExports::instantiate(pre, store).map(Exports::V0_1),
            (_, 0, 2) => v0_2::SourceExports::instantiate(pre, store).map(Exports::V0_2),
            (_, 0, 3) => v0_3::SourceExports::instantiate(pre, store).map(Exports::V0_3),
            (_, 0, 4) => v0_4::SourceExports::instantiate(pre, store).map(Exports::V0_4),
            _ => Err(wasmtime::Error::msg(format!(
                "no bindings for host API {api}"
            ))),
        }
    }

    /// `source.list-connections`.
    pub(crate) fn list_connections(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<PluginListing, PluginError>> {
        dispatch_source!(self, e => e.list_connections(store))
    }

    /// `source.fetch-credentials`.
    pub(crate) fn fetch_credentials(
        &self,
        store: &mut Store<HostState>,
        connection: &Descriptor,
    ) -> wasmtime::Result<Result<PluginCredentials, PluginError>> {
        dispatch_source!(self, e => e.fetch_credentials(store, connection))
    }

    /// `storage.list-items`.
    pub(crate) fn list_items(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<Vec<StoredItem>, PluginError>> {
        dispatch_storage!(self, e => e.list_items(store))
    }

    /// `storage.put`.
    pub(crate) fn put(
        &self,
        store: &mut Store<HostState>,
        item: &NewItem,
    ) -> wasmtime::Result<Result<String, PluginError>> {
        dispatch_storage!(self, e => e.put(store, item))
    }

    /// `storage.remove`.
    pub(crate) fn remove(
        &self,
        store: &mut Store<HostState>,
        remote_ref: &str,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        dispatch_storage!(self, e => e.remove(store, remote_ref))
    }
}

#[cfg(test)]
mod tests {
    /// Each served API version has its WIT folder `sdk/wit/MAJOR.MINOR`, and every file in it
    /// declares exactly that package version, or a plugin built against the WIT would be judged
    /// against a different version than the one it was built for.
    #[test]
    fn every_served_api_version_has_its_wit_and_every_header_declares_it() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/wit");
        let mut folders: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        folders.sort();
        let served: Vec<String> = keeperdb_model::SERVED_API_VERSIONS
            .iter()
            .map(|v| format!("{}.{}", v.major, v.minor))
            .collect();
        assert_eq!(folders, served, "WIT folders in {}", root.display());
        for version in &keeperdb_model::SERVED_API_VERSIONS {
            let dir = root.join(format!("{}.{}", version.major, version.minor));
            let expected = format!("package keeperdb:plugin@{version};");
            let mut seen = 0;
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                let header = text
                    .lines()
                    .find(|l| l.starts_with("package "))
                    .unwrap_or_default();
                assert_eq!(header, expected, "{}", path.display());
                seen += 1;
            }
            assert!(
                seen >= 3,
                "the WIT files were not found in {}",
                dir.display()
            );
        }
    }
}
