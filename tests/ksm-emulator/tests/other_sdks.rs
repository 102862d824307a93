//! The official JavaScript (`@keeper-security/secrets-manager-core`, npm) and Python
//! (`keeper-secrets-manager-core`, PyPI) SDKs, unmodified, against the emulator: the emulator
//! runs in-process, the SDK in a child process (`sdk/js/ksm_sdk_check.mjs`,
//! `sdk/python/ksm_sdk_check.py`) that prints what it saw as JSON, and the emulator's state
//! is checked afterwards. `cargo xtask test` installs both SDKs (xtask/src/ksm_sdks.rs) and
//! names them in `KEEPERDB_KSM_JS_SDK_DIR` and `KEEPERDB_KSM_PYTHON`.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use keeperdb_ksm_emulator::{EmulatorHandle, Fault, FaultRule};
use serde_json::{Value, json};

const STORAGE: &str = "KeeperDbStorageFolder1";
const PG_ORDERS: &str = "PgOrdersDatabaseRec001";
/// Env var: the directory holding `ksm_sdk_check.mjs` and its installed `node_modules`.
const JS_SDK_ENV: &str = "KEEPERDB_KSM_JS_SDK_DIR";
/// Env var: the Python interpreter of the venv that has the Python SDK.
const PYTHON_ENV: &str = "KEEPERDB_KSM_PYTHON";
/// A child that has not finished by then is killed and the test fails.
const CHILD_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug)]
enum Sdk {
    JavaScript,
    Python,
}

/// What one run of an SDK script gave.
struct Run {
    ok: bool,
    out: Value,
    stderr: String,
}

impl Sdk {
    fn name(self) -> &'static str {
        match self {
            Sdk::JavaScript => "JavaScript",
            Sdk::Python => "Python",
        }
    }

    /// The SDK as the test runner installed it; a missing install fails the test.
    fn command(self) -> Command {
        let help = "run the tests with `cargo xtask test`, which installs the JavaScript and \
                    Python KSM SDKs (xtask/src/ksm_sdks.rs) and sets this variable; by hand, \
                    `cargo xtask ksm-sdks` installs them and prints the variables to export";
        let var = |name: &str| -> PathBuf {
            std::env::var_os(name)
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("{name} is not set: {help}"))
        };
        match self {
            Sdk::JavaScript => {
                let dir = var(JS_SDK_ENV);
                let sdk = dir.join("node_modules/@keeper-security/secrets-manager-core");
                assert!(
                    sdk.is_dir(),
                    "{JS_SDK_ENV}={} has no node_modules/@keeper-security/secrets-manager-core: {help}",
                    dir.display()
                );
                let mut c = Command::new("node");
                c.arg(dir.join("ksm_sdk_check.mjs")).current_dir(&dir);
                c
            }
            Sdk::Python => {
                let python = var(PYTHON_ENV);
                assert!(
                    python.is_file(),
                    "{PYTHON_ENV}={} does not exist: {help}",
                    python.display()
                );
                let script =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/python/ksm_sdk_check.py");
                let mut c = Command::new(python);
                c.arg(script);
                c
            }
        }
    }

    /// Runs `scenario` against `emu` with a fresh one-time token and the server key id
    /// `key_id`. `trust_ca: false` leaves the emulator's CA out, to show that verification is on.
    fn run_with(self, emu: &EmulatorHandle, scenario: &str, key_id: &str, trust_ca: bool) -> Run {
        let token = emu.issue_default_token().expect("token");
        let mut c = self.command();
        c.arg(scenario)
            .env("KSM_TOKEN", &token)
            .env("KSM_PROXY_URL", emu.proxy_url())
            .env("KSM_SERVER_PUBLIC_KEY", emu.server_public_key())
            .env("KSM_SERVER_PUBLIC_KEY_ID", key_id);
        // Nothing from the outside may steer the child's TLS or proxy choice.
        for var in [
            "NODE_EXTRA_CA_CERTS",
            "NODE_TLS_REJECT_UNAUTHORIZED",
            "NODE_OPTIONS",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "SSL_CERT_FILE",
            "KSM_SKIP_VERIFY",
            "KSM_CONFIG",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
            "NO_PROXY",
            "no_proxy",
        ] {
            c.env_remove(var);
        }
        if trust_ca {
            let ca = emu.ca_pem_path();
            match self {
                Sdk::JavaScript => c.env("NODE_EXTRA_CA_CERTS", ca),
                Sdk::Python => c.env("REQUESTS_CA_BUNDLE", ca),
            };
        }
        let (ok, stdout, stderr) = run_bounded(c, self.name());
        let line = stdout.lines().last().unwrap_or_default();
        let out: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "{} SDK script printed no JSON result ({e}).\nstdout:\n{stdout}\nstderr:\n{stderr}",
                self.name()
            )
        });
        let client_key = token.rsplit(':').next().unwrap_or(&token);
        assert!(
            !stdout.contains(client_key) && !stderr.contains(client_key),
            "the one-time token must not be printed"
        );
        Run { ok, out, stderr }
    }

    fn run(self, emu: &EmulatorHandle, scenario: &str) -> Run {
        self.run_with(emu, scenario, &emu.server_public_key_id(), true)
    }
}

