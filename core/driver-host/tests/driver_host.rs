//! The driver loader against real shared libraries built by the workspace (tests/fixtures):
//! good ones load and serve, bad ones are refused with a message naming the problem, panics
//! are contained, and a good driver keeps working beside the bad ones.
//!
//! The fixture libraries must be built first:
//! `cargo build -p keeperdb-fixture-fake-driver -p keeperdb-fixture-bad-abi-driver -p keeperdb-fixture-future-api-driver -p keeperdb-fixture-no-entry-driver`
//! (`cargo xtask test` does it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, Int64Array, RecordBatchReader};
use keeperdb_driver_host::{DriverLoadError, driver_error_of};
use keeperdb_model::connection::{Connection, ConnectionId, Engine, Origin, TlsMode};
use keeperdb_model::credentials::Credentials;
use keeperdb_model::driver::{
    CatalogRequest, ConnectRequest, Driver, DriverConnection, DriverErrorKind, StatementResult,
};
use keeperdb_model::manifest::{ManifestError, sha256_hex};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn fixture(crate_name: &str) -> Vec<u8> {
    let file = format!("lib{}.so", crate_name.replace('-', "_"));
    let path = target_dir().join("debug").join(&file);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): build the fixtures with `cargo build -p {crate_name}` or run `cargo xtask test`",
            path.display()
        )
    })
}

/// A plugin directory holding `bytes` as its library, with a manifest naming `sha`.
fn plugin_dir(id: &str, bytes: &[u8], api: &str, kind: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libdriver.so"), bytes).unwrap();
    std::fs::write(
        dir.path().join("plugin.toml"),
        format!(
            "id = \"{id}\"\nversion = \"0.1.0\"\nkind = \"{kind}\"\napi = \"{api}\"\npayload = \"libdriver.so\"\nsha256 = \"{}\"\n",
            sha256_hex(bytes)
        ),
    )
    .unwrap();
    dir
}

fn fake() -> Arc<dyn Driver> {
    let dir = plugin_dir(
        "fake",
        &fixture("keeperdb-fixture-fake-driver"),
        "^0.1",
        "driver",
    );
    keeperdb_driver_host::load(dir.path()).expect("the fake driver loads")
}

fn connection(database: &str) -> Connection {
    Connection {
        id: ConnectionId::from_string("t"),
        spec: keeperdb_model::ConnectionSpec {
            name: "t".into(),
            engine: Engine::SQLITE,
            host: None,
            port: None,
            database: Some(database.into()),
            user: None,
            tls: TlsMode::Disable,
            read_only: false,
            environment: None,
            color: None,
            options: BTreeMap::new(),
        },
        origin: Origin::local(),
    }
}

fn connect(
    driver: &dyn Driver,
    database: &str,
) -> Result<Box<dyn DriverConnection>, keeperdb_model::driver::DriverError> {
    let c = connection(database);
    let creds = Credentials::none();
    driver.connect(&ConnectRequest {
        connection: &c,
        credentials: &creds,
        connect_timeout: Duration::from_secs(5),
    })
}

fn rows(result: StatementResult) -> Box<dyn RecordBatchReader + Send> {
    match result {
        StatementResult::Rows(r) => r,
        StatementResult::Done { .. } => panic!("expected rows"),
    }
}

/// The good driver still answers: the host kept working.
fn assert_fake_still_works() {
    let driver = fake();
    let mut conn = connect(driver.as_ref(), "ok").unwrap();
    let total: usize = rows(conn.execute("rows 10").unwrap())
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(total, 10);
}

#[test]
fn a_good_driver_serves_rows_in_pages_done_and_errors() {
    let driver = fake();
    assert_eq!(driver.id(), "fake");
    // Engine ids are open: one keeperdb has no constant for is served like any other.
    assert_eq!(
        driver.engines(),
        &[Engine::SQLITE, "no-such-engine".parse::<Engine>().unwrap()]
    );
    let mut conn = connect(driver.as_ref(), "ok").unwrap();

    let reader = rows(conn.execute("rows 2500").unwrap());
    assert_eq!(reader.schema().field(0).name(), "n");
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        vec![1000, 1000, 500]
    );
    let last = batches[2]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(last.value(499), 2499);

    match conn.execute("done").unwrap() {
        StatementResult::Done { rows_affected } => assert_eq!(rows_affected, 7),
        StatementResult::Rows(_) => panic!("expected done"),
    }

    let Err(err) = conn.execute("SELEC 1") else {
        panic!("expected an error")
    };
    assert_eq!(err.kind, DriverErrorKind::Query);
    assert_eq!(err.code.as_deref(), Some("42601"));
    assert!(err.message.contains("SELEC 1"), "{}", err.message);

    let catalog = rows(conn.catalog(&CatalogRequest::Databases).unwrap());
    assert_eq!(catalog.map(|b| b.unwrap().num_rows()).sum::<usize>(), 3);
    conn.canceller().cancel().unwrap();
}

