//! `keeperdb shell` driven through piped stdin (statements over several lines, `\` commands,
//! errors that do not stop the session), and `keeperdb schema`.

mod query_support;

use std::io::Write;
use std::process::{Output, Stdio};

use query_support::*;

fn shell(kdb: &Kdb, conn: &str, input: &str) -> Output {
    let mut child = kdb
        .cmd()
        .args(["shell", conn, "--format", "csv"])
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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn piped_shell_runs_multi_line_statements_and_catalog_commands_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shell.db");
    native("sqlite3", &[db.to_str().unwrap(), "VACUUM"], &[]);
    let kdb = Kdb::new();
    let input = "\
CREATE TABLE pets (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL
);
INSERT INTO pets VALUES (1, 'Rex'),
  (2, 'semi;colon');
SELECT name
  FROM pets
  ORDER BY id;
\\dt
\\d pets
\\q
SELECT 'never runs';
";
    let out = shell(&kdb, db.to_str().unwrap(), input);
    assert_success(&out, "shell");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("name\nRex\nsemi;colon\n"), "{stdout}");
    assert!(stdout.contains("pets"), "\\dt lists the table: {stdout}");
    assert!(
        stdout.contains("INTEGER") || stdout.contains("integer"),
        "\\d shows column types: {stdout}"
    );
    assert!(!stdout.contains("never runs"), "\\q stops: {stdout}");
}

#[test]
fn piped_shell_reports_errors_goes_on_and_exits_1() {
    let kdb = Kdb::new();
    let input = "SELEC broken;\nSELECT 41 + 1 AS answer;\n\\nonsense\n";
    let out = shell(&kdb, &pg_url(), input);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("syntax error"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("\\nonsense"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("answer\n42\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn piped_shell_on_postgres_handles_dollar_quotes_and_catalog() {
    let url = pg_url();
    let kdb = Kdb::new();
    let table = format!("kdb_shell_{}", std::process::id());
    let input = format!(
        "CREATE TEMP TABLE {table} (id int, note text);\n\
         INSERT INTO {table} VALUES (1, $$semi; colon$$);\n\
         SELECT note FROM {table};\n\
         \\l\n"
    );
    let out = shell(&kdb, &url, &input);
    assert_success(&out, "shell");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("note\nsemi; colon\n"), "{stdout}");
    let db = url_parts(&url).database;
    assert!(
        stdout.contains(&db),
        "\\l lists the current database {db}: {stdout}"
    );
}

#[test]
fn schema_lists_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("schema.db");
    let setup = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE albums (id INTEGER PRIMARY KEY, title TEXT NOT NULL); CREATE TABLE artists (id INTEGER, name TEXT);")
        .status()
        .unwrap();
    assert!(setup.success());
    let kdb = Kdb::new();
    let out = kdb.run(&["schema", db.to_str().unwrap(), "--format", "csv"]);
    assert_success(&out, "schema");
    let rows = parse_csv(&out.stdout);
    let header: Vec<String> = rows[0]
        .iter()
        .map(|c| text(c.as_deref().unwrap_or_default()))
        .collect();
    let table_col = header.iter().position(|h| h == "table_name").unwrap();
    let name_col = header.iter().position(|h| h == "name").unwrap();
    let pairs: Vec<(String, String)> = rows[1..]
        .iter()
        .map(|r| {
            (
                text(r[table_col].as_deref().unwrap()),
                text(r[name_col].as_deref().unwrap()),
            )
        })
        .collect();
    for want in [("albums", "id"), ("albums", "title"), ("artists", "name")] {
        assert!(
            pairs.iter().any(|(t, c)| t == want.0 && c == want.1),
            "{want:?} missing from {pairs:?}"
        );
    }
    let human = kdb.run(&["schema", db.to_str().unwrap(), "--format", "table"]);
    assert_success(&human, "schema --format table");
    let shown = text(&human.stdout);
    assert!(
        shown.contains("albums") && shown.contains("title"),
        "{shown}"
    );
}

/// On a terminal (a pty from util-linux `script`), the shell keeps whole statements in its
/// history file, so recalling one brings back every line of it.
#[test]
fn interactive_shell_keeps_whole_statements_in_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    native(
        "sqlite3",
        &[
            db.to_str().unwrap(),
            "CREATE TABLE t (a); INSERT INTO t VALUES (5)",
        ],
        &[],
    );
    let kdb = Kdb::new();
    let command = format!("{} shell {}", env!("CARGO_BIN_EXE_keeperdb"), db.display());
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("KEEPERDB_CONFIG_DIR", kdb.config.path())
        .env("KEEPERDB_BUNDLED_PLUGINS_DIR", plugin_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for line in ["SELECT a * 2 AS doubled", "  FROM t;", "\\q"] {
            // Give the line editor time to draw each prompt, as a person typing would.
            std::thread::sleep(std::time::Duration::from_millis(300));
            write!(stdin, "{line}\r").unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let out = child.wait_with_output().unwrap();
    assert_success(&out, "interactive shell");
    assert!(text(&out.stdout).contains("10"), "{}", text(&out.stdout));
    let history = std::fs::read_to_string(kdb.config.path().join("shell_history")).unwrap();
    assert!(
        history
            .lines()
            .any(|l| l == "SELECT a * 2 AS doubled FROM t;"),
        "one entry per statement: {history:?}"
    );
}

#[test]
fn several_statements_with_format_json_give_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("script.db");
    // An empty file is an empty SQLite database.
    std::fs::File::create(&db).unwrap();
    let lite = db.to_str().unwrap().to_string();
    let kdb = Kdb::new();
    let table = format!("kdb_script_{}", std::process::id());
    for url in [pg_url(), mariadb_url(), lite] {
        let script = format!(
            "CREATE TABLE {table} (n int); INSERT INTO {table} VALUES (1), (2); \
             SELECT n FROM {table} ORDER BY n; SELECT 'x' AS s; DROP TABLE {table}"
        );
        let out = kdb.query(&url, &script, "json");
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!(
                "{url}: not one JSON document ({e}): {}",
                String::from_utf8_lossy(&out)
            )
        });
        assert_eq!(
            doc,
            serde_json::json!([
                {"rows_affected": 0},
                {"rows_affected": 2},
                [{"n": 1}, {"n": 2}],
                [{"s": "x"}],
                {"rows_affected": 0}
            ]),
            "{url}"
        );
        // One statement stays its rows alone.
        let one: serde_json::Value =
            serde_json::from_slice(&kdb.query(&url, "SELECT 1 AS one", "json")).unwrap();
        assert_eq!(one, serde_json::json!([{"one": 1}]), "{url}");
    }
}
