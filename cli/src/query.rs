//! `keeperdb query CONN "SQL"` / `-f FILE`: run statements and stream their rows to stdout in
//! the chosen format, page by page. Ctrl-C cancels the running statement on the server.

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use keeperdb_core::format::OutputFormat;

use crate::exit::Exit;
use crate::session::{self, Outcome, Session};
use keeperdb_core::App;
use keeperdb_core::session::ScriptOutput;
use keeperdb_core::sql::split_statements;

/// Arguments of `keeperdb query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// A saved connection (name or id) or a URL (postgres://, mysql://, mariadb://, sqlite:, file.db).
    #[arg(add = crate::complete::connection_names())]
    pub conn: String,
    /// The SQL to run (one statement, or several separated by `;`); SQL that starts with `--`
    /// (a comment) is SQL, not an option. Without SQL, -c or -f, it is read from stdin.
    #[arg(allow_hyphen_values = true, conflicts_with_all = ["file", "command"])]
    pub sql: Option<String>,
    /// The SQL to run, as psql's -c takes it.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SQL",
        allow_hyphen_values = true,
        conflicts_with = "file"
    )]
    pub command: Option<String>,
    /// Read the SQL from a file (`-` for stdin).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Output format: table, csv, json, jsonl, markdown or expanded [default: table on a terminal, csv otherwise].
    #[arg(long, value_parser = parse_format)]
    pub format: Option<OutputFormat>,
    /// Seconds to wait for the server when connecting.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Per-run database, user, password prompt, SQLite file creation.
    #[command(flatten)]
    pub run: crate::session::RunConnect,
}

/// clap value parser for `--format`.
pub fn parse_format(s: &str) -> Result<OutputFormat, String> {
    s.parse::<OutputFormat>().map_err(|e| e.to_string())
}

fn read_sql(args: &QueryArgs) -> Result<String, Exit> {
    let stdin = || {
        let mut s = String::new();
        io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Exit::usage(format!("cannot read SQL from stdin: {e}")))?;
        Ok(s)
    };
    match (args.sql.as_ref().or(args.command.as_ref()), &args.file) {
        (Some(sql), _) => Ok(sql.clone()),
        (None, Some(path)) if path.as_os_str() == "-" => stdin(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| Exit::usage(format!("cannot read {}: {e}", path.display()))),
        (None, None) if !io::stdin().is_terminal() => stdin(),
        (None, None) => Err(Exit::usage(
            "give the SQL to run: as an argument, with -c SQL, with -f FILE, or on stdin",
        )),
    }
}

/// Run the command.
pub fn run(app: &App, args: QueryArgs) -> Result<(), Exit> {
    let text = read_sql(&args)?;
    let format = args.format.unwrap_or(if io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Csv
    });
    session::install_interrupt_handler()?;
    let mut session = Session::open(
        app,
        &args.conn,
        &args.run,
        Duration::from_secs(args.connect_timeout),
    )?;
    let (mut statements, rest) = split_statements(&text, session.engine());
    if !rest.trim().is_empty() {
        statements.push(rest.trim().to_string());
    }
    if statements.is_empty() {
        return Err(Exit::usage("no SQL statement given"));
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let footer = format.is_for_people() && out.is_terminal();
    let mut script = ScriptOutput::new(format, statements.len());
    for sql in &statements {
        if let Err(e) = script.before_result(&mut out) {
            return output_end(e);
        }
        match session.run(sql, format, footer, &mut out) {
            Ok(Outcome::Rows(_)) => {}
            Ok(Outcome::Affected(n)) => {
                if let Err(e) = script.affected(n, &mut out) {
                    return output_end(e);
                }
                if format.is_for_people() {
                    eprintln!("OK, {n} row{} affected", if n == 1 { "" } else { "s" });
                }
            }
            // The reader went away (`| head`): stop quietly, cancelling what still runs.
            Err(f) if f.code == session::BROKEN_PIPE => return Ok(()),
            Err(f) => {
                let _ = out.flush();
                return Err(f);
            }
        }
    }
    if let Err(e) = script.finish(&mut out) {
        return output_end(e);
    }
    let _ = out.flush();
    Ok(())
}

/// Writing to stdout failed between results: a closed pipe ends quietly, as above.
fn output_end(e: io::Error) -> Result<(), Exit> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Ok(());
    }
    Err(Exit::new(
        crate::exit::QUERY,
        format!("cannot write the output: {e}"),
    ))
}
