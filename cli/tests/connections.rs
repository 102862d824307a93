//! End-to-end tests of `keeperdb connections` and `keeperdb prefs`, driving the built binary in
//! a temp config dir. Password tests use the real Secret Service that `cargo xtask test`
//! starts (gnome-keyring in a private D-Bus session).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::io::Write;

struct Env {
    _tmp: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("config");
        Self { _tmp: tmp, config }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keeperdb"));
        cmd.env("KEEPERDB_CONFIG_DIR", &self.config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn require_secret_service() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "this test needs a Secret Service: run it through `cargo xtask test`, which starts gnome-keyring in a private D-Bus session"
    );
}

/// Every byte of every file under `dir`, as text, for leak checks.
fn all_file_contents(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn add_list_show_edit_remove_round_trip() {
    let env = Env::new();
    env.ok(&[
        "connections",
        "add",
        "postgres://app@db.example:5433/orders?sslmode=require",
        "--name",
        "orders",
        "--env",
        "production",
        "--color",
        "#ff0000",
    ]);
    env.ok(&[
        "connections",
        "add",
        "sqlite:/data/chinook.db",
        "--read-only",
    ]);
    env.ok(&[
        "connections",
        "add",
        "--engine",
        "mariadb",
        "--host",
        "127.0.0.1",
        "--user",
        "root",
        "--database",
        "shop",
        "--name",
        "shop",
        "--option",
        "charset=utf8mb4",
    ]);

    let list = env.json(&["connections", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders", "chinook", "shop"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c["origin"]["badge"] == "Local")
    );

    let table = env.ok(&["connections", "list"]);
    assert!(
        table.contains("SOURCE")
            && table.contains("Local")
            && table.contains("app@db.example:5433/orders"),
        "{table}"
    );

    let shop = env.json(&["connections", "show", "shop", "--json"]);
    assert_eq!(shop["engine"], "mariadb");
    assert_eq!(shop["options"]["charset"], "utf8mb4");
    let id = shop["id"].as_str().unwrap().to_string();

    env.ok(&[
        "connections",
        "edit",
        "shop",
        "--port",
        "3307",
        "--name",
        "shop-eu",
        "--remove-option",
        "charset",
        "--read-only",
    ]);
    let edited = env.json(&["connections", "show", &id, "--json"]);
    assert_eq!(edited["name"], "shop-eu");
    assert_eq!(edited["port"], 3307);
    assert_eq!(edited["read_only"], true);
    assert_eq!(edited["id"], id.as_str(), "the id survives edits");
    assert!(edited.get("options").is_none());

    env.ok(&["connections", "remove", "shop-eu"]);
    let out = env.run(&["connections", "show", "shop-eu"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("shop-eu"));
    assert_eq!(
        env.json(&["connections", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn bad_input_gets_clear_errors_and_exit_code_2() {
    let env = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["connections", "add", "oracle://scott@db/orcl"],
            "oracle://",
        ),
        (&["connections", "add", "postgres://db:99999/x"], "99999"),
        (
            &["connections", "add", "postgres://db/x?sslmode=sometimes"],
            "sometimes",
        ),
        (
            &["connections", "add", "postgres://db/x", "--color", "#12"],
            "#12",
        ),
        (
            &["connections", "add", "postgres://db/x", "--tls", "maybe"],
            "maybe",
        ),
        (
            &["connections", "add", "--engine", "sqlite"],
            "database file",
        ),
        (&["connections", "edit", "ghost", "--port", "1"], "ghost"),
        (&["connections", "remove", "ghost"], "ghost"),
        (&["prefs", "set", "page_size", "lots"], "lots"),
        (&["prefs", "get", "no_such_pref"], "no_such_pref"),
    ];
    for (args, needle) in cases {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?} should name `{needle}`: {}",
            text(&out.stderr)
        );
    }
    env.ok(&["connections", "add", "sqlite:a.db", "--name", "a"]);
    let saved = env.json(&["connections", "show", "a", "--json"]);
    let path = saved["database"].as_str().unwrap();
    assert!(
        Path::new(path).is_absolute() && path.ends_with("a.db"),
        "relative SQLite paths are saved absolute: {path}"
    );
    let out = env.run(&["connections", "add", "sqlite:b.db", "--name", "a"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("already exists"));
}

#[test]
fn a_password_is_never_taken_from_the_command_line() {
    let env = Env::new();
    let out = env.run(&["connections", "add", "postgres://app:tiger-on-cli@db/x"]);
    assert_eq!(code(&out), 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--password-stdin") && !stderr.contains("tiger-on-cli"),
        "{stderr}"
    );
    assert!(
        !env.config.join("connections.toml").exists(),
        "nothing was saved"
    );
    // There is no flag that takes a password value.
    let out = env.run(&[
        "connections",
        "add",
        "postgres://app@db/x",
        "--password",
        "tiger",
    ]);
    assert_eq!(code(&out), 2);
}

#[test]
fn a_corrupt_file_is_reported_with_its_line_and_never_overwritten() {
    let env = Env::new();
    env.ok(&["connections", "add", "sqlite:one.db"]);
    let path = env.config.join("connections.toml");
    let broken = std::fs::read_to_string(&path)
        .unwrap()
        .replace("name = \"one\"", "name = one\"");
    std::fs::write(&path, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.starts_with("name = one"))
        .unwrap()
        + 1;
    for args in [
        &["connections", "list"][..],
        &["connections", "add", "sqlite:two.db"],
        &["connections", "remove", "one"],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("connections.toml") && stderr.contains(&format!("line {line}")),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            broken,
            "{args:?} must not rewrite the file"
        );
    }
    std::fs::write(env.config.join("preferences.toml"), "theme = [\n").unwrap();
    let out = env.run(&["prefs", "list"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("preferences.toml"));
}

#[test]
fn concurrent_writers_lose_no_update() {
    let env = Env::new();
    let children: Vec<_> = (0..12)
        .map(|i| {
            env.cmd()
                .args([
                    "connections",
                    "add",
                    &format!("sqlite:/tmp/db{i}.db"),
                    "--name",
                    &format!("c{i}"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let mut names: Vec<String> = env
        .json(&["connections", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    let leftovers: Vec<_> = std::fs::read_dir(&env.config)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "connections.toml" && n != ".keeperdb.lock")
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
}

#[test]
fn passwords_go_to_the_secret_service_and_nowhere_else() {
    require_secret_service();
    let env = Env::new();
    let secret = "Pw-in-keyring-7f3a!";
    let out = env.run_with_stdin(
        &[
            "--verbose",
            "--verbose",
            "--verbose",
            "connections",
            "add",
            "postgres://app@db.example/orders",
            "--name",
            "orders",
            "--password-stdin",
        ],
        &format!("{secret}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains(secret),
        "trace logs must not show the password"
    );
    let id = env.json(&["connections", "show", "orders", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The Secret Service holds it, under the connection's id.
    assert_eq!(stored_password(&id).as_deref(), Some(secret));

    // No file under the config dir holds it, and no output shows it.
    assert!(!all_file_contents(&env.config).contains(secret));
    let shown = env.ok(&["connections", "show", "orders"]);
    assert!(shown.contains("OS credential store") && !shown.contains(secret));
    assert!(!env.ok(&["connections", "list", "--json"]).contains(secret));

    // Changing the password replaces it; removing the connection removes it.
    let out = env.run_with_stdin(
        &["connections", "edit", "orders", "--password-stdin"],
        "second-pw\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stored_password(&id).as_deref(), Some("second-pw"));
    env.ok(&["connections", "remove", "orders"]);
    assert_eq!(
        stored_password(&id),
        None,
        "the stored password is removed with the connection"
    );
}

/// The password the Secret Service holds for a connection id, asked with `secret-tool`: `None`
/// only when the service answered that it has none (exit 1, nothing on stderr), so a
/// `secret-tool` that cannot reach the service fails the test instead of passing for "removed".
fn stored_password(id: &str) -> Option<String> {
    let lookup = Command::new("secret-tool")
        .args(["lookup", "service", "keeperdb", "username", id])
        .output()
        .expect("secret-tool runs");
    match lookup.status.code() {
        Some(0) => Some(text(&lookup.stdout).trim_end().to_string()),
        Some(1) if lookup.stderr.is_empty() && lookup.stdout.is_empty() => None,
        other => panic!(
            "secret-tool lookup failed ({other:?}): {}",
            text(&lookup.stderr)
        ),
    }
}

#[test]
fn without_a_credential_store_the_user_must_choose_the_fallback() {
    let env = Env::new();
    let secret = "no-store-pw-91";
    let mut cmd = env.cmd();
    cmd.env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/keeperdb-test-bus",
    )
    .args([
        "connections",
        "add",
        "postgres://app@db/orders",
        "--password-stdin",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no OS credential store") && stderr.contains("password_storage prompt"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret));
    assert!(
        !env.config.join("connections.toml").exists(),
        "nothing half-saved"
    );

    // The explicit fallback: no password is kept; keeperdb asks at connect time.
    env.ok(&["prefs", "set", "password_storage", "prompt"]);
    let out = env.run_with_stdin(
        &[
            "connections",
            "add",
            "postgres://app@db/orders",
            "--password-stdin",
        ],
        &format!("{secret}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        env.json(&["connections", "show", "orders@db", "--json"])["password"],
        "prompt"
    );
    assert!(!all_file_contents(&env.config).contains(secret));
}

#[test]
fn preferences_get_set_list() {
    let env = Env::new();
    assert_eq!(env.ok(&["prefs", "get", "page_size"]).trim(), "1000");
    env.ok(&["prefs", "set", "page_size", "250"]);
    env.ok(&["prefs", "set", "editor.keymap", "vi"]);
    assert_eq!(env.ok(&["prefs", "get", "page_size"]).trim(), "250");
    let all = env.json(&["prefs", "list", "--json"]);
    assert_eq!(all["editor.keymap"], "vi");
    assert_eq!(all["theme"], "system");
    let file = std::fs::read_to_string(env.config.join("preferences.toml")).unwrap();
    assert!(file.contains("page_size = 250"), "{file}");
}

#[test]
fn completions_and_usage_exit_codes() {
    let env = Env::new();
    // The script asks keeperdb itself for candidates (the shell_pty tests complete with it).
    let bash = env.ok(&["completions", "bash"]);
    assert!(
        bash.contains("complete -o nospace")
            && bash.contains(r#"COMPLETE="bash""#)
            && bash.contains(r#""keeperdb" --"#),
        "{bash}"
    );
    assert_eq!(code(&env.run(&["completions", "tcsh"])), 2);
    assert_eq!(code(&env.run(&["frobnicate"])), 2);
    assert_eq!(code(&env.run(&["--help"])), 0);
}

#[test]
fn text_from_a_file_reaches_the_terminal_escaped_and_cut() {
    let env = Env::new();
    env.ok(&[
        "connections",
        "add",
        "postgres://app@db.internal/orders",
        "--name",
        "orders",
    ]);
    let path = env.config.join("connections.toml");
    let long_name = "n".repeat(1 << 20);
    // What a hand-edited (or hostile) file can hold: a fake table row in the host, a cursor
    // move and erase in the environment, a bidi override in the user, a huge name.
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "name = \"orders\"",
            &format!("name = \"{long_name}\"\nenvironment = \"prod\\u001b[1A\\u001b[2K\""),
        )
        .replace(
            "host = \"db.internal\"",
            "host = \"db\\n│ fake │ postgres │ evil │\"",
        )
        .replace("user = \"app\"", "user = \"adm\\u202enigol\"");
    std::fs::write(&path, &edited).unwrap();
    let out = env.ok(&["connections", "list"]);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    assert!(out.contains("db\\n│ fake"), "{out}");
    assert!(
        out.contains("\\u{1b}[1A") && out.contains("adm\\u{202e}nigol"),
        "{out}"
    );
    assert!(out.len() < 10_000, "{} bytes", out.len());
    assert!(out.contains("more characters)"), "{out}");
    // The file itself is left as it was: showing it changes nothing.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
}
