//! Database access for AI agents, with the vault's safety: what a protocol shell (`keeperdb
//! mcp`) needs, so that a second one (an HTTP bridge, the desktop app) enforces the same rules.
//!
//! - **Exposure**: agents see only the connections the user listed (preference
//!   `mcp.connections`, or a list the shell was started with); none by default.
//! - **Read-only by construction**: reads run in a session opened with the connection's
//!   `read_only` forced on, which the driver enforces on the server; statements that would
//!   switch that off are refused here before they reach it ([`guard`]).
//! - **Writes**: only on connections in `mcp.allow_writes`, never on one tagged `production`,
//!   and each only once the shell has had the user confirm it.
//! - **Limits**: a row cap and a byte cap per call (the result says when it was cut), a
//!   statement timeout enforced by cancelling on the server, and a [`CancelHandle`] the shell
//!   fires when the client gives up.
//! - **Audit**: every statement asked for, run or refused, goes to the [`audit`] log.
//!
//! Credentials are fetched from their source at each connect, as everywhere else, and never
//! appear in a result, a log line or an error.

pub mod audit;
pub mod guard;
pub mod rows;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keeperdb_model::driver::{Canceller, DriverError, DriverErrorKind, StatementResult};
use keeperdb_model::{Connection, Engine, Preferences};
use serde::Serialize;

use crate::app::App;
use crate::registry::Registry;
use crate::session::{Session, StreamError};
use crate::sql::split_statements;
use crate::watchdog::Watchdog;

pub use audit::{AuditEntry, AuditError, AuditLog};
pub use guard::StatementClass;
pub use rows::{Cut, Rows};

/// The statement timeout for agents when the preference `query_timeout_secs` is 0 (none): an
/// agent's runaway query should not hold a server for ever.
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(30);

/// What kind of failure, for shells that map them to protocol errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentErrorKind {
    /// The policy refused it: not exposed, a write not allowed or not confirmed, a statement
    /// that would lift read-only.
    Refused,
    /// Bad input or configuration.
    Config,
    /// The database could not be reached or refused the login.
    Connection,
    /// The statement failed on the server.
    Query,
    /// The statement ran past the timeout and was cancelled on the server.
    Timeout,
    /// The client cancelled the call; the statement was cancelled on the server.
    Cancelled,
    /// A connection source (a vault) failed.
    Source,
}

