//! Several clients at once, and the emulator driven from async code.

mod common;

use common::*;
use keeper_secrets_manager_core::dto::dtos::RecordCreate;
use keeperdb_ksm_emulator::Emulator;

#[test]
fn clients_in_parallel_each_bind_and_write() {
    let emu = start_demo();
    let before = emu.records().len();
    std::thread::scope(|s| {
        for t in 0..4 {
            let emu = &emu;
            s.spawn(move || {
                let mut sm = bound_client(emu);
                for i in 0..5 {
                    let rc = RecordCreate::new("login", format!("t{t}-r{i}"), None);
                    sm.create_secret("KeeperDbStorageFolder1", rc)
                        .expect("create");
                }
                assert!(sm.get_secrets(vec![]).unwrap().len() >= 8 + 5);
            });
        }
    });
    assert_eq!(emu.bound_clients(), 4);
    let records = emu.records();
    assert_eq!(records.len(), before + 20);
    for t in 0..4 {
        for i in 0..5 {
            assert!(records.iter().any(|r| r.title == format!("t{t}-r{i}")));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_and_stops_inside_an_async_runtime() {
    let emu = Emulator::start(demo_config()).expect("start from async code");
    let token = emu.issue_default_token().unwrap();
    let opts = options(&emu, &token, memory());
    // The SDK is blocking: it runs in spawn_blocking, as keeperdb's host does.
    let n = tokio::task::spawn_blocking(move || {
        let mut sm = keeper_secrets_manager_core::prelude::SecretsManager::new(opts).unwrap();
        sm.get_secrets(vec![]).unwrap().len()
    })
    .await
    .unwrap();
    assert_eq!(n, 8);
    drop(emu);
}
