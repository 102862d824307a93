//! The sqlx driver against a real MariaDB server (KEEPERDB_TEST_MARIADB_URL).

mod common;

use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, DurationMicrosecondType, Float64Type, Int8Type, Int32Type, Int64Type,
    TimestampMicrosecondType, UInt64Type,
};
use arrow_schema::{DataType, TimeUnit};
use common::*;
use keeperdb_model::driver::{CatalogRequest, DriverErrorKind};

const MARIADB: &str = "KEEPERDB_TEST_MARIADB_URL";

#[test]
fn every_type_keeps_its_value() {
    let mut conn = maria();
    exec(conn.as_mut(), "DROP TABLE IF EXISTS types_probe");
    exec(
        conn.as_mut(),
        "CREATE TABLE types_probe (ti TINYINT, i INT, bi BIGINT, ubi BIGINT UNSIGNED, \
         d DECIMAL(30,9), f DOUBLE, s VARCHAR(20), e VARCHAR(5), n VARCHAR(5), b VARBINARY(8), \
         dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME, j JSON, en ENUM('a','b'))",
    );
    exec(
        conn.as_mut(),
        "INSERT INTO types_probe VALUES (-5, 2147483647, -9223372036854775808, \
         18446744073709551615, 12345678901234567890.123456789, 2.25, 'héllo', '', NULL, \
         X'DEADBEEF', '2024-02-29', '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.123456', \
         '-838:59:59', '{\"a\": [1, 2]}', 'b')",
    );
    let b = query(conn.as_mut(), "SELECT * FROM types_probe");
    assert_eq!(col(&b, "ti").as_primitive::<Int8Type>().value(0), -5);
    assert_eq!(col(&b, "i").as_primitive::<Int32Type>().value(0), i32::MAX);
    assert_eq!(col(&b, "bi").as_primitive::<Int64Type>().value(0), i64::MIN);
    assert_eq!(
        col(&b, "ubi").as_primitive::<UInt64Type>().value(0),
        u64::MAX
    );
    assert_eq!(
        col(&b, "d").as_string::<i32>().value(0),
        "12345678901234567890.123456789"
    );
    assert_eq!(engine_type(&b, "d"), "DECIMAL");
    assert_eq!(col(&b, "f").as_primitive::<Float64Type>().value(0), 2.25);
    assert_eq!(col(&b, "s").as_string::<i32>().value(0), "héllo");
    assert!(col(&b, "e").is_valid(0));
    assert_eq!(col(&b, "e").as_string::<i32>().value(0), "");
    assert!(col(&b, "n").is_null(0));
    assert_eq!(
        col(&b, "b").as_binary::<i32>().value(0),
        [0xde, 0xad, 0xbe, 0xef]
    );
    assert_eq!(col(&b, "dt").as_primitive::<Date32Type>().value(0), 19_782);
    assert_eq!(
        col(&b, "dtm")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_709_210_096_123_456
    );
    // The session runs in UTC, so the TIMESTAMP reads back as the same wall clock in UTC.
    assert_eq!(
        col(&b, "ts").data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(
        col(&b, "ts")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_709_210_096_123_456
    );
    assert_eq!(
        col(&b, "tm")
            .as_primitive::<DurationMicrosecondType>()
            .value(0),
        -((838 * 3600 + 59 * 60 + 59) * 1_000_000)
    );
    assert!(col(&b, "j").as_string::<i32>().value(0).contains("\"a\""));
    assert_eq!(col(&b, "en").as_string::<i32>().value(0), "b");
    exec(conn.as_mut(), "DROP TABLE types_probe");
}

#[test]
fn null_is_not_an_empty_string() {
    let mut conn = maria();
    let b = query(
        conn.as_mut(),
        "SELECT '' AS empty, CAST(NULL AS CHAR) AS nothing",
    );
    assert!(col(&b, "empty").is_valid(0));
    assert_eq!(col(&b, "empty").as_string::<i32>().value(0), "");
    assert!(col(&b, "nothing").is_null(0));
}

#[test]
fn statements_without_rows_and_the_text_protocol_fallback() {
    let mut conn = maria();
    exec(conn.as_mut(), "DROP TABLE IF EXISTS affected_probe");
    exec(conn.as_mut(), "CREATE TABLE affected_probe (id INT)");
    assert_eq!(
        exec(
            conn.as_mut(),
            "INSERT INTO affected_probe VALUES (1), (2), (3)"
        ),
        3
    );
    let b = query(conn.as_mut(), "SELECT COUNT(*) AS c FROM affected_probe");
    assert_eq!(col(&b, "c").as_primitive::<Int64Type>().value(0), 3);
    // SHOW statements work whichever protocol the server accepts them in.
    let b = query(conn.as_mut(), "SHOW TABLES");
    let tables: Vec<&str> = b.column(0).as_string::<i32>().iter().flatten().collect();
    assert!(tables.contains(&"affected_probe"), "{tables:?}");
    // PREPARE, EXECUTE and DEALLOCATE cannot be prepared themselves (1295): they go through
    // the text protocol, and EXECUTE's rows come back whole.
    exec(
        conn.as_mut(),
        "PREPARE probe_stmt FROM 'SELECT id FROM affected_probe ORDER BY id'",
    );
    let b = query(conn.as_mut(), "EXECUTE probe_stmt");
    let ids: Vec<i32> = col(&b, "id")
        .as_primitive::<Int32Type>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    exec(conn.as_mut(), "DEALLOCATE PREPARE probe_stmt");
    exec(conn.as_mut(), "DROP TABLE affected_probe");
}

#[test]
fn large_results_stream_in_pages() {
    let mut conn = maria();
    let pages = pages(start_rows(
        conn.as_mut(),
        "SELECT seq AS n FROM seq_1_to_50000",
    ));
    assert_eq!(total_rows(&pages), 50_000);
    assert!(pages.len() > 1);
}

#[test]
fn a_syntax_error_is_a_query_error_with_its_code() {
    let mut conn = maria();
    let err = expect_error(conn.as_mut(), "SELEC 1");
    assert_eq!(err.kind, DriverErrorKind::Query);
    assert!(
        err.code.as_deref().is_some_and(|c| c.starts_with("1064")),
        "{:?}",
        err.code
    );
    assert!(err.message.contains("SQL syntax"), "{}", err.message);
}

#[test]
fn a_wrong_password_is_an_auth_error_that_does_not_repeat_it() {
    let err = wrong_password_error(MARIADB);
    assert_eq!(err.kind, DriverErrorKind::Auth, "{}", err.message);
    assert!(
        err.code.as_deref().is_some_and(|c| c.starts_with("1045")),
        "{:?}",
        err.code
    );
    assert!(!err.message.contains(WRONG_PASSWORD), "{}", err.message);
}

#[test]
fn a_password_that_occurs_in_the_message_is_not_revealed_by_a_mask() {
    let (c, _) = from_url(&service_url(MARIADB));
    let user = c.spec.user.clone().unwrap();
    assert_no_mask_reveals_the_password(MARIADB, &user, "Access denied");
}

#[test]
fn an_unreachable_host_is_a_connection_error() {
    let err = closed_port_error(MARIADB);
    assert_eq!(err.kind, DriverErrorKind::Connection, "{}", err.message);
}

#[test]
fn a_server_that_never_answers_is_a_timeout() {
    let err = silent_server_error(MARIADB);
    assert_eq!(err.kind, DriverErrorKind::Timeout, "{}", err.message);
}

#[test]
fn a_read_only_connection_refuses_writes() {
    let (mut c, creds) = from_url(&service_url(MARIADB));
    // Unlike PostgreSQL's, MariaDB's read-only transactions still allow DDL (it commits
    // implicitly), so the refusal is shown on an INSERT into a table made beforehand.
    let mut conn = connect_with(&c, &creds, Duration::from_secs(10)).unwrap();
    exec(
        conn.as_mut(),
        "CREATE TABLE IF NOT EXISTS ro_probe (id INT)",
    );
    c.spec.read_only = true;
    let mut ro = connect_with(&c, &creds, Duration::from_secs(10)).unwrap();
    let err = expect_error(ro.as_mut(), "INSERT INTO ro_probe VALUES (1)");
    assert_eq!(err.kind, DriverErrorKind::Query);
    assert!(
        err.code.as_deref().is_some_and(|c| c.starts_with("1792")),
        "{:?} {}",
        err.code,
        err.message
    );
}

#[test]
fn no_statement_can_make_a_read_only_connection_writable() {
    let (mut c, creds) = from_url(&service_url(MARIADB));
    let mut rw = connect_with(&c, &creds, Duration::from_secs(10)).unwrap();
    exec(rw.as_mut(), "CREATE TABLE IF NOT EXISTS ro_probe (id INT)");
    c.spec.read_only = true;
    let mut conn = connect_with(&c, &creds, Duration::from_secs(10)).unwrap();
    for sql in [
        "SET SESSION TRANSACTION READ WRITE",
        "START TRANSACTION READ WRITE",
        "SET @@session.transaction_read_only = 0",
        "SET SESSION tx_read_only = 0",
    ] {
        let err = expect_error(conn.as_mut(), sql);
        assert!(err.message.contains("read-only"), "{sql}: {}", err.message);
    }
    // A switch built at run time is undone before the next statement.
    exec(
        conn.as_mut(),
        "SET @s = CONCAT('SET SESSION TRANSACTION READ', ' WRITE')",
    );
    exec(conn.as_mut(), "PREPARE lift FROM @s");
    exec(conn.as_mut(), "EXECUTE lift");
    let err = expect_error(conn.as_mut(), "INSERT INTO ro_probe VALUES (1)");
    assert!(
        err.code.as_deref().is_some_and(|c| c.starts_with("1792")),
        "{:?} {}",
        err.code,
        err.message
    );
}

#[test]
fn cancel_stops_a_long_query_from_another_thread() {
    let mut conn = maria();
    let err = cancel_while_running(conn.as_mut(), "SELECT SLEEP(30)");
    assert_eq!(err.kind, DriverErrorKind::Cancelled, "{}", err.message);
    // ER_QUERY_INTERRUPTED: only the server's KILL QUERY gives this code.
    assert!(
        err.code.as_deref().is_some_and(|c| c.starts_with("1317")),
        "{:?} {}",
        err.code,
        err.message
    );
    let b = query(conn.as_mut(), "SELECT 7 AS seven");
    assert_eq!(b.num_rows(), 1);
}

#[test]
fn the_catalog_lists_databases_tables_and_columns() {
    let mut conn = maria();
    exec(conn.as_mut(), "DROP TABLE IF EXISTS catalog_probe");
    exec(
        conn.as_mut(),
        "CREATE TABLE catalog_probe (id BIGINT NOT NULL, label TEXT)",
    );
    let dbs = catalog(conn.as_mut(), &CatalogRequest::Databases);
    let names = strings(&dbs, "name");
    assert!(
        names.contains(&"keeperdb") && names.contains(&"Chinook"),
        "{names:?}"
    );
    let tables = catalog(conn.as_mut(), &CatalogRequest::Tables { schema: None });
    let names = strings(&tables, "name");
    assert!(names.contains(&"catalog_probe"), "{names:?}");
    let cols = catalog(
        conn.as_mut(),
        &CatalogRequest::Columns {
            schema: None,
            table: "catalog_probe".into(),
        },
    );
    assert_eq!(strings(&cols, "name"), ["id", "label"]);
    exec(conn.as_mut(), "DROP TABLE catalog_probe");
}

#[test]
fn the_tls_mode_is_honoured() {
    // The test server has no TLS: `require` must fail rather than silently go clear-text.
    let err = tls_required_error(MARIADB);
    assert_eq!(err.kind, DriverErrorKind::Connection, "{}", err.message);
}

#[test]
fn statements_the_prepared_protocol_refuses_run_as_text_rows_and_all() {
    // EXECUTE IMMEDIATE is refused by the prepared protocol (error 1295): the driver reruns it
    // as text, taking the schema from the first row.
    let mut conn = maria();
    let b = query(
        conn.as_mut(),
        "EXECUTE IMMEDIATE 'SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3'",
    );
    let n: Vec<i32> = col(&b, "n")
        .as_primitive::<Int32Type>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(n, [1, 2, 3]);
    exec(conn.as_mut(), "DROP TABLE IF EXISTS text_probe");
    exec(conn.as_mut(), "CREATE TABLE text_probe (id INT)");
    assert_eq!(
        exec(
            conn.as_mut(),
            "EXECUTE IMMEDIATE 'INSERT INTO text_probe VALUES (1), (2)'"
        ),
        2
    );
    exec(conn.as_mut(), "DROP TABLE text_probe");
}

#[test]
fn the_session_keeps_the_servers_sql_mode() {
    let mut conn = maria();
    let b = query(
        conn.as_mut(),
        "SELECT @@SESSION.sql_mode = @@GLOBAL.sql_mode AS same, CAST(0 || 0 AS CHAR) AS pipes, @@SESSION.sql_mode AS s, @@GLOBAL.sql_mode AS g",
    );
    let modes = (strings(&b, "s"), strings(&b, "g"));
    assert_eq!(
        col(&b, "same").as_primitive::<Int32Type>().value(0),
        1,
        "{modes:?}"
    );
    // `||` is OR unless the server's own mode says PIPES_AS_CONCAT: the mariadb client gives 0.
    assert_eq!(col(&b, "pipes").as_string::<i32>().value(0), "0");
}
