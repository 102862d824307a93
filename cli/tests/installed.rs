//! The installed `keeperdb`, as a user gets it from `cargo xtask install` or by unpacking
//! `cargo xtask dist`'s archive: run from a PATH holding only that prefix's `bin` and the
//! system dirs, with a fresh HOME, far from any `target/` dir. `cargo xtask test` installs into
//! a temp prefix and writes the archive first, and names them in `KEEPERDB_INSTALLED_PREFIX` and
//! `KEEPERDB_DIST_ARCHIVE`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn from_env(var: &str) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => panic!(
            "{var} is not set: these tests run the installed keeperdb; run them with `cargo xtask test` \
             (it installs into a temp prefix and builds the release archive first)"
        ),
    }
}

fn installed_prefix() -> PathBuf {
    let prefix = from_env("KEEPERDB_INSTALLED_PREFIX");
    let target = Path::new(env!("CARGO_BIN_EXE_keeperdb"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf();
    assert!(
        !prefix.starts_with(&target),
        "the install under test must live outside {}",
        target.display()
    );
    prefix
}

/// A user's shell: PATH with `bin` and the system dirs only, HOME empty, nothing of cargo's.
struct User {
    home: tempfile::TempDir,
    bin: PathBuf,
}

impl User {
    fn with_bin(bin: PathBuf) -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
            bin,
        }
    }

    fn keeperdb(&self, args: &[&str]) -> Output {
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin.display());
        Command::new("keeperdb")
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.home.path())
            .current_dir(self.home.path())
            .stdin(Stdio::null())
            .output()
            .expect("keeperdb is on the PATH")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.keeperdb(args);
        assert!(
            out.status.success(),
            "keeperdb {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The Chinook sample database as a SQLite file in this user's home.
    fn chinook(&self) -> PathBuf {
        let shared = std::env::var_os("KEEPERDB_SHARED_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
        let sql = shared.join("data/chinook/Chinook_Sqlite.sql");
        let db = self.home.path().join("chinook.sqlite");
        let status = Command::new("sqlite3")
            .arg(&db)
            .stdin(std::fs::File::open(&sql).unwrap())
            .status()
            .expect("sqlite3 runs (cargo xtask setup installs it)");
        assert!(status.success());
        db
    }
}

/// What sqlite3 itself answers (as JSON), to compare keeperdb's answer with.
fn sqlite3_says(db: &Path, sql: &str) -> serde_json::Value {
    let out = Command::new("sqlite3")
        .args(["-json", db.to_str().unwrap(), sql])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

const TOP_ARTISTS: &str = "SELECT ar.Name AS artist, count(*) AS albums FROM Artist ar JOIN Album al USING (ArtistId) GROUP BY ar.Name ORDER BY albums DESC, ar.Name LIMIT 5";

fn assert_queries_chinook(user: &User) {
    let db = user.chinook();
    user.ok(&[
        "connections",
        "add",
        db.to_str().unwrap(),
        "--name",
        "chinook",
    ]);
    let json = user.ok(&["query", "chinook", TOP_ARTISTS, "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows, sqlite3_says(&db, TOP_ARTISTS));
    assert_eq!(rows.as_array().map(Vec::len), Some(5), "{rows}");
}

#[test]
fn the_installed_binary_queries_chinook_with_its_bundled_driver() {
    let user = User::with_bin(installed_prefix().join("bin"));
    assert_queries_chinook(&user);
}

#[test]
fn the_installed_plugin_list_shows_the_bundle() {
    let user = User::with_bin(installed_prefix().join("bin"));
    let json: serde_json::Value =
        serde_json::from_str(&user.ok(&["plugins", "list", "--json"])).unwrap();
    let rows = json.as_array().unwrap();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed in {json}"))
    };
    let driver = row("sqlx-driver");
    assert_eq!(driver["kind"], "driver");
    assert_eq!(driver["bundled"], true);
    assert_eq!(driver["enabled"], true);
    for source in ["pgpass", "pg-service"] {
        let r = row(source);
        assert_eq!(r["kind"], "connection-source");
        assert_eq!(r["bundled"], true);
        assert_eq!(r["enabled"], false, "a bundled source waits for consent");
    }
    let table = user.ok(&["plugins", "list"]);
    assert!(table.contains("bundled, not installed"), "{table}");
}

#[test]
fn a_bundled_source_installs_by_its_id() {
    let user = User::with_bin(installed_prefix().join("bin"));
    let out = user.ok(&["plugins", "install", "pgpass", "--allow"]);
    assert!(out.contains("installed pgpass"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&user.ok(&["plugins", "list", "--json"])).unwrap();
    let pgpass: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == "pgpass")
        .collect();
    assert_eq!(
        pgpass.len(),
        1,
        "installed replaces the bundled row: {json}"
    );
    assert_eq!(pgpass[0]["bundled"], false);
    assert_eq!(pgpass[0]["enabled"], true);

    let unknown = user.keeperdb(&["plugins", "install", "no-such-plugin", "--allow"]);
    assert_eq!(unknown.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        err.contains("no-such-plugin") && err.contains("pgpass"),
        "{err}"
    );
}

#[test]
fn a_symlink_to_the_installed_binary_finds_its_bundle() {
    let links = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        installed_prefix().join("bin/keeperdb"),
        links.path().join("keeperdb"),
    )
    .unwrap();
    assert_queries_chinook(&User::with_bin(links.path().to_path_buf()));
}

#[test]
fn a_binary_without_its_bundle_says_what_to_install() {
    let bare = tempfile::tempdir().unwrap();
    std::fs::create_dir(bare.path().join("bin")).unwrap();
    std::fs::copy(
        installed_prefix().join("bin/keeperdb"),
        bare.path().join("bin/keeperdb"),
    )
    .unwrap();
    let user = User::with_bin(bare.path().join("bin"));
    let db = user.chinook();
    let out = user.keeperdb(&["query", db.to_str().unwrap(), "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no driver for sqlite"), "{err}");
    assert!(
        err.contains("lib/keeperdb/plugins"),
        "names where it looked: {err}"
    );
    assert!(
        err.contains("keeperdb plugins install") && err.contains("cargo xtask install"),
        "says what to install or run: {err}"
    );
}

#[test]
fn the_release_archive_unpacks_anywhere_and_runs() {
    let archive = from_env("KEEPERDB_DIST_ARCHIVE");
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    let top = name.strip_suffix(".tar.gz").expect("a .tar.gz archive");
    assert!(
        top.starts_with(&format!("keeperdb-{}-", env!("CARGO_PKG_VERSION"))),
        "versioned: {top}"
    );
    let anywhere = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .args(["-xzf", archive.to_str().unwrap(), "-C"])
        .arg(anywhere.path())
        .status()
        .unwrap();
    assert!(status.success());
    let root = anywhere.path().join(top);
    assert!(root.join("README.md").is_file());
    assert_queries_chinook(&User::with_bin(root.join("bin")));
}

/// The installed binary serves the GUI's page from inside itself: no Node, no `gui/web` beside
/// it, no network.
#[test]
fn the_installed_binary_serves_the_gui_page_it_embeds() {
    use std::io::{BufRead, BufReader};
    let user = User::with_bin(installed_prefix().join("bin"));
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", user.bin.display());
    let mut server = Command::new("keeperdb")
        .args(["ui", "--no-open"])
        .env_clear()
        .env("PATH", path)
        .env("HOME", user.home.path())
        .current_dir(user.home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keeperdb ui starts");
    let mut url = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client.get(url.trim()).send().unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let origin = url.trim().split("/?").next().unwrap().to_string();
    let page = client
        .get(format!("{origin}/"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    let status = page.status();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let html = page.text().unwrap();
    let script = client
        .get(format!("{origin}/assets/app.js"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    let script_type = script.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("/assets/app.js"), "{html}");
    assert!(script_type.contains("javascript"), "{script_type}");
    // The editor's style elements are allowed by a nonce made for this answer alone.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page's CSP carries a style nonce");
    assert!(html.contains(&format!("content=\"{nonce}\"")), "{html}");
    assert!(!html.contains("__CSP_NONCE__"));
}
