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

    /// Where a granted path really is, refusing symbolic links that lead out of the grant.
    /// The grant names a file, not whatever a link there points to: a granted file replaced by
    /// a link to keeperdb's own `plugins.toml`, or to `/proc/self/environ`, must not be read.
    /// A link whose target is itself granted is fine, and so are links in the directories
    /// above the file (the user's own layout). Returns the resolved path, which the caller
    /// opens without following a link in its last component, so a link swapped in after this
    /// check fails the open instead of being followed.
    fn within_grant(&self, granted: &Path) -> Result<PathBuf, PluginError> {
        let real = std::fs::canonicalize(granted).map_err(|e| io_error(granted, e))?;
        let unlinked = granted
            .parent()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .zip(granted.file_name())
            .is_some_and(|(parent, name)| parent.join(name) == real);
        if unlinked || self.granted.iter().any(|g| g.path == real) {
            return Ok(real);
        }
        Err(PluginError::Denied(format!(
            "fs-read: `{}` is a symbolic link to `{}`, which is outside this plugin's grant; refusing to follow it",
            granted.display(),
            real.display()
        )))
    }

    /// Metadata of a granted file.
    pub(crate) fn stat(&self, path: &str) -> Result<Metadata, PluginError> {
        let granted = self.granted_file(path)?;
        let path = self.within_grant(&granted)?;
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io_error(&granted, e))?;
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
        let granted = self.granted_file(path)?;
        let path = self.within_grant(&granted)?;
        let file = open_no_follow(&path).map_err(|e| io_error(&granted, e))?;
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

/// Open `path` for reading, failing (rather than following) if its last component is a
/// symbolic link.
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
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

    #[cfg(unix)]
    #[test]
    fn a_granted_file_swapped_for_a_link_out_of_the_grant_is_not_followed() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let granted = tmp.path().join("granted");
        let other = tmp.path().join("other-granted");
        let secret = tmp.path().join("plugins.toml");
        std::fs::write(&secret, "keeperdb's own state").unwrap();
        std::fs::write(&other, "also granted").unwrap();
        let state = FsReadState {
            granted: resolve_paths(
                &[granted.display().to_string(), other.display().to_string()],
                &PathContext::default(),
            )
            .unwrap(),
            paths: Arc::default(),
        };
        let name = granted.display().to_string();
        for target in [secret.as_path(), Path::new("/proc/self/environ")] {
            let _ = std::fs::remove_file(&granted);
            symlink(target, &granted).unwrap();
            for err in [
                state.read(&name).map(|_| ()).unwrap_err(),
                state.stat(&name).map(|_| ()).unwrap_err(),
            ] {
                let text = err.to_string();
                assert!(
                    text.contains("symbolic link") && text.contains("outside this plugin's grant"),
                    "{text}"
                );
                assert!(!text.contains("keeperdb's own state"), "{text}");
            }
        }
        // A link to another granted file is read; the link's target is unchanged.
        std::fs::remove_file(&granted).unwrap();
        symlink(&other, &granted).unwrap();
        assert_eq!(state.read(&name).unwrap(), b"also granted");
        assert_eq!(std::fs::read(&secret).unwrap(), b"keeperdb's own state");
        // And an open that meets a link in the last component fails instead of following it.
        assert!(open_no_follow(&granted).is_err());
    }
}