/// Why an agent's request was refused or failed. Messages speak of keeperdb's concepts
/// (connections, preferences), never of a shell's flags.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The connection is not one the user exposed (or does not exist: agents are not told
    /// which).
    #[error(
        "`{0}` is not a connection exposed to agents; list the exposed ones, or ask the user to expose it (preference mcp.connections)"
    )]
    NotExposed(String),
    /// No statement in the text.
    #[error("no SQL statement given")]
    NoStatement,
    /// Explain takes one statement.
    #[error("explain takes exactly one statement, not {0}")]
    ExplainOne(usize),
    /// The statement would change the session's read-only state.
    #[error(
        "refused: statements that change the session's read-only state ({found}) are not allowed for agents; agent sessions stay read-only"
    )]
    ReadOnlySwitch {
        /// What gave it away.
        found: &'static str,
    },
    /// A write on a connection the user has not allowed writes on.
    #[error(
        "refused: `{0}` is read-only for agents; this statement may write, and the user has not allowed agent writes on it (preference mcp.allow_writes)"
    )]
    WritesNotAllowed(String),
    /// A write on a production connection.
    #[error("refused: `{0}` is tagged production; agents never write to production connections")]
    Production(String),
    /// A write on a connection that is itself read-only.
    #[error("refused: `{0}` is a read-only connection")]
    ConnectionReadOnly(String),
    /// A write the user did not confirm (declined, cancelled, or the client cannot ask).
    #[error("refused: the user did not confirm this write on `{name}` ({why})")]
    NotConfirmed {
        /// The connection.
        name: String,
        /// Why no confirmation came.
        why: String,
    },
    /// The source keeps no password and agents cannot be asked for one.
    #[error(
        "`{0}` keeps no stored password and an agent session cannot ask for one; save its password in the credential store"
    )]
    NeedsPassword(String),
    /// The statement ran past the timeout.
    #[error("the statement ran past the {} s timeout and was cancelled on the server", .0.as_secs())]
    Timeout(Duration),
    /// The client cancelled it.
    #[error("cancelled: the statement was cancelled on the server")]
    Cancelled,
    /// The statement failed on the server.
    #[error("{}", with_code(.0))]
    Driver(DriverError),
    /// Reading the rows failed.
    #[error(transparent)]
    Stream(StreamError),
    /// The application core.
    #[error(transparent)]
    Core(#[from] crate::Error),
    /// The audit log.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

fn with_code(e: &DriverError) -> String {
    match &e.code {
        Some(code) => format!("{} (code {code})", e.message),
        None => e.message.clone(),
    }
}

impl AgentError {
    /// What kind of failure this is.
    pub fn kind(&self) -> AgentErrorKind {
        use AgentErrorKind as K;
        match self {
            AgentError::NotExposed(_)
            | AgentError::ReadOnlySwitch { .. }
            | AgentError::WritesNotAllowed(_)
            | AgentError::Production(_)
            | AgentError::ConnectionReadOnly(_)
            | AgentError::NotConfirmed { .. } => K::Refused,
            AgentError::NoStatement
            | AgentError::ExplainOne(_)
            | AgentError::NeedsPassword(_)
            | AgentError::Audit(_) => K::Config,
            AgentError::Timeout(_) => K::Timeout,
            AgentError::Cancelled => K::Cancelled,
            AgentError::Driver(e) | AgentError::Stream(StreamError::Driver(e)) => {
                driver_kind(e.kind)
            }
            AgentError::Stream(_) => K::Query,
            AgentError::Core(e) => match e.kind() {
                crate::ErrorKind::Config => K::Config,
                crate::ErrorKind::Connection => K::Connection,
                crate::ErrorKind::Query => K::Query,
                crate::ErrorKind::Cancelled => K::Cancelled,
                crate::ErrorKind::Source => K::Source,
            },
        }
    }

    /// The outcome word the audit log records for it.
    fn outcome(&self) -> &'static str {
        match self.kind() {
            AgentErrorKind::Refused => "refused",
            AgentErrorKind::Timeout => "timeout",
            AgentErrorKind::Cancelled => "cancelled",
            _ => "error",
        }
    }
}

/// A failed page as the agent's error: the driver's own error when it is one.
fn stream_error(e: arrow_schema::ArrowError) -> AgentError {
    AgentError::Stream(match keeperdb_model::driver::driver_error_of(&e) {
        Some(d) => StreamError::Driver(d.clone()),
        None => StreamError::Read(e),
    })
}

fn driver_kind(kind: DriverErrorKind) -> AgentErrorKind {
    match kind {
        DriverErrorKind::Query | DriverErrorKind::Internal => AgentErrorKind::Query,
        DriverErrorKind::Connection | DriverErrorKind::Auth | DriverErrorKind::Timeout => {
            AgentErrorKind::Connection
        }
        DriverErrorKind::Cancelled => AgentErrorKind::Cancelled,
    }
}

/// Which connections agents may reach, and write on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Names, ids or `SOURCE/NAME`s of the exposed connections.
    pub exposed: Vec<String>,
    /// Those of them agents may write on (with the user's confirmation each time).
    pub allow_writes: Vec<String>,
}

impl Policy {
    /// The policy from the preferences; `only`, when the shell was given a list, replaces
    /// `mcp.connections`. Writes come from the preferences alone: an agent's client config,
    /// which starts the shell, cannot grant them.
    pub fn from_prefs(prefs: &Preferences, only: Option<Vec<String>>) -> Self {
        Self {
            exposed: only.unwrap_or_else(|| prefs.mcp.connections.clone()),
            allow_writes: prefs.mcp.allow_writes.clone(),
        }
    }
}

