//! The sqlx driver against a real PostgreSQL server (KEEPERDB_TEST_PG_URL).

mod common;

use std::time::Duration;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNanoType, Time64MicrosecondType, TimestampMicrosecondType,
};
use arrow_schema::{DataType, TimeUnit};
use common::*;
use keeperdb_format::{self, FormatOptions, OutputFormat};
use keeperdb_model::connection::Engine;
use keeperdb_model::driver::{CatalogRequest, DriverErrorKind};

const PG: &str = "KEEPERDB_TEST_PG_URL";

#[test]
fn every_type_keeps_its_value() {
    let mut conn = pg();
    let b = query(
        conn.as_mut(),
        "SELECT 1::int2 AS i2, -2::int4 AS i4, 9223372036854775807::int8 AS i8, \
         1.5::float4 AS f4, 2.25::float8 AS f8, \
         12345678901234567890.123456789::numeric AS num, '-0.000100'::numeric AS small, \
         'NaN'::numeric AS nan, 'héllo'::varchar AS vc, 'x'::char(3) AS bp, \
         '\\xdeadbeef'::bytea AS by, true AS b, '2024-02-29'::date AS d, \
         '12:34:56.789'::time AS t, '12:34:56+02'::timetz AS ttz, \
         '2024-02-29 12:34:56.123456'::timestamp AS ts, \
         '2024-02-29 12:34:56.123456+02'::timestamptz AS tstz, \
         'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, \
         '{\"a\": [1, 2]}'::json AS j, '{\"a\": [1, 2]}'::jsonb AS jb, \
         '1 year 2 mons 3 days 04:05:06.5'::interval AS iv, \
         ARRAY[1, NULL, 3]::int4[] AS arr, ARRAY['x', 'y']::text[] AS tarr, \
         '192.168.0.1'::inet AS ip, '10.0.0.0/8'::cidr AS net, '2001:db8::1/64'::inet AS ip6, \
         '08:00:2b:01:02:03'::macaddr AS mac, B'10110'::bit(5) AS bits",
    );
    assert_eq!(b.num_rows(), 1);
    assert_eq!(col(&b, "i2").as_primitive::<Int16Type>().value(0), 1);
    assert_eq!(col(&b, "i4").as_primitive::<Int32Type>().value(0), -2);
    assert_eq!(col(&b, "i8").as_primitive::<Int64Type>().value(0), i64::MAX);
    assert_eq!(col(&b, "f4").as_primitive::<Float32Type>().value(0), 1.5);
    assert_eq!(col(&b, "f8").as_primitive::<Float64Type>().value(0), 2.25);
    // numeric survives exactly, as text, marked as numeric.
    assert_eq!(
        col(&b, "num").as_string::<i32>().value(0),
        "12345678901234567890.123456789"
    );
    assert_eq!(engine_type(&b, "num"), "numeric");
    assert_eq!(col(&b, "small").as_string::<i32>().value(0), "-0.000100");
    assert_eq!(col(&b, "nan").as_string::<i32>().value(0), "NaN");
    assert_eq!(col(&b, "vc").as_string::<i32>().value(0), "héllo");
    assert_eq!(col(&b, "bp").as_string::<i32>().value(0), "x  ");
    assert_eq!(
        col(&b, "by").as_binary::<i32>().value(0),
        [0xde, 0xad, 0xbe, 0xef]
    );
    assert!(col(&b, "b").as_boolean().value(0));
    assert_eq!(col(&b, "d").as_primitive::<Date32Type>().value(0), 19_782);
    assert_eq!(
        col(&b, "t")
            .as_primitive::<Time64MicrosecondType>()
            .value(0),
        45_296_789_000
    );
    assert_eq!(col(&b, "ttz").as_string::<i32>().value(0), "12:34:56+02");
    assert_eq!(
        col(&b, "ts").data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    assert_eq!(
        col(&b, "ts")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_709_210_096_123_456
    );
    assert_eq!(
        col(&b, "tstz").data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(
        col(&b, "tstz")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_709_202_896_123_456
    );
    assert_eq!(engine_type(&b, "tstz"), "timestamptz");
    assert_eq!(
        col(&b, "u").as_string::<i32>().value(0),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(col(&b, "j").as_string::<i32>().value(0), "{\"a\": [1, 2]}");
    assert_eq!(engine_type(&b, "j"), "json");
    assert_eq!(col(&b, "jb").as_string::<i32>().value(0), "{\"a\": [1, 2]}");
    let iv = col(&b, "iv")
        .as_primitive::<IntervalMonthDayNanoType>()
        .value(0);
    assert_eq!(
        (iv.months, iv.days, iv.nanoseconds),
        (14, 3, 14_706_500_000_000)
    );
    let arr = col(&b, "arr").as_list::<i32>().value(0);
    let arr = arr.as_primitive::<Int32Type>();
    assert_eq!(arr.len(), 3);
    assert_eq!((arr.value(0), arr.is_null(1), arr.value(2)), (1, true, 3));
    let tarr = col(&b, "tarr").as_list::<i32>().value(0);
    assert_eq!(tarr.as_string::<i32>().value(1), "y");
    assert_eq!(col(&b, "ip").as_string::<i32>().value(0), "192.168.0.1");
    assert_eq!(col(&b, "net").as_string::<i32>().value(0), "10.0.0.0/8");
    assert_eq!(col(&b, "ip6").as_string::<i32>().value(0), "2001:db8::1/64");
    assert_eq!(
        col(&b, "mac").as_string::<i32>().value(0),
        "08:00:2b:01:02:03"
    );
    assert_eq!(col(&b, "bits").as_string::<i32>().value(0), "10110");
}

/// The page as `keeperdb query --format csv` prints it for PostgreSQL.
fn render_csv(batch: &arrow_array::RecordBatch) -> String {
    let mut out = Vec::new();
    let options = FormatOptions {
        engine: Some(Engine::POSTGRES),
        footer: false,
        ..FormatOptions::default()
    };
    let mut w = keeperdb_format::writer(
        OutputFormat::Csv,
        batch.schema(),
        &options,
        Box::new(&mut out),
    );
    w.write_batch(batch).expect("write page");
    w.finish().expect("finish");
    drop(w);
    String::from_utf8(out).expect("utf-8 csv")
}

#[test]
fn infinite_dates_and_timestamps_stay_infinite_in_both_directions() {
    let mut conn = pg();
    let b = query(
        conn.as_mut(),
        "SELECT v.d::date AS d, v.d::timestamp AS ts, v.d::timestamptz AS tstz, \
         ARRAY[v.d::date] AS darr \
         FROM (VALUES (1, '-infinity'), (2, 'infinity')) AS v(n, d) ORDER BY v.n",
    );
    assert_eq!(b.num_rows(), 2);
    let d = col(&b, "d").as_primitive::<Date32Type>();
    assert_eq!((d.value(0), d.value(1)), (i32::MIN, i32::MAX));
    for name in ["ts", "tstz"] {
        let t = col(&b, name).as_primitive::<TimestampMicrosecondType>();
        assert_eq!((t.value(0), t.value(1)), (i64::MIN, i64::MAX), "{name}");
    }
    let darr = col(&b, "darr").as_list::<i32>();
    assert_eq!(
        darr.value(0).as_primitive::<Date32Type>().value(0),
        i32::MIN
    );
    // As the user sees them: the words psql prints, not a date in 4713 BC or 294276 AD.
    let csv = render_csv(&b);
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "d,ts,tstz,darr",
            "-infinity,-infinity,-infinity,{-infinity}",
            "infinity,infinity,infinity,{infinity}"
        ]
    );
}

#[test]
fn null_is_not_an_empty_string() {
    let mut conn = pg();
    let b = query(
        conn.as_mut(),
        "SELECT ''::text AS empty, NULL::text AS nothing",
    );
    let empty = col(&b, "empty").as_string::<i32>();
    let nothing = col(&b, "nothing").as_string::<i32>();
    assert!(empty.is_valid(0));
    assert_eq!(empty.value(0), "");
    assert!(nothing.is_null(0));
}

#[test]
fn large_results_stream_in_pages_and_the_connection_survives_an_abandoned_one() {
    let mut conn = pg();
    let pages = pages(start_rows(
        conn.as_mut(),
        "SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 100000) g",
    ));
    let sum: i64 = pages
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int32Type>().iter())
        .map(|v| i64::from(v.unwrap()))
        .sum();
    assert_eq!(total_rows(&pages), 100_000);
    assert_eq!(sum, 100_000 * 100_001 / 2);
    assert!(pages.len() > 1, "one page for 100k rows");

    // Read one page of a huge result and drop the rest: the next statement still works.
    let mut huge = start_rows(
        conn.as_mut(),
        "SELECT g FROM generate_series(1, 50000000) g",
    );
    assert!(huge.next().unwrap().unwrap().num_rows() > 0);
    drop(huge);
    let b = query(conn.as_mut(), "SELECT 42 AS answer");
    assert_eq!(col(&b, "answer").as_primitive::<Int32Type>().value(0), 42);
}

