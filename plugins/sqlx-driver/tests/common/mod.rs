//! Loading the real driver library through the host's loader, and connecting to the test
//! servers started by `cargo xtask services start` (or `cargo xtask test`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, RecordBatchReader};
use arrow_schema::ArrowError;
use keeperdb_model::connection::Connection;
use keeperdb_model::credentials::Credentials;
use keeperdb_model::driver::{
    CatalogRequest, ConnectRequest, Driver, DriverConnection, DriverError, StatementResult,
};
use keeperdb_model::manifest::sha256_hex;
use keeperdb_model::url::parse_connection_url;

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
                "id = \"sqlx-driver\"\nversion = \"0.1.0\"\nkind = \"driver\"\napi = \"^0.4\"\npayload = \"libkeeperdb_sqlx_driver.so\"\nsha256 = \"{}\"\n",
                sha256_hex(&bytes)
            ),
        )
        .unwrap();
        dir
    });
    keeperdb_driver_host::load(dir.path()).expect("the sqlx driver loads")
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
    let creds = Credentials::new(parsed.connection.spec.user.clone(), parsed.password);
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
                    return keeperdb_driver_host::driver_error_of(&e)
                        .cloned()
                        .unwrap_or_else(|| panic!("not a driver error: {e}"));
                }
            }
            panic!("`{sql}` succeeded")
        }
        Ok(StatementResult::Done { .. }) => panic!("`{sql}` succeeded"),
    }
}

/// Start a statement that must return rows; its rows, unread.
pub fn start_rows(conn: &mut dyn DriverConnection, sql: &str) -> Box<dyn RecordBatchReader + Send> {
    match conn.execute(sql) {
        Ok(StatementResult::Rows(r)) => r,
        Ok(StatementResult::Done { .. }) => panic!("`{sql}` returned no rows"),
        Err(e) => panic!("`{sql}` failed: {e} ({:?})", e.kind),
    }
}

/// Every page of a result.
pub fn pages(reader: Box<dyn RecordBatchReader + Send>) -> Vec<RecordBatch> {
    reader.map(|b| b.expect("page")).collect()
}

pub fn total_rows(pages: &[RecordBatch]) -> usize {
    pages.iter().map(RecordBatch::num_rows).sum()
}

/// Read on until the rows end; the error they end with, if any.
pub fn error_at_end(reader: &mut dyn RecordBatchReader) -> Option<ArrowError> {
    for page in reader {
        if let Err(e) = page {
            return Some(e);
        }
    }
    None
}

/// A catalog answer's rows.
pub fn catalog(conn: &mut dyn DriverConnection, request: &CatalogRequest) -> RecordBatch {
    match conn.catalog(request) {
        Ok(StatementResult::Rows(r)) => collect(r),
        Ok(StatementResult::Done { .. }) => panic!("{request:?} returned no rows"),
        Err(e) => panic!("{request:?} failed: {e}"),
    }
}

pub fn col<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_ref()
}

/// The non-null values of a text column.
pub fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Vec<&'a str> {
    col(batch, name)
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect()
}

/// The engine's type name the driver gave a column (`keeperdb.type`); empty if none.
pub fn engine_type(batch: &RecordBatch, name: &str) -> String {
    let schema = batch.schema();
    let field = schema.field_with_name(name).unwrap();
    field
        .metadata()
        .get("keeperdb.type")
        .cloned()
        .unwrap_or_default()
}

/// Cancel from another thread, repeating until the statement has ended (a cancel that lands
/// before the statement starts is, rightly, a no-op). The error, after checking that it came
/// well before `sql` (a 30 s sleep) could have ended by itself: a cancel that missed the
/// server would only fail once the sleep was over.
pub fn cancel_while_running(conn: &mut dyn DriverConnection, sql: &str) -> DriverError {
    let started = std::time::Instant::now();
    let err = cancel_repeatedly(conn, sql);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "`{sql}` took {took:?} to end after a cancel: the cancel did not stop it on the server ({err:?})"
    );
    err
}

fn cancel_repeatedly(conn: &mut dyn DriverConnection, sql: &str) -> DriverError {
    let canceller = conn.canceller();
    let finished = Arc::new(AtomicBool::new(false));
    let flag = finished.clone();
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(300));
            if !flag.load(Ordering::SeqCst) {
                canceller.cancel().expect("cancel request accepted");
            }
        }
    });
    let err = expect_error(conn, sql);
    finished.store(true, Ordering::SeqCst);
    thread.join().unwrap();
    err
}

// Connection failures every server engine must report the same way. Each connects to the
// test server named by the env var `var`, changed as said, and returns the refusal.

pub const WRONG_PASSWORD: &str = "Wr0ng-Passw0rd-xyz";

fn refused(c: &Connection, creds: &Credentials, timeout: Duration) -> DriverError {
    connect_with(c, creds, timeout).err().expect("refused")
}

/// The right user with a wrong password ([`WRONG_PASSWORD`]).
pub fn wrong_password_error(var: &str) -> DriverError {
    let (c, _) = from_url(&service_url(var));
    let creds = Credentials::new(c.spec.user.clone(), Some(WRONG_PASSWORD.to_string().into()));
    refused(&c, &creds, Duration::from_secs(10))
}

/// The right user with the given wrong password.
pub fn refused_with_password(var: &str, password: &str) -> DriverError {
    let (c, _) = from_url(&service_url(var));
    let creds = Credentials::new(c.spec.user.clone(), Some(password.to_string().into()));
    refused(&c, &creds, Duration::from_secs(10))
}

/// Wrong passwords whose text occurs in the message anyway (the user name, parts of words):
/// the message must say what the server said, nothing masked, since masking their text
/// wherever it occurs would show the password.
pub fn assert_no_mask_reveals_the_password(var: &str, user: &str, words: &str) {
    for password in [user, "e", "a", words] {
        let err = refused_with_password(var, password);
        assert!(
            !err.message.contains("***"),
            "password {password:?}: {}",
            err.message
        );
        assert!(err.message.contains(user), "{}", err.message);
        assert!(err.message.contains(words), "{}", err.message);
    }
}

/// A loopback port nobody listens on.
pub fn closed_port_error(var: &str) -> DriverError {
    let (mut c, creds) = from_url(&service_url(var));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    c.spec.port = Some(closed.local_addr().unwrap().port());
    drop(closed);
    refused(&c, &creds, Duration::from_secs(10))
}

/// A port where the kernel accepts the TCP handshake but nobody ever speaks, with a 500 ms
/// connect timeout.
pub fn silent_server_error(var: &str) -> DriverError {
    let (mut c, creds) = from_url(&service_url(var));
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    c.spec.port = Some(silent.local_addr().unwrap().port());
    refused(&c, &creds, Duration::from_millis(500))
}

/// `tls = require` against the test server, which has no TLS (and checks that the same
/// settings with `tls = disable` do connect, so the refusal is about TLS).
pub fn tls_required_error(var: &str) -> DriverError {
    let (mut c, creds) = from_url(&service_url(var));
    c.spec.tls = keeperdb_model::TlsMode::Require;
    let err = refused(&c, &creds, Duration::from_secs(10));
    c.spec.tls = keeperdb_model::TlsMode::Disable;
    connect_with(&c, &creds, Duration::from_secs(10)).expect("plain connection works");
    err
}
