//! `keeperdb shell CONN`: an interactive SQL prompt. Statements span lines until `;` (or `\g`,
//! or `\G` for expanded display); history recalls a statement exactly as it was typed; long
//! output goes through a pager; Tab completes keywords and the catalog's names; psql-style
//! `\` commands (`meta`). With stdin not a terminal it reads statements from stdin, so scripts
//! and tests can drive it.

mod editor;
mod meta;
mod pager;

use std::cell::RefCell;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use keeperdb_core::App;
use keeperdb_core::completion::Completer;
use keeperdb_core::format::OutputFormat;
use keeperdb_core::session::Display;
use keeperdb_core::sql::StatementBuffer;

use crate::exit::{self, Exit};
use crate::session::{self, Outcome, RunConnect, Session};
use pager::Pager;

/// Table cells are cut at this width in an interactive shell (`\pset truncate`).
const DEFAULT_MAX_WIDTH: usize = 80;
/// `\i` files may include others, to this depth.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Arguments of `keeperdb shell`.
#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// A saved connection (name or id) or a URL (postgres://, mysql://, mariadb://, sqlite:, file.db).
    #[arg(add = crate::complete::connection_names())]
    pub conn: String,
    /// Output format for results.
    #[arg(long, default_value = "table", value_parser = crate::query::parse_format)]
    pub format: OutputFormat,
    /// Seconds to wait for the server when connecting.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Per-run database, user, password prompt, SQLite file creation.
    #[command(flatten)]
    pub run: RunConnect,
}

/// The open connection and what completes names on it; shared with the line editor, which
/// asks the catalog while a line is typed.
pub(crate) struct Live {
    pub session: Session,
    pub completer: Completer,
}

/// Everything the shell keeps between lines.
pub(crate) struct Shell<'a> {
    app: &'a App,
    /// CONN as given, and the per-run settings, for `\c` to reconnect with.
    conn_arg: String,
    run: RunConnect,
    connect_timeout: Duration,
    live: Rc<RefCell<Live>>,
    format: OutputFormat,
    /// `\x`: rows shown as expanded records.
    expanded: bool,
    timing: bool,
    /// A statement or command failed (the exit code of piped input).
    failed: bool,
    /// Input is a person at a terminal.
    interactive: bool,
    pager: Pager,
    /// `\o FILE`: results go there instead of the screen.
    output: Option<(PathBuf, std::fs::File)>,
    /// The last statement run, for `\e` with nothing typed.
    last: String,
    /// What `\e` brought back, for the history.
    edited: Option<String>,
    /// The statement being typed, line by line.
    buffer: StatementBuffer,
    include_depth: usize,
}

/// What to do after a line.
pub(crate) enum Step {
    Continue,
    Quit,
}

/// Run the shell; the exit code of piped input is 1 if any statement failed.
pub fn run(app: &App, args: ShellArgs) -> Result<(), Exit> {
    session::install_interrupt_handler()?;
    let connect_timeout = Duration::from_secs(args.connect_timeout);
    let session = Session::open(app, &args.conn, &args.run, connect_timeout)?;
    let interactive = io::stdin().is_terminal();
    let mut shell = Shell::new(app, args, session, connect_timeout, interactive);
    if interactive {
        editor::interactive(&mut shell)
    } else {
        shell.piped(io::stdin().lock())?;
        if shell.failed {
            return Err(Exit::new(exit::QUERY, "one or more statements failed"));
        }
        Ok(())
    }
}

impl<'a> Shell<'a> {
    fn new(
        app: &'a App,
        args: ShellArgs,
        mut session: Session,
        connect_timeout: Duration,
        interactive: bool,
    ) -> Self {
        let to_screen = interactive && io::stdout().is_terminal();
        if to_screen {
            session.set_display(Display {
                null: None,
                max_width: Some(DEFAULT_MAX_WIDTH),
            });
        }
        let engine = session.engine().clone();
        Shell {
            app,
            conn_arg: args.conn,
            run: args.run,
            connect_timeout,
            live: Rc::new(RefCell::new(Live {
                session,
                completer: Completer::new(engine.clone()),
            })),
            format: args.format,
            expanded: false,
            timing: false,
            failed: false,
            interactive,
            pager: if to_screen {
                Pager::from_env()
            } else {
                Pager::off()
            },
            output: None,
            last: String::new(),
            edited: None,
            buffer: StatementBuffer::new(engine),
            include_depth: 0,
        }
    }

    /// Statements from a non-interactive input (stdin, a `\i` file), to its end.
    fn piped(&mut self, input: impl BufRead) -> Result<(), Exit> {
        for line in input.lines() {
            let line = line.map_err(|e| Exit::usage(format!("cannot read the input: {e}")))?;
            match self.handle_line(&line) {
                Ok(Step::Quit) => return Ok(()),
                Ok(Step::Continue) => {}
                Err(f) if f.code == exit::QUERY || f.code == exit::USAGE => {
                    // Like psql without ON_ERROR_STOP: report, go on, and fail at the end.
                    eprintln!("error: {}", f.message);
                    self.failed = true;
                }
                Err(f) => return Err(f),
            }
        }
        let rest = self.buffer.take_rest();
        if !rest.trim().is_empty() {
            self.execute(&rest, false)?;
        }
        Ok(())
    }

