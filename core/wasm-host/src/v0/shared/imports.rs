//! The host side of the imports that every 0.x minor shares: each generated `Host` trait
//! implemented on its capability's state by converting to and from the version-neutral logic
//! in `cap/`, and the linking of each interface (`keeper-vault`'s `Host` differs per minor and
//! lives in the minor's `vault.rs`). Compiled once per minor, against its bindings.

use wasmtime::component::{HasSelf, Linker};

use super::{fs_read, http, keeper_vault, log, progress, types};
use crate::cap::fs_read::FsReadState;
use crate::cap::http::HttpState;
use crate::cap::keeper_vault::VaultState;
use crate::cap::log::LogState;
use crate::cap::progress::ProgressState;
use crate::host::HostState;

impl types::Host for HostState {}

/// Link the functionless `types` interface.
pub(crate) fn add_types_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    types::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)
}

impl log::Host for LogState {
    fn log(&mut self, level: log::Level, message: String) {
        LogState::log(self, level.into(), &message);
    }
}

/// Link `keeperdb:plugin/log` of this minor.
pub(crate) fn add_log_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LogState,
) -> wasmtime::Result<()> {
    log::add_to_linker::<_, HasSelf<LogState>>(linker, get)
}

impl progress::Host for ProgressState {
    fn report(&mut self, done: u64, total: u64, message: String) {
        ProgressState::report(self, done, total, &message);
    }
}

/// Link `keeperdb:plugin/progress` of this minor.
pub(crate) fn add_progress_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ProgressState,
) -> wasmtime::Result<()> {
    progress::add_to_linker::<_, HasSelf<ProgressState>>(linker, get)
}

impl fs_read::Host for FsReadState {
    fn granted_paths(&mut self) -> Vec<fs_read::Grant> {
        self.granted
            .iter()
            .map(|g| fs_read::Grant {
                requested: g.requested.clone(),
                path: g.path.display().to_string(),
            })
            .collect()
    }

    fn stat(&mut self, path: String) -> Result<fs_read::Metadata, types::Error> {
        let meta = FsReadState::stat(self, &path)?;
        Ok(fs_read::Metadata {
            size: meta.size,
            mode: meta.mode,
            is_file: meta.is_file,
        })
    }

    fn read(&mut self, path: String) -> Result<Vec<u8>, types::Error> {
        Ok(FsReadState::read(self, &path)?)
    }
}

/// Link `keeperdb:plugin/fs-read` of this minor.
pub(crate) fn add_fs_read_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut FsReadState,
) -> wasmtime::Result<()> {
    fs_read::add_to_linker::<_, HasSelf<FsReadState>>(linker, get)
}

impl http::Host for HttpState {
    fn send(&mut self, request: http::Request) -> Result<http::Response, types::Error> {
        match HttpState::send(self, &request.url) {
            Ok(never) => match never {},
            Err(e) => Err(e.into()),
        }
    }
}

/// Link `keeperdb:plugin/http` of this minor.
pub(crate) fn add_http_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut HttpState,
) -> wasmtime::Result<()> {
    http::add_to_linker::<_, HasSelf<HttpState>>(linker, get)
}

/// Link `keeperdb:plugin/keeper-vault` of this minor.
pub(crate) fn add_keeper_vault_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut VaultState,
) -> wasmtime::Result<()> {
    keeper_vault::add_to_linker::<_, HasSelf<VaultState>>(linker, get)
}
