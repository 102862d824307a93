//! Helpers for tests that attach a Keeper vault (the KSM emulator) to a `keeperdb` config.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Output, Stdio};

use keeperdb_ksm_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Seed};
use serde_json::{Value, json};

use crate::query_support::{Kdb, assert_success};

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn host_field(host: &str, port: Option<&str>) -> Value {
    match port {
        Some(p) => json!({"type": "host", "value": [{"hostName": host, "port": p}]}),
        None => json!({"type": "host", "value": [{"hostName": host}]}),
    }
}

/// A `databaseCredentials` record.
pub fn database(
    title: &str,
    folder: Option<&str>,
    kind: &str,
    host: Value,
    login: &str,
    password: &str,
) -> Value {
    let mut r = json!({
        "type": "databaseCredentials", "title": title,
        "fields": [
            {"type": "text", "label": "type", "value": [kind]},
            host,
            {"type": "login", "value": [login]},
            {"type": "password", "value": [password]},
        ],
        "custom": [],
    });
    if let Some(f) = folder {
        r["folder"] = json!(f);
    }
    r
}

/// An emulator on `seed`, trusting nothing but its own CA (which the vault is given).
pub fn emulator(seed: Value) -> EmulatorHandle {
    emulator_with_ca(seed, None)
}

/// The same, with its CA kept in `ca_dir`, which outlives the emulator.
pub fn emulator_with_ca(seed: Value, ca_dir: Option<&std::path::Path>) -> EmulatorHandle {
    let seed = Seed::from_json(&seed.to_string()).expect("the test seed parses");
    Emulator::start(EmulatorConfig {
        seed,
        ca_dir: ca_dir.map(std::path::Path::to_path_buf),
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
}

/// `keeperdb vault connect` with the token on stdin and the emulator's settings.
pub fn connect_with(
    kdb: &Kdb,
    emu: &EmulatorHandle,
    name: &str,
    token: &str,
    extra: &[&str],
) -> Output {
    let key = emu.server_public_key();
    let key_id = emu.server_public_key_id();
    let proxy = emu.proxy_url();
    let ca = emu.ca_pem_path().to_string_lossy().into_owned();
    let mut args = vec![
        "vault",
        "connect",
        "--name",
        name,
        "--server-public-key",
        &key,
        "--server-public-key-id",
        &key_id,
    ];
    if !extra.contains(&"--proxy") {
        args.extend(["--proxy", proxy.as_str()]);
    }
    if !extra.contains(&"--no-ca") {
        args.extend(["--ca-bundle", ca.as_str()]);
    }
    args.extend(extra.iter().filter(|a| **a != "--no-ca"));
    let mut cmd = kdb.cmd();
    if extra.contains(&"--no-secret-service") {
        cmd.env_remove("DBUS_SESSION_BUS_ADDRESS");
    }
    args.retain(|a| *a != "--no-secret-service");
    let mut child = cmd
        .args(&args)
        // Trust must come from the vault's CA bundle setting, not the runner's environment.
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{token}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn connect(kdb: &Kdb, emu: &EmulatorHandle, name: &str) -> Output {
    let token = emu.issue_default_token().unwrap();
    let out = connect_with(kdb, emu, name, &token, &[]);
    assert_success(&out, "vault connect");
    out
}

pub fn install_vault_source(kdb: &Kdb) {
    let out = kdb.run(&["plugins", "install", "keeper-vault", "--allow"]);
    assert_success(&out, "plugins install keeper-vault");
}

pub fn list_json(kdb: &Kdb) -> (Vec<Value>, String) {
    let out = kdb.run(&["connections", "list", "--json"]);
    assert_success(&out, "connections list");
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        text(&out.stderr),
    )
}

/// Every file under `dir`, as bytes.
pub fn files_under(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
}

pub fn secret_tool_lookup(account: &str) -> Option<String> {
    let out = std::process::Command::new("secret-tool")
        .args(["lookup", "service", "keeperdb", "username", account])
        .output()
        .expect("secret-tool (libsecret-tools) runs");
    out.status
        .success()
        .then(|| text(&out.stdout))
        .filter(|s| !s.is_empty())
}
