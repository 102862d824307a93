//! `keeperdb shell` at a terminal: driven in a real pseudo-terminal (rexpect), as a person
//! types, for what only a terminal shows: history that recalls a multi-line statement exactly,
//! the pager, Tab completion from the catalog, expanded display, and Ctrl-C on a running
//! statement.

mod query_support;

use std::path::Path;
use std::process::Command;

use query_support::*;
use rexpect::session::{PtySession, spawn_command};

/// Seconds any one expected text may take to appear.
const WAIT_MS: u64 = 30_000;

/// `keeperdb shell CONN` in a 24x100 terminal, with `env` set.
fn shell_at_terminal(kdb: &Kdb, conn: &str, env: &[(&str, &str)]) -> PtySession {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "stty rows 24 cols 100; exec \"$0\" shell \"$1\"",
        env!("CARGO_BIN_EXE_keeperdb"),
        conn,
    ]);
    let base = kdb.cmd();
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env("PAGER", "").env("TERM", "xterm");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut p = spawn_command(cmd, Some(WAIT_MS)).expect("the shell starts in a pty");
    p.exp_string("=> ").expect("the first prompt");
    p
}

/// Type `line` at the prompt, wait for `expect` in what it prints, then for the next prompt,
/// as a person waits before typing on; returns what came before `expect`.
fn enter(p: &mut PtySession, line: &str, expect: &str) -> String {
    p.send_line(line).unwrap();
    let before = p
        .exp_string(expect)
        .unwrap_or_else(|e| panic!("after `{line}`, no `{expect}`: {e}"));
    p.exp_string("=> ")
        .unwrap_or_else(|e| panic!("no prompt after `{line}`: {e}"));
    before
}

/// End the shell with Ctrl-D (which, unlike `\\q`, adds nothing to the history).
fn quit(mut p: PtySession) {
    p.send_control('d').unwrap();
    p.exp_eof().expect("the shell ends on Ctrl-D");
}

/// A SQLite file with `invoice_lines` and a few rows, made with sqlite3.
fn sqlite_db(dir: &Path) -> String {
    let db = dir.join("shop.db");
    native(
        "sqlite3",
        &[
            db.to_str().unwrap(),
            "CREATE TABLE invoice_lines (id INTEGER PRIMARY KEY, quantity INTEGER, unit_price REAL, note TEXT);
             INSERT INTO invoice_lines VALUES (1, 3, 0.99, NULL), (2, 1, 1.99, 'gift');",
        ],
        &[],
    );
    db.to_str().unwrap().to_string()
}

#[test]
fn history_recalls_a_multi_line_statement_exactly_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path());
    let kdb = Kdb::new();
    let mut p = shell_at_terminal(&kdb, &db, &[]);
    // Joined into one line, the comment would swallow the rest and the statement would
    // never end.
    p.send_line("SELECT 40 + 1 AS first -- the answer, nearly")
        .unwrap();
    p.exp_string("-> ").unwrap();
    enter(&mut p, ", 'x' || 'y' AS second;", "41 | xy");
    quit(p);

    let history = std::fs::read_to_string(kdb.config.path().join("shell_history")).unwrap();
    assert!(
        history.contains("SELECT 40 + 1 AS first -- the answer, nearly\\n, 'x' || 'y' AS second;"),
        "the history keeps the line break: {history}"
    );

    // A new shell recalls it with the Up arrow and runs it again as it was.
    let mut p = shell_at_terminal(&kdb, &db, &[]);
    p.send("\x1b[A").unwrap();
    p.send_line("").unwrap();
    p.exp_string("41 | xy")
        .expect("the recalled statement runs unchanged");
    quit(p);
}

#[test]
fn a_statement_that_sets_a_password_or_starts_with_a_space_is_not_kept_in_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path());
    let kdb = Kdb::new();
    let mut p = shell_at_terminal(&kdb, &db, &[]);
    enter(&mut p, "SELECT 'kept' AS k;", " kept");
    enter(
        &mut p,
        "SELECT 'password' AS pw_PASSWORD_x, 1 AS password;",
        "(1 row)",
    );
    enter(&mut p, " SELECT 'private' AS p;", " private");
    quit(p);
    let history = std::fs::read_to_string(kdb.config.path().join("shell_history")).unwrap();
    assert!(history.contains("SELECT 'kept' AS k;"), "{history}");
    assert!(!history.contains("password"), "{history}");
    assert!(!history.contains("private"), "{history}");
}

