//! The `log` capability (always linked): plugin messages into the host's log, remembering the
//! last error so that a trap which follows can be explained with it.

use wasmtime::component::Linker;

use crate::sanitize::sanitize;

/// Severity of a plugin's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Most messages one call may log; the rest are counted and reported as dropped.
pub(crate) const MAX_MESSAGES_PER_CALL: usize = 100;
/// Most bytes of messages one call may log.
pub(crate) const MAX_BYTES_PER_CALL: usize = 64 << 10;

/// Per-instance state of `log`.
#[derive(Debug)]
pub(crate) struct LogState {
    pub plugin_id: String,
    /// The last error logged during the current call.
    pub last_error: Option<String>,
    /// Messages and bytes written during the current call, and messages dropped.
    written: usize,
    bytes: usize,
    dropped: usize,
}

impl LogState {
    pub(crate) fn new(plugin_id: String) -> Self {
        Self {
            plugin_id,
            last_error: None,
            written: 0,
            bytes: 0,
            dropped: 0,
        }
    }

    /// A call starts: its budget is fresh.
    pub(crate) fn begin_call(&mut self) {
        self.last_error = None;
        self.written = 0;
        self.bytes = 0;
        self.dropped = 0;
    }

    /// A call ended: say how many of its messages were dropped, if any.
    pub(crate) fn end_call(&mut self) {
        if self.dropped > 0 {
            tracing::warn!(
                plugin = self.plugin_id.as_str(),
                "dropped {} more log messages of this call (a call may log {MAX_MESSAGES_PER_CALL} messages, {} KiB)",
                self.dropped,
                MAX_BYTES_PER_CALL >> 10
            );
            self.dropped = 0;
        }
    }

    /// Write one message, tagged with the plugin id, within the call's budget. Line breaks are
    /// escaped, so a message is one log line and cannot pass for a record of the host's.
    pub(crate) fn log(&mut self, level: Level, message: &str) {
        let message = sanitize(message).replace('\n', "\\n");
        if level == Level::Error {
            // Kept even when dropped from the log: it explains a trap that follows.
            self.last_error = Some(message.clone());
        }
        if self.written >= MAX_MESSAGES_PER_CALL || self.bytes + message.len() > MAX_BYTES_PER_CALL
        {
            self.dropped += 1;
            return;
        }
        self.written += 1;
        self.bytes += message.len();
        let plugin = self.plugin_id.as_str();
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// Link `log` in every WIT version this host serves.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LogState,
) -> wasmtime::Result<()> {
    crate::v0::add_log_to_linker(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_messages_is_cut_per_call_and_a_line_break_cannot_start_a_host_record() {
        let mut log = LogState::new("flood".into());
        log.begin_call();
        for _ in 0..10_000 {
            log.log(Level::Warn, &"x".repeat(1000));
        }
        assert_eq!(
            log.written,
            (MAX_BYTES_PER_CALL / 1000).min(MAX_MESSAGES_PER_CALL)
        );
        assert!(log.bytes <= MAX_BYTES_PER_CALL);
        assert_eq!(log.dropped, 10_000 - log.written);
        log.log(
            Level::Error,
            "boom\n2026-01-01T00:00:00Z  INFO keeperdb_core: fake",
        );
        assert_eq!(
            log.last_error.as_deref(),
            Some("boom\\n2026-01-01T00:00:00Z  INFO keeperdb_core: fake")
        );
        log.end_call();
        assert_eq!(log.dropped, 0);
        // The next call has its own budget.
        log.begin_call();
        log.log(Level::Info, "fresh");
        assert_eq!(log.written, 1);
    }
}
