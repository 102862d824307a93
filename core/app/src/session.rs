//! A query session: one open driver connection, statements run on it, their rows streamed
//! page by page into a result writer, and a canceller another thread can use (Ctrl-C in a
//! terminal, a Stop button in a GUI).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use keeperdb_format::{FormatError, FormatOptions, OutputFormat};
use keeperdb_model::driver::{
    Canceller, CatalogRequest, DriverConnection, DriverError, DriverErrorKind, StatementResult,
};
use keeperdb_model::{Connection, Engine};

use crate::watchdog::Watchdog;

/// Why streaming a result stopped early.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The driver failed while producing rows (the server's error, or a cancel).
    #[error(transparent)]
    Driver(DriverError),
    /// Reading a page failed for another reason.
    #[error("reading rows failed: {0}")]
    Read(ArrowError),
    /// Writing the output failed (a closed pipe, a full disk).
    #[error(transparent)]
    Output(FormatError),
    /// The driver answered a catalog request in another shape than the contract's.
    #[error(transparent)]
    Catalog(crate::catalog::CatalogShapeError),
    /// The caller asked to stop between pages.
    #[error("stopped")]
    Stopped,
    /// The table asked for is not in the catalog.
    #[error("no table or view `{}` in the catalog", qualified(.schema, .table))]
    NoTable {
        /// The schema named, if one was.
        schema: Option<String>,
        /// The table named.
        table: String,
    },
    /// Tables of that name are in several schemas.
    #[error("`{table}` is a table in several schemas ({}): name it SCHEMA.TABLE", .schemas.join(", "))]
    AmbiguousTable {
        /// The table named.
        table: String,
        /// The schemas that have one.
        schemas: Vec<String>,
    },
}

fn qualified(schema: &Option<String>, table: &str) -> String {
    match schema {
        Some(s) => format!("{s}.{table}"),
        None => table.to_string(),
    }
}

impl StreamError {
    fn of_arrow(e: ArrowError) -> Self {
        match keeperdb_model::driver::driver_error_of(&e) {
            Some(d) => StreamError::Driver(d.clone()),
            None => StreamError::Read(e),
        }
    }

