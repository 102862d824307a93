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

/// Per-instance state of `log`.
#[derive(Debug)]
pub(crate) struct LogState {
    pub plugin_id: String,
    /// The last error logged during the current call.
    pub last_error: Option<String>,
}

impl LogState {
    pub(crate) fn new(plugin_id: String) -> Self {
        Self {
            plugin_id,
            last_error: None,
        }
    }

    /// Write one message, tagged with the plugin id.
    pub(crate) fn log(&mut self, level: Level, message: &str) {
        let message = sanitize(message);
        let plugin = self.plugin_id.as_str();
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => {
                tracing::error!(plugin, "{message}");
                self.last_error = Some(message);
            }
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
