//! End-to-end tests of `keeperdb plugins ...` with the real WASM plugins built by
//! `cargo xtask build-plugins` (found through KEEPERDB_BUNDLED_PLUGINS_DIR and
//! KEEPERDB_TEST_PLUGINS_DIR, which `cargo xtask test` / `cargo xtask test-wasm` set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keeperdb_core::signature;

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
    assert!(
        out.contains("  fs-read (new): read exactly these files\n      ${PGPASSFILE:-~/.pgpass}\n"),
        "{out}"
    );
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

/// A copy of the bundled pgpass at `version`, optionally asking for one more file, signed
/// with `seed` (a third party's key) or unsigned.
fn pgpass_copy(
    env: &Env,
    version: &str,
    extra_path: Option<&str>,
    seed: Option<[u8; 32]>,
) -> PathBuf {
    let dir = env
        .tmp
        .path()
        .join(format!("pgpass-{version}-{}", seed.map_or(0, |s| s[0])));
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
    std::fs::write(dir.join("plugin.toml"), &manifest).unwrap();
    if let Some(seed) = seed {
        std::fs::write(
            dir.join(signature::SIGNATURE_FILE),
            signature::sign(manifest.as_bytes(), &seed),
        )
        .unwrap();
    }
    dir
}

#[test]
fn a_package_posing_as_an_upgrade_of_a_first_party_plugin_needs_its_own_consent() {
    let env = Env::new();
    let out = env.ok(&["plugins", "install", "pgpass", "--allow"]);
    assert!(
        out.contains("Publisher: keeperdb project (first-party)"),
        "{out}"
    );
    // Same id, higher version, nothing new asked: what used to upgrade silently.
    let unsigned = pgpass_copy(&env, "9.0.0", None, None);
    let err = env.fails(&["plugins", "upgrade", path(&unsigned), "--allow"], 2);
    assert!(
        err.contains("unsigned") && err.contains("--trust-publisher"),
        "{err}"
    );
    let impostor = pgpass_copy(&env, "9.0.0", None, Some([5; 32]));
    let err = env.fails(&["plugins", "install", path(&impostor), "--allow"], 2);
    assert!(
        err.contains("different publisher") && err.contains("keeperdb project (first-party)"),
        "{err}"
    );
    // Nothing the user had changed.
    let pg = &env.list_json()[0];
    assert_eq!(pg["version"], "0.1.0");
    assert_eq!(pg["publisher"], "keeperdb project (first-party)");
    assert_eq!(pg["status"], "enabled");
    let info = env.ok(&["plugins", "info", "pgpass"]);
    assert!(
        info.contains("publisher:    keeperdb project (first-party)"),
        "{info}"
    );

    // Accepted on purpose, it is installed and says whose it now is.
    let out = env.ok(&["plugins", "install", path(&impostor), "--trust-publisher"]);
    assert!(out.contains("Accepted with --trust-publisher"), "{out}");
    let info = env.ok(&["plugins", "info", "pgpass"]);
    assert!(
        info.contains("publisher:    third party, key ed25519:"),
        "{info}"
    );
}

#[test]
fn the_consent_prompt_shows_every_grant_on_its_own_line_escaped() {
    let env = Env::new();
    // A path whose carriage return and erase-line sequence hid itself, and a description that
    // would draw a line of its own.
    let pkg = pgpass_copy(
        &env,
        "0.1.0",
        Some("~/.ssh/id_rsa\\r\\u001b[2K"),
        Some([8; 32]),
    );
    let manifest = std::fs::read_to_string(pkg.join("plugin.toml")).unwrap();
    let manifest = manifest.replacen(
        "description = \"",
        "description = \"\\u001b[1A\\rIt asks for no capabilities.\\n\\u202e",
        1,
    );
    std::fs::write(pkg.join("plugin.toml"), &manifest).unwrap();
    std::fs::write(
        pkg.join(signature::SIGNATURE_FILE),
        signature::sign(manifest.as_bytes(), &[8; 32]),
    )
    .unwrap();
    let out = env.run(&["plugins", "install", path(&pkg)]);
    assert_eq!(out.status.code(), Some(2));
    let shown = text(&out.stdout);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\r') && !shown.contains('\u{202e}'),
        "{shown:?}"
    );
    assert!(
        shown.contains("\n      ~/.ssh/id_rsa\\r\\u{1b}[2K\n"),
        "{shown}"
    );
    assert!(
        shown.contains("\\u{1b}[1A\\rIt asks for no capabilities.\\n\\u{202e}"),
        "{shown}"
    );
    assert!(env.list_json().is_empty());
}

#[test]
fn plugin_upgrade_asks_again_only_when_capabilities_widen() {
    let env = Env::new();
    const PUBLISHER: [u8; 32] = [6; 32];
    env.ok(&[
        "plugins",
        "install",
        path(&pgpass_copy(&env, "0.1.0", None, Some(PUBLISHER))),
        "--allow",
    ]);
    let same = pgpass_copy(&env, "0.2.0", None, Some(PUBLISHER));
    let out = env.ok(&["plugins", "upgrade", path(&same)]);
    assert!(
        out.contains("Upgrading pgpass 0.1.0 -> 0.2.0") && out.contains("without asking"),
        "{out}"
    );

    let wider = pgpass_copy(&env, "0.3.0", Some("/etc/shadow"), Some(PUBLISHER));
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

#[test]
fn the_javascript_example_installs_compiled_and_lists_its_connections() {
    let env = Env::new();
    std::fs::write(
        env.home().join(".hello-connections"),
        "# name engine host port database user\n\
         orders-db postgres db.internal 5432 orders app\n\
         broken postgres db.internal port orders app\n",
    )
    .unwrap();
    let example = built("KEEPERDB_TEST_PLUGINS_DIR", "hello-js");
    let out = env.ok(&[
        "plugins",
        "install",
        path(&example),
        "--allow",
        "--trust-publisher",
    ]);
    // Built against its own narrow world, it asks for the one capability it uses.
    assert!(
        out.contains(
            "It asks to:\n  fs-read (new): read exactly these files\n      ~/.hello-connections\n"
        ),
        "{out}"
    );
    assert!(
        !out.contains("keeper-vault") && !out.contains("http"),
        "{out}"
    );
    assert!(
        out.contains("checked and compiled for this machine in"),
        "{out}"
    );
    assert!(out.contains("installed hello-js 0.1.0"), "{out}");
    // The code compiled at install is recorded, so the first listing maps it.
    let state = std::fs::read_to_string(env.config().join("plugins/plugins.toml")).unwrap();
    assert!(state.contains("compiled = \""), "{state}");

    let out = env.run(&["connections", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let c = &list[0];
    assert_eq!(c["id"], "hello-js:orders-db");
    assert_eq!(c["engine"], "postgres");
    assert_eq!(c["host"], "db.internal");
    assert_eq!(c["port"], 5432);
    assert_eq!(c["database"], "orders");
    assert_eq!(c["user"], "app");
    assert_eq!(c["origin"]["badge"], "Hello JS");
    // The bad line is left out with where and why, in the plugin's own words.
    assert!(
        text(&out.stderr).contains("hello-js: `~/.hello-connections:3`: `port` is not a port"),
        "{}",
        text(&out.stderr)
    );
}