#[test]
fn statements_without_rows_report_rows_affected() {
    let mut conn = pg();
    exec(conn.as_mut(), "CREATE TEMP TABLE t_affected (id int)");
    assert_eq!(
        exec(
            conn.as_mut(),
            "INSERT INTO t_affected SELECT generate_series(1, 5)"
        ),
        5
    );
    assert_eq!(
        exec(conn.as_mut(), "DELETE FROM t_affected WHERE id > 3"),
        2
    );
    // A script of several statements runs as one.
    exec(
        conn.as_mut(),
        "INSERT INTO t_affected VALUES (10); INSERT INTO t_affected VALUES (11)",
    );
    let b = query(conn.as_mut(), "SELECT count(*) AS c FROM t_affected");
    assert_eq!(col(&b, "c").as_primitive::<Int64Type>().value(0), 5);
    // An empty result still has its schema.
    let b = query(conn.as_mut(), "SELECT id FROM t_affected WHERE false");
    assert_eq!(b.num_rows(), 0);
    assert_eq!(b.schema().field(0).name(), "id");
}

#[test]
fn a_syntax_error_is_a_query_error_with_its_sqlstate() {
    let mut conn = pg();
    let err = expect_error(conn.as_mut(), "SELEC 1");
    assert_eq!(err.kind, DriverErrorKind::Query);
    assert_eq!(err.code.as_deref(), Some("42601"));
    assert!(err.message.contains("syntax error"), "{}", err.message);
    let err = expect_error(conn.as_mut(), "SELECT 1/0");
    assert_eq!(err.kind, DriverErrorKind::Query);
    assert_eq!(err.code.as_deref(), Some("22012"));
    // The connection is still usable after errors.
    let b = query(conn.as_mut(), "SELECT 1 AS one");
    assert_eq!(b.num_rows(), 1);
}

