//! The `keeper-vault` capability: the user's Keeper vault, reached through a
//! [`VaultCapability`] the embedder attaches. The keys stay on the host side, and secret
//! field values never reach a plugin.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;
use wasmtime::component::Linker;

use crate::types::PluginError;

/// A folder the KSM application can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Folder UID.
    pub uid: String,
    /// Folder name.
    pub name: String,
    /// Parent folder UID; none for a shared folder at the top.
    pub parent_uid: Option<String>,
    /// The shared folder it lives in (itself for a shared folder).
    pub shared_folder_uid: Option<String>,
}

/// One field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Field type: `login`, `password`, `host`, `text`, ...
    pub field_type: String,
    /// Label (custom fields, and standard fields that carry one).
    pub label: Option<String>,
    /// The value as the vault stores it: a JSON array. Empty for secret fields.
    pub value: String,
    /// The value was withheld because it is secret.
    pub redacted: bool,
}

/// A link from a record to another (Keeper's record links): a PAM Database to its PAM User.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLink {
    /// The linked record's UID.
    pub record_uid: String,
    /// None for a credential link; `meta`, `ai_settings`, ... for the record's own settings.
    pub path: Option<String>,
    /// The linked user is an administrative credential.
    pub is_admin: bool,
    /// The linked user is the one to log in with.
    pub is_launch_credential: bool,
}

/// A record, with secrets withheld.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultRecord {
    /// Record UID.
    pub uid: String,
    /// Record type: `databaseCredentials`, `pamDatabase`, `login`, ...
    pub record_type: String,
    /// Title.
    pub title: String,
    /// Folder UID it lives in.
    pub folder_uid: Option<String>,
    /// Standard fields.
    pub fields: Vec<Field>,
    /// Custom fields.
    pub custom: Vec<Field>,
    /// Notes.
    pub notes: Option<String>,
    /// Links to other records; empty unless asked for.
    pub links: Vec<RecordLink>,
}

/// A field to write into a new record.
#[derive(Debug, Clone)]
pub struct NewField {
    /// Field type.
    pub field_type: String,
    /// Label.
    pub label: Option<String>,
    /// Value as a JSON array; ignored when `secret` is set.
    pub value: String,
    /// A secret the host substituted for the handle the plugin wrote: the field's value is
    /// `[secret]`. Never from plugin memory.
    pub secret: Option<SecretString>,
}

/// A record to create.
#[derive(Debug, Clone)]
pub struct NewRecord {
    /// Record type.
    pub record_type: String,
    /// Title.
    pub title: String,
    /// Standard fields.
    pub fields: Vec<NewField>,
    /// Custom fields.
    pub custom: Vec<NewField>,
    /// Notes.
    pub notes: Option<String>,
}

/// The host side of the `keeper-vault` capability. The Keeper vault integration implements it
/// over the KSM client; the keys stay on this side. Secret field values must be withheld from
/// records returned to plugins (`redacted = true`) and resolved only by `resolve_field`.
pub trait VaultCapability: Send + Sync {
    /// Every folder the KSM application can see.
    fn list_folders(&self) -> Result<Vec<Folder>, PluginError>;
    /// Records of one folder, or of every folder; with their links when `with_links`.
    fn list_records(
        &self,
        folder_uid: Option<&str>,
        with_links: bool,
    ) -> Result<Vec<VaultRecord>, PluginError>;
    /// The records with these UIDs, fetched now; UIDs the application cannot see are left out.
    fn get_records(
        &self,
        uids: &[String],
        with_links: bool,
    ) -> Result<Vec<VaultRecord>, PluginError>;
    /// Create a folder; returns its UID.
    fn create_folder(&self, parent_uid: &str, name: &str) -> Result<String, PluginError>;
    /// Create a record; returns its UID.
    fn create_record(&self, folder_uid: &str, record: &NewRecord) -> Result<String, PluginError>;
    /// Delete a record.
    fn delete_record(&self, uid: &str) -> Result<(), PluginError>;
    /// Fetch a secret field for a `vault-field-ref`, host-side only.
    fn resolve_field(&self, record_uid: &str, field: &str) -> Result<SecretString, PluginError>;
}

/// Per-instance state of `keeper-vault`.
#[derive(Default)]
pub(crate) struct VaultState {
    pub granted: bool,
    pub vault: Option<Arc<dyn VaultCapability>>,
    /// Secrets the plugin may write during the current call, by the handle it was given.
    pub handles: HashMap<String, SecretString>,
    pub lent: u64,
}

impl VaultState {
    /// Lend `secret` to the plugin for one call: the handle it may put in a new field.
    pub(crate) fn lend(&mut self, secret: SecretString) -> String {
        self.lent += 1;
        let handle = format!("keeperdb-secret-{}", self.lent);
        self.handles.insert(handle.clone(), secret);
        handle
    }

    /// The secret behind a handle lent for this call.
    pub(crate) fn redeem(&self, handle: &str) -> Result<SecretString, PluginError> {
        self.handles.get(handle).cloned().ok_or_else(|| {
            PluginError::Denied(
                "a new field names a secret handle this call was not given (handles are valid only during the call that received them)".into(),
            )
        })
    }

    /// The attached vault, if this plugin may use it.
    pub(crate) fn vault(&self) -> Result<&dyn VaultCapability, PluginError> {
        if !self.granted {
            // Not linked without the grant, so unreachable from a plugin; kept as a guard.
            return Err(PluginError::Denied("keeper-vault was not granted".into()));
        }
        self.vault.as_deref().ok_or_else(|| {
            PluginError::Unavailable(
                "no Keeper vault is attached: attach one with a KSM one-time access token".into(),
            )
        })
    }
}

/// Link `keeper-vault` in every WIT version this host serves.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut VaultState,
) -> wasmtime::Result<()> {
    crate::v0::add_keeper_vault_to_linker(linker, get)
}
