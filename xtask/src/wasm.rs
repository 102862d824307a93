//! `cargo xtask build-plugins`: build every WASM plugin under `plugins/wasm` for
//! `wasm32-unknown-unknown`, turn each core module into a component, and write installable
//! plugin directories (`plugin.toml` with the real sha256 + `payload.wasm`):
//!
//! - `target/debug/bundled-plugins/<id>/` for first-party plugins (`plugins/wasm/<name>/`),
//! - `target/test-plugins/<id>/` for the hostile plugins the tests run
//!   (`plugins/wasm/test-plugins/<name>/`) and the examples (`plugins/wasm/examples/`; the
//!   JavaScript ones through `js_plugins`).
//!
//! Two toolchain routes (see TOOLCHAIN.md): rustup's, when it has the wasm32 standard library
//! installed, else Debian's `rustc-web` with `-Zbuild-std` (installed with apt when missing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

pub const TARGET: &str = "wasm32-unknown-unknown";
const DEBIAN_PACKAGES: [&str; 4] = ["rustc-web", "cargo-web", "rust-web-src", "lld-22"];

/// Env var naming the bundled plugin dirs, read by tests.
pub const BUNDLED_ENV: &str = "KEEPERDB_BUNDLED_PLUGINS_DIR";
/// Env var naming the hostile test plugin dirs, read by tests.
pub const TEST_PLUGINS_ENV: &str = "KEEPERDB_TEST_PLUGINS_DIR";
/// Env var naming how tests build a WASM plugin the way its README says: `rustup` or `debian`.
pub const ROUTE_ENV: &str = "KEEPERDB_WASM_ROUTE";
/// Env var naming the target dir the WASM plugins were built in (its std is reused).
pub const WASM_TARGET_ENV: &str = "KEEPERDB_WASM_TARGET_DIR";
/// Env var naming the JavaScript example, whose installed npm packages tests reuse.
pub const JS_EXAMPLE_ENV: &str = "KEEPERDB_JS_EXAMPLE_DIR";

/// How the wasm32 core modules get built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// rustup's toolchain has the wasm32 target installed.
    Rustup,
    /// Debian's rustc-web with `-Zbuild-std`.
    Debian,
}

/// Where the built plugins went.
#[derive(Debug)]
pub struct Built {
    /// `target/debug/bundled-plugins`.
    pub bundled: PathBuf,
    /// `target/test-plugins`.
    pub test: PathBuf,
    /// The route the WASM plugins were built with.
    pub route: Route,
    /// `plugins/wasm/target`.
    pub wasm_target: PathBuf,
    /// `plugins/wasm/examples/hello-js`.
    pub js_example: PathBuf,
}

impl Built {
    /// The env vars tests read to find the plugins and build others the same way.
    pub fn test_env(&self) -> Vec<(&'static str, PathBuf)> {
        let route = match self.route {
            Route::Rustup => "rustup",
            Route::Debian => "debian",
        };
        vec![
            (BUNDLED_ENV, self.bundled.clone()),
            (TEST_PLUGINS_ENV, self.test.clone()),
            (ROUTE_ENV, PathBuf::from(route)),
            (WASM_TARGET_ENV, self.wasm_target.clone()),
            (JS_EXAMPLE_ENV, self.js_example.clone()),
        ]
    }
}

/// Build every WASM plugin of the repository at `root`: the first-party ones beside the debug
/// `keeperdb` binary (where it looks for bundled plugins, next to the packed drivers), the
/// hostile test plugins and the template into `target/test-plugins`.
pub fn build_plugins(root: &Path) -> Result<Built> {
    let workspace = root.join("plugins/wasm");
    let built = Built {
        bundled: crate::util::target_dir().join("debug/bundled-plugins"),
        test: crate::util::target_dir().join("test-plugins"),
        route: choose_route()?,
        wasm_target: workspace.join("target"),
        js_example: workspace.join("examples/hello-js"),
    };
    build_sets(
        root,
        &[
            (workspace.clone(), built.bundled.clone(), Signed::FirstParty),
            // Test plugins and the template stand for third-party plugins: unsigned.
            (
                workspace.join("test-plugins"),
                built.test.clone(),
                Signed::No,
            ),
            (workspace.join("examples"), built.test.clone(), Signed::No),
        ],
    )?;
    crate::js_plugins::build_examples(&workspace.join("examples"), &built.test)?;
    Ok(built)
}

