//! The official JavaScript and Python KSM SDKs that `tests/ksm-emulator/tests/other_sdks.rs`
//! drives against the emulator, installed from their registries with their own clients:
//!
//! - JavaScript: `npm ci` in `tests/ksm-emulator/sdk/js` (its committed package-lock.json pins
//!   `@keeper-security/secrets-manager-core` and `https-proxy-agent`), with Node.js and npm from
//!   the machine's Debian packages.
//! - Python: a venv in `<target>/ksm-sdks/python` made by Debian's python3 (`python3-venv`),
//!   with `pip install -r tests/ksm-emulator/sdk/python/requirements.txt` (all pinned).
//!
//! Both are skipped when a stamp shows the same lock/requirements are already installed, so a
//! second run costs nothing. The tests find them through the env vars of [`Installed::test_env`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

/// Env var naming `tests/ksm-emulator/sdk/js` once its node_modules is installed.
pub const JS_SDK_ENV: &str = "KEEPERDB_KSM_JS_SDK_DIR";
/// Env var naming the Python interpreter of the venv that has the Python SDK.
pub const PYTHON_ENV: &str = "KEEPERDB_KSM_PYTHON";

/// Written into node_modules / the venv after a successful install: what was installed.
const STAMP: &str = ".keeperdb-installed";

/// Where the SDKs are.
pub struct Installed {
    js_dir: PathBuf,
    python: PathBuf,
}

impl Installed {
    /// The env vars the emulator's SDK tests read.
    pub fn test_env(&self) -> Vec<(&'static str, &Path)> {
        vec![
            (JS_SDK_ENV, self.js_dir.as_path()),
            (PYTHON_ENV, self.python.as_path()),
        ]
    }
}

/// Install both SDKs unless they are installed already.
pub fn install() -> Result<Installed> {
    let sdk = util::repo_root().join("tests/ksm-emulator/sdk");
    let js_dir = sdk.join("js");
    install_js(&js_dir)?;
    let python = install_python(
        &sdk.join("python/requirements.txt"),
        &util::target_dir().join("ksm-sdks/python"),
    )?;
    Ok(Installed { js_dir, python })
}

/// `cargo xtask ksm-sdks`: install, then print the variables for running the SDK tests by hand.
pub fn command() -> Result<()> {
    let installed = install()?;
    for (k, v) in installed.test_env() {
        println!("export {k}={}", v.display());
    }
    Ok(())
}

fn install_js(dir: &Path) -> Result<()> {
    if !util::succeeds("npm", &["--version"]) {
        // A machine whose Node.js comes from Debian has npm as a separate package. (Where
        // nodejs is a build that bundles npm, that package conflicts with it, so it is not in
        // setup::PACKAGES.)
        eprintln!("xtask: npm missing, installing Debian's nodejs and npm");
        util::run("apt-get", &["update", "-qq"])?;
        let status = Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "nodejs",
                "npm",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")?;
        if !status.success() {
            bail!("apt-get install nodejs npm failed ({status})");
        }
    }
    check_node_version();
    let lock = std::fs::read(dir.join("package-lock.json"))
        .with_context(|| format!("reading {}/package-lock.json", dir.display()))?;
    let stamp = dir.join("node_modules").join(STAMP);
    if std::fs::read(&stamp).is_ok_and(|s| s == lock) {
        eprintln!("xtask: JavaScript KSM SDK already installed");
        return Ok(());
    }
    eprintln!("xtask: npm ci in {}", dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(dir)
        .status()
        .context("cannot run npm")?;
    if !status.success() {
        bail!("npm ci in {} failed ({status})", dir.display());
    }
    std::fs::write(&stamp, lock)?;
    Ok(())
}

/// The JavaScript SDK declares `node >= 20`; say so plainly when the machine's is older.
fn check_node_version() {
    let major = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
            v.trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
    match major {
        Some(m) if m >= 20 => {}
        Some(m) => eprintln!(
            "xtask: warning: node {m} is older than the JavaScript KSM SDK's `node >= 20`; \
             its tests may fail"
        ),
        None => eprintln!("xtask: warning: `node --version` did not run"),
    }
}

fn install_python(requirements: &Path, venv: &Path) -> Result<PathBuf> {
    // Debian's interpreter, which python3-venv and python3-pip (setup::PACKAGES) serve; a
    // machine without it falls back to the python3 on PATH.
    let base = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| util::succeeds(p, &["-c", "import venv, ensurepip"]))
        .context("no python3 with the venv module (Debian package python3-venv)")?;
    let wanted = format!(
        "{base}\n{}",
        std::fs::read_to_string(requirements)
            .with_context(|| format!("reading {}", requirements.display()))?
    );
    let python = venv.join("bin/python");
    let stamp = venv.join(STAMP);
    if python.is_file()
        && util::succeeds(
            &python.to_string_lossy(),
            &["-c", "import keeper_secrets_manager_core"],
        )
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted)
    {
        eprintln!("xtask: Python KSM SDK already installed");
        return Ok(python);
    }
    eprintln!("xtask: making {} with the Python KSM SDK", venv.display());
    let _ = std::fs::remove_dir_all(venv);
    let venv_arg = venv.to_string_lossy().into_owned();
    util::run(base, &["-m", "venv", venv_arg.as_str()])?;
    let requirements_arg = requirements.to_string_lossy().into_owned();
    util::run(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            requirements_arg.as_str(),
        ],
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}
