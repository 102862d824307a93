//! Shared test helpers: the CA set up by the test runner, and an SDK client configured the way
//! a keeperdb user's would be (proxy_url + the emulator's server key; strict TLS).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use keeper_secrets_manager_core::dto::field_structs::KeeperField;
use keeper_secrets_manager_core::prelude::*;
use keeperdb_ksm_emulator::{Emulator, EmulatorConfig, EmulatorHandle, RecordView, Seed};

/// The CA directory the runner made with `keeperdb-ksm-emulator make-ca --out DIR`.
/// The SDK trusts it only through `SSL_CERT_FILE=DIR/ca.pem`, read when its HTTP client is
/// built; tests cannot set that safely themselves, so the runner must.
pub fn ca_dir() -> PathBuf {
    keeperdb_ksm_emulator::test_ca_dir().unwrap_or_else(|e| panic!("{e}"))
}

pub fn demo_seed() -> Seed {
    Seed::from_json(keeperdb_ksm_emulator::DEMO_SEED_JSON).expect("demo seed parses")
}

/// The demo seed, with the runner's CA (so clients trust the emulator).
pub fn demo_config() -> EmulatorConfig {
    EmulatorConfig {
        seed: demo_seed(),
        ca_dir: Some(ca_dir()),
        ..EmulatorConfig::default()
    }
}

/// An emulator on the demo seed, trusted through the runner's CA.
pub fn start_demo() -> EmulatorHandle {
    start(demo_config())
}

pub fn start(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(config).expect("emulator starts")
}

/// Client options exactly as a user of the emulator sets them.
pub fn options(emu: &EmulatorHandle, token: &str, storage: KvStoreType) -> ClientOptions {
    let mut o = ClientOptionsBuilder::new(storage)
        .token(token)
        .proxy_url(&emu.proxy_url())
        .build();
    o.set_server_public_key(&emu.server_public_key());
    o.set_server_public_key_id(&emu.server_public_key_id());
    o
}

pub fn memory() -> KvStoreType {
    KvStoreType::InMemory(InMemoryKeyValueStorage::new(None).expect("in-memory storage"))
}

/// A client made from a fresh token for the first app (not bound until its first call).
pub fn client(emu: &EmulatorHandle) -> SecretsManager {
    let token = emu.issue_default_token().expect("token");
    client_for(emu, &token)
}

/// A client with in-memory storage for `token` (not bound until its first call).
pub fn client_for(emu: &EmulatorHandle, token: &str) -> SecretsManager {
    SecretsManager::new(options(emu, token, memory())).expect("client")
}

/// A bound client (it has made its first call).
pub fn bound_client(emu: &EmulatorHandle) -> SecretsManager {
    let mut sm = client(emu);
    sm.get_secrets(vec![])
        .expect("first get_secrets binds the client");
    sm
}

/// The config a bound client keeps (JSON object of strings), as it would be saved.
pub fn saved_config(sm: &SecretsManager) -> String {
    let map = sm.config.read_storage().expect("config readable");
    let obj: HashMap<String, String> = map
        .into_iter()
        .map(|(k, v)| (k.value().to_string(), v))
        .collect();
    serde_json::to_string(&obj).expect("json")
}

pub fn by_title<'a>(records: &'a [Record], title: &str) -> &'a Record {
    records
        .iter()
        .find(|r| r.title == title)
        .unwrap_or_else(|| {
            panic!(
                "no record titled {title:?} among {:?}",
                records.iter().map(|r| &r.title).collect::<Vec<_>>()
            )
        })
}

pub fn std_value(r: &Record, name: &str) -> serde_json::Value {
    r.get_standard_field_value(name, true)
        .unwrap_or_else(|e| panic!("{}: field {name}: {e}", r.title))
}

pub fn custom_value(r: &Record, name: &str) -> serde_json::Value {
    r.get_custom_field_value(name, true)
        .unwrap_or_else(|e| panic!("{}: custom {name}: {e}", r.title))
}

/// The one record `uid`, read through the SDK.
pub fn fetch(sm: &mut SecretsManager, uid: &str) -> Record {
    let mut got = sm.get_secrets(vec![uid.to_string()]).expect("get_secrets");
    assert_eq!(got.len(), 1, "exactly record {uid}");
    got.remove(0)
}

/// Record `uid` as the emulator holds it (decrypted).
pub fn stored(emu: &EmulatorHandle, uid: &str) -> RecordView {
    emu.records()
        .into_iter()
        .find(|r| r.uid == uid)
        .unwrap_or_else(|| panic!("the emulator holds no record {uid}"))
}

/// A record field for `RecordCreate`.
pub fn field(kind: &str, label: Option<&str>, value: serde_json::Value) -> KeeperField {
    let mut f = KeeperField::new(kind, label.map(str::to_string));
    f.value = value;
    f
}
