//! `keeperdb plugins new`: every template builds with the commands its README gives, packs,
//! installs, and (sources and the driver) works. The WASM ones build with the toolchain route
//! and target dir `cargo xtask build-plugins` used (KEEPERDB_WASM_ROUTE,
//! KEEPERDB_WASM_TARGET_DIR), the JavaScript ones with the npm packages of the JavaScript
//! example (KEEPERDB_JS_EXAMPLE_DIR); `cargo xtask test` sets all three.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn env_path(var: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "{var} is not set: run these tests with `cargo xtask test` or `cargo xtask test-wasm`"
        )
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A user's machine: a config dir and a home of its own.
struct User {
    tmp: tempfile::TempDir,
}

impl User {
    fn new() -> Self {
        let user = Self {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(user.home()).unwrap();
        user
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    fn work(&self) -> &Path {
        self.tmp.path()
    }

    fn keeperdb(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keeperdb"))
            .env("KEEPERDB_CONFIG_DIR", self.tmp.path().join("config"))
            .env("HOME", self.home())
            .env_remove("KEEPERDB_DATA_DIR")
            .env_remove("RUST_LOG")
            .current_dir(dir)
            .stdin(Stdio::null())
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        ok(self.keeperdb(dir, args), &format!("keeperdb {args:?}"))
    }

    /// `plugins new` in the work dir; returns the new plugin's dir.
    fn new_plugin(&self, args: &[&str], name: &str) -> PathBuf {
        let mut all = vec!["plugins", "new"];
        all.extend_from_slice(args);
        all.push(name);
        let out = self.ok(self.work(), &all);
        assert!(out.contains(&format!("`{name}`")), "{out}");
        self.work().join(name)
    }

    /// `plugins pack .` then `plugins install` of the archive; returns what install printed.
    fn pack_and_install(&self, dir: &Path, id: &str) -> String {
        self.ok(dir, &["plugins", "pack", "."]);
        let archive = format!("{id}-0.1.0.tar.gz");
        self.ok(
            dir,
            &[
                "plugins",
                "install",
                &archive,
                "--allow",
                "--trust-publisher",
            ],
        )
    }
}

/// cargo as a plugin author runs it, without the settings of the cargo running this test.
fn author_cargo(route: &str) -> Command {
    let mut cmd = if route == "debian" {
        let mut cmd = Command::new("/usr/bin/cargo");
        cmd.env("RUSTC", "/usr/bin/rustc")
            .env("RUSTC_BOOTSTRAP", "1")
            .env(
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER",
                "/usr/lib/llvm-22/bin/wasm-ld",
            )
            .env_remove("RUSTUP_TOOLCHAIN");
        cmd
    } else {
        Command::new("cargo")
    };
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_MANIFEST_DIR",
        "RUSTC_WRAPPER",
        "CARGO",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The README's build: `cargo build --release --target wasm32-unknown-unknown` (with
/// `-Zbuild-std` on the Debian route), then the module copied to `payload.wasm`.
fn build_rust_wasm(dir: &Path, crate_name: &str) {
    let route = env_path("KEEPERDB_WASM_ROUTE");
    let route = route.to_str().unwrap();
    let target = env_path("KEEPERDB_WASM_TARGET_DIR");
    let mut cmd = author_cargo(route);
    cmd.args(["build", "--release", "--target", "wasm32-unknown-unknown"]);
    if route == "debian" {
        cmd.arg("-Zbuild-std=std,panic_abort");
    }
    let out = cmd
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(dir)
        .output()
        .unwrap();
    ok(out, "cargo build of the template");
    std::fs::copy(
        target.join(format!("wasm32-unknown-unknown/release/{crate_name}.wasm")),
        dir.join("payload.wasm"),
    )
    .unwrap();
}

/// The README's `npm install && npm run build`, with the example's installed packages (the
/// same pinned versions) in place of a download.
fn build_js(dir: &Path) {
    let example = env_path("KEEPERDB_JS_EXAMPLE_DIR");
    let deps = |p: &Path| -> serde_json::Value {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("package.json")).unwrap()).unwrap();
        json["devDependencies"].clone()
    };
    assert_eq!(
        deps(dir),
        deps(&example),
        "the template pins what the example uses"
    );
    std::os::unix::fs::symlink(example.join("node_modules"), dir.join("node_modules")).unwrap();
    let out = Command::new("npm")
        .args(["run", "--silent", "build"])
        .current_dir(dir)
        .output()
        .unwrap();
    ok(out, "npm run build of the template");
}

fn write_connections(user: &User, id: &str) {
    std::fs::write(
        user.home().join(format!(".{id}")),
        "# name engine host port database user\n\
         orders postgres db.internal 5432 orders app\n\
         broken postgres db.internal many orders app\n",
    )
    .unwrap();
}

fn assert_lists_orders(user: &User, id: &str) {
    let out = user.keeperdb(user.work(), &["connections", "list", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&ok(out.clone(), "list")).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], format!("{id}:orders"));
    assert_eq!(list[0]["host"], "db.internal");
    assert_eq!(list[0]["port"], 5432);
    assert!(
        text(&out.stderr).contains(&format!("{id}: `~/.{id}:3`: `many` is not a port")),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_rust_source_template_builds_packs_installs_and_lists() {
    let user = User::new();
    let dir = user.new_plugin(&["--kind", "source"], "rust-src");
    build_rust_wasm(&dir, "rust_src");
    let out = user.ok(&dir, &["plugins", "pack", "."]);
    assert!(
        out.contains("turned the core module payload.wasm into a component"),
        "{out}"
    );
    let out = user.ok(
        &dir,
        &[
            "plugins",
            "install",
            "rust-src-0.1.0.tar.gz",
            "--allow",
            "--trust-publisher",
        ],
    );
    assert!(
        out.contains("fs-read (new): read exactly these files\n      ~/.rust-src\n"),
        "{out}"
    );
    write_connections(&user, "rust-src");
    assert_lists_orders(&user, "rust-src");
}

#[test]
fn the_javascript_source_template_builds_packs_installs_and_lists() {
    let user = User::new();
    let dir = user.new_plugin(&["--kind", "source", "--lang", "js"], "js-src");
    build_js(&dir);
    let out = user.pack_and_install(&dir, "js-src");
    assert!(
        out.contains("fs-read (new): read exactly these files\n      ~/.js-src\n"),
        "{out}"
    );
    assert!(
        !out.contains("keeper-vault") && !out.contains("http"),
        "{out}"
    );
    write_connections(&user, "js-src");
    assert_lists_orders(&user, "js-src");
}

#[test]
fn the_storage_templates_ask_for_the_vault_alone_and_install() {
    let user = User::new();
    let rust = user.new_plugin(&["--kind", "storage"], "rust-store");
    build_rust_wasm(&rust, "rust_store");
    let js = user.new_plugin(&["--kind", "storage", "--lang", "js"], "js-store");
    build_js(&js);
    for (dir, id) in [(&rust, "rust-store"), (&js, "js-store")] {
        let out = user.pack_and_install(dir, id);
        assert!(
            out.contains("It asks to:\n  keeper-vault (new)"),
            "{id}: {out}"
        );
        assert!(
            !out.contains("fs-read") && !out.contains("http"),
            "{id}: {out}"
        );
        assert!(out.contains(&format!("installed {id} 0.1.0")), "{out}");
    }
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&user.ok(user.work(), &["plugins", "list", "--json"])).unwrap();
    for id in ["rust-store", "js-store"] {
        let p = list.iter().find(|p| p["id"] == id).unwrap();
        assert_eq!(p["kind"], "storage-backend");
        assert_eq!(p["status"], "enabled");
    }
}

#[test]
fn the_driver_template_builds_packs_installs_and_answers_a_query() {
    let user = User::new();
    let dir = user.new_plugin(&["--kind", "driver"], "my-engine");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("driver-template");
    let out = author_cargo("rustup")
        .args(["build", "--release"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&dir)
        .output()
        .unwrap();
    ok(out, "cargo build of the driver template");
    std::fs::copy(
        target.join("release/libmy_engine.so"),
        dir.join("libmy_engine.so"),
    )
    .unwrap();
    let out = user.pack_and_install(&dir, "my-engine");
    assert!(out.contains("This is a native driver"), "{out}");
    assert!(out.contains("It serves my-engine."), "{out}");
    user.ok(
        user.work(),
        &[
            "connections",
            "add",
            "--name",
            "try",
            "--engine",
            "my-engine",
            "--database",
            "demo",
        ],
    );
    let out = user.ok(
        user.work(),
        &["query", "try", "--format", "csv", "select 42"],
    );
    assert_eq!(out, "statement\nselect 42\n");
}

#[test]
fn a_javascript_driver_and_a_taken_directory_are_refused_and_nothing_is_written() {
    let user = User::new();
    let out = user.keeperdb(
        user.work(),
        &[
            "plugins",
            "new",
            "--kind",
            "driver",
            "--lang",
            "js",
            "js-driver",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("write it in Rust"),
        "{}",
        text(&out.stderr)
    );
    assert!(!user.work().join("js-driver").exists());

    let taken = user.work().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    let out = user.keeperdb(
        user.work(),
        &["plugins", "new", "--kind", "source", "taken"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 1);
}