/// Per-call limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most rows one call returns.
    pub max_rows: usize,
    /// Most bytes of JSON rows one call returns.
    pub max_bytes: usize,
    /// Statement timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl Limits {
    /// The limits from the preferences.
    pub fn from_prefs(prefs: &Preferences) -> Self {
        Self {
            max_rows: prefs.mcp.max_rows as usize,
            max_bytes: prefs.mcp.max_bytes as usize,
            timeout: match prefs.query_timeout_secs {
                0 => DEFAULT_AGENT_TIMEOUT,
                secs => Duration::from_secs(secs.into()),
            },
            connect_timeout: Duration::from_secs(prefs.connect_timeout_secs.into()),
        }
    }
}

/// An exposed connection as an agent sees it: no host, no user, no password, nothing of a
/// vault record beyond its name and badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExposedConnection {
    /// Its name.
    pub name: String,
    /// Its id (stable across renames).
    pub id: String,
    /// Where it comes from: `Local`, `Vault`, `pgpass`, ...
    pub source: String,
    /// The engine id (`postgres`, `mariadb`, `sqlite`, ...).
    pub engine: String,
    /// Its environment tag, e.g. `production`.
    pub environment: Option<String>,
    /// Whether agents may write on it (each write still confirmed by the user).
    pub writes_allowed: bool,
}

/// The exposed connections, and the entries of the policy that match none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Exposure {
    /// The exposed connections.
    pub connections: Vec<ExposedConnection>,
    /// Policy entries that name no connection now (a removed or renamed one).
    pub unresolved: Vec<String>,
}

/// A table or view with its columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableInfo {
    /// Its schema, where the engine has schemas.
    pub schema: Option<String>,
    /// Its name.
    pub name: String,
    /// `BASE TABLE`, `VIEW`, ... as the engine says.
    pub kind: Option<String>,
    /// Its columns, when asked for one table.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnInfo>,
    /// Its primary, unique and foreign keys, when asked for one table (as its driver's
    /// catalog gives them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyInfo>,
}

/// A key of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The constraint's name.
    pub name: Option<String>,
    /// `PRIMARY KEY`, `UNIQUE` or `FOREIGN KEY`.
    pub kind: Option<String>,
    /// The key as SQL: `FOREIGN KEY (album_id) REFERENCES album(id)`.
    pub definition: Option<String>,
}

/// A column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// The engine's type name.
    pub type_name: Option<String>,
    /// Whether it accepts NULL.
    pub nullable: Option<bool>,
    /// Its default, as SQL.
    pub default: Option<String>,
}

/// What the catalog says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogInfo {
    /// The connection.
    pub connection: String,
    /// The databases or schemas it can see.
    pub schemas: Vec<String>,
    /// Tables and views (of one schema when asked), with columns when one table was asked.
    pub tables: Vec<TableInfo>,
    /// More tables exist than the row cap let through.
    pub truncated: bool,
}

/// Which tool asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Run statements.
    Query,
    /// Explain one statement.
    Explain,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Query => "query",
            Tool::Explain => "explain",
        }
    }
}

/// A request the policy let through, ready to run: for a write, once the user confirmed it.
#[derive(Debug, Clone)]
pub struct Plan {
    connection: Connection,
    text: String,
    statements: Vec<String>,
    class: StatementClass,
    tool: Tool,
}

impl Plan {
    /// Whether the user must confirm it before it runs (it may write).
    pub fn needs_confirmation(&self) -> bool {
        self.class == StatementClass::Write
    }

    /// The connection's name.
    pub fn connection_name(&self) -> &str {
        &self.connection.spec.name
    }

    /// What to show the user when asking.
    pub fn confirmation_prompt(&self) -> String {
        format!(
            "An AI agent wants to run a statement that may change data on `{}` ({}):\n\n{}\n\nAllow it to run once?",
            self.connection.spec.name, self.connection.origin.badge, self.text
        )
    }
}

