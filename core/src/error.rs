//! The crate-level error: every module's error in one type, for shells that map errors to
//! exit codes and messages.

use crate::driver::DriverError;
use crate::manifest::ManifestError;
use crate::prefs::PrefError;
use crate::registry::RegistryError;
use crate::secret_store::SecretStoreError;
use crate::store::StoreError;
use crate::url::UrlError;

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
    /// Driver.
    #[error(transparent)]
    Driver(#[from] DriverError),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
