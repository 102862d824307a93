//! What `query`, `shell` and `schema` share: exit codes, opening a connection named on the
//! command line, Ctrl-C handling, and running one statement into a result writer.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keeperdb_core::adhoc::{LibpqEnv, RunOverrides};
use keeperdb_core::driver::{Canceller, CatalogRequest, DriverError, DriverErrorKind};
use keeperdb_core::format::{FormatError, OutputFormat};
use keeperdb_core::registry::RegistryError;
pub use keeperdb_core::session::Outcome;
use keeperdb_core::session::{self as core_session, StreamError};
use keeperdb_core::{App, Connection, Credentials, Engine};

use crate::exit::{self, Exit};

fn with_code(e: &DriverError) -> String {
    match &e.code {
        Some(code) => format!("{} (code {code})", e.message),
        None => e.message.clone(),
    }
}

/// Map a failure while connecting.
pub fn connect_failure(connection: &Connection, e: &DriverError) -> Exit {
    let what = match e.kind {
        DriverErrorKind::Auth => "authentication failed",
        DriverErrorKind::Timeout => "timed out",
        DriverErrorKind::Cancelled => return Exit::interrupted(),
        _ => "cannot connect",
    };
    Exit::new(
        exit::CONNECTION,
        format!(
            "{what} for `{}` ({}): {}",
            connection.spec.name,
            connection.spec.target(),
            with_code(e)
        ),
    )
}

/// Map a failure of a statement (or of reading its rows).
pub fn statement_failure(e: &DriverError) -> Exit {
    match e.kind {
        // The server's own word that it stopped the statement, with its code (57014, 1317):
        // the user (and a script) can tell a cancel that reached the server from one that
        // did not.
        DriverErrorKind::Cancelled => Exit::new(
            exit::INTERRUPTED,
            format!(
                "interrupted: the server cancelled the query: {}",
                with_code(e)
            ),
        ),
        _ if interrupted() => Exit::interrupted(),
        DriverErrorKind::Connection | DriverErrorKind::Auth => Exit::new(
            exit::CONNECTION,
            format!("connection lost: {}", with_code(e)),
        ),
        DriverErrorKind::Timeout => Exit::new(
            exit::QUERY,
            format!("statement timed out: {}", with_code(e)),
        ),
        DriverErrorKind::Query => Exit::new(exit::QUERY, with_code(e)),
        DriverErrorKind::Internal => {
            Exit::new(exit::QUERY, format!("driver error: {}", with_code(e)))
        }
    }
}

/// The core's query session, with the CLI's Ctrl-C handling and exit codes around it.
pub struct Session {
    /// The connection as resolved from the command line.
    pub connection: Connection,
    inner: core_session::Session,
}

/// How to connect for this one run, as psql users type it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunConnect {
    /// Use this database (for SQLite, this file) instead of the connection's.
    #[arg(short = 'd', long = "dbname", value_name = "DB")]
    pub dbname: Option<String>,
    /// Log in as this user; a saved password is not sent for another user.
    #[arg(short = 'U', long = "username", value_name = "USER")]
    pub username: Option<String>,
    /// Ask for the password on the terminal before connecting, whatever is saved.
    #[arg(short = 'W', long = "password")]
    pub ask_password: bool,
    /// Create the SQLite database file when it does not exist (without this, a missing file is
    /// an error, never a new empty database).
    #[arg(long)]
    pub create: bool,
}

impl Session {
    /// Resolve `arg` (a registry name/id or a URL), ask for a password if its source keeps
    /// none, and connect.
    pub fn open(
        app: &App,
        arg: &str,
        run: &RunConnect,
        connect_timeout: Duration,
    ) -> Result<Self, Exit> {
        let overrides = RunOverrides {
            database: run.dbname.clone(),
            user: run.username.clone(),
            ask_password: run.ask_password,
            create: run.create,
        };
        let resolved = app
            .resolve_for_run(arg, &overrides, &LibpqEnv::from_process())
            .map_err(resolve_failure)?;
        for note in &resolved.notes {
            eprintln!("keeperdb: warning: {note}");
        }
        if resolved.password_in_url {
            eprintln!(
                "keeperdb: warning: a password in a URL on the command line is visible in the process list and shell history; save the connection (`keeperdb connections add URL --ask-password`) instead"
            );
        }
        let connection = resolved.connection;
        let mut credentials = resolved.credentials;
        if credentials.needs_prompt {
            // -W, or the user chose to keep no password for this connection: ask for it now.
            let why = if run.ask_password {
                "asked for with -W".to_string()
            } else {
                format!("`{}` keeps no stored password", connection.spec.name)
            };
            let password = crate::password::prompt(&connection.spec.name)
                .map_err(|e| Exit::usage(format!("{e} ({why})")))?;
            credentials = Credentials::new(credentials.user, Some(password));
        }
        let inner = app
            .connect(connection.clone(), credentials, connect_timeout)
            .map_err(|e| match e {
                keeperdb_core::Error::Driver(d) => connect_failure(&connection, &d),
                other => Exit::new(exit::code_of(&other), exit::render_core(&other)),
            })?;
        Ok(Self { connection, inner })
    }