/// Whether the user confirmed a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Not needed (a read) or not asked.
    NotAsked,
    /// The user said yes, just now, to this statement.
    Confirmed,
    /// No yes: declined, cancelled, or the client cannot ask; with why.
    Refused(String),
}

/// What a query call returns.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// The connection.
    pub connection: String,
    /// Column names of the last statement that returned rows.
    pub columns: Vec<String>,
    /// Its rows, each an array in column order.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// How many rows are in `rows`.
    pub row_count: usize,
    /// Whether more rows exist than were returned.
    pub truncated: bool,
    /// Why they were cut, and where.
    pub truncation: Option<String>,
    /// Rows changed, for a statement that changed rows.
    pub rows_affected: Option<u64>,
    /// Statements run.
    pub statements_run: usize,
    /// Wall time, in milliseconds.
    pub elapsed_ms: u64,
}

/// Cancels an agent's running call from another thread (the protocol's cancel notice): set
/// before the statement starts, it stops it from starting; set while it runs, it cancels it
/// on the server.
#[derive(Default)]
pub struct CancelHandle {
    cancelled: AtomicBool,
    running: Mutex<Option<Arc<dyn Canceller>>>,
}

impl CancelHandle {
    /// A fresh handle.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Cancel the call.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(c) = running
            && let Err(e) = c.cancel()
        {
            tracing::warn!("could not cancel the agent's statement on the server: {e}");
        }
    }

    /// Whether it was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Make `canceller` the one [`cancel`](Self::cancel) calls; a cancel that came first
    /// fires at once.
    fn arm(&self, canceller: Option<Arc<dyn Canceller>>) {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = canceller;
        if self.is_cancelled() {
            self.cancel();
        }
    }
}

/// The agent side of keeperdb over one [`App`].
pub struct Agent {
    app: Arc<App>,
    policy: Policy,
    limits: Limits,
    audit: AuditLog,
}

impl Agent {
    /// The agent over `app`, with the policy and limits of its preferences (`only` replacing
    /// the exposed list), and the audit log open.
    pub fn open(app: Arc<App>, only: Option<Vec<String>>) -> Result<Self, AgentError> {
        let prefs = app.store().preferences().map_err(crate::Error::from)?;
        let audit = AuditLog::open(app.store().dir().data_path())?;
        Ok(Self {
            policy: Policy::from_prefs(&prefs, only),
            limits: Limits::from_prefs(&prefs),
            app,
            audit,
        })
    }

    /// Its policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The audit log.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// The exposed connections, resolved in one listing.
    fn exposed(
        &self,
        registry: &Registry,
        listing: &[Connection],
    ) -> (Vec<Connection>, Vec<String>) {
        let mut seen = BTreeSet::new();
        let mut found = Vec::new();
        let mut unresolved = Vec::new();
        for entry in &self.policy.exposed {
            match registry.find_in(listing, entry) {
                Ok(c) => {
                    if seen.insert(c.id.as_str().to_string()) {
                        found.push(c);
                    }
                }
                Err(_) => unresolved.push(entry.clone()),
            }
        }
        (found, unresolved)
    }

    fn writes_allowed(
        &self,
        registry: &Registry,
        listing: &[Connection],
        connection: &Connection,
    ) -> bool {
        self.policy.allow_writes.iter().any(|entry| {
            registry
                .find_in(listing, entry)
                .is_ok_and(|c| c.id == connection.id)
        })
    }

    /// The connections agents may see.
    pub fn connections(&self) -> Exposure {
        let registry = self.app.registry();
        let listing = registry.list().connections;
        let (found, unresolved) = self.exposed(&registry, &listing);
        Exposure {
            connections: found
                .iter()
                .map(|c| ExposedConnection {
                    name: c.spec.name.clone(),
                    id: c.id.as_str().to_string(),
                    source: c.origin.badge.clone(),
                    engine: c.spec.engine.as_str().to_string(),
                    environment: c.spec.environment.clone(),
                    writes_allowed: self.writes_allowed(&registry, &listing, c)
                        && !is_production(c),
                })
                .collect(),
            unresolved,
        }
    }

