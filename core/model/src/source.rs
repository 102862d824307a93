//! The connection-source interface: anything that can list connections and hand out their
//! credentials at connect time (the local store, file sources, the Keeper vault).

use crate::connection::{Connection, ConnectionId};
use crate::credentials::Credentials;

/// Who a source is, as shown in listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// Stable id, used as `Origin::source` (`local`, `pgpass`, `keeper-vault`).
    pub id: String,
    /// Badge shown beside its connections (`Local`, `pgpass`, `Vault`).
    pub badge: String,
}

/// Why a source could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source has no connection with that id (it was removed since it was listed).
    #[error("connection `{0}` is no longer provided by this source")]
    NotFound(ConnectionId),
    /// The source's backing data is malformed (a file, a vault record).
    #[error("invalid data in {what}: {message}")]
    InvalidData {
        /// What was read: a file path, a record UID.
        what: String,
        /// What was wrong with it.
        message: String,
    },
    /// The source could not reach what it reads (file permissions, network, vault auth).
    #[error("{0}")]
    Unavailable(String),
    /// The OS credential store failed.
    #[error(transparent)]
    SecretStore(#[from] crate::secrets::SecretStoreError),
    /// The plugin that implements the source failed (trap, timeout, bad answer).
    #[error("plugin `{plugin}` failed: {message}")]
    Plugin {
        /// Plugin id.
        plugin: String,
        /// What happened.
        message: String,
    },
}

/// A provider of connections. Implementations must be cheap to call `info` on; `list` may do
/// I/O. Credentials are fetched on demand so a rotated secret is picked up at the next connect.
pub trait ConnectionSource: Send + Sync {
    /// Identity and badge.
    fn info(&self) -> SourceInfo;

    /// Every connection the source currently provides, each with `origin` set to this source.
    fn list(&self) -> Result<Vec<Connection>, SourceError>;

    /// Credentials for one of this source's connections, fetched now.
    fn credentials(&self, connection: &Connection) -> Result<Credentials, SourceError>;
}
