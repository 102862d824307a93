//! A newly installed driver that serves an engine another driver serves takes nothing over:
//! installing says so, `plugins prefer` switches, the choice lasts, removing the chosen driver
//! falls back, and a bad choice is refused with nothing changed. Against real shared libraries:
//! the bundled sqlx driver and the fake driver fixture (which serves `sqlite` and
//! `no-such-engine`, answers `rows N`, and refuses SQL such as `SELECT 7`).
//!
//! Needs the fixture built (`cargo build -p keeperdb-fixture-fake-driver`) and the drivers
//! packed (`cargo xtask pack-drivers`).

mod query_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use keeperdb_core::manifest::sha256_hex;
use query_support::*;

fn out_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn err_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The fake driver library, built beside the keeperdb binary.
fn fake_library() -> Vec<u8> {
    let path = Path::new(env!("CARGO_BIN_EXE_keeperdb"))
        .parent()
        .unwrap()
        .join("libkeeperdb_fixture_fake_driver.so");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): build it with `cargo build -p keeperdb-fixture-fake-driver`",
            path.display()
        )
    })
}

/// An unsigned driver package of the fake library with this id; `declare` writes its engines
/// into the manifest, else the host learns them from the library.
fn fake_package(parent: &Path, id: &str, declare: bool) -> PathBuf {
    let dir = parent.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = fake_library();
    std::fs::write(dir.join("libfake.so"), &bytes).unwrap();
    let mut manifest = format!(
        "id = \"{id}\"\nversion = \"0.1.0\"\nkind = \"driver\"\napi = \"^0.4\"\npayload = \"libfake.so\"\nsha256 = \"{}\"\n",
        sha256_hex(&bytes)
    );
    if declare {
        manifest
            .push_str("\n[[engines]]\nid = \"sqlite\"\n\n[[engines]]\nid = \"no-such-engine\"\n");
    }
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    dir
}

fn sqlite_file(dir: &Path) -> String {
    let db = dir.join("choice.db");
    native(
        "sqlite3",
        &[db.to_str().unwrap(), "CREATE TABLE t (a)"],
        &[],
    );
    db.to_str().unwrap().to_string()
}

fn state_file(kdb: &Kdb) -> PathBuf {
    kdb.config.path().join("plugins").join("plugins.toml")
}

/// `SELECT 7 AS a` answers only through the sqlx driver, `rows 2` only through the fake one.
fn assert_served_by_sqlx(kdb: &Kdb, db: &str, when: &str) {
    let out = kdb.run(&["query", db, "SELECT 7 AS a", "--format", "csv"]);
    assert_success(&out, when);
    assert_eq!(out_text(&out), "a\n7\n", "{when}");
}

fn assert_served_by_fake(kdb: &Kdb, db: &str, when: &str) {
    let out = kdb.run(&["query", db, "rows 2", "--format", "csv"]);
    assert_success(&out, when);
    assert_eq!(out_text(&out), "n\n0\n1\n", "{when}");
}

