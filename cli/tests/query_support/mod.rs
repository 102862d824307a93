//! Shared helpers for the `query_*` integration tests: the built `keeperdb` binary with a
//! private config dir, the test services' URLs, the engines' own CLIs, and a CSV reader that
//! keeps NULL (unquoted empty field) apart from the empty string (`""`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A cell as read from CSV: `None` is SQL NULL.
pub type Cell = Option<Vec<u8>>;

/// Fail (never skip) when the test services were not set up.
pub fn service_url(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{var} is not set: these tests need the test database servers; run them with `cargo xtask test` \
             (or `eval $(cargo xtask services env)` after `cargo xtask services start`)"
        ),
    }
}

/// The PostgreSQL test server.
pub fn pg_url() -> String {
    service_url("KEEPERDB_TEST_PG_URL")
}

/// The MariaDB test server.
pub fn mariadb_url() -> String {
    service_url("KEEPERDB_TEST_MARIADB_URL")
}

/// Where the driver plugins are: `$KEEPERDB_BUNDLED_PLUGINS_DIR`, else `bundled-plugins/` beside the
/// binary (where `cargo xtask` stages them).
pub fn plugin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KEEPERDB_BUNDLED_PLUGINS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let beside = Path::new(env!("CARGO_BIN_EXE_keeperdb"))
        .parent()
        .unwrap()
        .join("bundled-plugins");
    assert!(
        beside.is_dir(),
        "no driver plugins at {}: run `cargo xtask test` (it builds and stages the sqlx driver), or set KEEPERDB_BUNDLED_PLUGINS_DIR",
        beside.display()
    );
    beside
}

/// A `keeperdb` command with its own empty config dir.
pub struct Kdb {
    pub config: tempfile::TempDir,
}

