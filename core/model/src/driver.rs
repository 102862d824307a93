//! The driver interface as the host sees it. Drivers are native plugins loaded by
//! [`crate::driver_host`]; this trait is what the registry and shells call, whatever the
//! library behind it.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatchReader;

use crate::connection::{Connection, Engine};
use crate::credentials::Credentials;

// The driver contract's value types are the SDK's own, defined once for both sides of the ABI.
pub use keeperdb_driver_sdk::{CatalogRequest, DriverError, ErrorKind as DriverErrorKind};

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

/// The [`DriverError`] behind an error returned by a row reader from a loaded driver, if any.
pub fn driver_error_of(error: &arrow_schema::ArrowError) -> Option<&DriverError> {
    match error {
        arrow_schema::ArrowError::ExternalError(e) => e.downcast_ref::<DriverError>(),
        _ => None,
    }
}
