//! Loading the enabled plugins: WASM sources and storage backends through
//! `keeperdb-wasm-host`, drivers through `keeperdb-driver-host`, each only after its installed
//! manifest is checked against what the user consented to; and the stand-in source that
//! shows a failure where the plugin's connections would have been.

use std::path::Path;
use std::sync::Arc;

use super::consent::within;
use super::{InstalledPlugin, PluginEntry, PluginError, PluginStore};
use keeperdb_model::capability;
use keeperdb_model::connection::Connection;
use keeperdb_model::connection::Origin;
use keeperdb_model::credentials::Credentials;
use keeperdb_model::driver::Driver;
use keeperdb_model::manifest::{Manifest, PluginKind};
use keeperdb_model::signature;
use keeperdb_model::source::{
    ConnectionSource, SourceError, SourceInfo, SourceListing, is_reserved_badge,
    is_reserved_source_id,
};
use keeperdb_model::storage::StorageBackend;
use keeperdb_wasm_host::{LoadOptions, LoadedPlugin, WasmRuntime, WasmSource, WasmStorage};

use crate::vaults::{VaultBinding, VaultSource};

/// What loading the enabled plugins produced.
#[derive(Default)]
pub struct LoadedPlugins {
    /// Connection sources, ready for the registry. A plugin that failed to load is present as
    /// a source whose listing fails with the reason, so the failure shows where its
    /// connections would have.
    pub sources: Vec<Arc<dyn ConnectionSource>>,
    /// Storage backends.
    pub storage: Vec<Arc<dyn StorageBackend>>,
    /// Plugins that could not be loaded, with why.
    pub failures: Vec<(String, String)>,
}

/// What loading the enabled driver plugins produced.
#[derive(Default)]
pub struct LoadedDrivers {
    /// Drivers, ready to connect.
    pub drivers: Vec<Arc<dyn Driver>>,
    /// Driver plugins that could not be loaded, with why.
    pub failures: Vec<(String, String)>,
}

impl PluginStore {
    /// Load every enabled plugin. A source granted `keeper-vault` is loaded once per attached
    /// vault in `vaults`, each instance bound to its vault. Failures do not stop the others:
    /// each is reported, and a failed source still appears (its listing fails with the reason).
    pub fn load_enabled(
        &self,
        runtime: &WasmRuntime,
        base: &LoadOptions,
        vaults: &[VaultBinding],
    ) -> Result<LoadedPlugins, PluginError> {
        let mut out = LoadedPlugins::default();
        for entry in self.list()? {
            // Drivers are native libraries, loaded on demand by `load_enabled_drivers`; storage
            // backends only for a sync, bound to its vault (`load_storage`).
            if !entry.installed.enabled || entry.installed.kind != PluginKind::ConnectionSource {
                continue;
            }
            let id = entry.id.clone();
            let vault_source = entry.installed.kind == PluginKind::ConnectionSource
                && entry
                    .installed
                    .granted
                    .contains_key(capability::KEEPER_VAULT);
            if vault_source {
                // One instance per attached vault, each with its own identity; none without.
                for binding in vaults {
                    match self.load_for_vault(runtime, base, &entry, binding) {
                        Ok(source) => out.sources.push(source),
                        Err(e) => {
                            let message = e.to_string();
                            tracing::warn!(plugin = %id, vault = %binding.name, "not loaded: {message}");
                            out.sources.push(Arc::new(FailedSource {
                                id: binding.source_id(&id),
                                badge: vault_badge(&id, &entry.installed),
                                message: message.clone(),
                            }));
                            out.failures.push((id.clone(), message));
                        }
                    }
                }
                continue;
            }
            match self.load_one(runtime, base, &entry) {
                Ok(Loaded::Source(s)) => out.sources.push(s),
                Ok(Loaded::Storage(s)) => out.storage.push(s),
                Err(e) => {
                    let message = e.to_string();
                    tracing::warn!(plugin = %id, "not loaded: {message}");
                    if entry.installed.kind == PluginKind::ConnectionSource {
                        let badge = entry
                            .manifest
                            .as_ref()
                            .and_then(|m| m.badge.clone())
                            .unwrap_or_else(|| id.clone());
                        out.sources.push(Arc::new(FailedSource {
                            id: id.clone(),
                            badge,
                            message: message.clone(),
                        }));
                    }
                    out.failures.push((id, message));
                }
            }
        }
        Ok(out)
    }

