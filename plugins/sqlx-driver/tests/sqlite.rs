//! The sqlx driver on real SQLite files (no server needed).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_schema::DataType;
use common::*;
use keeperdb_model::connection::{Connection, ConnectionId, Engine, Origin, TlsMode};
use keeperdb_model::driver::{CatalogRequest, DriverConnection, DriverError, DriverErrorKind};

fn sqlite_connection(path: &std::path::Path, create: bool, read_only: bool) -> Connection {
    let mut options = BTreeMap::new();
    if create {
        options.insert("create".to_string(), "true".to_string());
    }
    Connection {
        id: ConnectionId::from_string("lite"),
        spec: keeperdb_model::ConnectionSpec {
            name: "lite".into(),
            engine: Engine::SQLITE,
            host: None,
            port: None,
            database: Some(path.display().to_string()),
            user: None,
            tls: TlsMode::Disable,
            read_only,
            environment: None,
            color: None,
            options,
        },
        origin: Origin::local(),
    }
}

fn try_open(
    path: &std::path::Path,
    create: bool,
    read_only: bool,
) -> Result<Box<dyn DriverConnection>, DriverError> {
    connect_with(
        &sqlite_connection(path, create, read_only),
        &keeperdb_model::Credentials::none(),
        Duration::from_secs(5),
    )
}

fn open(path: &std::path::Path, create: bool, read_only: bool) -> Box<dyn DriverConnection> {
    try_open(path, create, read_only).expect("opens the SQLite file")
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
    // A NUMERIC column holding the REAL 0.99 and the INTEGER 3 keeps each as sqlite3 shows
    // it: one Float64 column would print the integer as `3.0`.
    assert_eq!(col(&b, "n").data_type(), &DataType::Utf8);
    assert_eq!(strings(&b, "n"), ["0.99", "3"]);
    assert_eq!(engine_type(&b, "i"), "INTEGER");
    assert_eq!(engine_type(&b, "n"), "NUMERIC");
    // ...and a whole REAL among integers keeps its decimal point, as sqlite3 writes it.
    let b = query(
        conn.as_mut(),
        "SELECT 3 AS v UNION ALL SELECT 3.0 UNION ALL SELECT 1e308",
    );
    assert_eq!(strings(&b, "v"), ["3", "3.0", "1.0e+308"]);
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
    let err = try_open(&path, false, false).err().expect("refused");
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
    let pages = pages(start_rows(
        conn.as_mut(),
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000) SELECT x FROM c",
    ));
    assert_eq!(total_rows(&pages), 30_000);
    assert!(pages.len() > 1);
}

#[test]
fn cancel_interrupts_a_long_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("slow.db"), true, false);
    let err = cancel_while_running(
        conn.as_mut(),
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    );
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
    let dbs = catalog(conn.as_mut(), &CatalogRequest::Databases);
    assert_eq!(col(&dbs, "name").as_string::<i32>().value(0), "main");
    let tables = catalog(conn.as_mut(), &CatalogRequest::Tables { schema: None });
    assert_eq!(col(&tables, "name").as_string::<i32>().value(0), "artist");
    let cols = catalog(
        conn.as_mut(),
        &CatalogRequest::Columns {
            schema: None,
            table: "artist".into(),
        },
    );
    assert_eq!(strings(&cols, "name"), ["id", "name"]);
    assert_eq!(col(&cols, "type").as_string::<i32>().value(1), "TEXT");
}

