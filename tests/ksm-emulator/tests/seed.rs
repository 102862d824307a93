//! Seed files: the demo seed is complete, and bad seeds are refused with errors naming the
//! problem. (No network: a bad seed fails before anything listens.)

use keeperdb_ksm_emulator::{Emulator, EmulatorConfig, EmulatorError, Seed};

fn start_err(json: &str) -> String {
    let seed = match Seed::from_json(json) {
        Ok(s) => s,
        Err(e) => return e.to_string(),
    };
    match Emulator::start(EmulatorConfig {
        seed,
        ..EmulatorConfig::default()
    }) {
        Ok(_) => panic!("seed should be refused: {json}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn demo_seed_has_what_the_docs_promise() {
    let s = Seed::demo();
    let types: Vec<&str> = s.records.iter().map(|r| r.record_type.as_str()).collect();
    for t in ["databaseCredentials", "pamDatabase", "pamUser", "login"] {
        assert!(types.contains(&t), "{t}");
    }
    let names: Vec<&str> = s.folders.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"KeeperDB Storage"));
    assert!(s.folders.iter().any(|f| f.parent.is_some()), "a subfolder");
    assert!(
        s.records
            .iter()
            .any(|r| r.custom.iter().any(|c| c["label"] == "keeperdb_local_id"))
    );
    assert_eq!(s.apps.len(), 2);
}

#[test]
fn bad_seeds_name_what_is_wrong() {
    let cases = [
        (r#"{"records":[{"title":"x"}]}"#, "missing field `type`"),
        (r#"{"recods":[]}"#, "unknown field `recods`"),
        (
            r#"{"folders":[{"name":"A"},{"name":"A"}],"records":[{"type":"login","title":"t","folder":"A"}]}"#,
            "used by more than one folder",
        ),
        (
            r#"{"records":[{"type":"login","title":"t","folder":"Nowhere"}]}"#,
            "no folder with uid or name \"Nowhere\"",
        ),
        (r#"{"folders":[{"name":"A","parent":"B"}]}"#, "\"B\""),
        (
            r#"{"folders":[{"uid":"has space","name":"A"}]}"#,
            "uid \"has space\"",
        ),
        (
            r#"{"folders":[{"uid":"Same","name":"A"},{"uid":"Same","name":"B"}]}"#,
            "already used",
        ),
        (
            r#"{"records":[{"type":"login","title":"t","fields":[{"value":[]}]}]}"#,
            "fields[0] needs a string \"type\"",
        ),
        (
            r#"{"records":[{"type":"login","title":"t","custom":[{"type":"text","value":"x"}]}]}"#,
            "custom[0]",
        ),
        (
            r#"{"records":[{"type":"login","title":"t","links":[{"record":"ghost"}]}]}"#,
            "no record with uid or title \"ghost\"",
        ),
        (
            r#"{"folders":[{"name":"A"},{"name":"S","parent":"A"}],"apps":[{"name":"x","shared_folders":["S"]}]}"#,
            "is a subfolder",
        ),
        (r#"{"apps":[{"name":"x"},{"name":"x"}]}"#, "used twice"),
        (
            r#"{"records":[{"type":"login","title":"t","files":[{"name":"f","content":"a","content_base64":"YQ=="}]}]}"#,
            "exactly one of content",
        ),
        (
            r#"{"records":[{"type":"login","title":"t","files":[{"name":"f","content_base64":"%%"}]}]}"#,
            "not base64",
        ),
    ];
    for (json, want) in cases {
        let e = start_err(json);
        assert!(
            e.contains("bad seed") && e.contains(want),
            "{json}\n  gave: {e}\n  want: {want}"
        );
    }
}

#[test]
fn tokens_are_issued_only_for_known_apps() {
    let emu = Emulator::start(EmulatorConfig {
        seed: Seed::demo(),
        ..EmulatorConfig::default()
    })
    .unwrap();
    assert!(matches!(
        emu.issue_token("nope"),
        Err(EmulatorError::UnknownApp(_))
    ));
    let t1 = emu.issue_token("keeperdb").unwrap();
    let t2 = emu.issue_token("keeperdb").unwrap();
    assert_ne!(t1, t2);
    let tok = t1.strip_prefix("ksm.test:").expect("host prefix");
    assert_eq!(tok.len(), 43, "32 bytes, url-safe base64 without padding");
    assert!(
        tok.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[test]
fn corrupt_persisted_state_is_refused_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{ not json").unwrap();
    let e = Emulator::start(EmulatorConfig {
        persist_path: Some(state.clone()),
        ..EmulatorConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("persisted emulator state is unusable"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{ not json",
        "the file is left alone"
    );
}
