//! keeperdb-driver-sdk: how to write a native database driver for keeperdb.
//!
//! A driver is a shared library (`crate-type = ["cdylib"]`) that the keeperdb host loads with
//! `dlopen` (never unloaded) after checking its `plugin.toml` and sha256. The library exports
//! exactly one symbol, `keeperdb_driver_init`, which returns a versioned, append-only table of
//! C functions ([`ffi::KdbDriverTable`]). Result rows cross as Arrow record batches through the
//! Arrow C stream interface, one page at a time.
//!
//! A Rust driver writes no `unsafe` and never sees the table:
//!
//! ```no_run
//! use std::sync::Arc;
//! use keeperdb_driver_sdk::{
//!     CatalogRequest, Canceller, Connection, ConnectParams, Driver, DriverError, DriverInfo,
//!     ErrorKind, Password, QueryResult,
//! };
//!
//! #[derive(Default)]
//! struct MyDriver;
//!
//! struct MyConnection;
//! struct NoCancel;
//!
//! impl Canceller for NoCancel {
//!     fn cancel(&self) -> Result<(), DriverError> { Ok(()) }
//! }
//!
//! impl Driver for MyDriver {
//!     type Connection = MyConnection;
//!     fn info(&self) -> DriverInfo {
//!         DriverInfo { name: "my-driver".into(), version: "0.1.0".into(), engines: vec!["sqlite".into()] }
//!     }
//!     fn connect(&self, params: ConnectParams, password: Option<Password>) -> Result<MyConnection, DriverError> {
//!         Ok(MyConnection)
//!     }
//! }
//!
//! impl Connection for MyConnection {
//!     fn execute(&mut self, sql: &str) -> Result<QueryResult, DriverError> {
//!         Err(DriverError::new(ErrorKind::Query, format!("cannot run {sql}")))
//!     }
//!     fn catalog(&mut self, request: &CatalogRequest) -> Result<QueryResult, DriverError> {
//!         Ok(QueryResult::Done { rows_affected: 0 })
//!     }
//!     fn canceller(&self) -> Arc<dyn Canceller> { Arc::new(NoCancel) }
//! }
//!
//! keeperdb_driver_sdk::export_driver!(MyDriver);
//! ```
//!
//! Ship the library with a `plugin.toml` next to it:
//!
//! ```toml
//! id = "my-driver"
//! version = "0.1.0"
//! kind = "driver"
//! api = "^0.4"                 # the host API range the driver works with
//! payload = "libmy_driver.so"
//! sha256 = "<lowercase hex sha256 of the library>"
//! ```
//!
//! Rules the export layer enforces for you: a panic in any of your methods (including inside
//! the record batch reader you return) is caught and reported to the host as an
//! [`ErrorKind::Internal`] error instead of unwinding into it; error messages are sanitised
//! (no NUL bytes); the password is zeroed when the [`Password`] is dropped.
//!
//! Contract for a driver author:
//! - [`Connection::execute`] returns promptly with a reader; rows are produced page by page in
//!   [`RecordBatchReader`] `next()` (a few thousand rows per batch), never all at once.
//! - Errors found while streaming are returned from `next()` with [`DriverError::into_arrow`],
//!   so the host still learns their kind (a cancelled query stays [`ErrorKind::Cancelled`]).
//! - Put the engine's type name in each field's metadata under [`META_TYPE`].
//! - Never put a password in an error message.
// The C ABI of native drivers is `unsafe` by nature.
#![allow(unsafe_code)]
#![warn(missing_docs)]

pub mod ffi;

#[doc(hidden)]
pub mod export;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use arrow_array;
pub use arrow_array::RecordBatchReader;
pub use arrow_schema;
use arrow_schema::ArrowError;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Field metadata key holding the engine's name for a column's type (`numeric`, `timestamptz`,
/// `DECIMAL`, ...), so shells can format values the way the engine's own client does.
pub const META_TYPE: &str = "keeperdb.type";

/// The kind of a driver failure; the host maps it to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
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
    /// The driver misbehaved.
    Internal,
}