/// Build only the first-party WASM plugins, into `out` (a release bundle).
pub fn build_first_party(root: &Path, out: &Path) -> Result<()> {
    build_sets(
        root,
        &[(
            root.join("plugins/wasm"),
            out.to_path_buf(),
            Signed::FirstParty,
        )],
    )
}

/// Whether a set of plugins is signed with the project's key.
#[derive(Debug, Clone, Copy)]
enum Signed {
    FirstParty,
    No,
}

/// Build the plugins found under each `(source root, output root)` pair.
fn build_sets(root: &Path, sets: &[(PathBuf, PathBuf, Signed)]) -> Result<()> {
    let started = Instant::now();
    let workspace = root.join("plugins/wasm");
    let target_dir = workspace.join("target");
    let route = choose_route()?;
    match route {
        Route::Rustup => {
            eprintln!("build-plugins: toolchain route: rustup ({TARGET} target installed)")
        }
        Route::Debian => eprintln!(
            "build-plugins: toolchain route: Debian rustc-web with -Zbuild-std and {DEBIAN_WASM_LD} (rustup has no {TARGET} std)"
        ),
    }
    let mut plugins = Vec::new();
    for (src_root, out_root, signed) in sets {
        for dir in plugin_dirs(src_root)? {
            plugins.push((package_name(&dir)?, dir, out_root.clone(), *signed));
        }
    }
    let seed = crate::sign::seed()?;
    // One package per cargo run: a source and a storage backend enable different features of
    // the SDK, which must not unify. std (built once with -Zbuild-std) is shared.
    for (package, _, _, _) in &plugins {
        let mut cmd = cargo_command(route);
        cmd.args(["build", "--release", "--target", TARGET, "-p", package]);
        if route == Route::Debian {
            cmd.arg("-Zbuild-std=std,panic_abort");
        }
        cmd.env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(&workspace);
        let status = cmd
            .status()
            .with_context(|| format!("running cargo in {}", workspace.display()))?;
        if !status.success() {
            bail!("building the WASM plugin {package} failed ({status})");
        }
    }

    let modules = target_dir.join(TARGET).join("release");
    let mut count = 0;
    for (package, dir, out_root, signed) in &plugins {
        let id = package_plugin(dir, package, &modules, out_root)?;
        let out = out_root.join(&id);
        match signed {
            Signed::FirstParty => crate::sign::sign_dir(&out, &seed)?,
            // A stale signature from an earlier build would not match the new manifest.
            Signed::No => {
                match std::fs::remove_file(out.join(keeperdb_model::signature::SIGNATURE_FILE)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        eprintln!("build-plugins: {id} -> {}", out_root.join(&id).display());
        count += 1;
    }
    eprintln!(
        "build-plugins: {count} plugins in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Run the first-party plugins' own unit tests (their parsers) natively, with the host
/// toolchain, one package at a time (see `build_plugins`).
pub fn test_plugin_units(root: &Path) -> Result<()> {
    let workspace = root.join("plugins/wasm");
    for dir in plugin_dirs(&workspace)? {
        let package = package_name(&dir)?;
        let mut cmd = cargo_command(Route::Rustup);
        // `--lib`: the cdylib itself only links for wasm32; the test harness links anywhere.
        let status = cmd
            .args(["test", "--lib", "-p", &package])
            .env("CARGO_TARGET_DIR", workspace.join("target"))
            .current_dir(&workspace)
            .status()
            .context("running the plugins' unit tests")?;
        if !status.success() {
            bail!("the unit tests of {package} failed ({status})");
        }
    }
    Ok(())
}

/// Directories directly under `root` that hold a `plugin.toml` and a `Cargo.toml`.
fn plugin_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let path = entry?.path();
        if path.join("plugin.toml").is_file() && path.join("Cargo.toml").is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// The cargo package name in `dir/Cargo.toml`.
fn package_name(dir: &Path) -> Result<String> {
    let cargo: toml::Table = toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml"))?)
        .with_context(|| format!("parsing {}/Cargo.toml", dir.display()))?;
    Ok(cargo
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .with_context(|| format!("{}/Cargo.toml has no package name", dir.display()))?
        .to_string())
}

/// cargo for the chosen route, cleaned of the outer `cargo xtask`'s settings.
pub fn cargo_command(route: Route) -> Command {
    let mut cmd = match route {
        Route::Rustup => Command::new("cargo"),
        Route::Debian => {
            let mut cmd = Command::new(DEBIAN_CARGO);
            cmd.env("RUSTC", DEBIAN_RUSTC)
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", DEBIAN_WASM_LD)
                .env_remove("RUSTUP_TOOLCHAIN");
            cmd
        }
    };
    for var in [
        "CARGO_TARGET_DIR",
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

/// Componentize one plugin's core module and write `<out>/<id>/{plugin.toml,payload}`.
fn package_plugin(dir: &Path, package: &str, modules: &Path, out_root: &Path) -> Result<String> {
    let crate_name = package.replace('-', "_");
    let module_path = modules.join(format!("{crate_name}.wasm"));
    let module = std::fs::read(&module_path)
        .with_context(|| format!("reading {}", module_path.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|e| e.encode())
        .with_context(|| format!("turning {} into a component", module_path.display()))?;
    write_plugin_dir(dir, &component, out_root)
}

/// Write `<out_root>/<id>/`: the plugin's `plugin.toml` from `dir` with the sha256 of
/// `component`, and the component as the payload it names. Returns the id.
pub fn write_plugin_dir(dir: &Path, component: &[u8], out_root: &Path) -> Result<String> {
    let manifest_text = std::fs::read_to_string(dir.join("plugin.toml"))?;
    let mut manifest: toml::Table = toml::from_str(&manifest_text)
        .with_context(|| format!("parsing {}/plugin.toml", dir.display()))?;
    let id = manifest
        .get("id")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{}/plugin.toml has no id", dir.display()))?
        .to_string();
    let payload = manifest
        .get("payload")
        .and_then(|v| v.as_str())
        .unwrap_or("payload.wasm")
        .to_string();
    let sha = hex::encode(Sha256::digest(component));
    manifest.insert("sha256".into(), toml::Value::String(sha));

    let out = out_root.join(&id);
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join(&payload), component)?;
    std::fs::write(out.join("plugin.toml"), toml::to_string_pretty(&manifest)?)?;
    Ok(id)
}

/// Pick the toolchain route, installing Debian's packages when neither route is ready.
fn choose_route() -> Result<Route> {
    let rustup = rustup_has_wasm_target();
    if let Ok(route) = select_route(rustup, &DebianToolchain::probe()) {
        return Ok(route);
    }
    eprintln!(
        "build-plugins: rustup has no {TARGET} std and Debian's wasm route is incomplete; installing {}",
        DEBIAN_PACKAGES.join(" ")
    );
    install_debian_toolchain()?;
    select_route(rustup, &DebianToolchain::probe())
}

/// The files the Debian route runs, each with the package that installs it. These are exactly
/// the paths `cargo_command` and the linker setting use, so what is checked is what is run.
const DEBIAN_FILES: [(&str, &str); 4] = [
    (DEBIAN_CARGO, "cargo-web"),
    (DEBIAN_RUSTC, "rustc-web"),
    (DEBIAN_STD_SOURCES, "rust-web-src"),
    (DEBIAN_WASM_LD, "lld-22"),
];
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_STD_SOURCES: &str = "/usr/lib/rustlib/src/rust/library";
/// No Debian package installs `rust-lld` (rustc's default wasm32 linker); lld-22 installs this,
/// and the build names it explicitly.
const DEBIAN_WASM_LD: &str = "/usr/lib/llvm-22/bin/wasm-ld";

/// Which of the Debian route's files exist.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DebianToolchain {
    /// `(path, package)` of every file the route needs that is not there.
    missing: Vec<(&'static str, &'static str)>,
}

impl DebianToolchain {
    fn probe() -> Self {
        Self::check(|path| Path::new(path).exists())
    }

    fn check(exists: impl Fn(&str) -> bool) -> Self {
        Self {
            missing: DEBIAN_FILES
                .iter()
                .copied()
                .filter(|(path, _)| !exists(path))
                .collect(),
        }
    }
}

/// The route to build with, from what this machine has; the error names every missing file and
/// the package that installs it.
fn select_route(rustup_has_target: bool, debian: &DebianToolchain) -> Result<Route> {
    if rustup_has_target {
        return Ok(Route::Rustup);
    }
    if debian.missing.is_empty() {
        return Ok(Route::Debian);
    }
    let missing: Vec<String> = debian
        .missing
        .iter()
        .map(|(path, package)| format!("{path} (package {package})"))
        .collect();
    let mut packages: Vec<&str> = debian.missing.iter().map(|(_, p)| *p).collect();
    packages.dedup();
    bail!(
        "no toolchain can build {TARGET}: rustup has no {TARGET} target, and Debian's route is missing {}; \
         install them with `apt-get install {}`",
        missing.join(", "),
        packages.join(" ")
    )
}

/// `rustup target list --installed` is local and quick; `rustup target add` is never run
/// here (it hangs on machines without access to the rustup mirror).
fn rustup_has_wasm_target() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
}

fn install_debian_toolchain() -> Result<()> {
    let sudo = !is_root();
    let run = |args: &[&str]| -> Result<()> {
        let mut cmd = if sudo {
            let mut c = Command::new("sudo");
            c.arg("-n").args(args);
            c
        } else {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        let status = cmd
            .status()
            .with_context(|| format!("running {}", args.join(" ")))?;
        if !status.success() {
            bail!("`{}` failed ({status})", args.join(" "));
        }
        Ok(())
    };
    run(&["apt-get", "update"])?;
    let mut install = vec!["apt-get", "install", "-y", "--no-install-recommends"];
    install.extend(DEBIAN_PACKAGES);
    run(&install)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian_with(present: &[&str]) -> DebianToolchain {
        DebianToolchain::check(|path| present.contains(&path))
    }

    const ALL: [&str; 4] = [
        DEBIAN_CARGO,
        DEBIAN_RUSTC,
        DEBIAN_STD_SOURCES,
        DEBIAN_WASM_LD,
    ];

    #[test]
    fn rustup_with_the_target_wins_over_debian() {
        assert_eq!(
            select_route(true, &debian_with(&ALL)).unwrap(),
            Route::Rustup
        );
        assert_eq!(
            select_route(true, &debian_with(&[])).unwrap(),
            Route::Rustup
        );
    }

    #[test]
    fn debian_route_needs_only_files_its_packages_install() {
        assert_eq!(
            select_route(false, &debian_with(&ALL)).unwrap(),
            Route::Debian
        );
        // rust-lld is what rustc would call by default, and no package installs it: the route
        // must not look for it.
        assert!(
            DEBIAN_FILES
                .iter()
                .all(|(path, _)| !path.ends_with("rust-lld"))
        );
    }

    #[test]
    fn a_missing_linker_is_named_with_its_package() {
        let debian = debian_with(&[DEBIAN_CARGO, DEBIAN_RUSTC, DEBIAN_STD_SOURCES]);
        let err = select_route(false, &debian).unwrap_err().to_string();
        assert!(
            err.contains("/usr/lib/llvm-22/bin/wasm-ld (package lld-22)"),
            "{err}"
        );
        assert!(err.contains("apt-get install lld-22"), "{err}");
        assert!(
            !err.contains("rustc-web"),
            "only what is missing is named: {err}"
        );
    }

    #[test]
    fn nothing_installed_names_every_package() {
        let err = select_route(false, &debian_with(&[]))
            .unwrap_err()
            .to_string();
        for package in DEBIAN_PACKAGES {
            assert!(err.contains(package), "{package} not named in: {err}");
        }
    }

    #[test]
    fn the_debian_build_names_the_linker_it_checked() {
        let cmd = cargo_command(Route::Debian);
        let linker = cmd
            .get_envs()
            .find(|(k, _)| *k == "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER")
            .and_then(|(_, v)| v);
        assert_eq!(linker, Some(std::ffi::OsStr::new(DEBIAN_WASM_LD)));
        assert_eq!(cmd.get_program(), DEBIAN_CARGO);
    }
}
