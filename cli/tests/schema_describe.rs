//! `keeperdb schema` and the shell's `\d` tell the same whole story on PostgreSQL, MariaDB and
//! SQLite: types with their lengths and precision as the engine's own client shows them,
//! nullability as one boolean, defaults (none as none), primary, unique and foreign keys,
//! indexes; and a missing table is the same clear error everywhere.

mod query_support;

use query_support::*;
use serde_json::Value;

/// The same two tables, in each engine's dialect where they differ.
const TABLES: &str = "
CREATE TABLE artist (artist_id INTEGER NOT NULL, name VARCHAR(120) NOT NULL, PRIMARY KEY (artist_id));
CREATE TABLE album (
  album_id INTEGER NOT NULL,
  title VARCHAR(200) NOT NULL DEFAULT 'untitled',
  price NUMERIC(10,2),
  artist_id INTEGER NOT NULL,
  note TEXT,
  PRIMARY KEY (album_id),
  CONSTRAINT album_title_uq UNIQUE (title, artist_id),
  CONSTRAINT album_artist_fk FOREIGN KEY (artist_id) REFERENCES artist (artist_id)
);
CREATE INDEX album_artist_ix ON album (artist_id);
";

/// One engine with the tables made: the CONN to give keeperdb, the `--schema` to name, and
/// the engine client's own description of `album`.
struct Engine {
    label: &'static str,
    conn: String,
    schema: Option<String>,
    native_description: String,
    _dir: Option<tempfile::TempDir>,
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn postgres() -> Engine {
    let url = pg_url();
    let schema = unique("kdb_describe");
    psql(
        &url,
        &format!("CREATE SCHEMA {schema}; SET search_path = {schema}; {TABLES}"),
    );
    let described = native(
        "psql",
        &[&url, "-X", "-c", &format!("\\d {schema}.album")],
        &[],
    );
    Engine {
        label: "PostgreSQL",
        conn: url,
        schema: Some(schema),
        native_description: String::from_utf8_lossy(&described).to_string(),
        _dir: None,
    }
}

fn mariadb_engine() -> Engine {
    let url = mariadb_url();
    let db = unique("kdb_describe");
    mariadb(
        &url,
        &format!("CREATE DATABASE {db}; USE {db}; {TABLES}"),
        &[],
    );
    let described = mariadb(&url, &format!("SHOW COLUMNS FROM {db}.album"), &[]);
    Engine {
        label: "MariaDB",
        conn: url,
        schema: Some(db),
        native_description: String::from_utf8_lossy(&described).to_string(),
        _dir: None,
    }
}

fn sqlite() -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("describe.db");
    let path = db.to_str().unwrap().to_string();
    native("sqlite3", &[&path, TABLES], &[]);
    let described = native("sqlite3", &[&path, ".schema album"], &[]);
    Engine {
        label: "SQLite",
        conn: path,
        schema: None,
        native_description: String::from_utf8_lossy(&described).to_string(),
        _dir: Some(dir),
    }
}

fn engines() -> Vec<Engine> {
    vec![postgres(), mariadb_engine(), sqlite()]
}

fn schema_args<'a>(e: &'a Engine, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["schema", e.conn.as_str()];
    if let Some(s) = &e.schema {
        args.extend(["--schema", s.as_str()]);
    }
    args.extend(extra);
    args
}

fn described_album(kdb: &Kdb, e: &Engine) -> Value {
    let out = kdb.run(&schema_args(e, &["--table", "album", "--format", "json"]));
    assert_success(&out, &format!("schema --format json on {}", e.label));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let tables = doc.as_array().expect("an array of tables");
    assert_eq!(tables.len(), 1, "{}: {doc}", e.label);
    tables[0].clone()
}

