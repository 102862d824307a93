//! Version-neutral shapes of what crosses the plugin boundary, so that only `v0/` (and a
//! future `v1/`) names the generated WIT types.

use keeperdb_model::connection::TlsMode;

use crate::sanitize::sanitize;

/// What went wrong, as a plugin or a host capability answers it. Every WIT version so far
/// has these five cases; the shown text comes from [`PluginError::describe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// Data read was malformed (a line of a file, a vault record).
    InvalidData(InvalidData),
    /// A capability call was refused: outside what the user granted.
    Denied(String),
    /// The thing asked for does not exist.
    NotFound(String),
    /// Something depended on cannot be reached right now.
    Unavailable(String),
    /// A bug: an unexpected state.
    Internal(String),
}

/// Malformed data, and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidData {
    /// What was read: a file path with a line number, a record UID.
    pub what: String,
    /// What was wrong with it.
    pub message: String,
}

impl PluginError {
    /// A plugin's error answer as user-facing text.
    pub(crate) fn describe(&self) -> String {
        match self {
            PluginError::InvalidData(d) => format!(
                "invalid data in {}: {}",
                sanitize(&d.what),
                sanitize(&d.message)
            ),
            PluginError::Denied(m) => format!("denied: {}", sanitize(m)),
            PluginError::NotFound(m) => format!("not found: {}", sanitize(m)),
            PluginError::Unavailable(m) => sanitize(m),
            PluginError::Internal(m) => format!("internal error: {}", sanitize(m)),
        }
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::error::Error for PluginError {}

/// A connection as a source plugin describes it: its own id (not yet prefixed with the
/// plugin id), the engine still as text, and never a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub id: String,
    pub name: String,
    pub engine: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub tls: Option<TlsMode>,
    pub read_only: bool,
    pub environment: Option<String>,
    pub color: Option<String>,
    pub options: Vec<(String, String)>,
}

impl Descriptor {
    /// Rough byte size: the strings it carries plus a fixed overhead.
    pub(crate) fn size(&self) -> usize {
        64 + self.id.len()
            + self.name.len()
            + self.engine.len()
            + self.host.as_ref().map_or(0, String::len)
            + self.database.as_ref().map_or(0, String::len)
            + self.user.as_ref().map_or(0, String::len)
            + self.environment.as_ref().map_or(0, String::len)
            + self.color.as_ref().map_or(0, String::len)
            + self
                .options
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// What a source plugin answers to a credentials request. No `Debug`: it may hold a password.
pub(crate) struct PluginCredentials {
    pub user: Option<String>,
    pub password: Option<PluginSecret>,
}

/// A password given by value, or as a vault field the host resolves itself.
pub(crate) enum PluginSecret {
    Value(String),
    VaultField { record_uid: String, field: String },
}

/// What `list-connections` answered: the descriptors, and the entries the plugin reported it
/// left out (`entry`, `reason`), not yet checked or made safe to show.
#[derive(Debug, Clone, Default)]
pub(crate) struct PluginListing {
    pub connections: Vec<Descriptor>,
    pub skipped: Vec<(String, String)>,
}
