//! Installed plugins: install (from a directory or a `.tar.gz`), list, info, enable, disable,
//! remove, upgrade; the `plugins.toml` state that records what the user granted; and loading
//! the enabled plugins as connection sources and storage backends.
//!
//! Layout under the plugins root (`$KEEPERDB_DATA_DIR/plugins`, else `<config dir>/plugins`):
//!
//! ```text
//! plugins.toml            state: per id, version, kind, sha256, enabled, granted capabilities
//! <id>/plugin.toml        the manifest as installed
//! <id>/<payload>          the payload, verified against the manifest at install and at load
//! .cache/                 compiled components (see `wasm`)
//! ```
//!
//! Consent: a fresh install always needs the user's consent (the shell shows what the plugin
//! asks for); an upgrade needs it again only when the capabilities widen. At load, a manifest
//! that asks for more than was granted, or whose sha256 differs from the one recorded at
//! install, is refused.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::ConfigDir;
use keeperdb_model::capability;
use keeperdb_model::connection::Connection;
use keeperdb_model::credentials::Credentials;
use keeperdb_model::driver::Driver;
use keeperdb_model::manifest::{
    CapabilityRequest, MANIFEST_FILE, Manifest, ManifestError, PluginKind,
};
use keeperdb_model::source::{ConnectionSource, SourceError, SourceInfo, SourceListing};
use keeperdb_model::storage::StorageBackend;
use keeperdb_wasm_host::{
    LoadOptions, LoadedPlugin, WasmError, WasmRuntime, WasmSource, WasmStorage,
};

/// Environment variable that moves keeperdb's data (installed plugins) elsewhere.
pub const DATA_DIR_ENV: &str = "KEEPERDB_DATA_DIR";
/// The state file in the plugins root.
pub const STATE_FILE: &str = "plugins.toml";
const LOCK_FILE: &str = ".plugins.lock";
const CACHE_DIR: &str = ".cache";
const STATE_VERSION: u32 = 1;
/// Largest archive member accepted (a payload); more is not a plugin.
const MAX_ARCHIVE_MEMBER: u64 = 256 << 20;

/// Why a plugin operation failed. Nothing was changed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest or payload was refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The component was refused.
    #[error(transparent)]
    Wasm(Box<WasmError>),
    /// A native driver plugin could not be loaded.
    #[error(transparent)]
    Driver(Box<keeperdb_driver_host::DriverLoadError>),
    /// The path to install is neither a plugin directory nor a supported archive.
    #[error("{path}: {message}")]
    BadPackage {
        /// What was given.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The manifest asks for a capability this keeperdb does not know.
    #[error(
        "plugin `{id}` asks for capability `{capability}`, which this keeperdb does not know (known: fs-read, http, keeper-vault, log, progress)"
    )]
    UnknownCapability {
        /// Plugin id.
        id: String,
        /// The capability.
        capability: String,
    },
    /// Neither a package at that path nor a bundled plugin with that id.
    #[error("no plugin directory or archive at `{id}`, and no bundled plugin has that id (bundled: {})", if bundled.is_empty() { "none".to_string() } else { bundled.join(", ") })]
    NotBundled {
        /// What was given.
        id: String,
        /// The ids that are bundled.
        bundled: Vec<String>,
    },
    /// No plugin with that id is installed.
    #[error("no plugin `{0}` is installed")]
    NotInstalled(String),
    /// Installing would go back to an older version.
    #[error(
        "plugin `{id}` {installed} is installed; refusing to replace it with the older {offered} (remove it first to downgrade)"
    )]
    Downgrade {
        /// Plugin id.
        id: String,
        /// Installed version.
        installed: semver::Version,
        /// Offered version.
        offered: semver::Version,
    },
    /// The user did not consent to the capabilities.
    #[error("plugin `{0}` was not installed: its capabilities were not granted")]
    NotGranted(String),
    /// The state file does not parse.
    #[error(
        "{path}: {message}\nthe file was left untouched; fix it or move it away (plugins would need reinstalling)"
    )]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The installed manifest asks for more than the user granted, or was swapped.
    #[error("plugin `{id}`: {message}; reinstall it to review and grant its capabilities")]
    GrantMismatch {
        /// Plugin id.
        id: String,
        /// What differs.
        message: String,
    },
    /// Loading a kind of plugin this build cannot load yet.
    #[error("plugin `{id}` is a {kind}; loading it is not available in this build")]
    Unsupported {
        /// Plugin id.
        id: String,
        /// Its kind.
        kind: PluginKind,
    },
}

