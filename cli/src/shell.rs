//! `keeperdb shell CONN`: an interactive SQL prompt (history, statements spanning lines until
//! `;`, psql-style `\` commands). With stdin not a terminal it reads statements from stdin, so
//! scripts and tests can drive it.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use keeperdb_core::driver::CatalogRequest;
use keeperdb_core::format::OutputFormat;

use crate::exit::{self, Exit};
use crate::session::{self, Outcome, Session};
use keeperdb_core::App;
use keeperdb_core::sql::StatementBuffer;

/// Arguments of `keeperdb shell`.
#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// A saved connection (name or id) or a URL (postgres://, mysql://, mariadb://, sqlite:, file.db).
    pub conn: String,
    /// Output format for results.
    #[arg(long, default_value = "table", value_parser = crate::query::parse_format)]
    pub format: OutputFormat,
    /// Seconds to wait for the server when connecting.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Per-run database, user, password prompt, SQLite file creation.
    #[command(flatten)]
    pub run: crate::session::RunConnect,
}

/// Run the shell; the exit code of piped input is 1 if any statement failed.
pub fn run(app: &App, args: ShellArgs) -> Result<(), Exit> {
    session::install_interrupt_handler()?;
    let mut session = Session::open(
        app,
        &args.conn,
        &args.run,
        Duration::from_secs(args.connect_timeout),
    )?;
    let mut state = State {
        format: args.format,
        timing: false,
        failed: false,
    };
    if io::stdin().is_terminal() {
        interactive(app, &mut session, &mut state)
    } else {
        piped(&mut session, &mut state)?;
        if state.failed {
            return Err(Exit::new(exit::QUERY, "one or more statements failed"));
        }
        Ok(())
    }
}

struct State {
    format: OutputFormat,
    timing: bool,
    failed: bool,
}

/// What to do after a line.
enum Step {
    Continue,
    Quit,
}

fn piped(session: &mut Session, state: &mut State) -> Result<(), Exit> {
    let stdin = io::stdin();
    let mut buffer = StatementBuffer::new(session.engine().clone());
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| Exit::usage(format!("cannot read stdin: {e}")))?;
        if let Step::Quit = handle_line(session, state, &mut buffer, &line)? {
            return Ok(());
        }
    }
    let rest = buffer.take_rest();
    if !rest.trim().is_empty() {
        execute(session, state, &rest)?;
    }
    Ok(())
}

fn interactive(app: &App, session: &mut Session, state: &mut State) -> Result<(), Exit> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Exit::usage(format!("cannot start the line editor: {e}")))?;
    let history = history_path(app);
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!(
        "keeperdb shell: {} ({}). End statements with `;`, `\\?` for help, `\\q` to quit.",
        session.connection.spec.name,
        session.connection.spec.target()
    );
    // The environment tag in the prompt, so a production connection is never mistaken for
    // another: `orders [production]=> `.
    let name = match &session.connection.spec.environment {
        Some(env) if !env.trim().is_empty() => {
            format!("{} [{}]", session.connection.spec.name, env.trim())
        }
        _ => session.connection.spec.name.clone(),
    };
    let mut buffer = StatementBuffer::new(session.engine().clone());
    // Lines of the statement being typed: history keeps whole statements, as psql does, so
    // recalling one brings back all of it.
    let mut typed: Vec<String> = Vec::new();
    loop {
        let prompt = if buffer.is_empty() {
            format!("{name}=> ")
        } else {
            format!("{name}-> ")
        };
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    typed.push(line.trim().to_string());
                }
                let result = handle_line(session, state, &mut buffer, &line);
                if buffer.is_empty() && !typed.is_empty() {
                    let _ = editor.add_history_entry(typed.join(" "));
                    typed.clear();
                }
                match result {
                    Ok(Step::Quit) => break,
                    Ok(Step::Continue) => {}
                    // Connection lost: nothing more can run.
                    Err(f) if f.code == exit::CONNECTION => {
                        save_history(&mut editor, &history);
                        return Err(f);
                    }
                    Err(f) => {
                        if f.code == exit::INTERRUPTED {
                            session::take_interrupt();
                        }
                        eprintln!("error: {}", f.message);
                    }
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => {
                // Ctrl-C at the prompt drops the statement being typed, as psql does.
                buffer = StatementBuffer::new(session.engine().clone());
                typed.clear();
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => {
                save_history(&mut editor, &history);
                return Err(Exit::usage(format!("cannot read input: {e}")));
            }
        }
    }
    save_history(&mut editor, &history);
    Ok(())
}

fn save_history(editor: &mut rustyline::DefaultEditor, path: &Option<PathBuf>) {
    if let Some(path) = path {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = editor.save_history(path) {
            eprintln!("warning: cannot save history to {}: {e}", path.display());
        }
    }
}