#[test]
fn a_wrong_password_is_an_auth_error_that_does_not_repeat_it() {
    let err = wrong_password_error(PG);
    assert_eq!(err.kind, DriverErrorKind::Auth, "{}", err.message);
    assert_eq!(err.code.as_deref(), Some("28P01"));
    assert!(!err.message.contains(WRONG_PASSWORD), "{}", err.message);
}

#[test]
fn a_password_that_occurs_in_the_message_is_not_revealed_by_a_mask() {
    let (c, _) = from_url(&service_url(PG));
    let user = c.spec.user.clone().unwrap();
    assert_no_mask_reveals_the_password(PG, &user, "authentication failed");
}

#[test]
fn an_unreachable_host_is_a_connection_error() {
    let err = closed_port_error(PG);
    assert_eq!(err.kind, DriverErrorKind::Connection, "{}", err.message);
    assert!(err.message.contains("127.0.0.1"), "{}", err.message);
}

#[test]
fn a_server_that_never_answers_is_a_timeout() {
    let err = silent_server_error(PG);
    assert_eq!(err.kind, DriverErrorKind::Timeout, "{}", err.message);
    assert!(err.message.contains("timed out"), "{}", err.message);
}

#[test]
fn a_read_only_connection_refuses_writes() {
    let (mut c, creds) = from_url(&service_url(PG));
    c.spec.read_only = true;
    let mut conn = connect_with(&c, &creds, Duration::from_secs(10)).unwrap();
    let err = expect_error(conn.as_mut(), "CREATE TABLE ro_should_fail (id int)");
    assert_eq!(err.kind, DriverErrorKind::Query);
    assert_eq!(err.code.as_deref(), Some("25006"), "{}", err.message);
}

#[test]
fn no_statement_can_make_a_read_only_connection_writable() {
    let (mut c, creds) = from_url(&service_url(PG));
    c.spec.read_only = true;
    let mut conn = connect_with(&c, &creds, Duration::from_secs(10)).unwrap();
    // Naming the switch is refused before it reaches the server...
    for sql in [
        "begin; set transaction read write; create table ro_bypass (id int); commit",
        "SET default_transaction_read_only = off",
        "BEGIN READ WRITE",
    ] {
        let err = expect_error(conn.as_mut(), sql);
        assert!(err.message.contains("read-only"), "{sql}: {}", err.message);
    }
    // ...and a switch built at run time is undone before the next statement.
    query(
        conn.as_mut(),
        "SELECT set_config('default_transaction_' || 'read_' || 'only', 'off', false) AS s",
    );
    let err = expect_error(conn.as_mut(), "CREATE TABLE ro_bypass (id int)");
    assert_eq!(err.code.as_deref(), Some("25006"), "{}", err.message);
    // Reading still works, and after a failed transaction ROLLBACK still runs.
    exec(conn.as_mut(), "BEGIN");
    expect_error(conn.as_mut(), "CREATE TABLE ro_bypass (id int)");
    exec(conn.as_mut(), "ROLLBACK");
    assert_eq!(query(conn.as_mut(), "SELECT 1 AS one").num_rows(), 1);
}

