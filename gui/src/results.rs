//! Results held on the server while the page looks at them. Rows stream from the driver into a
//! result's Arrow pages in the background, up to a row cap the user can lift ("fetch all");
//! the page asks for windows of rows as it scrolls, rendered to text by the same cell renderer
//! as the CLI, so it never holds more than what is on screen.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use keeperdb_core::Engine;
use keeperdb_core::format::cell::{CellRenderer, ColumnSpec, ENGINE_TYPE_KEY, Flavor};
use serde::Serialize;
use tokio::sync::watch;

use crate::error::ApiError;

/// Results kept at once; the oldest is dropped (and its reader closed) beyond this.
const KEPT: usize = 24;

/// A column as the grid's header shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// What the page knows of a result.
#[derive(Debug, Clone, Serialize)]
pub struct ResultInfo {
    pub id: String,
    pub columns: Vec<ColumnInfo>,
    pub loaded: usize,
    pub complete: bool,
    pub capped: bool,
    pub error: Option<serde_json::Value>,
}

#[derive(Default)]
struct Pages {
    batches: Vec<RecordBatch>,
    /// First row of each batch.
    starts: Vec<usize>,
    loaded: usize,
    complete: bool,
    capped: bool,
    cap: usize,
    error: Option<ApiError>,
    /// The reader was dropped before the end (closed, or another statement ran).
    abandoned: bool,
}

/// One statement's rows.
pub struct ResultSet {
    pub id: String,
    pub connection: String,
    pub engine: Engine,
    schema: SchemaRef,
    columns: Vec<ColumnInfo>,
    specs: Vec<ColumnSpec>,
    pages: Mutex<Pages>,
    /// Bumped at every change, for readers waiting on rows.
    changed: watch::Sender<u64>,
}

