//! `keeperdb`: the command-line shell over keeperdb-core.

mod complete;
mod connections;
mod exit;
mod mcp;
mod password;
mod plugins;
mod prefs;
mod progress;
mod query;
mod safe;
mod schema;
mod session;
mod shell;
mod storage;
mod ui;
mod vault;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use keeperdb_core::App;

/// keeperdb: database connections from your own config and your Keeper vault, through plugins.
#[derive(Debug, Parser)]
#[command(name = "keeperdb", version, about, propagate_version = true)]
struct Cli {
    /// Use this config directory instead of the per-user default.
    #[arg(long, global = true, env = "KEEPERDB_CONFIG_DIR", value_name = "DIR")]
    config_dir: Option<PathBuf>,

    /// More log output on stderr: once info, twice debug, three times trace; RUST_LOG
    /// overrides. (No `-v`: that is a variable to psql users.)
    #[arg(long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List, add, show, edit and remove connections.
    #[command(subcommand, alias = "conn")]
    Connections(connections::Command),
    /// Read and change preferences.
    #[command(subcommand)]
    Prefs(prefs::Command),
    /// Run SQL and stream the rows to stdout (table, csv, json, jsonl, markdown, expanded).
    Query(query::QueryArgs),
    /// An interactive SQL prompt (reads statements from stdin when it is not a terminal).
    Shell(shell::ShellArgs),
    /// Show databases, tables and columns.
    Schema(schema::SchemaArgs),
    /// Install, list, enable, disable, remove and upgrade plugins.
    #[command(subcommand)]
    Plugins(plugins::Command),
    /// Attach, list, refresh and disconnect Keeper vaults.
    #[command(subcommand)]
    Vault(vault::Command),
    /// Sync saved connections and preferences into a Keeper vault, and restore them from it.
    #[command(subcommand)]
    Storage(storage::Command),
    /// Open the GUI: a local web app on 127.0.0.1, in your browser.
    Ui(ui::UiArgs),
    /// Serve the Model Context Protocol on stdio for AI agents (`mcp log`: what they ran).
    Mcp(mcp::McpArgs),
    /// Print the script that makes a shell complete keeperdb's commands and connection names
    /// (`source <(keeperdb completions bash)`).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    complete::answer_if_asked(cli_command);
    let parsed = cli_command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(exit::USAGE),
            };
        }
    };
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keeperdb: {}", exit::render(&err));
            ExitCode::from(exit::code_for(&err))
        }
    }
}

/// The command line, with `storage` hidden in gateway mode (where it is refused when typed).
fn cli_command() -> clap::Command {
    let command = long_help_only(Cli::command());
    let gateway = App::open(config_dir_arg()).is_ok_and(|app| !app.storage_available());
    if gateway {
        command.mut_subcommand("storage", |s| s.hide(true))
    } else {
        command
    }
}

/// Help is `--help` alone, in every subcommand: `-h` is a host to psql users, and keeperdb
/// keeps it free rather than printing help where they meant a host.
fn long_help_only(command: clap::Command) -> clap::Command {
    let command = command.disable_help_flag(true).arg(
        clap::Arg::new("help")
            .long("help")
            .help("Print help")
            .action(clap::ArgAction::Help),
    );
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names
        .iter()
        .fold(command, |c, name| c.mut_subcommand(name, long_help_only))
}

/// `--config-dir` as given, read before clap parses (help depends on the config's mode).
pub(crate) fn config_dir_arg() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config-dir" {
            return args.next().map(PathBuf::from);
        }
        if let Some(dir) = arg.to_str().and_then(|a| a.strip_prefix("--config-dir=")) {
            return Some(PathBuf::from(dir));
        }
    }
    std::env::var_os(keeperdb_core::store::CONFIG_DIR_ENV).map(PathBuf::from)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut app = App::open(cli.config_dir)?;
    if let Some(sink) = progress::terminal_sink() {
        app = app.with_progress(sink);
    }
    match cli.command {
        Command::Connections(cmd) => connections::run(&app, cmd),
        Command::Prefs(cmd) => prefs::run(&app, cmd),
        Command::Query(args) => Ok(query::run(&app, args)?),
        Command::Shell(args) => Ok(shell::run(&app, args)?),
        Command::Schema(args) => Ok(schema::run(&app, args)?),
        Command::Plugins(cmd) => plugins::run(&app, cmd),
        Command::Vault(cmd) => vault::run(&app, cmd),
        Command::Storage(cmd) => storage::run(&app, cmd),
        Command::Mcp(args) => Ok(mcp::run(app, args)?),
        Command::Ui(args) => ui::run(app, args),
        Command::Completions { shell } => {
            complete::write_registration(shell, &mut std::io::stdout())?;
            Ok(())
        }
    }
}

/// keeperdb's own crates, whose logs `-v` turns up; other crates stay at `warn` (at `info`
/// with `-vvv`): a compiler's trace output would drown what keeperdb says.
const OWN_CRATES: [&str; 7] = [
    "keeperdb",
    "keeperdb_core",
    "keeperdb_keeper",
    "keeperdb_wasm_host",
    "keeperdb_driver_host",
    "keeperdb_model",
    "keeperdb_sqlx_driver",
];

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let (own, others) = match verbose {
        0 => ("warn", "warn"),
        1 => ("info", "warn"),
        2 => ("debug", "warn"),
        _ => ("trace", "info"),
    };
    let default: Vec<String> = std::iter::once(others.to_string())
        .chain(OWN_CRATES.iter().map(|c| format!("{c}={own}")))
        .collect();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default.join(",")))
        // The KSM SDK logs request payloads and server answers at debug level; keeperdb's own
        // vault spans say what happened without them.
        .add_directive(
            "keeper_secrets_manager_core=off"
                .parse()
                .expect("a valid directive"),
        );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
