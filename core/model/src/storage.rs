//! The storage-backend interface: a remote place that mirrors the local connections and the
//! preferences (the Keeper vault's `KeeperDB Storage` folder). Backends only list, put and
//! remove items; the sync algorithm that decides what to push stays in core.

use secrecy::SecretString;

/// What a stored item holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// One saved connection.
    Connection,
    /// The preferences, as one item.
    Preferences,
}

/// Where a stored item keeps its secret (the vault field of a connection's password), for the
/// host to read when it restores the item. Plugins name it; they never hold the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The record holding it.
    pub record_uid: String,
    /// The field type or custom field label (`password`).
    pub field: String,
}

/// One item as the backend keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// The local id it mirrors (`keeperdb_local_id`); stable across edits.
    pub local_id: String,
    /// The backend's own reference (a record UID); changes when an item is recreated.
    pub remote_ref: String,
    /// What it holds.
    pub kind: ItemKind,
    /// The item's content as JSON text (a connection without secrets, or the preferences).
    pub payload: String,
    /// Where its secret is kept, when it has one.
    pub secret: Option<SecretRef>,
}

/// An item to write; the backend answers with its new `remote_ref`.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// The local id it mirrors.
    pub local_id: String,
    /// What it holds.
    pub kind: ItemKind,
    /// Content as JSON text (never a secret).
    pub payload: String,
    /// The item's secret (a connection's password). A backend that runs as a plugin gets only a
    /// handle to it; the host writes the value where the plugin put the handle.
    pub secret: Option<SecretString>,
}

/// Why a backend call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// The backend could not be reached right now (network, throttling, a server error): worth
    /// trying again later.
    #[error("{0}")]
    Unavailable(String),
    /// The backend refused: the application may not do this (a read-only share).
    #[error("{0}")]
    Denied(String),
    /// The item asked for does not exist (already removed).
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored item could not be read.
    #[error("invalid stored item {remote_ref}: {message}")]
    InvalidItem {
        /// Backend reference of the item.
        remote_ref: String,
        /// What was wrong.
        message: String,
    },
    /// The plugin that implements the backend failed.
    #[error("plugin `{plugin}` failed: {message}")]
    Plugin {
        /// Plugin id.
        plugin: String,
        /// What happened.
        message: String,
    },
}

/// What kind of failure a [`StorageError`] is, for callers that retry or explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// Transient: try again later.
    Unavailable,
    /// Not allowed; retrying will not help.
    Denied,
    /// Gone already.
    NotFound,
    /// The backend or its data is broken.
    Broken,
}

impl StorageError {
    /// The kind of failure.
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            StorageError::Unavailable(_) => StorageErrorKind::Unavailable,
            StorageError::Denied(_) => StorageErrorKind::Denied,
            StorageError::NotFound(_) => StorageErrorKind::NotFound,
            StorageError::InvalidItem { .. } | StorageError::Plugin { .. } => {
                StorageErrorKind::Broken
            }
        }
    }
}

/// A remote mirror for local state. Calls may come from several threads at once; a backend
/// serves them concurrently where it can.
pub trait StorageBackend: Send + Sync {
    /// Backend id (the plugin id).
    fn id(&self) -> &str;
    /// Every item the backend holds.
    fn list(&self) -> Result<Vec<StoredItem>, StorageError>;
    /// Write an item; returns its `remote_ref`.
    fn put(&self, item: &NewItem) -> Result<String, StorageError>;
    /// Remove an item by `remote_ref`.
    fn remove(&self, remote_ref: &str) -> Result<(), StorageError>;
    /// Read an item's secret where the backend said it keeps it (restoring a password).
    fn read_secret(&self, secret: &SecretRef) -> Result<SecretString, StorageError>;
}
