//! [`KsmVault`]: the `keeper-vault` capability over a [`KsmClient`]. Records reach plugins with
//! secret values withheld; `resolve_field` fetches a secret fresh, for the host only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use keeper_secrets_manager_core::dto::dtos::{KeeperFolder, RecordCreate};
use keeper_secrets_manager_core::dto::field_structs::KeeperField;
use keeper_secrets_manager_core::dto::payload::{CreateOptions, QueryOptions};
use keeperdb_wasm_host::VaultCapability;
use keeperdb_wasm_host::vault_types::{
    Error as PluginError, Folder, NewField, NewRecord, VaultRecord,
};
use secrecy::{ExposeSecret, SecretString};

use crate::client::{CallMode, KsmClient};
use crate::records::{field_value, to_vault_record};
use crate::{VaultError, VaultErrorKind};

/// The vault of one attachment, as plugins granted `keeper-vault` reach it.
#[derive(Debug, Clone)]
pub struct KsmVault {
    client: Arc<KsmClient>,
    last_failure: Arc<Mutex<Option<VaultErrorKind>>>,
    records_seen: Arc<AtomicUsize>,
}

impl KsmVault {
    /// The capability over a client.
    pub fn new(client: KsmClient) -> Self {
        Self {
            client: Arc::new(client),
            last_failure: Arc::default(),
            records_seen: Arc::default(),
        }
    }

    /// How many records the last read of the whole vault returned.
    pub fn records_seen(&self) -> usize {
        self.records_seen.load(Ordering::Relaxed)
    }

    /// The client underneath.
    pub fn client(&self) -> &KsmClient {
        &self.client
    }

    /// The kind of the last failed vault call, cleared by reading it: lets the caller tell "the
    /// vault cannot be reached" (show the cached listing) from other failures of a plugin call.
    pub fn take_last_failure(&self) -> Option<VaultErrorKind> {
        self.last_failure.lock().ok().and_then(|mut f| f.take())
    }

    fn fetch(
        &self,
        uids: Vec<String>,
        folders: Vec<String>,
        with_links: bool,
    ) -> Result<Vec<VaultRecord>, VaultError> {
        let _span = tracing::info_span!("vault.get_secrets", vault = %self.client.name(), uids = uids.len(), with_links).entered();
        let whole = uids.is_empty() && folders.is_empty();
        let records: Vec<VaultRecord> =
            self.track(self.client.call(CallMode::Read, move |sm| {
                let query = QueryOptions::with_links(uids, folders, with_links);
                let records = sm.get_secrets_with_options(query)?;
                Ok(records
                    .iter()
                    .map(|r| to_vault_record(r, with_links))
                    .collect())
            }))?;
        if whole {
            self.records_seen.store(records.len(), Ordering::Relaxed);
        }
        tracing::debug!(records = records.len(), "vault records read");
        Ok(records)
    }

    fn folders(&self) -> Result<Vec<KeeperFolder>, VaultError> {
        let _span = tracing::info_span!("vault.get_folders", vault = %self.client.name()).entered();
        self.track(self.client.call(CallMode::Read, |sm| sm.get_folders()))
    }

    fn track<R>(&self, result: Result<R, VaultError>) -> Result<R, VaultError> {
        if let Err(e) = &result
            && let Ok(mut last) = self.last_failure.lock()
        {
            *last = Some(e.kind());
        }
        result
    }

    /// A secret field of a record, fetched now.
    pub fn secret(&self, record_uid: &str, field: &str) -> Result<SecretString, VaultError> {
        let _span = tracing::info_span!("vault.resolve_field", vault = %self.client.name(), record = record_uid, field).entered();
        let uid = record_uid.to_string();
        let name = field.to_string();
        let found = self.track(self.client.call(CallMode::Read, move |sm| {
            let records = sm.get_secrets(vec![uid.clone()])?;
            Ok(records
                .iter()
                .find(|r| r.uid == uid)
                .map(|r| field_value(r, &name)))
        }))?;
        match found {
            None => Err(VaultError::RecordNotFound(record_uid.to_string())),
            Some(None) => Err(VaultError::FieldNotFound {
                uid: record_uid.to_string(),
                field: field.to_string(),
            }),
            Some(Some(secret)) => Ok(secret),
        }
    }
}

/// A vault error as a plugin receives it: the same words, sorted into the WIT's cases.
fn to_plugin(e: VaultError) -> PluginError {
    match e.kind() {
        VaultErrorKind::NotFound => PluginError::NotFound(e.to_string()),
        // Refusals: asking again will not help.
        VaultErrorKind::Access | VaultErrorKind::Token => PluginError::Denied(e.to_string()),
        VaultErrorKind::Invalid => {
            PluginError::InvalidData(keeperdb_wasm_host::vault_types::InvalidData {
                what: "the record to write".into(),
                message: e.to_string(),
            })
        }
        VaultErrorKind::Unavailable | VaultErrorKind::Config => {
            PluginError::Unavailable(e.to_string())
        }
    }
}