    /// The core's session, for what needs no Ctrl-C handling (completion).
    pub fn inner_mut(&mut self) -> &mut core_session::Session {
        &mut self.inner
    }

    /// How results are shown.
    pub fn display(&self) -> &keeperdb_core::session::Display {
        self.inner.display()
    }

    /// Show results this way from now on.
    pub fn set_display(&mut self, display: keeperdb_core::session::Display) {
        self.inner.set_display(display);
    }

    /// The engine of the connection.
    pub fn engine(&self) -> &Engine {
        self.inner.engine()
    }

    /// Run one statement, streaming rows (if any) to `out`. Returns what to tell the user
    /// (a row count or rows affected) for shells that print a status line.
    pub fn run(
        &mut self,
        sql: &str,
        format: OutputFormat,
        footer: bool,
        out: &mut dyn Write,
    ) -> Result<Outcome, Exit> {
        if self.inner.needs_confirmation(sql) {
            self.confirm(sql)?;
        }
        let _guard = CancelGuard::arm(self.inner.canceller());
        let result = self.inner.execute(sql).map_err(|e| statement_failure(&e))?;
        self.inner
            .stream(result, format, footer, out, &interrupted)
            .map_err(|e| stream_failure(&e))
    }

    /// Ask on the terminal before a statement that may write to a production connection;
    /// without a terminal there is nobody to ask, so it is refused.
    fn confirm(&mut self, sql: &str) -> Result<(), Exit> {
        use std::io::{BufRead, IsTerminal};
        let name = &self.connection.spec.name;
        if !io::stdin().is_terminal() {
            return Err(Exit::usage(format!(
                "`{name}` is tagged production and confirm_production_writes is on: run this \
                 statement from a terminal to confirm it, or `keeperdb prefs set \
                 confirm_production_writes false`"
            )));
        }
        let first_line = sql.trim().lines().next().unwrap_or("");
        eprint!("`{name}` is tagged production. Run `{first_line}`? [y/N] ");
        let _ = io::stderr().flush();
        let mut answer = String::new();
        io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Exit::usage(format!("cannot read the answer: {e}")))?;
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            self.inner.confirm_next();
            Ok(())
        } else {
            Err(Exit::new(exit::QUERY, "not run: not confirmed"))
        }
    }

    /// Ask the catalog, streaming the answer to `out`.
    pub fn catalog(
        &mut self,
        request: &CatalogRequest,
        format: OutputFormat,
        out: &mut dyn Write,
    ) -> Result<Outcome, Exit> {
        let _guard = CancelGuard::arm(self.inner.canceller());
        let result = self
            .inner
            .catalog(request)
            .map_err(|e| statement_failure(&e))?;
        self.inner
            .stream(result, format, false, out, &interrupted)
            .map_err(|e| stream_failure(&e))
    }

    /// The databases (or schemas) the connection can see.
    pub fn databases(&mut self) -> Result<Vec<keeperdb_core::catalog::Database>, Exit> {
        let _guard = CancelGuard::arm(self.inner.canceller());
        self.inner.databases().map_err(|e| stream_failure(&e))
    }

    /// The tables and views, of one schema or of all.
    pub fn tables(
        &mut self,
        schema: Option<&str>,
    ) -> Result<Vec<keeperdb_core::catalog::Table>, Exit> {
        let _guard = CancelGuard::arm(self.inner.canceller());
        self.inner.tables(schema).map_err(|e| stream_failure(&e))
    }

    /// The schemas (databases on MySQL and MariaDB).
    pub fn schemas(&mut self) -> Result<Vec<String>, Exit> {
        let _guard = CancelGuard::arm(self.inner.canceller());
        self.inner.schemas().map_err(|e| stream_failure(&e))
    }

    /// Columns, keys and indexes of one table or view.
    pub fn describe(
        &mut self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<keeperdb_core::catalog::Description, Exit> {
        let _guard = CancelGuard::arm(self.inner.canceller());
        self.inner
            .describe(schema, table)
            .map_err(|e| stream_failure(&e))
    }

    /// [`describe`](Self::describe) for a table the catalog listed already.
    pub fn describe_table(
        &mut self,
        table: keeperdb_core::catalog::Table,
    ) -> Result<keeperdb_core::catalog::Description, Exit> {
        let _guard = CancelGuard::arm(self.inner.canceller());
        self.inner
            .describe_table(table)
            .map_err(|e| stream_failure(&e))
    }
}