/// `shell_history` in the keeperdb config directory.
fn history_path(app: &App) -> Option<PathBuf> {
    Some(app.store().dir().path().join("shell_history"))
}

fn handle_line(
    session: &mut Session,
    state: &mut State,
    buffer: &mut StatementBuffer,
    line: &str,
) -> Result<Step, Exit> {
    if buffer.is_empty() && line.trim_start().starts_with('\\') {
        return meta_command(session, state, line.trim());
    }
    for statement in buffer.push_line(line) {
        let piped = !io::stdin().is_terminal();
        match execute(session, state, &statement) {
            Ok(()) => {}
            Err(f) if piped && f.code == exit::QUERY => {
                // Like psql without ON_ERROR_STOP: report, go on, and fail at the end.
                eprintln!("error: {}", f.message);
                state.failed = true;
            }
            Err(f) => return Err(f),
        }
    }
    Ok(Step::Continue)
}

fn execute(session: &mut Session, state: &mut State, sql: &str) -> Result<(), Exit> {
    let started = Instant::now();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let outcome = session.run(
        sql,
        state.format,
        state.format == OutputFormat::Table,
        &mut out,
    );
    let outcome = match outcome {
        Err(f) if f.code == session::BROKEN_PIPE => return Ok(()),
        other => other?,
    };
    if let Outcome::Affected(n) = outcome {
        let _ = writeln!(out, "OK, {n} row{} affected", if n == 1 { "" } else { "s" });
    }
    if state.timing {
        let _ = writeln!(
            out,
            "Time: {:.3} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    let _ = out.flush();
    Ok(())
}

const HELP: &str = "\
  \\q              quit
  \\l              list databases (schemas on MySQL/MariaDB)
  \\dt [SCHEMA]    list tables
  \\d TABLE        describe a table's columns (TABLE may be SCHEMA.TABLE)
  \\format NAME    table, csv, json, jsonl or markdown
  \\timing         toggle timing of statements
  \\?              this help
";

fn meta_command(session: &mut Session, state: &mut State, line: &str) -> Result<Step, Exit> {
    let mut parts = line.split_whitespace();
    let cmd = parts.next().unwrap_or("");
    let arg = parts.next();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let format = state.format;
    let result = match cmd {
        "\\q" | "\\quit" => return Ok(Step::Quit),
        "\\?" | "\\h" | "\\help" => {
            let _ = out.write_all(HELP.as_bytes());
            Ok(())
        }
        "\\timing" => {
            state.timing = !state.timing;
            let _ = writeln!(
                out,
                "Timing is {}.",
                if state.timing { "on" } else { "off" }
            );
            Ok(())
        }
        "\\format" | "\\pset" => match arg.map(str::parse::<OutputFormat>) {
            Some(Ok(f)) => {
                state.format = f;
                let _ = writeln!(out, "Output format is {f}.");
                Ok(())
            }
            Some(Err(e)) => Err(Exit::usage(e.to_string())),
            None => Err(Exit::usage(
                "\\format needs a name: table, csv, json, jsonl or markdown",
            )),
        },
        "\\l" | "\\list" => session
            .catalog(&CatalogRequest::Databases, format, &mut out)
            .map(|_| ()),
        "\\dt" => session
            .catalog(
                &CatalogRequest::Tables {
                    schema: arg.map(str::to_string),
                },
                format,
                &mut out,
            )
            .map(|_| ()),
        "\\d" => match arg {
            None => session
                .catalog(&CatalogRequest::Tables { schema: None }, format, &mut out)
                .map(|_| ()),
            Some(name) => {
                let (schema, table) = split_qualified(name);
                session
                    .catalog(&CatalogRequest::Columns { schema, table }, format, &mut out)
                    .map(|_| ())
            }
        },
        other => Err(Exit::usage(format!(
            "unknown command `{other}`; `\\?` lists the commands"
        ))),
    };
    let _ = out.flush();
    drop(out);
    match result {
        Ok(()) => Ok(Step::Continue),
        Err(f) if f.code == exit::USAGE || f.code == exit::QUERY => {
            eprintln!("error: {}", f.message);
            if !io::stdin().is_terminal() {
                state.failed = true;
            }
            Ok(Step::Continue)
        }
        Err(f) => Err(f),
    }
}

/// `schema.table` → (Some(schema), table); quotes around either part are dropped.
pub fn split_qualified(name: &str) -> (Option<String>, String) {
    let unquote = |s: &str| s.trim_matches(|c| c == '"' || c == '`').to_string();
    match name.split_once('.') {
        Some((s, t)) => (Some(unquote(s)), unquote(t)),
        None => (None, unquote(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_split_on_the_dot() {
        assert_eq!(
            split_qualified("public.\"Users\""),
            (Some("public".to_string()), "Users".to_string())
        );
        assert_eq!(split_qualified("t"), (None, "t".to_string()));
    }
}
