//! Ad-hoc connections as libpq tools make them (issue 13, item 4), against the test PostgreSQL
//! server and real SQLite files: the `PG*` environment fills what a URL leaves out, the password
//! comes from `PGPASSWORD` or the password file (skipped when others may read it), a saved
//! connection's database and user change for one run (its saved password is not sent for
//! another user), `-W` asks on a terminal, a MariaDB URL reads `~/.my.cnf`, and a SQLite file
//! is created only with `--create`.

mod query_support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use query_support::*;

const PG_VARS: [&str; 8] = [
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSSLMODE",
    "PGSERVICE",
];

/// keeperdb with no `PG*` variable of the test process, and a home of its own.
fn cmd(kdb: &Kdb, home: &std::path::Path) -> Command {
    let mut c = kdb.cmd();
    for var in PG_VARS {
        c.env_remove(var);
    }
    c.env("HOME", home);
    c
}

fn stdout(out: &Output, what: &str) -> String {
    assert_success(out, what);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const WHO: &str = "select current_user as u, current_database() as d";

#[test]
fn a_url_without_a_password_takes_it_from_the_password_file_as_libpq_does() {
    let kdb = Kdb::new();
    let home = tempfile::tempdir().unwrap();
    let p = url_parts(&pg_url());
    let bare = format!("postgres://{}@{}:{}/{}", p.user, p.host, p.port, p.database);
    let pgpass = home.path().join(".pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "# other servers first\nelsewhere:5432:*:*:wrong\n{}:{}:*:{}:{}\n",
            p.host, p.port, p.user, p.password
        ),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = cmd(&kdb, home.path())
        .args(["query", &bare, "-c", WHO, "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out, "pgpass"),
        format!("u,d\n{},{}\n", p.user, p.database)
    );

    // Readable by others: not read, as libpq refuses it, and the login fails saying so.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = cmd(&kdb, home.path())
        .args(["query", &bare, "-c", WHO])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("has group or world access; permissions should be u=rw (0600) or less"),
        "{err}"
    );
    assert!(!err.contains(&p.password), "{err}");
}

#[test]
fn the_pg_environment_fills_what_a_url_leaves_out() {
    let kdb = Kdb::new();
    let home = tempfile::tempdir().unwrap();
    let p = url_parts(&pg_url());
    let out = cmd(&kdb, home.path())
        .args(["query", "postgres://", "-c", WHO, "--format", "csv"])
        .env("PGHOST", &p.host)
        .env("PGPORT", p.port.to_string())
        .env("PGUSER", &p.user)
        .env("PGDATABASE", "postgres")
        .env("PGPASSWORD", &p.password)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out, "PG* env"),
        format!("u,d\n{},postgres\n", p.user)
    );

    // What the URL says wins over the environment.
    let url = format!("postgres://{}:{}/{}", p.host, p.port, p.database);
    let out = cmd(&kdb, home.path())
        .args(["query", &url, "-c", WHO, "--format", "csv"])
        .env("PGHOST", "unreachable.invalid")
        .env("PGUSER", &p.user)
        .env("PGDATABASE", "postgres")
        .env("PGPASSWORD", &p.password)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out, "URL over env"),
        format!("u,d\n{},{}\n", p.user, p.database)
    );
}

#[test]
fn a_saved_connection_takes_another_database_and_user_for_one_run() {
    let kdb = Kdb::new();
    let home = tempfile::tempdir().unwrap();
    let p = url_parts(&pg_url());
    let other = "adhoc_other_user";
    psql(
        &pg_url(),
        &format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{other}') THEN \
             CREATE ROLE {other} LOGIN PASSWORD 'other-pw-1'; END IF; END $$; \
             GRANT CONNECT ON DATABASE postgres TO {other}"
        ),
    );
    let bare = format!("postgres://{}@{}:{}/{}", p.user, p.host, p.port, p.database);
    let mut add = cmd(&kdb, home.path());
    add.args([
        "connections",
        "add",
        &bare,
        "--name",
        "saved",
        "--password-stdin",
    ]);
    stdout(&with_stdin(add, &p.password), "connections add");

    let out = cmd(&kdb, home.path())
        .args([
            "query", "saved", "-d", "postgres", "-c", WHO, "--format", "csv",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out, "-d"), format!("u,d\n{},postgres\n", p.user));
    // The saved connection itself is unchanged.
    let out = cmd(&kdb, home.path())
        .args(["query", "saved", "-c", WHO, "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out, "saved"),
        format!("u,d\n{},{}\n", p.user, p.database)
    );

    // Another user: the saved password is not sent for it, so the login needs one of its own.
    let out = cmd(&kdb, home.path())
        .args(["query", "saved", "-U", other, "-d", "postgres", "-c", WHO])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr(&out).contains(&p.password), "{}", stderr(&out));
    let out = cmd(&kdb, home.path())
        .args([
            "query", "saved", "-U", other, "-d", "postgres", "-c", WHO, "--format", "csv",
        ])
        .env("PGPASSWORD", "other-pw-1")
        .output()
        .unwrap();
    assert_eq!(stdout(&out, "-U"), format!("u,d\n{other},postgres\n"));
}

#[test]
fn w_asks_for_the_password_and_without_a_terminal_says_so() {
    let kdb = Kdb::new();
    let home = tempfile::tempdir().unwrap();
    let out = cmd(&kdb, home.path())
        .args(["query", &pg_url(), "-W", "-c", "select 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("there is no terminal to ask on") && err.contains("-W"),
        "{err}"
    );
}

#[test]
fn a_missing_sqlite_file_is_created_only_when_asked_for() {
    let kdb = Kdb::new();
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("new.db");
    let db = db.to_str().unwrap();
    let out = cmd(&kdb, home.path())
        .args(["query", db, "-c", "create table t (a integer)"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "there is no SQLite database file at {db}; nothing was created"
        )) && err.contains("--create"),
        "{err}"
    );
    assert!(!std::path::Path::new(db).exists());

    let out = cmd(&kdb, home.path())
        .args([
            "query",
            db,
            "--create",
            "-c",
            "create table t (a integer); insert into t values (7)",
        ])
        .output()
        .unwrap();
    stdout(&out, "--create");
    let rows = native("sqlite3", &[db, "select a from t"], &[]);
    assert_eq!(String::from_utf8_lossy(&rows), "7\n");
}

#[test]
fn a_mariadb_url_takes_user_and_password_from_the_option_file() {
    let kdb = Kdb::new();
    let home = tempfile::tempdir().unwrap();
    let m = url_parts(&mariadb_url());
    let cnf = home.path().join(".my.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[mysqld]\nuser=mysql\n[client]\nuser = {}\npassword = \"{}\"\nskip-ssl\n",
            m.user, m.password
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cnf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let url = format!("mariadb://{}:{}/{}", m.host, m.port, m.database);
    let sql = "select substring_index(current_user(), '@', 1) as u, database() as d";
    let out = cmd(&kdb, home.path())
        .args(["query", &url, "-c", sql, "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out, "my.cnf"),
        format!("u,d\n{},{}\n", m.user, m.database)
    );

    // World-writable: ignored, as the clients ignore it, and the login fails saying why.
    std::fs::set_permissions(&cnf, std::fs::Permissions::from_mode(0o666)).unwrap();
    let with_user = format!("mariadb://{}@{}:{}/{}", m.user, m.host, m.port, m.database);
    let out = cmd(&kdb, home.path())
        .args(["query", &with_user, "-c", sql])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("world-writable option file") && err.contains("is ignored"),
        "{err}"
    );
    assert!(!err.contains(&m.password), "{err}");
}
