//! Bindings for the `keeperdb:plugin@0.x` WIT package (sdk/wit/v0) and the host side of its
//! imports. A future major gets a module of its own beside this one, served side by side.

use std::io::Read;
use std::path::Path;

use super::host::HostState;

/// The `connection-source` world; also the home of the shared imports.
pub(crate) mod source_world {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/v0",
        world: "connection-source",
    });
}

/// The `storage-backend` world, reusing the imports generated above.
pub(crate) mod storage_world {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/v0",
        world: "storage-backend",
        with: {
            "keeperdb:plugin/types": super::source_world::keeperdb::plugin::types,
            "keeperdb:plugin/log": super::source_world::keeperdb::plugin::log,
            "keeperdb:plugin/progress": super::source_world::keeperdb::plugin::progress,
            "keeperdb:plugin/fs-read": super::source_world::keeperdb::plugin::fs_read,
            "keeperdb:plugin/http": super::source_world::keeperdb::plugin::http,
            "keeperdb:plugin/keeper-vault": super::source_world::keeperdb::plugin::keeper_vault,
        },
    });
}

pub(crate) use source_world::keeperdb::plugin::{
    fs_read, http, keeper_vault, log, progress, types,
};

/// Largest file `fs-read` hands to a plugin; more would only feed a memory bomb.
const MAX_FILE_BYTES: u64 = 16 << 20;
/// Longest log message kept.
const MAX_LOG_CHARS: usize = 1024;

impl types::Host for HostState {}

/// Untrusted text from a plugin, made safe for a terminal and a log line.
pub(crate) fn sanitize(message: &str) -> String {
    let mut out: String = message
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .take(MAX_LOG_CHARS)
        .collect();
    if message.chars().count() > MAX_LOG_CHARS {
        out.push('…');
    }
    out
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let message = sanitize(&message);
        let plugin = self.plugin_id.as_str();
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => {
                tracing::error!(plugin, "{message}");
                self.last_error_log = Some(message);
            }
        }
    }
}

impl progress::Host for HostState {
    fn report(&mut self, done: u64, total: u64, message: String) {
        if let Some(sink) = &self.progress {
            sink(done, total, &sanitize(&message));
        }
    }
}

impl HostState {
    /// The granted path a plugin's path names, or a `denied` error naming it. Only exact,
    /// already-resolved grants match: no prefixes, no `..`, no relative paths.
    fn granted_file(&self, requested: &str) -> Result<std::path::PathBuf, types::Error> {
        let expanded = self.paths.expand_home(requested);
        let grants = self.grants.fs_read.as_deref().unwrap_or_default();
        grants
            .iter()
            .find(|g| g.path == Path::new(&expanded))
            .map(|g| g.path.clone())
            .ok_or_else(|| {
                types::Error::Denied(format!(
                    "fs-read: `{}` is outside this plugin's grant (it may read: {})",
                    sanitize(requested),
                    if grants.is_empty() {
                        "nothing".to_string()
                    } else {
                        grants
                            .iter()
                            .map(|g| g.path.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ))
            })
    }
}

fn io_error(path: &Path, e: std::io::Error) -> types::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        types::Error::NotFound(path.display().to_string())
    } else {
        types::Error::Unavailable(format!("{}: {e}", path.display()))
    }
}

impl fs_read::Host for HostState {
    fn granted_paths(&mut self) -> Vec<fs_read::Grant> {
        self.grants
            .fs_read
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|g| fs_read::Grant {
                requested: g.requested.clone(),
                path: g.path.display().to_string(),
            })
            .collect()
    }

    fn stat(&mut self, path: String) -> Result<fs_read::Metadata, types::Error> {
        let path = self.granted_file(&path)?;
        let meta = std::fs::metadata(&path).map_err(|e| io_error(&path, e))?;
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode() & 0o7777
        };
        #[cfg(not(unix))]
        let mode = 0;
        Ok(fs_read::Metadata {
            size: meta.len(),
            mode,
            is_file: meta.is_file(),
        })
    }

    fn read(&mut self, path: String) -> Result<Vec<u8>, types::Error> {
        let path = self.granted_file(&path)?;
        let file = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(&path, e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(types::Error::Unavailable(format!(
                "{} is larger than {} MiB, the most fs-read hands to a plugin",
                path.display(),
                MAX_FILE_BYTES >> 20
            )));
        }
        Ok(bytes)
    }
}

impl http::Host for HostState {
    fn send(&mut self, request: http::Request) -> Result<http::Response, types::Error> {
        let url = url::Url::parse(&request.url).map_err(|e| {
            types::Error::Denied(format!(
                "http: `{}` is not a URL: {e}",
                sanitize(&request.url)
            ))
        })?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let hosts = self.grants.http.as_deref().unwrap_or_default();
        if url.scheme() != "https" || !hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
            return Err(types::Error::Denied(format!(
                "http: `{}` is outside this plugin's grant (it may reach: {})",
                sanitize(&request.url),
                if hosts.is_empty() {
                    "nothing".to_string()
                } else {
                    hosts.join(", ")
                }
            )));
        }
        // The seam for an HTTP client: no first-party plugin needs one yet, and pulling one
        // into core for nothing would slow every build.
        Err(types::Error::Unavailable(
            "http: this keeperdb does not implement outgoing requests yet".into(),
        ))
    }
}

impl keeper_vault::Host for HostState {
    fn list_folders(&mut self) -> Result<Vec<keeper_vault::Folder>, types::Error> {
        self.vault()?.list_folders()
    }

    fn list_records(
        &mut self,
        folder_uid: Option<String>,
    ) -> Result<Vec<keeper_vault::VaultRecord>, types::Error> {
        self.vault()?.list_records(folder_uid.as_deref())
    }

    fn create_folder(&mut self, parent_uid: String, name: String) -> Result<String, types::Error> {
        self.vault()?.create_folder(&parent_uid, &name)
    }

    fn create_record(
        &mut self,
        folder_uid: String,
        record: keeper_vault::NewRecord,
    ) -> Result<String, types::Error> {
        self.vault()?.create_record(&folder_uid, &record)
    }

    fn delete_record(&mut self, uid: String) -> Result<(), types::Error> {
        self.vault()?.delete_record(&uid)
    }
}