    /// Load every enabled driver plugin through the driver host (API range, sha256, ABI
    /// checked there), after checking it is the version the user installed. Returns the drivers
    /// and, separately, the plugins that failed with why; one failure does not stop the others.
    pub fn load_enabled_drivers(&self) -> Result<LoadedDrivers, PluginError> {
        let mut out = LoadedDrivers::default();
        for entry in self.list()? {
            if !entry.installed.enabled || entry.installed.kind != PluginKind::Driver {
                continue;
            }
            let loaded = Manifest::load(&entry.dir)
                .map_err(PluginError::from)
                .and_then(|manifest| {
                    check_against_state(&entry.id, &entry.dir, &manifest, &entry.installed)?;
                    keeperdb_driver_host::load_with_manifest(&entry.dir, &manifest)
                        .map_err(|e| PluginError::Driver(Box::new(e)))
                });
            match loaded {
                Ok(driver) => out.drivers.push(driver),
                Err(e) => out.failures.push((entry.id.clone(), e.to_string())),
            }
        }
        Ok(out)
    }

    /// The instance of a vault source plugin bound to one attachment: its connections carry
    /// the source id `PLUGIN@VAULT`, the vault's name, and the host-given badge.
    fn load_for_vault(
        &self,
        runtime: &WasmRuntime,
        base: &LoadOptions,
        entry: &PluginEntry,
        binding: &VaultBinding,
    ) -> Result<Arc<dyn ConnectionSource>, PluginError> {
        let manifest = Manifest::load(&entry.dir)?;
        check_against_state(&entry.id, &entry.dir, &manifest, &entry.installed)?;
        let mut options = base.clone();
        options.granted = entry.installed.granted.keys().cloned().collect();
        options.vault = Some(Arc::new(binding.vault.clone()));
        let plugin = Arc::new(self.load_wasm(runtime, entry, options)?);
        let origin = Origin {
            source: binding.source_id(&entry.id),
            badge: vault_badge(&entry.id, &entry.installed),
            vault: Some(binding.name.clone()),
        };
        Ok(Arc::new(VaultSource {
            name: binding.name.clone(),
            inner: WasmSource::with_origin(plugin, origin)?,
            vault: binding.vault.clone(),
            cache: binding.cache.clone(),
        }))
    }

    /// A storage backend plugin, with `vault` behind its `keeper-vault` capability.
    pub(crate) fn load_storage(
        &self,
        runtime: &WasmRuntime,
        base: &LoadOptions,
        entry: &PluginEntry,
        vault: keeperdb_keeper::KsmVault,
    ) -> Result<Arc<dyn StorageBackend>, PluginError> {
        let manifest = Manifest::load(&entry.dir)?;
        check_against_state(&entry.id, &entry.dir, &manifest, &entry.installed)?;
        if !entry.installed.enabled {
            return Err(PluginError::Disabled(entry.id.clone()));
        }
        let mut options = base.clone();
        options.granted = entry.installed.granted.keys().cloned().collect();
        options.vault = Some(Arc::new(vault));
        let plugin = Arc::new(self.load_wasm(runtime, entry, options)?);
        Ok(Arc::new(WasmStorage::new(plugin)?))
    }