impl From<WasmError> for PluginError {
    fn from(e: WasmError) -> Self {
        PluginError::Wasm(Box::new(e))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PluginError + '_ {
    move |source| PluginError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the state file records about one installed plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledPlugin {
    /// Version installed.
    pub version: semver::Version,
    /// Its kind.
    pub kind: PluginKind,
    /// The payload sha256 the manifest declared at install.
    pub sha256: String,
    /// Whether it is loaded.
    pub enabled: bool,
    /// Capabilities the user granted, with the scope they saw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub granted: BTreeMap<String, CapabilityRequest>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    #[serde(default)]
    plugins: BTreeMap<String, InstalledPlugin>,
}

/// One requested capability, for showing to the user before consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityLine {
    /// Capability name.
    pub name: String,
    /// Scope in words (`~/.pgpass`, `api.example.com`), empty when unscoped.
    pub scope: Vec<String>,
    /// What it lets the plugin do.
    pub meaning: &'static str,
    /// Not granted before (fresh install, or widened by an upgrade).
    pub new: bool,
}

impl std::fmt::Display for CapabilityLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.scope.is_empty() {
            write!(f, " [{}]", self.scope.join(", "))?;
        }
        write!(f, ": {}", self.meaning)?;
        if self.new {
            write!(f, " (new)")?;
        }
        Ok(())
    }
}

fn meaning(capability: &str) -> &'static str {
    match capability {
        capability::FS_READ => "read exactly these files",
        capability::HTTP => "send HTTPS requests to these hosts",
        capability::KEEPER_VAULT => "read, create and delete records in your attached Keeper vault",
        capability::LOG => "write to keeperdb's log",
        capability::PROGRESS => "report progress",
        _ => "unknown",
    }
}

fn scope_of(request: &CapabilityRequest) -> Vec<String> {
    request
        .paths
        .iter()
        .chain(&request.hosts)
        .cloned()
        .collect()
}

/// Whether `wanted` asks for nothing beyond `granted`.
fn within(wanted: &CapabilityRequest, granted: &CapabilityRequest) -> bool {
    wanted.paths.iter().all(|p| granted.paths.contains(p))
        && wanted.hosts.iter().all(|h| granted.hosts.contains(h))
}

/// A package unpacked and verified, waiting for the user's consent.
#[derive(Debug)]
pub struct Staged {
    /// Its manifest.
    pub manifest: Manifest,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// The installed version this would replace.
    pub replaces: Option<InstalledPlugin>,
    /// What it asks for (grantable capabilities only; log and progress are always given).
    pub capabilities: Vec<CapabilityLine>,
}

impl Staged {
    /// Whether the user must consent: a fresh install, or an upgrade that widens capabilities.
    pub fn needs_consent(&self) -> bool {
        self.replaces.is_none() || self.capabilities.iter().any(|c| c.new)
    }

    /// The staged plugin directory (for validating the component before install).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A plugin as `list` and `info` show it.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    /// Plugin id.
    pub id: String,
    /// State recorded at install.
    pub installed: InstalledPlugin,
    /// Its manifest, when it reads.
    pub manifest: Option<Manifest>,
    /// `enabled`, `disabled`, or what is broken.
    pub status: String,
    /// Where it lives.
    pub dir: PathBuf,
}