/// Resolving what the user named failed: say what CONN may be when nothing matched.
fn resolve_failure(e: keeperdb_core::Error) -> Exit {
    let code = exit::code_of(&e);
    match e {
        keeperdb_core::Error::Registry(RegistryError::NotFound(_)) => Exit::new(
            code,
            format!(
                "{e} (CONN is a saved connection's name or id, or a URL such as postgres://user@host/db)"
            ),
        ),
        keeperdb_core::Error::NoDatabaseFile { .. } => Exit::new(
            code,
            format!("{e}; pass --create to make a new database file there"),
        ),
        other => Exit::new(code, exit::render_core(&other)),
    }
}

fn stream_failure(e: &StreamError) -> Exit {
    match e {
        StreamError::Driver(d) => statement_failure(d),
        StreamError::Stopped => Exit::interrupted(),
        StreamError::Read(_) if interrupted() => Exit::interrupted(),
        StreamError::Read(_)
        | StreamError::Catalog(_)
        | StreamError::NoTable { .. }
        | StreamError::AmbiguousTable { .. } => Exit::new(
            exit::QUERY,
            crate::safe::text(&e.to_string(), crate::safe::MESSAGE),
        ),
        StreamError::Output(FormatError::Io(io)) if io.kind() == io::ErrorKind::BrokenPipe => {
            Exit::new(BROKEN_PIPE, String::new())
        }
        StreamError::Output(other) => Exit::new(exit::QUERY, other.to_string()),
    }
}

/// A closed pipe (`| head`) is a normal way for output to end.
pub const BROKEN_PIPE: u8 = 255;

// ---------------------------------------------------------------------------------------------
// Ctrl-C

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static RUNNING: Mutex<Option<Arc<dyn Canceller>>> = Mutex::new(None);
/// Bumped whenever an interrupt was dealt with, so a stale watchdog does not fire.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
/// A pager has the terminal: Ctrl-C is its own (less stops a search with it), not a reason to
/// exit.
static PAGING: AtomicBool = AtomicBool::new(false);

/// Say whether a pager has the terminal now.
pub fn set_paging(on: bool) {
    PAGING.store(on, Ordering::SeqCst);
}

/// Whether Ctrl-C arrived while a statement ran (cleared by [`take_interrupt`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Clear the interrupt flag (the interactive shell goes back to its prompt).
pub fn take_interrupt() -> bool {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    INTERRUPTED.swap(false, Ordering::SeqCst)
}

/// Install the process's Ctrl-C handler: with a statement running, cancel it on the server
/// (from the handler thread) and let the reading side stop; with none, or on a second
/// Ctrl-C, exit 130 at once.
pub fn install_interrupt_handler() -> Result<(), Exit> {
    let installed = INSTALLED.get_or_init(|| {
        ctrlc::set_handler(|| {
            let canceller = RUNNING.lock().ok().and_then(|g| g.clone());
            if canceller.is_none() && PAGING.load(Ordering::SeqCst) {
                return;
            }
            let already = INTERRUPTED.swap(true, Ordering::SeqCst);
            match canceller {
                Some(c) if !already => {
                    let _span = tracing::info_span!("cancel").entered();
                    if let Err(e) = c.cancel() {
                        eprintln!("error: could not cancel the query on the server: {e}");
                        std::process::exit(exit::INTERRUPTED.into());
                    }
                    // The driver should now fail the statement as cancelled; if it hangs
                    // instead, do not keep the user waiting.
                    let generation = GENERATION.load(Ordering::SeqCst);
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(10));
                        if GENERATION.load(Ordering::SeqCst) != generation {
                            return;
                        }
                        eprintln!("error: interrupted; the driver did not stop in time");
                        std::process::exit(exit::INTERRUPTED.into());
                    });
                }
                _ => {
                    let _ = io::stderr().write_all(b"\ninterrupted\n");
                    std::process::exit(exit::INTERRUPTED.into());
                }
            }
        })
        .map_err(|e| e.to_string())
    });
    installed
        .clone()
        .map_err(|e| Exit::usage(format!("cannot install the Ctrl-C handler: {e}")))
}

/// Makes the connection's canceller reachable from the Ctrl-C handler while a statement runs.
struct CancelGuard;

impl CancelGuard {
    fn arm(canceller: Arc<dyn Canceller>) -> Self {
        if let Ok(mut g) = RUNNING.lock() {
            *g = Some(canceller);
        }
        CancelGuard
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Ok(mut g) = RUNNING.lock() {
            *g = None;
        }
    }
}
