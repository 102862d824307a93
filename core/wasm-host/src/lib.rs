//! The WASM plugin runtime: connection sources and storage backends run as WebAssembly
//! components under wasmtime, with no ambient authority.
//!
//! - The component's API version is read from its import/export names
//!   (`keeperdb:plugin/source@0.2.0`) and checked against
//!   [`keeperdb_model::SERVED_API_VERSIONS`]; each served minor has bindings of its own.
//! - Capabilities are linked only when the manifest asks for them *and* the user granted them;
//!   a component importing anything else is refused at load, naming it.
//! - Every call runs under a deadline (epoch interruption) and the instance under a memory
//!   limit. A trap or timeout fails that call with a clear error; the instance is dropped and a
//!   fresh one serves the next call.
//! - Compiled components are cached on disk, keyed by payload sha256 and the engine's
//!   compatibility hash, so a warm start only maps the cached code.
//!
//! Layout: `loader` loads and links a plugin, `instance` runs its calls, `source` and
//! `storage` adapt it to core's traits; `cap/` holds one module per capability (state, host
//! logic, linking); `v0/` is everything bound to the `keeperdb:plugin@0.x` WIT, one folder per
//! served minor, converting to the version-neutral types of `types` and `cap/`.
// Mapping compiled components from the cache: one of the two host crates where `unsafe` is allowed.
#![allow(unsafe_code)]

mod cache;
mod cap;
mod encode;
mod host;
mod imports;
mod instance;
mod loader;
mod sanitize;
mod source;
mod storage;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod types;
mod v0;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use cap::Grants;
pub use cap::fs_read::{GrantedPath, PathContext, resolve_paths};
pub use cap::keeper_vault::VaultCapability;
pub use cap::progress::ProgressSink;
pub use encode::{component_from_module, is_core_module};
pub use imports::{ComponentSurface, ImportReport, RefusedImport, check_imports, read_surface};
pub use keeperdb_model::capability;
pub use loader::{LoadOptions, LoadedPlugin};
pub use source::WasmSource;
pub use storage::WasmStorage;

/// The types a [`VaultCapability`] implementation works with. They belong to this crate, not
/// to a WIT version: each version's bindings convert them.
pub mod vault_types {
    pub use super::cap::keeper_vault::{
        Field, Folder, NewField, NewRecord, RecordLink, SECRET_FIELD_TYPES, VaultRecord,
        is_secret_field_type,
    };
    pub use super::types::{InvalidData, PluginError as Error};
}

/// Resource limits applied to every plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long one call may run.
    pub call_deadline: Duration,
    /// Linear memory one instance may use.
    pub max_memory_bytes: usize,
    /// The most data one call may return (strings and lists, summed).
    pub max_return_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_deadline: Duration::from_secs(2),
            max_memory_bytes: 64 << 20,
            max_return_bytes: 16 << 20,
        }
    }
}

