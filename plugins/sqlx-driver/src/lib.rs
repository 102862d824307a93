//! keeperdb's first-party driver plugin: PostgreSQL, MySQL/MariaDB and SQLite through sqlx,
//! shipped as a shared library exactly like a third-party driver (see keeperdb-driver-sdk).
//!
//! The library owns a small tokio runtime. Each statement runs in a task that holds the
//! connection and streams rows into Arrow builders a page at a time through a bounded channel.
//! Types keep fidelity: exact decimals travel as text, timestamps as microseconds (with `UTC`
//! for instants), intervals as `Interval(MonthDayNano)`, PostgreSQL arrays as lists, and every
//! field carries the engine's type name under `keeperdb.type`.

mod columns;
mod errors;
mod mysql;
mod pg;
mod read_only;
mod session;
mod sqlite;
mod stream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keeperdb_driver_sdk::{
    Canceller, CatalogRequest, ConnectParams, Connection, Driver, DriverError, DriverInfo,
    ErrorKind, Password, QueryResult,
};
use tokio::runtime::{Handle, Runtime};

use crate::errors::internal;

/// Used when the host gives no connect timeout.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a cancel request may take before we give up on it.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// The driver: one runtime shared by every connection.
#[derive(Default)]
pub struct SqlxDriver {
    runtime: OnceLock<Result<Runtime, String>>,
}

impl SqlxDriver {
    fn handle(&self) -> Result<Handle, DriverError> {
        let rt = self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("keeperdb-sqlx")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        });
        match rt {
            Ok(rt) => Ok(rt.handle().clone()),
            Err(e) => Err(internal(format!("cannot start the driver's runtime: {e}"))),
        }
    }
}

impl Driver for SqlxDriver {
    type Connection = SqlxConnection;

    fn info(&self) -> DriverInfo {
        DriverInfo {
            name: "sqlx".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            engines: vec![
                "postgres".into(),
                "mysql".into(),
                "mariadb".into(),
                "sqlite".into(),
            ],
        }
    }

    fn connect(
        &self,
        params: ConnectParams,
        password: Option<Password>,
    ) -> Result<SqlxConnection, DriverError> {
        let rt = self.handle()?;
        let timeout = match params.connect_timeout_ms {
            0 => DEFAULT_CONNECT_TIMEOUT,
            ms => Duration::from_millis(ms),
        };
        let setup = Setup {
            params,
            password,
            timeout,
        };
        // SQLite opens the file read-only; server sessions need guarding (see read_only.rs).
        let read_only_server =
            setup.params.read_only && read_only::restore_sql(&setup.params.engine).is_some();
        let (conn, target) = match setup.params.engine.as_str() {
            "postgres" | "postgresql" => rt.block_on(pg::connect(&setup))?,
            "mysql" | "mariadb" => rt.block_on(mysql::connect(&setup))?,
            "sqlite" => rt.block_on(sqlite::connect(&setup))?,
            other => {
                return Err(DriverError::new(
                    ErrorKind::Connection,
                    format!("the sqlx driver does not serve engine `{other}`"),
                ));
            }
        };
        let cancel = Arc::new(CancelState {
            requested: AtomicBool::new(false),
            target,
            rt: rt.clone(),
        });
        Ok(SqlxConnection {
            rt,
            conn,
            cancel,
            current: None,
            read_only: read_only_server,
        })
    }
}

/// What `connect` needs, for each engine module.
pub(crate) struct Setup {
    pub params: ConnectParams,
    pub password: Option<Password>,
    pub timeout: Duration,
}

impl Setup {
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(Password::expose)
    }

    pub fn host(&self) -> &str {
        self.params.host.as_deref().unwrap_or("localhost")
    }

    pub fn port(&self, default_port: u16) -> u16 {
        self.params.port.unwrap_or(default_port)
    }

    /// `host:port` for messages.
    pub fn target(&self, default_port: u16) -> String {
        format!("{}:{}", self.host(), self.port(default_port))
    }
}

pub(crate) enum EngineConn {
    Pg(pg::Shared),
    MySql(mysql::Shared),
    Sqlite(sqlite::Shared),
}

/// How to stop a running statement on the server.
pub(crate) enum CancelTarget {
    Pg(session::SideCancel<sqlx::postgres::PgConnectOptions>),
    MySql(session::SideCancel<sqlx::mysql::MySqlConnectOptions>),
    Sqlite(Arc<AtomicBool>),
}

