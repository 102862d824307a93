//! Storage sync end to end: the real `keeperdb` binary and the bundled `keeper-storage` WASM
//! plugin writing into the KSM emulator over real HTTPS with the real KSM SDK, passwords in the
//! OS credential store (gnome-keyring, which `cargo xtask test` starts). Records are read back
//! with the unmodified SDK, as Keeper's own apps would read them.

mod query_support;
mod vault_support;

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::Duration;

use keeper_secrets_manager_core::prelude::*;
use keeperdb_core::model::Connection;
use keeperdb_core::store::PasswordChange;
use keeperdb_core::{App, Engine};
use keeperdb_ksm_emulator::{EmulatorConfig, EmulatorHandle, Fault, FaultRule, RecordView, Seed};
use query_support::{Kdb, assert_success};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use vault_support::*;

const STORAGE_FOLDER: &str = "KeeperDB Storage";

/// An emulator with one shared folder the application may edit (or not), trusted by this test
/// process's SDK through the runner's CA.
fn storage_emulator(editable: bool) -> EmulatorHandle {
    let seed = json!({
        "apps": [{"name": "keeperdb", "shared_folders": ["Team"], "editable": editable}],
        "folders": [{"name": "Team"}],
        "records": [database("Orders", Some("Team"), "postgresql",
            host_field("db.internal", Some("5432")), "app", "orders-secret")],
    });
    keeperdb_ksm_emulator::Emulator::start(EmulatorConfig {
        seed: Seed::from_json(&seed.to_string()).unwrap(),
        ca_dir: Some(keeperdb_ksm_emulator::test_ca_dir().unwrap_or_else(|e| panic!("{e}"))),
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
}

/// A config dir with the storage backend installed, the vault attached as `work`, and storage
/// enabled for it.
fn storage_config(emu: &EmulatorHandle) -> Kdb {
    let kdb = Kdb::new();
    assert_success(
        &kdb.run(&["plugins", "install", "keeper-storage", "--allow"]),
        "plugins install keeper-storage",
    );
    connect(&kdb, emu, "work");
    assert_success(
        &kdb.run(&["storage", "enable", "--vault", "work"]),
        "storage enable",
    );
    kdb
}

fn app(kdb: &Kdb) -> App {
    App::open(Some(kdb.config.path().to_path_buf())).unwrap()
}

/// The password the test gives connection `i` (never printed).
fn password_of(i: usize) -> String {
    format!("Sync-Pass-{i:04}-{}", std::process::id())
}

/// Save `n` connections named `PREFIX-i`, every one with a password.
fn add_connections(kdb: &Kdb, prefix: &str, n: usize) {
    let app = app(kdb);
    for i in 0..n {
        let mut c = Connection::new_local(Engine::POSTGRES, format!("{prefix}-{i:04}"));
        c.spec.host = Some(format!("db{i}.internal"));
        c.spec.port = Some(5432 + (i % 7) as u16);
        c.spec.user = Some(format!("user{i}"));
        c.spec.database = Some(format!("db_{i}"));
        if i % 5 == 0 {
            c.spec.environment = Some("production".into());
            c.spec.color = Some("#c0392b".into());
            c.spec.read_only = true;
            c.spec.options.insert("connect_timeout".into(), "7".into());
        }
        app.store()
            .add(c, PasswordChange::Set(SecretString::from(password_of(i))))
            .unwrap();
    }
}

fn sync(kdb: &Kdb) -> Output {
    let out = kdb.run(&["storage", "sync"]);
    assert_success(&out, "storage sync");
    out
}

/// The storage records in the vault, by local id.
fn stored(emu: &EmulatorHandle) -> BTreeMap<String, Vec<RecordView>> {
    let mut out: BTreeMap<String, Vec<RecordView>> = BTreeMap::new();
    for r in emu.records() {
        if let Some(Value::String(id)) = r.custom("keeperdb_local_id") {
            out.entry(id.clone()).or_default().push(r);
        }
    }
    out
}

/// The vault holds exactly one record per local connection, with its content, and one
/// preferences record of this config dir.
fn assert_vault_mirrors(emu: &EmulatorHandle, kdb: &Kdb) {
    let records = stored(emu);
    let app = app(kdb);
    let local = app.store().connections().unwrap();
    for saved in &local {
        let id = saved.connection.id.as_str();
        let found = records
            .get(id)
            .unwrap_or_else(|| panic!("{} is not in the vault", saved.connection.spec.name));
        assert_eq!(
            found.len(),
            1,
            "{} has duplicates",
            saved.connection.spec.name
        );
        let r = &found[0];
        assert_eq!(r.title, saved.connection.spec.name);
        assert_eq!(
            r.field("host").unwrap()["hostName"],
            json!(saved.connection.spec.host.clone().unwrap())
        );
    }
    let prefs: Vec<_> = records
        .values()
        .flatten()
        .filter(|r| r.record_type == "encryptedNotes")
        .collect();
    assert_eq!(prefs.len(), 1, "one preferences record");
    assert_eq!(
        records.len(),
        local.len() + 1,
        "no record that is not local"
    );
}

/// The titles of the storage records in the vault.
fn titles(emu: &EmulatorHandle) -> Vec<String> {
    stored(emu)
        .values()
        .flatten()
        .map(|r| r.title.clone())
        .collect()
}

fn creates_and_deletes(emu: &EmulatorHandle) -> (u64, u64) {
    let s = emu.stats();
    let n = |e: &str| s.by_endpoint.get(e).copied().unwrap_or(0);
    (n("create_secret"), n("delete_secret"))
}

#[test]
fn a_first_sync_writes_every_connection_a_second_writes_nothing_and_an_edit_recreates_one() {
    let emu = storage_emulator(true);
    let kdb = storage_config(&emu);
    add_connections(&kdb, "conn", 245);

    let out = kdb.run(&["storage", "sync", "--dry-run"]);
    assert_success(&out, "dry run");
    assert!(
        text(&out.stdout).contains("would write 246"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        creates_and_deletes(&emu),
        (0, 0),
        "a dry run writes nothing"
    );

    sync(&kdb);
    assert_eq!(creates_and_deletes(&emu), (246, 0));
    assert_vault_mirrors(&emu, &kdb);
    let folder = emu
        .folders()
        .into_iter()
        .find(|f| f.name == STORAGE_FOLDER)
        .expect("the storage folder was created");
    assert!(
        stored(&emu)
            .values()
            .flatten()
            .all(|r| r.folder_uid.as_deref() == Some(folder.uid.as_str())),
        "every record is in {STORAGE_FOLDER}"
    );

    // Nothing changed: one listing, no write.
    let requests = emu.stats().requests;
    let out = sync(&kdb);
    assert!(
        text(&out.stdout).contains("in sync"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(creates_and_deletes(&emu), (246, 0));
    assert_eq!(
        emu.stats().requests - requests,
        1,
        "a re-sync with no change is one round trip"
    );

    // One edit: one record recreated, with a new UID and the same local id.
    let before = stored(&emu);
    let target = app(&kdb).store().get("conn-0007").unwrap().connection.id;
    let old_uid = before[target.as_str()][0].uid.clone();
    assert_success(
        &kdb.run(&[
            "connections",
            "edit",
            "conn-0007",
            "--host",
            "moved.internal",
        ]),
        "edit",
    );
    sync(&kdb);
    assert_eq!(creates_and_deletes(&emu), (247, 1));
    let after = stored(&emu);
    let now = &after[target.as_str()];
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].uid, old_uid, "the record was recreated");
    assert_eq!(
        now[0].field("host").unwrap()["hostName"],
        json!("moved.internal")
    );

    // A removed connection leaves the vault.
    assert_success(&kdb.run(&["connections", "remove", "conn-0008"]), "remove");
    sync(&kdb);
    assert_eq!(creates_and_deletes(&emu), (247, 2));
    assert_vault_mirrors(&emu, &kdb);

    // Synced records never come back as vault-source connections.
    install_vault_source(&kdb);
    let (list, _) = list_json(&kdb);
    let vault_rows: Vec<&Value> = list
        .iter()
        .filter(|c| c["origin"]["badge"] == "Vault")
        .collect();
    assert_eq!(
        vault_rows
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Orders"],
        "only the vault's own Database record is a vault connection"
    );
    assert_eq!(list.len(), 244 + 1);
}

#[test]
fn records_read_back_through_the_unmodified_sdk_as_database_credentials() {
    let emu = storage_emulator(true);
    let kdb = storage_config(&emu);
    add_connections(&kdb, "sdk", 6);
    sync(&kdb);

    let token = emu.issue_default_token().unwrap();
    let mut o = ClientOptionsBuilder::new(KvStoreType::InMemory(
        InMemoryKeyValueStorage::new(None).unwrap(),
    ))
    .token(&token)
    .proxy_url(&emu.proxy_url())
    .build();
    o.set_server_public_key(&emu.server_public_key());
    o.set_server_public_key_id(&emu.server_public_key_id());
    let mut sm = SecretsManager::new(o).unwrap();
    let records = sm.get_secrets(vec![]).unwrap();
    let app = app(&kdb);
    for i in [0usize, 3] {
        let name = format!("sdk-{i:04}");
        let saved = app.store().get(&name).unwrap();
        let r = records
            .iter()
            .find(|r| r.title == name)
            .unwrap_or_else(|| panic!("{name} is not readable through the SDK"));
        assert_eq!(r.record_type, "databaseCredentials");
        let std_field = |t: &str| r.get_standard_field_value(t, true).unwrap();
        assert_eq!(std_field("type"), json!("postgresql"));
        assert_eq!(
            std_field("host"),
            json!({"hostName": format!("db{i}.internal"), "port": (5432 + i % 7).to_string()})
        );
        assert_eq!(std_field("login"), json!(format!("user{i}")));
        assert_eq!(std_field("password"), json!(password_of(i)));
        let custom = |l: &str| r.get_custom_field_value(l, true).unwrap();
        assert_eq!(custom("Database"), json!(format!("db_{i}")));
        assert_eq!(
            custom("keeperdb_local_id"),
            json!(saved.connection.id.as_str())
        );
        if i == 0 {
            assert_eq!(custom("keeperdb_environment"), json!("production"));
            assert_eq!(custom("keeperdb_read_only"), json!("true"));
        }
    }
    let prefs = records
        .iter()
        .find(|r| r.record_type == "encryptedNotes")
        .expect("the preferences record");
    assert_eq!(prefs.title, "KeeperDB Preferences");
}

#[test]
fn a_pull_into_an_empty_config_dir_restores_connections_passwords_and_preferences() {
    let emu = storage_emulator(true);
    let first = storage_config(&emu);
    add_connections(&first, "pull", 12);
    assert_success(&first.run(&["prefs", "set", "theme", "dark"]), "prefs");
    assert_success(&first.run(&["prefs", "set", "page_size", "77"]), "prefs");
    sync(&first);

    let second = storage_config(&emu);
    let out = second.run(&["storage", "status"]);
    assert_success(&out, "status");
    assert!(
        text(&out.stdout).contains("in the vault only"),
        "{}",
        text(&out.stdout)
    );
    let out = second.run(&["storage", "pull", "--json"]);
    assert_success(&out, "pull");
    let pulled: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pulled["restored"].as_array().unwrap().len(), 12);
    assert_eq!(pulled["passwords"], 12);
    assert_eq!(pulled["preferences"], true);

    let (a, b) = (app(&first), app(&second));
    let mine = a.store().connections().unwrap();
    let theirs = b.store().connections().unwrap();
    assert_eq!(mine.len(), theirs.len());
    for saved in &mine {
        let restored = b.store().get(saved.connection.id.as_str()).unwrap();
        assert_eq!(restored.connection, saved.connection);
        let creds = b.store().credentials(&restored.connection).unwrap();
        let i: usize = saved.connection.spec.name[5..].parse().unwrap();
        assert_eq!(
            creds
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_string()),
            Some(password_of(i)),
            "the password came back into the credential store"
        );
    }
    let prefs = b.store().preferences().unwrap();
    assert_eq!(prefs.page_size, 77);
    assert_eq!(prefs.get("theme").unwrap(), "dark");

    // The restored machine is in sync as it stands: it writes nothing.
    let (creates, deletes) = creates_and_deletes(&emu);
    let out = sync(&second);
    assert!(
        text(&out.stdout).contains("in sync"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(creates_and_deletes(&emu), (creates, deletes));
}

#[test]
fn two_config_dirs_syncing_to_one_vault_lose_nothing_of_each_other() {
    let emu = storage_emulator(true);
    let a = storage_config(&emu);
    let b = storage_config(&emu);
    add_connections(&a, "alpha", 3);
    add_connections(&b, "beta", 2);
    sync(&a);
    sync(&b);
    sync(&a);
    let records = stored(&emu);
    assert_eq!(
        records.len(),
        3 + 2 + 2,
        "both machines' items and preferences"
    );

    // A removes one of its own; B's stay.
    assert_success(&a.run(&["connections", "remove", "alpha-0000"]), "remove");
    sync(&a);
    sync(&b);
    let titles = titles(&emu);
    assert!(!titles.contains(&"alpha-0000".to_string()));
    for t in ["alpha-0001", "alpha-0002", "beta-0000", "beta-0001"] {
        assert!(titles.contains(&t.to_string()), "{t} was lost: {titles:?}");
    }
    let out = b.run(&["storage", "status", "--json"]);
    assert_success(&out, "status");
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let only: Vec<&str> = status["pending"]["only_in_vault"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        only.contains(&"alpha-0001") && !only.contains(&"beta-0000"),
        "{only:?}"
    );
}

#[test]
fn with_faults_injected_a_sync_ends_with_the_vault_equal_to_the_local_state() {
    let emu = storage_emulator(true);
    let kdb = storage_config(&emu);
    add_connections(&kdb, "fault", 30);
    emu.set_faults(vec![
        FaultRule::new(Fault::HttpStatus(503))
            .on("create_secret")
            .after(2)
            .times(3),
        FaultRule::new(Fault::Throttle { retry_after: 0.05 })
            .on("create_secret")
            .after(5)
            .times(4),
        FaultRule::new(Fault::DropConnection)
            .on("create_secret")
            .after(9)
            .times(3),
        FaultRule::new(Fault::LoseReply)
            .on("create_secret")
            .after(12)
            .times(4),
        FaultRule::new(Fault::LoseReply)
            .on("delete_secret")
            .times(2),
        FaultRule::new(Fault::HttpStatus(502))
            .on("get_secret")
            .after(1)
            .times(2),
    ]);
    sync(&kdb);
    assert_vault_mirrors(&emu, &kdb);
    // Edits and removals under faults too.
    for i in 0..6 {
        assert_success(
            &kdb.run(&[
                "connections",
                "edit",
                &format!("fault-{i:04}"),
                "--host",
                "new.internal",
            ]),
            "edit",
        );
    }
    assert_success(&kdb.run(&["connections", "remove", "fault-0010"]), "remove");
    sync(&kdb);
    assert_vault_mirrors(&emu, &kdb);
    assert!(emu.stats().faults_fired >= 10, "{:?}", emu.stats());
}

/// A tiny deterministic random sequence, so a failing run can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn a_sync_killed_at_random_points_converges_on_the_next_run_every_time() {
    let emu = storage_emulator(true);
    let kdb = storage_config(&emu);
    add_connections(&kdb, "kill", 20);
    // Each request takes a while, so kills land in the middle of a run.
    emu.set_faults(vec![FaultRule::new(Fault::Latency(Duration::from_millis(
        15,
    )))]);
    let seed = 0x5eed_0000 + u64::from(std::process::id());
    let mut rng = Rng(seed);
    let mut added = 0;
    for run in 0..50 {
        // Change something each time: an edit, a new connection, a removal.
        let names: Vec<String> = app(&kdb)
            .store()
            .connections()
            .unwrap()
            .into_iter()
            .map(|c| c.connection.spec.name)
            .collect();
        match rng.next(3) {
            0 if !names.is_empty() => {
                let name = &names[rng.next(names.len() as u64) as usize];
                let host = format!("h{run}.internal");
                assert_success(
                    &kdb.run(&["connections", "edit", name, "--host", &host]),
                    "edit",
                );
            }
            1 if names.len() > 5 => {
                let name = &names[rng.next(names.len() as u64) as usize];
                assert_success(&kdb.run(&["connections", "remove", name]), "remove");
            }
            _ => {
                added += 1;
                let name = format!("kill-new-{added}");
                assert_success(
                    &kdb.run(&[
                        "connections",
                        "add",
                        &format!("postgres://u@n{added}.internal/db"),
                        "--name",
                        &name,
                    ]),
                    "add",
                );
            }
        }
        let mut child = kdb
            .cmd()
            .args(["storage", "sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.next(600)));
        let _ = child.kill();
        let _ = child.wait();
        // The vault may still carry out a request the killed process had sent (a write landing
        // after the next run listed would only be seen by the run after): wait until it has.
        assert!(
            emu.wait_idle(Duration::from_secs(30)),
            "the emulator still serves the killed sync (run {run})"
        );
        let out = kdb.run(&["storage", "sync"]);
        assert_success(&out, &format!("sync after kill {run} (seed {seed:#x})"));
        assert_vault_mirrors(&emu, &kdb);
    }
}

#[test]
fn a_read_only_application_is_told_to_get_the_can_edit_permission() {
    let emu = storage_emulator(false);
    let kdb = storage_config(&emu);
    add_connections(&kdb, "ro", 2);
    let out = kdb.run(&["storage", "sync"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("\"Can Edit\""), "{err}");
    assert!(stored(&emu).is_empty());
}

#[test]
fn gateway_mode_hides_the_storage_commands_and_says_why_when_they_are_typed() {
    let kdb = Kdb::new();
    let help = text(&kdb.run(&["--help"]).stdout);
    assert!(help.contains("storage"), "{help}");
    assert_success(
        &kdb.run(&["prefs", "set", "mode", "gateway"]),
        "prefs set mode",
    );
    let help = text(&kdb.run(&["--help"]).stdout);
    assert!(!help.contains("storage"), "{help}");
    let out = kdb.run(&["storage", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("gateway mode"),
        "{}",
        text(&out.stderr)
    );
    let out = kdb.run(&["prefs", "set", "mode", "cloud"]);
    assert_eq!(out.status.code(), Some(2), "an unknown mode is refused");
}

#[test]
fn with_storage_auto_a_change_is_synced_at_once() {
    let emu = storage_emulator(true);
    let kdb = storage_config(&emu);
    let add = |name: &str| {
        let url = format!("postgres://u@{name}.internal/db");
        assert_success(
            &kdb.run(&["connections", "add", &url, "--name", name]),
            "add",
        );
    };
    assert_success(&kdb.run(&["prefs", "set", "storage.auto", "true"]), "auto");
    add("auto-1");
    assert!(titles(&emu).contains(&"auto-1".to_string()));
    assert_success(
        &kdb.run(&["prefs", "set", "storage.auto", "false"]),
        "auto off",
    );
    add("manual-1");
    assert!(!titles(&emu).contains(&"manual-1".to_string()));
}

#[test]
fn no_password_is_in_any_log_file_or_state_after_sync_and_pull() {
    let emu = storage_emulator(true);
    let kdb = storage_config(&emu);
    add_connections(&kdb, "leak", 3);
    let mut logs = String::new();
    for args in [
        &["--verbose", "--verbose", "--verbose", "storage", "sync"][..],
        &["--verbose", "--verbose", "--verbose", "storage", "status"],
        &["--verbose", "--verbose", "--verbose", "storage", "pull"],
    ] {
        let out = kdb.run(args);
        assert_success(&out, "storage");
        logs.push_str(&text(&out.stdout));
        logs.push_str(&text(&out.stderr));
    }
    assert!(logs.contains("storage.sync"), "the sync was traced");
    let mut files = Vec::new();
    files_under(kdb.config.path(), &mut files);
    assert!(files.iter().any(|(p, _)| p.ends_with("storage.toml")));
    for i in 0..3 {
        let secret = password_of(i);
        assert!(!logs.contains(&secret), "a password is in the -vvv log");
        for (path, bytes) in &files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a password is in clear in {}",
                path.display()
            );
        }
    }
}

#[test]
fn storage_commands_without_setup_say_what_to_do() {
    let kdb = Kdb::new();
    let out = kdb.run(&["storage", "sync"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("storage enable"),
        "{}",
        text(&out.stderr)
    );
    let out = kdb.run(&["storage", "enable", "--vault", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no vault named `nope`"),
        "{}",
        text(&out.stderr)
    );

    // A vault attached for the vault source alone: storage needs its own backend.
    let emu = storage_emulator(true);
    install_vault_source(&kdb);
    connect(&kdb, &emu, "work");
    let out = kdb.run(&["storage", "enable", "--vault", "work"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("plugins install keeper-storage"),
        "{}",
        text(&out.stderr)
    );
}
