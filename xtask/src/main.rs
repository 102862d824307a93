//! `cargo xtask`: the project's own automation. Everything the tests need is installed and
//! started from here, so a fresh machine runs `cargo xtask test` and nothing else.

mod bench;
mod demo;
mod install;
mod js_plugins;
mod ksm_sdks;
mod npm;
mod plugin_pack;
mod services;
mod setup;
mod sign;
mod ui;
mod util;
mod wasm;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the Debian packages the tests and plugin builds need (idempotent).
    Setup,
    /// Install, build, start services, and run every test (what CI runs).
    Test {
        /// Leave the test database servers running afterwards (for repeated local runs).
        #[arg(long)]
        keep_services: bool,
        /// Extra arguments for the test runner (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Benchmarks (figures, not tests): `bench query [--rows 100000,1000000] [--repeat 3]`.
    Bench {
        /// What to benchmark and its options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Start, stop or show the test database servers: `services start|stop|env`.
    Services {
        /// `start`, `stop` or `env`.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Pack built driver plugins into `<target>/<profile>/bundled-plugins/<id>/`.
    PackDrivers {
        /// Pack from target/release instead of target/debug.
        #[arg(long)]
        release: bool,
    },
    /// The main job, offline: a Keeper vault (the KSM emulator) attached with its one-time
    /// token, its Database records beside local connections, a query over a vault connection
    /// (PostgreSQL on loopback), then a local SQLite Chinook database.
    Demo {
        /// Internal: run the demo's commands (inside the private Secret Service session the
        /// outer `demo` starts).
        #[arg(long, hide = true)]
        in_session: bool,
    },
    /// Build every WASM plugin into a component and an installable plugin dir
    /// (target/debug/bundled-plugins, target/test-plugins).
    BuildPlugins,
    /// Build the GUI's page (gui/web, npm) into gui/web/dist, which `keeperdb` embeds.
    BuildUi,
    /// Install a release `keeperdb` with its bundled plugins: PREFIX/bin/keeperdb and
    /// PREFIX/lib/keeperdb/plugins.
    Install {
        /// Where to install (default: ~/.local).
        #[arg(long, value_name = "DIR")]
        prefix: Option<std::path::PathBuf>,
    },
    /// Write target/dist/keeperdb-VERSION-TRIPLE.tar.gz: the release binary and its bundled
    /// plugins, to unpack anywhere.
    Dist,
    /// Install the official JavaScript and Python KSM SDKs the emulator's tests drive, and print
    /// the env vars for `cargo test -p keeperdb-ksm-emulator --test other_sdks`.
    KsmSdks,
    /// Build the WASM plugins, then run core's and the CLI's tests with the env they need.
    TestWasm {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Setup => setup::install_packages(),
        Command::Test {
            keep_services,
            args,
        } => test(keep_services, &args),
        Command::Demo { in_session } => demo::run(in_session),
        Command::Bench { args } => bench::command(&args),
        Command::Services { args } => services::command(&util::repo_root(), &args),
        Command::PackDrivers { release } => {
            pack_drivers(&util::target_dir().join(if release { "release" } else { "debug" }))
        }
        Command::BuildPlugins => wasm::build_plugins(&util::repo_root()).map(|_| ()),
        Command::BuildUi => ui::build().map(|_| ()),
        Command::TestWasm { args } => test_wasm(&args),
        Command::KsmSdks => ksm_sdks::command(),
        Command::Install { prefix } => install::install(&install::build_release()?, prefix),
        Command::Dist => install::dist(&install::build_release()?).map(|_| ()),
    }
}

fn test(keep_services: bool, extra: &[String]) -> anyhow::Result<()> {
    setup::install_packages()?;
    let repo = util::repo_root();
    // The page first: the builds below embed it (release) or serve it from disk (debug).
    let web = ui::build()?;
    let ui_env = ui::test_env(&web)?;
    util::cargo(&["build", "--workspace", "--all-targets"])?;
    // Driver plugins are packed beside the keeperdb binary, where it looks for bundled plugins.
    pack_drivers(&util::target_dir().join("debug"))?;
    // The WASM plugins the tests load, built with whichever toolchain route exists.
    let plugins = build_plugins()?;
    // The KSM SDK trusts only the CA named by SSL_CERT_FILE, and tests cannot set it safely
    // themselves: make the emulator's CA once and hand it to every test process.
    let (ca, ca_pem) = make_ksm_ca()?;
    // The official JavaScript and Python SDKs the emulator is tested with, beside the Rust one.
    let ksm_sdks = ksm_sdks::install()?;

    // What a user gets from `cargo xtask install`, in a prefix outside the repository: the
    // installed-binary tests run it with no target/ dir on its PATH or in its environment.
    let installed = std::env::temp_dir().join(format!("keeperdb-installed-{}", std::process::id()));
    let release = install::build_release()?;
    install::install(&release, Some(installed.clone()))?;
    let archive = install::dist(&release)?;

    let services = services::start(&repo)?;
    let nextest = util::succeeds("cargo", &["nextest", "--version"]);
    let runner: Vec<&str> = if nextest {
        vec!["nextest", "run", "--workspace", "--no-fail-fast"]
    } else {
        vec!["test", "--workspace", "--no-fail-fast"]
    };
    let args: Vec<&str> = runner
        .into_iter()
        .chain(extra.iter().map(String::as_str))
        .collect();
    let service_env: Vec<(String, std::path::PathBuf)> =
        services.into_iter().map(|(k, v)| (k, v.into())).collect();
    let mut env: Vec<(&str, &std::path::Path)> =
        vec![("KEEPERDB_KSM_CA_DIR", &ca), ("SSL_CERT_FILE", &ca_pem)];
    env.extend(ksm_sdks.test_env());
    let plugin_env = plugins.test_env();
    env.extend(plugin_env.iter().map(|(k, v)| (*k, v.as_path())));
    env.extend(ui_env.iter().map(|(k, v)| (*k, v.as_path())));
    env.push(("KEEPERDB_INSTALLED_PREFIX", &installed));
    env.push(("KEEPERDB_DIST_ARCHIVE", &archive));
    env.extend(service_env.iter().map(|(k, v)| (k.as_str(), v.as_path())));
    let mut result = setup::with_secret_service("cargo", &args, &env);
    // nextest runs no doc tests: run them too, so the examples in the docs (the driver
    // template in keeperdb-driver-sdk) compile for real. They need no services.
    if nextest && extra.is_empty() {
        let docs = util::cargo(&["test", "--doc", "--workspace", "--no-fail-fast"]);
        result = result.and(docs);
    }
    let _ = std::fs::remove_dir_all(&installed);
    if keep_services {
        return result;
    }
    // Stop the servers whatever the outcome, so a failed run leaves nothing behind.
    let stopped = services::stop(&repo);
    result.and(stopped)
}

/// The KSM emulator's CA in `target/ksm-ca` (made once, then reused): its dir and `ca.pem`.
pub(crate) fn make_ksm_ca() -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let ca = util::target_dir().join("ksm-ca");
    let ca_arg = ca.to_string_lossy().into_owned();
    util::cargo(&[
        "run",
        "-q",
        "-p",
        "keeperdb-ksm-emulator",
        "--",
        "make-ca",
        "--out",
        &ca_arg,
    ])?;
    let pem = ca.join("ca.pem");
    Ok((ca, pem))
}

/// Build the WASM plugins and run their own (native) unit tests.
fn build_plugins() -> anyhow::Result<wasm::Built> {
    let built = wasm::build_plugins(&util::repo_root())?;
    wasm::test_plugin_units(&util::repo_root())?;
    Ok(built)
}

/// Just the WASM runtime and plugin management tests, with the plugins they need.
fn test_wasm(extra: &[String]) -> anyhow::Result<()> {
    let plugins = build_plugins()?;
    for (package, target) in [
        ("keeperdb-core", "wasm_plugins"),
        ("keeperdb-cli", "plugins_cli"),
        ("keeperdb-cli", "plugin_templates"),
    ] {
        let mut args = vec!["test", "-p", package, "--test", target];
        args.extend(extra.iter().map(String::as_str));
        let env = plugins.test_env();
        let env: Vec<(&str, &std::path::Path)> =
            env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        util::run_env("cargo", &args, &env)?;
    }
    Ok(())
}

/// Pack the first-party driver plugins beside the keeperdb binary of `profile`.
pub(crate) fn pack_drivers(profile: &std::path::Path) -> anyhow::Result<()> {
    for plugin in plugin_pack::FIRST_PARTY_DRIVERS {
        let dir = plugin_pack::pack_driver(profile, plugin)?;
        eprintln!("xtask: packed {}", dir.display());
    }
    Ok(())
}
