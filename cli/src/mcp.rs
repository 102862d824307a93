//! `keeperdb mcp`: serve the Model Context Protocol on stdin/stdout for AI agents (through
//! `keeperdb-mcp`), and `keeperdb mcp log` to read what agents ran.

use clap::{Args, Subcommand};

use keeperdb_core::App;
use keeperdb_core::agent::{AgentErrorKind, AuditLog};

use crate::exit::{self, Exit};

/// Arguments of `keeperdb mcp`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct McpArgs {
    /// Expose only these connections (names, ids or SOURCE/NAME, comma-separated) instead of
    /// the preference `mcp.connections`; with neither, none is exposed.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub connections: Option<Vec<String>>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `keeperdb mcp` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the statements agents ran (or were refused), oldest first.
    Log {
        /// How many of the latest entries.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
        /// As JSON Lines.
        #[arg(long)]
        json: bool,
    },
}

fn code_of(kind: AgentErrorKind) -> u8 {
    match kind {
        AgentErrorKind::Refused | AgentErrorKind::Config => exit::USAGE,
        AgentErrorKind::Connection => exit::CONNECTION,
        AgentErrorKind::Query | AgentErrorKind::Timeout => exit::QUERY,
        AgentErrorKind::Cancelled => exit::INTERRUPTED,
        AgentErrorKind::Source => exit::VAULT,
    }
}

/// Run the command. `app` is moved into the server, which lives until the client goes.
pub fn run(app: App, args: McpArgs) -> Result<(), Exit> {
    match args.command {
        None => {
            let connections = args.connections.map(|list| {
                list.into_iter()
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            });
            keeperdb_mcp::serve_stdio(app, connections)
                .map_err(|e| Exit::new(code_of(e.kind()), e.to_string()))
        }
        Some(Command::Log { limit, json }) => {
            let entries = AuditLog::read(app.store().dir().data_path(), limit)
                .map_err(|e| Exit::usage(e.to_string()))?;
            for e in entries {
                if json {
                    let line = serde_json::to_string(&e)
                        .map_err(|err| Exit::usage(format!("cannot encode the log: {err}")))?;
                    println!("{line}");
                } else {
                    let rows = e.rows.map(|r| format!(" rows={r}")).unwrap_or_default();
                    let detail = e.detail.map(|d| format!(" ({d})")).unwrap_or_default();
                    // One entry per line: statements are shown with their newlines escaped.
                    println!(
                        "{} {} {} {}{rows}{detail}: {}",
                        e.time,
                        e.connection,
                        e.tool,
                        e.outcome,
                        e.statement.replace('\n', "\\n")
                    );
                }
            }
            Ok(())
        }
    }
}