/// The shared folder a folder lives in: itself at the top, else its topmost ancestor.
fn shared_folder_of(uid: &str, folders: &[KeeperFolder]) -> Option<String> {
    let mut current = folders.iter().find(|f| f.folder_uid == uid)?;
    for _ in 0..folders.len() {
        if current.parent_uid.is_empty() {
            return Some(current.folder_uid.clone());
        }
        match folders.iter().find(|f| f.folder_uid == current.parent_uid) {
            Some(parent) => current = parent,
            None => return Some(current.parent_uid.clone()),
        }
    }
    None
}

fn keeper_field(f: &NewField) -> Result<KeeperField, PluginError> {
    if let Some(secret) = &f.secret {
        let mut field = KeeperField::new(f.field_type.clone(), f.label.clone());
        field.value = serde_json::json!([secret.expose_secret()]);
        return Ok(field);
    }
    let value: serde_json::Value = serde_json::from_str(&f.value).map_err(|e| {
        PluginError::InvalidData(keeperdb_wasm_host::vault_types::InvalidData {
            what: format!("field `{}`", f.field_type),
            message: format!("its value is not JSON: {e}"),
        })
    })?;
    if !value.is_array() {
        return Err(PluginError::InvalidData(
            keeperdb_wasm_host::vault_types::InvalidData {
                what: format!("field `{}`", f.field_type),
                message: "its value must be a JSON array".into(),
            },
        ));
    }
    let mut field = KeeperField::new(f.field_type.clone(), f.label.clone());
    field.value = value;
    Ok(field)
}

impl VaultCapability for KsmVault {
    fn list_folders(&self) -> Result<Vec<Folder>, PluginError> {
        let folders = self.folders().map_err(to_plugin)?;
        Ok(folders
            .iter()
            .map(|f| Folder {
                uid: f.folder_uid.clone(),
                name: f.name.clone(),
                parent_uid: Some(f.parent_uid.clone()).filter(|p| !p.is_empty()),
                shared_folder_uid: shared_folder_of(&f.folder_uid, &folders),
            })
            .collect())
    }

    fn list_records(
        &self,
        folder_uid: Option<&str>,
        with_links: bool,
    ) -> Result<Vec<VaultRecord>, PluginError> {
        let folders = folder_uid.map(|f| vec![f.to_string()]).unwrap_or_default();
        self.fetch(Vec::new(), folders, with_links)
            .map_err(to_plugin)
    }

    fn get_records(
        &self,
        uids: &[String],
        with_links: bool,
    ) -> Result<Vec<VaultRecord>, PluginError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = uids.to_vec();
        let records = self
            .fetch(wanted.clone(), Vec::new(), with_links)
            .map_err(to_plugin)?;
        // A filter the service ignores must not widen the answer.
        Ok(records
            .into_iter()
            .filter(|r| wanted.contains(&r.uid))
            .collect())
    }

    fn create_folder(&self, parent_uid: &str, name: &str) -> Result<String, PluginError> {
        let folders = self.folders().map_err(to_plugin)?;
        let shared = shared_folder_of(parent_uid, &folders).ok_or_else(|| {
            PluginError::NotFound(format!(
                "folder {parent_uid} is not visible to the application"
            ))
        })?;
        let sub = (shared != parent_uid).then(|| parent_uid.to_string());
        let name = name.to_string();
        let _span = tracing::info_span!("vault.create_folder", vault = %self.client.name(), parent = parent_uid).entered();
        self.track(self.client.call(CallMode::Write, move |sm| {
            sm.create_folder(CreateOptions::new(shared, sub), name, folders)
        }))
        .map_err(to_plugin)
    }

    fn create_record(&self, folder_uid: &str, record: &NewRecord) -> Result<String, PluginError> {
        let mut create = RecordCreate::new(
            record.record_type.clone(),
            record.title.clone(),
            record.notes.clone(),
        );
        for f in &record.fields {
            create.append_standard_fields(keeper_field(f)?);
        }
        for f in &record.custom {
            create.append_custom_field(keeper_field(f)?);
        }
        let folder = folder_uid.to_string();
        let _span = tracing::info_span!("vault.create_record", vault = %self.client.name(), folder = folder_uid).entered();
        self.track(
            self.client
                .call(CallMode::Write, move |sm| sm.create_secret(folder, create)),
        )
        .map_err(to_plugin)
    }

    fn delete_record(&self, uid: &str) -> Result<(), PluginError> {
        let target = uid.to_string();
        let _span =
            tracing::info_span!("vault.delete_record", vault = %self.client.name(), record = uid)
                .entered();
        let deleted = self
            .track(
                self.client
                    .call(CallMode::Write, move |sm| sm.delete_secret(vec![target])),
            )
            .map_err(to_plugin)?;
        if deleted.contains(uid) {
            Ok(())
        } else {
            Err(PluginError::NotFound(format!(
                "vault record {uid} could not be deleted (it is gone, or the application may not edit it)"
            )))
        }
    }

    fn resolve_field(&self, record_uid: &str, field: &str) -> Result<SecretString, PluginError> {
        self.secret(record_uid, field).map_err(to_plugin)
    }
}
