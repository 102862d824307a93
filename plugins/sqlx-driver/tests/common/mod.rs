//! Loading the real driver library through the host's loader, and connecting to the test
//! servers started by `cargo xtask services start` (or `cargo xtask test`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow_array::{RecordBatch, RecordBatchReader};
use keeperdb_core::credentials::Credentials;
use keeperdb_core::driver::{
    ConnectRequest, Driver, DriverConnection, DriverError, StatementResult,
};
use keeperdb_core::manifest::sha256_hex;
use keeperdb_core::model::Connection;
use keeperdb_core::url::parse_connection_url;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The sqlx driver, loaded from `<target>/debug/libkeeperdb_sqlx_driver.so` with a manifest
/// carrying its real sha256, exactly as an installed plugin.
pub fn driver() -> Arc<dyn Driver> {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let lib = target_dir().join("debug/libkeeperdb_sqlx_driver.so");
        let bytes = std::fs::read(&lib).unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}): build it with `cargo build -p keeperdb-sqlx-driver` or run `cargo xtask test`",
                lib.display()
            )
        });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libkeeperdb_sqlx_driver.so"), &bytes).unwrap();
        std::fs::write(
            dir.path().join("plugin.toml"),
            format!(
                "id = \"sqlx-driver\"\nversion = \"0.1.0\"\nkind = \"driver\"\napi = \"^0.1\"\npayload = \"libkeeperdb_sqlx_driver.so\"\nsha256 = \"{}\"\n",
                sha256_hex(&bytes)
            ),
        )
        .unwrap();
        dir
    });
    keeperdb_core::driver_host::load(dir.path()).expect("the sqlx driver loads")
}

/// A test service URL from the environment; fails (never skips) when it is not set.
pub fn service_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests through `cargo xtask test` (or `cargo xtask services start` and `eval \"$(cargo xtask services env)\"`)")
    })
}

/// A connection and its credentials from a URL.
pub fn from_url(url: &str) -> (Connection, Credentials) {
    let parsed = parse_connection_url(url).expect("test URL parses");
    let creds = Credentials::new(parsed.connection.user.clone(), parsed.password);
    (parsed.connection, creds)
}

pub fn connect_with(
    connection: &Connection,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<Box<dyn DriverConnection>, DriverError> {
    driver().connect(&ConnectRequest {
        connection,
        credentials,
        connect_timeout: timeout,
    })
}

pub fn connect_url(url: &str) -> Box<dyn DriverConnection> {
    let (c, creds) = from_url(url);
    connect_with(&c, &creds, Duration::from_secs(10)).expect("connects to the test server")
}

pub fn pg() -> Box<dyn DriverConnection> {
    connect_url(&service_url("KEEPERDB_TEST_PG_URL"))
}

pub fn maria() -> Box<dyn DriverConnection> {
    connect_url(&service_url("KEEPERDB_TEST_MARIADB_URL"))
}

/// Run a statement and collect its rows into one batch.
pub fn query(conn: &mut dyn DriverConnection, sql: &str) -> RecordBatch {
    match conn.execute(sql) {
        Ok(StatementResult::Rows(reader)) => collect(reader),
        Ok(StatementResult::Done { .. }) => panic!("`{sql}` returned no rows"),
        Err(e) => panic!("`{sql}` failed: {e} ({:?})", e.kind),
    }
}

/// The rows of a small result, which fits in one page.
pub fn collect(reader: Box<dyn RecordBatchReader + Send>) -> RecordBatch {
    let schema = reader.schema();
    let mut batches: Vec<RecordBatch> = reader.map(|b| b.expect("page")).collect();
    match batches.len() {
        0 => RecordBatch::new_empty(schema),
        1 => batches.remove(0),
        n => panic!("expected one page, got {n}"),
    }
}

pub fn exec(conn: &mut dyn DriverConnection, sql: &str) -> u64 {
    match conn.execute(sql) {
        Ok(StatementResult::Done { rows_affected }) => rows_affected,
        Ok(StatementResult::Rows(r)) => {
            r.for_each(drop);
            0
        }
        Err(e) => panic!("`{sql}` failed: {e}"),
    }
}

pub fn expect_error(conn: &mut dyn DriverConnection, sql: &str) -> DriverError {
    match conn.execute(sql) {
        Err(e) => e,
        Ok(StatementResult::Rows(reader)) => {
            for b in reader {
                if let Err(e) = b {
                    return keeperdb_core::driver_host::driver_error_of(&e)
                        .cloned()
                        .unwrap_or_else(|| panic!("not a driver error: {e}"));
                }
            }
            panic!("`{sql}` succeeded")
        }
        Ok(StatementResult::Done { .. }) => panic!("`{sql}` succeeded"),
    }
}
