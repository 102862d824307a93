//! Small process and path helpers.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The read-only shared folder beside the repository.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("KEEPERDB_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"))
}

/// Cargo's target dir (respecting CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Run a command, failing if it fails.
pub fn run<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> anyhow::Result<()> {
    run_env(program, args, &[])
}

/// Run a command with extra environment variables.
pub fn run_env<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: &[S],
    env: &[(&str, &Path)],
) -> anyhow::Result<()> {
    let program = program.as_ref();
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(repo_root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", program.to_string_lossy()))?;
    if !status.success() {
        bail!(
            "{} {} failed ({status})",
            program.to_string_lossy(),
            describe(args)
        );
    }
    Ok(())
}

/// Run a command with a file as its stdin.
pub fn run_with_stdin_file(program: &str, args: &[&str], input: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let status = Command::new(program).args(args).stdin(file).status()?;
    if !status.success() {
        bail!(
            "{program} {} < {} failed ({status})",
            describe(args),
            input.display()
        );
    }
    Ok(())
}

/// Run cargo from the repository root.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    run(
        std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
        args,
    )
}

/// Whether a command runs and exits 0 (output discarded).
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn describe<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