impl Kdb {
    pub fn new() -> Self {
        Self {
            config: tempfile::tempdir().unwrap(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keeperdb"));
        c.env("KEEPERDB_CONFIG_DIR", self.config.path())
            .env("KEEPERDB_BUNDLED_PLUGINS_DIR", plugin_dir())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    /// `keeperdb query CONN SQL --format FORMAT`, which must succeed.
    pub fn query(&self, conn: &str, sql: &str, format: &str) -> Vec<u8> {
        let out = self
            .cmd()
            .args(["query", conn, sql, "--format", format])
            .output()
            .unwrap();
        assert_success(&out, &format!("keeperdb query {sql}"));
        out.stdout
    }

    /// `keeperdb query ...` with arbitrary arguments.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
}

/// Run `cmd` with `input` on its stdin and collect what it printed.
pub fn with_stdin(mut cmd: Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run an engine CLI, which must succeed.
pub fn native(program: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    let mut c = Command::new(program);
    c.args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (run `cargo xtask setup`)"));
    assert_success(&out, program);
    out.stdout
}

/// Run SQL through psql (for setup), with the server's errors shown on failure.
pub fn psql(url: &str, sql: &str) -> Vec<u8> {
    native(
        "psql",
        &[
            url,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "SET client_min_messages = warning",
            "-c",
            sql,
        ],
        &[("PGTZ", "UTC")],
    )
}

/// The parts of a server URL the engine CLIs need as flags.
pub struct UrlParts {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
}

pub fn url_parts(url: &str) -> UrlParts {
    let u = url::Url::parse(url).unwrap_or_else(|e| panic!("bad test URL: {e}"));
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .unwrap()
            .to_string()
    };
    UrlParts {
        host: u.host_str().unwrap_or("127.0.0.1").to_string(),
        port: u.port().unwrap_or(3306),
        user: decode(u.username()),
        password: decode(u.password().unwrap_or("")),
        database: u.path().trim_start_matches('/').to_string(),
    }
}

/// Run SQL through the mariadb CLI.
pub fn mariadb(url: &str, sql: &str, extra: &[&str]) -> Vec<u8> {
    let p = url_parts(url);
    let port = p.port.to_string();
    let mut args = vec![
        "--protocol=TCP",
        "--default-character-set=utf8mb4",
        "-h",
        &p.host,
        "-P",
        &port,
        "-u",
        &p.user,
        "-D",
        &p.database,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-e", sql]);
    native("mariadb", &args, &[("MYSQL_PWD", &p.password)])
}

/// RFC 4180 CSV: unquoted empty fields are NULL, quoted ones are values (maybe empty).
pub fn parse_csv(data: &[u8]) -> Vec<Vec<Cell>> {
    parse_csv_with(data, true)
}

/// CSV from a tool that prints NULL as a marker (psql `-P null=..`): every field is a value,
/// the marker turns into NULL.
pub fn parse_csv_marked(data: &[u8], null_marker: &[u8]) -> Vec<Vec<Cell>> {
    nulls_from_marker(parse_csv_with(data, false), null_marker)
}

fn parse_csv_with(data: &[u8], empty_is_null: bool) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    let mut row: Vec<Cell> = Vec::new();
    let mut i = 0;
    if data.is_empty() {
        return rows;
    }
    loop {
        // One field.
        let cell = if data.get(i) == Some(&b'"') {
            let mut v = Vec::new();
            i += 1;
            loop {
                match data.get(i) {
                    Some(b'"') if data.get(i + 1) == Some(&b'"') => {
                        v.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        v.push(*c);
                        i += 1;
                    }
                    None => panic!("unterminated quoted CSV field"),
                }
            }
            Some(v)
        } else {
            let start = i;
            while i < data.len() && data[i] != b',' && data[i] != b'\n' && data[i] != b'\r' {
                i += 1;
            }
            let v = &data[start..i];
            (!(empty_is_null && v.is_empty())).then(|| v.to_vec())
        };
        row.push(cell);
        match data.get(i) {
            Some(b',') => i += 1,
            Some(b'\r') | Some(b'\n') => {
                if data[i] == b'\r' {
                    i += 1;
                }
                if data.get(i) == Some(&b'\n') {
                    i += 1;
                }
                rows.push(std::mem::take(&mut row));
                if i >= data.len() {
                    break;
                }
            }
            None => {
                rows.push(std::mem::take(&mut row));
                break;
            }
            Some(c) => panic!("unexpected byte {c} after CSV field"),
        }
    }
    rows
}

/// Replace cells equal to `marker` with NULL (psql and mariadb print NULL as text).
pub fn nulls_from_marker(rows: Vec<Vec<Cell>>, marker: &[u8]) -> Vec<Vec<Cell>> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| c.filter(|v| v.as_slice() != marker))
                .collect()
        })
        .collect()
}

pub fn show(c: &Cell) -> String {
    match c {
        None => "NULL".into(),
        Some(v) => format!("{:?}", String::from_utf8_lossy(v)),
    }
}

/// Compare two results cell by cell, with the column name in the message.
pub fn assert_same(ours: &[Vec<Cell>], theirs: &[Vec<Cell>], engine_cli: &str) {
    assert_eq!(
        ours.len(),
        theirs.len(),
        "row count differs from {engine_cli} (header included)"
    );
    let header: Vec<String> = ours[0].iter().map(show).collect();
    for (r, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(a.len(), b.len(), "row {r}: column count differs");
        for (c, (x, y)) in a.iter().zip(b).enumerate() {
            assert_eq!(
                show(x),
                show(y),
                "row {r}, column {}: keeperdb vs {engine_cli}",
                header[c]
            );
        }
    }
}

/// A float cell, parsed, for comparisons where only the printing differs.
pub fn float_cell(c: &Cell) -> Option<f64> {
    c.as_ref().map(|v| {
        let s = String::from_utf8_lossy(v).to_ascii_lowercase();
        match s.as_str() {
            "infinity" | "inf" => f64::INFINITY,
            "-infinity" | "-inf" => f64::NEG_INFINITY,
            "nan" => f64::NAN,
            _ => s
                .parse::<f64>()
                .unwrap_or_else(|e| panic!("not a float: {s:?}: {e}")),
        }
    })
}
