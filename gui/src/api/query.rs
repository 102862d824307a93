//! Queries: run statements on a connection's session, cancel them on the server, and read
//! their results by windows, as text for the clipboard, or streamed as a download.

use std::io::Write;
use std::time::Duration;

use axum::Json;
use axum::body::Body as HttpBody;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use keeperdb_core::ConnectionId;
use keeperdb_core::format::{FormatOptions, OutputFormat};
use keeperdb_core::sql::split_statements;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;

use super::{Answer, Body, Shared, blocking, time_text};
use crate::error::ApiError;
use crate::results::ResultSet;
use crate::worker::{Role, RunOut, Worker};

/// Most rows one window asks for.
const WINDOW_MAX: usize = 5_000;
/// Most rows one copy takes.
const COPY_MAX: usize = 1_000_000;

pub async fn worker(
    state: &Shared,
    connection: &str,
    role: Role,
) -> Result<std::sync::Arc<Worker>, ApiError> {
    let state2 = std::sync::Arc::clone(state);
    let connection = connection.to_string();
    blocking(move || state2.workers.get(&state2.ctx, &connection, role)).await
}

#[derive(Deserialize)]
pub struct Connect {
    connection: String,
    password: Option<String>,
}

pub async fn connect(State(state): State<Shared>, Body(c): Body<Connect>) -> Answer {
    let s = std::sync::Arc::clone(&state);
    blocking(move || {
        let password = c.password.filter(|p| !p.is_empty()).map(SecretString::from);
        s.workers.connect_with(&s.ctx, &c.connection, password)?;
        Ok(Json(json!({})))
    })
    .await
}

#[derive(Deserialize)]
pub struct Run {
    connection: String,
    sql: String,
    #[serde(default)]
    confirmed: bool,
}

pub fn run_answer(out: RunOut) -> Json<serde_json::Value> {
    Json(json!({
        "statements": out.statements,
        "error": out.error.as_ref().map(ApiError::json),
    }))
}

pub async fn query(State(state): State<Shared>, Body(run): Body<Run>) -> Answer {
    let worker = worker(&state, &run.connection, Role::Query).await?;
    let (mut statements, rest) = split_statements(&run.sql, &worker.engine);
    if !rest.trim().is_empty() {
        statements.push(rest);
    }
    statements.retain(|s| !s.trim().is_empty());
    if statements.is_empty() {
        return Err(ApiError::invalid("there is no statement to run"));
    }
    Ok(run_answer(worker.run(statements, run.confirmed).await?))
}

#[derive(Deserialize)]
pub struct Named {
    connection: String,
}

pub async fn cancel(State(state): State<Shared>, Body(n): Body<Named>) -> Answer {
    match state.workers.existing(&n.connection, Role::Query) {
        Some(worker) => {
            blocking(move || worker.cancel()).await?;
            Ok(Json(json!({})))
        }
        None => Err(ApiError::not_found("nothing runs on this connection")),
    }
}

pub async fn history(State(state): State<Shared>, Query(n): Query<Named>) -> Answer {
    let app = state.app().clone();
    blocking(move || {
        let entries = app
            .history()
            .entries(&ConnectionId::from_string(n.connection), 200)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let shown: Vec<_> = entries
            .iter()
            .map(|e| json!({"sql": e.sql, "at": time_text(e.time())}))
            .collect();
        Ok(Json(json!({ "entries": shown })))
    })
    .await
}

pub async fn result(State(state): State<Shared>, Path(id): Path<String>) -> Answer {
    Ok(Json(json!(state.ctx.results.get(&id)?.info())))
}

#[derive(Deserialize)]
pub struct Window {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    200
}

pub async fn rows(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(w): Query<Window>,
) -> Answer {
    let result = state.ctx.results.get(&id)?;
    let limit = w.limit.min(WINDOW_MAX);
    result.wait_for(w.offset, Duration::from_secs(1)).await;
    let rows = result.rows(w.offset, limit);
    let info = result.info();
    Ok(Json(json!({
        "rows": rows, "loaded": info.loaded, "complete": info.complete, "capped": info.capped,
        "error": info.error,
    })))
}

pub async fn fetch_all(State(state): State<Shared>, Path(id): Path<String>) -> Answer {
    let result = state.ctx.results.get(&id)?;
    lift_cap(&state, &result)?;
    Ok(Json(json!(result.info())))
}

fn lift_cap(state: &Shared, result: &ResultSet) -> Result<(), ApiError> {
    if result.is_settled() && !result.info().capped {
        return Ok(());
    }
    if !result.lift_cap() {
        return Err(ApiError::conflict(
            "the rest of this result can no longer be read (another statement ran on the connection since): run the query again",
        ));
    }
    if let Some(worker) = state.workers.existing(&result.connection, Role::Query) {
        worker.resume();
    }
    Ok(())
}

