//! The `plugins.toml` state file: what is installed and what the user granted, read and
//! written under a lock shared by every keeperdb process.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

use super::{PluginError, PluginStore, io};
use keeperdb_model::manifest::{CapabilityRequest, PluginKind};
use keeperdb_model::signature::Publisher;

/// The state file in the plugins root.
pub const STATE_FILE: &str = "plugins.toml";
const LOCK_FILE: &str = ".plugins.lock";
/// 2 added the publisher and the compiled-cache digest; 3 the driver chosen per engine. Older
/// files read as they were.
pub(super) const STATE_VERSION: u32 = 3;

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
    /// The publisher's public key (hex) the user trusted at install; none when the package
    /// was unsigned. An upgrade signed by any other key asks again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// The sha256 of this plugin's compiled cache entry, recorded when keeperdb wrote it: the
    /// entry is only mapped when its bytes still hash to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled: Option<String>,
    /// Capabilities the user granted, with the scope they saw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub granted: BTreeMap<String, CapabilityRequest>,
}

impl InstalledPlugin {
    /// Who published the installed version, as trusted at install.
    pub fn publisher(&self) -> Publisher {
        Publisher::from_key(self.publisher.as_deref())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StateFile {
    pub(super) version: u32,
    /// Per engine id, the driver plugin that serves it: the one that served it first, or the
    /// one the user chose since. Another driver serving the same engine is not used for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) engines: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) plugins: BTreeMap<String, InstalledPlugin>,
}

impl PluginStore {
    fn ensure_root(&self) -> Result<(), PluginError> {
        keeperdb_fs::ensure_private_dir(&self.root).map_err(io(&self.root))
    }

    pub(super) fn read_state(&self) -> Result<StateFile, PluginError> {
        let path = self.root.join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StateFile {
                    version: STATE_VERSION,
                    ..StateFile::default()
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

    pub(super) fn write_state(&self, state: &StateFile) -> Result<(), PluginError> {
        let path = self.root.join(STATE_FILE);
        let body = toml::to_string_pretty(state).map_err(|e| PluginError::CorruptState {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let text =
            format!("# keeperdb installed plugins and the capabilities you granted them.\n{body}");
        keeperdb_fs::write_atomic(&path, text.as_bytes()).map_err(io(&path))
    }

    /// Record the digest of the compiled cache entry a load wrote for plugin `id`, if the
    /// installed payload is still `sha256` (an install in between supersedes it).
    pub(super) fn record_compiled(
        &self,
        id: &str,
        sha256: &str,
        digest: &str,
    ) -> Result<(), PluginError> {
        self.locked(|| {
            let mut state = self.read_state()?;
            match state.plugins.get_mut(id) {
                Some(p) if p.sha256 == sha256 && p.compiled.as_deref() != Some(digest) => {
                    p.compiled = Some(digest.to_string());
                    state.version = STATE_VERSION;
                    self.write_state(&state)
                }
                _ => Ok(()),
            }
        })
    }

    /// Run `f` under an exclusive lock, so concurrent keeperdb processes do not overwrite each
    /// other's changes.
    pub(super) fn locked<T>(
        &self,
        f: impl FnOnce() -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        self.ensure_root()?;
        let path = self.root.join(LOCK_FILE);
        keeperdb_fs::with_lock(&path, f).map_err(io(&path))?
    }
}
