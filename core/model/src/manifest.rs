//! `plugin.toml`: what a plugin is, which host API range it needs, what it asks to be allowed
//! to do, and the sha256 of its payload. Shared by the driver loader and the WASM runtime.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The file name every plugin directory holds.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// Longest badge a manifest may set.
pub const MAX_BADGE_LEN: usize = 24;

/// What a plugin provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// A native database driver (shared library).
    Driver,
    /// A WASM connection source.
    ConnectionSource,
    /// A WASM storage backend.
    StorageBackend,
}

impl PluginKind {
    /// The kebab-case name used in manifests and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Driver => "driver",
            PluginKind::ConnectionSource => "connection-source",
            PluginKind::StorageBackend => "storage-backend",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One requested capability and its scope. Which keys a capability reads is up to it:
/// `fs-read` reads `paths`, `http` reads `hosts`; `log`, `progress` and `keeper-vault` none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRequest {
    /// Files the plugin may read (`~` expands to the user's home).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Hosts the plugin may reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// A parsed `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique id: lowercase letters, digits and `-`.
    pub id: String,
    /// The plugin's own version.
    pub version: semver::Version,
    /// What it provides.
    pub kind: PluginKind,
    /// The host API versions it works with, e.g. `^0.1`.
    pub api: semver::VersionReq,
    /// Payload file name, relative to the manifest (a `.wasm` component or a shared library).
    pub payload: String,
    /// Lowercase hex sha256 of the payload.
    pub sha256: String,
    /// One-line description for listings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Badge for the connections a source provides (defaults to the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
    /// Capabilities asked for, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capabilities: BTreeMap<String, CapabilityRequest>,
    /// For a driver: the engines it serves, with their URL schemes and default ports. The host
    /// learns from these which engines have a driver without loading any library.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<crate::engine::EngineSpec>,
}

/// Why a manifest or its payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has wrong fields.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field has a value that is not allowed.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The payload's hash differs from the manifest's.
    #[error(
        "plugin `{id}`: payload {payload} has sha256 {actual}, but plugin.toml says {expected}; the file was changed or corrupted, refusing to load it"
    )]
    HashMismatch {
        /// Plugin id.
        id: String,
        /// Payload path.
        payload: PathBuf,
        /// Hash in the manifest.
        expected: String,
        /// Hash of the file.
        actual: String,
    },
    /// The host cannot serve the API range the plugin needs.
    #[error(
        "plugin `{id}` needs host API {required}, but this keeperdb serves {served}; upgrade keeperdb or install a plugin version built for one of those"
    )]
    IncompatibleApi {
        /// Plugin id.
        id: String,
        /// The plugin's range.
        required: semver::VersionReq,
        /// What the host serves, as a list.
        served: String,
    },
}

