//! End-to-end tests of `keeperdb plugins ...` with the real WASM plugins built by
//! `cargo xtask build-plugins` (found through KEEPERDB_BUNDLED_PLUGINS_DIR and
//! KEEPERDB_TEST_PLUGINS_DIR, which `cargo xtask test` / `cargo xtask test-wasm` set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn built(var: &str, id: &str) -> PathBuf {
    let dir = std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: build the WASM plugins and run these tests with `cargo xtask test-wasm`")
    });
    let dir = PathBuf::from(dir).join(id);
    assert!(
        dir.is_dir(),
        "{} is missing; run `cargo xtask build-plugins`",
        dir.display()
    );
    dir
}

fn bundled(id: &str) -> PathBuf {
    built("KEEPERDB_BUNDLED_PLUGINS_DIR", id)
}

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(env.home()).unwrap();
        env
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    fn config(&self) -> PathBuf {
        self.tmp.path().join("config")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keeperdb"))
            .env("KEEPERDB_CONFIG_DIR", self.config())
            .env("HOME", self.home())
            .env_remove("KEEPERDB_DATA_DIR")
            .env_remove("PGPASSFILE")
            .env_remove("PGSERVICEFILE")
            .env("PGSYSCONFDIR", self.tmp.path().join("no-sysconf"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .args(args)
            .output()
            .unwrap()
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

    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: stdout {} stderr {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    /// The installed plugins (the listing also shows the bundle, marked `bundled`).
    fn list_json(&self) -> Vec<serde_json::Value> {
        let all: Vec<serde_json::Value> =
            serde_json::from_str(&self.ok(&["plugins", "list", "--json"])).unwrap();
        all.into_iter().filter(|p| p["bundled"] == false).collect()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write_pgpass(env: &Env, mode: u32) {
    let file = env.home().join(".pgpass");
    std::fs::write(
        &file,
        "db.internal:5432:orders:app:s3cret-pw\n*:*:*:admin:x\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn plugin_install_list_disable_enable_remove_round_trip() {
    let env = Env::new();
    let pgpass = bundled("pgpass");

    // Without a terminal and without --allow, nothing is installed.
    let err = env.fails(&["plugins", "install", path(&pgpass)], 2);
    assert!(err.contains("--allow"), "{err}");
    assert!(env.list_json().is_empty());

    let out = env.ok(&["plugins", "install", path(&pgpass), "--allow"]);
    assert!(out.contains("fs-read [${PGPASSFILE:-~/.pgpass}]"), "{out}");
    assert!(out.contains("installed pgpass 0.1.0"), "{out}");
    env.ok(&[
        "plugins",
        "install",
        path(&bundled("pg-service")),
        "--allow",
    ]);

    let list = env.list_json();
    assert_eq!(list.len(), 2);
    let pg = list.iter().find(|p| p["id"] == "pgpass").unwrap();
    assert_eq!(pg["version"], "0.1.0");
    assert_eq!(pg["kind"], "connection-source");
    assert_eq!(pg["status"], "enabled");
    assert_eq!(pg["capabilities"][0]["name"], "fs-read");
    let table = env.ok(&["plugins", "list"]);
    assert!(
        table.contains("pgpass") && table.contains("pg-service") && table.contains("enabled"),
        "{table}"
    );

    // Its connections show with its badge; the password never does.
    write_pgpass(&env, 0o600);
    let conns = env.ok(&["connections", "list"]);
    assert!(
        conns.contains("app@db.internal:5432/orders") && conns.contains("pgpass"),
        "{conns}"
    );
    assert!(!conns.contains("s3cret-pw"));

    env.ok(&["plugins", "disable", "pgpass"]);
    assert_eq!(
        env.list_json()
            .iter()
            .find(|p| p["id"] == "pgpass")
            .unwrap()["status"],
        "disabled"
    );
    // A disabled plugin is not asked: the listing succeeds without its connections.
    let conns = env.ok(&["connections", "list"]);
    assert!(!conns.contains("db.internal"), "{conns}");

    env.ok(&["plugins", "enable", "pgpass"]);
    let info = env.ok(&["plugins", "info", "pgpass"]);
    assert!(
        info.contains("status:       enabled") && info.contains("badge:        pgpass"),
        "{info}"
    );

    let out = env.ok(&["plugins", "remove", "pgpass"]);
    assert!(out.contains("removed pgpass"), "{out}");
    assert_eq!(env.list_json().len(), 1);
    let err = env.fails(&["plugins", "info", "pgpass"], 2);
    assert!(err.contains("no plugin `pgpass` is installed"), "{err}");
}

#[test]
fn plugin_whose_pgpass_is_group_readable_reports_libpq_refusal_and_others_still_list() {
    let env = Env::new();
    env.ok(&["plugins", "install", path(&bundled("pgpass")), "--allow"]);
    env.ok(&[
        "plugins",
        "install",
        path(&bundled("pg-service")),
        "--allow",
    ]);
    std::fs::write(
        env.home().join(".pg_service.conf"),
        "[reporting]\nhost=rep.internal\n",
    )
    .unwrap();
    write_pgpass(&env, 0o644);
    let out = env.run(&["connections", "list"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("has group or world access; permissions should be u=rw (0600) or less"),
        "{all}"
    );
    assert!(all.contains("reporting"), "{all}");
    assert!(!all.contains("s3cret-pw"), "{all}");
}

#[test]
fn plugin_with_tampered_payload_is_refused_at_install_and_marked_broken_after() {
    let env = Env::new();
    let copy = env.tmp.path().join("pgpass-copy");
    std::fs::create_dir(&copy).unwrap();
    for f in ["plugin.toml", "payload.wasm"] {
        std::fs::copy(bundled("pgpass").join(f), copy.join(f)).unwrap();
    }
    let mut payload = std::fs::read(copy.join("payload.wasm")).unwrap();
    payload.push(0);
    std::fs::write(copy.join("payload.wasm"), &payload).unwrap();
    let err = env.fails(&["plugins", "install", path(&copy), "--allow"], 2);
    assert!(
        err.contains("sha256") && err.contains("refusing to load it"),
        "{err}"
    );
    assert!(env.list_json().is_empty());

    // Installed fine, then changed on disk: listed as broken, its source reports why.
    env.ok(&["plugins", "install", path(&bundled("pgpass")), "--allow"]);
    let installed = env.config().join("plugins/pgpass/payload.wasm");
    std::fs::write(&installed, &payload).unwrap();
    let pg = env
        .list_json()
        .into_iter()
        .find(|p| p["id"] == "pgpass")
        .unwrap();
    assert!(
        pg["status"].as_str().unwrap().starts_with("broken:"),
        "{pg}"
    );
    let out = env.run(&["connections", "list"]);
    assert!(
        text(&out.stderr).contains("pgpass"),
        "{}",
        text(&out.stderr)
    );
    // The other sources still list, and the exit says a source failed (4).
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

#[test]
fn plugin_built_for_another_api_is_refused_at_install() {
    let env = Env::new();
    let err = env.fails(
        &[
            "plugins",
            "install",
            path(&built("KEEPERDB_TEST_PLUGINS_DIR", "future-api")),
            "--allow",
        ],
        2,
    );
    assert!(
        err.contains("built for host API 1.0.0") && err.contains("serves 0.1.0"),
        "{err}"
    );
    assert!(env.list_json().is_empty());
}

#[test]
fn plugin_upgrade_asks_again_only_when_capabilities_widen() {
    let env = Env::new();
    env.ok(&["plugins", "install", path(&bundled("pgpass")), "--allow"]);
    let make = |version: &str, extra_path: Option<&str>| {
        let dir = env.tmp.path().join(format!("pgpass-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            bundled("pgpass").join("payload.wasm"),
            dir.join("payload.wasm"),
        )
        .unwrap();
        let mut manifest = std::fs::read_to_string(bundled("pgpass").join("plugin.toml"))
            .unwrap()
            .replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
        if let Some(extra) = extra_path {
            manifest = manifest.replace(
                "\"${PGPASSFILE:-~/.pgpass}\"",
                &format!("\"${{PGPASSFILE:-~/.pgpass}}\", \"{extra}\""),
            );
        }
        std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
        dir
    };
    let same = make("0.2.0", None);
    let out = env.ok(&["plugins", "upgrade", path(&same)]);
    assert!(
        out.contains("Upgrading pgpass 0.1.0 -> 0.2.0") && out.contains("without asking"),
        "{out}"
    );

    let wider = make("0.3.0", Some("/etc/shadow"));
    let err = env.fails(&["plugins", "upgrade", path(&wider)], 2);
    assert!(err.contains("--allow"), "{err}");
    assert_eq!(env.list_json()[0]["version"], "0.2.0");
    let out = env.ok(&["plugins", "upgrade", path(&wider), "--allow"]);
    assert!(
        out.contains("/etc/shadow") && out.contains("(new)"),
        "{out}"
    );
    assert_eq!(env.list_json()[0]["version"], "0.3.0");

    let err = env.fails(&["plugins", "install", path(&same), "--allow"], 2);
    assert!(err.contains("older 0.2.0"), "{err}");
}