impl Run {
    /// The result of a run that must have succeeded.
    fn expect_ok(self, what: &str) -> Value {
        assert!(
            self.ok && self.out.get("error").is_none(),
            "{what}: the SDK failed: {}\nstderr:\n{}",
            self.out,
            self.stderr
        );
        self.out
    }

    /// The SDK's error message of a run that must have failed.
    fn expect_error(self, what: &str) -> String {
        assert!(!self.ok, "{what}: the SDK should have failed: {}", self.out);
        self.out["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no error message in {}", self.out))
            .to_string()
    }
}

/// Runs the child to completion, killing it after [`CHILD_TIMEOUT`].
fn run_bounded(mut c: Command, name: &str) -> (bool, String, String) {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {name} SDK script: {e}"));
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the SDK script") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the {name} SDK script did not finish within {CHILD_TIMEOUT:?}; stderr:\n{}",
                err_reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    (status.success(), stdout, stderr)
}

/// The record summaries the scripts print, from the emulator's own view.
fn expected_records(emu: &EmulatorHandle) -> Value {
    let mut v: Vec<Value> = emu
        .records()
        .into_iter()
        .map(|r| {
            json!({"uid": r.uid, "title": r.title, "type": r.record_type,
                   "folder": r.shared_folder_uid})
        })
        .collect();
    v.sort_by(|a, b| a["uid"].as_str().cmp(&b["uid"].as_str()));
    Value::Array(v)
}

fn expected_folders(emu: &EmulatorHandle) -> Value {
    let mut v: Vec<Value> = emu
        .folders()
        .into_iter()
        .map(|f| json!({"uid": f.uid, "name": f.name, "parent": f.parent_uid}))
        .collect();
    v.sort_by(|a, b| a["uid"].as_str().cmp(&b["uid"].as_str()));
    Value::Array(v)
}

fn expected_links(emu: &EmulatorHandle) -> Value {
    let links: BTreeMap<String, Vec<String>> = emu
        .records()
        .into_iter()
        .filter(|r| !r.links.is_empty())
        .map(|r| {
            let mut to: Vec<String> = r.links.iter().map(|l| l.record_uid.clone()).collect();
            to.sort();
            (r.uid, to)
        })
        .collect();
    json!(links)
}

/// Bind, list with and without links, list folders, create, update and delete a record,
/// create a folder; then the emulator must hold exactly what the SDK did.
fn workflow(sdk: Sdk) {
    let emu = start_demo();
    let records_before = expected_records(&emu);
    let folders_before = expected_folders(&emu);
    let links = expected_links(&emu);
    assert_eq!(records_before.as_array().unwrap().len(), 8);
    assert!(!links.as_object().unwrap().is_empty(), "the demo has links");

    let out = sdk.run(&emu, "workflow").expect_ok("workflow");
    let name = sdk.name();
    assert!(out["version"].is_string(), "{out}");
    assert_eq!(
        emu.bound_clients(),
        1,
        "the one-time token bound one client"
    );
    assert_eq!(out["records"], records_before, "{name}: records listed");
    assert_eq!(
        out["links_without_request"],
        json!(0),
        "links come only when asked for"
    );
    assert_eq!(out["links"], links, "{name}: links with requestLinks");
    assert_eq!(
        Some(&out["pg_password"]),
        stored(&emu, PG_ORDERS).field("password")
    );
    assert_eq!(out["folders"], folders_before, "{name}: folders listed");

    // Created, then updated.
    let uid = out["created"].as_str().expect("created uid");
    let rec = stored(&emu, uid);
    assert_eq!(rec.title, format!("Created by the {name} SDK"));
    assert_eq!(rec.record_type, "databaseCredentials");
    assert_eq!(rec.folder_uid.as_deref(), Some(STORAGE));
    assert_eq!(rec.field("password"), Some(&json!("updated-Passw0rd")));
    assert_eq!(
        rec.field("login"),
        Some(&json!(format!("{}-sdk", sdk_slug(sdk))))
    );
    assert_eq!(rec.revision, 2, "one update after the create");
    assert_eq!(out["updated_password"], "updated-Passw0rd");
    assert_eq!(out["updated_revision"], json!(rec.revision));

    // Created, then deleted.
    let gone = out["deleted"].as_str().expect("deleted uid");
    assert!(
        emu.records().iter().all(|r| r.uid != gone),
        "{name}: the deleted record is gone"
    );
    assert_eq!(out["delete_status"], json!([[gone, "ok"]]));

    // The folder.
    let folder_uid = out["folder_created"].as_str().expect("folder uid");
    let folder = emu
        .folders()
        .into_iter()
        .find(|f| f.uid == folder_uid)
        .unwrap_or_else(|| panic!("{name}: the emulator holds no folder {folder_uid}"));
    assert_eq!(folder.name, format!("Made by the {name} SDK"));
    assert_eq!(folder.parent_uid.as_deref(), Some(STORAGE));
    assert_eq!(folder.shared_folder_uid, STORAGE);

    assert_eq!(
        emu.records().len(),
        9,
        "the demo's 8 records and the created one"
    );
    let stats = emu.stats();
    for (endpoint, n) in [
        ("create_secret", 2),
        ("update_secret", 1),
        ("delete_secret", 1),
        ("create_folder", 1),
    ] {
        assert_eq!(
            stats.by_endpoint.get(endpoint).copied(),
            Some(n),
            "{name}: {endpoint} requests ({:?})",
            stats.by_endpoint
        );
    }
}

