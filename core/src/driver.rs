//! The driver interface as the host sees it. Drivers are native plugins loaded by
//! [`crate::driver_host`]; this trait is what the registry and shells call, whatever the
//! library behind it.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatchReader;

use crate::credentials::Credentials;
use crate::model::{Connection, Engine};

/// The kind of a driver failure; shells map it to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverErrorKind {
    /// The server could not be reached, refused us, or TLS failed.
    Connection,
    /// Wrong user or password.
    Auth,
    /// Connect or statement timeout.
    Timeout,
    /// The statement failed on the server (syntax, constraint, permission).
    Query,
    /// The statement was cancelled.
    Cancelled,
    /// The driver misbehaved (panic, bad answer, ABI mismatch).
    Internal,
}

/// A driver failure: a kind plus a message (which never contains a password).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DriverError {
    /// What kind of failure.
    pub kind: DriverErrorKind,
    /// Human-readable message, from the server where there is one.
    pub message: String,
    /// The SQLSTATE or engine error code, when the server gave one.
    pub code: Option<String>,
}

impl DriverError {
    /// Build an error of a kind.
    pub fn new(kind: DriverErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            code: None,
        }
    }
}

/// Everything a driver needs to open a connection.
pub struct ConnectRequest<'a> {
    /// The connection, with host, database, TLS mode and options.
    pub connection: &'a Connection,
    /// Credentials, resolved just now through the connection's source.
    pub credentials: &'a Credentials,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
}

/// A statement's outcome.
pub enum StatementResult {
    /// Rows, as pages of Arrow record batches pulled one page at a time.
    Rows(Box<dyn RecordBatchReader + Send>),
    /// A statement without rows, and how many rows it changed.
    Done {
        /// Rows affected.
        rows_affected: u64,
    },
}

/// Cancels the running statement of a connection from another thread (Ctrl-C).
pub trait Canceller: Send + Sync {
    /// Ask the server to cancel whatever the connection is running now.
    fn cancel(&self) -> Result<(), DriverError>;
}

/// What the catalog can be asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogRequest {
    /// Databases (or schemas, for engines without separate databases).
    Databases,
    /// Tables and views, optionally in one schema.
    Tables {
        /// Restrict to this schema.
        schema: Option<String>,
    },
    /// Columns of one table.
    Columns {
        /// Schema of the table, if any.
        schema: Option<String>,
        /// Table name.
        table: String,
    },
}

/// An open connection.
pub trait DriverConnection: Send {
    /// Run one statement.
    fn execute(&mut self, sql: &str) -> Result<StatementResult, DriverError>;
    /// A handle that cancels from another thread.
    fn canceller(&self) -> Arc<dyn Canceller>;
    /// Catalog lookups, answered as record batches.
    fn catalog(&mut self, request: &CatalogRequest) -> Result<StatementResult, DriverError>;
}

/// A loaded driver.
pub trait Driver: Send + Sync {
    /// The plugin id.
    fn id(&self) -> &str;
    /// The engines it serves.
    fn engines(&self) -> &[Engine];
    /// Open a connection.
    fn connect(
        &self,
        request: &ConnectRequest<'_>,
    ) -> Result<Box<dyn DriverConnection>, DriverError>;
}
