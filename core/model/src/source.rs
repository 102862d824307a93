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
    /// The vault attachment it reads, for a vault-bound source.
    pub vault: Option<String>,
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

/// Source ids only the host gives: its own store's, and names a listing or an error uses for
/// the host itself. A third-party plugin with one of these ids is refused.
pub const RESERVED_SOURCE_IDS: &[&str] = &[
    crate::connection::LOCAL_SOURCE_ID,
    "vault",
    "keeperdb",
    "plugins",
    "host",
];

/// Badges only the host gives (compared ignoring case and surrounding space): `Local` is
/// keeperdb's own store, `Vault` a Keeper vault through the first-party source.
pub const RESERVED_BADGES: &[&str] = &["local", "vault", "keeperdb", "keeper", "host"];

/// Whether `badge` is one only the host gives.
pub fn is_reserved_badge(badge: &str) -> bool {
    let badge = badge.trim();
    RESERVED_BADGES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(badge))
}

/// Whether `id` is a source id only the host gives.
pub fn is_reserved_source_id(id: &str) -> bool {
    RESERVED_SOURCE_IDS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(id))
}

/// One entry a source could not turn into a connection (a malformed record, a bad line), so
/// a shell can say "2 records skipped" and why while the rest are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Which entry, in the source's terms (a record UID, a file and line), made safe to show.
    pub entry: String,
    /// What was wrong with it.
    pub reason: String,
}

/// A listing served from what was saved at the last refresh, because the source cannot be
/// reached now (a vault while offline). Connecting still needs the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// When the saved listing was last refreshed.
    pub refreshed_at: std::time::SystemTime,
    /// Why the source could not be asked now.
    pub reason: String,
}

/// What a source lists: the connections it could read, and the entries it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceListing {
    /// Connections, each with `origin` set to the source.
    pub connections: Vec<Connection>,
    /// Entries left out, each with why.
    pub skipped: Vec<Skipped>,
    /// Set when this is a saved listing rather than the source's answer now.
    pub stale: Option<Stale>,
}

impl From<Vec<Connection>> for SourceListing {
    fn from(connections: Vec<Connection>) -> Self {
        Self {
            connections,
            ..Self::default()
        }
    }
}

/// A provider of connections. Implementations must be cheap to call `info` on; `list` may do
/// I/O. Credentials are fetched on demand so a rotated secret is picked up at the next connect.
pub trait ConnectionSource: Send + Sync {
    /// Identity and badge.
    fn info(&self) -> SourceInfo;

    /// Every connection the source currently provides, each with `origin` set to this source,
    /// and the entries it had to skip. One bad entry never fails the whole listing.
    fn list(&self) -> Result<SourceListing, SourceError>;

    /// Credentials for one of this source's connections, fetched now.
    fn credentials(&self, connection: &Connection) -> Result<Credentials, SourceError>;
}
