//! A storage backend writes passwords it never holds: the host lends it a handle for one call
//! and writes the secret itself where the plugin put the handle. Checked with a real component
//! (`secret-probe`, built by `cargo xtask build-plugins`) that writes everything it received
//! into the record and replays old handles; the vault behind it is a recording fake, because
//! the test is about what crosses the WASM boundary (the real vault is in the CLI's storage
//! tests).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use keeperdb_model::storage::{ItemKind, NewItem, StorageBackend, StorageErrorKind};
use keeperdb_wasm_host::vault_types::{self, Error, Folder, NewRecord, VaultRecord};
use keeperdb_wasm_host::{LoadOptions, LoadedPlugin, VaultCapability, WasmRuntime, WasmStorage};
use secrecy::{ExposeSecret, SecretString};

/// What the vault was asked to write: (title, [(field type, secret value)]).
type Written = Vec<(String, Vec<(String, Option<String>)>)>;

#[derive(Default)]
struct RecordingVault {
    written: Mutex<Written>,
}

impl VaultCapability for RecordingVault {
    fn list_folders(&self) -> Result<Vec<Folder>, Error> {
        Ok(Vec::new())
    }
    fn list_records(&self, _: Option<&str>, _: bool) -> Result<Vec<VaultRecord>, Error> {
        Ok(Vec::new())
    }
    fn get_records(&self, _: &[String], _: bool) -> Result<Vec<VaultRecord>, Error> {
        Ok(Vec::new())
    }
    fn create_folder(&self, _: &str, _: &str) -> Result<String, Error> {
        Ok("folder".into())
    }
    fn create_record(&self, _: &str, record: &NewRecord) -> Result<String, Error> {
        let fields = record
            .fields
            .iter()
            .map(|f| {
                (
                    f.field_type.clone(),
                    f.secret.as_ref().map(|s| s.expose_secret().to_string()),
                )
            })
            .collect();
        let mut written = self.written.lock().unwrap();
        written.push((record.title.clone(), fields));
        Ok(format!("uid-{}", written.len()))
    }
    fn delete_record(&self, _: &str) -> Result<(), Error> {
        Ok(())
    }
    fn resolve_field(&self, _: &str, _: &str) -> Result<SecretString, Error> {
        Err(vault_types::Error::NotFound("nothing stored".into()))
    }
}

fn probe(vault: Arc<RecordingVault>) -> WasmStorage {
    let dir = std::env::var_os("KEEPERDB_TEST_PLUGINS_DIR")
        .map(PathBuf::from)
        .expect("KEEPERDB_TEST_PLUGINS_DIR is not set: run `cargo xtask build-plugins` first")
        .join("secret-probe");
    let mut options = LoadOptions::granted(["keeper-vault"]);
    options.vault = Some(vault);
    let runtime = WasmRuntime::new(None).unwrap();
    let plugin = LoadedPlugin::load(&runtime, &dir, options).unwrap();
    WasmStorage::new(Arc::new(plugin)).unwrap()
}

fn item(payload: &str, secret: Option<&str>) -> NewItem {
    NewItem {
        local_id: "local-1".into(),
        kind: ItemKind::Connection,
        payload: payload.into(),
        secret: secret.map(SecretString::from),
    }
}

#[test]
fn the_host_writes_the_lent_secret_and_the_plugin_only_ever_sees_its_handle() {
    let vault = Arc::new(RecordingVault::default());
    let storage = probe(vault.clone());
    storage
        .put(&item("{\"name\":\"a\"}", Some("S3cret-Value-42")))
        .unwrap();
    let written = vault.written.lock().unwrap().clone();
    let (seen, fields) = &written[0];
    assert!(
        !seen.contains("S3cret-Value-42"),
        "the plugin saw the secret: {seen}"
    );
    assert!(
        seen.contains("secret=Some(\"keeperdb-secret-"),
        "it saw a handle: {seen}"
    );
    assert_eq!(
        fields[1],
        ("password".to_string(), Some("S3cret-Value-42".to_string())),
        "the host wrote the secret where the plugin put the handle"
    );
}

#[test]
fn a_handle_is_worth_nothing_after_the_call_it_was_lent_for() {
    let vault = Arc::new(RecordingVault::default());
    let storage = probe(vault.clone());
    storage.put(&item("first", Some("Old-Secret-7"))).unwrap();
    // Same instance, a later call without a secret: the old handle is replayed.
    let err = storage.put(&item("replay", None)).unwrap_err();
    assert_eq!(err.kind(), StorageErrorKind::Denied, "{err}");
    assert!(err.to_string().contains("secret handle"), "{err}");
    assert_eq!(
        vault.written.lock().unwrap().len(),
        1,
        "nothing was written with the replayed handle"
    );
}