#[test]
fn the_tls_mode_is_honoured() {
    // The test server has no TLS: `require` must fail rather than silently go clear-text.
    let err = tls_required_error(PG);
    assert_eq!(err.kind, DriverErrorKind::Connection, "{}", err.message);
}

#[test]
fn cancel_stops_a_long_query_from_another_thread() {
    let mut conn = pg();
    let err = cancel_while_running(conn.as_mut(), "SELECT pg_sleep(30)");
    assert_eq!(err.kind, DriverErrorKind::Cancelled, "{}", err.message);
    // query_canceled: only the server's own cancel gives this code.
    assert_eq!(err.code.as_deref(), Some("57014"), "{}", err.message);
    // The connection is usable afterwards.
    let b = query(conn.as_mut(), "SELECT 7 AS seven");
    assert_eq!(col(&b, "seven").as_primitive::<Int32Type>().value(0), 7);
}

#[test]
fn the_catalog_lists_databases_tables_and_columns() {
    let mut conn = pg();
    exec(conn.as_mut(), "DROP TABLE IF EXISTS catalog_probe");
    exec(
        conn.as_mut(),
        "CREATE TABLE catalog_probe (id int8 NOT NULL, label text DEFAULT 'x')",
    );
    let dbs = catalog(conn.as_mut(), &CatalogRequest::Databases);
    let names = strings(&dbs, "name");
    assert!(names.contains(&"keeperdb"), "{names:?}");
    let tables = catalog(
        conn.as_mut(),
        &CatalogRequest::Tables {
            schema: Some("public".into()),
        },
    );
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
    assert_eq!(col(&cols, "type").as_string::<i32>().value(0), "bigint");
    assert!(!col(&cols, "nullable").as_boolean().value(0));
    exec(conn.as_mut(), "DROP TABLE catalog_probe");
}

#[test]
fn cancel_in_the_middle_of_streaming_ends_the_rows_with_cancelled() {
    let mut conn = pg();
    let canceller = conn.canceller();
    let mut reader = start_rows(
        conn.as_mut(),
        "SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 20000000) g",
    );
    assert!(reader.next().unwrap().unwrap().num_rows() > 0);
    let started = std::time::Instant::now();
    canceller.cancel().expect("cancel accepted");
    let err = error_at_end(reader.as_mut()).expect("the rows ended without reporting the cancel");
    // Reading the 20 million rows to their end takes far longer: the server stopped sending.
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the rows went on for {took:?}"
    );
    let err = keeperdb_driver_host::driver_error_of(&err).expect("a driver error");
    assert_eq!(err.kind, DriverErrorKind::Cancelled, "{}", err.message);
    assert_eq!(err.code.as_deref(), Some("57014"), "{}", err.message);
    drop(reader);
    let b = query(conn.as_mut(), "SELECT 1 AS one");
    assert_eq!(b.num_rows(), 1);
}

#[test]
fn a_statement_timeout_is_a_timeout() {
    let (mut c, creds) = from_url(&service_url(PG));
    c.spec
        .options
        .insert("statement_timeout".into(), "200".into());
    let mut conn = connect_with(&c, &creds, Duration::from_secs(10)).unwrap();
    let err = expect_error(conn.as_mut(), "SELECT pg_sleep(10)");
    assert_eq!(err.kind, DriverErrorKind::Timeout, "{}", err.message);
    assert_eq!(err.code.as_deref(), Some("57014"));
}

#[test]
fn a_new_statement_supersedes_an_unread_result_instead_of_waiting_for_it() {
    let mut conn = pg();
    let mut old = start_rows(
        conn.as_mut(),
        "SELECT g FROM generate_series(1, 10000000) g",
    );
    assert!(old.next().unwrap().is_ok());
    // The old reader is still alive and unread: this must not deadlock.
    let b = query(conn.as_mut(), "SELECT 5 AS five");
    assert_eq!(col(&b, "five").as_primitive::<Int32Type>().value(0), 5);
    // The old result ends with an error saying why, never as a silently short result.
    let err = error_at_end(old.as_mut()).expect("the superseded result ended as if complete");
    assert!(err.to_string().contains("another statement"), "{err}");
}

#[test]
fn multi_dimensional_arrays_are_refused_with_a_way_out() {
    let mut conn = pg();
    let err = expect_error(conn.as_mut(), "SELECT ARRAY[[1, 2], [3, 4]] AS m");
    assert_eq!(err.kind, DriverErrorKind::Query);
    assert!(
        err.message.contains("2-dimensional") && err.message.contains("::text"),
        "{}",
        err.message
    );
    let b = query(conn.as_mut(), "SELECT ARRAY[[1, 2], [3, 4]]::text AS m");
    assert_eq!(col(&b, "m").as_string::<i32>().value(0), "{{1,2},{3,4}}");
}