/// Why a plugin could not be loaded or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The manifest or payload was refused (tampered payload, API range).
    #[error(transparent)]
    Manifest(Box<keeperdb_model::manifest::ManifestError>),
    /// The payload is not a valid component, or compiling it failed.
    #[error("plugin `{plugin}`: cannot compile its component: {message}")]
    Compile {
        /// Plugin id.
        plugin: String,
        /// wasmtime's message.
        message: String,
    },
    /// The component was built against an API version this host does not serve.
    #[error(
        "plugin `{plugin}` was built for host API {found} (`{name}`), but this keeperdb serves {served}; install a plugin version built for one of those"
    )]
    IncompatibleApi {
        /// Plugin id.
        plugin: String,
        /// Import or export name carrying the version.
        name: String,
        /// Version found.
        found: String,
        /// Versions served, as a list.
        served: String,
    },
    /// The component imports a capability that was not granted.
    #[error(
        "plugin `{plugin}` imports capability `{capability}` (`{import}`), which {reason}; refusing to load it"
    )]
    CapabilityNotGranted {
        /// Plugin id.
        plugin: String,
        /// Capability name.
        capability: String,
        /// The import name.
        import: String,
        /// Why: not requested in the manifest, or not granted by the user.
        reason: &'static str,
    },
    /// The component imports something keeperdb does not provide at all (WASI, ...).
    #[error(
        "plugin `{plugin}` imports `{import}`, which keeperdb does not provide (plugins get capabilities only through keeperdb:plugin imports)"
    )]
    UnknownImport {
        /// Plugin id.
        plugin: String,
        /// The import name.
        import: String,
    },
    /// The payload is not a WebAssembly component (a core module, or not WebAssembly).
    #[error("plugin `{plugin}`: its payload is not a WebAssembly component: {message}")]
    NotAComponent {
        /// Plugin id.
        plugin: String,
        /// What the parser found.
        message: String,
    },
    /// Imports found before compiling that keeperdb does not provide or the manifest does not
    /// ask for; all of them, not just the first.
    #[error("{}", imports::describe_refused(plugin, refused))]
    RefusedImports {
        /// Plugin id.
        plugin: String,
        /// Every refused import.
        refused: Vec<RefusedImport>,
    },
    /// The component does not export what its kind requires.
    #[error("plugin `{plugin}` is declared as a {kind} but does not export `{expected}`")]
    WrongWorld {
        /// Plugin id.
        plugin: String,
        /// Declared kind.
        kind: keeperdb_model::manifest::PluginKind,
        /// Missing export.
        expected: String,
    },
    /// A granted capability's scope could not be resolved.
    #[error("plugin `{plugin}`: {message}")]
    Grant {
        /// Plugin id.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// A call trapped, timed out, exceeded a limit or returned too much.
    #[error("plugin `{plugin}` failed in {call}: {message}")]
    Call {
        /// Plugin id.
        plugin: String,
        /// Export called.
        call: &'static str,
        /// What happened.
        message: String,
    },
    /// The plugin is not a WASM plugin (a driver) or of the wrong kind for the request.
    #[error("plugin `{plugin}` is a {kind}, not a {wanted}")]
    WrongKind {
        /// Plugin id.
        plugin: String,
        /// Its kind.
        kind: keeperdb_model::manifest::PluginKind,
        /// What was asked for.
        wanted: keeperdb_model::manifest::PluginKind,
    },
}

impl WasmError {
    /// A stable name for the kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            WasmError::Manifest(_) => "manifest",
            WasmError::Compile { .. } => "compile",
            WasmError::IncompatibleApi { .. } => "incompatible-api",
            WasmError::CapabilityNotGranted { .. } => "capability-not-granted",
            WasmError::UnknownImport { .. } => "unknown-import",
            WasmError::NotAComponent { .. } => "not-a-component",
            WasmError::RefusedImports { .. } => "refused-imports",
            WasmError::WrongWorld { .. } => "wrong-world",
            WasmError::Grant { .. } => "grant",
            WasmError::Call { .. } => "call",
            WasmError::WrongKind { .. } => "wrong-kind",
        }
    }
}

impl From<keeperdb_model::manifest::ManifestError> for WasmError {
    fn from(e: keeperdb_model::manifest::ManifestError) -> Self {
        WasmError::Manifest(Box::new(e))
    }
}

/// The engine shared by every plugin, its epoch ticker and the compiled-component cache.
#[derive(Clone)]
pub struct WasmRuntime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: wasmtime::Engine,
    cache: Option<cache::CompiledCache>,
    limits: Limits,
}

/// How often the epoch advances: the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

impl WasmRuntime {
    /// A runtime with default limits, caching compiled components in `cache_dir` (none: no
    /// cache, every load compiles).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, WasmError> {
        Self::with_limits(cache_dir, Limits::default())
    }

    /// A runtime with explicit limits.
    pub fn with_limits(cache_dir: Option<PathBuf>, limits: Limits) -> Result<Self, WasmError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // Deep recursion must trap well before it could hurt the host thread.
        config.max_wasm_stack(512 << 10);
        let engine = wasmtime::Engine::new(&config).map_err(|e| WasmError::Compile {
            plugin: "<engine>".into(),
            message: e.to_string(),
        })?;
        spawn_ticker(&engine);
        Ok(Self {
            inner: Arc::new(RuntimeInner {
                cache: cache_dir.map(|dir| cache::CompiledCache::new(dir, &engine)),
                engine,
                limits,
            }),
        })
    }

    /// The limits every plugin runs under.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        &self.inner.engine
    }

    pub(crate) fn cache(&self) -> Option<&cache::CompiledCache> {
        self.inner.cache.as_ref()
    }

    /// Epoch ticks that make up one call deadline.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let ticks = self.inner.limits.call_deadline.as_millis() / EPOCH_TICK.as_millis();
        (ticks as u64).max(1)
    }
}

/// One thread per engine advances its epoch; it ends when the engine is dropped.
fn spawn_ticker(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("keeperdb-wasm-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(e) = spawned {
        // Without a ticker deadlines never fire; say so rather than fail every plugin.
        tracing::error!("cannot start the plugin deadline thread: {e}");
    }
}
