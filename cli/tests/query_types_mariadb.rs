//! Every supported MariaDB type round-trips: `keeperdb query --format csv` against
//! `mariadb --batch` on the same SELECT. Needs KEEPERDB_TEST_MARIADB_URL (`cargo xtask test`).
//!
//! Normalisations, each purely presentational:
//! - `mariadb --batch` writes TSV with `\t`, `\n`, `\\`, `\0` escaped and NULL as `NULL`; it is
//!   unescaped here (`--raw` would make multi-line values unparseable, and `--binary-as-hex`
//!   prints NULL binary cells as `0x`, losing NULL).
//! - binary values: mariadb prints the raw bytes, keeperdb `0x` + hex; both sides compare bytes.
//! - FLOAT/DOUBLE: mariadb prints `1e308`, keeperdb `1e+308`; both sides compare parsed values.
//! - DATETIME(6)/TIMESTAMP(6): mariadb pads the fraction to the column's precision, which Arrow
//!   timestamps do not carry; trailing zeros of the fraction are dropped on both sides.
//! - BIT: mariadb prints the raw bytes, keeperdb the number; both sides compare the number.

mod query_support;

use query_support::*;

const COLUMNS: &str = "
    id int primary key,
    ti tinyint, si smallint, mi mediumint, i int, bi bigint,
    ubi bigint unsigned, ui int unsigned, tu tinyint unsigned,
    dec1 decimal(20,6), f float, d double,
    vc varchar(50), tx text, bl blob, vb varbinary(16),
    dt date, tm time, dtm datetime, dtm6 datetime(6), ts timestamp(6) NULL,
    j json, bt bit(8), bo bool, en enum('small','medium','large')";

const ROWS: &str = r#"
(1, 1, 2, 3, 4, 5,
 6, 7, 8,
 123.450000, 3.14, 2.718281828459045,
 'hello', 'world', x'DEADBEEF', x'00FF',
 '2024-01-02', '03:04:05', '2024-01-02 03:04:05', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.120000',
 '{"a": [1, 2.5, "x"]}', b'101', true, 'medium'),
(2, -128, -32768, -8388608, -2147483648, -9223372036854775808,
 0, 0, 0,
 -99999999999999.999999, -3.40282e38, -1.7976931348623157e308,
 '', '', '', '',
 '1000-01-01', '-838:59:59', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000001', '1970-01-02 00:00:00',
 '[]', b'0', false, 'small'),
(3, 127, 32767, 8388607, 2147483647, 9223372036854775807,
 18446744073709551615, 4294967295, 255,
 99999999999999.999999, 1e-37, 1e308,
 'Grüße, 世界 🚀 "quoted"', 'tab\there\nnewline and back\\slash', x'00', x'5C0A09',
 '9999-12-31', '838:59:59', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999',
 '{"nested": {"k": null}}', b'11111111', true, 'large'),
(4, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL,
 NULL, NULL, NULL,
 NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL)
"#;

const FLOAT_COLUMNS: &[&str] = &["f", "d"];
const BINARY_COLUMNS: &[&str] = &["bl", "vb"];
const BIT_COLUMNS: &[&str] = &["bt"];
const FRACTION_COLUMNS: &[&str] = &["tm", "dtm", "dtm6", "ts"];

/// Undo `mariadb --batch` escaping of one field.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 1 < field.len() {
            out.push(match field[i + 1] {
                b'n' => b'\n',
                b't' => b'\t',
                b'0' => 0,
                b'\\' => b'\\',
                other => other,
            });
            i += 2;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

fn parse_batch(data: &[u8]) -> Vec<Vec<Cell>> {
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            line.split(|b| *b == b'\t')
                .map(|f| (f != b"NULL").then(|| unescape(f)))
                .collect()
        })
        .collect()
}

