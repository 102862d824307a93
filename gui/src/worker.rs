//! One thread per open database session. Drivers are blocking and a connection runs one
//! statement at a time, so each session lives on its own thread and takes jobs in order; while
//! it is idle it goes on loading the rows of its last result in the background, up to the row
//! cap. A cancel does not queue: it goes straight to the driver's canceller.
//!
//! Each connection has two sessions, opened when first needed: one for queries, and one for
//! the catalog (the schema tree and editor completion), so expanding the tree never waits for
//! a long query and never disturbs a result that is still loading.

use std::collections::HashMap;
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::RecordBatchReader;
use keeperdb_core::driver::{Canceller, DriverError, DriverErrorKind, StatementResult};
use keeperdb_core::history::History;
use keeperdb_core::session::{Session, StreamError};
use keeperdb_core::{App, Credentials};
use secrecy::SecretString;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::results::{ResultInfo, ResultSet, Results};
use axum::http::StatusCode;

/// Which of a connection's two sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Query,
    Catalog,
}

/// What a statement gave.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StatementOut {
    Rows { sql: String, result: ResultInfo },
    Affected { sql: String, rows: u64 },
}

/// What a run gave: the statements that ran, and the error that stopped it, if any.
pub struct RunOut {
    pub statements: Vec<StatementOut>,
    pub error: Option<ApiError>,
}

/// A catalog question.
pub enum CatalogAsk {
    Databases,
    Tables {
        schema: Option<String>,
    },
    Columns {
        schema: Option<String>,
        table: String,
    },
}

enum Job {
    Run {
        statements: Vec<String>,
        confirmed: bool,
        reply: oneshot::Sender<Result<RunOut, ApiError>>,
    },
    Catalog {
        ask: CatalogAsk,
        reply: oneshot::Sender<Result<serde_json::Value, ApiError>>,
    },
    /// A result's cap was lifted: go on loading.
    Resume,
}

/// A session's thread, as handlers see it.
pub struct Worker {
    jobs: mpsc::Sender<Job>,
    canceller: Arc<dyn Canceller>,
    pub engine: keeperdb_core::Engine,
}

impl Worker {
    pub async fn run(&self, statements: Vec<String>, confirmed: bool) -> Result<RunOut, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Run {
            statements,
            confirmed,
            reply,
        })?;
        answer.await.map_err(|_| lost())?
    }

    pub async fn catalog(&self, ask: CatalogAsk) -> Result<serde_json::Value, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Catalog { ask, reply })?;
        answer.await.map_err(|_| lost())?
    }

    pub fn resume(&self) {
        let _ = self.jobs.send(Job::Resume);
    }

    pub fn cancel(&self) -> Result<(), ApiError> {
        self.canceller.cancel().map_err(ApiError::from)
    }

    fn send(&self, job: Job) -> Result<(), ApiError> {
        self.jobs.send(job).map_err(|_| lost())
    }
}

fn lost() -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "unavailable",
        "the connection to the database was lost; run the statement again to reconnect",
    )
}

/// Open sessions by connection id, and passwords the user typed for connections that keep
/// none (in memory only, for reopening).
#[derive(Default)]
pub struct Workers {
    open: Mutex<HashMap<(String, Role), Arc<Worker>>>,
    typed: Mutex<HashMap<String, SecretString>>,
}

/// What a worker needs from the server.
pub struct Context {
    pub app: Arc<App>,
    pub results: Arc<Results>,
}

impl Workers {
    /// The open session, or a new one (blocking: connecting is a network round trip, and a
    /// vault connection's credentials are fetched now).
    pub fn get(
        &self,
        ctx: &Context,
        connection: &str,
        role: Role,
    ) -> Result<Arc<Worker>, ApiError> {
        let key = (connection.to_string(), role);
        if let Some(w) = self.lock_open().get(&key)
            && !w.jobs_closed()
        {
            return Ok(Arc::clone(w));
        }
        let password = self
            .typed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(connection)
            .cloned();
        let worker = Arc::new(open(ctx, connection, password)?);
        self.lock_open().insert(key, Arc::clone(&worker));
        Ok(worker)
    }

    /// The query session if one is open (for cancel and resume).
    pub fn existing(&self, connection: &str, role: Role) -> Option<Arc<Worker>> {
        self.lock_open()
            .get(&(connection.to_string(), role))
            .cloned()
    }

