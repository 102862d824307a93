//! Every supported PostgreSQL type round-trips: `keeperdb query --format csv` prints exactly
//! what `psql --csv` prints for the same SELECT (NULLs, empty strings, extremes, `±infinity`
//! dates and timestamps, unicode).
//! Needs KEEPERDB_TEST_PG_URL (set by `cargo xtask test`).

mod query_support;

use query_support::*;

const COLUMNS: &str = "
    id int4 primary key,
    i2 int2, i4 int4, i8 int8,
    f4 float4, f8 float8,
    num numeric, num_scaled numeric(12,4),
    t text, vc varchar(40),
    b bytea, ok bool,
    d date, tm time, tmtz timetz,
    ts timestamp, tstz timestamptz,
    iv interval, u uuid, j json, jb jsonb,
    ai int4[], at text[]";

const ROWS: &str = r#"
(1, 1, 42, 9000000000,
 3.14, 2.718281828459045,
 123.4500, 1.5,
 'hello', 'world',
 '\xdeadbeef', true,
 '2024-01-02', '03:04:05.123456', '03:04:05+05:30',
 '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+00',
 '1 year 2 mons 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
 '{"a": [1, 2.5, "x"], "b": null}', '{"b": null, "a": [1, 2.5, "x"]}',
 '{1,2,NULL}', '{"a b","",NULL,"x\"y",plain}'),
(2, -32768, -2147483648, -9223372036854775808,
 -3.4028235e38, -1.7976931348623157e308,
 -0.000000000000000000001, -99999999.9999,
 '', '',
 '\x', false,
 '0044-03-15 BC', '00:00:00', '23:59:59.999999-12',
 '0001-01-01 00:00:00', '1970-01-01 00:00:00+00',
 '-1 days +01:00:00', '00000000-0000-0000-0000-000000000000',
 '[]', '{}',
 '{}', '{}'),
(3, 32767, 2147483647, 9223372036854775807,
 1e-37, 1e308,
 'NaN', 0,
 'Grüße, 世界 🚀 "quoted" and, comma', E'line1\nline2',
 '\x00ff10', NULL,
 '9999-12-31', '24:00:00', '00:00:00+00',
 'infinity', '1999-12-31 23:59:59.999999+00',
 '-00:01:30.5', NULL,
 '"just a string"', 'null',
 '{-1,0,1}', '{NULL}'),
(4, NULL, NULL, NULL,
 'Infinity', '-Infinity',
 NULL, NULL,
 NULL, NULL,
 NULL, NULL,
 NULL, NULL, NULL,
 NULL, NULL,
 NULL, NULL,
 NULL, NULL,
 NULL, NULL),
(5, 0, 0, 0,
 0, 0.1,
 '1e-20', 0.0001,
 'NULL', ' leading and trailing ',
 '\x5c', true,
 '2000-02-29', '12:00:00', '12:00:00+00',
 '2000-02-29 12:00:00', '2000-02-29 12:00:00.5+00',
 '100 hours', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
 '12.5', '[1, "two", {"three": 3}]',
 '{2147483647,-2147483648}', '{"{braces}","back\\slash",NULL,"NULL"}'),
(6, NULL, NULL, NULL,
 NULL, NULL,
 NULL, NULL,
 NULL, NULL,
 NULL, NULL,
 '-infinity', NULL, NULL,
 '-infinity', '-infinity',
 NULL, NULL,
 NULL, NULL,
 NULL, NULL),
(7, NULL, NULL, NULL,
 NULL, NULL,
 NULL, NULL,
 NULL, NULL,
 NULL, NULL,
 'infinity', NULL, NULL,
 'infinity', 'infinity',
 NULL, NULL,
 NULL, NULL,
 NULL, NULL)
"#;

#[test]
fn every_postgres_type_matches_psql_csv() {
    let url = pg_url();
    let table = format!("kdb_types_{}", std::process::id());
    psql(
        &url,
        &format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({COLUMNS}); INSERT INTO {table} VALUES {ROWS};"
        ),
    );
    let select = format!("SELECT * FROM {table} ORDER BY id");
    let kdb = Kdb::new();
    let ours = kdb.query(&url, &select, "csv");
    // psql prints NULL and '' alike unless told otherwise; a marker keeps them apart.
    let theirs = native(
        "psql",
        &[&url, "-X", "--csv", "-P", "null=<<NULL>>", "-c", &select],
        &[("PGTZ", "UTC")],
    );
    psql(&url, &format!("DROP TABLE {table}"));
    let ours = parse_csv(&ours);
    let theirs = parse_csv_marked(&theirs, b"<<NULL>>");
    assert_same(&ours, &theirs, "psql --csv");
    // NULL and the empty string stay apart in our CSV.
    assert_eq!(
        ours[2][9],
        Some(Vec::new()),
        "text '' is a quoted empty field"
    );
    assert_eq!(ours[4][9], None, "NULL text is an unquoted empty field");
}

