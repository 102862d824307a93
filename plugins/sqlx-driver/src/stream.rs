//! The bridge between an async producer task and the host's blocking page-by-page reads.
//!
//! The producer runs on the driver's runtime, holds the connection for the whole statement,
//! and sends pages through a bounded channel (two pages deep), so memory stays flat however
//! many rows the statement returns and the server is read only as fast as the host consumes.

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use keeperdb_driver_sdk::{DriverError, QueryResult};
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

use crate::CancelState;
use crate::columns::{Col, Page};
use crate::errors::{Ctx, internal, map};

/// What a producer sends: first `Schema` or `Done` (or `Err`), then `Batch`es, then `End` or
/// an `Err`. A channel that closes without either means the task died (a panic): the host gets
/// an error rather than a silently truncated result.
pub enum Msg {
    Schema(SchemaRef),
    Done(u64),
    Batch(RecordBatch),
    End,
    Err(DriverError),
}

fn died() -> DriverError {
    internal(
        "the rest of this result is gone: another statement was started on the connection before it was read, or the driver's task failed",
    )
}

/// The producer's end: sends pages, and gives up when the host stops reading or starts another
/// statement on the same connection (which supersedes this one's unread rows).
pub struct Tx {
    tx: mpsc::Sender<Msg>,
    superseded: Arc<Notify>,
}

impl Tx {
    /// Send a message; false when nobody will read it any more.
    pub async fn send(&self, msg: Msg) -> bool {
        tokio::select! {
            sent = self.tx.send(msg) => sent.is_ok(),
            _ = self.superseded.notified() => false,
        }
    }
}

/// A new channel, and the handle that supersedes its statement.
pub fn channel() -> (Tx, mpsc::Receiver<Msg>, Arc<Notify>) {
    let (tx, rx) = mpsc::channel(2);
    let superseded = Arc::new(Notify::new());
    (
        Tx {
            tx,
            superseded: superseded.clone(),
        },
        rx,
        superseded,
    )
}

/// Wait for the producer's first answer; for rows, also wait for the first page so that an
/// error raised while executing (division by zero, cancel) is returned by `execute` itself.
pub fn first_answer(mut rx: mpsc::Receiver<Msg>) -> Result<QueryResult, DriverError> {
    match rx.blocking_recv() {
        None => Err(internal("the statement's task ended without an answer")),
        Some(Msg::Err(e)) => Err(e),
        Some(Msg::Done(n)) => Ok(QueryResult::Done { rows_affected: n }),
        Some(Msg::Batch(_)) | Some(Msg::End) => Err(internal("rows arrived before their schema")),
        Some(Msg::Schema(schema)) => {
            let (pending, ended) = match rx.blocking_recv() {
                None => return Err(died()),
                Some(Msg::End) => (None, true),
                Some(Msg::Batch(b)) => (Some(b), false),
                Some(Msg::Err(e)) => return Err(e),
                Some(_) => return Err(internal("unexpected message in a row stream")),
            };
            Ok(QueryResult::Rows(Box::new(ChannelReader {
                schema,
                rx,
                pending,
                ended,
            })))
        }
    }
}

struct ChannelReader {
    schema: SchemaRef,
    rx: mpsc::Receiver<Msg>,
    pending: Option<RecordBatch>,
    ended: bool,
}

impl Iterator for ChannelReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(b) = self.pending.take() {
            return Some(Ok(b));
        }
        if self.ended {
            return None;
        }
        let answer = match self.rx.blocking_recv() {
            Some(Msg::Batch(b)) => return Some(Ok(b)),
            Some(Msg::End) => {
                self.ended = true;
                return None;
            }
            Some(Msg::Err(e)) => e,
            None => died(),
            Some(_) => internal("unexpected message in a row stream"),
        };
        self.ended = true;
        self.rx.close();
        Some(Err(answer.into_arrow()))
    }
}

impl RecordBatchReader for ChannelReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// How a pump over rows ended.
pub enum PumpEnd {
    /// Every row was read and sent.
    Finished,
    /// The statement is over on the server (it failed, or every row was read) but the host did
    /// not get everything: an error was sent or the host stopped reading. Nothing to stop.
    Ended,
    /// Rows may still be coming (the host stopped reading, or a row could not be decoded): the
    /// server must be told to stop.
    StoppedEarly,
}

/// Read rows from `rows` into `page`, sending each full page, then the last one.
/// `append` decodes one row into the page's columns and returns its approximate size.
pub async fn pump<R, S>(
    mut rows: S,
    page: &mut Page,
    tx: &Tx,
    map_err: impl Fn(sqlx::Error) -> DriverError,
    mut append: impl FnMut(&R, &mut [Col]) -> Result<usize, DriverError>,
) -> PumpEnd
where
    S: futures_util::Stream<Item = Result<R, sqlx::Error>> + Unpin,
{
    use futures_util::StreamExt;
    while let Some(item) = rows.next().await {
        let row = match item {
            Ok(row) => row,
            Err(e) => {
                tx.send(Msg::Err(map_err(e))).await;
                return PumpEnd::Ended;
            }
        };
        let bytes = match append(&row, &mut page.cols) {
            Ok(b) => b,
            Err(e) => {
                tx.send(Msg::Err(e)).await;
                return PumpEnd::StoppedEarly;
            }
        };
        if page.row_done(bytes) && !send_page(page, tx).await {
            return PumpEnd::StoppedEarly;
        }
    }
    if page.rows > 0 && !send_page(page, tx).await {
        return PumpEnd::Ended;
    }
    PumpEnd::Finished
}

/// Send the page; false if it could not be built or the host stopped reading.
async fn send_page(page: &mut Page, tx: &Tx) -> bool {
    match page.take() {
        Ok(batch) => tx.send(Msg::Batch(batch)).await,
        Err(e) => {
            tx.send(Msg::Err(e)).await;
            false
        }
    }
}

/// The answer to a statement without rows: its count, or its error. A cancel that arrived
/// while it ran counts only if the server says so (PostgreSQL 57014, MariaDB 1317, SQLite
/// `SQLITE_INTERRUPT`): a statement that ran to its end did what it was asked, and reporting
/// `Cancelled` for it would hide a cancel that never reached the server.
pub fn done(result: Result<u64, sqlx::Error>, ctx: &Ctx<'_>) -> Msg {
    match result {
        Ok(n) => Msg::Done(n),
        Err(e) => Msg::Err(map(e, ctx)),
    }
}

/// The end of a statement with rows: `End` when every row was read (a cancel the server did not
/// act on changes nothing, see [`done`]). A statement stopped early is stopped on the server instead of read to its end, while we
/// still hold the connection so that no later statement can be hit by this cancel; the ping
/// waits until the connection is quiet again (for SQLite: until the worker thread has left
/// the interrupted statement), then the cancel is taken back.
pub async fn finish<C: sqlx::Connection>(
    end: PumpEnd,
    conn: &mut C,
    tx: &Tx,
    cancel: &CancelState,
) {
    match end {
        PumpEnd::Finished => {
            tx.send(Msg::End).await;
        }
        PumpEnd::Ended => {}
        PumpEnd::StoppedEarly => {
            let _ = cancel.server_cancel().await;
            let _ = conn.ping().await;
            cancel.settle();
        }
    }
}
