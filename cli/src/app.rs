//! What every command needs: the config dir, the local store, and the registry of sources.

use std::path::PathBuf;
use std::sync::Arc;

use keeperdb_core::Registry;
use keeperdb_core::secret_store::SecretStore;
use keeperdb_core::store::{ConfigDir, LocalSource, LocalStore};

/// The shell's view of core.
pub struct App {
    /// keeperdb's own saved connections and preferences.
    pub store: LocalStore,
}

impl App {
    /// Open the config dir (nothing is created until something is written).
    pub fn new(config_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let dir = ConfigDir::resolve(config_dir)?;
        tracing::debug!(config_dir = %dir.path().display(), "using config dir");
        Ok(Self {
            store: LocalStore::new(dir, SecretStore::default()),
        })
    }

    /// Every connection source the user has: the local store first, then enabled plugins.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        registry.add_source(Arc::new(LocalSource::new(self.store.clone())));
        crate::plugins::add_sources(self, &mut registry);
        registry
    }
}