    /// Reconnect with a password the user typed; it is kept in memory for the catalog session.
    pub fn connect_with(
        &self,
        ctx: &Context,
        connection: &str,
        password: Option<SecretString>,
    ) -> Result<(), ApiError> {
        if let Some(p) = password {
            self.typed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(connection.to_string(), p);
        }
        {
            let mut open = self.lock_open();
            open.remove(&(connection.to_string(), Role::Query));
            open.remove(&(connection.to_string(), Role::Catalog));
        }
        self.get(ctx, connection, Role::Query).map(|_| ())
    }

    fn lock_open(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Role), Arc<Worker>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Worker {
    fn jobs_closed(&self) -> bool {
        // A send on a channel whose thread ended fails; Resume is harmless when it works.
        self.jobs.send(Job::Resume).is_err()
    }
}

fn open(
    ctx: &Context,
    connection: &str,
    password: Option<SecretString>,
) -> Result<Worker, ApiError> {
    let app = &ctx.app;
    let resolved = app.resolve(connection)?;
    let mut credentials = resolved.credentials;
    if credentials.needs_prompt {
        match password {
            Some(p) => credentials = Credentials::new(credentials.user, Some(p)),
            None => {
                return Err(ApiError::new(
                    StatusCode::PRECONDITION_REQUIRED,
                    "password_required",
                    format!(
                        "`{}` keeps no stored password: type it to connect",
                        resolved.connection.spec.name
                    ),
                ));
            }
        }
    }
    let prefs = app.store().preferences().unwrap_or_default();
    let timeout = Duration::from_secs(u64::from(prefs.connect_timeout_secs.max(1)));
    let cap = (prefs.page_size as usize).saturating_mul(100).max(100_000);
    let session = app.connect(resolved.connection, credentials, timeout)?;
    let canceller = session.canceller();
    let engine = session.engine().clone();
    let (jobs, inbox) = mpsc::channel();
    let thread = Thread {
        session,
        history: app.history(),
        results: Arc::clone(&ctx.results),
        connection: connection.to_string(),
        cap,
        loading: None,
    };
    std::thread::Builder::new()
        .name(format!("session {connection}"))
        .spawn(move || thread.serve(inbox))
        .map_err(|e| ApiError::internal(format!("cannot start a session thread: {e}")))?;
    Ok(Worker {
        jobs,
        canceller,
        engine,
    })
}

/// The session's own thread.
struct Thread {
    session: Session,
    history: History,
    results: Arc<Results>,
    connection: String,
    cap: usize,
    /// The last result and its reader, while rows remain.
    loading: Option<(Arc<ResultSet>, Box<dyn RecordBatchReader + Send>)>,
}

impl Thread {
    fn serve(mut self, inbox: mpsc::Receiver<Job>) {
        loop {
            let loading = self.loading.as_ref().is_some_and(|(r, _)| r.wants_more());
            let job = if loading {
                match inbox.try_recv() {
                    Ok(job) => Some(job),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match inbox.recv() {
                    Ok(job) => Some(job),
                    Err(_) => return,
                }
            };
            let lost = match job {
                None => self.load_page(),
                Some(Job::Resume) => false,
                Some(Job::Run {
                    statements,
                    confirmed,
                    reply,
                }) => {
                    self.stop_loading();
                    let out = self.run(&statements, confirmed);
                    let lost = connection_lost(&out);
                    let _ = reply.send(out);
                    lost
                }
                Some(Job::Catalog { ask, reply }) => {
                    let out = self.catalog(ask);
                    let lost = matches!(&out, Err(e) if e.kind == "unavailable");
                    let _ = reply.send(out);
                    lost
                }
            };
            if lost {
                // The session is gone: end the thread, so the next request reconnects.
                return;
            }
        }
    }

    fn stop_loading(&mut self) {
        if let Some((result, reader)) = self.loading.take() {
            result.abandon();
            drop(reader);
        }
    }

    /// Read one more page of the loading result. Returns whether the connection was lost.
    fn load_page(&mut self) -> bool {
        let Some((result, reader)) = self.loading.as_mut() else {
            return false;
        };
        match reader.next() {
            Some(Ok(batch)) => {
                result.push(batch);
                false
            }
            Some(Err(e)) => {
                let error = arrow_error(e);
                let lost = error.kind == "unavailable";
                result.fail(error);
                self.loading = None;
                lost
            }
            None => {
                result.finish();
                self.loading = None;
                false
            }
        }
    }

    fn run(&mut self, statements: &[String], confirmed: bool) -> Result<RunOut, ApiError> {
        if !confirmed {
            let writes = statements
                .iter()
                .filter(|s| self.session.needs_confirmation(s))
                .count();
            if writes > 0 {
                return Err(ApiError::new(
                    StatusCode::PRECONDITION_REQUIRED,
                    "confirm_required",
                    format!(
                        "`{}` is tagged production, and {writes} of these statements may write to it. Run them?",
                        self.session.connection().spec.name
                    ),
                ));
            }
        }
        let mut out = Vec::new();
        for (i, sql) in statements.iter().enumerate() {
            let last = i + 1 == statements.len();
            if confirmed && self.session.needs_confirmation(sql) {
                self.session.confirm_next();
            }
            if let Err(e) = self.history.record(&self.session.connection().id, sql) {
                tracing::warn!(error = %e, "query history not saved");
            }
            let answer = self.session.execute(sql).map_err(ApiError::from);
            let answer = match answer {
                Ok(a) => a,
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => {
                    return Ok(RunOut {
                        statements: out,
                        error: Some(e),
                    });
                }
            };
            match answer {
                StatementResult::Done { rows_affected } => out.push(StatementOut::Affected {
                    sql: sql.clone(),
                    rows: rows_affected,
                }),
                StatementResult::Rows(reader) => {
                    let result = Arc::new(ResultSet::new(
                        &self.connection,
                        &reader.schema(),
                        self.session.engine(),
                        self.cap,
                    ));
                    self.results.add(Arc::clone(&result));
                    self.loading = Some((Arc::clone(&result), reader));
                    // The first page before answering; the rest in the background for the
                    // last statement, or now for the others (a connection reads one result at
                    // a time).
                    if self.load_page() {
                        return Err(lost());
                    }
                    if !last {
                        while self.loading.as_ref().is_some_and(|(r, _)| r.wants_more()) {
                            if self.load_page() {
                                return Err(lost());
                            }
                        }
                        self.stop_loading();
                    }
                    out.push(StatementOut::Rows {
                        sql: sql.clone(),
                        result: result.info(),
                    });
                }
            }
        }
        Ok(RunOut {
            statements: out,
            error: None,
        })
    }

    fn catalog(&mut self, ask: CatalogAsk) -> Result<serde_json::Value, ApiError> {
        use serde_json::json;
        Ok(match ask {
            CatalogAsk::Databases => {
                let dbs = self.session.databases().map_err(stream_error)?;
                json!({"databases": dbs.iter().map(|d| json!({"name": d.name})).collect::<Vec<_>>()})
            }
            CatalogAsk::Tables { schema } => {
                let tables = self
                    .session
                    .tables(schema.as_deref())
                    .map_err(stream_error)?;
                json!({"tables": tables.iter().map(|t| json!({"schema": t.schema, "name": t.name, "kind": t.kind})).collect::<Vec<_>>()})
            }
            CatalogAsk::Columns { schema, table } => {
                let columns = self
                    .session
                    .columns(schema.as_deref(), &table)
                    .map_err(stream_error)?;
                json!({"columns": columns.iter().map(|c| json!({"name": c.name, "type": c.type_name, "nullable": c.nullable, "default": c.default})).collect::<Vec<_>>()})
            }
        })
    }
}

fn connection_lost(out: &Result<RunOut, ApiError>) -> bool {
    match out {
        Err(e) => e.kind == "unavailable",
        Ok(run) => run.error.as_ref().is_some_and(|e| e.kind == "unavailable"),
    }
}

fn arrow_error(e: arrow_schema::ArrowError) -> ApiError {
    match keeperdb_core::driver::driver_error_of(&e) {
        Some(d) => d.clone().into(),
        None => DriverError::new(
            DriverErrorKind::Internal,
            format!("reading rows failed: {e}"),
        )
        .into(),
    }
}

fn stream_error(e: StreamError) -> ApiError {
    match e {
        StreamError::Driver(d) => d.into(),
        other => ApiError::internal(other.to_string()),
    }
}
