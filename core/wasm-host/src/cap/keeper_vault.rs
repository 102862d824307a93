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
    /// The value as the vault stores it: a JSON array; `[]` once withheld.
    pub value: String,
    /// The value was withheld because it is secret (see [`SECRET_FIELD_TYPES`]).
    pub redacted: bool,
}

/// Field types whose values never reach a plugin: passwords, keys, one-time codes, card and
/// account numbers, answers to security questions, PAM seeds. The one list: the host applies
/// it to whatever a [`VaultCapability`] returns, and the Keeper integration builds its records
/// with it.
pub const SECRET_FIELD_TYPES: [&str; 12] = [
    "password",
    "secret",
    "pinCode",
    "oneTimeCode",
    "otp",
    "keyPair",
    "privateKey",
    "securityQuestion",
    "paymentCard",
    "bankAccount",
    "trafficEncryptionSeed",
    "passkey",
];

/// Whether a field of this type is withheld from plugins (any case, as the vault matches).
pub fn is_secret_field_type(field_type: &str) -> bool {
    SECRET_FIELD_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(field_type))
}

impl Field {
    /// A field as the vault holds it (`value` a JSON array), with its value withheld when its
    /// type is secret.
    pub fn new(field_type: String, label: Option<String>, value: String) -> Self {
        Field {
            field_type,
            label,
            value,
            redacted: false,
        }
        .withheld()
    }

    /// This field as a plugin may see it: a secret type, or a field already marked redacted,
    /// keeps no value.
    fn withheld(mut self) -> Self {
        if self.redacted || is_secret_field_type(&self.field_type) {
            self.value = "[]".into();
            self.redacted = true;
        }
        self
    }
}

impl VaultRecord {
    /// This record as a plugin may see it, every secret field withheld.
    fn withheld(mut self) -> Self {
        self.fields = self.fields.into_iter().map(Field::withheld).collect();
        self.custom = self.custom.into_iter().map(Field::withheld).collect();
        self
    }
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
/// over the KSM client; the keys stay on this side. Records may come back with their secret
/// values in them: the host withholds every field of a [secret type](SECRET_FIELD_TYPES)
/// before a plugin sees it, and secrets reach the host only through `resolve_field`.
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

    /// The attached vault as a plugin may use it, if this plugin may.
    pub(crate) fn vault(&self) -> Result<PluginVault<'_>, PluginError> {
        if !self.granted {
            // Not linked without the grant, so unreachable from a plugin; kept as a guard.
            return Err(PluginError::Denied("keeper-vault was not granted".into()));
        }
        self.vault.as_deref().map(PluginVault).ok_or_else(|| {
            PluginError::Unavailable(
                "no Keeper vault is attached: attach one with a KSM one-time access token".into(),
            )
        })
    }
}

/// The attached vault as every WIT version's bindings reach it: what it returns to a plugin
/// has its secrets withheld here, whichever [`VaultCapability`] is attached, so no binding and
/// no implementation can forget to.
pub(crate) struct PluginVault<'a>(&'a dyn VaultCapability);

impl PluginVault<'_> {
    pub(crate) fn list_folders(&self) -> Result<Vec<Folder>, PluginError> {
        self.0.list_folders()
    }

    pub(crate) fn list_records(
        &self,
        folder_uid: Option<&str>,
        with_links: bool,
    ) -> Result<Vec<VaultRecord>, PluginError> {
        let records = self.0.list_records(folder_uid, with_links)?;
        Ok(records.into_iter().map(VaultRecord::withheld).collect())
    }

    pub(crate) fn get_records(
        &self,
        uids: &[String],
        with_links: bool,
    ) -> Result<Vec<VaultRecord>, PluginError> {
        let records = self.0.get_records(uids, with_links)?;
        Ok(records.into_iter().map(VaultRecord::withheld).collect())
    }

    pub(crate) fn create_folder(
        &self,
        parent_uid: &str,
        name: &str,
    ) -> Result<String, PluginError> {
        self.0.create_folder(parent_uid, name)
    }

    pub(crate) fn create_record(
        &self,
        folder_uid: &str,
        record: &NewRecord,
    ) -> Result<String, PluginError> {
        self.0.create_record(folder_uid, record)
    }

    pub(crate) fn delete_record(&self, uid: &str) -> Result<(), PluginError> {
        self.0.delete_record(uid)
    }
}

/// Link `keeper-vault` in every WIT version this host serves.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut VaultState,
) -> wasmtime::Result<()> {
    crate::v0::add_keeper_vault_to_linker(linker, get)
}
