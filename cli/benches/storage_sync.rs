//! `cargo xtask bench storage`: `keeperdb storage sync` of 245 and of 1,000 saved connections
//! (each with a password) into a vault with 50 ms of latency injected on every request, beside
//! a one-at-a-time sync of the same records with the bare KSM SDK in the same run, and a
//! re-sync with nothing changed. Prints figures, and the ideal a sync with keeperdb's
//! concurrency could reach (requests / concurrency x latency); it asserts nothing about speed.
//!
//! Needs what `cargo xtask bench storage` provides: the release `keeperdb` and its bundle
//! (`KEEPERDB_BENCH_BIN`, `KEEPERDB_BUNDLED_PLUGINS_DIR`), the emulator CA the SDK trusts
//! (`KEEPERDB_KSM_CA_DIR`, `SSL_CERT_FILE`) and a Secret Service.

use std::time::{Duration, Instant};

use keeper_secrets_manager_core::dto::dtos::RecordCreate;
use keeper_secrets_manager_core::dto::field_structs::KeeperField;
use keeper_secrets_manager_core::prelude::*;
use keeperdb_core::model::Connection;
use keeperdb_core::store::PasswordChange;
use keeperdb_core::{App, Engine};
use keeperdb_ksm_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fault, FaultRule, Seed};
use secrecy::SecretString;
use serde_json::json;
use support::{Kdb, env_path};

mod support;

const LATENCY: Duration = Duration::from_millis(50);
/// keeperdb's sync concurrency (core/app/src/sync).
const CONCURRENCY: f64 = 8.0;

fn vault() -> EmulatorHandle {
    let seed = json!({"folders": [{"name": "Team"}], "records": []});
    Emulator::start(EmulatorConfig {
        seed: Seed::from_json(&seed.to_string()).expect("seed"),
        ca_dir: Some(env_path("KEEPERDB_KSM_CA_DIR")),
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
}

/// A config dir with storage sync enabled for an attached vault.
fn storage_config(emu: &EmulatorHandle) -> Kdb {
    let kdb = Kdb::with_plugin("keeper-storage");
    kdb.attach("bench", emu);
    kdb.ok(&["storage", "enable", "--vault", "bench"], None);
    kdb
}

/// Filling and timing a config dir.
trait Fill {
    fn add_connections(&self, n: usize);
    fn timed(&self, args: &[&str]) -> Duration;
}

impl Fill for Kdb {
    fn add_connections(&self, n: usize) {
        let app = App::open(Some(self.config.path().to_path_buf())).expect("config");
        for i in 0..n {
            let mut c = Connection::new_local(Engine::POSTGRES, format!("bench-{i:04}"));
            c.spec.host = Some(format!("db{i}.internal"));
            c.spec.user = Some("app".into());
            c.spec.database = Some("orders".into());
            app.store()
                .add(
                    c,
                    PasswordChange::Set(SecretString::from(format!("pw-{i}"))),
                )
                .expect("saved");
        }
    }

    fn timed(&self, args: &[&str]) -> Duration {
        let started = Instant::now();
        self.ok(args, None);
        started.elapsed()
    }
}

/// The one-at-a-time peer: the bare SDK writing the same records (and a preferences record)
/// one after another into a folder, as a client without concurrency would.
fn one_at_a_time(emu: &EmulatorHandle, n: usize) -> Duration {
    let token = emu.issue_default_token().expect("token");
    let storage = InMemoryKeyValueStorage::new(None).expect("storage");
    let mut o = ClientOptionsBuilder::new(KvStoreType::InMemory(storage))
        .token(&token)
        .proxy_url(&emu.proxy_url())
        .build();
    o.set_server_public_key(&emu.server_public_key());
    o.set_server_public_key_id(&emu.server_public_key_id());
    let mut sm = SecretsManager::new(o).expect("client");
    let folder = sm.get_folders().expect("folders")[0].folder_uid.clone();
    let started = Instant::now();
    for i in 0..=n {
        let mut r = RecordCreate::new("databaseCredentials", format!("peer-{i:04}"), None);
        let field = |t: &str, label: Option<&str>, v: serde_json::Value| {
            let mut f = KeeperField::new(t.to_string(), label.map(str::to_string));
            f.value = v;
            f
        };
        r.append_standard_fields(field("text", Some("type"), json!(["postgresql"])));
        r.append_standard_fields(field(
            "host",
            None,
            json!([{"hostName": format!("db{i}.internal"), "port": ""}]),
        ));
        r.append_standard_fields(field("login", None, json!(["app"])));
        r.append_standard_fields(field("password", None, json!([format!("pw-{i}")])));
        r.append_custom_field(field(
            "text",
            Some("keeperdb_local_id"),
            json!([i.to_string()]),
        ));
        sm.create_secret(folder.clone(), r).expect("create");
    }
    started.elapsed()
}

fn secs(d: Duration) -> String {
    format!("{:7.2} s", d.as_secs_f64())
}

fn main() {
    println!(
        "storage sync, {} ms latency per request, keeperdb concurrency {CONCURRENCY}",
        LATENCY.as_millis()
    );
    println!(
        "{:<12} {:>10} {:>9} {:>10} {:>9} {:>14} {:>12} {:>10}",
        "connections",
        "keeperdb",
        "requests",
        "ideal",
        "/ ideal",
        "one at a time",
        "re-sync",
        "requests"
    );
    for n in [245usize, 1000] {
        let emu = vault();
        let kdb = storage_config(&emu);
        kdb.add_connections(n);
        emu.set_faults(vec![FaultRule::new(Fault::Latency(LATENCY))]);
        let before = emu.stats().requests;
        let full = kdb.timed(&["storage", "sync"]);
        let requests = emu.stats().requests - before;
        let ideal = LATENCY.mul_f64(requests as f64 / CONCURRENCY);
        let before = emu.stats().requests;
        let again = kdb.timed(&["storage", "sync"]);
        let again_requests = emu.stats().requests - before;
        let peer_vault = vault();
        peer_vault.set_faults(vec![FaultRule::new(Fault::Latency(LATENCY))]);
        let peer = one_at_a_time(&peer_vault, n);
        println!(
            "{n:<12} {} {requests:>9} {} {:>8.2}x {:>14} {} {again_requests:>10}",
            secs(full),
            secs(ideal),
            full.as_secs_f64() / ideal.as_secs_f64(),
            secs(peer),
            secs(again),
        );
    }
}