impl ErrorKind {
    /// The ABI status code for this kind.
    pub fn status(self) -> i32 {
        match self {
            ErrorKind::Connection => ffi::STATUS_CONNECTION,
            ErrorKind::Auth => ffi::STATUS_AUTH,
            ErrorKind::Timeout => ffi::STATUS_TIMEOUT,
            ErrorKind::Query => ffi::STATUS_QUERY,
            ErrorKind::Cancelled => ffi::STATUS_CANCELLED,
            ErrorKind::Internal => ffi::STATUS_INTERNAL,
        }
    }

    /// The kind for an ABI status code; unknown codes are [`ErrorKind::Internal`].
    pub fn from_status(status: i32) -> Self {
        match status {
            ffi::STATUS_CONNECTION => ErrorKind::Connection,
            ffi::STATUS_AUTH => ErrorKind::Auth,
            ffi::STATUS_TIMEOUT => ErrorKind::Timeout,
            ffi::STATUS_QUERY => ErrorKind::Query,
            ffi::STATUS_CANCELLED => ErrorKind::Cancelled,
            _ => ErrorKind::Internal,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connection => "connection",
            ErrorKind::Auth => "auth",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Query => "query",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "connection" => ErrorKind::Connection,
            "auth" => ErrorKind::Auth,
            "timeout" => ErrorKind::Timeout,
            "query" => ErrorKind::Query,
            "cancelled" => ErrorKind::Cancelled,
            "internal" => ErrorKind::Internal,
            _ => return None,
        })
    }
}

/// A driver failure: kind, message (never containing a password) and the engine's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Human-readable message.
    pub message: String,
    /// SQLSTATE or engine error number, when there is one.
    pub code: Option<String>,
}

impl DriverError {
    /// An error of a kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            code: None,
        }
    }

    /// Attach the engine's code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Wrap this error for returning from [`RecordBatchReader`] `next()`: the kind and code
    /// survive the trip through the Arrow C stream and the host decodes them again.
    pub fn into_arrow(self) -> ArrowError {
        ArrowError::ExternalError(Box::new(StreamError(self)))
    }

    /// Recover an error encoded by [`DriverError::into_arrow`] from the text of an Arrow error
    /// that crossed the C stream interface. `None` if the text carries no such encoding.
    pub fn from_stream_message(text: &str) -> Option<Self> {
        let start = text.find(STREAM_ERROR_TAG)?;
        let rest = &text[start + STREAM_ERROR_TAG.len()..];
        let end = rest.find(']')?;
        let mut kind = None;
        let mut code = None;
        for part in rest[..end].split(';') {
            if let Some(k) = part.strip_prefix("kind=") {
                kind = ErrorKind::parse(k);
            } else if let Some(c) = part.strip_prefix("code=") {
                code = (!c.is_empty()).then(|| c.to_string());
            }
        }
        Some(Self {
            kind: kind?,
            message: rest[end + 1..].trim_start().to_string(),
            code,
        })
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DriverError {}

const STREAM_ERROR_TAG: &str = "[keeperdb-error ";

/// A [`DriverError`] as carried through an Arrow stream: its display form encodes the kind.
#[derive(Debug)]
struct StreamError(DriverError);

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{STREAM_ERROR_TAG}kind={};code={}] {}",
            self.0.kind.as_str(),
            self.0.code.as_deref().unwrap_or(""),
            self.0.message
        )
    }
}

impl std::error::Error for StreamError {}

/// What a driver is, as reported to the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverInfo {
    /// Driver name.
    pub name: String,
    /// Driver version.
    pub version: String,
    /// Engines served: `postgres`, `mysql`, `mariadb`, `sqlite`, ...
    pub engines: Vec<String>,
}

