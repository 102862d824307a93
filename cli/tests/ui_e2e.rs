//! The GUI end to end, as a user meets it: the real `keeperdb ui` binary serving its built page
//! to a real headless Chromium (Debian's), driven by playwright-core from npm
//! (`gui/web/e2e/ui.e2e.mjs`), against the KSM emulator over HTTPS, the PostgreSQL test
//! server, and the bundled WASM plugins. Screenshots of each screen land in
//! `target/ui-screenshots`.
//!
//! `cargo xtask test` installs Node, the page's npm packages and Chromium, builds the page, and
//! names them in `KEEPERDB_UI_WEB_DIR` and `KEEPERDB_CHROMIUM`.

mod query_support;
mod vault_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use keeperdb_core::model::Connection;
use keeperdb_core::store::PasswordChange;
use keeperdb_core::{App, Engine};
use keeperdb_ksm_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Seed};
use query_support::{Kdb, assert_success, pg_url, url_parts};
use secrecy::SecretString;
use serde_json::json;
use vault_support::{database, host_field};

/// Local connections the sync test mirrors: with the preferences record, 245 items.
const LOCAL_CONNECTIONS: usize = 244;

fn env_path(var: &str) -> PathBuf {
    let help = "run `cargo xtask test`, which installs Node, the GUI's npm packages and Chromium";
    let value = std::env::var_os(var).unwrap_or_else(|| panic!("{var} is not set: {help}"));
    PathBuf::from(value)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `keeperdb ui --no-open` on a free port: the server and its launch URL.
fn serve(kdb: &Kdb) -> (Server, String) {
    let mut child = kdb
        .cmd()
        .args(["ui", "--no-open"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("keeperdb ui starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line.trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("token="),
        "launch URL: {url:?}"
    );
    (Server(child), url)
}

fn vault_with_pg(pg: &query_support::UrlParts) -> EmulatorHandle {
    let seed = json!({
        "apps": [{"name": "keeperdb", "shared_folders": ["Team"], "editable": true}],
        "folders": [{"name": "Team"}],
        "records": [database("orders-db", Some("Team"), "postgresql",
            host_field(&pg.host, Some(&pg.port.to_string())), &pg.user, &pg.password)],
    });
    Emulator::start(EmulatorConfig {
        seed: Seed::from_json(&seed.to_string()).unwrap(),
        ca_dir: Some(keeperdb_ksm_emulator::test_ca_dir().unwrap_or_else(|e| panic!("{e}"))),
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
}

fn seed_local_connections(kdb: &Kdb, pg: &query_support::UrlParts) {
    let app = App::open(Some(kdb.config.path().to_path_buf())).unwrap();
    let mut local = Connection::new_local(Engine::POSTGRES, "local-pg");
    local.spec.host = Some(pg.host.clone());
    local.spec.port = Some(pg.port);
    local.spec.user = Some(pg.user.clone());
    local.spec.database = Some(pg.database.clone());
    local.spec.environment = Some("production".into());
    app.store()
        .add(
            local,
            PasswordChange::Set(SecretString::from(pg.password.clone())),
        )
        .unwrap();
    for i in 1..LOCAL_CONNECTIONS {
        let mut c = Connection::new_local(Engine::POSTGRES, format!("fleet-{i:03}"));
        c.spec.host = Some(format!("db{i}.internal"));
        c.spec.user = Some("app".into());
        c.spec.database = Some(format!("shard_{i}"));
        app.store()
            .add(
                c,
                PasswordChange::Set(SecretString::from(format!("fleet-pass-{i}"))),
            )
            .unwrap();
    }
}

fn run_page_test(kdb: &Kdb, emu: &EmulatorHandle, bench: bool) -> String {
    let web = env_path("KEEPERDB_UI_WEB_DIR");
    let chromium = env_path("KEEPERDB_CHROMIUM");
    let started_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let (_server, url) = serve(kdb);
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let config = json!({
        "url": url,
        "started_at_ms": started_at_ms,
        "chromium": chromium,
        "screenshots": screenshots,
        "vault": {
            "name": "work",
            "token": emu.issue_default_token().unwrap(),
            "proxy": emu.proxy_url(),
            "server_public_key": emu.server_public_key(),
            "server_public_key_id": emu.server_public_key_id(),
        },
        "vault_connection": "orders-db",
        "local_connection": "local-pg",
        "million_rows_sql": "SELECT g AS n, 'row ' || g AS label FROM generate_series(1, 1000000) g",
        "long_query_sql": "SELECT pg_sleep(60)",
        "sync_total": LOCAL_CONNECTIONS + 1,
        "bench": bench,
    });
    let config_file = kdb.config.path().join("e2e.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let out = Command::new("node")
        .arg(web.join("e2e").join("ui.e2e.mjs"))
        .current_dir(&web)
        .env("KEEPERDB_UI_E2E_CONFIG", &config_file)
        .output()
        .expect("node runs");
    assert_success(&out, "the GUI's end-to-end test (gui/web/e2e/ui.e2e.mjs)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if bench {
        // `cargo xtask bench ui`: the page's figures, for people to read.
        println!("{stdout}");
    }
    stdout
}

#[test]
fn a_user_attaches_a_vault_queries_scrolls_cancels_syncs_and_switches_theme_in_the_browser() {
    let kdb = Kdb::new();
    for plugin in ["keeper-vault", "keeper-storage"] {
        assert_success(&kdb.run(&["plugins", "install", plugin, "--allow"]), plugin);
    }
    let pg = url_parts(&pg_url());
    seed_local_connections(&kdb, &pg);
    let emu = vault_with_pg(&pg);
    run_page_test(&kdb, &emu, std::env::var_os("KEEPERDB_UI_BENCH").is_some());
}
