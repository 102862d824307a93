//! `keeperdb shell` driven through piped stdin (statements over several lines, `\` commands,
//! errors that do not stop the session), and `keeperdb schema`.

mod query_support;

use std::path::Path;
use std::process::Output;

use query_support::*;

fn shell(kdb: &Kdb, conn: &str, input: &str) -> Output {
    shell_with(kdb, conn, input, &[])
}

/// `keeperdb shell CONN --format csv` with `input` piped in and `env` set.
fn shell_with(kdb: &Kdb, conn: &str, input: &str, env: &[(&str, &Path)]) -> Output {
    let mut cmd = kdb.cmd();
    cmd.args(["shell", conn, "--format", "csv"])
        .envs(env.iter().copied());
    with_stdin(cmd, input)
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

#[test]
fn backslash_commands_include_redirect_edit_reconnect_and_say_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.db");
    let second = dir.path().join("second.db");
    native(
        "sqlite3",
        &[first.to_str().unwrap(), "CREATE TABLE a_t (x)"],
        &[],
    );
    native(
        "sqlite3",
        &[second.to_str().unwrap(), "CREATE TABLE b_t (y)"],
        &[],
    );
    let include = dir.path().join("include.sql");
    std::fs::write(&include, "SELECT 'from include'\n  AS i;\n").unwrap();
    let out_file = dir.path().join("out.csv");
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf 'SELECT 7 AS seven;\\n' > \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let input = format!(
        "\\conninfo\n\\i {inc}\n\\o {out}\nSELECT 'to file' AS f;\n\\o\nSELECT 'to screen' AS s;\n\
         \\e\n\\c {second}\nSELECT name FROM sqlite_master WHERE type = 'table';\n\
         \\c {missing}\n\\conninfo\n\\dn\n",
        inc = include.display(),
        out = out_file.display(),
        second = second.display(),
        missing = dir.path().join("no-such-dir").join("x.db").display(),
    );
    let kdb = Kdb::new();
    let out = shell_with(
        &kdb,
        first.to_str().unwrap(),
        &input,
        &[("VISUAL", &editor)],
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    // The failed \c is reported and makes the run exit 1; everything else worked.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let conninfo = stdout.find("You are connected to").expect("\\conninfo");
    assert!(
        stdout[conninfo..].contains(first.to_str().unwrap()),
        "{stdout}"
    );
    assert!(
        stdout.contains("i\nfrom include\n"),
        "\\i ran the file: {stdout}"
    );
    let file = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(file, "f\nto file\n", "\\o sent the result to the file");
    assert!(!stdout.contains("to file"), "{stdout}");
    assert!(
        stdout.contains("s\nto screen\n"),
        "\\o alone is back to the screen: {stdout}"
    );
    assert!(
        stdout.contains("seven\n7\n"),
        "\\e ran what the editor wrote: {stdout}"
    );
    assert!(stdout.contains("You are now connected to"), "{stdout}");
    assert!(
        stdout.contains("name\nb_t\n"),
        "\\c switched databases: {stdout}"
    );
    assert!(stderr.contains("still connected to"), "{stderr}");
    let last = stdout.rfind("You are connected to").unwrap();
    assert!(
        stdout[last..].contains(second.to_str().unwrap()),
        "a failed \\c keeps the connection: {stdout}"
    );
    assert!(stdout.contains("schema\nmain\n"), "\\dn: {stdout}");
}

#[test]
fn dn_lists_the_schemas_even_without_tables() {
    let url = pg_url();
    let schema = format!("kdb_empty_schema_{}", std::process::id());
    psql(
        &url,
        &format!("DROP SCHEMA IF EXISTS {schema}; CREATE SCHEMA {schema}"),
    );
    let kdb = Kdb::new();
    let out = shell(&kdb, &url, "\\dn\n");
    psql(&url, &format!("DROP SCHEMA {schema}"));
    assert_success(&out, "\\dn");
    let stdout = text(&out.stdout);
    assert!(stdout.lines().any(|l| l == schema), "{stdout}");
    assert!(stdout.lines().any(|l| l == "public"), "{stdout}");
    assert!(!stdout.contains("pg_catalog"), "{stdout}");
}