    /// The exposed connection the agent named, or [`AgentError::NotExposed`] (also for one
    /// that does not exist, so agents learn nothing of the rest).
    fn find(&self, name: &str) -> Result<(Connection, bool), AgentError> {
        let registry = self.app.registry();
        let listing = registry.list().connections;
        let (exposed, _) = self.exposed(&registry, &listing);
        let wanted = registry
            .find_in(&exposed, name)
            .map_err(|_| AgentError::NotExposed(name.to_string()))?;
        let writes = self.writes_allowed(&registry, &listing, &wanted);
        Ok((wanted, writes))
    }

    /// Connect to `connection`, read-only unless `writable`, with credentials fetched now.
    fn connect(&self, mut connection: Connection, writable: bool) -> Result<Session, AgentError> {
        if !writable {
            connection.spec.read_only = true;
        }
        let credentials = self
            .app
            .registry()
            .credentials(&connection)
            .map_err(|error| crate::Error::Credentials {
                name: connection.spec.name.clone(),
                local: connection.origin.source == keeperdb_model::LOCAL_SOURCE_ID,
                error,
            })?;
        if credentials.needs_prompt {
            return Err(AgentError::NeedsPassword(connection.spec.name.clone()));
        }
        Ok(self
            .app
            .connect(connection, credentials, self.limits.connect_timeout)?)
    }

    /// Run `work` on a fresh session under the timeout and `cancel`, turning a cancel into
    /// [`AgentError::Timeout`] or [`AgentError::Cancelled`].
    fn with_session<T>(
        &self,
        connection: Connection,
        writable: bool,
        cancel: &Arc<CancelHandle>,
        work: impl FnOnce(&mut Session) -> Result<T, AgentError>,
    ) -> Result<T, AgentError> {
        if cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        let sqlite = connection.spec.engine == Engine::SQLITE;
        let mut session = self.connect(connection, writable)?;
        if sqlite && !writable {
            // Belt and braces under the driver's read-only open: SQLite's own switch, which
            // the guard never lets an agent turn off again.
            session
                .execute("PRAGMA query_only = ON")
                .map_err(AgentError::Driver)?;
        }
        cancel.arm(Some(session.canceller()));
        // Cancels on the server once the timeout passes, unless dropped first.
        let on_timeout = cancel.clone();
        let watchdog = Watchdog::arm(self.limits.timeout, move || on_timeout.cancel());
        let result = work(&mut session);
        let fired = watchdog.fired();
        drop(watchdog);
        cancel.arm(None);
        match result {
            Err(_) if fired => Err(AgentError::Timeout(self.limits.timeout)),
            Err(_) if cancel.is_cancelled() => Err(AgentError::Cancelled),
            other => other,
        }
    }

    /// The catalog of an exposed connection: schemas and tables (of `schema`, when given), and
    /// with `table` that table's columns.
    pub fn describe(
        &self,
        name: &str,
        schema: Option<&str>,
        table: Option<&str>,
        cancel: &Arc<CancelHandle>,
    ) -> Result<CatalogInfo, AgentError> {
        let (connection, _) = self.find(name)?;
        let max = self.limits.max_rows;
        let connection_name = connection.spec.name.clone();
        self.with_session(connection, false, cancel, |s| {
            let schemas = s
                .databases()
                .map_err(AgentError::Stream)?
                .into_iter()
                .map(|d| d.name)
                .collect();
            let mut tables: Vec<TableInfo> = s
                .tables(schema)
                .map_err(AgentError::Stream)?
                .into_iter()
                .filter(|t| table.is_none_or(|want| t.name == want))
                .map(|t| TableInfo {
                    schema: t.schema,
                    name: t.name,
                    kind: t.kind,
                    columns: Vec::new(),
                    keys: Vec::new(),
                })
                .collect();
            let truncated = tables.len() > max;
            tables.truncate(max);
            // With `table`, the one table left: its columns and keys from the driver's
            // catalog, as every shell reads them.
            if table.is_some()
                && let Some(t) = tables.first_mut()
            {
                let described = s
                    .describe_table(crate::catalog::Table {
                        schema: t.schema.clone(),
                        name: t.name.clone(),
                        kind: t.kind.clone(),
                    })
                    .map_err(AgentError::Stream)?;
                t.keys = described
                    .keys
                    .iter()
                    .map(|k| KeyInfo {
                        name: k.name.clone(),
                        kind: Some(k.kind.as_sql().to_string()),
                        definition: Some(k.definition(described.schema.as_deref())),
                    })
                    .collect();
                t.columns = described
                    .columns
                    .into_iter()
                    .map(|c| ColumnInfo {
                        name: c.name,
                        type_name: c.type_name,
                        nullable: c.nullable,
                        default: c.default,
                    })
                    .collect();
            }
            Ok(CatalogInfo {
                connection: connection_name,
                schemas,
                tables,
                truncated,
            })
        })
    }

