//! What the host keeps per plugin instance: the grants it resolved, the memory limiter, the
//! capability back-ends (vault, progress sink).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;

use super::v0::{keeper_vault, types};

pub use keeperdb_model::capability;

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

/// What one plugin was granted, resolved for this run. `None` means not granted (and then
/// not linked); `Some` holds the scope.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Files it may read.
    pub fs_read: Option<Vec<GrantedPath>>,
    /// Hosts it may reach.
    pub http: Option<Vec<String>>,
    /// Whether it may use the vault.
    pub keeper_vault: bool,
}

impl Grants {
    /// Whether a capability is granted (log and progress always are).
    pub fn has(&self, capability: &str) -> bool {
        match capability {
            capability::LOG | capability::PROGRESS | "types" => true,
            capability::FS_READ => self.fs_read.is_some(),
            capability::HTTP => self.http.is_some(),
            capability::KEEPER_VAULT => self.keeper_vault,
            _ => false,
        }
    }

    /// Names of the granted capabilities beyond log and progress.
    pub fn names(&self) -> Vec<&'static str> {
        capability::GRANTABLE
            .into_iter()
            .filter(|c| self.has(c))
            .collect()
    }
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

/// The host side of the `keeper-vault` capability. The Keeper vault integration implements it
/// over the KSM client; the keys stay on this side. Secret field values must be withheld from
/// records returned to plugins (`redacted = true`) and resolved only by `resolve_field`.
pub trait VaultCapability: Send + Sync {
    /// Every folder the KSM application can see.
    fn list_folders(&self) -> Result<Vec<keeper_vault::Folder>, types::Error>;
    /// Records of one folder, or of every folder.
    fn list_records(
        &self,
        folder_uid: Option<&str>,
    ) -> Result<Vec<keeper_vault::VaultRecord>, types::Error>;
    /// Create a folder; returns its UID.
    fn create_folder(&self, parent_uid: &str, name: &str) -> Result<String, types::Error>;
    /// Create a record; returns its UID.
    fn create_record(
        &self,
        folder_uid: &str,
        record: &keeper_vault::NewRecord,
    ) -> Result<String, types::Error>;
    /// Delete a record.
    fn delete_record(&self, uid: &str) -> Result<(), types::Error>;
    /// Fetch a secret field for a `vault-field-ref`, host-side only.
    fn resolve_field(&self, record_uid: &str, field: &str) -> Result<SecretString, types::Error>;
}

/// Receives `progress` reports: `(done, total, message)`.
pub type ProgressSink = Arc<dyn Fn(u64, u64, &str) + Send + Sync>;

/// Memory and table limits of one instance, remembering whether a limit was hit so the trap
/// that follows can be explained.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub max_memory: usize,
    pub max_table_elements: usize,
    pub memory_exceeded: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.memory_exceeded = true;
            return Err(wasmtime::Error::msg("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }
}

/// The store data of one plugin instance.
pub(crate) struct HostState {
    pub plugin_id: String,
    pub grants: Arc<Grants>,
    pub paths: Arc<PathContext>,
    pub limiter: Limiter,
    pub last_error_log: Option<String>,
    pub progress: Option<ProgressSink>,
    pub vault: Option<Arc<dyn VaultCapability>>,
}

impl HostState {
    pub(crate) fn vault(&self) -> Result<&dyn VaultCapability, types::Error> {
        if !self.grants.keeper_vault {
            // Not linked without the grant, so unreachable from a plugin; kept as a guard.
            return Err(types::Error::Denied("keeper-vault was not granted".into()));
        }
        self.vault.as_deref().ok_or_else(|| {
            types::Error::Unavailable(
                "no Keeper vault is attached: attach one with a KSM one-time access token".into(),
            )
        })
    }
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
