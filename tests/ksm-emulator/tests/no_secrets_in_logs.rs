//! The emulator's own log output for a whole session, at the most verbose level, holds no
//! token, key or password. (One test in this binary: it installs the global subscriber.)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use keeper_secrets_manager_core::dto::dtos::RecordCreate;
use keeperdb_ksm_emulator::{Fault, FaultRule};
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_session_logs_no_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        // Only the emulator's own events: the SDK (through the `log` bridge) prints its request
        // payloads, clientId included, at debug level, which is the SDK's business, not ours.
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "keeperdb_ksm_emulator=trace",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let emu = start_demo();
    let token = emu.issue_default_token().unwrap();
    let mut sm = client_for(&emu, &token);
    let records = sm.get_secrets(vec![]).unwrap();
    let config = saved_config(&sm);

    let mut rc = RecordCreate::new("databaseCredentials", "logged?", None);
    rc.append_standard_fields(field("password", None, json!(["created-Secret-9x"])));
    let uid = sm.create_secret("KeeperDbStorageFolder1", rc).unwrap();
    let mut rec = fetch(&mut sm, &uid);
    rec.set_standard_field_value_mut("password", json!("updated-Secret-7y"))
        .unwrap();
    sm.update_secret(rec).unwrap();
    emu.set_faults(vec![
        FaultRule::new(Fault::Throttle { retry_after: 0.01 }).times(1),
        FaultRule::new(Fault::KeyRotation),
    ]);
    sm.get_secrets(vec![]).unwrap();
    sm.delete_secret(vec![uid]).unwrap();
    let replay = client_for(&emu, &token).get_secrets(vec![]);
    assert!(replay.is_err());
    drop(emu);

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("get_secret") && log.contains("create_secret"),
        "the capture must see the session:\n{log}"
    );

    let cfg: serde_json::Value = serde_json::from_str(&config).unwrap();
    let mut secrets: Vec<String> = vec![
        token.split_once(':').unwrap().1.to_string(),
        "created-Secret-9x".into(),
        "updated-Secret-7y".into(),
    ];
    for k in ["appKey", "privateKey", "clientId"] {
        secrets.push(cfg[k].as_str().unwrap().to_string());
    }
    for r in &records {
        if let Ok(p) = r.get_standard_field_value("password", true)
            && let Some(p) = p.as_str().filter(|p| !p.is_empty())
        {
            secrets.push(p.to_string());
        }
    }
    assert!(secrets.len() >= 10, "{} secrets checked", secrets.len());
    for s in &secrets {
        assert!(
            !log.contains(s.as_str()),
            "a secret ({} chars) appears in the emulator log",
            s.len()
        );
    }
}