pub(crate) struct CancelState {
    /// Set by a cancel, for SQLite's interrupt flag (see [`CancelState::settle`]). It never
    /// turns a statement's own answer into `Cancelled`: only the engine's error does that, so
    /// a cancel that did not reach the server cannot pass for one that did.
    pub requested: AtomicBool,
    pub target: CancelTarget,
    pub rt: Handle,
}

impl CancelState {
    /// Called when a statement starts: an earlier cancel does not apply to it.
    pub fn begin(&self) {
        self.requested.store(false, Ordering::SeqCst);
        if let CancelTarget::Sqlite(flag) = &self.target {
            flag.store(false, Ordering::SeqCst);
        }
    }

    pub fn was_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Called once a statement stopped early has ended on the connection. SQLite's interrupt
    /// flag stays raised after it stopped that statement, and must not stop the next one
    /// (whose `begin` may already have run) unless a cancel was asked for it.
    pub fn settle(&self) {
        if let CancelTarget::Sqlite(flag) = &self.target {
            flag.store(self.was_requested(), Ordering::SeqCst);
        }
    }

    /// Ask the server to stop the statement running now.
    pub async fn server_cancel(&self) -> Result<(), DriverError> {
        let work = async {
            match &self.target {
                CancelTarget::Pg(side) => side.send().await,
                CancelTarget::MySql(side) => side.send().await,
                CancelTarget::Sqlite(flag) => {
                    flag.store(true, Ordering::SeqCst);
                    Ok(())
                }
            }
        };
        match tokio::time::timeout(CANCEL_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => Err(DriverError::new(
                ErrorKind::Timeout,
                "the server did not answer the cancel request in time",
            )),
        }
    }
}

/// An open connection to one of the engines.
pub struct SqlxConnection {
    rt: Handle,
    conn: EngineConn,
    cancel: Arc<CancelState>,
    /// Supersedes the statement started last, whose rows may still be unread.
    current: Option<Arc<tokio::sync::Notify>>,
    /// A read-only server session: statements naming the read-only switch are refused.
    read_only: bool,
}

/// Parameters bound to catalog queries.
pub(crate) type Args = Vec<Option<String>>;

impl SqlxConnection {
    fn run(&mut self, sql: String, args: Args) -> Result<QueryResult, DriverError> {
        if self.read_only {
            read_only::check(&sql)?;
        }
        let (tx, rx, superseded) = stream::channel();
        // A result still unread holds the connection: tell its task to let go.
        if let Some(previous) = self.current.replace(superseded) {
            previous.notify_one();
        }
        self.cancel.begin();
        let cancel = self.cancel.clone();
        match &self.conn {
            EngineConn::Pg(c) => {
                self.rt.spawn(pg::run(c.clone(), sql, args, tx, cancel));
            }
            EngineConn::MySql(c) => {
                self.rt.spawn(mysql::run(c.clone(), sql, args, tx, cancel));
            }
            EngineConn::Sqlite(c) => {
                self.rt.spawn(sqlite::run(c.clone(), sql, args, tx, cancel));
            }
        }
        stream::first_answer(rx)
    }
}

impl Connection for SqlxConnection {
    fn execute(&mut self, sql: &str) -> Result<QueryResult, DriverError> {
        self.run(sql.to_string(), Vec::new())
    }

    fn catalog(&mut self, request: &CatalogRequest) -> Result<QueryResult, DriverError> {
        let (sql, args) = match &self.conn {
            EngineConn::Pg(_) => pg::catalog_sql(request),
            EngineConn::MySql(_) => mysql::catalog_sql(request),
            EngineConn::Sqlite(_) => sqlite::catalog_sql(request),
        };
        self.run(sql, args)
    }

    fn canceller(&self) -> Arc<dyn Canceller> {
        Arc::new(SqlxCanceller(self.cancel.clone()))
    }
}

struct SqlxCanceller(Arc<CancelState>);

impl Canceller for SqlxCanceller {
    fn cancel(&self) -> Result<(), DriverError> {
        self.0.requested.store(true, Ordering::SeqCst);
        let state = self.0.clone();
        // Run on the driver's runtime whatever thread the host calls from.
        let (tx, rx) = std::sync::mpsc::channel();
        self.0.rt.spawn(async move {
            let _ = tx.send(state.server_cancel().await);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(internal("the cancel task ended without an answer")))
    }
}

keeperdb_driver_sdk::export_driver!(SqlxDriver);