    /// One line as typed (a recalled history entry may hold several).
    pub(crate) fn handle_line(&mut self, line: &str) -> Result<Step, Exit> {
        if self.buffer.is_empty() && line.trim_start().starts_with('\\') {
            return meta::run(self, line.trim());
        }
        let (line, go) = split_terminator(line);
        let mut statements = self.buffer.push_line(line);
        if go.is_some() {
            let rest = self.buffer.take_rest();
            if !rest.trim().is_empty() {
                statements.push(rest);
            }
        }
        let last = statements.len().saturating_sub(1);
        for (i, statement) in statements.iter().enumerate() {
            let expanded = go == Some(Go::Expanded) && i == last;
            self.execute(statement, expanded)?;
        }
        Ok(Step::Continue)
    }

    /// The format a result is shown in now.
    fn format_now(&self, expanded_once: bool) -> OutputFormat {
        if (self.expanded || expanded_once) && self.format == OutputFormat::Table {
            OutputFormat::Expanded
        } else {
            self.format
        }
    }

    fn execute(&mut self, sql: &str, expanded_once: bool) -> Result<(), Exit> {
        let format = self.format_now(expanded_once);
        let started = Instant::now();
        self.last = sql.to_string();
        let outcome =
            self.show(|live, out| live.session.run(sql, format, format.is_for_people(), out))?;
        let mut status = String::new();
        if let Some(Outcome::Affected(n)) = outcome {
            status.push_str(&format!(
                "OK, {n} row{} affected\n",
                if n == 1 { "" } else { "s" }
            ));
            // The catalog may have changed: read it again at the next completion.
            self.live.borrow_mut().completer.forget();
        }
        if self.timing {
            status.push_str(&format!(
                "Time: {:.3} ms\n",
                started.elapsed().as_secs_f64() * 1000.0
            ));
        }
        self.write_out(&status);
        Ok(())
    }

    /// Run `produce` with where results go now: `\o`'s file, the pager (which shows it only
    /// once it does not fit the screen), or stdout. `None` when the reader went away.
    fn show(
        &mut self,
        produce: impl FnOnce(&mut Live, &mut dyn Write) -> Result<Outcome, Exit>,
    ) -> Result<Option<Outcome>, Exit> {
        let live = self.live.clone();
        let mut live = live.borrow_mut();
        let outcome = match &mut self.output {
            Some((_, file)) => produce(&mut live, file),
            None if self.pager.command().is_some() => {
                let (rows, cols) = screen();
                let mut paged = self.pager.output(rows, cols);
                let outcome = produce(&mut live, &mut paged);
                if let Err(e) = paged.finish() {
                    eprintln!("warning: the pager failed: {e}");
                }
                outcome
            }
            None => produce(&mut live, &mut io::stdout().lock()),
        };
        match outcome {
            Err(f) if f.code == session::BROKEN_PIPE => Ok(None),
            other => other.map(Some),
        }
    }

    /// Text for where results go now (`\o`'s file, or the screen).
    fn write_out(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let written = match &mut self.output {
            Some((_, file)) => file.write_all(text.as_bytes()).and_then(|()| file.flush()),
            None => {
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
        };
        if let Err(e) = written {
            eprintln!("warning: cannot write the output: {e}");
        }
    }

    /// The connection's name with its environment tag, for the prompt, so a production
    /// connection is never mistaken for another: `orders [production]`.
    fn prompt_name(&self) -> String {
        let live = self.live.borrow();
        let spec = &live.session.connection.spec;
        let name = crate::safe::text(&spec.name, crate::safe::FIELD);
        match &spec.environment {
            Some(env) if !env.trim().is_empty() => {
                format!(
                    "{name} [{}]",
                    crate::safe::text(env.trim(), crate::safe::FIELD)
                )
            }
            _ => name,
        }
    }
}

/// How a line ended a statement without `;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Go {
    /// `\g`: run it.
    Run,
    /// `\G` (MySQL) or `\gx` (psql): run it and show its rows expanded.
    Expanded,
}

/// A line without its trailing `\g`, `\G` or `\gx`, and which it was.
fn split_terminator(line: &str) -> (&str, Option<Go>) {
    let trimmed = line.trim_end();
    for (suffix, go) in [
        ("\\gx", Go::Expanded),
        ("\\G", Go::Expanded),
        ("\\g", Go::Run),
    ] {
        if let Some(rest) = trimmed.strip_suffix(suffix) {
            return (rest, Some(go));
        }
    }
    (line, None)
}

/// The terminal's rows and columns (a common size when it cannot be asked).
fn screen() -> (usize, usize) {
    match terminal_size::terminal_size() {
        Some((terminal_size::Width(w), terminal_size::Height(h))) => (h.into(), w.into()),
        None => (24, 80),
    }
}

/// `shell_history` in the keeperdb config directory.
fn history_path(app: &App) -> PathBuf {
    app.store().dir().path().join("shell_history")
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

    #[test]
    fn a_line_may_end_its_statement_with_g_or_expanded_with_capital_g_or_gx() {
        assert_eq!(
            split_terminator("select 1 \\G  "),
            ("select 1 ", Some(Go::Expanded))
        );
        assert_eq!(
            split_terminator("select 1\\gx"),
            ("select 1", Some(Go::Expanded))
        );
        assert_eq!(
            split_terminator("select 1 \\g"),
            ("select 1 ", Some(Go::Run))
        );
        assert_eq!(split_terminator("select 1;"), ("select 1;", None));
    }
}
