//! The local store: keeperdb's own saved connections (`connections.toml`) and preferences
//! (`preferences.toml`) in the per-user config dir.
//!
//! Files are human-readable TOML without secrets; passwords go to the OS credential store.
//! Every change is a read-modify-write under an exclusive lock on `.keeperdb.lock`, written to a
//! temp file, fsynced and renamed over the old one, so a second process never loses an update
//! and a crash never leaves half a file. A file that does not parse is reported with its path
//! and line and is never overwritten.

mod config_dir;
mod connections;
mod local_source;
mod preferences;
mod vaults;

use std::path::{Path, PathBuf};

use crate::secret_store::{SecretStore, SecretStoreError};
use keeperdb_model::connection::InvalidConnection;

pub use config_dir::ConfigDir;
pub use connections::{PasswordChange, PasswordSource, SavedConnectionView};
pub use local_source::LocalSource;
pub use vaults::{Attachment, AttachmentSecrets, check_vault_name};

/// Environment variable that points keeperdb at another config dir (tests, portable setups).
pub const CONFIG_DIR_ENV: &str = "KEEPERDB_CONFIG_DIR";
pub(crate) const CONNECTIONS_FILE: &str = "connections.toml";
pub(crate) const PREFERENCES_FILE: &str = "preferences.toml";
const LOCK_FILE: &str = ".keeperdb.lock";
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Why the local store could not do what was asked. Nothing was written when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No config dir could be determined (no home directory).
    #[error(
        "cannot determine the config directory (no home directory): set {CONFIG_DIR_ENV} or name one explicitly"
    )]
    NoConfigDir,
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file does not parse; it is left untouched.
    #[error(
        "{path}: {message}\nthe file was left untouched; fix it by hand or move it away to start afresh"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Line, column and what the parser expected.
        message: String,
    },
    /// The file was written by a newer keeperdb.
    #[error(
        "{path}: format version {found} is newer than this keeperdb understands ({FORMAT_VERSION}); upgrade keeperdb"
    )]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// The version it declares.
        found: u32,
    },
    /// No connection matches.
    #[error("no saved connection named or with id `{0}`")]
    NotFound(String),
    /// The name is taken.
    #[error("a saved connection named `{0}` already exists")]
    DuplicateName(String),
    /// A vault of that name is attached already.
    #[error(
        "a vault named `{0}` is attached already; choose another name, or disconnect that one first"
    )]
    DuplicateVault(String),
    /// The connection is not valid.
    #[error(transparent)]
    Invalid(#[from] InvalidConnection),
    /// The credential store failed; the connection was not saved.
    #[error(transparent)]
    Secrets(#[from] SecretStoreError),
    /// A preference could not be set.
    #[error(transparent)]
    Pref(#[from] keeperdb_model::prefs::PrefError),
}

/// The local store over one config dir.
#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: ConfigDir,
    pub(crate) secrets: SecretStore,
}

impl LocalStore {
    /// A store over `dir`, keeping passwords in `secrets`.
    pub fn new(dir: ConfigDir, secrets: SecretStore) -> Self {
        Self { dir, secrets }
    }

    /// The config dir.
    pub fn dir(&self) -> &ConfigDir {
        &self.dir
    }

    pub(crate) fn connections_path(&self) -> PathBuf {
        self.dir.path().join(CONNECTIONS_FILE)
    }

    pub(crate) fn preferences_path(&self) -> PathBuf {
        self.dir.path().join(PREFERENCES_FILE)
    }

    /// Run `f` holding the store's exclusive lock, so read-modify-write cycles of concurrent
    /// processes serialise instead of overwriting each other.
    pub(crate) fn locked<T>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.dir.ensure()?;
        let lock_path = self.dir.path().join(LOCK_FILE);
        keeperdb_fs::with_lock(&lock_path, || f(self)).map_err(|source| StoreError::Io {
            path: lock_path.clone(),
            source,
        })?
    }
}

pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, StoreError> {
    keeperdb_fs::read_optional(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, StoreError> {
    toml::from_str(text).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: keeperdb_model::describe_toml_error(text, &e),
    })
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    keeperdb_fs::write_atomic(path, bytes).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A store in a temp dir, with passwords filed under a service of its own, for unit tests.
#[cfg(test)]
pub(crate) fn test_store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(
        ConfigDir::at(dir.path().join("cfg")),
        SecretStore::new("keeperdb-unit-tests"),
    );
    (dir, store)
}
