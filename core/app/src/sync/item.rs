//! What is synced, as the sync engine sees it: each local connection and the preferences as an
//! item with a local id, a payload (JSON without secrets) and a digest of that payload, and the
//! same for what a backend holds. Both sides go through one typed form before they are hashed,
//! so an item that round-trips through a backend hashes the same.

use keeperdb_model::connection::{Connection, ConnectionId, ConnectionSpec, Origin};
use keeperdb_model::prefs::Preferences;
use keeperdb_model::storage::{ItemKind, SecretRef, StoredItem};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{PasswordSource, SavedConnectionView};

/// A saved connection as it is mirrored: its spec, where its password lives and the password's
/// revision (which changes with the password, so a new password is seen without reading it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConnectionPayload {
    #[serde(flatten)]
    pub spec: ConnectionSpec,
    #[serde(default)]
    pub password: Option<PasswordSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_rev: Option<String>,
}

/// The preferences as they are mirrored, with when they were written (to choose between the
/// preferences of several machines on restore; not part of the digest).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PreferencesPayload {
    pub saved_at: u64,
    pub preferences: Preferences,
}

/// The content of an item, typed.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    Connection(Box<ConnectionPayload>),
    Preferences(Box<PreferencesPayload>),
}

impl Content {
    /// The digest the plan compares: of the content that matters, in one canonical form.
    pub(crate) fn digest(&self) -> String {
        let canonical = match self {
            Content::Connection(c) => serde_json::to_string(c),
            Content::Preferences(p) => serde_json::to_string(&p.preferences),
        }
        .unwrap_or_default();
        let mut hash = Sha256::new();
        hash.update(canonical.as_bytes());
        hex::encode(hash.finalize())
    }

    /// The payload a backend stores.
    pub(crate) fn payload(&self) -> String {
        match self {
            Content::Connection(c) => serde_json::to_string(c),
            Content::Preferences(p) => serde_json::to_string(p),
        }
        .unwrap_or_default()
    }

    pub(crate) fn kind(&self) -> ItemKind {
        match self {
            Content::Connection(_) => ItemKind::Connection,
            Content::Preferences(_) => ItemKind::Preferences,
        }
    }

    /// A short description for reports: the connection's name, or `preferences`.
    pub(crate) fn label(&self) -> String {
        match self {
            Content::Connection(c) => c.spec.name.clone(),
            Content::Preferences(_) => "preferences".into(),
        }
    }

    /// Parse what a backend returned. Anything from outside is checked here: a payload that
    /// does not parse, or a connection that is not valid, is unreadable.
    pub(crate) fn parse(kind: ItemKind, payload: &str) -> Result<Content, String> {
        match kind {
            ItemKind::Connection => {
                let c: ConnectionPayload = serde_json::from_str(payload)
                    .map_err(|e| format!("its content is not a connection: {e}"))?;
                c.spec.validate().map_err(|e| e.to_string())?;
                Ok(Content::Connection(Box::new(c)))
            }
            ItemKind::Preferences => {
                let p: PreferencesPayload = serde_json::from_str(payload)
                    .map_err(|e| format!("its content is not keeperdb preferences: {e}"))?;
                p.preferences.validate()?;
                Ok(Content::Preferences(Box::new(p)))
            }
        }
    }
}

/// One local item.
#[derive(Debug, Clone)]
pub(crate) struct LocalItem {
    pub local_id: String,
    pub content: Content,
    pub digest: String,
}

impl LocalItem {
    pub(crate) fn connection(saved: &SavedConnectionView) -> Self {
        let content = Content::Connection(Box::new(ConnectionPayload {
            spec: saved.connection.spec.clone(),
            password: saved.password,
            password_rev: saved.password_rev.clone(),
        }));
        Self {
            local_id: saved.connection.id.as_str().to_string(),
            digest: content.digest(),
            content,
        }
    }

    pub(crate) fn preferences(local_id: &str, preferences: &Preferences, saved_at: u64) -> Self {
        let content = Content::Preferences(Box::new(PreferencesPayload {
            saved_at,
            preferences: preferences.clone(),
        }));
        Self {
            local_id: local_id.to_string(),
            digest: content.digest(),
            content,
        }
    }
}

/// One item a backend holds, checked.
#[derive(Debug, Clone)]
pub(crate) struct RemoteItem {
    pub local_id: String,
    pub remote_ref: String,
    pub kind: ItemKind,
    /// The content, or why it could not be read.
    pub content: Result<Content, String>,
    /// The digest of the content; none when it is unreadable.
    pub digest: Option<String>,
    pub secret: Option<SecretRef>,
}

impl RemoteItem {
    pub(crate) fn from_stored(item: StoredItem) -> Self {
        let content = Content::parse(item.kind, &item.payload);
        Self {
            digest: content.as_ref().ok().map(Content::digest),
            local_id: item.local_id,
            remote_ref: item.remote_ref,
            kind: item.kind,
            content,
            secret: item.secret,
        }
    }

    /// A short description for reports.
    pub(crate) fn label(&self) -> String {
        match &self.content {
            Ok(c) => c.label(),
            Err(_) => format!("unreadable item {}", self.remote_ref),
        }
    }

    /// The connection this item restores, under its local id.
    pub(crate) fn connection(&self) -> Option<(Connection, &ConnectionPayload)> {
        match &self.content {
            Ok(Content::Connection(c)) => Some((
                Connection {
                    id: ConnectionId::from_string(self.local_id.clone()),
                    spec: c.spec.clone(),
                    origin: Origin::local(),
                },
                c,
            )),
            _ => None,
        }
    }
}