impl Manifest {
    /// Read and validate `dir/plugin.toml`.
    pub fn load(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// Parse and validate manifest text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            message: crate::describe_toml_error(text, &e),
        })?;
        let invalid = |message: String| ManifestError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if manifest.id.is_empty()
            || !manifest
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid(format!(
                "id `{}` must be lowercase letters, digits and `-`",
                manifest.id
            )));
        }
        if let Some(badge) = &manifest.badge
            && (badge.is_empty()
                || badge.len() > MAX_BADGE_LEN
                || badge.trim() != badge
                || !badge
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')))
        {
            // Plain ASCII only: a badge is how a user tells sources apart at a glance, so no
            // look-alike letters, invisible or control characters.
            return Err(invalid(format!(
                "badge `{}` must be 1 to {MAX_BADGE_LEN} ASCII letters, digits, spaces, `-`, `_` or `.`",
                badge.escape_debug()
            )));
        }
        // One normal file name: `..`, `.`, a path, or the manifest or signature itself would
        // make the payload something other than a file beside plugin.toml.
        let payload = Path::new(&manifest.payload);
        let plain = matches!(
            payload.components().collect::<Vec<_>>().as_slice(),
            [std::path::Component::Normal(_)]
        ) && !manifest.payload.contains(['/', '\\'])
            && manifest.payload != MANIFEST_FILE
            && manifest.payload != crate::signature::SIGNATURE_FILE;
        if !plain {
            return Err(invalid(format!(
                "payload `{}` must be a plain file name next to plugin.toml (not `.`, `..`, a path, {MANIFEST_FILE} or {})",
                manifest.payload.escape_debug(),
                crate::signature::SIGNATURE_FILE
            )));
        }
        if manifest.sha256.len() != 64 || !manifest.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "sha256 `{}` is not 64 hex digits",
                manifest.sha256
            )));
        }
        if !manifest.engines.is_empty() && manifest.kind != PluginKind::Driver {
            return Err(invalid(format!(
                "a {} does not serve database engines; only a driver declares `engines`",
                manifest.kind
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for spec in &manifest.engines {
            if !seen.insert(spec.id.as_str()) {
                return Err(invalid(format!("engine `{}` is declared twice", spec.id)));
            }
            if spec.default_port == Some(0) {
                return Err(invalid(format!(
                    "engine `{}`: port 0 is not a default port",
                    spec.id
                )));
            }
        }
        Ok(manifest)
    }

    /// Check that the host serves the API range this plugin needs; the newest served version
    /// in it.
    pub fn check_api(&self) -> Result<&'static semver::Version, ManifestError> {
        crate::served_api_matching(&self.api).ok_or_else(|| ManifestError::IncompatibleApi {
            id: self.id.clone(),
            required: self.api.clone(),
            served: crate::served_api_list(),
        })
    }

    /// Read the payload from `dir` and check its sha256; returns the bytes that were checked,
    /// so the caller loads exactly what was verified.
    pub fn read_verified_payload(&self, dir: &Path) -> Result<Vec<u8>, ManifestError> {
        let path = dir.join(&self.payload);
        let bytes = std::fs::read(&path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&self.sha256) {
            return Err(ManifestError::HashMismatch {
                id: self.id.clone(),
                payload: path,
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}

impl FromStr for PluginKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "driver" => Ok(PluginKind::Driver),
            "connection-source" => Ok(PluginKind::ConnectionSource),
            "storage-backend" => Ok(PluginKind::StorageBackend),
            other => Err(format!(
                "unknown plugin kind `{other}` (expected driver, connection-source or storage-backend)"
            )),
        }
    }
}

/// Lowercase hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "pgpass"
version = "0.1.0"
kind = "connection-source"
api = "^0.1"
payload = "pgpass.wasm"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
badge = "pgpass"

[capabilities.fs-read]
paths = ["~/.pgpass"]
"#;

    #[test]
    fn parses_a_good_manifest() {
        let m = Manifest::parse(GOOD, Path::new("plugin.toml")).unwrap();
        assert_eq!(m.kind, PluginKind::ConnectionSource);
        assert_eq!(m.capabilities["fs-read"].paths, vec!["~/.pgpass"]);
        assert_eq!(m.check_api().unwrap(), &semver::Version::new(0, 1, 0));
        let middle = Manifest::parse(&GOOD.replace("^0.1", "^0.2"), Path::new("plugin.toml"));
        assert_eq!(
            middle.unwrap().check_api().unwrap(),
            &semver::Version::new(0, 2, 0)
        );
        let third = Manifest::parse(&GOOD.replace("^0.1", "^0.3"), Path::new("plugin.toml"));
        assert_eq!(
            third.unwrap().check_api().unwrap(),
            &semver::Version::new(0, 3, 0)
        );
        let newest = Manifest::parse(&GOOD.replace("^0.1", "^0.4"), Path::new("plugin.toml"));
        assert_eq!(
            newest.unwrap().check_api().unwrap(),
            &crate::HOST_API_VERSION
        );
    }

    #[test]
    fn refuses_an_api_range_the_host_cannot_serve() {
        let m = Manifest::parse(&GOOD.replace("^0.1", "^2.0"), Path::new("p/plugin.toml")).unwrap();
        let err = m.check_api().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("pgpass")
                && text.contains("^2.0")
                && text.contains("0.1.0, 0.2.0, 0.3.0, 0.4.0"),
            "{text}"
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let err = Manifest::parse(
            &GOOD.replace("\"pgpass.wasm\"", "\"../x.wasm\""),
            Path::new("m"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("../x.wasm"), "{err}");
        let err = Manifest::parse(
            &GOOD.replace("kind = \"connection-source\"", "kind = \"toaster\""),
            Path::new("m"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("line"), "{err}");
        let err = Manifest::parse(
            &GOOD.replace("id = \"pgpass\"", "id = \"PG pass\""),
            Path::new("m"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("PG pass"), "{err}");
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pgpass.wasm"), b"real bytes").unwrap();
        let good = GOOD.replace(
            "0000000000000000000000000000000000000000000000000000000000000000",
            &sha256_hex(b"real bytes"),
        );
        let m = Manifest::parse(&good, Path::new("m")).unwrap();
        assert_eq!(m.read_verified_payload(dir.path()).unwrap(), b"real bytes");
        std::fs::write(dir.path().join("pgpass.wasm"), b"evil bytes").unwrap();
        let err = m.read_verified_payload(dir.path()).unwrap_err();
        assert!(matches!(err, ManifestError::HashMismatch { .. }), "{err}");
    }

    #[test]
    fn a_payload_that_is_not_a_plain_file_name_is_refused() {
        let base = "id = \"x\"\nversion = \"0.1.0\"\nkind = \"driver\"\napi = \"^0.1\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n";
        for payload in [
            "..",
            ".",
            "",
            "a/b",
            "/etc/passwd",
            "./x",
            "plugin.toml",
            "plugin.sig",
            "a\\\\b",
        ] {
            let text = format!("{base}payload = \"{payload}\"\n");
            let err = Manifest::parse(&text, Path::new("plugin.toml")).unwrap_err();
            assert!(
                err.to_string().contains("must be a plain file name"),
                "{payload}: {err}"
            );
        }
        let text = format!("{base}payload = \"lib.so\"\n");
        Manifest::parse(&text, Path::new("plugin.toml")).unwrap();
    }
}