impl ResultSet {
    pub fn new(connection: &str, schema: &SchemaRef, engine: &Engine, cap: usize) -> Self {
        let flavor = Flavor::of(Some(engine));
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnInfo {
                name: f.name().clone(),
                type_name: f
                    .metadata()
                    .get(ENGINE_TYPE_KEY)
                    .cloned()
                    .unwrap_or_else(|| f.data_type().to_string()),
            })
            .collect();
        let specs = schema
            .fields()
            .iter()
            .map(|f| ColumnSpec::new(f, flavor))
            .collect();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            connection: connection.to_string(),
            engine: engine.clone(),
            schema: SchemaRef::clone(schema),
            columns,
            specs,
            pages: Mutex::new(Pages {
                cap,
                ..Pages::default()
            }),
            changed: watch::channel(0).0,
        }
    }

    fn pages(&self) -> MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Add a page the driver produced.
    pub fn push(&self, batch: RecordBatch) {
        let mut pages = self.pages();
        let start = pages.loaded;
        pages.loaded += batch.num_rows();
        pages.starts.push(start);
        pages.batches.push(batch);
        if pages.loaded >= pages.cap {
            pages.capped = true;
        }
        drop(pages);
        self.bump();
    }

    /// Whether the loader should read another page now.
    pub fn wants_more(&self) -> bool {
        let pages = self.pages();
        !pages.complete && !pages.abandoned && pages.error.is_none() && pages.loaded < pages.cap
    }

    pub fn finish(&self) {
        self.pages().complete = true;
        self.bump();
    }

    pub fn fail(&self, error: ApiError) {
        self.pages().error = Some(error);
        self.bump();
    }

    /// The reader is gone before the end: what was loaded stays readable.
    pub fn abandon(&self) {
        let mut pages = self.pages();
        if !pages.complete {
            pages.abandoned = true;
            pages.capped = true;
        }
        drop(pages);
        self.bump();
    }

    /// Lift the cap. False when the rows can no longer be read (the reader is gone).
    pub fn lift_cap(&self) -> bool {
        let mut pages = self.pages();
        if pages.abandoned {
            return false;
        }
        pages.cap = usize::MAX;
        pages.capped = false;
        true
    }

    pub fn info(&self) -> ResultInfo {
        let pages = self.pages();
        ResultInfo {
            id: self.id.clone(),
            columns: self.columns.clone(),
            loaded: pages.loaded,
            complete: pages.complete,
            capped: pages.capped && !pages.complete,
            error: pages.error.as_ref().map(ApiError::json),
        }
    }

    /// Whether nothing more will arrive.
    fn settled(pages: &Pages) -> bool {
        pages.complete || pages.capped || pages.abandoned || pages.error.is_some()
    }

    /// Wait (up to `limit`) until row `row` is loaded or no more rows will come.
    pub async fn wait_for(&self, row: usize, limit: Duration) {
        let mut seen = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            {
                let pages = self.pages();
                if pages.loaded > row || Self::settled(&pages) {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, seen.changed())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Wait (up to `limit`) for any change.
    pub async fn wait_change(&self, limit: Duration) {
        let mut seen = self.changed.subscribe();
        seen.mark_unchanged();
        let _ = tokio::time::timeout(limit, seen.changed()).await;
    }

    /// Rows `offset..offset+limit` (those loaded), each cell as display text or None for NULL.
    pub fn rows(&self, offset: usize, limit: usize) -> Vec<Vec<Option<String>>> {
        let mut out = Vec::new();
        self.each_row(offset, limit, |cells| out.push(cells.to_vec()));
        out
    }

    /// Call `f` with the cells of each loaded row in `offset..offset+limit`.
    pub fn each_row(&self, offset: usize, limit: usize, mut f: impl FnMut(&[Option<String>])) {
        let pages = self.pages();
        let end = offset.saturating_add(limit).min(pages.loaded);
        if offset >= end {
            return;
        }
        let first = match pages.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let mut cells = vec![None; self.specs.len()];
        for (batch, &start) in pages.batches[first..].iter().zip(&pages.starts[first..]) {
            if start >= end {
                break;
            }
            let renderers: Vec<_> = self
                .specs
                .iter()
                .zip(batch.columns())
                .map(|(spec, array)| CellRenderer::new(spec, array))
                .collect();
            let from = offset.saturating_sub(start);
            let to = (end - start).min(batch.num_rows());
            for row in from..to {
                for (cell, r) in cells.iter_mut().zip(&renderers) {
                    *cell = if r.is_null(row) {
                        None
                    } else {
                        let mut text = String::new();
                        r.render_text(row, &mut text);
                        Some(text)
                    };
                }
                f(&cells);
            }
        }
    }

    pub fn columns(&self) -> &[ColumnInfo] {
        &self.columns
    }

    /// The loaded pages, for export through the CLI's writers.
    pub fn batches(&self, from_batch: usize) -> Vec<RecordBatch> {
        let pages = self.pages();
        pages.batches[from_batch.min(pages.batches.len())..].to_vec()
    }

    /// Whether nothing more will arrive now.
    pub fn is_settled(&self) -> bool {
        Self::settled(&self.pages())
    }

    pub fn schema(&self) -> SchemaRef {
        SchemaRef::clone(&self.schema)
    }

    /// Rows `offset..offset+limit` (those loaded) as Arrow pages, for the CLI's writers.
    pub fn slice(&self, offset: usize, limit: usize) -> Vec<RecordBatch> {
        let pages = self.pages();
        let end = offset.saturating_add(limit).min(pages.loaded);
        let mut out = Vec::new();
        for (batch, &start) in pages.batches.iter().zip(&pages.starts) {
            let stop = start + batch.num_rows();
            if stop <= offset || start >= end {
                continue;
            }
            let from = offset.saturating_sub(start);
            let to = (end - start).min(batch.num_rows());
            out.push(batch.slice(from, to - from));
        }
        out
    }
}

/// Every result the page may still ask for.
#[derive(Default)]
pub struct Results {
    kept: Mutex<VecDeque<Arc<ResultSet>>>,
}

impl Results {
    pub fn add(&self, result: Arc<ResultSet>) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.push_back(result);
        while kept.len() > KEPT {
            if let Some(old) = kept.pop_front() {
                old.abandon();
            }
        }
    }

    pub fn get(&self, id: &str) -> Result<Arc<ResultSet>, ApiError> {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(
                    "this result is no longer kept (results are dropped when many newer ones exist): run the query again",
                )
            })
    }

    pub fn remove(&self, id: &str) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = kept.iter().position(|r| r.id == id)
            && let Some(r) = kept.remove(at)
        {
            r.abandon();
        }
    }
}
