//! Server and usage errors map to clear messages and the documented exit codes
//! (1 query, 2 usage/config, 3 connection incl. auth and connect timeout), and a password never
//! shows up in what keeperdb prints.

mod query_support;

use std::net::TcpListener;

use query_support::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn syntax_error_exits_1_with_the_server_message() {
    let kdb = Kdb::new();
    let out = kdb.run(&["query", &pg_url(), "SELEC 1", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("syntax error"), "{err}");
    assert!(err.contains("42601"), "SQLSTATE shown: {err}");

    let out = kdb.run(&["query", &mariadb_url(), "SELEC 1", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("syntax"), "{}", stderr(&out));

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    native(
        "sqlite3",
        &[db.to_str().unwrap(), "CREATE TABLE present (a)"],
        &[],
    );
    let out = kdb.run(&["query", db.to_str().unwrap(), "SELECT * FROM no_such_table"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no_such_table"), "{}", stderr(&out));
}

#[test]
fn wrong_password_exits_3_and_never_prints_a_password() {
    let kdb = Kdb::new();
    for url in [pg_url(), mariadb_url()] {
        let mut u = url::Url::parse(&url).unwrap();
        let real = u.password().unwrap_or("").to_string();
        let wrong = "Wr0ng-Pa55word-zz9";
        u.set_password(Some(wrong)).unwrap();
        let out = kdb.run(&["query", u.as_str(), "SELECT 1", "--verbose"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let text = all_output(&out);
        assert!(
            text.to_lowercase().contains("auth") || text.contains("password"),
            "{text}"
        );
        assert!(!text.contains(wrong), "the password leaked: {text}");
        if !real.is_empty() {
            assert!(!text.contains(&real), "the real password leaked: {text}");
        }
    }
}

#[test]
fn a_wrong_password_that_occurs_in_the_message_is_not_revealed_by_a_mask() {
    // The port, the user name, a letter: the message reads as it would with any other wrong
    // password, nothing masked (a mask over the password's text would show where it is).
    let kdb = Kdb::new();
    for url in [pg_url(), mariadb_url()] {
        let mut u = url::Url::parse(&url).unwrap();
        let port = u.port().unwrap().to_string();
        let user = u.username().to_string();
        let target = format!("127.0.0.1:{port}");
        for wrong in [port.as_str(), user.as_str(), "e"] {
            u.set_password(Some(wrong)).unwrap();
            let out = kdb.run(&["query", u.as_str(), "SELECT 1"]);
            assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
            let text = stderr(&out);
            assert!(!text.contains("***"), "password {wrong:?}: {text}");
            assert!(
                text.contains(&target) && text.contains(&user),
                "password {wrong:?}: {text}"
            );
        }
    }
}

#[test]
fn unreachable_host_exits_3() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kdb = Kdb::new();
    let url = format!("postgres://nobody:secret-xyz@127.0.0.1:{port}/db");
    let out = kdb.run(&["query", &url, "SELECT 1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")),
        "names the target: {err}"
    );
    assert!(!err.contains("secret-xyz"), "{err}");
}

#[test]
fn server_that_never_answers_times_out_with_exit_3() {
    // Accepts TCP connections (the kernel does, via the backlog) but never speaks.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let kdb = Kdb::new();
    let url = format!("postgres://nobody@127.0.0.1:{port}/db");
    let out = kdb.run(&["query", &url, "SELECT 1", "--connect-timeout", "1"]);
    drop(listener);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).to_lowercase().contains("timed out"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2_and_name_what_was_wrong() {
    let kdb = Kdb::new();
    let out = kdb.run(&["query", "no-such-connection", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no-such-connection"),
        "{}",
        stderr(&out)
    );

    let out = kdb.run(&["query", "postgres://u@h/db?password=leak-me", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!all_output(&out).contains("leak-me"));

    let out = kdb.run(&["query", &pg_url(), "SELECT 1", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("xml"), "{}", stderr(&out));

    let out = kdb.run(&["query", &pg_url()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let out = kdb.run(&["query", &pg_url(), "-f", "/no/such/file.sql"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/no/such/file.sql"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn saved_connection_by_name_and_sql_from_a_file() {
    let kdb = Kdb::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("saved.db");
    native("sqlite3", &[db.to_str().unwrap(), "VACUUM"], &[]);
    let add = kdb.run(&[
        "connections",
        "add",
        &format!("sqlite:{}", db.display()),
        "--name",
        "local-lite",
    ]);
    assert_success(&add, "connections add");
    let sql = dir.path().join("script.sql");
    std::fs::write(
        &sql,
        "CREATE TABLE x (a INTEGER, b TEXT);\nINSERT INTO x VALUES (1, 'semi;colon'), (2, NULL);\nSELECT a, b\n  FROM x ORDER BY a;\n",
    )
    .unwrap();
    let out = kdb.run(&[
        "query",
        "local-lite",
        "-f",
        sql.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_success(&out, "query -f");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a,b\n1,semi;colon\n2,\n"
    );
}

#[test]
fn installed_driver_plugin_is_used_without_a_bundle_and_missing_driver_is_exit_2() {
    let kdb = Kdb::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("installed.db");
    native(
        "sqlite3",
        &[
            db.to_str().unwrap(),
            "CREATE TABLE t (a); INSERT INTO t VALUES (7)",
        ],
        &[],
    );
    let empty_bundle = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        kdb.cmd()
            .env("KEEPERDB_BUNDLED_PLUGINS_DIR", empty_bundle.path())
            .args(args)
            .output()
            .unwrap()
    };
    // Nothing installed, empty bundle: a usage/config error that says what is missing.
    let out = run(&["query", db.to_str().unwrap(), "SELECT a FROM t"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no driver for sqlite"),
        "{}",
        stderr(&out)
    );

    let bundled = plugin_dir().join("sqlx-driver");
    let install = run(&["plugins", "install", bundled.to_str().unwrap(), "--allow"]);
    assert_success(&install, "plugins install");
    // A driver is native code: its consent says so, not "no capabilities".
    let said = String::from_utf8_lossy(&install.stdout);
    assert!(
        said.contains("native driver: it runs as native code with all of your rights")
            && !said.contains("asks for no capabilities"),
        "{said}"
    );
    let out = run(&[
        "query",
        db.to_str().unwrap(),
        "SELECT a FROM t",
        "--format",
        "csv",
    ]);
    assert_success(&out, "query through the installed driver");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\n7\n");

    let disable = run(&["plugins", "disable", "sqlx-driver"]);
    assert_success(&disable, "plugins disable");
    let out = run(&["query", db.to_str().unwrap(), "SELECT a FROM t"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "disabled driver is not used: {}",
        stderr(&out)
    );
}

/// The explicit no-credential-store fallback: a saved connection that keeps no password is
/// asked for one at connect time, on the terminal, and refuses cleanly without one.
#[test]
fn prompt_fallback_asks_for_the_password_at_connect_time() {
    let kdb = Kdb::new();
    let mut url = url::Url::parse(&pg_url()).unwrap();
    let real = url.password().unwrap_or("").to_string();
    url.set_password(None).unwrap();
    assert_success(
        &kdb.run(&["prefs", "set", "password_storage", "prompt"]),
        "prefs set",
    );
    assert_success(
        &kdb.run(&[
            "connections",
            "add",
            url.as_str(),
            "--name",
            "pg-prompt",
            "--prompt-password",
        ]),
        "connections add",
    );

    // No terminal: a usage error that says why, and no connection attempt without a password.
    let out = kdb.run(&["query", "pg-prompt", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no terminal") && stderr(&out).contains("keeps no stored password"),
        "{}",
        stderr(&out)
    );

    // A terminal (a pty from util-linux `script`): the password typed there is used.
    let command = format!(
        "{} query pg-prompt 'SELECT 41 + 1 AS answer' --format csv",
        env!("CARGO_BIN_EXE_keeperdb")
    );
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("KEEPERDB_CONFIG_DIR", kdb.config.path())
        .env("KEEPERDB_BUNDLED_PLUGINS_DIR", plugin_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    // Type only once the prompt is up, as a person would. (Whether the terminal echoes it is
    // rpassword's business and racy to observe through a pty, so it is not asserted here.)
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains("Password for pg-prompt") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        seen.extend(
            rx.recv_timeout(left)
                .expect("no password prompt on the terminal"),
        );
    }
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{real}").unwrap();
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter().flatten());
    let text = String::from_utf8_lossy(&seen).to_string();
    assert!(status.success(), "{text}");
    assert!(text.contains("answer") && text.contains("42"), "{text}");
}

#[test]
fn an_engine_no_driver_serves_is_listed_marked_and_connecting_names_it() {
    let kdb = Kdb::new();
    let add = kdb
        .cmd()
        .args([
            "connections",
            "add",
            "--engine",
            "sqlserver",
            "--host",
            "mssql.internal",
            "--name",
            "warehouse",
        ])
        .output()
        .unwrap();
    assert_success(&add, "connections add --engine sqlserver");
    let db = tempfile::tempdir().unwrap();
    let file = db.path().join("here.sqlite");
    let add = kdb
        .cmd()
        .args([
            "connections",
            "add",
            file.to_str().unwrap(),
            "--name",
            "here",
        ])
        .output()
        .unwrap();
    assert_success(&add, "connections add sqlite");

    let list = kdb
        .cmd()
        .args(["connections", "list", "--json"])
        .output()
        .unwrap();
    assert_success(&list, "connections list --json");
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let driver_of = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {rows}"))["driver"]
            .clone()
    };
    assert_eq!(driver_of("warehouse"), serde_json::json!(false));
    assert_eq!(driver_of("here"), serde_json::json!(true));
    let table = kdb.cmd().args(["connections", "list"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let line = table.lines().find(|l| l.contains("warehouse")).unwrap();
    assert!(
        line.contains("sqlserver") && line.contains("no driver"),
        "{table}"
    );

    let out = kdb
        .cmd()
        .args(["query", "warehouse", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no driver for sqlserver"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_engine_that_is_no_id_is_refused_by_name() {
    let kdb = Kdb::new();
    let out = kdb
        .cmd()
        .args(["connections", "add", "--engine", "my sql", "--host", "h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`my sql` is not a database engine id"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_read_only_connection_stays_read_only_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ro.db");
    std::fs::File::create(&db).unwrap();
    let kdb = Kdb::new();
    let table = format!("kdb_ro_{}", std::process::id());
    let sqlite = db.to_str().unwrap().to_string();
    for (url, lift) in [
        (pg_url(), "set transaction read write"),
        (mariadb_url(), "set session transaction read write"),
        (sqlite.clone(), "pragma query_only = off"),
    ] {
        let ro = if url == sqlite {
            format!("sqlite:{url}?read_only=true")
        } else {
            format!("{url}?read_only=true")
        };
        let script = format!("begin; {lift}; create table {table} (id int); commit");
        let out = kdb.run(&["query", &ro, &script, "--format", "csv"]);
        assert_eq!(out.status.code(), Some(1), "{url}: {}", stderr(&out));
        // The table was not made.
        let probe = kdb.run(&[
            "query",
            &url,
            &format!("SELECT * FROM {table}"),
            "--format",
            "csv",
        ]);
        assert_eq!(probe.status.code(), Some(1), "{url}: {table} exists");
    }
}

#[test]
fn query_timeout_secs_cancels_a_long_statement_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("slow.db");
    std::fs::File::create(&db).unwrap();
    let kdb = Kdb::new();
    let set = kdb.run(&["prefs", "set", "query_timeout_secs", "2"]);
    assert!(set.status.success(), "{}", stderr(&set));
    for (url, sql) in [
        (pg_url(), "SELECT pg_sleep(30)".to_string()),
        (mariadb_url(), "SELECT SLEEP(30)".to_string()),
        (
            db.to_str().unwrap().to_string(),
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
             SELECT count(*) FROM c"
                .to_string(),
        ),
    ] {
        let started = std::time::Instant::now();
        let out = kdb.run(&["query", &url, &sql, "--format", "csv"]);
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(1), "{url}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("query_timeout_secs"),
            "{url}: {}",
            stderr(&out)
        );
        // Generous: the statement would run 30 s (SQLite's for ever) without the limit.
        assert!(took < std::time::Duration::from_secs(15), "{url}: {took:?}");
    }
}

/// `keeperdb ARGS` on a terminal (a pty from util-linux `script`), answering `answer` once
/// `prompt` shows; its exit status and everything the terminal showed.
fn on_a_terminal(kdb: &Kdb, args: &str, prompt: &str, answer: &str) -> (bool, String) {
    use std::io::{Read, Write};
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_keeperdb"));
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("KEEPERDB_CONFIG_DIR", kdb.config.path())
        .env("KEEPERDB_BUNDLED_PLUGINS_DIR", plugin_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains(prompt) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        seen.extend(rx.recv_timeout(left).expect("no prompt on the terminal"));
    }
    writeln!(child.stdin.take().unwrap(), "{answer}").unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter().flatten());
    (status.success(), String::from_utf8_lossy(&seen).to_string())
}

#[test]
fn confirm_production_writes_asks_before_a_write_to_production() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    std::fs::File::create(&db).unwrap();
    let kdb = Kdb::new();
    assert_success(
        &kdb.run(&[
            "connections",
            "add",
            db.to_str().unwrap(),
            "--name",
            "prod",
            "--env",
            "production",
        ]),
        "connections add",
    );
    let count = |kdb: &Kdb| {
        let out = kdb.query(db.to_str().unwrap(), "SELECT count(*) AS n FROM t", "csv");
        String::from_utf8_lossy(&out)
            .lines()
            .nth(1)
            .unwrap()
            .to_string()
    };
    kdb.query(db.to_str().unwrap(), "CREATE TABLE t (id int)", "csv");
    // Reads need no confirmation.
    kdb.query("prod", "SELECT 1", "csv");
    // No terminal to ask: refused, and nothing written.
    let out = kdb.run(&[
        "query",
        "prod",
        "INSERT INTO t VALUES (1)",
        "--format",
        "csv",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("tagged production"),
        "{}",
        stderr(&out)
    );
    let out = kdb.run(&["query", "prod", "DROP TABLE t", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(count(&kdb), "0");
    // On a terminal: no runs nothing, yes runs it.
    let insert = "query prod 'INSERT INTO t VALUES (1)' --format csv";
    let (ok, text) = on_a_terminal(&kdb, insert, "[y/N]", "n");
    assert!(!ok && text.contains("not confirmed"), "{text}");
    assert_eq!(count(&kdb), "0");
    let (ok, text) = on_a_terminal(&kdb, insert, "[y/N]", "y");
    assert!(ok, "{text}");
    assert_eq!(count(&kdb), "1");
    // Switched off, it runs without asking.
    assert_success(
        &kdb.run(&["prefs", "set", "confirm_production_writes", "false"]),
        "prefs set",
    );
    kdb.query("prod", "INSERT INTO t VALUES (2)", "csv");
    assert_eq!(count(&kdb), "2");
}

#[test]
fn the_environment_tag_shows_in_the_prompt_and_in_colour_in_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tagged.db");
    std::fs::File::create(&db).unwrap();
    let kdb = Kdb::new();
    for (name, extra) in [
        ("prod", vec!["--env", "production"]),
        ("mine", vec!["--env", "qa", "--color", "#00ff00"]),
    ] {
        let mut args = vec!["connections", "add", db.to_str().unwrap(), "--name", name];
        args.extend(extra);
        assert_success(&kdb.run(&args), "connections add");
    }
    // In colour where colour is wanted (CLICOLOR_FORCE stands in for a terminal here):
    // production in red, the connection's own colour otherwise.
    let out = kdb
        .cmd()
        .args(["connections", "list"])
        .env("CLICOLOR_FORCE", "1")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_success(&out, "connections list");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("\x1b[38;2;220;38;38m production"),
        "{listing:?}"
    );
    assert!(listing.contains("\x1b[38;2;0;255;0m qa"), "{listing:?}");
    // Not for a pipe.
    let plain = kdb.run(&["connections", "list"]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains('\x1b'));
    // The shell's prompt names the environment.
    let (ok, text) = on_a_terminal(&kdb, "shell prod", "prod [production]=> ", "\\q");
    assert!(ok, "{text}");
}
