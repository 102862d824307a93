//! The operations on installed plugins: install (fresh or upgrade) once consent is given,
//! list and info with each plugin's payload re-verified, enable, disable and remove.

use std::fs::{self, File};
use std::path::Path;

use super::consent::{self, Consent, Staged};
use super::load::check_against_state;
use super::state::STATE_VERSION;
use super::{InstalledPlugin, PluginEntry, PluginError, PluginStatus, PluginStore, io};
use keeperdb_model::manifest::{MANIFEST_FILE, Manifest};
use keeperdb_model::signature::{self, Publisher, SIGNATURE_FILE};

impl PluginStore {
    /// Install a staged package. `consent` says what the user agreed to: the capabilities
    /// shown (required when [`Staged::needs_consent`]) and, separately, the publisher concern
    /// shown (required when [`Staged::publisher_concern`] has one). The new version is enabled
    /// when it is a fresh install, and keeps the old enabled flag on upgrade.
    pub fn install(&self, staged: Staged, consent: Consent) -> Result<PluginEntry, PluginError> {
        self.install_keeping(staged, consent, &[])
    }

    /// [`install`](Self::install), recording in the same write, for each (engine, driver) in
    /// `keep` whose engine has no driver recorded yet, that this driver serves it: a new
    /// driver never takes an engine from the one serving it.
    pub(crate) fn install_keeping(
        &self,
        staged: Staged,
        consent: Consent,
        keep: &[(keeperdb_model::Engine, String)],
    ) -> Result<PluginEntry, PluginError> {
        staged.check_consent(consent)?;
        let id = staged.manifest.id.clone();
        self.locked(|| {
            // Verify again right before copying: the staged files may have changed since.
            let bytes = staged.manifest.read_verified_payload(&staged.dir)?;
            let tmp = tempfile::Builder::new()
                .prefix(&format!(".install-{id}-"))
                .tempdir_in(&self.root)
                .map_err(io(&self.root))?;
            let manifest_text = fs::read(staged.dir.join(MANIFEST_FILE))
                .map_err(io(&staged.dir.join(MANIFEST_FILE)))?;
            write_synced(&tmp.path().join(MANIFEST_FILE), &manifest_text)?;
            write_synced(&tmp.path().join(&staged.manifest.payload), &bytes)?;
            // Verified again with the manifest bytes being installed, so what is recorded as
            // the publisher signed exactly what lands.
            let sig_path = staged.dir.join(SIGNATURE_FILE);
            let publisher = match fs::read_to_string(&sig_path) {
                Ok(sig) => {
                    let publisher = signature::verify(&manifest_text, &sig, &sig_path)?;
                    write_synced(&tmp.path().join(SIGNATURE_FILE), sig.as_bytes())?;
                    publisher
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Publisher::Unsigned,
                Err(e) => return Err(io(&sig_path)(e)),
            };
            if publisher != staged.publisher {
                return Err(PluginError::PublisherNotTrusted {
                    id: id.clone(),
                    concern: "its signature changed while it was being installed".into(),
                });
            }

            let target = self.root.join(&id);
            let old = if target.exists() {
                let old = self
                    .root
                    .join(format!(".old-{id}-{}", uuid::Uuid::new_v4()));
                fs::rename(&target, &old).map_err(io(&target))?;
                Some(old)
            } else {
                None
            };
            let staged_dir = tmp.keep();
            if let Err(e) = fs::rename(&staged_dir, &target) {
                if let Some(old) = &old {
                    let _ = fs::rename(old, &target);
                }
                let _ = fs::remove_dir_all(&staged_dir);
                return Err(io(&target)(e));
            }

            let mut state = self.read_state()?;
            let enabled = staged.replaces.as_ref().is_none_or(|old| old.enabled);
            let granted = consent::granted_by(&staged.manifest);
            let record = InstalledPlugin {
                version: staged.manifest.version.clone(),
                kind: staged.manifest.kind,
                sha256: staged.manifest.sha256.to_ascii_lowercase(),
                enabled,
                publisher: publisher.key(),
                // Compiled when it was staged (WASM); a driver is never compiled.
                compiled: staged.compiled.clone(),
                granted,
            };
            state.version = STATE_VERSION;
            state.plugins.insert(id.clone(), record.clone());
            super::engines::record_first(&mut state.engines, keep);
            self.write_state(&state)?;
            if let Some(old) = old {
                let _ = fs::remove_dir_all(old);
            }
            tracing::info!(plugin = %id, version = %record.version, "installed plugin");
            Ok(PluginEntry {
                id: id.clone(),
                installed: record,
                manifest: Some(staged.manifest.clone()),
                status: if enabled {
                    PluginStatus::Enabled
                } else {
                    PluginStatus::Disabled
                },
                dir: target,
            })
        })
    }

    /// Every installed plugin, by id, with its status (payloads are re-hashed, so a tampered
    /// plugin shows as broken).
    pub fn list(&self) -> Result<Vec<PluginEntry>, PluginError> {
        let state = self.read_state()?;
        Ok(state
            .plugins
            .into_iter()
            .map(|(id, installed)| self.entry(id, installed))
            .collect())
    }

    fn entry(&self, id: String, installed: InstalledPlugin) -> PluginEntry {
        let dir = self.root.join(&id);
        let checked = Manifest::load(&dir).and_then(|m| {
            m.read_verified_payload(&dir)?;
            Ok(m)
        });
        let (manifest, status) = match checked {
            Ok(m) => {
                let status = match check_against_state(&id, &dir, &m, &installed) {
                    Err(e) => PluginStatus::Broken(e.to_string()),
                    Ok(()) if installed.enabled => PluginStatus::Enabled,
                    Ok(()) => PluginStatus::Disabled,
                };
                (Some(m), status)
            }
            Err(e) => (
                Manifest::load(&dir).ok(),
                PluginStatus::Broken(e.to_string()),
            ),
        };
        PluginEntry {
            id,
            installed,
            manifest,
            status,
            dir,
        }
    }

    /// One installed plugin.
    pub fn info(&self, id: &str) -> Result<PluginEntry, PluginError> {
        let state = self.read_state()?;
        let installed = state
            .plugins
            .get(id)
            .cloned()
            .ok_or_else(|| PluginError::NotInstalled(id.to_string()))?;
        Ok(self.entry(id.to_string(), installed))
    }

    /// Enable or disable a plugin. Returns whether anything changed.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, PluginError> {
        self.locked(|| {
            let mut state = self.read_state()?;
            let record = state
                .plugins
                .get_mut(id)
                .ok_or_else(|| PluginError::NotInstalled(id.to_string()))?;
            if record.enabled == enabled {
                return Ok(false);
            }
            record.enabled = enabled;
            self.write_state(&state)?;
            Ok(true)
        })
    }

