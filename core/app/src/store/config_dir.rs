//! Where keeperdb keeps its per-user state: an explicit directory, the environment's, or the
//! platform's per-user config dir.

use std::path::{Path, PathBuf};

use super::{CONFIG_DIR_ENV, StoreError};

/// Where keeperdb keeps its per-user state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDir {
    root: PathBuf,
}

impl ConfigDir {
    /// Resolve the config dir: an explicit path, else `KEEPERDB_CONFIG_DIR`, else the
    /// platform's per-user config dir (XDG on Linux).
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Self, StoreError> {
        let root = explicit
            .or_else(|| {
                std::env::var_os(CONFIG_DIR_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| {
                directories::ProjectDirs::from("", "", "keeperdb")
                    .map(|d| d.config_dir().to_path_buf())
            })
            .ok_or(StoreError::NoConfigDir)?;
        Ok(Self { root })
    }

    /// Use exactly this directory.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
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