#[test]
fn long_or_wide_output_goes_through_the_pager_and_short_output_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path());
    let paged = dir.path().join("paged.txt");
    let pager = format!("cat > '{}'", paged.display());
    let kdb = Kdb::new();
    let mut p = shell_at_terminal(&kdb, &db, &[("PAGER", &pager)]);

    enter(&mut p, "SELECT 'short' AS s;", "(1 row)");
    assert!(
        !paged.exists(),
        "a result that fits the screen is shown, not paged"
    );

    // (Short enough not to wrap: the line editor redraws a wrapped line with its prompt.)
    let hundred = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<100) SELECT x FROM c;";
    p.send_line(hundred).unwrap();
    // The pager had the output: the next prompt comes with none of it on the screen.
    let shown = p.exp_string("=> ").unwrap();
    assert!(!shown.contains("(100 rows)"), "paged, not shown: {shown}");
    let text = std::fs::read_to_string(&paged).expect("100 rows went to the pager");
    assert!(
        text.contains("\n   1\n") && text.contains("\n 100\n"),
        "{text}"
    );
    assert!(text.ends_with("(100 rows)\n"), "{text}");
    std::fs::remove_file(&paged).unwrap();

    // A row wider than the terminal: paged too (less -S would scroll it sideways). Two
    // columns, as one cell alone is cut at 80 characters.
    p.send_line("SELECT printf('%.60c', 'w') AS a, printf('%.60c', 'v') AS b;")
        .unwrap();
    p.exp_string("=> ").unwrap();
    let text = std::fs::read_to_string(&paged).expect("a wide row went to the pager");
    assert!(
        text.contains(&format!("{} | {}", "w".repeat(60), "v".repeat(60))),
        "{text}"
    );
    std::fs::remove_file(&paged).unwrap();

    enter(&mut p, "\\pset pager off", "Pager is off.");
    enter(&mut p, hundred, "(100 rows)");
    assert!(!paged.exists(), "\\pset pager off shows everything at once");
    quit(p);
}

#[test]
fn tab_completes_keywords_tables_and_columns_from_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path());
    let kdb = Kdb::new();
    let mut p = shell_at_terminal(&kdb, &db, &[]);
    // A table after FROM, a column after its table's name, a keyword in the case typed.
    p.send("sel\t").unwrap();
    p.send(" invoice_lines.unit_\t").unwrap();
    p.send(" fr\t").unwrap();
    p.send(" invoice_l\t").unwrap();
    p.send_line(";").unwrap();
    p.exp_string("unit_price")
        .expect("the completed statement ran");
    p.exp_string("0.99").unwrap();
    quit(p);
    let history = std::fs::read_to_string(kdb.config.path().join("shell_history")).unwrap();
    assert!(
        history.contains("select invoice_lines.unit_price from invoice_lines;"),
        "what Tab completed is what ran: {history}"
    );
}

#[test]
fn expanded_display_null_text_and_cut_values_as_psql_users_set_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path());
    let kdb = Kdb::new();
    let mut p = shell_at_terminal(&kdb, &db, &[]);
    enter(&mut p, "\\x", "Expanded display is on.");
    let shown = enter(
        &mut p,
        "SELECT id, note FROM invoice_lines WHERE id = 1;",
        "note | NULL",
    );
    assert!(shown.contains("-[ RECORD 1 ]"), "{shown}");
    enter(&mut p, "\\x off", "Expanded display is off.");
    enter(&mut p, "\\pset null '(nil)'", "Null display is \"(nil)\".");
    // MySQL's \\G: expanded for this statement only.
    enter(
        &mut p,
        "SELECT note FROM invoice_lines WHERE id = 1\\G",
        "note | (nil)",
    );
    let shown = enter(
        &mut p,
        "SELECT note FROM invoice_lines WHERE id = 1;",
        "(1 row)",
    );
    assert!(
        shown.contains("(nil)") && !shown.contains("RECORD"),
        "{shown}"
    );
    // A value wider than the cut is shown cut, with a note saying how to see it whole.
    enter(&mut p, "\\pset truncate 10", "wider than 10");
    let shown = enter(
        &mut p,
        "SELECT 'abcdefghijklmnop' AS v;",
        "(values longer than 10 characters are cut; expanded display shows them whole)",
    );
    // (After the echo of the statement itself.)
    let cells = &shown[shown.find("---").expect("a table")..];
    assert!(
        cells.contains("abcdefghi") && !cells.contains("abcdefghij"),
        "{shown}"
    );
    quit(p);
}

#[test]
fn ctrl_c_cancels_a_running_statement_on_the_server_and_the_shell_goes_on() {
    let kdb = Kdb::new();
    let mut p = shell_at_terminal(&kdb, &pg_url(), &[]);
    p.send_line("SELECT pg_sleep(60);").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    p.send_control('c').unwrap();
    p.exp_string("interrupted")
        .expect("the statement is cancelled");
    p.exp_string("=> ").expect("back at the prompt");
    enter(&mut p, "SELECT 6 * 7 AS answer;", "42");
    quit(p);
}

#[test]
fn the_shell_completes_connection_names_in_bash() {
    let kdb = Kdb::new();
    for (name, url) in [
        ("orders", "postgres://u@db1.internal/orders"),
        ("orbit", "postgres://u@db2.internal/orbit"),
        ("shop", "postgres://u@db3.internal/shop"),
    ] {
        assert_success(
            &kdb.run(&["connections", "add", url, "--name", name]),
            "connections add",
        );
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_keeperdb")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = r#"
source <(keeperdb completions bash)
COMP_WORDS=(keeperdb query or); COMP_CWORD=2; COMP_TYPE=9
COMP_LINE="keeperdb query or"; COMP_POINT=${#COMP_LINE}
_clap_complete_keeperdb keeperdb or query
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let base = kdb.cmd();
    let out = Command::new("bash")
        .args(["-c", script])
        .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("PATH", path)
        .output()
        .unwrap();
    assert_success(&out, "bash completion");
    let offered: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        offered,
        ["orbit", "orders"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