impl PluginEntry {
    /// Capabilities granted, one line each.
    pub fn capability_lines(&self) -> Vec<CapabilityLine> {
        self.installed
            .granted
            .iter()
            .map(|(name, request)| CapabilityLine {
                name: name.clone(),
                scope: scope_of(request),
                meaning: meaning(name),
                new: false,
            })
            .collect()
    }
}

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

/// The plugins root and its state file.
#[derive(Debug, Clone)]
pub struct PluginStore {
    root: PathBuf,
}

impl PluginStore {
    /// The plugins root for a config dir: `$KEEPERDB_DATA_DIR/plugins` when set, else
    /// `<config dir>/plugins`.
    pub fn for_config(config: &ConfigDir) -> Self {
        let base = std::env::var_os(DATA_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| config.path().to_path_buf());
        Self::at(base.join("plugins"))
    }

    /// Use exactly this plugins root.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The plugins root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where compiled components are cached.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(CACHE_DIR)
    }

    fn ensure_root(&self) -> Result<(), PluginError> {
        keeperdb_fs::ensure_private_dir(&self.root).map_err(io(&self.root))
    }

    fn read_state(&self) -> Result<StateFile, PluginError> {
        let path = self.root.join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StateFile {
                    version: STATE_VERSION,
                    plugins: BTreeMap::new(),
                });
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let state: StateFile = toml::from_str(&text).map_err(|e| PluginError::CorruptState {
            path: path.clone(),
            message: keeperdb_model::describe_toml_error(&text, &e),
        })?;
        if state.version > STATE_VERSION {
            return Err(PluginError::CorruptState {
                path,
                message: format!(
                    "format version {} is newer than this keeperdb understands ({STATE_VERSION}); upgrade keeperdb",
                    state.version
                ),
            });
        }
        Ok(state)
    }

    fn write_state(&self, state: &StateFile) -> Result<(), PluginError> {
        let path = self.root.join(STATE_FILE);
        let body = toml::to_string_pretty(state).map_err(|e| PluginError::CorruptState {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let text =
            format!("# keeperdb installed plugins and the capabilities you granted them.\n{body}");
        keeperdb_fs::write_atomic(&path, text.as_bytes()).map_err(io(&path))
    }

    /// Run `f` under an exclusive lock, so concurrent keeperdb processes do not overwrite each
    /// other's changes.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, PluginError>) -> Result<T, PluginError> {
        self.ensure_root()?;
        let path = self.root.join(LOCK_FILE);
        keeperdb_fs::with_lock(&path, f).map_err(io(&path))?
    }

    /// Unpack (if an archive) and verify a package: manifest, known capabilities, host API
    /// range, payload sha256. Nothing is installed yet.
    pub fn stage(&self, path: &Path) -> Result<Staged, PluginError> {
        let (dir, temp) = if path.is_dir() {
            (path.to_path_buf(), None)
        } else if path.is_file() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !(name.ends_with(".tar.gz") || name.ends_with(".tgz")) {
                return Err(PluginError::BadPackage {
                    path: path.to_path_buf(),
                    message: "not a plugin directory or a .tar.gz / .tgz archive".into(),
                });
            }
            let temp = tempfile::tempdir().map_err(io(path))?;
            unpack_tar_gz(path, temp.path())?;
            (find_manifest_dir(path, temp.path())?, Some(temp))
        } else {
            return Err(PluginError::BadPackage {
                path: path.to_path_buf(),
                message: "no such file or directory".into(),
            });
        };
        let manifest = Manifest::load(&dir)?;
        for name in manifest.capabilities.keys() {
            if !capability::is_known(name) {
                return Err(PluginError::UnknownCapability {
                    id: manifest.id.clone(),
                    capability: name.clone(),
                });
            }
        }
        manifest.check_api(&keeperdb_model::HOST_API_VERSION)?;
        manifest.read_verified_payload(&dir)?;

        let replaces = self.read_state()?.plugins.get(&manifest.id).cloned();
        if let Some(old) = &replaces
            && manifest.version < old.version
        {
            return Err(PluginError::Downgrade {
                id: manifest.id.clone(),
                installed: old.version.clone(),
                offered: manifest.version.clone(),
            });
        }
        let capabilities = manifest
            .capabilities
            .iter()
            .filter(|(name, _)| capability::GRANTABLE.contains(&name.as_str()))
            .map(|(name, request)| CapabilityLine {
                name: name.clone(),
                scope: scope_of(request),
                meaning: meaning(name),
                new: replaces
                    .as_ref()
                    .and_then(|old| old.granted.get(name))
                    .is_none_or(|granted| !within(request, granted)),
            })
            .collect();
        Ok(Staged {
            manifest,
            dir,
            _temp: temp,
            replaces,
            capabilities,
        })
    }

    /// Install a staged package. `consent` says whether the user agreed to the capabilities
    /// shown; it is required when [`Staged::needs_consent`]. The new version is enabled when
    /// it is a fresh install, and keeps the old enabled flag on upgrade.
    pub fn install(&self, staged: Staged, consent: bool) -> Result<PluginEntry, PluginError> {
        if staged.needs_consent() && !consent {
            return Err(PluginError::NotGranted(staged.manifest.id.clone()));
        }
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
            let granted = staged
                .manifest
                .capabilities
                .iter()
                .filter(|(name, _)| capability::GRANTABLE.contains(&name.as_str()))
                .map(|(name, request)| (name.clone(), request.clone()))
                .collect();
            let record = InstalledPlugin {
                version: staged.manifest.version.clone(),
                kind: staged.manifest.kind,
                sha256: staged.manifest.sha256.to_ascii_lowercase(),
                enabled,
                granted,
            };
            state.version = STATE_VERSION;
            state.plugins.insert(id.clone(), record.clone());
            self.write_state(&state)?;
            if let Some(old) = old {
                let _ = fs::remove_dir_all(old);
            }
            tracing::info!(plugin = %id, version = %record.version, "installed plugin");
            Ok(PluginEntry {
                id: id.clone(),
                installed: record,
                manifest: Some(staged.manifest.clone()),
                status: if enabled { "enabled" } else { "disabled" }.into(),
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
                let status = match check_against_state(&id, &m, &installed) {
                    Err(e) => format!("broken: {e}"),
                    Ok(()) if installed.enabled => "enabled".to_string(),
                    Ok(()) => "disabled".to_string(),
                };
                (Some(m), status)
            }
            Err(e) => (Manifest::load(&dir).ok(), format!("broken: {e}")),
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

    /// Remove a plugin and what it was granted.
    pub fn remove(&self, id: &str) -> Result<InstalledPlugin, PluginError> {
        self.locked(|| {
            let mut state = self.read_state()?;
            let record = state
                .plugins
                .remove(id)
                .ok_or_else(|| PluginError::NotInstalled(id.to_string()))?;
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

    /// Load every enabled plugin. Failures do not stop the others: each is reported, and a
    /// failed source still appears (its listing fails with the reason).
    pub fn load_enabled(
        &self,
        runtime: &WasmRuntime,
        base: &LoadOptions,
    ) -> Result<LoadedPlugins, PluginError> {
        let mut out = LoadedPlugins::default();
        for entry in self.list()? {
            // Drivers are native libraries, loaded on demand by `load_enabled_drivers`.
            if !entry.installed.enabled || entry.installed.kind == PluginKind::Driver {
                continue;
            }
            let id = entry.id.clone();
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
                    check_against_state(&entry.id, &manifest, &entry.installed)?;
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

    /// Whether a plugin with this id is installed but disabled by the user.
    pub fn is_disabled(&self, id: &str) -> bool {
        self.list()
            .is_ok_and(|entries| entries.iter().any(|e| e.id == id && !e.installed.enabled))
    }

    fn load_one(
        &self,
        runtime: &WasmRuntime,
        base: &LoadOptions,
        entry: &PluginEntry,
    ) -> Result<Loaded, PluginError> {
        let manifest = Manifest::load(&entry.dir)?;
        check_against_state(&entry.id, &manifest, &entry.installed)?;
        let mut options = base.clone();
        options.granted = entry.installed.granted.keys().cloned().collect();
        let plugin = Arc::new(LoadedPlugin::load(runtime, &entry.dir, options)?);
        Ok(match manifest.kind {
            PluginKind::StorageBackend => Loaded::Storage(Arc::new(WasmStorage::new(plugin)?)),
            _ => Loaded::Source(Arc::new(WasmSource::new(plugin)?)),
        })
    }
}

enum Loaded {
    Source(Arc<dyn ConnectionSource>),
    Storage(Arc<dyn StorageBackend>),
}

/// The installed manifest must be the one consented to: same sha256, nothing beyond the grant.
fn check_against_state(
    id: &str,
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
    Ok(())
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

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    use std::io::Write;
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Unpack a `.tar.gz`: regular files and directories only, no absolute paths, no `..`.
fn unpack_tar_gz(archive: &Path, into: &Path) -> Result<(), PluginError> {
    let bad = |message: String| PluginError::BadPackage {
        path: archive.to_path_buf(),
        message,
    };
    let file = File::open(archive).map_err(io(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("not a readable .tar.gz: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("not a readable .tar.gz: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("bad member name: {e}")))?
            .into_owned();
        if path.is_absolute()
            || path
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(bad(format!(
                "member `{}` escapes the archive",
                path.display()
            )));
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            fs::create_dir_all(into.join(&path)).map_err(io(&into.join(&path)))?;
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "member `{}` is not a regular file (links and devices are refused)",
                path.display()
            )));
        }
        if entry.size() > MAX_ARCHIVE_MEMBER {
            return Err(bad(format!("member `{}` is too large", path.display())));
        }
        let dest = into.join(&path);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = File::create(&dest).map_err(io(&dest))?;
        std::io::copy(&mut entry, &mut out)
            .map_err(|e| bad(format!("unpacking `{}`: {e}", path.display())))?;
    }
    Ok(())
}

/// `plugin.toml` at the top of the archive, or in its single top-level directory.
fn find_manifest_dir(archive: &Path, root: &Path) -> Result<PathBuf, PluginError> {
    if root.join(MANIFEST_FILE).is_file() {
        return Ok(root.to_path_buf());
    }
    let dirs: Vec<PathBuf> = fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    match dirs.as_slice() {
        [only] if only.join(MANIFEST_FILE).is_file() => Ok(only.clone()),
        _ => Err(PluginError::BadPackage {
            path: archive.to_path_buf(),
            message:
                "the archive holds no plugin.toml (at its top or in its single top-level directory)"
                    .into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keeperdb_model::manifest::sha256_hex;

    fn package(dir: &Path, version: &str, paths: &[&str]) -> PathBuf {
        let pkg = dir.join(format!("pkg-{version}-{}", paths.len()));
        fs::create_dir_all(&pkg).unwrap();
        fs::write(pkg.join("payload.wasm"), b"not really wasm").unwrap();
        let caps = if paths.is_empty() {
            String::new()
        } else {
            format!(
                "\n[capabilities.fs-read]\npaths = [{}]\n",
                paths
                    .iter()
                    .map(|p| format!("\"{p}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        fs::write(
            pkg.join(MANIFEST_FILE),
            format!(
                "id = \"demo\"\nversion = \"{version}\"\nkind = \"connection-source\"\napi = \"^0.1\"\npayload = \"payload.wasm\"\nsha256 = \"{}\"\n{caps}",
                sha256_hex(b"not really wasm")
            ),
        )
        .unwrap();
        pkg
    }

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
        let err = store.install(staged, false).unwrap_err();
        assert!(matches!(err, PluginError::NotGranted(_)), "{err}");
        assert!(store.list().unwrap().is_empty());

        let staged = store
            .stage(&package(tmp.path(), "0.1.0", &["~/.a"]))
            .unwrap();
        store.install(staged, true).unwrap();
        let list = store.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, "enabled");
        assert!(list[0].installed.granted.contains_key("fs-read"));

        assert!(store.set_enabled("demo", false).unwrap());
        assert_eq!(store.info("demo").unwrap().status, "disabled");
        assert!(!store.set_enabled("demo", false).unwrap());

        store.remove("demo").unwrap();
        assert!(store.list().unwrap().is_empty());
        assert!(!store.root().join("demo").exists());
        assert!(matches!(
            store.remove("demo"),
            Err(PluginError::NotInstalled(_))
        ));
    }

    #[test]
    fn upgrades_ask_again_only_when_capabilities_widen() {
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let staged = store
            .stage(&package(tmp.path(), "0.1.0", &["~/.a"]))
            .unwrap();
        store.install(staged, true).unwrap();
        store.set_enabled("demo", false).unwrap();

        let same = store
            .stage(&package(tmp.path(), "0.2.0", &["~/.a"]))
            .unwrap();
        assert!(!same.needs_consent());
        let entry = store.install(same, false).unwrap();
        assert_eq!(entry.installed.version, semver::Version::new(0, 2, 0));
        // The user's disable survives the upgrade.
        assert_eq!(entry.status, "disabled");

        let wider = store
            .stage(&package(tmp.path(), "0.3.0", &["~/.a", "~/.b"]))
            .unwrap();
        assert!(wider.needs_consent());
        assert!(matches!(
            store.install(wider, false),
            Err(PluginError::NotGranted(_))
        ));
        assert_eq!(
            store.info("demo").unwrap().installed.version,
            semver::Version::new(0, 2, 0)
        );

        let older = store
            .stage(&package(tmp.path(), "0.1.0", &["~/.a"]))
            .unwrap_err();
        assert!(older.to_string().contains("older 0.1.0"), "{older}");
    }

    #[test]
    fn a_manifest_widened_after_install_is_refused_at_load() {
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        store
            .install(
                store
                    .stage(&package(tmp.path(), "0.1.0", &["~/.a"]))
                    .unwrap(),
                true,
            )
            .unwrap();
        let path = store.root().join("demo").join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("\"~/.a\"", "\"~/.a\", \"/etc/shadow\"")).unwrap();
        let status = store.info("demo").unwrap().status;
        assert!(
            status.starts_with("broken:") && status.contains("wider `fs-read`"),
            "{status}"
        );
    }

    #[test]
    fn unknown_capabilities_and_bad_archives_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let pkg = package(tmp.path(), "0.1.0", &[]);
        let text = fs::read_to_string(pkg.join(MANIFEST_FILE)).unwrap();
        fs::write(
            pkg.join(MANIFEST_FILE),
            format!("{text}\n[capabilities.camera]\n"),
        )
        .unwrap();
        let err = store.stage(&pkg).unwrap_err().to_string();
        assert!(err.contains("`camera`"), "{err}");

        let zip = tmp.path().join("p.zip");
        fs::write(&zip, b"PK").unwrap();
        let err = store.stage(&zip).unwrap_err().to_string();
        assert!(err.contains(".tar.gz"), "{err}");
        let bad = tmp.path().join("p.tar.gz");
        fs::write(&bad, b"garbage").unwrap();
        let err = store.stage(&bad).unwrap_err().to_string();
        assert!(err.contains("p.tar.gz"), "{err}");
    }

    #[test]
    fn installs_from_a_tar_gz_with_a_top_level_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = package(tmp.path(), "0.1.0", &[]);
        let archive = tmp.path().join("demo.tar.gz");
        let file = File::create(&archive).unwrap();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ));
        builder.append_dir_all("demo-0.1.0", &pkg).unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let staged = store.stage(&archive).unwrap();
        store.install(staged, true).unwrap();
        assert_eq!(store.info("demo").unwrap().status, "enabled");
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
        store.install(store.stage(&pkg).unwrap(), true).unwrap();
        // The WASM loader leaves drivers to the driver host.
        let rt = WasmRuntime::new(None).unwrap();
        let loaded = store.load_enabled(&rt, &LoadOptions::default()).unwrap();
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