    fn of_format(e: FormatError) -> Self {
        match e {
            FormatError::Source(a) => Self::of_arrow(a),
            other => StreamError::Output(other),
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

/// An open connection and what it was opened for.
pub struct Session {
    connection: Connection,
    conn: Box<dyn DriverConnection>,
    /// `query_timeout_secs`: a statement still running (or streaming) after this long is
    /// cancelled on the server and reported as a timeout.
    query_timeout: Option<Duration>,
    /// The watchdog of the statement running now.
    watch: Option<Watchdog>,
    /// `confirm_production_writes` on a connection tagged `production`: a statement that
    /// may write runs only once [confirmed](Self::confirm_next).
    confirm_writes: bool,
    /// The next statement was confirmed.
    confirmed: bool,
    /// How results are shown to people (NULL text, cell width limit).
    display: Display,
}

/// How the formats for people (table, expanded) show a result; scripts' formats ignore it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Display {
    /// What NULL shows as (`NULL` when unset), psql's `\pset null`.
    pub null: Option<String>,
    /// Cut table cells wider than this many columns (expanded display shows them whole).
    pub max_width: Option<usize>,
}

/// Cancels a statement that outlives the query timeout; disarmed when dropped.
fn query_watchdog(canceller: Arc<dyn Canceller>, limit: Duration) -> Watchdog {
    Watchdog::arm(limit, move || {
        tracing::info!(?limit, "query timeout reached; cancelling the statement");
        if let Err(e) = canceller.cancel() {
            tracing::warn!("cannot cancel the statement after its timeout: {e}");
        }
    })
}

/// The error to report for a statement the watchdog cancelled.
fn timeout_error(watch: &Watchdog, cause: &DriverError) -> DriverError {
    let mut e = DriverError::new(
        DriverErrorKind::Timeout,
        format!(
            "the statement ran longer than query_timeout_secs ({} s) and was cancelled",
            watch.limit().as_secs()
        ),
    );
    e.code = cause.code.clone();
    e
}

impl Session {
    pub(crate) fn new(connection: Connection, conn: Box<dyn DriverConnection>) -> Self {
        Self {
            connection,
            conn,
            query_timeout: None,
            watch: None,
            confirm_writes: false,
            confirmed: false,
            display: Display::default(),
        }
    }

    /// How results are shown from now on.
    pub fn set_display(&mut self, display: Display) {
        self.display = display;
    }

    /// How results are shown.
    pub fn display(&self) -> &Display {
        &self.display
    }

    /// Ask for confirmation (see [`needs_confirmation`](Self::needs_confirmation)) before
    /// statements that may write, when `on`.
    pub fn set_confirm_writes(&mut self, on: bool) {
        self.confirm_writes = on;
    }

    /// Whether `sql` may only run once the user confirmed it: the connection is tagged
    /// `production`, `confirm_production_writes` is on, and the statement may write.
    pub fn needs_confirmation(&self, sql: &str) -> bool {
        self.confirm_writes && !crate::sql::is_read_only_statement(sql)
    }

    /// The user confirmed the next statement.
    pub fn confirm_next(&mut self) {
        self.confirmed = true;
    }

    /// Cancel statements that run longer than `limit` (none: no limit), and report them as
    /// timeouts; the time counts until the last row is streamed.
    pub fn set_query_timeout(&mut self, limit: Option<Duration>) {
        self.query_timeout = limit.filter(|d| !d.is_zero());
    }

    /// A driver error as the caller sees it: a cancel that the query timeout caused is a
    /// timeout.
    fn judged(&self, e: DriverError) -> DriverError {
        match &self.watch {
            Some(w) if w.fired() && e.kind == DriverErrorKind::Cancelled => timeout_error(w, &e),
            _ => e,
        }
    }

    /// The connection it was opened for.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Its engine.
    pub fn engine(&self) -> &Engine {
        &self.connection.spec.engine
    }

    /// Cancels the running statement on the server, from any thread.
    pub fn canceller(&self) -> Arc<dyn Canceller> {
        self.conn.canceller()
    }

    /// Run one statement; rows (if any) are pulled page by page from the answer. With a query
    /// timeout, its clock runs until [`stream`](Self::stream) has written the last row (or
    /// until the next statement, for a caller that reads the rows itself).
    pub fn execute(&mut self, sql: &str) -> Result<StatementResult, DriverError> {
        let _span = tracing::info_span!("query", connection = %self.connection.spec.name).entered();
        let confirmed = std::mem::take(&mut self.confirmed);
        if self.needs_confirmation(sql) && !confirmed {
            // The guard is here, not in a shell, so no shell can forget it.
            return Err(DriverError::new(
                DriverErrorKind::Query,
                format!(
                    "`{}` is tagged production and confirm_production_writes is on: \
                     this statement may write and was not confirmed",
                    self.connection.spec.name
                ),
            ));
        }
        self.watch = None;
        if let Some(limit) = self.query_timeout {
            self.watch = Some(query_watchdog(self.conn.canceller(), limit));
        }
        let result = self.conn.execute(sql);
        match result {
            Ok(StatementResult::Done { rows_affected }) => {
                self.watch = None;
                Ok(StatementResult::Done { rows_affected })
            }
            Ok(rows) => Ok(rows),
            Err(e) => {
                let e = self.judged(e);
                self.watch = None;
                Err(e)
            }
        }
    }

    /// Ask the catalog.
    pub fn catalog(&mut self, request: &CatalogRequest) -> Result<StatementResult, DriverError> {
        let _span =
            tracing::info_span!("catalog", connection = %self.connection.spec.name).entered();
        self.conn.catalog(request)
    }

    /// Ask the catalog and collect the (small) answer.
    pub fn catalog_batches(
        &mut self,
        request: &CatalogRequest,
    ) -> Result<Vec<RecordBatch>, StreamError> {
        match self.catalog(request).map_err(StreamError::Driver)? {
            StatementResult::Rows(reader) => {
                reader.map(|b| b.map_err(StreamError::of_arrow)).collect()
            }
            StatementResult::Done { .. } => Ok(Vec::new()),
        }
    }

    /// The databases (or schemas) the connection can see.
    pub fn databases(&mut self) -> Result<Vec<crate::catalog::Database>, StreamError> {
        let batches = self.catalog_batches(&CatalogRequest::Databases)?;
        crate::catalog::databases(&batches).map_err(StreamError::Catalog)
    }

    /// The tables and views, of one schema or of all.
    pub fn tables(
        &mut self,
        schema: Option<&str>,
    ) -> Result<Vec<crate::catalog::Table>, StreamError> {
        let batches = self.catalog_batches(&CatalogRequest::Tables {
            schema: schema.map(str::to_string),
        })?;
        crate::catalog::tables(&batches).map_err(StreamError::Catalog)
    }

    /// The schemas (on MySQL and MariaDB, the databases). A driver that predates the request
    /// gets the schemas its tables are in.
    pub fn schemas(&mut self) -> Result<Vec<String>, StreamError> {
        match self.catalog_batches(&CatalogRequest::Schemas) {
            Ok(batches) => crate::catalog::schemas(&batches).map_err(StreamError::Catalog),
            Err(StreamError::Driver(_)) => {
                let mut names: Vec<String> = self
                    .tables(None)?
                    .into_iter()
                    .filter_map(|t| t.schema)
                    .collect();
                names.sort();
                names.dedup();
                Ok(names)
            }
            Err(e) => Err(e),
        }
    }

    /// Everything the catalog says about one table or view: its columns, keys and indexes.
    /// The same clear error on every engine when there is no such table.
    pub fn describe(
        &mut self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<crate::catalog::Description, StreamError> {
        let tables = self.tables(schema)?;
        let exact: Vec<_> = tables.iter().filter(|t| t.name == table).collect();
        let matching = if exact.is_empty() {
            // As the engine would read an unquoted name.
            tables
                .iter()
                .filter(|t| t.name.eq_ignore_ascii_case(table))
                .collect()
        } else {
            exact
        };
        let found = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(StreamError::NoTable {
                    schema: schema.map(str::to_string),
                    table: table.to_string(),
                });
            }
            several => {
                return Err(StreamError::AmbiguousTable {
                    table: table.to_string(),
                    schemas: several.iter().filter_map(|t| t.schema.clone()).collect(),
                });
            }
        };
        self.describe_table(found)
    }

    /// [`describe`](Self::describe) for a table the catalog listed already (no lookup).
    pub fn describe_table(
        &mut self,
        found: crate::catalog::Table,
    ) -> Result<crate::catalog::Description, StreamError> {
        let (s, t) = (found.schema.clone(), found.name.clone());
        let columns = self.columns(s.as_deref(), &t)?;
        let mut not_described = Vec::new();
        let keys = self.described(
            &CatalogRequest::Keys {
                schema: s.clone(),
                table: t.clone(),
            },
            "keys",
            crate::catalog::keys,
            &mut not_described,
        )?;
        let indexes = self.described(
            &CatalogRequest::Indexes {
                schema: s.clone(),
                table: t.clone(),
            },
            "indexes",
            crate::catalog::indexes,
            &mut not_described,
        )?;
        Ok(crate::catalog::Description {
            schema: s,
            name: t,
            kind: found.kind,
            columns,
            keys,
            indexes,
            not_described,
        })
    }

    /// A catalog request a driver built before it answers with an error: nothing then, and
    /// `what` in `not_described`.
    fn described<T>(
        &mut self,
        request: &CatalogRequest,
        what: &str,
        read: fn(&[RecordBatch]) -> Result<Vec<T>, crate::catalog::CatalogShapeError>,
        not_described: &mut Vec<String>,
    ) -> Result<Vec<T>, StreamError> {
        match self.catalog_batches(request) {
            Ok(batches) => read(&batches).map_err(StreamError::Catalog),
            Err(StreamError::Driver(_)) => {
                not_described.push(what.to_string());
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// The columns of one table.
    pub fn columns(
        &mut self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<Vec<crate::catalog::Column>, StreamError> {
        let batches = self.catalog_batches(&CatalogRequest::Columns {
            schema: schema.map(str::to_string),
            table: table.to_string(),
        })?;
        crate::catalog::columns(&batches).map_err(StreamError::Catalog)
    }

    /// Stream a statement's answer into `out` as `format`, one page at a time (constant
    /// memory), asking `stop` between pages whether to give up.
    ///
    /// `stop` is meant to be raised together with the [canceller](Self::canceller): once it
    /// is, nothing more is written, but the rows are read on (and dropped) until the driver
    /// ends the result, so that a cancel the server acted on comes back as the engine's error
    /// ([`StreamError::Driver`], kind `Cancelled`, with its code) rather than as a plain
    /// [`StreamError::Stopped`], which then means the result ended without the server
    /// saying it stopped it.
    pub fn stream(
        &mut self,
        result: StatementResult,
        format: OutputFormat,
        footer: bool,
        out: &mut dyn Write,
        stop: &dyn Fn() -> bool,
    ) -> Result<Outcome, StreamError> {
        let streamed = self.stream_rows(result, format, footer, out, stop);
        let streamed = match streamed {
            Err(StreamError::Driver(e)) => Err(StreamError::Driver(self.judged(e))),
            other => other,
        };
        self.watch = None;
        streamed
    }

    fn stream_rows(
        &self,
        result: StatementResult,
        format: OutputFormat,
        footer: bool,
        out: &mut dyn Write,
        stop: &dyn Fn() -> bool,
    ) -> Result<Outcome, StreamError> {
        match result {
            StatementResult::Done { rows_affected } => Ok(Outcome::Affected(rows_affected)),
            StatementResult::Rows(mut reader) => {
                let options = FormatOptions {
                    engine: Some(self.engine().clone()),
                    footer,
                    null: self.display.null.clone(),
                    max_width: self.display.max_width,
                };
                let mut w =
                    keeperdb_format::writer(format, reader.schema(), &options, Box::new(out));
                while let Some(batch) = reader.next() {
                    if stop() {
                        return Err(drain(reader.by_ref()));
                    }
                    let batch = batch.map_err(StreamError::of_arrow)?;
                    w.write_batch(&batch).map_err(StreamError::of_format)?;
                }
                if stop() {
                    return Err(StreamError::Stopped);
                }
                w.finish().map_err(StreamError::of_format)?;
                Ok(Outcome::Rows(w.rows()))
            }
        }
    }
}

/// Several statements' results written to one stream so that it stays one document in
/// formats that have a document structure: for JSON, more than one statement gives a JSON
/// array with one element per statement (its rows as the usual array of objects, or
/// `{"rows_affected": N}` for a statement without rows); a single statement gives its rows
/// alone, as before. Every other format is the results one after the other.
#[derive(Debug)]
pub struct ScriptOutput {
    wrap: bool,
    written: usize,
}

impl ScriptOutput {
    /// Output for `statements` statements in `format`.
    pub fn new(format: OutputFormat, statements: usize) -> Self {
        Self {
            wrap: format == OutputFormat::Json && statements > 1,
            written: 0,
        }
    }

    /// Call before each statement's result is streamed.
    pub fn before_result(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.wrap {
            out.write_all(if self.written == 0 { b"[\n" } else { b",\n" })?;
        }
        self.written += 1;
        Ok(())
    }

    /// Call after a statement that returned no rows.
    pub fn affected(&mut self, rows: u64, out: &mut dyn Write) -> std::io::Result<()> {
        if self.wrap {
            writeln!(out, "{{\"rows_affected\":{rows}}}")?;
        }
        Ok(())
    }

    /// Call once every statement ran.
    pub fn finish(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.wrap && self.written > 0 {
            out.write_all(b"]\n")?;
        }
        Ok(())
    }
}

/// Read a stopped result on to its end without writing it: the driver's error if it ends with
/// one (a server-side cancel does), else [`StreamError::Stopped`].
fn drain(reader: &mut dyn Iterator<Item = Result<RecordBatch, ArrowError>>) -> StreamError {
    for batch in reader {
        if let Err(e) = batch {
            return StreamError::of_arrow(e);
        }
    }
    StreamError::Stopped
}
