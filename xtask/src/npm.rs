//! Node.js and npm from the machine's Debian packages, and `npm ci` that runs only when the
//! committed package-lock.json changed since the last install.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

/// Written into node_modules after a successful `npm ci`: the lock it installed.
const STAMP: &str = ".keeperdb-installed";

/// Make sure `node` (20 or newer) and `npm` run, installing Debian's packages when not.
pub fn ensure() -> Result<()> {
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
    Ok(())
}

/// The packages here (the JavaScript KSM SDK, the GUI's build tools) declare `node >= 20`;
/// say so plainly when the machine's is older.
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
        Some(m) => eprintln!("xtask: warning: node {m} is older than the 20 these packages need"),
        None => eprintln!("xtask: warning: `node --version` did not run"),
    }
}

/// `npm ci` in `dir` (with `extra` flags), unless its lock is installed already.
pub fn ci(dir: &Path, extra: &[&str]) -> Result<()> {
    let lock = std::fs::read(dir.join("package-lock.json"))
        .with_context(|| format!("reading {}/package-lock.json", dir.display()))?;
    let stamp = dir.join("node_modules").join(STAMP);
    if std::fs::read(&stamp).is_ok_and(|s| s == lock) {
        eprintln!("xtask: npm packages of {} already installed", dir.display());
        return Ok(());
    }
    eprintln!("xtask: npm ci in {}", dir.display());
    let mut args = vec!["ci", "--no-audit", "--no-fund"];
    args.extend_from_slice(extra);
    let status = Command::new("npm")
        .args(&args)
        .current_dir(dir)
        .status()
        .context("cannot run npm")?;
    if !status.success() {
        bail!("npm ci in {} failed ({status})", dir.display());
    }
    std::fs::write(&stamp, lock)?;
    Ok(())
}

/// `npm run SCRIPT` in `dir`.
pub fn run_script(dir: &Path, script: &str) -> Result<()> {
    let status = Command::new("npm")
        .args(["run", "--silent", script])
        .current_dir(dir)
        .status()
        .context("cannot run npm")?;
    if !status.success() {
        bail!("npm run {script} in {} failed ({status})", dir.display());
    }
    Ok(())
}
