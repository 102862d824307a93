//! `cargo xtask`: project automation.

mod wasm;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build-plugins") => {
            wasm::build_plugins(&repo_root())?;
        }
        // Build the WASM plugins, then run the tests that use them with the env they need.
        Some("test-wasm") => {
            let root = repo_root();
            let built = wasm::build_plugins(&root)?;
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.current_dir(&root)
                .args(["test", "-p", "keeperdb-core", "-p", "keeperdb-cli"])
                .args(&args[1..]);
            for (k, v) in built.test_env() {
                cmd.env(k, v);
            }
            let status = cmd.status().context("running cargo test")?;
            if !status.success() {
                bail!("tests failed");
            }
        }
        _ => bail!("usage: cargo xtask build-plugins | test-wasm [cargo test args]"),
    }
    Ok(())
}
