//! Figures, not assertions: how fast the SDK works against the emulator.
//! `cargo test -p keeperdb-ksm-emulator --release --test bench -- --ignored --nocapture`

mod common;

use std::time::Instant;

use common::*;
use keeper_secrets_manager_core::dto::dtos::RecordCreate;
use serde_json::json;

#[test]
#[ignore = "benchmark: prints figures"]
fn sdk_round_trips() {
    let t = Instant::now();
    let emu = start_demo();
    println!(
        "emulator start (demo seed, reused CA, fresh leaf cert): {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let mut sm = bound_client(&emu);
    println!(
        "bind (new + first get_secrets, 2 requests): {:?}",
        t.elapsed()
    );

    let n = 50;
    let t = Instant::now();
    for _ in 0..n {
        sm.get_secrets(vec![]).unwrap();
    }
    println!("get_secrets, 8 records: {:?} per call", t.elapsed() / n);

    let n = 245u32;
    let t = Instant::now();
    for i in 0..n {
        let mut rc = RecordCreate::new("databaseCredentials", format!("synced {i}"), None);
        rc.append_custom_field(field(
            "text",
            Some("keeperdb_local_id"),
            json!([format!("local-{i}")]),
        ));
        sm.create_secret("KeeperDbStorageFolder1", rc).unwrap();
    }
    println!(
        "create_secret x{n} (each also runs get_folders): {:?} total, {:?} per record",
        t.elapsed(),
        t.elapsed() / n
    );

    let t = Instant::now();
    let all = sm.get_secrets(vec![]).unwrap();
    println!("get_secrets, {} records: {:?}", all.len(), t.elapsed());
    println!("requests served: {}", emu.stats().requests);
}
