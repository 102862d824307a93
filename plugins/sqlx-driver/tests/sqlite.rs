//! The sqlx driver on real SQLite files (no server needed).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use common::*;
use keeperdb_core::driver::{CatalogRequest, DriverConnection, DriverErrorKind, StatementResult};
use keeperdb_core::model::{Connection, ConnectionId, Engine, Origin, TlsMode};

fn sqlite_connection(path: &std::path::Path, create: bool, read_only: bool) -> Connection {
    let mut options = BTreeMap::new();
    if create {
        options.insert("create".to_string(), "true".to_string());
    }
    Connection {
        id: ConnectionId::from_string("lite"),
        name: "lite".into(),
        engine: Engine::Sqlite,
        host: None,
        port: None,
        database: Some(path.display().to_string()),
        user: None,
        tls: TlsMode::Disable,
        read_only,
        environment: None,
        color: None,
        options,
        origin: Origin::local(),
    }
}

fn open(path: &std::path::Path, create: bool, read_only: bool) -> Box<dyn DriverConnection> {
    connect_with(
        &sqlite_connection(path, create, read_only),
        &keeperdb_core::Credentials::none(),
        Duration::from_secs(5),
    )
    .expect("opens the SQLite file")
}

fn col<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_ref()
}

#[test]
fn values_keep_their_types_and_null_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("t.db"), true, false);
    exec(
        conn.as_mut(),
        "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n NUMERIC)",
    );
    assert_eq!(
        exec(
            conn.as_mut(),
            "INSERT INTO t VALUES (9223372036854775807, 2.25, '', X'DEADBEEF', 0.99), \
             (-1, NULL, NULL, NULL, 3)"
        ),
        2
    );
    let b = query(conn.as_mut(), "SELECT * FROM t ORDER BY i DESC");
    assert_eq!(col(&b, "i").as_primitive::<Int64Type>().value(0), i64::MAX);
    assert_eq!(col(&b, "r").as_primitive::<Float64Type>().value(0), 2.25);
    assert!(col(&b, "r").is_null(1));
    let s = col(&b, "s").as_string::<i32>();
    assert!(s.is_valid(0) && s.value(0).is_empty());
    assert!(s.is_null(1));
    assert_eq!(
        col(&b, "b").as_binary::<i32>().value(0),
        [0xde, 0xad, 0xbe, 0xef]
    );
    // A NUMERIC column holding 0.99 and 3 reads as numbers, not text.
    assert_eq!(col(&b, "n").data_type(), &DataType::Float64);
    assert_eq!(col(&b, "n").as_primitive::<Float64Type>().value(0), 0.99);
    let type_of = |name: &str| {
        b.schema()
            .field_with_name(name)
            .unwrap()
            .metadata()
            .get("keeperdb.type")
            .cloned()
    };
    assert_eq!(type_of("i").as_deref(), Some("INTEGER"));
    assert_eq!(type_of("n").as_deref(), Some("REAL"));
    // Expressions without a declared type take the type of their values.
    let b = query(
        conn.as_mut(),
        "SELECT count(*) AS c, 'x' || 'y' AS s FROM t",
    );
    assert_eq!(col(&b, "c").as_primitive::<Int64Type>().value(0), 2);
    assert_eq!(col(&b, "s").as_string::<i32>().value(0), "xy");
}

#[test]
fn a_missing_file_is_a_connection_error_unless_asked_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let err = connect_with(
        &sqlite_connection(&path, false, false),
        &keeperdb_core::Credentials::none(),
        Duration::from_secs(5),
    )
    .err()
    .expect("refused");
    assert_eq!(err.kind, DriverErrorKind::Connection, "{}", err.message);
    assert!(err.message.contains("absent.db"), "{}", err.message);
    assert!(!path.exists(), "the driver created the file");
}

#[test]
fn a_read_only_file_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    exec(
        open(&path, true, false).as_mut(),
        "CREATE TABLE t (id INTEGER)",
    );
    let mut ro = open(&path, false, true);
    let err = expect_error(ro.as_mut(), "INSERT INTO t VALUES (1)");
    assert_eq!(err.kind, DriverErrorKind::Query, "{}", err.message);
    assert!(err.message.contains("readonly"), "{}", err.message);
}

#[test]
fn a_syntax_error_is_a_query_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("e.db"), true, false);
    let err = expect_error(conn.as_mut(), "SELEC 1");
    assert_eq!(err.kind, DriverErrorKind::Query);
    assert!(err.message.contains("syntax error"), "{}", err.message);
}

#[test]
fn large_results_stream_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("big.db"), true, false);
    let reader = match conn
        .execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000) SELECT x FROM c")
        .unwrap()
    {
        StatementResult::Rows(r) => r,
        StatementResult::Done { .. } => panic!("rows expected"),
    };
    let mut rows = 0;
    let mut pages = 0;
    for b in reader {
        rows += b.unwrap().num_rows();
        pages += 1;
    }
    assert_eq!(rows, 30_000);
    assert!(pages > 1);
}

#[test]
fn cancel_interrupts_a_long_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("slow.db"), true, false);
    let canceller = conn.canceller();
    let finished = Arc::new(AtomicBool::new(false));
    let flag = finished.clone();
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
            if !flag.load(Ordering::SeqCst) {
                canceller.cancel().expect("cancel accepted");
            }
        }
    });
    let err = expect_error(
        conn.as_mut(),
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    );
    finished.store(true, Ordering::SeqCst);
    thread.join().unwrap();
    assert_eq!(err.kind, DriverErrorKind::Cancelled, "{}", err.message);
    let b = query(conn.as_mut(), "SELECT 1 AS one");
    assert_eq!(b.num_rows(), 1);
}

#[test]
fn the_catalog_lists_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("cat.db"), true, false);
    exec(
        conn.as_mut(),
        "CREATE TABLE artist (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x')",
    );
    let rows = |r: StatementResult| match r {
        StatementResult::Rows(r) => collect(r),
        StatementResult::Done { .. } => panic!("rows expected"),
    };
    let dbs = rows(conn.catalog(&CatalogRequest::Databases).unwrap());
    assert_eq!(dbs.column(0).as_string::<i32>().value(0), "main");
    let tables = rows(
        conn.catalog(&CatalogRequest::Tables { schema: None })
            .unwrap(),
    );
    assert_eq!(col(&tables, "name").as_string::<i32>().value(0), "artist");
    let cols = rows(
        conn.catalog(&CatalogRequest::Columns {
            schema: None,
            table: "artist".into(),
        })
        .unwrap(),
    );
    let names: Vec<&str> = col(&cols, "name")
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(names, ["id", "name"]);
    assert_eq!(col(&cols, "type").as_string::<i32>().value(1), "TEXT");
}

#[test]
fn chinook_reads_back_whole() {
    // The demo database built by the test services (KEEPERDB_TEST_SQLITE_CHINOOK).
    let path = service_url("KEEPERDB_TEST_SQLITE_CHINOOK");
    let mut conn = open(std::path::Path::new(&path), false, true);
    let b = query(
        conn.as_mut(),
        "SELECT count(*) AS n, sum(UnitPrice) AS total FROM Track",
    );
    assert_eq!(col(&b, "n").as_primitive::<Int64Type>().value(0), 3503);
}
