//! The storage-backend interface: a remote place that mirrors the local connections and the
//! preferences (the Keeper vault's `KeeperDB Storage` folder). Backends only list, put and
//! remove items; the sync algorithm that decides what to push stays in core.

/// What a stored item holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// One saved connection.
    Connection,
    /// The preferences, as one item.
    Preferences,
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
}

/// An item to write; the backend answers with its new `remote_ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// The local id it mirrors.
    pub local_id: String,
    /// What it holds.
    pub kind: ItemKind,
    /// Content as JSON text.
    pub payload: String,
}

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend could not be reached or refused the call.
    #[error("{0}")]
    Unavailable(String),
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

/// A remote mirror for local state.
pub trait StorageBackend: Send + Sync {
    /// Backend id (the plugin id).
    fn id(&self) -> &str;
    /// Every item the backend holds.
    fn list(&self) -> Result<Vec<StoredItem>, StorageError>;
    /// Write an item; returns its `remote_ref`.
    fn put(&self, item: &NewItem) -> Result<String, StorageError>;
    /// Remove an item by `remote_ref`.
    fn remove(&self, remote_ref: &str) -> Result<(), StorageError>;
}
