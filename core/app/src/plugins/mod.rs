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

mod consent;
mod engines;
mod load;
mod manage;
mod pack;
mod package;
mod state;
mod template;

use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::store::ConfigDir;
use consent::{meaning, scope_of};
use keeperdb_model::manifest::{Manifest, ManifestError, PluginKind};
use keeperdb_wasm_host::WasmError;

pub use consent::{CapabilityLine, Consent, PublisherConcern, Staged};
pub(crate) use load::failed_source;
pub use load::{LoadedDrivers, LoadedPlugins};
pub use pack::{Packed, pack};
pub use state::{InstalledPlugin, STATE_FILE};
pub use template::{NewPlugin, TemplateLang, new_plugin};

/// Environment variable that moves keeperdb's data (installed plugins) elsewhere.
pub const DATA_DIR_ENV: &str = "KEEPERDB_DATA_DIR";
const CACHE_DIR: &str = ".cache";

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
    /// The plugin is installed but disabled.
    #[error("plugin `{0}` is disabled; enable it to use it")]
    Disabled(String),
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
    /// The user did not accept who published the package.
    #[error("plugin `{id}` was not installed: {concern}, and that was not accepted")]
    PublisherNotTrusted {
        /// Plugin id.
        id: String,
        /// What about the publisher needed consent.
        concern: String,
    },
    /// A third-party package claims an identity only the host gives.
    #[error("plugin `{id}`: {message}; only keeperdb itself and its first-party plugins use it")]
    Reserved {
        /// Plugin id.
        id: String,
        /// What it claims.
        message: String,
    },
    /// The package's signature does not verify.
    #[error(transparent)]
    Signature(#[from] keeperdb_model::signature::SignatureError),
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
    /// Text that is not an engine id, where a driver was to be chosen for one.
    #[error(transparent)]
    BadEngine(#[from] keeperdb_model::engine::UnknownEngine),
    /// A plugin that is not a driver was named where a driver is needed.
    #[error("plugin `{id}` is a {kind}, not a driver: only driver plugins serve database engines")]
    NotADriver {
        /// Plugin id.
        id: String,
        /// Its kind.
        kind: PluginKind,
    },
    /// No installed or bundled driver has this id.
    #[error("no driver `{id}` is installed or bundled (drivers: {})", if drivers.is_empty() { "none".to_string() } else { drivers.join(", ") })]
    NoSuchDriver {
        /// What was given.
        id: String,
        /// The drivers there are.
        drivers: Vec<String>,
    },
    /// The driver cannot be chosen for an engine it does not serve.
    #[error("driver `{id}` does not serve {engine} (it serves: {}); choose a driver that serves {engine}", if served.is_empty() { "nothing keeperdb could learn".to_string() } else { served.join(", ") })]
    DoesNotServe {
        /// Driver id.
        id: String,
        /// The engine asked for.
        engine: keeperdb_model::Engine,
        /// The engines it does serve.
        served: Vec<String>,
    },
    /// `plugins pack`: the manifest asks for capabilities the component never imports.
    #[error(
        "plugin `{id}` asks for {} in its plugin.toml, which its component never imports; remove them from [capabilities] so users are not asked to grant rights it cannot use",
        capabilities.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
    )]
    UnusedCapabilities {
        /// Plugin id.
        id: String,
        /// The capabilities asked for and not imported.
        capabilities: Vec<String>,
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

impl PluginError {
    /// A stable name for the kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Io { .. } => "io",
            PluginError::Manifest(_) => "manifest",
            PluginError::Wasm(_) => "wasm",
            PluginError::Driver(_) => "driver",
            PluginError::BadPackage { .. } => "bad-package",
            PluginError::UnknownCapability { .. } => "unknown-capability",
            PluginError::NotBundled { .. } => "not-bundled",
            PluginError::NotInstalled(_) => "not-installed",
            PluginError::Disabled(_) => "disabled",
            PluginError::Downgrade { .. } => "downgrade",
            PluginError::NotGranted(_) => "not-granted",
            PluginError::PublisherNotTrusted { .. } => "publisher-not-trusted",
            PluginError::Signature(_) => "signature",
            PluginError::Reserved { .. } => "reserved",
            PluginError::CorruptState { .. } => "corrupt-state",
            PluginError::GrantMismatch { .. } => "grant-mismatch",
            PluginError::UnusedCapabilities { .. } => "unused-capabilities",
            PluginError::Unsupported { .. } => "unsupported",
            PluginError::BadEngine(_) => "bad-engine",
            PluginError::NotADriver { .. } => "not-a-driver",
            PluginError::NoSuchDriver { .. } => "no-such-driver",
            PluginError::DoesNotServe { .. } => "does-not-serve",
        }
    }
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

/// Whether an installed plugin is in use, as `list` and `info` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginStatus {
    /// Verified and loaded.
    Enabled,
    /// Verified, but the user turned it off.
    Disabled,
    /// Not loadable: the manifest or payload is refused, or differs from what was granted.
    Broken(String),
}

impl std::fmt::Display for PluginStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginStatus::Enabled => f.write_str("enabled"),
            PluginStatus::Disabled => f.write_str("disabled"),
            PluginStatus::Broken(reason) => write!(f, "broken: {reason}"),
        }
    }
}

/// Serialized as its display text: `plugins list --json` has always carried the status as
/// one string, and scripts match on it.
impl Serialize for PluginStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
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
    /// Enabled, disabled, or what is broken.
    pub status: PluginStatus,
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
}

/// A package directory for the tests, as a plugin author would ship it.
#[cfg(test)]
mod fixtures {
    use std::fs;
    use std::path::{Path, PathBuf};

    use keeperdb_model::manifest::{MANIFEST_FILE, sha256_hex};

    /// A `demo` connection source at `version`, asking `fs-read` for `paths` (none: no
    /// capabilities).
    pub(super) fn package(dir: &Path, version: &str, paths: &[&str]) -> PathBuf {
        let pkg = dir.join(format!("pkg-{version}-{}", paths.len()));
        fs::create_dir_all(&pkg).unwrap();
        let imports: &[&str] = if paths.is_empty() {
            &["keeperdb:plugin/log@0.4.0"]
        } else {
            &["keeperdb:plugin/log@0.4.0", "keeperdb:plugin/fs-read@0.4.0"]
        };
        let payload = keeperdb_wasm_host::testing::component_importing(imports, 0);
        fs::write(pkg.join("payload.wasm"), &payload).unwrap();
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
                sha256_hex(&payload)
            ),
        )
        .unwrap();
        pkg
    }

    /// Sign the package in `pkg` with the ed25519 `seed`, as its publisher would.
    pub(super) fn sign(pkg: &Path, seed: &[u8; 32]) {
        let manifest = fs::read(pkg.join(MANIFEST_FILE)).unwrap();
        fs::write(
            pkg.join(keeperdb_model::signature::SIGNATURE_FILE),
            keeperdb_model::signature::sign(&manifest, seed),
        )
        .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        status: PluginStatus,
    }

    #[test]
    fn status_displays_and_serializes_as_the_texts_shells_show() {
        let cases = [
            (PluginStatus::Enabled, "enabled"),
            (PluginStatus::Disabled, "disabled"),
            (
                PluginStatus::Broken("payload sha256 differs".into()),
                "broken: payload sha256 differs",
            ),
        ];
        for (status, text) in cases {
            assert_eq!(status.to_string(), text);
            assert_eq!(
                toml::to_string(&Row { status }).unwrap(),
                format!("status = \"{text}\"\n")
            );
        }
    }
}
