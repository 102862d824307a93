//! Installing what the tests need from Debian, and running a command inside a private D-Bus
//! session with a real Secret Service (gnome-keyring) for the `keyring` crate.

use std::process::Command;

use anyhow::{Context, bail};

use crate::util;

/// Debian packages the test suite and the plugin builds use.
pub const PACKAGES: &[&str] = &[
    // Database servers and their own CLIs (the reference for type round-trip tests).
    "postgresql",
    "postgresql-client",
    "mariadb-server",
    "mariadb-client",
    "sqlite3",
    // A real Secret Service for the OS credential store.
    "dbus",
    "gnome-keyring",
    "libsecret-tools",
    // The official JavaScript and Python KSM SDKs run against the emulator (xtask/src/ksm_sdks.rs).
    // npm is not listed: where nodejs is a build that bundles it, Debian's npm conflicts with
    // it; ksm_sdks installs Debian's npm only when no npm runs.
    "nodejs",
    "python3-venv",
    "python3-pip",
    // The headless browser the GUI's end-to-end tests drive through playwright-core.
    "chromium",
    // Peak-memory figures in benchmarks.
    "time",
    // The wasm32 route when rustup has no wasm32 target (see shared/TOOLCHAIN.md).
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "lld-22",
];

/// Install any missing package with apt-get (needs root, as on these machines).
pub fn install_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        eprintln!("xtask: all {} Debian packages present", PACKAGES.len());
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    util::run("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    let status = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("cannot run apt-get")?;
    if !status.success() {
        bail!("apt-get install {} failed ({status})", missing.join(" "));
    }
    Ok(())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Run `program args` in a new D-Bus session bus with gnome-keyring's Secret Service unlocked,
/// its keyring files in a temp dir (so no test touches the user's real keyring).
pub fn with_secret_service(
    program: &str,
    args: &[&str],
    env: &[(&str, &std::path::Path)],
) -> anyhow::Result<()> {
    let home = util::target_dir().join("test-keyring");
    let _ = std::fs::remove_dir_all(&home);
    let data = home.join("data");
    let runtime = home.join("run");
    for dir in [&data, &runtime] {
        std::fs::create_dir_all(dir)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))?;
    }
    // The unlock password only protects this throwaway keyring.
    let script = r#"printf 'keeperdb-test' | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null || exit 90; exec "$@""#;
    let mut full = vec!["--", "sh", "-c", script, "sh", program];
    full.extend_from_slice(args);
    let mut all_env = vec![
        ("XDG_DATA_HOME", data.as_path()),
        ("XDG_RUNTIME_DIR", runtime.as_path()),
    ];
    all_env.extend_from_slice(env);
    util::run_env("dbus-run-session", &full, &all_env)
}
