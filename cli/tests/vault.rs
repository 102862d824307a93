//! The Keeper vault as a connection source, end to end: the real `keeperdb` binary, the real
//! KSM SDK over HTTPS to the KSM emulator (started in this process, reached through its
//! CONNECT proxy and trusted through the vault's CA bundle), the bundled `keeper-vault` WASM
//! plugin, the OS credential store (gnome-keyring, which `cargo xtask test` starts), and the
//! test PostgreSQL and MariaDB servers.

mod query_support;
mod vault_support;

use std::process::Output;

use keeperdb_ksm_emulator::{EmulatorHandle, Fault, FaultRule};
use query_support::{Kdb, assert_success, mariadb, mariadb_url, pg_url, psql, url_parts};
use serde_json::{Value, json};
use vault_support::*;

fn named<'a>(list: &'a [Value], name: &str) -> Vec<&'a Value> {
    list.iter().filter(|c| c["name"] == name).collect()
}

fn one<'a>(list: &'a [Value], name: &str) -> &'a Value {
    match named(list, name).as_slice() {
        [c] => c,
        other => panic!("{} connections named {name:?} in {list:#?}", other.len()),
    }
}

#[test]
fn vault_records_become_exactly_the_right_connections() {
    let seed = json!({
        "apps": [{"name": "keeperdb", "shared_folders": ["Databases", "PAM"], "records": ["Direct replica"]}],
        "folders": [
            {"name": "Databases"}, {"name": "Staging", "parent": "Databases"},
            {"name": "PAM"}, {"name": "Hidden"},
        ],
        "records": [
            database("Bestellungen – Primär 🐘", Some("Databases"), "postgresql", host_field("pg.internal", Some("5433")), "app", "pw-1"),
            database("Staging MariaDB", Some("Staging"), "MariaDB", host_field("maria.internal", None), "stage", "pw-2"),
            database("Reports", Some("Databases"), "mysql", host_field("r1.internal", Some("3306")), "r", "pw-3"),
            database("Reports", Some("Staging"), "mysql", host_field("r2.internal", Some("3307")), "r", "pw-4"),
            database("Warehouse", Some("Databases"), "Microsoft SQL Server", host_field("mssql.internal", Some("1433")), "sa", "pw-5"),
            database("Ledger", Some("Databases"), "oracle", host_field("ora.internal", None), "ledger", "pw-6"),
            database("Cassandra ring", Some("Databases"), "cassandra", host_field("cass.internal", Some("9042")), "c", "pw-7"),
            database("No host here", Some("Databases"), "postgresql", json!({"type": "host", "value": [{}]}), "x", "pw-8"),
            database("Bad port", Some("Databases"), "postgresql", host_field("h", Some("99999")), "x", "pw-9"),
            database("Direct replica", None, "postgresql", host_field("replica.internal", Some("5432")), "ro", "pw-10"),
            database("Not shared", Some("Hidden"), "postgresql", host_field("hidden.internal", None), "x", "pw-11"),
            {
                "folder": "Databases", "type": "databaseCredentials", "title": "synced by storage",
                "fields": [{"type": "text", "label": "type", "value": ["postgresql"]}, host_field("s.internal", None)],
                "custom": [{"type": "text", "label": "keeperdb_local_id", "value": ["local-1"]}],
            },
            {"folder": "Databases", "type": "login", "title": "Team wiki", "fields": [{"type": "login", "value": ["me"]}]},
            {
                "folder": "PAM", "type": "pamDatabase", "title": "PAM Orders",
                "fields": [
                    {"type": "pamHostname", "value": [{"hostName": "pam-pg.internal", "port": "5432"}]},
                    {"type": "pamSettings", "value": [{"connection": {"protocol": "postgresql", "database": "orders"}}]},
                    {"type": "checkbox", "label": "useSSL", "value": [true]},
                    {"type": "databaseType", "value": ["postgresql"]},
                ],
                "custom": [{"type": "text", "label": "database", "value": ["orders_custom"]}],
                "links": [{"record": "PAM Orders admin", "data": {"is_admin": true, "is_launch_credential": true}}],
            },
            {"folder": "PAM", "type": "pamUser", "title": "PAM Orders admin",
             "fields": [{"type": "login", "value": ["pam_admin"]}, {"type": "password", "value": ["pam-pw"]}]},
            {
                "folder": "PAM", "type": "pamDatabase", "title": "PAM orphan",
                "fields": [
                    {"type": "pamHostname", "value": [{"hostName": "orphan.internal", "port": "3306"}]},
                    {"type": "databaseType", "value": ["mysql"]},
                ],
                "links": [{"record": "Unshared admin", "data": {"is_launch_credential": true}}],
            },
            {"folder": "Hidden", "type": "pamUser", "title": "Unshared admin",
             "fields": [{"type": "login", "value": ["ghost"]}, {"type": "password", "value": ["ghost-pw"]}]},
        ],
    });
    let emu = emulator(seed);
    let kdb = Kdb::new();
    install_vault_source(&kdb);
    let out = connect(&kdb, &emu, "work");
    let said = text(&out.stdout);
    assert!(said.contains("attached vault `work`"), "{said}");

    let (list, stderr) = list_json(&kdb);
    let vault: Vec<&Value> = list
        .iter()
        .filter(|c| c["origin"]["badge"] == "Vault")
        .collect();
    let mut names: Vec<&str> = vault.iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Bestellungen – Primär 🐘",
            "Cassandra ring",
            "Direct replica",
            "Ledger",
            "PAM Orders",
            "PAM orphan",
            "Reports",
            "Reports",
            "Staging MariaDB",
            "Warehouse",
        ],
        "{list:#?}"
    );
    for c in &vault {
        assert_eq!(c["origin"]["vault"], "work");
        assert_eq!(c["origin"]["source"], "keeper-vault@work");
        assert!(c.get("password").is_none());
    }
    let pg = one(&list, "Bestellungen – Primär 🐘");
    assert_eq!(
        (
            pg["engine"].as_str(),
            pg["host"].as_str(),
            pg["port"].as_u64()
        ),
        (Some("postgres"), Some("pg.internal"), Some(5433))
    );
    assert_eq!(pg["user"], "app");
    assert_eq!(pg["driver"], true);
    let maria = one(&list, "Staging MariaDB");
    assert_eq!(
        (maria["engine"].as_str(), maria["port"].as_u64()),
        (Some("mariadb"), None),
        "missing port: the engine's default"
    );
    let reports = named(&list, "Reports");
    assert_ne!(
        reports[0]["id"], reports[1]["id"],
        "duplicate titles keep their own ids"
    );
    for (title, engine) in [
        ("Warehouse", "sqlserver"),
        ("Ledger", "oracle"),
        ("Cassandra ring", "cassandra"),
    ] {
        let c = one(&list, title);
        assert_eq!(c["engine"], engine);
        assert_eq!(c["driver"], false, "{title}: no installed driver serves it");
    }
    let pam = one(&list, "PAM Orders");
    assert_eq!(pam["user"], "pam_admin", "the linked PAM User's login");
    assert_eq!(
        pam["database"], "orders_custom",
        "the custom Database field, any case"
    );
    assert_eq!(pam["tls"], "require", "useSSL");
    assert_eq!(one(&list, "PAM orphan")["user"], Value::Null);
    for skipped in ["No host here", "Bad port"] {
        assert!(stderr.contains(skipped), "{skipped} not reported: {stderr}");
    }
    assert!(
        stderr.contains("no host") && stderr.contains("99999"),
        "{stderr}"
    );

    // The table shows the badge with the vault's name, and marks what no driver serves.
    let table = text(&kdb.run(&["connections", "list"]).stdout);
    assert!(
        table.contains("Vault work") && table.contains("no driver"),
        "{table}"
    );

    // Connecting where no driver serves the engine names what is missing.
    let out = kdb.run(&["query", "Warehouse", "SELECT 1"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no driver for sqlserver"),
        "{}",
        text(&out.stderr)
    );

    // A PAM Database whose linked user is not shared says which record to share.
    let out = kdb.run(&["query", "PAM orphan", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not shared with the Secrets Manager application"),
        "{}",
        text(&out.stderr)
    );

    // vault list shows what was seen.
    let out = kdb.run(&["vault", "list", "--json"]);
    assert_success(&out, "vault list");
    let vaults: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(vaults.len(), 1);
    assert_eq!(vaults[0]["name"], "work");
    assert_eq!(vaults[0]["status"], "ok");
    assert_eq!(vaults[0]["records_seen"], 15, "{vaults:?}");
    assert_eq!(vaults[0]["connections"], 10);
    assert!(vaults[0]["last_refresh"].as_u64().is_some());
}

/// A role on the test PostgreSQL server, and a vault whose record holds its login.
fn pg_vault(role: &str, password: &str) -> (EmulatorHandle, String) {
    let url = pg_url();
    let p = url_parts(&url);
    psql(
        &url,
        &format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
    );
    let port = p.port.to_string();
    let mut record = database(
        "Orders PG",
        Some("Databases"),
        "postgresql",
        host_field(&p.host, Some(&port)),
        role,
        password,
    );
    record["custom"] = json!([{"type": "text", "label": "Database", "value": [p.database]}]);
    let emu = emulator(json!({"folders": [{"name": "Databases"}], "records": [record]}));
    let uid = emu
        .records()
        .into_iter()
        .find(|r| r.title == "Orders PG")
        .unwrap()
        .uid;
    (emu, uid)
}

#[test]
fn a_query_over_a_vault_connection_uses_the_vault_credential_and_follows_rotation() {
    let role = format!("vault_rot_{}", std::process::id());
    let (emu, uid) = pg_vault(&role, "first-Secret-1");
    let kdb = Kdb::new();
    install_vault_source(&kdb);
    connect(&kdb, &emu, "ops");
    let rows = text(&kdb.query("Orders PG", "SELECT current_user AS who", "csv"));
    assert_eq!(rows.trim(), format!("who\n{role}"));

    // Rotated on the server and in the vault: picked up with no local change.
    psql(
        &pg_url(),
        &format!("ALTER ROLE {role} PASSWORD 'second-Secret-2'"),
    );
    emu.set_field(&uid, "password", json!("second-Secret-2"))
        .unwrap();
    let rows = text(&kdb.query("ops/Orders PG", "SELECT 1 AS one", "csv"));
    assert_eq!(rows.trim(), "one\n1");

    // Rotated on the server only: the database refuses the vault's (now wrong) password.
    psql(
        &pg_url(),
        &format!("ALTER ROLE {role} PASSWORD 'third-Secret-3'"),
    );
    let out = kdb.run(&["query", "Orders PG", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    psql(&pg_url(), &format!("DROP ROLE {role}"));
}

#[test]
fn a_mariadb_vault_connection_works_through_a_pam_database_and_its_linked_user() {
    let url = mariadb_url();
    let p = url_parts(&url);
    let user = format!("vault_pam_{}", std::process::id());
    let hosts = ["127.0.0.1", "localhost"];
    for h in hosts {
        mariadb(
            &url,
            &format!(
                "DROP USER IF EXISTS '{user}'@'{h}'; CREATE USER '{user}'@'{h}' IDENTIFIED BY 'pam-Secret-9'"
            ),
            &[],
        );
    }
    let port = p.port.to_string();
    let emu = emulator(json!({
        "folders": [{"name": "PAM"}],
        "records": [
            {"folder": "PAM", "type": "pamDatabase", "title": "Maria PAM",
             "fields": [{"type": "pamHostname", "value": [{"hostName": p.host, "port": port}]},
                        {"type": "databaseType", "value": ["mariadb"]}],
             "links": [{"record": "maria user", "data": {"is_launch_credential": true}}]},
            {"folder": "PAM", "type": "pamUser", "title": "maria user",
             "fields": [{"type": "login", "value": [user]}, {"type": "password", "value": ["pam-Secret-9"]}]},
        ],
    }));
    let kdb = Kdb::new();
    install_vault_source(&kdb);
    connect(&kdb, &emu, "pam");
    let rows = text(&kdb.query(
        "Maria PAM",
        "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AS who",
        "csv",
    ));
    assert_eq!(rows.trim(), format!("who\n{user}"));
    for h in hosts {
        mariadb(&url, &format!("DROP USER '{user}'@'{h}'"), &[]);
    }
}

#[test]
fn token_and_network_failures_each_say_what_is_wrong_and_exit_4() {
    let emu = emulator(json!({"folders": [{"name": "Databases"}], "records": []}));
    let kdb = Kdb::new();
    install_vault_source(&kdb);
    let mut seen = Vec::new();
    let mut fails = |token: &str, extra: &[&str], expect: &str| {
        let out = connect_with(&kdb, &emu, "v", token, extra);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{expect}: {err}");
        assert!(err.contains(expect), "expected {expect:?} in: {err}");
        assert!(
            !err.contains(token.rsplit(':').next().unwrap()) || token.len() < 20,
            "the token leaked: {err}"
        );
        seen.push(err);
    };
    fails("not-a-token", &[], "not a one-time access token");
    // Well formed, but never issued.
    fails(
        "ksm.test:YyIhK5wXFHj36wGBAOmBsxI3v5rIruINrC8KXjyM58c",
        &[],
        "unknown there",
    );
    let expired = emu.issue_default_token().unwrap();
    assert!(emu.expire_token(&expired).unwrap());
    fails(&expired, &[], "expires unused");
    let used = emu.issue_default_token().unwrap();
    assert_success(
        &connect_with(&kdb, &emu, "first", &used, &[]),
        "first use of the token",
    );
    fails(&used, &[], "already used");
    let token = emu.issue_default_token().unwrap();
    let eu = format!("EU:{}", token.rsplit(':').next().unwrap());
    fails(&eu, &[], "keepersecurity.eu");
    fails(
        &token,
        &["--no-ca"],
        "not signed by a CA this machine trusts",
    );
    fails(&token, &["--proxy", "http://127.0.0.1:9"], "refused");
    emu.set_faults(vec![FaultRule::new(Fault::Throttle { retry_after: 0.01 })]);
    fails(&token, &[], "throttling");
    emu.set_faults(vec![FaultRule::new(Fault::HttpStatus(502))]);
    fails(&token, &[], "not the KSM protocol");
    emu.set_faults(vec![FaultRule::new(Fault::DropConnection)]);
    fails(&token, &[], "connection broke");
    emu.set_faults(vec![]);
    // The service answers an expired token exactly as an unknown one, so those two read alike
    // (the message names both causes); every other failure reads differently.
    seen.remove(2);
    for i in 0..seen.len() {
        for j in i + 1..seen.len() {
            assert_ne!(seen[i], seen[j], "two failures read the same");
        }
    }
    // None of the failed attempts left an attachment behind; the token still works.
    assert_success(
        &connect_with(&kdb, &emu, "v", &token, &[]),
        "the unspent token",
    );

    // Without a credential store there is nowhere to keep the application's keys: refused
    // before the token is spent, saying why.
    let keyless = emu.issue_default_token().unwrap();
    let out = connect_with(&kdb, &emu, "keyless", &keyless, &["--no-secret-service"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("kept only in the OS credential store") && err.contains("not used"),
        "{err}"
    );
    assert!(
        !err.contains("password_storage"),
        "a fallback that cannot hold a key: {err}"
    );
    assert_success(
        &connect_with(&kdb, &emu, "keyless", &keyless, &[]),
        "the token was not spent",
    );

    // A name that is taken is refused before the token is read, so it is not spent.
    let spare = emu.issue_default_token().unwrap();
    let out = connect_with(&kdb, &emu, "v", &spare, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("attached already"));
    assert_success(
        &connect_with(&kdb, &emu, "v2", &spare, &[]),
        "the spare token is unspent",
    );
}

#[test]
fn two_vaults_list_together_and_an_unreachable_one_lists_stale() {
    let a = emulator(json!({"folders": [{"name": "A"}], "records": [
        database("Shared name", Some("A"), "postgresql", host_field("a.internal", None), "a", "pw-a")]}));
    // Its CA outlives it, as a real vault's CA outlives an outage.
    let b_ca = tempfile::tempdir().unwrap();
    let b = emulator_with_ca(
        json!({"folders": [{"name": "B"}], "records": [
        database("Shared name", Some("B"), "mysql", host_field("b.internal", None), "b", "pw-b"),
        database("Only in b", Some("B"), "mysql", host_field("b2.internal", None), "b", "pw-b2")]}),
        Some(b_ca.path()),
    );
    let kdb = Kdb::new();
    install_vault_source(&kdb);
    connect(&kdb, &a, "alpha");
    connect(&kdb, &b, "beta");
    let (list, _) = list_json(&kdb);
    let shared = named(&list, "Shared name");
    let mut vaults: Vec<&str> = shared
        .iter()
        .map(|c| c["origin"]["vault"].as_str().unwrap())
        .collect();
    vaults.sort();
    assert_eq!(vaults, ["alpha", "beta"]);
    let out = kdb.run(&["connections", "show", "Shared name"]);
    assert!(
        text(&out.stderr).contains("alpha/Shared name"),
        "{}",
        text(&out.stderr)
    );
    let out = kdb.run(&["connections", "show", "beta/Shared name", "--json"]);
    assert_success(&out, "show beta/Shared name");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["engine"], "mysql");

    // beta goes away: its entries stay listed from the last refresh, marked stale, and
    // connecting says that credentials need the vault.
    drop(b);
    let (list, stderr) = list_json(&kdb);
    let only_b = one(&list, "Only in b");
    assert_eq!(only_b["stale"], true);
    assert_eq!(
        named(&list, "Shared name")
            .iter()
            .filter(|c| c["stale"] == true)
            .count(),
        1
    );
    assert!(
        stderr.contains("keeper-vault@beta") && stderr.contains("cannot reach"),
        "{stderr}"
    );
    let out = kdb.run(&["query", "Only in b", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("credentials are fetched from vault `beta`"),
        "{}",
        text(&out.stderr)
    );
    let out = kdb.run(&["vault", "refresh"]);
    assert_eq!(out.status.code(), Some(4));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        said.contains("vault `alpha`: 1 records") && said.contains("vault `beta`"),
        "{said}"
    );
    let vaults: Vec<Value> =
        serde_json::from_slice(&kdb.run(&["vault", "list", "--json"]).stdout).unwrap();
    let beta = vaults.iter().find(|v| v["name"] == "beta").unwrap();
    assert_eq!(beta["status"], "failing");

    // Disconnecting removes it and its config.
    assert_success(&kdb.run(&["vault", "disconnect", "beta"]), "disconnect");
    let (list, _) = list_json(&kdb);
    assert!(named(&list, "Only in b").is_empty());
    let out = kdb.run(&["vault", "disconnect", "beta"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_password_key_or_token_is_left_in_clear_after_the_whole_flow() {
    let role = format!("vault_leak_{}", std::process::id());
    let (emu, _) = pg_vault(&role, "Leak-Check-Secret-77");
    let kdb = Kdb::new();
    let logs = std::cell::RefCell::new(String::new());
    let keep = |out: Output| {
        logs.borrow_mut()
            .push_str(&(text(&out.stdout) + &text(&out.stderr)));
        out
    };
    let run = |args: &[&str]| {
        let mut all = vec!["--verbose"; 3];
        all.extend(args);
        keep(kdb.run(&all))
    };
    assert_success(
        &run(&["plugins", "install", "keeper-vault", "--allow"]),
        "install",
    );
    let token = emu.issue_default_token().unwrap();
    assert_success(
        &keep(connect_with(
            &kdb,
            &emu,
            "leak",
            &token,
            &["--verbose", "--verbose", "--verbose"],
        )),
        "connect",
    );
    assert_success(&run(&["connections", "list"]), "list");
    assert_success(&run(&["query", "Orders PG", "SELECT 1"]), "query");
    assert_success(&run(&["vault", "refresh"]), "refresh");

    // The application's keys, as the credential store holds them.
    let vaults_toml = std::fs::read_to_string(kdb.config.path().join("vaults.toml")).unwrap();
    let id = vaults_toml
        .lines()
        .find_map(|l| l.strip_prefix("id = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the attachment has an id");
    let stored =
        secret_tool_lookup(&format!("vault:{id}")).expect("the config is in the credential store");
    let stored: Value = serde_json::from_str(&stored).unwrap();
    let config: Value = serde_json::from_str(stored["ksm_config"].as_str().unwrap()).unwrap();
    let mut secrets = vec![
        "Leak-Check-Secret-77".to_string(),
        token.rsplit(':').next().unwrap().to_string(),
    ];
    for key in ["privateKey", "appKey", "clientId"] {
        secrets.push(
            config[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key}"))
                .to_string(),
        );
    }
    let mut files = Vec::new();
    files_under(kdb.config.path(), &mut files);
    assert!(
        files
            .iter()
            .any(|(p, _)| p.ends_with("cache/vaults/leak.json")),
        "the offline listing was saved"
    );
    for secret in &secrets {
        for (path, bytes) in &files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret is in clear in {}",
                path.display()
            );
        }
        assert!(
            !logs.borrow().contains(secret.as_str()),
            "a secret is in the -vvv log"
        );
    }
    assert!(
        logs.borrow().contains("vault records read"),
        "the vault calls were traced"
    );

    // Disconnecting removes the config from the credential store.
    assert_success(&kdb.run(&["vault", "disconnect", "leak"]), "disconnect");
    assert_eq!(secret_tool_lookup(&format!("vault:{id}")), None);
    psql(&pg_url(), &format!("DROP ROLE {role}"));
}