    fn load_one(
        &self,
        runtime: &WasmRuntime,
        base: &LoadOptions,
        entry: &PluginEntry,
    ) -> Result<Loaded, PluginError> {
        let manifest = Manifest::load(&entry.dir)?;
        check_against_state(&entry.id, &entry.dir, &manifest, &entry.installed)?;
        let mut options = base.clone();
        options.granted = entry.installed.granted.keys().cloned().collect();
        let plugin = Arc::new(self.load_wasm(runtime, entry, options)?);
        Ok(match manifest.kind {
            PluginKind::StorageBackend => Loaded::Storage(Arc::new(WasmStorage::new(plugin)?)),
            _ => Loaded::Source(Arc::new(WasmSource::new(plugin)?)),
        })
    }
}

impl PluginStore {
    /// Load a WASM plugin trusting its compiled cache entry only by the digest recorded in
    /// the state, and record the digest of a fresh entry for the next start.
    fn load_wasm(
        &self,
        runtime: &WasmRuntime,
        entry: &PluginEntry,
        mut options: LoadOptions,
    ) -> Result<LoadedPlugin, PluginError> {
        options.compiled = entry.installed.compiled.clone();
        let plugin = LoadedPlugin::load(runtime, &entry.dir, options)?;
        if let Some(digest) = plugin.compiled_digest()
            && entry.installed.compiled.as_deref() != Some(digest)
            && let Err(e) = self.record_compiled(&entry.id, &entry.installed.sha256, digest)
        {
            // Only the next start's compile is lost.
            tracing::warn!(plugin = %entry.id, "cannot record the compiled plugin: {e}");
        }
        Ok(plugin)
    }
}

enum Loaded {
    Source(Arc<dyn ConnectionSource>),
    Storage(Arc<dyn StorageBackend>),
}

/// The installed manifest must be the one consented to: same sha256, nothing beyond the grant,
/// signed by the publisher trusted at install.
pub(super) fn check_against_state(
    id: &str,
    dir: &Path,
    manifest: &Manifest,
    installed: &InstalledPlugin,
) -> Result<(), PluginError> {
    let mismatch = |message: String| PluginError::GrantMismatch {
        id: id.to_string(),
        message,
    };
    if manifest.id != id {
        return Err(mismatch(format!(
            "its plugin.toml now says id `{}`",
            manifest.id
        )));
    }
    if !manifest.sha256.eq_ignore_ascii_case(&installed.sha256) {
        return Err(mismatch(
            "its plugin.toml names a different payload hash than the one installed".into(),
        ));
    }
    for (name, request) in &manifest.capabilities {
        if !capability::GRANTABLE.contains(&name.as_str()) {
            continue;
        }
        match installed.granted.get(name) {
            Some(granted) if within(request, granted) => {}
            Some(_) => {
                return Err(mismatch(format!(
                    "its plugin.toml asks for a wider `{name}` scope than was granted"
                )));
            }
            None => {
                return Err(mismatch(format!(
                    "its plugin.toml asks for `{name}`, which was never granted"
                )));
            }
        }
    }
    let found = signature::verify_dir(dir)?;
    if found != installed.publisher() {
        return Err(mismatch(format!(
            "it was installed from {}, but its files are now signed as {found}",
            installed.publisher()
        )));
    }
    check_reserved(manifest, &found)
}

/// Source ids and badges are the host's to give: a plugin not signed by the project may not
/// take the local store's id, the `Local` or `Vault` badge, or any other reserved one.
pub(super) fn check_reserved(
    manifest: &Manifest,
    publisher: &signature::Publisher,
) -> Result<(), PluginError> {
    if publisher.is_first_party() {
        return Ok(());
    }
    let reserved = |message: String| PluginError::Reserved {
        id: manifest.id.clone(),
        message,
    };
    if is_reserved_source_id(&manifest.id) {
        return Err(reserved(format!("its id `{}` is reserved", manifest.id)));
    }
    if let Some(badge) = manifest.badge.as_deref().filter(|b| is_reserved_badge(b)) {
        return Err(reserved(format!("its badge `{badge}` is reserved")));
    }
    Ok(())
}

