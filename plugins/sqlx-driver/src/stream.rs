//! The bridge between an async producer task and the host's blocking page-by-page reads.
//!
//! The producer runs on the driver's runtime, holds the connection for the whole statement,
//! and sends pages through a bounded channel (two pages deep), so memory stays flat however
//! many rows the statement returns and the server is read only as fast as the host consumes.

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use keeperdb_driver_sdk::{DriverError, QueryResult};
use tokio::sync::mpsc;

use crate::errors::internal;

/// What a producer sends: first `Schema` or `Done` (or `Err`), then `Batch`es, then it
/// closes the channel (end of rows) or sends an `Err`.
pub enum Msg {
    Schema(SchemaRef),
    Done(u64),
    Batch(RecordBatch),
    Err(DriverError),
}

pub type Tx = mpsc::Sender<Msg>;

pub fn channel() -> (Tx, mpsc::Receiver<Msg>) {
    mpsc::channel(2)
}

/// Wait for the producer's first answer; for rows, also wait for the first page so that an
/// error raised while executing (division by zero, cancel) is returned by `execute` itself.
pub fn first_answer(mut rx: mpsc::Receiver<Msg>) -> Result<QueryResult, DriverError> {
    match rx.blocking_recv() {
        None => Err(internal("the statement's task ended without an answer")),
        Some(Msg::Err(e)) => Err(e),
        Some(Msg::Done(n)) => Ok(QueryResult::Done { rows_affected: n }),
        Some(Msg::Batch(_)) => Err(internal("rows arrived before their schema")),
        Some(Msg::Schema(schema)) => {
            let pending = match rx.blocking_recv() {
                None => None,
                Some(Msg::Batch(b)) => Some(b),
                Some(Msg::Err(e)) => return Err(e),
                Some(_) => return Err(internal("unexpected message in a row stream")),
            };
            Ok(QueryResult::Rows(Box::new(ChannelReader {
                schema,
                rx,
                pending,
            })))
        }
    }
}

struct ChannelReader {
    schema: SchemaRef,
    rx: mpsc::Receiver<Msg>,
    pending: Option<RecordBatch>,
}

impl Iterator for ChannelReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(b) = self.pending.take() {
            return Some(Ok(b));
        }
        match self.rx.blocking_recv()? {
            Msg::Batch(b) => Some(Ok(b)),
            Msg::Err(e) => {
                self.rx.close();
                Some(Err(e.into_arrow()))
            }
            _ => Some(Err(
                internal("unexpected message in a row stream").into_arrow()
            )),
        }
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
    /// An error was sent, or the host stopped reading: the rest of the result is unwanted.
    StoppedEarly,
}

/// Read rows from `rows` into `page`, sending each full page, then the last one.
/// `append` decodes one row into the page's columns and returns its approximate size.
pub async fn pump<R, S>(
    mut rows: S,
    page: &mut crate::columns::Page,
    tx: &Tx,
    map_err: impl Fn(sqlx::Error) -> DriverError,
    mut append: impl FnMut(&R, &mut [crate::columns::Col]) -> Result<usize, DriverError>,
) -> PumpEnd
where
    S: futures_util::Stream<Item = Result<R, sqlx::Error>> + Unpin,
{
    use futures_util::StreamExt;
    while let Some(item) = rows.next().await {
        let row = match item {
            Ok(row) => row,
            Err(e) => {
                let _ = tx.send(Msg::Err(map_err(e))).await;
                return PumpEnd::StoppedEarly;
            }
        };
        let bytes = match append(&row, &mut page.cols) {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.send(Msg::Err(e)).await;
                return PumpEnd::StoppedEarly;
            }
        };
        if page.row_done(bytes) && !send_page(page, tx).await {
            return PumpEnd::StoppedEarly;
        }
    }
    if page.rows > 0 && !send_page(page, tx).await {
        return PumpEnd::StoppedEarly;
    }
    PumpEnd::Finished
}

/// Send the page; false if it could not be built or the host stopped reading.
pub async fn send_page(page: &mut crate::columns::Page, tx: &Tx) -> bool {
    match page.take() {
        Ok(batch) => tx.send(Msg::Batch(batch)).await.is_ok(),
        Err(e) => {
            let _ = tx.send(Msg::Err(e)).await;
            false
        }
    }
}
