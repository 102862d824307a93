//! keeperdb-core: the application core every shell uses.
//!
//! It owns the local store of saved connections and preferences, the OS credential store, the
//! installed plugins and their consent, the attached Keeper vaults, the registry that merges
//! every connection source into one list, and the hosts that run plugins (through `keeperdb-driver-host` and
//! `keeperdb-wasm-host`). It knows the plugin interfaces of `keeperdb-model`, never a particular
//! plugin: shells ask this crate, this crate asks plugins.

pub mod adhoc;
pub mod agent;
pub mod app;
pub mod bundle;
pub mod catalog;
pub mod completion;
pub mod drivers;
pub mod error;
pub mod history;
pub mod plugins;
pub mod registry;
pub mod secret_store;
pub mod session;
pub mod sql;
pub mod store;
pub mod sync;
pub mod vaults;
mod watchdog;

pub use app::{App, Resolved, looks_like_url};
pub use error::{Error, ErrorKind, Result};
pub use keeperdb_format as format;
pub use keeperdb_model::connection as model;
pub use keeperdb_model::{
    Connection, ConnectionId, Credentials, Engine, HOST_API_VERSION, Origin, Preferences, TlsMode,
    credentials, driver, manifest, prefs, signature, source, storage, url,
};
pub use registry::Registry;

/// The KSM client, its errors and settings.
pub use keeperdb_keeper as keeper;
pub use keeperdb_model::capability;
/// What a shell shows about plugins before consent: how granted paths resolve here.
pub use keeperdb_wasm_host::PathContext;
/// Where plugins' progress reports go.
pub use keeperdb_wasm_host::ProgressSink;
/// The host side of the `keeper-vault` capability.
pub use keeperdb_wasm_host::VaultCapability;