#[test]
fn schema_tells_the_same_whole_story_on_every_engine() {
    let kdb = Kdb::new();
    for e in engines() {
        let album = described_album(&kdb, &e);
        let label = e.label;
        assert_eq!(album["name"], "album", "{label}");
        let columns = album["columns"].as_array().unwrap();
        let names: Vec<&str> = columns
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["album_id", "title", "price", "artist_id", "note"],
            "{label}"
        );
        let column = |n: &str| columns.iter().find(|c| c["name"] == n).unwrap();

        // Lengths and precision, as the engine's own client shows the type.
        let title_type = column("title")["type"].as_str().unwrap();
        let price_type = column("price")["type"].as_str().unwrap();
        assert!(title_type.contains("(200)"), "{label}: {title_type}");
        assert!(price_type.contains("(10,2)"), "{label}: {price_type}");
        for c in columns {
            let t = c["type"].as_str().unwrap();
            assert!(
                e.native_description.contains(t),
                "{label}: the type `{t}` is not what the engine's client shows:\n{}",
                e.native_description
            );
        }

        // Nullability is a boolean everywhere; no default is null, never the text NULL.
        assert_eq!(column("album_id")["nullable"], false, "{label}");
        assert_eq!(column("title")["nullable"], false, "{label}");
        assert_eq!(column("price")["nullable"], true, "{label}");
        assert_eq!(column("price")["default"], Value::Null, "{label}");
        assert_eq!(column("note")["default"], Value::Null, "{label}");
        assert!(
            column("title")["default"]
                .as_str()
                .unwrap()
                .contains("untitled"),
            "{label}: {}",
            column("title")["default"]
        );

        // Keys.
        let keys = album["keys"].as_array().unwrap();
        let key = |kind: &str| {
            keys.iter()
                .find(|k| k["kind"] == kind)
                .unwrap_or_else(|| panic!("{label}: no {kind} in {keys:?}"))
        };
        assert_eq!(
            key("primary_key")["columns"],
            serde_json::json!(["album_id"]),
            "{label}"
        );
        assert_eq!(
            key("unique")["columns"],
            serde_json::json!(["title", "artist_id"]),
            "{label}"
        );
        let fk = key("foreign_key");
        assert_eq!(fk["columns"], serde_json::json!(["artist_id"]), "{label}");
        assert_eq!(fk["references"]["table"], "artist", "{label}");
        assert_eq!(
            fk["references"]["columns"],
            serde_json::json!(["artist_id"]),
            "{label}"
        );

        // Indexes.
        let indexes = album["indexes"].as_array().unwrap();
        let ix = indexes
            .iter()
            .find(|i| i["name"] == "album_artist_ix")
            .unwrap_or_else(|| panic!("{label}: {indexes:?}"));
        assert_eq!(ix["columns"], serde_json::json!(["artist_id"]), "{label}");
        assert_eq!(ix["unique"], false, "{label}");
        assert!(
            indexes.iter().any(|i| i["unique"] == true
                && i["columns"] == serde_json::json!(["title", "artist_id"])),
            "{label}: the unique constraint's index: {indexes:?}"
        );
    }
}

#[test]
fn the_block_for_people_shows_keys_and_indexes_and_never_the_text_null() {
    let kdb = Kdb::new();
    for e in engines() {
        let out = kdb.run(&schema_args(&e, &["--table", "album", "--format", "table"]));
        assert_success(&out, e.label);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let label = e.label;
        for expected in [
            "Table ",
            "album",
            " column ",
            " nullable ",
            "Primary key:",
            "(album_id)",
            "Unique:",
            "(title, artist_id)",
            "Foreign keys:",
            "(artist_id) references ",
            "artist (artist_id)",
            "Indexes:",
            "album_artist_ix (artist_id)",
        ] {
            assert!(
                text.contains(expected),
                "{label}: no `{expected}` in\n{text}"
            );
        }
        assert!(!text.contains("NULL"), "{label}: {text}");

        // The shell's \d shows the same block.
        let target = match &e.schema {
            Some(s) => format!("{s}.album"),
            None => "album".to_string(),
        };
        let mut cmd = kdb.cmd();
        cmd.args(["shell", e.conn.as_str()]);
        let shell = with_stdin(cmd, &format!("\\d {target}\n"));
        assert_success(&shell, "shell \\d");
        let shown = String::from_utf8_lossy(&shell.stdout);
        assert!(
            shown.contains(&text[text.find("Table ").unwrap()..]),
            "{label}: \\d showed\n{shown}\nschema showed\n{text}"
        );
    }
}

#[test]
fn csv_has_one_row_per_column_with_nullability_as_one_type() {
    let kdb = Kdb::new();
    let mut per_engine = Vec::new();
    for e in engines() {
        let out = kdb.run(&schema_args(&e, &["--table", "album", "--format", "csv"]));
        assert_success(&out, e.label);
        let rows = parse_csv(&out.stdout);
        let cell = |c: &Cell| String::from_utf8_lossy(c.as_deref().unwrap_or_default()).to_string();
        let header: Vec<String> = rows[0].iter().map(cell).collect();
        assert_eq!(
            header,
            [
                "table_schema",
                "table_name",
                "name",
                "type",
                "nullable",
                "default",
                "position",
                "primary_key"
            ],
            "{}",
            e.label
        );
        let nullable: Vec<String> = rows[1..].iter().map(|r| cell(&r[4])).collect();
        let primary: Vec<String> = rows[1..].iter().map(|r| cell(&r[7])).collect();
        per_engine.push((e.label, nullable, primary));
    }
    for (label, nullable, primary) in &per_engine {
        assert_eq!(
            nullable,
            &["false", "false", "true", "false", "true"],
            "{label}"
        );
        assert_eq!(
            primary,
            &["true", "false", "false", "false", "false"],
            "{label}"
        );
    }
}

#[test]
fn a_missing_table_is_the_same_clear_error_on_every_engine() {
    let kdb = Kdb::new();
    for e in engines() {
        let out = kdb.run(&schema_args(&e, &["--table", "no_such_table"]));
        assert_eq!(out.status.code(), Some(1), "{}", e.label);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no table or view `") && err.contains("no_such_table` in the catalog"),
            "{}: {err}",
            e.label
        );
    }
}