    /// Check a request against the policy, before anything runs. A refusal is recorded in
    /// the audit log.
    pub fn check(&self, name: &str, sql: &str, tool: Tool) -> Result<Plan, AgentError> {
        let checked = self.check_unaudited(name, sql, tool);
        if let Err(e) = &checked {
            self.record(name, tool, sql, None, e.outcome(), Some(e.to_string()))?;
        }
        checked
    }

    fn check_unaudited(&self, name: &str, sql: &str, tool: Tool) -> Result<Plan, AgentError> {
        let (connection, writes_allowed) = self.find(name)?;
        let engine = connection.spec.engine.clone();
        let (mut statements, rest) = split_statements(sql, &engine);
        if !rest.trim().is_empty() {
            statements.push(rest.trim().to_string());
        }
        statements.retain(|s| !guard::normalize(s).is_empty());
        if statements.is_empty() {
            return Err(AgentError::NoStatement);
        }
        for statement in &statements {
            guard::check_read_only_switch(statement)
                .map_err(|e| AgentError::ReadOnlySwitch { found: e.found })?;
        }
        let class = match tool {
            Tool::Explain => {
                if statements.len() != 1 {
                    return Err(AgentError::ExplainOne(statements.len()));
                }
                statements = vec![explain_sql(&engine, &statements[0])];
                // Plain EXPLAIN plans without running; it runs read-only all the same.
                StatementClass::Read
            }
            Tool::Query => {
                if statements
                    .iter()
                    .any(|s| guard::classify(s) == StatementClass::Write)
                {
                    StatementClass::Write
                } else {
                    StatementClass::Read
                }
            }
        };
        if class == StatementClass::Write {
            if is_production(&connection) {
                return Err(AgentError::Production(connection.spec.name));
            }
            if !writes_allowed {
                return Err(AgentError::WritesNotAllowed(connection.spec.name));
            }
            if connection.spec.read_only {
                return Err(AgentError::ConnectionReadOnly(connection.spec.name));
            }
        }
        Ok(Plan {
            connection,
            text: sql.to_string(),
            statements,
            class,
            tool,
        })
    }

    /// Run a plan the policy let through. A write runs only with `Confirmation::Confirmed`;
    /// everything else runs in a read-only session. The outcome is recorded in the audit log.
    pub fn run(
        &self,
        plan: Plan,
        confirmation: Confirmation,
        cancel: &Arc<CancelHandle>,
    ) -> Result<QueryResult, AgentError> {
        let name = plan.connection.spec.name.clone();
        let result = match (&confirmation, plan.needs_confirmation()) {
            (Confirmation::Confirmed, _) | (_, false) => self.run_unaudited(&plan, cancel),
            (Confirmation::NotAsked, true) => Err(AgentError::NotConfirmed {
                name: name.clone(),
                why: "nobody was asked".into(),
            }),
            (Confirmation::Refused(why), true) => Err(AgentError::NotConfirmed {
                name: name.clone(),
                why: why.clone(),
            }),
        };
        match &result {
            Ok(r) => {
                let rows = r.rows_affected.unwrap_or(r.row_count as u64);
                let outcome = if r.truncated { "truncated" } else { "ok" };
                self.record(&name, plan.tool, &plan.text, Some(rows), outcome, None)?;
            }
            Err(e) => {
                self.record(
                    &name,
                    plan.tool,
                    &plan.text,
                    None,
                    e.outcome(),
                    Some(e.to_string()),
                )?;
            }
        }
        result
    }

