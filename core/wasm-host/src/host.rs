//! The store data of one plugin instance: the memory limiter and each capability's state.

use crate::LoadOptions;
use crate::cap::Grants;
use crate::cap::fs_read::FsReadState;
use crate::cap::http::HttpState;
use crate::cap::keeper_vault::VaultState;
use crate::cap::log::LogState;
use crate::cap::progress::ProgressState;

/// Memory and table limits of one instance, remembering whether a limit was hit so the trap
/// that follows can be explained.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub max_memory: usize,
    pub max_table_elements: usize,
    pub memory_exceeded: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.memory_exceeded = true;
            return Err(wasmtime::Error::msg("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }
}

/// The store data of one plugin instance. Every capability has its state here, granted or
/// not; only the linker decides what a plugin can reach.
pub(crate) struct HostState {
    pub limiter: Limiter,
    pub log: LogState,
    pub progress: ProgressState,
    pub fs_read: FsReadState,
    pub http: HttpState,
    pub vault: VaultState,
}

impl HostState {
    /// Fresh state for a new instance of plugin `plugin_id`.
    pub(crate) fn new(
        plugin_id: &str,
        grants: &Grants,
        options: &LoadOptions,
        max_memory: usize,
    ) -> Self {
        Self {
            limiter: Limiter {
                max_memory,
                max_table_elements: 100_000,
                memory_exceeded: false,
            },
            log: LogState::new(plugin_id.to_string()),
            progress: ProgressState {
                sink: options.progress.clone(),
            },
            fs_read: FsReadState {
                granted: grants.fs_read.clone().unwrap_or_default(),
                paths: options.paths.clone(),
            },
            http: HttpState {
                hosts: grants.http.clone().unwrap_or_default(),
            },
            vault: VaultState {
                granted: grants.keeper_vault,
                vault: options.vault.clone(),
                ..VaultState::default()
            },
        }
    }
}
