//! What `query`, `shell` and `schema` share: exit codes, opening a connection named on the
//! command line, Ctrl-C handling, and running one statement into a result writer.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keeperdb_core::driver::{
    Canceller, CatalogRequest, ConnectRequest, DriverConnection, DriverError, DriverErrorKind,
    StatementResult,
};
use keeperdb_core::format::{self, FormatError, FormatOptions, OutputFormat};
use keeperdb_core::{Connection, Engine};

use crate::app::App;
use crate::drivers;
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
            connection.name,
            connection.target(),
            with_code(e)
        ),
    )
}

/// Map a failure of a statement (or of reading its rows).
pub fn statement_failure(e: &DriverError) -> Exit {
    if interrupted() {
        return Exit::interrupted();
    }
    match e.kind {
        DriverErrorKind::Cancelled => Exit::interrupted(),
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

/// An open connection plus what the shells need to know about it.
pub struct Session {
    /// The connection as resolved from the command line.
    pub connection: Connection,
    /// The driver's connection.
    pub conn: Box<dyn DriverConnection>,
}

impl Session {
    /// Resolve `arg` (a registry name/id or a URL), find its driver, and connect.
    pub fn open(app: &App, arg: &str, connect_timeout: Duration) -> Result<Self, Exit> {
        let (connection, credentials) = drivers::resolve_connection(app, arg)?;
        let driver = drivers::driver_for(app, connection.engine)?;
        let _span = tracing::info_span!(
            "connect",
            connection = %connection.name,
            engine = %connection.engine,
            driver = %driver.id()
        )
        .entered();
        let request = ConnectRequest {
            connection: &connection,
            credentials: &credentials,
            connect_timeout,
        };
        let conn = driver
            .connect(&request)
            .map_err(|e| connect_failure(&connection, &e))?;
        drop(credentials);
        Ok(Self { connection, conn })
    }

    /// The engine of the connection.
    pub fn engine(&self) -> Engine {
        self.connection.engine
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
        let _span = tracing::info_span!("query", connection = %self.connection.name).entered();
        let _guard = CancelGuard::arm(self.conn.canceller());
        let result = self.conn.execute(sql).map_err(|e| statement_failure(&e))?;
        self.stream(result, format, footer, out)
    }

    /// Ask the catalog, streaming the answer to `out`.
    pub fn catalog(
        &mut self,
        request: &CatalogRequest,
        format: OutputFormat,
        out: &mut dyn Write,
    ) -> Result<Outcome, Exit> {
        let _guard = CancelGuard::arm(self.conn.canceller());
        let result = self
            .conn
            .catalog(request)
            .map_err(|e| statement_failure(&e))?;
        self.stream(result, format, false, out)
    }

    /// Ask the catalog and collect the (small) answer.
    pub fn catalog_batches(
        &mut self,
        request: &CatalogRequest,
    ) -> Result<Vec<arrow_array::RecordBatch>, Exit> {
        let _guard = CancelGuard::arm(self.conn.canceller());
        match self
            .conn
            .catalog(request)
            .map_err(|e| statement_failure(&e))?
        {
            StatementResult::Rows(reader) => {
                reader.map(|b| b.map_err(|e| source_failure(&e))).collect()
            }
            StatementResult::Done { .. } => Ok(Vec::new()),
        }
    }

    fn stream(
        &mut self,
        result: StatementResult,
        format: OutputFormat,
        footer: bool,
        out: &mut dyn Write,
    ) -> Result<Outcome, Exit> {
        match result {
            StatementResult::Done { rows_affected } => Ok(Outcome::Affected(rows_affected)),
            StatementResult::Rows(mut reader) => {
                let options = FormatOptions {
                    engine: Some(self.engine()),
                    footer,
                };
                let mut w = format::writer(format, reader.schema(), &options, Box::new(out));
                for batch in &mut reader {
                    if interrupted() {
                        return Err(Exit::interrupted());
                    }
                    let batch = batch.map_err(|e| source_failure(&e))?;
                    w.write_batch(&batch).map_err(|e| write_failure(&e))?;
                }
                if interrupted() {
                    return Err(Exit::interrupted());
                }
                w.finish().map_err(|e| write_failure(&e))?;
                Ok(Outcome::Rows(w.rows()))
            }
        }
    }
}

/// What a statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It returned rows.
    Rows(u64),
    /// It changed rows.
    Affected(u64),
}

fn source_failure(e: &arrow_schema::ArrowError) -> Exit {
    match keeperdb_core::driver_host::driver_error_of(e) {
        Some(d) => statement_failure(d),
        None if interrupted() => Exit::interrupted(),
        None => Exit::new(exit::QUERY, format!("reading rows failed: {e}")),
    }
}

/// A closed pipe (`| head`) is a normal way for output to end.
pub const BROKEN_PIPE: u8 = 255;

fn write_failure(e: &FormatError) -> Exit {
    match e {
        FormatError::Io(io) if io.kind() == io::ErrorKind::BrokenPipe => {
            Exit::new(BROKEN_PIPE, String::new())
        }
        FormatError::Source(a) => source_failure(a),
        other => Exit::new(exit::QUERY, other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static RUNNING: Mutex<Option<Arc<dyn Canceller>>> = Mutex::new(None);
/// Bumped whenever an interrupt was dealt with, so a stale watchdog does not fire.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

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
