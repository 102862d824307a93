//! The application core's error: every failure a shell can meet, with a [`ErrorKind`] that each
//! shell turns into its own words and exit codes. Messages say what was wrong and how to fix
//! it in terms of keeperdb's concepts, never a particular shell's flags.

use std::path::PathBuf;

use keeperdb_model::Engine;
use keeperdb_model::driver::{DriverError, DriverErrorKind};
use keeperdb_model::manifest::ManifestError;
use keeperdb_model::prefs::PrefError;
use keeperdb_model::secrets::SecretStoreError;
use keeperdb_model::source::SourceError;
use keeperdb_model::url::UrlError;

use crate::plugins::PluginError;
use crate::registry::RegistryError;
use crate::store::StoreError;

/// What kind of failure, for shells that map failures to exit codes or UI states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input or configuration: a URL, a name, a file, a preference, a plugin package.
    Config,
    /// The database could not be reached, refused the login, or timed out connecting.
    Connection,
    /// A statement failed on the server, or the driver misbehaved.
    Query,
    /// A statement was cancelled.
    Cancelled,
    /// A connection source other than the local store (the vault, a plugin) failed.
    Source,
}

/// Any keeperdb-core error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Local store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Connection URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// Registry lookup or source.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Credential store.
    #[error(transparent)]
    Secrets(#[from] SecretStoreError),
    /// Preferences.
    #[error(transparent)]
    Pref(#[from] PrefError),
    /// Plugin manifest or payload.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Plugin management.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// Driver.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// No installed or bundled driver serves the engine.
    #[error("no driver for {engine}: none of the installed driver plugins serves it, nor any in {}{}; install a driver plugin that serves {engine}, or reinstall keeperdb with its bundled drivers", searched.display(), problems_text(problems))]
    NoDriver {
        /// The engine.
        engine: Engine,
        /// The bundle directory searched.
        searched: PathBuf,
        /// Driver plugins that failed to load on the way, with why.
        problems: Vec<String>,
    },
    /// The driver that serves the engine cannot be loaded.
    #[error("the driver `{driver}` serves {engine} but cannot be loaded: {reason}; repair or reinstall it{}", if others.is_empty() { String::new() } else { format!(", or choose another driver for {engine} ({})", others.join(", ")) })]
    DriverUnavailable {
        /// The engine.
        engine: Engine,
        /// The driver chosen for it.
        driver: String,
        /// Why it cannot be loaded.
        reason: String,
        /// Other drivers that serve the engine.
        others: Vec<String>,
    },
    /// The connection's source could not hand out its credentials.
    #[error("cannot get credentials for `{name}`: {error}")]
    Credentials {
        /// Connection name.
        name: String,
        /// Whether the source is the local store (a configuration problem) or another source.
        local: bool,
        /// What failed.
        #[source]
        error: RegistryError,
    },
    /// A vault call failed.
    #[error("vault `{name}`: {error}")]
    Vault {
        /// The attachment.
        name: String,
        /// What failed.
        #[source]
        error: keeperdb_keeper::VaultError,
    },
    /// No vault of that name is attached.
    #[error("no vault named `{0}` is attached")]
    NoVault(String),
    /// A vault name that cannot be used.
    #[error("`{name}` cannot name a vault: {why}")]
    BadVaultName {
        /// The name, escaped.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A vault's application config can only live in the OS credential store, and there is
    /// none (the prompt fallback of local passwords cannot hold a KSM key).
    #[error(
        "a Keeper vault's Secrets Manager configuration is kept only in the OS credential store, and none is available ({0}); start one (gnome-keyring, KeePassXC's Secret Service) and attach again: the one-time token was not used"
    )]
    NoCredentialStoreForVault(String),
    /// No enabled plugin may use a vault.
    #[error(
        "no installed plugin uses Keeper vaults: install the bundled `keeper-vault` plugin (vault records as connections) or `keeper-storage` (storage sync) and grant it keeper-vault, then attach the vault"
    )]
    NoVaultSource,
    /// Storage sync.
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    /// Only keeperdb's own saved connections can be changed; this one belongs to its source.
    #[error(
        "`{name}` comes from {badge} ({source_id}); change it there, keeperdb only edits its own saved connections"
    )]
    NotLocal {
        /// Connection name.
        name: String,
        /// Its source's badge.
        badge: String,
        /// Its source's id.
        source_id: String,
    },
    /// A SQLite connection names a file that does not exist, and creating one was not asked for.
    #[error("there is no SQLite database file at {path}; nothing was created")]
    NoDatabaseFile {
        /// The path, as given.
        path: String,
    },
}

fn problems_text(problems: &[String]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!(" ({})", problems.join("; "))
    }
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Driver(e) => driver_kind(e.kind),
            Error::Registry(e) => registry_kind(e),
            Error::Credentials { local, error, .. } => match error {
                RegistryError::Source { error, .. } => source_kind(*local, error),
                _ if *local => ErrorKind::Config,
                _ => ErrorKind::Source,
            },
            Error::Vault { error, .. } => match error.kind() {
                keeperdb_keeper::VaultErrorKind::Config => ErrorKind::Config,
                _ => ErrorKind::Source,
            },
            Error::Sync(e) => match e.kind() {
                crate::sync::SyncErrorKind::Config => ErrorKind::Config,
                crate::sync::SyncErrorKind::Backend => ErrorKind::Source,
            },
            _ => ErrorKind::Config,
        }
    }
}

/// The kind of a driver failure.
pub fn driver_kind(kind: DriverErrorKind) -> ErrorKind {
    match kind {
        DriverErrorKind::Query | DriverErrorKind::Internal => ErrorKind::Query,
        DriverErrorKind::Connection | DriverErrorKind::Auth | DriverErrorKind::Timeout => {
            ErrorKind::Connection
        }
        DriverErrorKind::Cancelled => ErrorKind::Cancelled,
    }
}

/// The kind of a registry failure: a failing source is the source's problem unless it is the
/// local store.
pub fn registry_kind(error: &RegistryError) -> ErrorKind {
    match error {
        RegistryError::Source { source_id, error } => {
            source_kind(source_id == keeperdb_model::LOCAL_SOURCE_ID, error)
        }
        _ => ErrorKind::Config,
    }
}

/// The local store's failures, and a missing credential store, are configuration problems;
/// any other source's are the source's own.
fn source_kind(local: bool, error: &SourceError) -> ErrorKind {
    match error {
        SourceError::SecretStore(_) => ErrorKind::Config,
        _ if local => ErrorKind::Config,
        _ => ErrorKind::Source,
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
