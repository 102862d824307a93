//! The `progress` capability (always linked): live progress of long plugin work, handed to a
//! sink the embedder chose.

use std::sync::Arc;

use wasmtime::component::Linker;

use crate::sanitize::sanitize;

/// Receives `progress` reports: `(done, total, message)`.
pub type ProgressSink = Arc<dyn Fn(u64, u64, &str) + Send + Sync>;

/// Per-instance state of `progress`: where reports go, if anywhere.
pub(crate) struct ProgressState {
    pub sink: Option<ProgressSink>,
}

impl ProgressState {
    /// Pass one report on; without a sink it is dropped.
    pub(crate) fn report(&mut self, done: u64, total: u64, message: &str) {
        if let Some(sink) = &self.sink {
            sink(done, total, &sanitize(message));
        }
    }
}

/// Link `progress` in every WIT version this host serves.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ProgressState,
) -> wasmtime::Result<()> {
    crate::v0::add_progress_to_linker(linker, get)
}