pub async fn close(State(state): State<Shared>, Path(id): Path<String>) -> Answer {
    if let Ok(result) = state.ctx.results.get(&id) {
        state.ctx.results.remove(&id);
        // Wake the session, so it drops the reader of a result still loading.
        if let Some(worker) = state.workers.existing(&result.connection, Role::Query) {
            worker.resume();
        }
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct Text {
    format: String,
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

pub async fn text(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(t): Query<Text>,
) -> Result<Response, ApiError> {
    let result = state.ctx.results.get(&id)?;
    let limit = t.limit.min(COPY_MAX);
    let text = if t.format.eq_ignore_ascii_case("tsv") {
        tsv(&result, t.offset, limit)
    } else {
        let format = copy_format(&t.format)?;
        let mut out = Vec::new();
        {
            let options = FormatOptions {
                engine: Some(engine_of(&result)),
                footer: false,
                ..FormatOptions::default()
            };
            let mut w = keeperdb_core::format::writer(
                format,
                result.schema(),
                &options,
                Box::new(&mut out),
            );
            for batch in result.slice(t.offset, limit) {
                w.write_batch(&batch)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
            }
            w.finish().map_err(|e| ApiError::internal(e.to_string()))?;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

fn copy_format(name: &str) -> Result<OutputFormat, ApiError> {
    match name.parse::<OutputFormat>() {
        Ok(OutputFormat::Table | OutputFormat::Expanded) | Err(_) => {
            Err(ApiError::invalid(format!(
                "`{name}` is not a format for copy or export: use tsv, csv, json, jsonl or markdown"
            )))
        }
        Ok(f) => Ok(f),
    }
}

fn engine_of(result: &ResultSet) -> keeperdb_core::Engine {
    result.engine.clone()
}

/// Tab-separated text as spreadsheets paste it: a header, NULL as an empty field, and a value
/// with a tab, a quote or a line break quoted as in CSV.
fn tsv(result: &ResultSet, offset: usize, limit: usize) -> String {
    fn field(out: &mut String, value: &str) {
        if value.contains(['\t', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&value.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(value);
        }
    }
    let mut out = String::new();
    for (i, c) in result.columns().iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        field(&mut out, &c.name);
    }
    out.push('\n');
    result.each_row(offset, limit, |cells| {
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            if let Some(v) = cell {
                field(&mut out, v);
            }
        }
        out.push('\n');
    });
    out
}

#[derive(Deserialize)]
pub struct Export {
    format: String,
}

/// A `Write` that hands what is written to the response body, a chunk at a time.
struct ToBody {
    lines: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl Write for ToBody {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buffer));
        self.lines.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was closed")
        })
    }
}

/// The whole result as a download, streamed as its rows arrive (the row cap is lifted).
pub async fn export(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(e): Query<Export>,
) -> Result<Response, ApiError> {
    let format = copy_format(&e.format)?;
    let result = state.ctx.results.get(&id)?;
    lift_cap(&state, &result)?;
    let (lines, body) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let handle = tokio::runtime::Handle::current();
    let loaded = result.info().loaded;
    tokio::task::spawn_blocking(move || {
        let failed = lines.clone();
        let options = FormatOptions {
            engine: Some(engine_of(&result)),
            footer: false,
            ..FormatOptions::default()
        };
        let out = ToBody {
            lines,
            buffer: Vec::new(),
        };
        let mut w = keeperdb_core::format::writer(format, result.schema(), &options, Box::new(out));
        let mut next = 0;
        let outcome: Result<(), String> = (|| loop {
            let batches = result.batches(next);
            next += batches.len();
            for batch in &batches {
                w.write_batch(batch).map_err(|e| e.to_string())?;
            }
            if batches.is_empty() {
                if result.is_settled() {
                    if let Some(error) = result.info().error {
                        return Err(error["message"]
                            .as_str()
                            .unwrap_or("the query failed")
                            .to_string());
                    }
                    return w.finish().map_err(|e| e.to_string());
                }
                handle.block_on(result.wait_change(Duration::from_millis(200)));
            }
        })();
        if let Err(why) = outcome {
            // Fail the download rather than end it as if it were complete.
            let _ = failed.blocking_send(Err(std::io::Error::other(why)));
        }
    });
    let extension = match format {
        OutputFormat::Csv => "csv",
        OutputFormat::Json => "json",
        OutputFormat::Jsonl => "jsonl",
        _ => "md",
    };
    let mut response = HttpBody::from_stream(ReceiverStream::new(body)).into_response();
    let headers = response.headers_mut();
    let content_type = if extension == "csv" {
        "text/csv; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"result.{extension}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&loaded.to_string()) {
        headers.insert("x-row-count-loaded", v);
    }
    Ok(response)
}