#[test]
fn loading_the_same_plugin_twice_gives_the_same_driver() {
    let a = fake();
    let b = fake();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn the_password_reaches_the_driver_apart_from_the_parameters() {
    let driver = fake();
    let c = connection("need-password");
    let wrong = Credentials::new(None, Some("wrong".to_string().into()));
    let err = driver
        .connect(&ConnectRequest {
            connection: &c,
            credentials: &wrong,
            connect_timeout: Duration::from_secs(1),
        })
        .err()
        .expect("wrong password refused");
    assert_eq!(err.kind, DriverErrorKind::Auth);
    assert_eq!(err.code.as_deref(), Some("28P01"));
    // The fake refuses a password it also finds in the connection parameters.
    let right = Credentials::new(None, Some("right".to_string().into()));
    driver
        .connect(&ConnectRequest {
            connection: &c,
            credentials: &right,
            connect_timeout: Duration::from_secs(1),
        })
        .expect("right password accepted, and absent from the parameters");
    // ...which it does notice: the same password put in an option is caught.
    let mut leaky = c.clone();
    leaky.spec.options.insert("note".into(), "right".into());
    let err = driver
        .connect(&ConnectRequest {
            connection: &leaky,
            credentials: &right,
            connect_timeout: Duration::from_secs(1),
        })
        .err()
        .expect("a password inside the parameters is refused");
    assert!(
        err.message.contains("inside the connection parameters"),
        "{}",
        err.message
    );
}

#[test]
fn a_panic_in_connect_is_contained() {
    let driver = fake();
    let err = connect(driver.as_ref(), "panic")
        .err()
        .expect("panic reported as an error");
    assert_eq!(err.kind, DriverErrorKind::Internal);
    assert!(
        err.message.contains("panicked in connect"),
        "{}",
        err.message
    );
    assert!(err.message.contains("boom in connect"), "{}", err.message);
    assert_fake_still_works();
}

#[test]
fn a_panic_in_execute_is_contained() {
    let driver = fake();
    let mut conn = connect(driver.as_ref(), "ok").unwrap();
    let Err(err) = conn.execute("panic") else {
        panic!("expected an error")
    };
    assert_eq!(err.kind, DriverErrorKind::Internal);
    assert!(err.message.contains("boom in execute"), "{}", err.message);
    // The same connection keeps working.
    assert_eq!(
        rows(conn.execute("rows 5").unwrap())
            .map(|b| b.unwrap().num_rows())
            .sum::<usize>(),
        5
    );
}

#[test]
fn a_panic_while_streaming_rows_is_contained() {
    let driver = fake();
    let mut conn = connect(driver.as_ref(), "ok").unwrap();
    let mut reader = rows(conn.execute("panic-next-after 2000").unwrap());
    assert_eq!(reader.next().unwrap().unwrap().num_rows(), 1000);
    assert_eq!(reader.next().unwrap().unwrap().num_rows(), 1000);
    let err = reader.next().unwrap().unwrap_err();
    let driver_err = driver_error_of(&err).expect("a driver error");
    assert_eq!(driver_err.kind, DriverErrorKind::Internal);
    assert!(
        driver_err.message.contains("boom in next"),
        "{}",
        driver_err.message
    );
    // After a panic the reader ends instead of touching the broken state again.
    assert!(reader.next().is_none());
    drop(reader);
    assert_fake_still_works();
}

#[test]
fn errors_while_streaming_keep_their_kind_and_code() {
    let driver = fake();
    let mut conn = connect(driver.as_ref(), "ok").unwrap();
    let mut reader = rows(conn.execute("error-after 1000").unwrap());
    assert!(reader.next().unwrap().is_ok());
    let err = reader.next().unwrap().unwrap_err();
    let driver_err = driver_error_of(&err).expect("a driver error");
    assert_eq!(driver_err.kind, DriverErrorKind::Cancelled);
    assert_eq!(driver_err.code.as_deref(), Some("57014"));
    assert_eq!(
        driver_err.message,
        "canceling statement due to user request"
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_refused() {
    let dir = plugin_dir(
        "no-entry",
        &fixture("keeperdb-fixture-no-entry-driver"),
        "^0.1",
        "driver",
    );
    let err = keeperdb_driver_host::load(dir.path())
        .err()
        .expect("refused");
    assert!(
        matches!(err, DriverLoadError::MissingSymbol { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("keeperdb_driver_init") && text.contains("no-entry"),
        "{text}"
    );
    assert_fake_still_works();
}

#[test]
fn a_driver_of_another_abi_major_is_refused() {
    let dir = plugin_dir(
        "future",
        &fixture("keeperdb-fixture-bad-abi-driver"),
        "^0.1",
        "driver",
    );
    let err = keeperdb_driver_host::load(dir.path())
        .err()
        .expect("refused");
    assert!(
        matches!(
            err,
            DriverLoadError::AbiMismatch {
                found_major: 99,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("ABI 99.0") && text.contains("future"),
        "{text}"
    );
    assert_fake_still_works();
}

#[test]
fn a_tampered_library_is_refused_before_loading() {
    let bytes = fixture("keeperdb-fixture-fake-driver");
    let dir = plugin_dir("tampered", &bytes, "^0.1", "driver");
    let mut evil = bytes.clone();
    let last = evil.len() - 1;
    evil[last] ^= 0xff;
    std::fs::write(dir.path().join("libdriver.so"), &evil).unwrap();
    let err = keeperdb_driver_host::load(dir.path())
        .err()
        .expect("refused");
    assert!(
        matches!(
            err,
            DriverLoadError::Manifest(ManifestError::HashMismatch { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("tampered"), "{err}");
    assert_fake_still_works();
}

#[test]
fn a_driver_needing_another_host_api_is_refused() {
    let dir = plugin_dir(
        "too-new",
        &fixture("keeperdb-fixture-fake-driver"),
        "^2.0",
        "driver",
    );
    let err = keeperdb_driver_host::load(dir.path())
        .err()
        .expect("refused");
    assert!(
        matches!(
            err,
            DriverLoadError::Manifest(ManifestError::IncompatibleApi { .. })
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("^2.0") && text.contains("0.1.0"), "{text}");
}

#[test]
fn a_plugin_of_another_kind_is_not_loaded_as_a_driver() {
    let dir = plugin_dir(
        "src",
        &fixture("keeperdb-fixture-fake-driver"),
        "^0.1",
        "connection-source",
    );
    let err = keeperdb_driver_host::load(dir.path())
        .err()
        .expect("refused");
    assert!(matches!(err, DriverLoadError::NotADriver { .. }), "{err}");
}

#[test]
fn a_file_that_is_not_a_shared_library_is_refused() {
    let dir = plugin_dir("garbage", b"\x7fELF but not really", "^0.1", "driver");
    let err = keeperdb_driver_host::load(dir.path())
        .err()
        .expect("refused");
    assert!(matches!(err, DriverLoadError::Open { .. }), "{err}");
    assert!(err.to_string().contains("garbage"), "{err}");
}

#[test]
fn a_missing_manifest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = keeperdb_driver_host::load(dir.path())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("plugin.toml"), "{err}");
}

#[test]
fn a_manifest_declaring_an_engine_the_driver_does_not_serve_is_refused() {
    let bytes = fixture("keeperdb-fixture-fake-driver");
    // A different id from the other tests: a driver library is loaded once per id and hash.
    let dir = plugin_dir("fake-declares", &bytes, "^0.1", "driver");
    let manifest = dir.path().join("plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(
        "\n[[engines]]\nid = \"sqlite\"\n\n[[engines]]\nid = \"oracle\"\ndefault_port = 1521\n",
    );
    std::fs::write(&manifest, text).unwrap();
    let err = keeperdb_driver_host::load(dir.path())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("declares engine `oracle`")
            && err.contains("serves only sqlite, no-such-engine"),
        "{err}"
    );
}

#[test]
fn a_driver_built_for_another_host_api_is_refused_whatever_its_manifest_claims() {
    // The manifest claims ^0.1; the table header says the code was built for 0.9.
    let dir = plugin_dir(
        "built-for-later",
        &fixture("keeperdb-fixture-future-api-driver"),
        "^0.1",
        "driver",
    );
    let err = keeperdb_driver_host::load(dir.path())
        .err()
        .expect("refused");
    assert!(
        matches!(&err, DriverLoadError::BuiltForOtherApi { built, .. } if built == "0.9.0"),
        "{err}"
    );
    assert!(err.to_string().contains("serves 0.1.0"), "{err}");
    assert_fake_still_works();
}