fn decode_hex(cell: &Cell) -> Cell {
    cell.as_ref().map(|v| {
        let s = std::str::from_utf8(v).unwrap();
        let hex = s
            .strip_prefix("0x")
            .unwrap_or_else(|| panic!("binary cell not in 0x form: {s:?}"));
        (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    })
}

fn trim_fraction(cell: &Cell) -> Cell {
    cell.as_ref().map(|v| {
        let s = String::from_utf8(v.clone()).unwrap();
        match s.split_once('.') {
            Some((whole, frac)) => {
                let frac = frac.trim_end_matches('0');
                if frac.is_empty() {
                    whole.as_bytes().to_vec()
                } else {
                    format!("{whole}.{frac}").into_bytes()
                }
            }
            None => s.into_bytes(),
        }
    })
}

#[test]
fn every_mariadb_type_matches_the_mariadb_cli() {
    let url = mariadb_url();
    let table = format!("kdb_types_{}", std::process::id());
    mariadb(
        &url,
        &format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({COLUMNS}) DEFAULT CHARSET=utf8mb4; INSERT INTO {table} VALUES {ROWS};"
        ),
        &[],
    );
    let select = format!("SELECT * FROM {table} ORDER BY id");
    let kdb = Kdb::new();
    let ours = kdb.query(&url, &select, "csv");
    let theirs = mariadb(&url, &select, &["--batch"]);
    mariadb(&url, &format!("DROP TABLE {table}"), &[]);

    let mut ours = parse_csv(&ours);
    let mut theirs = parse_batch(&theirs);
    assert_eq!(ours.first(), theirs.first(), "column names");
    let header: Vec<String> = ours[0]
        .iter()
        .map(|c| String::from_utf8(c.clone().unwrap()).unwrap())
        .collect();
    for (col, name) in header.iter().enumerate() {
        for row in 1..ours.len().min(theirs.len()) {
            if BINARY_COLUMNS.contains(&name.as_str()) {
                ours[row][col] = decode_hex(&ours[row][col]);
            }
            if BIT_COLUMNS.contains(&name.as_str()) {
                theirs[row][col] = theirs[row][col].as_ref().map(|raw| {
                    let n = raw.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
                    n.to_string().into_bytes()
                });
            }
            if FRACTION_COLUMNS.contains(&name.as_str()) {
                ours[row][col] = trim_fraction(&ours[row][col]);
                theirs[row][col] = trim_fraction(&theirs[row][col]);
            }
            if FLOAT_COLUMNS.contains(&name.as_str()) {
                let (a, b) = (float_cell(&ours[row][col]), float_cell(&theirs[row][col]));
                let same = match (a, b) {
                    (Some(a), Some(b)) if name == "f" => (a as f32) == (b as f32),
                    (a, b) => a == b,
                };
                assert!(
                    same,
                    "row {row}, column {name}: keeperdb {a:?} vs mariadb {b:?}"
                );
                ours[row][col] = None;
                theirs[row][col] = None;
            }
        }
    }
    assert_same(&ours, &theirs, "mariadb --batch");
    // '' and NULL stay apart.
    assert_eq!(ours[2][12], Some(Vec::new()));
    assert_eq!(ours[4][12], None);
}

#[test]
fn zero_dates_and_the_servers_sql_mode_match_the_mariadb_cli() {
    let url = mariadb_url();
    let table = format!("kdb_zero_{}", std::process::id());
    // The server's mode allows zero dates (no NO_ZERO_DATE); the test server's mode is kept.
    mariadb(
        &url,
        &format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int, d date, dt datetime, ts timestamp NULL); \
             INSERT INTO {table} VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'), \
             (2, '2024-01-02', '2024-01-02 03:04:05', NULL);"
        ),
        &[],
    );
    let select = format!(
        "SELECT id, d, dt, ts, d IS NULL AS d_null, 0 || 0 AS pipes FROM {table} ORDER BY id"
    );
    let kdb = Kdb::new();
    let ours = kdb.query(&url, &select, "csv");
    let theirs = mariadb(&url, &select, &["--batch"]);
    mariadb(&url, &format!("DROP TABLE {table}"), &[]);
    let ours = parse_csv(&ours);
    assert_eq!(
        ours[1][1].as_deref(),
        Some(&b"0000-00-00"[..]),
        "a zero date is not NULL"
    );
    assert_same(&ours, &parse_batch(&theirs), "mariadb --batch");
}
