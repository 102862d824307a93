//! The OS credential store (Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows) through the `keyring` crate. Local connection passwords and, later, KSM application
//! configs live here and nowhere else.

use secrecy::{ExposeSecret, SecretString};

/// The keyring service name every keeperdb entry is filed under.
pub const SERVICE: &str = "keeperdb";

pub use keeperdb_model::secrets::SecretStoreError;

/// Passwords kept in the OS credential store, one entry per account key.
#[derive(Debug, Clone)]
pub struct SecretStore {
    service: String,
}

impl Default for SecretStore {
    fn default() -> Self {
        Self::new(SERVICE)
    }
}

impl SecretStore {
    /// A store filing entries under `service`.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry, SecretStoreError> {
        keyring::Entry::new(&self.service, account).map_err(map_error)
    }

    /// Check that a credential store answers, without writing anything.
    pub fn probe(&self) -> Result<(), SecretStoreError> {
        match self.entry("keeperdb-probe")?.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_error(e)),
        }
    }

    /// Store a secret, replacing any earlier one.
    pub fn set(&self, account: &str, secret: &SecretString) -> Result<(), SecretStoreError> {
        let _span = tracing::debug_span!("secret_store.set", account).entered();
        self.entry(account)?
            .set_password(secret.expose_secret())
            .map_err(map_error)
    }

    /// Read a secret; `None` if there is none.
    pub fn get(&self, account: &str) -> Result<Option<SecretString>, SecretStoreError> {
        let _span = tracing::debug_span!("secret_store.get", account).entered();
        match self.entry(account)?.get_password() {
            Ok(p) => Ok(Some(SecretString::from(p))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    /// Remove a secret; removing one that does not exist is not an error.
    pub fn delete(&self, account: &str) -> Result<(), SecretStoreError> {
        let _span = tracing::debug_span!("secret_store.delete", account).entered();
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_error(e)),
        }
    }
}

fn map_error(e: keyring::Error) -> SecretStoreError {
    match e {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            SecretStoreError::Unavailable(inner.to_string())
        }
        other => SecretStoreError::Failed(other.to_string()),
    }
}
