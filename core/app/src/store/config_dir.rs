//! Where keeperdb keeps its per-user state: an explicit directory, the environment's, or the
//! platform's per-user config dir.

use std::path::{Path, PathBuf};

use super::{CONFIG_DIR_ENV, StoreError};

/// Where keeperdb keeps its per-user state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDir {
    root: PathBuf,
    cache: PathBuf,
    data: PathBuf,
}

impl ConfigDir {
    /// Resolve the config dir: an explicit path, else `KEEPERDB_CONFIG_DIR`, else the
    /// platform's per-user config dir (XDG on Linux). The cache goes beside it: `cache/` inside
    /// an explicit dir (a self-contained profile), else the platform's per-user cache dir.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Self, StoreError> {
        let chosen = explicit.or_else(|| {
            std::env::var_os(CONFIG_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        if let Some(root) = chosen {
            return Ok(Self::at(root));
        }
        let dirs =
            directories::ProjectDirs::from("", "", "keeperdb").ok_or(StoreError::NoConfigDir)?;
        Ok(Self {
            root: dirs.config_dir().to_path_buf(),
            cache: dirs.cache_dir().to_path_buf(),
            data: dirs.data_dir().to_path_buf(),
        })
    }

    /// Use exactly this directory, with the cache inside it.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            cache: root.join("cache"),
            data: root.join("data"),
            root,
        }
    }

    /// Where keeperdb keeps what it can rebuild (vault listings for offline use).
    pub fn cache_path(&self) -> &Path {
        &self.cache
    }

    /// Where keeperdb keeps what it cannot rebuild and is not configuration (the agents' audit
    /// log): `data/` inside an explicit dir, else the platform's per-user data dir.
    pub fn data_path(&self) -> &Path {
        &self.data
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Create the directory (owner-only on Unix) if it does not exist.
    pub fn ensure(&self) -> Result<(), StoreError> {
        keeperdb_fs::ensure_private_dir(&self.root).map_err(|source| StoreError::Io {
            path: self.root.clone(),
            source,
        })
    }
}