/// Everything needed to open a connection, except the password (see [`Password`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectParams {
    /// The engine, lowercase (`postgres`, `mysql`, `mariadb`, `sqlite`).
    pub engine: String,
    /// Server host.
    #[serde(default)]
    pub host: Option<String>,
    /// Server port; `None` for the engine's default.
    #[serde(default)]
    pub port: Option<u16>,
    /// Database (for SQLite: the file path).
    #[serde(default)]
    pub database: Option<String>,
    /// User name.
    #[serde(default)]
    pub user: Option<String>,
    /// TLS mode with libpq's names: `disable`, `prefer`, `require`, `verify-ca`, `verify-full`.
    #[serde(default = "default_tls")]
    pub tls: String,
    /// Refuse writes where the engine can enforce it.
    #[serde(default)]
    pub read_only: bool,
    /// Give up connecting after this many milliseconds (0: the driver's default).
    #[serde(default)]
    pub connect_timeout_ms: u64,
    /// Free-form driver options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn default_tls() -> String {
    "prefer".to_string()
}

/// A password handed to [`Driver::connect`]. Zeroed when dropped; `Debug` never shows it.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wrap a password.
    pub fn new(password: String) -> Self {
        Self(Zeroizing::new(password))
    }

    /// The password, for handing to the engine's client at the last moment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The column names a catalog answer must have, per request: the host reads the answer by these
/// names, so every driver answers in the same shape (extra columns are allowed and shown).
/// Values may be any Arrow type that casts to text; `nullable` is a boolean.
pub mod catalog_columns {
    /// [`CatalogRequest::Databases`]: one row per database (or schema).
    pub const DATABASES: [&str; 1] = ["name"];
    /// [`CatalogRequest::Tables`]: `schema` (null where the engine has none), `name`, and
    /// `type` (`BASE TABLE`, `VIEW`, ... as the engine says).
    pub const TABLES: [&str; 3] = ["schema", "name", "type"];
    /// [`CatalogRequest::Columns`]: `name`, `type` (the type as the engine's own client shows
    /// it, with its length or precision: `character varying(200)`, `decimal(10,2)`),
    /// `nullable`, `default` (its SQL text, or null when the column has none) and `position`
    /// (1-based).
    pub const COLUMNS: [&str; 5] = ["name", "type", "nullable", "default", "position"];
    /// [`CatalogRequest::Schemas`]: one row per schema (on engines where a database is a
    /// schema, the databases; SQLite: the attached databases).
    pub const SCHEMAS: [&str; 1] = ["name"];
    /// [`CatalogRequest::Keys`]: one row per column of each primary key, unique constraint and
    /// foreign key of the table: the constraint's `name`, its `kind` (`PRIMARY KEY`, `UNIQUE`
    /// or `FOREIGN KEY`), the `column`, its 1-based `position` in the key, and for a foreign
    /// key the `ref_schema`, `ref_table` and `ref_column` it refers to (null otherwise).
    pub const KEYS: [&str; 7] = [
        "name",
        "kind",
        "column",
        "position",
        "ref_schema",
        "ref_table",
        "ref_column",
    ];
    /// [`CatalogRequest::Indexes`]: one row per column of each index on the table: the
    /// index's `name`, the `column` (or the expression's text), its 1-based `position`, and
    /// whether the index is `unique` and `primary` (booleans).
    pub const INDEXES: [&str; 5] = ["name", "column", "position", "unique", "primary"];
}

