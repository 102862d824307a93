//! The `keeperdb-ksm-emulator` binary as the demo and people without a Keeper account use it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use common::*;
use keeper_secrets_manager_core::prelude::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_keeperdb-ksm-emulator");

fn seed_path() -> String {
    format!("{}/seeds/demo.json", env!("CARGO_MANIFEST_DIR"))
}

/// The binary serving the demo seed with the runner's CA; killed when dropped.
struct Spawned {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(extra: &[&str]) -> Spawned {
    let mut child = Command::new(BIN)
        .args(["--seed", &seed_path(), "--port", "0", "--ca-dir"])
        .arg(ca_dir())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the emulator binary");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    Spawned { child, stdout }
}

/// The binary with `--json`, and the settings it printed.
struct Running {
    _child: Spawned,
    settings: Value,
}

fn run(extra: &[&str]) -> Running {
    let mut child = spawn(&[&["--json"], extra].concat());
    let mut line = String::new();
    child.stdout.read_line(&mut line).unwrap();
    let settings: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("settings line {line:?}: {e}"));
    Running {
        _child: child,
        settings,
    }
}

impl Running {
    /// SDK options from the printed settings.
    fn options(&self, token: &str, storage: KvStoreType) -> ClientOptions {
        let s = &self.settings;
        let mut o = ClientOptionsBuilder::new(storage)
            .token(token)
            .proxy_url(s["proxy_url"].as_str().unwrap())
            .build();
        o.set_server_public_key(s["server_public_key"].as_str().unwrap());
        // A JSON number, as the service's key ids are; the SDK takes it in decimal.
        let key_id = s["server_public_key_id"].as_u64().expect("numeric key id");
        o.set_server_public_key_id(&key_id.to_string());
        o
    }

    /// A client with the printed token.
    fn client(&self) -> SecretsManager {
        let token = self.settings["token"].as_str().unwrap();
        SecretsManager::new(self.options(token, memory())).unwrap()
    }
}

