//! The habits psql, mysql and sqlite3 users bring (issue 13, item 5): SQL on stdin when none is
//! given, `-c SQL`, SQL that starts with a `--` comment taken as SQL, and no `-h` that means
//! help where they mean a host.

mod query_support;

use query_support::*;

fn sqlite_db(dir: &std::path::Path) -> String {
    let db = dir.join("habits.db");
    native(
        "sqlite3",
        &[db.to_str().unwrap(), "CREATE TABLE t (a)"],
        &[],
    );
    db.to_str().unwrap().to_string()
}

#[test]
fn sql_comes_from_stdin_when_none_is_given() {
    let kdb = Kdb::new();
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path());
    for conn in [db.as_str(), &pg_url(), &mariadb_url()] {
        let mut cmd = kdb.cmd();
        cmd.args(["query", conn, "--format", "csv"]);
        let out = with_stdin(cmd, "select 1 as a;\nselect 2 as b\n");
        assert_success(&out, "query with SQL on stdin");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a\n1\nb\n2\n",
            "{conn}"
        );
    }
    // Nothing on stdin: a usage error that says what is missing.
    let out = kdb.run(&["query", &db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no SQL statement given"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dash_c_and_sql_starting_with_a_comment_are_sql() {
    let kdb = Kdb::new();
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path());
    let csv = |args: &[&str]| {
        let out = kdb.run(args);
        assert_success(&out, &format!("{args:?}"));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(
        csv(&["query", &db, "-c", "select 2 as b", "--format", "csv"]),
        "b\n2\n"
    );
    assert_eq!(
        csv(&[
            "query",
            &db,
            "-- the answer\nselect 3 as c",
            "--format",
            "csv"
        ]),
        "c\n3\n"
    );
    assert_eq!(
        csv(&["query", &db, "--format", "csv", "-c", "--x\nselect 4 as d"]),
        "d\n4\n"
    );
    // Both the positional SQL and -c: refused, not one of them silently dropped.
    let out = kdb.run(&["query", &db, "select 1", "-c", "select 2"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn dash_h_is_not_help_anywhere() {
    let kdb = Kdb::new();
    for args in [
        &["-h"][..],
        &["query", "-h", "x.db"],
        &["plugins", "list", "-h"],
    ] {
        let out = kdb.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("unexpected argument '-h'"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = kdb.run(&["query", "--help"]);
    assert_success(&out, "query --help");
    assert!(String::from_utf8_lossy(&out.stdout).contains("-c, --command <SQL>"));
}