fn listed(kdb: &Kdb) -> Vec<serde_json::Value> {
    let out = kdb.run(&["plugins", "list", "--json"]);
    assert_success(&out, "plugins list --json");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn engine_row(rows: &[serde_json::Value], id: &str, engine: &str) -> serde_json::Value {
    let row = rows
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {rows:?}"));
    row["engines"]
        .as_array()
        .unwrap_or_else(|| panic!("{id} lists no engines: {row}"))
        .iter()
        .find(|e| e["engine"] == engine)
        .unwrap_or_else(|| panic!("{id} does not list {engine}: {row}"))
        .clone()
}

#[test]
fn a_second_driver_for_a_served_engine_is_used_only_once_chosen_and_removing_it_falls_back() {
    let kdb = Kdb::new();
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_file(tmp.path());
    assert_served_by_sqlx(&kdb, &db, "before any install");

    // Engines learned from the library: the manifest declares none.
    let pkg = fake_package(tmp.path(), "fake-driver", false);
    let install = kdb.run(&[
        "plugins",
        "install",
        pkg.to_str().unwrap(),
        "--allow",
        "--trust-publisher",
    ]);
    assert_success(&install, "plugins install fake-driver");
    let said = out_text(&install);
    assert!(
        said.contains("`fake-driver` also serves sqlite, which `sqlx-driver` serves now")
            && said.contains("keeperdb plugins prefer fake-driver --engine sqlite"),
        "{said}"
    );
    assert!(said.contains("It serves no-such-engine."), "{said}");
    assert_served_by_sqlx(&kdb, &db, "after installing another sqlite driver");

    let rows = listed(&kdb);
    let fake_sqlite = engine_row(&rows, "fake-driver", "sqlite");
    assert_eq!(fake_sqlite["in_use"], false, "{fake_sqlite}");
    assert_eq!(fake_sqlite["served_by"], "sqlx-driver");
    assert_eq!(
        engine_row(&rows, "fake-driver", "no-such-engine")["in_use"],
        true
    );
    assert_eq!(engine_row(&rows, "sqlx-driver", "sqlite")["in_use"], true);
    let table = out_text(&kdb.run(&["plugins", "list"]));
    assert!(
        table.contains("sqlite (not used: `sqlx-driver` serves it)"),
        "{table}"
    );

    let prefer = kdb.run(&["plugins", "prefer", "fake-driver", "--engine", "sqlite"]);
    assert_success(&prefer, "plugins prefer");
    assert!(
        out_text(&prefer).contains("sqlite is served by `fake-driver` now (was `sqlx-driver`)"),
        "{}",
        out_text(&prefer)
    );
    // Every command is a new process: the choice was kept in the plugin state.
    assert_served_by_fake(&kdb, &db, "after choosing the fake driver");
    let state = std::fs::read_to_string(state_file(&kdb)).unwrap();
    assert!(state.contains("sqlite = \"fake-driver\""), "{state}");
    let info = out_text(&kdb.run(&["plugins", "info", "fake-driver"]));
    assert!(
        info.contains("engines:      sqlite, no-such-engine"),
        "{info}"
    );
    assert_eq!(
        engine_row(&listed(&kdb), "sqlx-driver", "sqlite")["in_use"],
        false
    );

    // Disabled, its engines go back to the other driver; enabled, the choice holds again.
    assert_success(
        &kdb.run(&["plugins", "disable", "fake-driver"]),
        "plugins disable",
    );
    assert_served_by_sqlx(&kdb, &db, "with the chosen driver disabled");
    assert_success(
        &kdb.run(&["plugins", "enable", "fake-driver"]),
        "plugins enable",
    );
    assert_served_by_fake(&kdb, &db, "with the chosen driver enabled again");

    let remove = kdb.run(&["plugins", "remove", "fake-driver"]);
    assert_success(&remove, "plugins remove");
    let said = out_text(&remove);
    assert!(
        said.contains("sqlite is served by `sqlx-driver` now")
            && said.contains("no driver serves no-such-engine now"),
        "{said}"
    );
    assert_served_by_sqlx(&kdb, &db, "after removing the chosen driver");
    let state = std::fs::read_to_string(state_file(&kdb)).unwrap();
    assert!(!state.contains("fake-driver"), "{state}");

    // Back to the bundled one by choice works too, and a second choice of the same is a no-op.
    let again = kdb.run(&["plugins", "prefer", "sqlx-driver", "--engine", "sqlite3"]);
    assert_success(&again, "plugins prefer sqlx-driver");
    assert!(
        out_text(&again).contains("`sqlx-driver` serves sqlite already"),
        "{}",
        out_text(&again)
    );
}

#[test]
fn the_first_installed_driver_keeps_its_engine_even_when_another_sorts_before_it() {
    let kdb = Kdb::new();
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_file(tmp.path());
    let empty_bundle = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        kdb.cmd()
            .env("KEEPERDB_BUNDLED_PLUGINS_DIR", empty_bundle.path())
            .args(args)
            .output()
            .unwrap()
    };
    let sqlx = plugin_dir().join("sqlx-driver");
    assert_success(
        &run(&["plugins", "install", sqlx.to_str().unwrap(), "--allow"]),
        "install sqlx-driver",
    );
    // `a-fake` comes before `sqlx-driver` by id; it must not win by that.
    let pkg = fake_package(tmp.path(), "a-fake", true);
    let install = run(&[
        "plugins",
        "install",
        pkg.to_str().unwrap(),
        "--allow",
        "--trust-publisher",
    ]);
    assert_success(&install, "install a-fake");
    assert!(
        out_text(&install).contains("`a-fake` also serves sqlite, which `sqlx-driver` serves now"),
        "{}",
        out_text(&install)
    );
    let out = run(&["query", &db, "SELECT 7 AS a", "--format", "csv"]);
    assert_success(&out, "query through the first installed driver");
    assert_eq!(out_text(&out), "a\n7\n");

    let remove = run(&["plugins", "remove", "sqlx-driver"]);
    assert_success(&remove, "remove sqlx-driver");
    assert!(
        out_text(&remove).contains("sqlite is served by `a-fake` now"),
        "{}",
        out_text(&remove)
    );
    let out = run(&["query", &db, "rows 2", "--format", "csv"]);
    assert_success(&out, "query through the remaining driver");
    assert_eq!(out_text(&out), "n\n0\n1\n");
}

#[test]
fn choosing_a_driver_for_a_bad_engine_or_one_it_does_not_serve_is_refused_and_changes_nothing() {
    let kdb = Kdb::new();
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_file(tmp.path());
    let pkg = fake_package(tmp.path(), "fake-driver", true);
    assert_success(
        &kdb.run(&[
            "plugins",
            "install",
            pkg.to_str().unwrap(),
            "--allow",
            "--trust-publisher",
        ]),
        "install",
    );
    let before = std::fs::read_to_string(state_file(&kdb)).unwrap();

    let cases: [(&[&str], &str); 4] = [
        (
            &["fake-driver", "--engine", "Not An Engine!"],
            "is not a database engine id",
        ),
        (
            &["fake-driver", "--engine", "postgres"],
            "driver `fake-driver` does not serve postgres (it serves: sqlite, no-such-engine)",
        ),
        (
            &["no-such-driver", "--engine", "sqlite"],
            "no driver `no-such-driver` is installed or bundled (drivers: sqlx-driver, fake-driver)",
        ),
        (
            &["sqlx-driver", "--engine", "no-such-engine"],
            "driver `sqlx-driver` does not serve no-such-engine",
        ),
    ];
    for (args, expected) in cases {
        let out = kdb.run(&[&["plugins", "prefer"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", err_text(&out));
        assert!(
            err_text(&out).contains(expected),
            "{args:?}: {}",
            err_text(&out)
        );
    }

    assert_success(
        &kdb.run(&["plugins", "disable", "fake-driver"]),
        "plugins disable",
    );
    let out = kdb.run(&["plugins", "prefer", "fake-driver", "--engine", "sqlite"]);
    assert_eq!(out.status.code(), Some(2), "{}", err_text(&out));
    assert!(err_text(&out).contains("is disabled"), "{}", err_text(&out));

    let after = std::fs::read_to_string(state_file(&kdb)).unwrap();
    assert_eq!(
        before.replace("enabled = true", "enabled = false"),
        after,
        "only the disable changed the plugin state"
    );
    assert_served_by_sqlx(&kdb, &db, "after the refused choices");
}
