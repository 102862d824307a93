//! [`VaultSource`]: the vault source plugin's instance for one attachment, with the offline
//! listing around it: every good listing is saved, and while the vault cannot be reached the
//! saved one is shown, marked stale. Credentials always need the vault.

use keeperdb_keeper::{KsmVault, VaultErrorKind};
use keeperdb_model::Connection;
use keeperdb_model::credentials::Credentials;
use keeperdb_model::source::{ConnectionSource, SourceError, SourceInfo, SourceListing};
use keeperdb_wasm_host::WasmSource;

use super::cache::ListingCache;

/// One vault attachment as a connection source.
pub(crate) struct VaultSource {
    pub(crate) name: String,
    pub(crate) inner: WasmSource,
    pub(crate) vault: KsmVault,
    pub(crate) cache: ListingCache,
}

impl VaultSource {
    /// Whether the failure just seen means the vault could not be asked (the network, the
    /// service, or a setting such as a CA bundle that went missing), rather than a refusal, a
    /// bad record or a plugin bug.
    fn unreachable(&self) -> bool {
        matches!(
            self.vault.take_last_failure(),
            Some(VaultErrorKind::Unavailable | VaultErrorKind::Config)
        )
    }
}

impl ConnectionSource for VaultSource {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }

    fn list(&self) -> Result<SourceListing, SourceError> {
        match self.inner.list() {
            Ok(listing) => {
                self.cache
                    .store_listing(&listing, self.vault.records_seen());
                Ok(listing)
            }
            Err(e) => {
                let reason = e.to_string();
                self.cache.store_failure(&reason);
                if self.unreachable()
                    && let Some(stale) = self.cache.stale_listing(&reason)
                {
                    tracing::warn!(vault = %self.name, "vault unreachable; listing what was saved at the last refresh: {reason}");
                    return Ok(stale);
                }
                Err(e)
            }
        }
    }

    fn credentials(&self, connection: &Connection) -> Result<Credentials, SourceError> {
        self.inner.credentials(connection).map_err(|e| {
            if self.unreachable() {
                SourceError::Unavailable(format!(
                    "its credentials are fetched from vault `{}` when connecting, and the vault cannot be reached now: {e}",
                    self.name
                ))
            } else {
                e
            }
        })
    }
}

/// An attachment whose client could not even be opened (its CA bundle is gone, its config is
/// missing from the credential store): its saved listing, stale with why, and no credentials.
pub(crate) struct UnopenedVault {
    pub(crate) info: SourceInfo,
    pub(crate) cache: ListingCache,
    pub(crate) reason: String,
}

impl ConnectionSource for UnopenedVault {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn list(&self) -> Result<SourceListing, SourceError> {
        self.cache
            .stale_listing(&self.reason)
            .ok_or_else(|| SourceError::Unavailable(self.reason.clone()))
    }

    fn credentials(&self, _: &Connection) -> Result<Credentials, SourceError> {
        Err(SourceError::Unavailable(self.reason.clone()))
    }
}