/// Runs the binary to completion.
fn output(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Runs the binary, which must fail, and returns what it printed on stderr.
fn failure(args: &[&str]) -> String {
    let out = output(args);
    assert!(!out.status.success(), "{args:?} must fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn printed_token_and_settings_let_the_sdk_in() {
    let emu = run(&[]);
    let s = &emu.settings;
    assert!(s["token"].as_str().unwrap().starts_with("ksm.test:"));
    assert!(
        s["proxy_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(
        Path::new(s["ca_cert"].as_str().unwrap()),
        ca_dir().join("ca.pem")
    );
    assert_eq!(s["server_public_key_id"], json!(17), "the default key id");
    let mut sm = emu.client();
    let records = sm.get_secrets(vec![]).expect("reads through the binary");
    assert_eq!(
        std_value(by_title(&records, "Orders (PostgreSQL)"), "password"),
        json!("demo-pg-Passw0rd")
    );
}

#[test]
fn persisted_vault_survives_a_restart_and_bound_clients_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("vault.json");
    let state_arg = state.to_str().unwrap();

    let first = run(&["--persist", state_arg]);
    let mut sm = first.client();
    let mut rec = fetch(&mut sm, "PgOrdersDatabaseRec001");
    rec.set_standard_field_value_mut("password", json!("rotated-Passw0rd"))
        .unwrap();
    sm.update_secret(rec).unwrap();
    let saved = saved_config(&sm);
    drop(first);

    let text = std::fs::read_to_string(&state).unwrap();
    let doc: Value = serde_json::from_str(&text).expect("the state file is JSON");
    let plains = [
        "rotated-Passw0rd",
        "demo-pg-Passw0rd",
        "Orders (PostgreSQL)",
        "keeperdb_local_id",
    ];
    // Every byte field is base64, so clear record data would not show in the text itself:
    // look in the decoded bytes of every string too.
    let found = plaintext_in(&doc, &plains);
    assert!(
        found.is_empty(),
        "the state file must keep records encrypted; in clear: {found:?}"
    );
    // The check sees through base64: clear record data stored that way would be caught.
    let clear = json!({"records": [{"data": b64(br#"{"title":"Orders (PostgreSQL)"}"#)}]});
    assert_eq!(plaintext_in(&clear, &plains), ["Orders (PostgreSQL)"]);

    let second = run(&["--persist", state_arg]);
    assert_eq!(second.settings["server_public_key"], first_key(&saved));
    let storage = KvStoreType::InMemory(InMemoryKeyValueStorage::new(Some(saved)).unwrap());
    let mut again = SecretsManager::new(second.options("", storage)).unwrap();
    let rec = fetch(&mut again, "PgOrdersDatabaseRec001");
    assert_eq!(std_value(&rec, "password"), json!("rotated-Passw0rd"));
    assert_eq!(rec.revision, Some(2));
}

#[test]
fn a_new_server_key_id_replaces_the_persisted_one() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("vault.json");
    let state_arg = state.to_str().unwrap();
    let first = run(&["--persist", state_arg]);
    let mut sm = first.client();
    sm.get_secrets(vec![]).expect("binds with the default id");
    let saved = saved_config(&sm);
    drop(first);
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(text.contains("\"server_key_id\": 17"), "{}", &text[..200]);
    // A state written while key ids were strings still loads.
    std::fs::write(
        &state,
        text.replace("\"server_key_id\": 17", "\"server_key_id\": \"emu-1\""),
    )
    .unwrap();

    let second = run(&["--persist", state_arg, "--server-key-id", "9"]);
    assert_eq!(second.settings["server_public_key_id"], json!(9));
    let restore =
        || KvStoreType::InMemory(InMemoryKeyValueStorage::new(Some(saved.clone())).unwrap());
    // A bound client that still sends 17 (its saved config) is told 9 once; the Rust SDK in
    // custom-key mode retries with its own id, and then gets an error, not an endless loop.
    let mut o = ClientOptionsBuilder::new(restore())
        .token("")
        .proxy_url(second.settings["proxy_url"].as_str().unwrap())
        .build();
    o.set_server_public_key(second.settings["server_public_key"].as_str().unwrap());
    let mut stale = SecretsManager::new(o).unwrap();
    let e = stale
        .get_secrets(vec![])
        .expect_err("the old id is refused");
    assert!(e.to_string().contains("key"), "{e}");
    // Given the new id, the same bound config works.
    let mut again = SecretsManager::new(second.options("", restore())).unwrap();
    let rec = fetch(&mut again, "PgOrdersDatabaseRec001");
    assert_eq!(rec.title, "Orders (PostgreSQL)");
}

fn first_key(saved: &str) -> Value {
    let v: Value = serde_json::from_str(saved).unwrap();
    v["serverPublicKey"].clone()
}

#[test]
fn human_output_names_token_proxy_and_ca() {
    let mut child = spawn(&[]);
    let mut text = String::new();
    for _ in 0..8 {
        child.stdout.read_line(&mut text).unwrap();
    }
    drop(child);
    for want in [
        "one-time token:        ksm.test:",
        "proxy_url:             http://127.0.0.1:",
        "export SSL_CERT_FILE=",
        "server_public_key_id:  17",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"records":[{"title":"no type"}]}"#).unwrap();
    let err = failure(&["--seed", bad.to_str().unwrap()]);
    assert!(
        err.contains("bad seed") && err.contains("bad.json") && err.contains("type"),
        "{err}"
    );

    let dangling = dir.path().join("dangling.json");
    std::fs::write(
        &dangling,
        r#"{"records":[{"type":"login","title":"t","folder":"Nowhere"}]}"#,
    )
    .unwrap();
    let err = failure(&["--seed", dangling.to_str().unwrap()]);
    assert!(err.contains("Nowhere"), "{err}");

    let err = failure(&["--seed", &seed_path(), "--fault", "explode"]);
    assert!(err.contains("explode"), "{err}");

    let err = failure(&[]);
    assert!(err.contains("--seed"), "{err}");

    for bad in ["emu-1", "0", "-3", "1.5", ""] {
        let err = failure(&["--seed", &seed_path(), "--server-key-id", bad]);
        assert!(
            err.contains("--server-key-id") && err.contains("not a positive integer"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn server_key_id_is_configurable() {
    let emu = run(&["--server-key-id", "9"]);
    assert_eq!(emu.settings["server_public_key_id"], json!(9));
    let mut sm = emu.client();
    let records = sm.get_secrets(vec![]).expect("the SDK binds with key id 9");
    assert_eq!(records.len(), 8, "all demo records");
}

#[test]
fn make_ca_creates_once_and_reuses() {
    let dir = tempfile::tempdir().unwrap();
    let make_ca = || output(&["make-ca", "--out", dir.path().to_str().unwrap()]);
    let out = make_ca();
    assert!(out.status.success());
    let path = String::from_utf8(out.stdout).unwrap();
    assert_eq!(Path::new(path.trim()), dir.path().join("ca.pem"));
    let pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ca-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the CA key is private to its owner");
    }
    assert!(make_ca().status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
        pem,
        "an existing CA is kept"
    );
}

#[test]
fn faults_from_the_command_line_apply() {
    let emu = run(&["--fault", "status=503,endpoint=get_secret,after=3"]);
    let mut sm = emu.client();
    sm.get_secrets(vec![])
        .expect("binding takes two get_secret requests");
    sm.get_secrets(vec![]).expect("third request passes");
    let e = sm.get_secrets(vec![]).expect_err("fourth fails");
    assert!(e.to_string().contains("503"), "{e}");
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Which of `plains` occur in `doc`: in any string as it is, or in its bytes when the string
/// is base64 (standard or URL-safe, padded or not).
fn plaintext_in<'a>(doc: &Value, plains: &[&'a str]) -> Vec<&'a str> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut strings = Vec::new();
    collect_strings(doc, &mut strings);
    let mut found = Vec::new();
    for s in &strings {
        let mut forms = vec![s.as_bytes().to_vec()];
        forms.extend(
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .filter_map(|e| e.decode(s).ok()),
        );
        for plain in plains {
            let hit = forms
                .iter()
                .any(|f| f.windows(plain.len()).any(|w| w == plain.as_bytes()));
            if hit && !found.contains(plain) {
                found.push(*plain);
            }
        }
    }
    found
}

/// Every string in a JSON document, object keys included.
fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k);
                collect_strings(v, out);
            }
        }
        _ => {}
    }
}