fn sdk_slug(sdk: Sdk) -> &'static str {
    match sdk {
        Sdk::JavaScript => "js",
        Sdk::Python => "python",
    }
}

/// Two throttled answers: the SDK waits `retry_after` and retries, and the listing succeeds.
fn throttle_is_retried(sdk: Sdk) {
    let emu = start_demo();
    emu.add_fault(
        FaultRule::new(Fault::Throttle { retry_after: 0.05 })
            .on("get_secret")
            .times(2),
    );
    let out = sdk.run(&emu, "list").expect_ok("throttled list");
    assert_eq!(out["records"], expected_records(&emu));
    assert_eq!(emu.stats().faults_fired, 2, "both throttles were answered");
    assert_eq!(emu.bound_clients(), 1);
}

/// Without the emulator's CA the SDK refuses the certificate: verification is on.
fn untrusted_ca_is_refused(sdk: Sdk) -> String {
    let emu = start_demo();
    let err = sdk
        .run_with(&emu, "list", &emu.server_public_key_id(), false)
        .expect_error("list without the CA");
    assert_eq!(emu.bound_clients(), 0, "nothing was bound");
    err
}

#[test]
fn javascript_sdk_workflow() {
    workflow(Sdk::JavaScript);
}

#[test]
fn python_sdk_workflow() {
    workflow(Sdk::Python);
}

#[test]
fn javascript_sdk_retries_through_throttling() {
    throttle_is_retried(Sdk::JavaScript);
}

#[test]
fn python_sdk_retries_through_throttling() {
    throttle_is_retried(Sdk::Python);
}

#[test]
fn javascript_sdk_reports_a_key_rotation_with_a_custom_key() {
    // With a custom server key the JavaScript SDK does not follow a `key` answer: it throws,
    // naming the id it sent and the id the server suggested (both numbers).
    let emu = start_demo();
    emu.add_fault(FaultRule::new(Fault::KeyRotation).on("get_secret").times(1));
    let err = Sdk::JavaScript
        .run(&emu, "list")
        .expect_error("key rotation");
    assert!(
        err.contains("Server rejected the custom server public key (id 17)")
            && err.contains("The server suggested key id 17."),
        "{err}"
    );
    assert_eq!(emu.stats().faults_fired, 1);
}

#[test]
fn python_sdk_follows_a_key_rotation() {
    // The Python SDK takes the suggested id and retries.
    let emu = start_demo();
    emu.add_fault(FaultRule::new(Fault::KeyRotation).on("get_secret").times(1));
    let out = Sdk::Python.run(&emu, "list").expect_ok("key rotation");
    assert_eq!(out["records"], expected_records(&emu));
    assert_eq!(emu.stats().faults_fired, 1);
}

#[test]
fn javascript_sdk_verifies_the_emulator_certificate() {
    let err = untrusted_ca_is_refused(Sdk::JavaScript);
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn python_sdk_verifies_the_emulator_certificate() {
    let err = untrusted_ca_is_refused(Sdk::Python);
    assert!(err.contains("CERTIFICATE_VERIFY_FAILED"), "{err}");
}

#[test]
fn a_non_numeric_key_id_is_refused_as_the_service_refuses_it() {
    // What the issue saw: the JavaScript SDK sends `NaN` for a key id such as "emu-1" and gets
    // the numeric hint back, which it reports.
    let emu = start_demo();
    let err = Sdk::JavaScript
        .run_with(&emu, "list", "emu-1", true)
        .expect_error("a key id that is not a number");
    assert!(
        err.contains("Server rejected the custom server public key (id emu-1)")
            && err.contains("The server suggested key id 17."),
        "{err}"
    );
    assert_eq!(emu.bound_clients(), 0);
}
