//! Every SQLite storage class round-trips: `keeperdb query --format csv` against `sqlite3 -csv`
//! on the same SELECT over a real database file.
//!
//! REALs are compared as printed: keeperdb prints them as sqlite3 does (`1.0`, `1.0e+30`), so
//! a REAL never reads as an INTEGER. Normalisations, each purely presentational:
//! - quoting: sqlite3 quotes more fields than needed (leading spaces, non-ASCII); both sides are
//!   parsed as CSV, so only values are compared.
//! - BLOB: sqlite3 -csv writes raw bytes, keeperdb `X'..'` hex; both sides compare bytes
//!   (sqlite3 stops a blob at its first NUL byte, so the test blobs hold none).

mod query_support;

use query_support::*;

fn sqlite3(db: &str, sql: &str, extra: &[&str]) -> Vec<u8> {
    let mut args: Vec<&str> = extra.to_vec();
    args.push(db);
    args.push(sql);
    native("sqlite3", &args, &[])
}

const SETUP: &str = r#"
CREATE TABLE t (
    id INTEGER PRIMARY KEY,
    i INTEGER, r REAL, s TEXT, b BLOB, n NUMERIC, untyped
);
INSERT INTO t VALUES
 (1, 42, 3.14, 'hello', x'DEADBEEF', 10, NULL),
 (2, -9223372036854775808, -1.5e300, '', x'', 2.5, NULL),
 (3, 9223372036854775807, 1e-300, 'Grüße, 世界 🚀 "quoted", comma', x'FF0A01', 100, NULL),
 (4, NULL, NULL, NULL, NULL, NULL, NULL),
 (5, 0, 0.1, ' leading space and
newline', x'2C', -7, NULL),
 (6, 1, 1.0, 'NULL', x'22', 0, NULL),
 (7, 3, 1e308, '0.0', x'30', 0.0, 0.0);
"#;

fn blob_bytes(cell: &Cell) -> Cell {
    cell.as_ref().map(|v| {
        let s = std::str::from_utf8(v).unwrap();
        let hex = s
            .strip_prefix("X'")
            .and_then(|h| h.strip_suffix('\''))
            .unwrap_or_else(|| panic!("blob not in X'..' form: {s:?}"));
        (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    })
}

#[test]
fn every_sqlite_storage_class_matches_sqlite3_csv() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("types.db");
    let db = db.to_str().unwrap();
    sqlite3(db, SETUP, &[]);
    let select = "SELECT * FROM t ORDER BY id";
    let kdb = Kdb::new();
    let ours = kdb.query(db, select, "csv");
    let theirs = sqlite3(db, select, &["-csv", "-header"]);
    let mut ours = parse_csv(&ours);
    let theirs = parse_csv(&theirs);
    for row in 1..ours.len().min(theirs.len()) {
        ours[row][4] = blob_bytes(&ours[row][4]);
    }
    assert_same(&ours, &theirs, "sqlite3 -csv");
    assert_eq!(ours[2][3], Some(Vec::new()), "'' is a quoted empty field");
    assert_eq!(ours[4][3], None, "NULL is an unquoted empty field");
}

#[test]
fn sqlite_url_forms_and_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("json.sqlite");
    let path = db.to_str().unwrap();
    sqlite3(path, SETUP, &[]);
    let kdb = Kdb::new();
    for conn in [path.to_string(), format!("sqlite:{path}")] {
        let out = kdb.query(
            &conn,
            "SELECT id, s, b FROM t WHERE id IN (2, 4) ORDER BY id",
            "json",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["id"], 2);
        assert_eq!(v[0]["s"], "");
        assert!(v[1]["s"].is_null());
        assert!(v[1]["b"].is_null());
    }
}