/// The badge of a vault-bound instance: `Vault` is the first-party vault source's (the
/// project's signature and that id, both recorded at install), and no other plugin gets it.
fn vault_badge(plugin_id: &str, installed: &InstalledPlugin) -> String {
    if plugin_id == crate::vaults::VAULT_SOURCE_PLUGIN && installed.publisher().is_first_party() {
        "Vault".into()
    } else {
        plugin_id.to_string()
    }
}

/// A source standing for plugins that could not be loaded: listing it reports why.
pub(crate) fn failed_source(id: &str, message: String) -> Arc<dyn ConnectionSource> {
    Arc::new(FailedSource {
        id: id.to_string(),
        badge: id.to_string(),
        message,
    })
}

/// A source that failed to load: listing it reports why.
struct FailedSource {
    id: String,
    badge: String,
    message: String,
}

impl ConnectionSource for FailedSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            id: self.id.clone(),
            badge: self.badge.clone(),
            vault: None,
        }
    }

    fn list(&self) -> Result<SourceListing, SourceError> {
        Err(SourceError::Plugin {
            plugin: self.id.clone(),
            message: format!("not loaded: {}", self.message),
        })
    }

    fn credentials(&self, connection: &Connection) -> Result<Credentials, SourceError> {
        Err(SourceError::NotFound(connection.id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::Consent;
    use super::super::fixtures::package;
    use super::*;
    use keeperdb_model::manifest::MANIFEST_FILE;

    #[test]
    fn a_manifest_widened_after_install_is_refused_at_load() {
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        store
            .install(
                store
                    .stage(&package(tmp.path(), "0.1.0", &["~/.a"]))
                    .unwrap(),
                Consent::ALL,
            )
            .unwrap();
        let path = store.root().join("demo").join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("\"~/.a\"", "\"~/.a\", \"/etc/shadow\"")).unwrap();
        let status = store.info("demo").unwrap().status.to_string();
        assert!(
            status.starts_with("broken:") && status.contains("wider `fs-read`"),
            "{status}"
        );
    }

    #[test]
    fn driver_plugins_are_managed_the_same_and_handed_to_the_driver_host() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = package(tmp.path(), "0.1.0", &[]);
        let text = fs::read_to_string(pkg.join(MANIFEST_FILE)).unwrap();
        fs::write(
            pkg.join(MANIFEST_FILE),
            text.replace("connection-source", "driver")
                .replace("id = \"demo\"", "id = \"demo-driver\""),
        )
        .unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        store
            .install(store.stage(&pkg).unwrap(), Consent::ALL)
            .unwrap();
        // The WASM loader leaves drivers to the driver host.
        let rt = WasmRuntime::new(None).unwrap();
        let loaded = store
            .load_enabled(&rt, &LoadOptions::default(), &[])
            .unwrap();
        assert!(loaded.failures.is_empty() && loaded.sources.is_empty());

        // Handed to the driver host, which refuses a payload that is no shared library, naming
        // the plugin (real libraries are loaded in core/tests/driver_host.rs).
        let loaded = store.load_enabled_drivers().unwrap();
        assert!(loaded.drivers.is_empty());
        assert_eq!(loaded.failures.len(), 1);
        assert_eq!(loaded.failures[0].0, "demo-driver");

        // Tampered after install: refused before it is ever opened.
        fs::write(store.root().join("demo-driver/payload.wasm"), b"evil").unwrap();
        let failures = store.load_enabled_drivers().unwrap().failures;
        assert!(failures[0].1.contains("sha256"), "{failures:?}");

        store.set_enabled("demo-driver", false).unwrap();
        assert!(store.is_disabled("demo-driver"));
        let loaded = store.load_enabled_drivers().unwrap();
        assert!(loaded.failures.is_empty() && loaded.drivers.is_empty());
    }
}