    fn run_unaudited(
        &self,
        plan: &Plan,
        cancel: &Arc<CancelHandle>,
    ) -> Result<QueryResult, AgentError> {
        let started = Instant::now();
        let writable = plan.class == StatementClass::Write;
        let limits = self.limits;
        let name = plan.connection.spec.name.clone();
        let engine = plan.connection.spec.engine.clone();
        self.with_session(plan.connection.clone(), writable, cancel, |s| {
            let mut last: Option<Rows> = None;
            let mut affected = None;
            let mut run = 0;
            let mut cut_at = None;
            for (i, sql) in plan.statements.iter().enumerate() {
                run += 1;
                match s.execute(sql).map_err(AgentError::Driver)? {
                    StatementResult::Done { rows_affected } => {
                        affected = Some(rows_affected);
                    }
                    StatementResult::Rows(reader) => {
                        let mut collector =
                            rows::Collector::new(engine.clone(), limits.max_rows, limits.max_bytes);
                        let mut complete = true;
                        for batch in reader {
                            let batch = batch.map_err(stream_error)?;
                            if !collector.push(&batch).map_err(AgentError::Stream)? {
                                complete = false;
                                break;
                            }
                        }
                        last = Some(collector.out);
                        if !complete {
                            // The rest of the rows are not wanted: stop the server producing
                            // them, and run nothing after a cut result.
                            if let Err(e) = s.canceller().cancel() {
                                tracing::debug!("cancelling the rest of a cut result: {e}");
                            }
                            cut_at = Some(i);
                            break;
                        }
                    }
                }
            }
            let rows = last.unwrap_or_default();
            let truncation = rows.truncated.map(|cut| {
                let what = match cut {
                    Cut::RowLimit => format!("the row limit of {} rows", limits.max_rows),
                    Cut::ByteLimit => format!("the size limit of {} bytes", limits.max_bytes),
                };
                let mut text = format!("cut at {what}; more rows exist");
                if let Some(i) = cut_at
                    && i + 1 < plan.statements.len()
                {
                    text.push_str(&format!(
                        "; statement {} of {} was cut, so the statements after it did not run",
                        i + 1,
                        plan.statements.len()
                    ));
                }
                text
            });
            Ok(QueryResult {
                connection: name,
                row_count: rows.rows.len(),
                truncated: rows.truncated.is_some(),
                truncation,
                columns: rows.columns,
                rows: rows.rows,
                rows_affected: affected,
                statements_run: run,
                elapsed_ms: started.elapsed().as_millis() as u64,
            })
        })
    }

    fn record(
        &self,
        connection: &str,
        tool: Tool,
        statement: &str,
        rows: Option<u64>,
        outcome: &str,
        detail: Option<String>,
    ) -> Result<(), AuditError> {
        self.audit.append(&AuditEntry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            connection: connection.to_string(),
            tool: tool.name().to_string(),
            statement: statement.to_string(),
            rows,
            outcome: outcome.to_string(),
            detail,
        })
    }
}

/// Whether a connection is tagged production (`production` or `prod`, any case).
pub fn is_production(connection: &Connection) -> bool {
    connection
        .spec
        .environment
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("production") || e.eq_ignore_ascii_case("prod"))
}

/// The engine's way to show a plan without running the statement.
pub fn explain_sql(engine: &Engine, statement: &str) -> String {
    if *engine == Engine::SQLITE {
        format!("EXPLAIN QUERY PLAN {statement}")
    } else {
        // PostgreSQL and the MySQL family: plain EXPLAIN plans, it does not execute.
        format!("EXPLAIN {statement}")
    }
}
