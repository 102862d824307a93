//! The `fs-read` capability: read access to exactly the files the user granted, with `~` and
//! `${VAR:-default}` in the granted paths resolved once, at load.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Linker;

use crate::sanitize::sanitize;
use crate::types::PluginError;

/// Largest file `fs-read` hands to a plugin; more would only feed a memory bomb.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// How `~` and `${VAR:-default}` in granted paths resolve: the user's home and environment,
/// captured once so that tests can pass their own.
#[derive(Debug, Clone, Default)]
pub struct PathContext {
    /// The user's home directory.
    pub home: Option<PathBuf>,
    /// Environment variables that paths may name.
    pub vars: HashMap<String, String>,
}

impl PathContext {
    /// The running process's home and environment.
    pub fn from_process() -> Self {
        Self {
            home: directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()),
            vars: std::env::vars().collect(),
        }
    }

    /// A context with a home and no environment.
    pub fn with_home(home: impl Into<PathBuf>) -> Self {
        Self {
            home: Some(home.into()),
            vars: HashMap::new(),
        }
    }

    /// Set a variable (builder style).
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }

    /// `~` or `~/...` at the start replaced by the home directory.
    pub fn expand_home(&self, path: &str) -> String {
        match (&self.home, path.strip_prefix('~')) {
            (Some(home), Some(rest)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", home.display())
            }
            _ => path.to_string(),
        }
    }

    /// Expand `${VAR}` and `${VAR:-default}` (an empty variable counts as unset), then `~`.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("`{text}`: `${{` without a closing `}}`"))?;
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`{text}`: `{name}` is not a variable name"));
            }
            match self.vars.get(name).filter(|v| !v.is_empty()) {
                Some(value) => out.push_str(value),
                None => match default {
                    Some(default) => out.push_str(&self.expand_home(default)),
                    None => return Err(format!("`{text}`: ${name} is not set")),
                },
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(self.expand_home(&out))
    }
}

/// One file a plugin may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedPath {
    /// As written in the manifest.
    pub requested: String,
    /// Resolved, absolute.
    pub path: PathBuf,
}

/// Resolve a granted fs-read path list; every entry must end up absolute.
pub fn resolve_paths(paths: &[String], ctx: &PathContext) -> Result<Vec<GrantedPath>, String> {
    paths
        .iter()
        .map(|requested| {
            let expanded = ctx.expand(requested)?;
            let path = PathBuf::from(&expanded);
            if !path.is_absolute() {
                return Err(format!(
                    "fs-read path `{requested}` resolves to `{expanded}`, which is not absolute"
                ));
            }
            if path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(format!("fs-read path `{requested}` must not contain `..`"));
            }
            Ok(GrantedPath {
                requested: requested.clone(),
                path,
            })
        })
        .collect()
}

/// What the host tells a plugin about a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Metadata {
    pub size: u64,
    /// Unix permission bits; 0 where the platform has none.
    pub mode: u32,
    pub is_file: bool,
}

/// Per-instance state of `fs-read`: the granted files, and the home that `~` in a plugin's
/// path means.
#[derive(Debug, Default)]
pub(crate) struct FsReadState {
    pub granted: Vec<GrantedPath>,
    pub paths: Arc<PathContext>,
}

impl FsReadState {
    /// The granted path a plugin's path names, or a `denied` error naming it. Only exact,
    /// already-resolved grants match: no prefixes, no `..`, no relative paths.
    fn granted_file(&self, requested: &str) -> Result<PathBuf, PluginError> {
        let expanded = self.paths.expand_home(requested);
        let grants = &self.granted;
        grants
            .iter()
            .find(|g| g.path == Path::new(&expanded))
            .map(|g| g.path.clone())
            .ok_or_else(|| {
                PluginError::Denied(format!(
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

    /// Metadata of a granted file.
    pub(crate) fn stat(&self, path: &str) -> Result<Metadata, PluginError> {
        let path = self.granted_file(path)?;
        let meta = std::fs::metadata(&path).map_err(|e| io_error(&path, e))?;
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode() & 0o7777
        };
        #[cfg(not(unix))]
        let mode = 0;
        Ok(Metadata {
            size: meta.len(),
            mode,
            is_file: meta.is_file(),
        })
    }

    /// The whole content of a granted file, up to [`MAX_FILE_BYTES`].
    pub(crate) fn read(&self, path: &str) -> Result<Vec<u8>, PluginError> {
        let path = self.granted_file(path)?;
        let file = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(&path, e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(PluginError::Unavailable(format!(
                "{} is larger than {} MiB, the most fs-read hands to a plugin",
                path.display(),
                MAX_FILE_BYTES >> 20
            )));
        }
        Ok(bytes)
    }
}

fn io_error(path: &Path, e: std::io::Error) -> PluginError {
    if e.kind() == std::io::ErrorKind::NotFound {
        PluginError::NotFound(path.display().to_string())
    } else {
        PluginError::Unavailable(format!("{}: {e}", path.display()))
    }
}

/// Link `fs-read` in every WIT version this host serves.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut FsReadState,
) -> wasmtime::Result<()> {
    crate::v0::add_fs_read_to_linker(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_home_and_variables_with_defaults() {
        let ctx = PathContext::with_home("/home/ann").var("PGPASSFILE", "/srv/pgpass");
        assert_eq!(ctx.expand("~/.pgpass").unwrap(), "/home/ann/.pgpass");
        assert_eq!(
            ctx.expand("${PGPASSFILE:-~/.pgpass}").unwrap(),
            "/srv/pgpass"
        );
        assert_eq!(
            ctx.expand("${PGSYSCONFDIR:-/etc/postgresql-common}/pg_service.conf")
                .unwrap(),
            "/etc/postgresql-common/pg_service.conf"
        );
        assert_eq!(ctx.expand("${NOPE:-~/x}").unwrap(), "/home/ann/x");
        assert!(ctx.expand("${NOPE}").unwrap_err().contains("NOPE"));
        assert!(ctx.expand("${BROKEN").is_err());
        // `~user` is not expanded.
        assert_eq!(ctx.expand("~bob/x").unwrap(), "~bob/x");
    }

    #[test]
    fn granted_paths_must_be_absolute_and_plain() {
        let ctx = PathContext::with_home("/home/ann");
        assert!(resolve_paths(&["relative/file".into()], &ctx).is_err());
        assert!(resolve_paths(&["~/../etc/passwd".into()], &ctx).is_err());
        let ok = resolve_paths(&["~/.pgpass".into()], &ctx).unwrap();
        assert_eq!(ok[0].path, PathBuf::from("/home/ann/.pgpass"));
    }
}
