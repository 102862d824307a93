//! `cargo xtask bench vault`: `keeperdb connections list` over a vault of 1,000 Database
//! records, beside the bare KSM SDK fetching the same vault in the same run (a fresh client
//! from a bound config and one `get_secrets` with links, which is what keeperdb does under its
//! listing), then with 50 ms of latency injected on every request, then with two such vaults
//! attached. Prints figures (median of the runs); it asserts nothing about speed.
//!
//! Needs what `cargo xtask bench vault` provides: the release `keeperdb` and its bundle
//! (`KEEPERDB_BENCH_BIN`, `KEEPERDB_BUNDLED_PLUGINS_DIR`), the emulator CA the SDK trusts
//! (`KEEPERDB_KSM_CA_DIR`, `SSL_CERT_FILE`) and a Secret Service.

use std::time::{Duration, Instant};

use keeper_secrets_manager_core::dto::payload::QueryOptions;
use keeper_secrets_manager_core::prelude::*;
use keeperdb_ksm_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fault, FaultRule, Seed};
use serde_json::json;
use support::{Kdb, env_path};

mod support;

const RECORDS: usize = 1_000;
const RUNS: usize = 7;

fn vault(name: &str) -> EmulatorHandle {
    let records: Vec<_> = (0..RECORDS)
        .map(|i| {
            json!({"folder": "Databases", "type": "databaseCredentials", "title": format!("{name} db {i:04}"),
                   "fields": [{"type": "text", "label": "type", "value": ["postgresql"]},
                              {"type": "host", "value": [{"hostName": format!("db{i}.internal"), "port": "5432"}]},
                              {"type": "login", "value": ["app"]},
                              {"type": "password", "value": [format!("pw-{i}")]}],
                   "custom": [{"type": "text", "label": "Database", "value": ["orders"]}]})
        })
        .collect();
    let seed = json!({"folders": [{"name": "Databases"}], "records": records});
    Emulator::start(EmulatorConfig {
        seed: Seed::from_json(&seed.to_string()).expect("seed"),
        ca_dir: Some(env_path("KEEPERDB_KSM_CA_DIR")),
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
}

/// A bound SDK config for `emu`, as a keeperdb attachment keeps it.
fn bound_config(emu: &EmulatorHandle) -> String {
    let token = emu.issue_default_token().expect("token");
    let mut sm = SecretsManager::new(options(emu, Some(&token), None)).expect("client");
    sm.get_secrets(Vec::new()).expect("binding");
    let map = sm.config.read_storage().expect("config");
    let obj: std::collections::HashMap<String, String> = map
        .into_iter()
        .map(|(k, v)| (k.value().to_string(), v))
        .collect();
    serde_json::to_string(&obj).expect("json")
}

fn options(emu: &EmulatorHandle, token: Option<&str>, config: Option<&str>) -> ClientOptions {
    let storage = InMemoryKeyValueStorage::new(config.map(str::to_string)).expect("storage");
    let mut b =
        ClientOptionsBuilder::new(KvStoreType::InMemory(storage)).proxy_url(&emu.proxy_url());
    if let Some(t) = token {
        b = b.token(t);
    }
    let mut o = b.build();
    o.set_server_public_key(&emu.server_public_key());
    o.set_server_public_key_id(&emu.server_public_key_id());
    o
}

/// The bare SDK: a fresh client from the saved config, one listing with links.
fn bare_sdk(emu: &EmulatorHandle, config: &str) -> Duration {
    let started = Instant::now();
    let mut sm = SecretsManager::new(options(emu, None, Some(config))).expect("client");
    let records = sm
        .get_secrets_with_options(QueryOptions::with_links(Vec::new(), Vec::new(), true))
        .expect("get_secrets");
    assert_eq!(records.len(), RECORDS);
    started.elapsed()
}

/// Timing a listing.
trait List {
    fn list(&self, expected: usize) -> Duration;
}

impl List for Kdb {
    fn list(&self, expected: usize) -> Duration {
        let started = Instant::now();
        let out = self.ok(&["connections", "list", "--json"], None);
        let elapsed = started.elapsed();
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out).expect("json");
        assert_eq!(rows.len(), expected);
        elapsed
    }
}

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    f(); // warm: compiled-plugin cache, TLS session setup paths, page cache
    let mut runs: Vec<Duration> = (0..RUNS).map(|_| f()).collect();
    runs.sort();
    runs[RUNS / 2]
}

fn ms(d: Duration) -> String {
    format!("{:8.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    // `cargo bench` passes `--bench`; this target has no other arguments.
    let a = vault("alpha");
    let b = vault("beta");
    let (config_a, config_b) = (bound_config(&a), bound_config(&b));
    let only_a = Kdb::with_plugin("keeper-vault");
    only_a.attach("alpha", &a);
    let only_b = Kdb::with_plugin("keeper-vault");
    only_b.attach("beta", &b);
    let both = Kdb::with_plugin("keeper-vault");
    both.attach("alpha", &a);
    both.attach("beta", &b);

    println!("vault listing, {RECORDS} Database records per vault, median of {RUNS} runs");
    println!("{:<58} {:>11} {:>11}", "", "no latency", "+50 ms");
    let mut rows: Vec<(String, Duration, Duration)> = Vec::new();
    for latency in [None, Some(Duration::from_millis(50))] {
        let rule = latency
            .map(|l| vec![FaultRule::new(Fault::Latency(l))])
            .unwrap_or_default();
        a.set_faults(rule.clone());
        b.set_faults(rule);
        let figures = [
            (
                "bare SDK: new client + get_secrets (vault alpha)".to_string(),
                median(|| bare_sdk(&a, &config_a)),
            ),
            (
                "bare SDK: new client + get_secrets (vault beta)".to_string(),
                median(|| bare_sdk(&b, &config_b)),
            ),
            (
                "keeperdb connections list --json (alpha)".to_string(),
                median(|| only_a.list(RECORDS)),
            ),
            (
                "keeperdb connections list --json (beta)".to_string(),
                median(|| only_b.list(RECORDS)),
            ),
            (
                "keeperdb connections list --json (alpha + beta)".to_string(),
                median(|| both.list(2 * RECORDS)),
            ),
        ];
        for (i, (name, d)) in figures.into_iter().enumerate() {
            if latency.is_none() {
                rows.push((name, d, Duration::ZERO));
            } else {
                rows[i].2 = d;
            }
        }
    }
    for (name, plain, slow) in &rows {
        println!("{name:<58} {} {}", ms(*plain), ms(*slow));
    }
    let ratio = |i: usize, j: usize, col: fn(&(String, Duration, Duration)) -> Duration| {
        col(&rows[i]).as_secs_f64() / col(&rows[j]).as_secs_f64()
    };
    println!(
        "keeperdb / bare SDK (alpha): {:.2}x, {:.2}x with +50 ms",
        ratio(2, 0, |r| r.1),
        ratio(2, 0, |r| r.2)
    );
    let slower =
        |col: fn(&(String, Duration, Duration)) -> Duration| col(&rows[2]).max(col(&rows[3]));
    println!(
        "two vaults / the slower single vault: {:.2}x, {:.2}x with +50 ms",
        rows[4].1.as_secs_f64() / slower(|r| r.1).as_secs_f64(),
        rows[4].2.as_secs_f64() / slower(|r| r.2).as_secs_f64()
    );
}