    /// Remove a plugin, what it was granted, and the engines recorded as its (they fall back
    /// to the other drivers that serve them).
    pub fn remove(&self, id: &str) -> Result<InstalledPlugin, PluginError> {
        self.locked(|| {
            let mut state = self.read_state()?;
            let record = state
                .plugins
                .remove(id)
                .ok_or_else(|| PluginError::NotInstalled(id.to_string()))?;
            state.engines.retain(|_, driver| driver != id);
            self.write_state(&state)?;
            let dir = self.root.join(id);
            if dir.exists() {
                // The state no longer names it; a leftover directory is harmless.
                if let Err(e) = fs::remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), "could not delete removed plugin: {e}");
                }
            }
            Ok(record)
        })
    }

    /// Whether a plugin with this id is installed but disabled by the user.
    pub fn is_disabled(&self, id: &str) -> bool {
        self.list()
            .is_ok_and(|entries| entries.iter().any(|e| e.id == id && !e.installed.enabled))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    use std::io::Write;
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::package;
    use super::*;

    #[test]
    fn install_list_disable_remove_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let staged = store
            .stage(&package(tmp.path(), "0.1.0", &["~/.a"]))
            .unwrap();
        assert!(staged.needs_consent());
        assert_eq!(
            staged.capabilities[0].to_string(),
            "fs-read [~/.a]: read exactly these files (new)"
        );
        let err = store
            .install(
                staged,
                Consent {
                    capabilities: false,
                    publisher: true,
                },
            )
            .unwrap_err();
        assert!(matches!(err, PluginError::NotGranted(_)), "{err}");
        assert!(store.list().unwrap().is_empty());

        let staged = store
            .stage(&package(tmp.path(), "0.1.0", &["~/.a"]))
            .unwrap();
        store.install(staged, Consent::ALL).unwrap();
        let list = store.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, PluginStatus::Enabled);
        assert!(list[0].installed.granted.contains_key("fs-read"));

        assert!(store.set_enabled("demo", false).unwrap());
        assert_eq!(store.info("demo").unwrap().status, PluginStatus::Disabled);
        assert!(!store.set_enabled("demo", false).unwrap());

        store.remove("demo").unwrap();
        assert!(store.list().unwrap().is_empty());
        assert!(!store.root().join("demo").exists());
        assert!(matches!(
            store.remove("demo"),
            Err(PluginError::NotInstalled(_))
        ));
    }
}
