//! Consent: what a package asks for in words the user can judge, whether an install or
//! upgrade must ask again, and what the user's yes grants.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::InstalledPlugin;
use keeperdb_model::capability;
use keeperdb_model::manifest::{CapabilityRequest, Manifest};

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

pub(super) fn meaning(capability: &str) -> &'static str {
    match capability {
        capability::FS_READ => "read exactly these files",
        capability::HTTP => "send HTTPS requests to these hosts",
        capability::KEEPER_VAULT => "read, create and delete records in your attached Keeper vault",
        capability::LOG => "write to keeperdb's log",
        capability::PROGRESS => "report progress",
        _ => "unknown",
    }
}

pub(super) fn scope_of(request: &CapabilityRequest) -> Vec<String> {
    request
        .paths
        .iter()
        .chain(&request.hosts)
        .cloned()
        .collect()
}

/// Whether `wanted` asks for nothing beyond `granted`.
pub(super) fn within(wanted: &CapabilityRequest, granted: &CapabilityRequest) -> bool {
    wanted.paths.iter().all(|p| granted.paths.contains(p))
        && wanted.hosts.iter().all(|h| granted.hosts.contains(h))
}

/// A package unpacked and verified, waiting for the user's consent.
#[derive(Debug)]
pub struct Staged {
    /// Its manifest.
    pub manifest: Manifest,
    pub(super) dir: PathBuf,
    /// Holds an unpacked archive on disk until the package is installed or dropped.
    pub(super) _temp: Option<tempfile::TempDir>,
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

/// The grantable capabilities a package asks for, each marked new unless the installed
/// version it replaces was already granted at least that scope.
pub(super) fn requested(
    manifest: &Manifest,
    replaces: Option<&InstalledPlugin>,
) -> Vec<CapabilityLine> {
    manifest
        .capabilities
        .iter()
        .filter(|(name, _)| capability::GRANTABLE.contains(&name.as_str()))
        .map(|(name, request)| CapabilityLine {
            name: name.clone(),
            scope: scope_of(request),
            meaning: meaning(name),
            new: replaces
                .and_then(|old| old.granted.get(name))
                .is_none_or(|granted| !within(request, granted)),
        })
        .collect()
}

/// What consenting to `manifest` grants: its grantable capabilities at the scope shown. Log
/// and progress are left out because they are always given.
pub(super) fn granted_by(manifest: &Manifest) -> BTreeMap<String, CapabilityRequest> {
    manifest
        .capabilities
        .iter()
        .filter(|(name, _)| capability::GRANTABLE.contains(&name.as_str()))
        .map(|(name, request)| (name.clone(), request.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::package;
    use super::super::{PluginError, PluginStatus, PluginStore};

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
        assert_eq!(entry.status, PluginStatus::Disabled);

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
}