/// What the catalog can be asked for. Answers are record batches with the columns named in
/// [`catalog_columns`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "lowercase")]
pub enum CatalogRequest {
    /// Databases (or schemas, for engines without separate databases).
    Databases,
    /// Tables and views, optionally in one schema.
    Tables {
        /// Restrict to this schema.
        #[serde(default)]
        schema: Option<String>,
    },
    /// Columns of one table.
    Columns {
        /// Schema of the table.
        #[serde(default)]
        schema: Option<String>,
        /// Table name.
        table: String,
    },
    /// Schemas (new in host API 0.4.0: a driver built before answers with an error, which hosts take as
    /// "not described").
    Schemas,
    /// Primary key, unique constraints and foreign keys of one table (new in host API 0.4.0).
    Keys {
        /// Schema of the table.
        #[serde(default)]
        schema: Option<String>,
        /// Table name.
        table: String,
    },
    /// Indexes of one table (new in host API 0.4.0).
    Indexes {
        /// Schema of the table.
        #[serde(default)]
        schema: Option<String>,
        /// Table name.
        table: String,
    },
}

/// A statement's outcome.
pub enum QueryResult {
    /// Rows, produced one record batch (page) at a time.
    Rows(Box<dyn RecordBatchReader + Send>),
    /// A statement without rows.
    Done {
        /// Rows changed.
        rows_affected: u64,
    },
}

/// Cancels a connection's running statement from another thread.
pub trait Canceller: Send + Sync {
    /// Ask the server to stop what the connection is running now.
    fn cancel(&self) -> Result<(), DriverError>;
}

/// An open connection.
pub trait Connection: Send + 'static {
    /// Run one statement.
    fn execute(&mut self, sql: &str) -> Result<QueryResult, DriverError>;
    /// Answer a catalog request with rows.
    fn catalog(&mut self, request: &CatalogRequest) -> Result<QueryResult, DriverError>;
    /// A handle that cancels this connection's running statement from any thread.
    fn canceller(&self) -> Arc<dyn Canceller>;
}

/// A driver. One instance is created (with `Default`) the first time the host asks for it.
pub trait Driver: Default + Send + Sync + 'static {
    /// The connection type.
    type Connection: Connection;
    /// Name, version and engines.
    fn info(&self) -> DriverInfo;
    /// Open a connection.
    fn connect(
        &self,
        params: ConnectParams,
        password: Option<Password>,
    ) -> Result<Self::Connection, DriverError>;
}

/// Export a [`Driver`] type as this library's `keeperdb_driver_init` entry point.
///
/// Call it once, at the crate root of a `cdylib`.
#[macro_export]
macro_rules! export_driver {
    ($driver:ty) => {
        impl $crate::export::Instance for $driver {
            fn instance() -> &'static Self {
                static INSTANCE: ::std::sync::OnceLock<$driver> = ::std::sync::OnceLock::new();
                INSTANCE.get_or_init(<$driver as ::std::default::Default>::default)
            }
        }

        /// The keeperdb driver entry point: returns this library's function table.
        #[unsafe(no_mangle)]
        pub extern "C" fn keeperdb_driver_init() -> *const $crate::ffi::KdbDriverTable {
            static TABLE: $crate::ffi::KdbDriverTable = $crate::export::table::<$driver>();
            &TABLE
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_errors_keep_kind_and_code() {
        let err = DriverError::new(
            ErrorKind::Cancelled,
            "canceling statement due to user request",
        )
        .with_code("57014");
        let text = format!(
            "Cannot get next batch from input stream. Error code: 22. Producer error: External error: {}",
            err.clone()
                .into_arrow()
                .to_string()
                .trim_start_matches("External error: ")
        );
        assert_eq!(DriverError::from_stream_message(&text), Some(err));
        assert_eq!(DriverError::from_stream_message("plain message"), None);
    }

    #[test]
    fn params_json_has_no_password_field() {
        let json = serde_json::to_string(&ConnectParams::default()).unwrap();
        assert!(!json.contains("password"), "{json}");
        assert_eq!(
            format!("{:?}", Password::new("s3cret".into())),
            "Password(<redacted>)"
        );
    }

    #[test]
    fn catalog_requests_round_trip_as_json() {
        let req = CatalogRequest::Columns {
            schema: Some("public".into()),
            table: "t".into(),
        };
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(serde_json::from_str::<CatalogRequest>(&json).unwrap(), req);
    }
}
