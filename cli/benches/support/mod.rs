//! What the KSM benches share: the release `keeperdb` run in a config dir of its own, with a
//! vault (the KSM emulator) attached the way a user attaches one.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use keeperdb_ksm_emulator::EmulatorHandle;

/// A path from the environment `cargo xtask bench` sets.
pub fn env_path(var: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{var} is not set: run this through `cargo xtask bench`"))
}

/// The release `keeperdb` with its bundle and a config dir of its own.
pub struct Kdb {
    bin: PathBuf,
    plugins: PathBuf,
    /// The config dir.
    pub config: tempfile::TempDir,
}

impl Kdb {
    /// A fresh config dir with the bundled `plugin` installed.
    pub fn with_plugin(plugin: &str) -> Self {
        let kdb = Kdb {
            bin: env_path("KEEPERDB_BENCH_BIN"),
            plugins: env_path("KEEPERDB_BUNDLED_PLUGINS_DIR"),
            config: tempfile::tempdir().expect("tempdir"),
        };
        kdb.ok(&["plugins", "install", plugin, "--allow"], None);
        kdb
    }

    /// Run `keeperdb ARGS` (with `stdin` piped in), which must succeed; its stdout.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> Vec<u8> {
        let mut child = Command::new(&self.bin)
            .args(args)
            .env("KEEPERDB_CONFIG_DIR", self.config.path())
            .env("KEEPERDB_BUNDLED_PLUGINS_DIR", &self.plugins)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keeperdb runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("stdin");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("keeperdb runs");
        assert!(
            out.status.success(),
            "keeperdb {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Attach `emu` as vault `name` with a fresh one-time token.
    pub fn attach(&self, name: &str, emu: &EmulatorHandle) {
        let token = emu.issue_default_token().expect("token");
        let (key, id, proxy) = (
            emu.server_public_key(),
            emu.server_public_key_id(),
            emu.proxy_url(),
        );
        let ca = emu.ca_pem_path().to_string_lossy().into_owned();
        self.ok(
            &[
                "vault",
                "connect",
                "--name",
                name,
                "--proxy",
                &proxy,
                "--ca-bundle",
                &ca,
                "--server-public-key",
                &key,
                "--server-public-key-id",
                &id,
            ],
            Some(&format!("{token}\n")),
        );
    }
}