#[test]
fn chinook_reads_back_whole() {
    // The demo database built by the test services (KEEPERDB_TEST_SQLITE_CHINOOK).
    let path = service_url("KEEPERDB_TEST_SQLITE_CHINOOK");
    let mut conn = open(std::path::Path::new(&path), false, true);
    let b = query(
        conn.as_mut(),
        "SELECT count(*) AS n, sum(UnitPrice) AS total, sum(Milliseconds) AS ms, \
         sum(length(Name)) AS name_chars FROM Track",
    );
    // Chinook's own figures (sqlite3 gives the same): every track, its prices, lengths and
    // names, read through the driver.
    assert_eq!(col(&b, "n").as_primitive::<Int64Type>().value(0), 3503);
    let total = col(&b, "total").as_primitive::<Float64Type>().value(0);
    assert!((total - 3680.97).abs() < 1e-6, "{total}");
    assert_eq!(
        col(&b, "ms").as_primitive::<Int64Type>().value(0),
        1_378_778_040
    );
    assert_eq!(
        col(&b, "name_chars").as_primitive::<Int64Type>().value(0),
        55_639
    );
}

#[test]
fn a_new_statement_supersedes_an_unread_result_and_runs_uninterrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("sup.db"), true, false);
    let mut old = start_rows(
        conn.as_mut(),
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000) SELECT x FROM c",
    );
    assert!(old.next().unwrap().is_ok());
    // The old reader is still alive and unread: the next statement must neither wait for it
    // nor be hit by the interrupt that stops it.
    let b = query(
        conn.as_mut(),
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT count(*) AS n FROM c",
    );
    assert_eq!(col(&b, "n").as_primitive::<Int64Type>().value(0), 100_000);
    let err = error_at_end(old.as_mut()).expect("the superseded result ended as if complete");
    assert!(err.to_string().contains("another statement"), "{err}");
}

/// Rows 1..=20000; row 15000 (on the second page) holds `odd` instead of its number.
fn ints_with_an_odd_value_at_15000(odd: &str) -> String {
    format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) \
         SELECT x AS n, CASE WHEN x = 15000 THEN {odd} ELSE x END AS v FROM c"
    )
}

#[test]
fn a_value_of_another_type_after_the_first_page_names_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("mixed.db"), true, false);
    let mut reader = start_rows(conn.as_mut(), &ints_with_an_odd_value_at_15000("X'00'"));
    let err = error_at_end(reader.as_mut()).expect("the blob among integers is refused");
    let message = err.to_string();
    assert!(
        message.contains("column 2 (v) holds a BLOB value") && message.contains("CAST"),
        "{message}"
    );
    drop(reader);
    // The statement is over: the connection runs the next one.
    let b = query(conn.as_mut(), "SELECT 1 AS one");
    assert_eq!(b.num_rows(), 1);
}

#[test]
fn an_error_raised_while_stepping_ends_the_rows_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("overflow.db"), true, false);
    let mut reader = start_rows(
        conn.as_mut(),
        &ints_with_an_odd_value_at_15000("abs(-9223372036854775808)"),
    );
    let err = error_at_end(reader.as_mut()).expect("abs() overflows");
    assert!(err.to_string().contains("integer overflow"), "{err}");
    drop(reader);
    let b = query(conn.as_mut(), "SELECT 2 AS two");
    assert_eq!(b.num_rows(), 1);
}

#[test]
fn values_cross_page_boundaries_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("pages.db"), true, false);
    let pages = pages(start_rows(
        conn.as_mut(),
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) \
         SELECT x AS n, 'row ' || x AS t, x / 4.0 AS r, CASE WHEN x % 3 = 0 THEN NULL ELSE x END AS m \
         FROM c",
    ));
    assert!(pages.len() > 1);
    let mut expected = 1i64;
    for page in &pages {
        let n = col(page, "n").as_primitive::<Int64Type>();
        let t = col(page, "t").as_string::<i32>();
        let r = col(page, "r").as_primitive::<Float64Type>();
        let m = col(page, "m").as_primitive::<Int64Type>();
        for i in 0..page.num_rows() {
            assert_eq!(n.value(i), expected);
            assert_eq!(t.value(i), format!("row {expected}"));
            assert_eq!(r.value(i), expected as f64 / 4.0);
            assert_eq!(m.is_null(i), expected % 3 == 0, "row {expected}");
            expected += 1;
        }
    }
    assert_eq!(expected, 20_001);
}
