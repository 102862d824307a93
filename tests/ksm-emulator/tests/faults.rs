//! Injected faults reach the unmodified SDK, each as its own, recognisable outcome.

mod common;

use std::time::Duration;

use common::*;
use keeper_secrets_manager_core::prelude::*;
use keeperdb_ksm_emulator::{EmulatorConfig, EmulatorHandle, Fault, FaultRule};

fn get_secret_count(emu: &EmulatorHandle) -> u64 {
    emu.stats()
        .by_endpoint
        .get("get_secret")
        .copied()
        .unwrap_or(0)
}

/// Fires `rule` once: returns the error the next read gets, after checking that the read
/// after it succeeds again.
fn error_once_then_recovery(
    emu: &EmulatorHandle,
    sm: &mut SecretsManager,
    rule: FaultRule,
) -> KSMRError {
    emu.set_faults(vec![rule.times(1)]);
    let e = sm
        .get_secrets(vec![])
        .expect_err("the fault reaches the SDK");
    assert_eq!(
        sm.get_secrets(vec![])
            .expect("the next read succeeds")
            .len(),
        8
    );
    e
}

#[test]
fn throttle_twice_then_success() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let before = get_secret_count(&emu);
    emu.set_faults(vec![
        FaultRule::new(Fault::Throttle { retry_after: 0.05 }).times(2),
    ]);
    assert_eq!(
        sm.get_secrets(vec![])
            .expect("retried past the throttle")
            .len(),
        8
    );
    assert_eq!(
        get_secret_count(&emu) - before,
        3,
        "two throttled attempts, then the answer"
    );
    assert_eq!(emu.stats().faults_fired, 2);
}

#[test]
fn endless_throttle_ends_in_throttled_error() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let before = get_secret_count(&emu);
    emu.set_faults(vec![FaultRule::new(Fault::Throttle { retry_after: 0.02 })]);
    let e = sm.get_secrets(vec![]).expect_err("never stops throttling");
    assert!(matches!(e, KSMRError::Throttled(_)), "{e:?}");
    assert_eq!(
        get_secret_count(&emu) - before,
        6,
        "the SDK gives up after 5 retries"
    );
}

#[test]
fn http_5xx_is_an_invalid_json_response() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let e = error_once_then_recovery(&emu, &mut sm, FaultRule::new(Fault::HttpStatus(503)));
    assert!(
        matches!(&e, KSMRError::DeserializationError(m) if m.contains("Invalid JSON response") && m.contains("503")),
        "{e:?}"
    );
}

#[test]
fn dropped_connection_is_a_transport_error() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let rule = FaultRule::new(Fault::DropConnection).on("get_secret");
    let e = error_once_then_recovery(&emu, &mut sm, rule);
    assert!(
        matches!(&e, KSMRError::SecretManagerCreationError(m) if m.contains("error sending request for url")),
        "{e:?}"
    );
}

#[test]
fn body_cut_half_way_is_its_own_error() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let rule = FaultRule::new(Fault::SlowBody {
        chunk_delay: Duration::ZERO,
        truncate: true,
    });
    let e = error_once_then_recovery(&emu, &mut sm, rule);
    assert!(
        matches!(&e, KSMRError::SecretManagerCreationError(m) if m.contains("error decoding response body for url")),
        "a cut body must not look like a refused connection: {e:?}"
    );
}

#[test]
fn slow_body_and_latency_still_succeed() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    emu.set_faults(vec![
        FaultRule::new(Fault::Latency(Duration::from_millis(100))).times(1),
        FaultRule::new(Fault::SlowBody {
            chunk_delay: Duration::from_millis(1),
            truncate: false,
        })
        .times(1),
    ]);
    assert_eq!(sm.get_secrets(vec![]).expect("slow but whole").len(), 8);
    assert_eq!(emu.stats().faults_fired, 2);
}

#[test]
fn key_rotation_is_retried_once_and_succeeds() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let before = get_secret_count(&emu);
    // Even without `times`, a key rotation fires once: the SDK would retry it forever.
    emu.set_faults(vec![FaultRule::new(Fault::KeyRotation)]);
    assert_eq!(
        sm.get_secrets(vec![])
            .expect("retried with the same key")
            .len(),
        8
    );
    assert_eq!(get_secret_count(&emu) - before, 2);
    assert_eq!(sm.get_secrets(vec![]).unwrap().len(), 8);
}

#[test]
fn faults_start_after_a_request_count_and_target_one_endpoint() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    emu.set_faults(vec![
        FaultRule::new(Fault::HttpStatus(502))
            .on("get_secret")
            .after(2),
    ]);
    sm.get_secrets(vec![]).expect("1st passes");
    sm.get_secrets(vec![]).expect("2nd passes");
    assert!(sm.get_folders().is_ok(), "another endpoint is untouched");
    let e = sm.get_secrets(vec![]).expect_err("3rd fails");
    assert!(
        matches!(&e, KSMRError::DeserializationError(m) if m.contains("502")),
        "{e:?}"
    );
}

#[test]
fn faults_set_at_start_apply_to_binding() {
    let emu = start(EmulatorConfig {
        faults: vec![FaultRule::parse("throttle=0.02,endpoint=get_secret,times=1").unwrap()],
        ..demo_config()
    });
    let mut sm = client(&emu);
    assert_eq!(
        sm.get_secrets(vec![])
            .expect("binds after one throttle")
            .len(),
        8
    );
    assert_eq!(emu.stats().faults_fired, 1);
    assert_eq!(emu.bound_clients(), 1);
}

#[test]
fn every_fault_surfaces_differently() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    let mut seen = vec![];
    for fault in [
        Fault::Throttle { retry_after: 0.01 },
        Fault::HttpStatus(500),
        Fault::DropConnection,
        Fault::SlowBody {
            chunk_delay: Duration::ZERO,
            truncate: true,
        },
    ] {
        emu.set_faults(vec![FaultRule::new(fault.clone())]);
        let e = sm.get_secrets(vec![]).expect_err("fault");
        let kind = format!("{:?}", std::mem::discriminant(&e));
        let text = e.to_string();
        seen.push((fault, kind, text));
        emu.set_faults(vec![]);
    }
    for i in 0..seen.len() {
        for j in i + 1..seen.len() {
            assert_ne!(
                seen[i].2, seen[j].2,
                "{:?} and {:?} look the same",
                seen[i].0, seen[j].0
            );
        }
    }
}

#[test]
fn lost_reply_means_the_write_happened_but_the_client_saw_an_error() {
    let emu = start_demo();
    let mut sm = bound_client(&emu);
    emu.set_faults(vec![
        FaultRule::new(Fault::LoseReply)
            .on("create_secret")
            .times(1),
    ]);
    let before = emu.records().len();
    let rc =
        keeper_secrets_manager_core::dto::dtos::RecordCreate::new("login", "maybe written", None);
    let e = sm
        .create_secret("KeeperDbStorageFolder1", rc)
        .expect_err("reply lost");
    assert!(
        matches!(&e, KSMRError::SecretManagerCreationError(m) if m.contains("error sending request for url")),
        "{e:?}"
    );
    let after = emu.records();
    assert_eq!(
        after.len(),
        before + 1,
        "the record exists although the client got an error"
    );
    assert!(after.iter().any(|r| r.title == "maybe written"));
}
