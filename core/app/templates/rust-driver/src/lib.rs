//! A keeperdb driver for the engine `__ID__`: a shared library keeperdb loads for every
//! connection whose engine is `__ID__`. As written it needs no server: each statement answers
//! one row holding the statement, so the whole path (connect, execute, a streamed Arrow result,
//! errors, cancel) works before your engine's client is in. Replace `connect` and `execute`
//! with calls into that client; the SDK's guide is `keeperdb-sdk/driver` (`cargo doc --open`),
//! and README.md says how to build, pack and install.

use std::collections::HashMap;
use std::sync::Arc;

use keeperdb_driver_sdk::arrow_array::{ArrayRef, RecordBatch, RecordBatchIterator, StringArray};
use keeperdb_driver_sdk::arrow_schema::{DataType, Field, Schema};
use keeperdb_driver_sdk::{
    Canceller, CatalogRequest, ConnectParams, Connection, Driver, DriverError, DriverInfo,
    ErrorKind, META_TYPE, Password, QueryResult,
};

#[derive(Default)]
struct EngineDriver;

struct EngineConnection {
    database: Option<String>,
}

struct NothingToCancel;

impl Canceller for NothingToCancel {
    fn cancel(&self) -> Result<(), DriverError> {
        // Statements here finish at once; a real driver asks its server to stop.
        Ok(())
    }
}

impl Driver for EngineDriver {
    type Connection = EngineConnection;

    fn info(&self) -> DriverInfo {
        DriverInfo {
            name: "__ID__".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            engines: vec!["__ID__".into()],
        }
    }

    fn connect(
        &self,
        params: ConnectParams,
        _password: Option<Password>,
    ) -> Result<EngineConnection, DriverError> {
        // Never put the password in an error: it is zeroed when dropped.
        Ok(EngineConnection {
            database: params.database,
        })
    }
}

/// One text column, with the engine's type name where keeperdb's formatters read it.
fn one_row(column: &str, value: &str) -> Result<QueryResult, DriverError> {
    let field = Field::new(column, DataType::Utf8, false)
        .with_metadata(HashMap::from([(META_TYPE.to_string(), "text".to_string())]));
    let schema = Arc::new(Schema::new(vec![field]));
    let values: ArrayRef = Arc::new(StringArray::from(vec![value]));
    let batch = RecordBatch::try_new(schema.clone(), vec![values])
        .map_err(|e| DriverError::new(ErrorKind::Internal, e.to_string()))?;
    Ok(QueryResult::Rows(Box::new(RecordBatchIterator::new(
        [Ok(batch)],
        schema,
    ))))
}

impl Connection for EngineConnection {
    fn execute(&mut self, sql: &str) -> Result<QueryResult, DriverError> {
        let sql = sql.trim();
        if sql.is_empty() {
            return Err(DriverError::new(ErrorKind::Query, "empty statement"));
        }
        one_row("statement", sql)
    }

    fn catalog(&mut self, _request: &CatalogRequest) -> Result<QueryResult, DriverError> {
        one_row("schema", self.database.as_deref().unwrap_or("main"))
    }

    fn canceller(&self) -> Arc<dyn Canceller> {
        Arc::new(NothingToCancel)
    }
}

keeperdb_driver_sdk::export_driver!(EngineDriver);
