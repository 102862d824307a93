//! keeperdb-core: the host library of keeperdb.
//!
//! It owns the connection model, the registry that merges every connection source into one
//! list, the local store of saved connections and preferences, and the three plugin
//! interfaces (connection source, storage backend, driver). It knows those interfaces, never a
//! particular plugin: shells ask core, core asks plugins.

pub mod credentials;
pub mod driver;
pub mod driver_host;
pub mod error;
pub mod format;
pub mod manifest;
pub mod model;
pub mod plugins;
pub mod prefs;
pub mod registry;
pub mod secret_store;
pub mod source;
pub mod storage;
pub mod store;
pub mod url;
pub mod wasm;

pub use credentials::Credentials;
pub use error::{Error, Result};
pub use model::{Connection, ConnectionId, Engine, Origin, TlsMode};
pub use prefs::Preferences;
pub use registry::Registry;

/// The host API version this build serves: written in the WIT package and the driver table.
pub const HOST_API_VERSION: semver::Version = semver::Version::new(0, 1, 0);