/// Built-in types without a binary decoder in the driver: each shows the text psql shows.
#[test]
fn types_without_a_decoder_show_what_psql_shows() {
    let url = pg_url();
    let ty = format!("kdb_pair_{}", std::process::id());
    psql(
        &url,
        &format!("DROP TYPE IF EXISTS {ty}; CREATE TYPE {ty} AS (n int, label text);"),
    );
    let select = format!(
        "SELECT int4range(1, 5) AS r, '[2024-01-01,2024-02-01)'::daterange AS dr, \
         point(1.5, 2) AS p, box(point(0, 0), point(1, 1)) AS bx, \
         circle(point(0, 0), 2) AS c, lseg(point(0, 0), point(1, 1)) AS ls, \
         'a fat cat'::tsvector AS tv, to_tsquery('fat & cat') AS tq, \
         pg_sleep(0) AS v, ROW(1, 'a b') AS rec, ROW(2, 'x')::{ty} AS named, \
         'pg_class'::regclass AS rc, ARRAY[int4range(1, 2), NULL] AS ra, \
         '1 2'::int2vector AS iv, 'c'::\"char\" AS ch, 12.5::money AS m, \
         '<a>x</a>'::xml AS x, '0/16B3748'::pg_lsn AS lsn, 1 AS one -- trailing comment"
    );
    let kdb = Kdb::new();
    let ours = kdb.query(&url, &select, "csv");
    let theirs = native(
        "psql",
        &[&url, "-X", "--csv", "-P", "null=<<NULL>>", "-c", &select],
        &[("PGTZ", "UTC")],
    );
    psql(&url, &format!("DROP TYPE {ty}"));
    let ours = parse_csv(&ours);
    assert_same(&ours, &parse_csv_marked(&theirs, b"<<NULL>>"), "psql --csv");
    assert_eq!(
        ours[1][0].as_deref(),
        Some(&b"[1,5)"[..]),
        "text, not wire bytes"
    );
}

#[test]
fn postgres_json_output_keeps_nulls_numbers_and_nested_json() {
    let url = pg_url();
    let kdb = Kdb::new();
    let out = kdb.query(
        &url,
        "SELECT 1::int4 AS n, NULL::text AS missing, ''::text AS empty, true AS ok, \
         '{\"a\": [1, 2]}'::jsonb AS doc, ARRAY[1, NULL, 3] AS arr, 1.50::numeric AS price",
        "json",
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let row = &v[0];
    assert_eq!(row["n"], 1);
    assert!(row["missing"].is_null());
    assert_eq!(row["empty"], "");
    assert_eq!(row["ok"], true);
    assert_eq!(row["doc"]["a"][1], 2);
    assert_eq!(row["arr"], serde_json::json!([1, null, 3]));
    // Exact decimals stay text, with their scale.
    assert_eq!(row["price"], "1.50");

    let lines = kdb.query(&url, "SELECT g AS n FROM generate_series(1, 3) g", "jsonl");
    let text = String::from_utf8(lines).unwrap();
    assert_eq!(text, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
}

#[test]
fn postgres_table_and_markdown_show_null_apart_from_empty() {
    let url = pg_url();
    let kdb = Kdb::new();
    let md = String::from_utf8(kdb.query(
        &url,
        "SELECT NULL::text AS a, ''::text AS b, 'x|y' AS c",
        "markdown",
    ))
    .unwrap();
    assert_eq!(
        md,
        "| a | b | c |\n| --- | --- | --- |\n| *NULL* |  | x\\|y |\n"
    );
    let table = String::from_utf8(kdb.query(
        &url,
        "SELECT NULL::int AS n, ''::text AS s UNION ALL SELECT 12345, 'abc'",
        "table",
    ))
    .unwrap();
    assert!(table.contains("  NULL | "), "{table}");
    assert!(table.contains(" 12345 | abc"), "{table}");
}
