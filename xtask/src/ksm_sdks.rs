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

use anyhow::{Context, Result};

use crate::util;

/// Env var naming `tests/ksm-emulator/sdk/js` once its node_modules is installed.
pub const JS_SDK_ENV: &str = "KEEPERDB_KSM_JS_SDK_DIR";
/// Env var naming the Python interpreter of the venv that has the Python SDK.
pub const PYTHON_ENV: &str = "KEEPERDB_KSM_PYTHON";

/// Written into the venv after a successful install: what was installed.
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
    crate::npm::ensure()?;
    crate::npm::ci(dir, &["--ignore-scripts"])
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
