//! `cargo xtask`: the project's own automation. Everything the tests need is installed and
//! started from here, so a fresh machine runs `cargo xtask test` and nothing else.

mod setup;
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
        /// Extra arguments for the test runner (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// The main job on the embedded default: a SQLite Chinook database, no server needed.
    Demo,
    /// Build every WASM plugin into a component and an installable plugin dir
    /// (target/bundled-plugins, target/test-plugins).
    BuildPlugins,
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
        Command::Test { args } => test(&args),
        Command::Demo => demo(),
        Command::BuildPlugins => wasm::build_plugins(&util::repo_root()).map(|_| ()),
        Command::TestWasm { args } => test_wasm(&args),
    }
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    setup::install_packages()?;
    util::cargo(&["build", "--workspace", "--all-targets"])?;
    let runner = if util::succeeds("cargo", &["nextest", "--version"]) {
        let mut a = vec!["nextest", "run", "--workspace", "--no-fail-fast"];
        a.extend(extra.iter().map(String::as_str));
        a
    } else {
        let mut a = vec!["test", "--workspace", "--no-fail-fast"];
        a.extend(extra.iter().map(String::as_str));
        a
    };
    set_plugin_env()?;
    setup::with_secret_service("cargo", &runner)
}

/// Build the WASM plugins and point the tests at them.
fn set_plugin_env() -> anyhow::Result<()> {
    let built = wasm::build_plugins(&util::repo_root())?;
    wasm::test_plugin_units(&util::repo_root())?;
    for (key, value) in built.test_env() {
        // SAFETY: xtask is single-threaded here; the test processes inherit the variables.
        unsafe { std::env::set_var(key, value) };
    }
    Ok(())
}

fn test_wasm(extra: &[String]) -> anyhow::Result<()> {
    set_plugin_env()?;
    for (package, target) in [
        ("keeperdb-core", "wasm_plugins"),
        ("keeperdb-cli", "plugins_cli"),
    ] {
        let mut args = vec!["test", "-p", package, "--test", target];
        args.extend(extra.iter().map(String::as_str));
        util::cargo(&args)?;
    }
    Ok(())
}

fn demo() -> anyhow::Result<()> {
    util::cargo(&["build", "--bin", "keeperdb"])?;
    let work = util::target_dir().join("demo");
    let config = work.join("config");
    let _ = std::fs::remove_dir_all(&config);
    std::fs::create_dir_all(&work)?;
    let db = work.join("chinook.sqlite");
    if !db.exists() {
        let sql = util::shared_dir().join("data/chinook/Chinook_Sqlite.sql");
        util::run_with_stdin_file("sqlite3", &[db.to_str().unwrap_or_default()], &sql)?;
    }
    let keeperdb = util::target_dir().join("debug/keeperdb");
    let kdb = |args: &[&str]| util::run_env(&keeperdb, args, &[("KEEPERDB_CONFIG_DIR", &config)]);
    kdb(&[
        "connections",
        "add",
        &format!("sqlite:{}", db.display()),
        "--name",
        "chinook",
    ])?;
    kdb(&["connections", "list"])?;
    kdb(&["connections", "show", "chinook"])?;
    Ok(())
}
