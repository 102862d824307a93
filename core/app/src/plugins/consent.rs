//! Consent: what a package asks for in words the user can judge, whether an install or
//! upgrade must ask again, and what the user's yes grants.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::InstalledPlugin;
use keeperdb_model::capability;
use keeperdb_model::manifest::{CapabilityRequest, Manifest};
use keeperdb_model::signature::Publisher;

/// What the user said yes to. Trusting a publisher is a question of its own: granting
/// capabilities never implies it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consent {
    /// The capabilities shown are granted.
    pub capabilities: bool,
    /// The publisher concern shown (unsigned, or another publisher than the installed one's)
    /// is accepted.
    pub publisher: bool,
}

impl Consent {
    /// Yes to everything shown.
    pub const ALL: Consent = Consent {
        capabilities: true,
        publisher: true,
    };
    /// Yes to the capabilities only.
    pub const CAPABILITIES: Consent = Consent {
        capabilities: true,
        publisher: false,
    };
}

/// Why who published a package needs the user's own consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublisherConcern {
    /// Nobody signed it: nothing says who made it.
    Unsigned,
    /// An installed plugin has this id, and another publisher signed this package.
    Changed {
        /// Who published the installed version.
        installed: Publisher,
        /// Who signed this package.
        offered: Publisher,
    },
}

impl std::fmt::Display for PublisherConcern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublisherConcern::Unsigned => f.write_str(
                "it is unsigned: nothing shows who published it, and an upgrade could come from anyone",
            ),
            PublisherConcern::Changed { installed, offered } => write!(
                f,
                "it comes from a different publisher than the installed version: installed from {installed}, this package from {offered}; it would replace the plugin you trusted"
            ),
        }
    }
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
    /// Who signed it.
    pub publisher: Publisher,
    /// The digest of the compiled cache entry written when the staged component was checked,
    /// recorded at install so the first load maps it instead of compiling again.
    pub(crate) compiled: Option<String>,
}

impl Staged {
    /// Whether the user must consent to capabilities: a fresh install, or an upgrade that
    /// widens them.
    pub fn needs_consent(&self) -> bool {
        self.replaces.is_none() || self.capabilities.iter().any(|c| c.new)
    }

    /// What about its publisher needs the user's own consent, if anything: an unsigned
    /// package always, a signed one when it would replace a plugin another publisher made.
    pub fn publisher_concern(&self) -> Option<PublisherConcern> {
        if self.publisher == Publisher::Unsigned {
            return Some(PublisherConcern::Unsigned);
        }
        let installed = self.replaces.as_ref()?.publisher();
        (installed != self.publisher).then(|| PublisherConcern::Changed {
            installed,
            offered: self.publisher.clone(),
        })
    }

    /// Whether `consent` covers what this package needs consent to: its publisher concern,
    /// if any, and its capabilities when they are new.
    pub fn check_consent(&self, consent: Consent) -> Result<(), super::PluginError> {
        if let Some(concern) = self.publisher_concern()
            && !consent.publisher
        {
            return Err(super::PluginError::PublisherNotTrusted {
                id: self.manifest.id.clone(),
                concern: concern.to_string(),
            });
        }
        if self.needs_consent() && !consent.capabilities {
            return Err(super::PluginError::NotGranted(self.manifest.id.clone()));
        }
        Ok(())
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
    use super::Consent;

    /// The fixtures are unsigned: these tests are about capabilities, the publisher is accepted.
    const CAPS_NOT_GRANTED: Consent = Consent {
        capabilities: false,
        publisher: true,
    };

    #[test]
    fn upgrades_ask_again_only_when_capabilities_widen() {
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let staged = store
            .stage(&package(tmp.path(), "0.1.0", &["~/.a"]))
            .unwrap();
        store.install(staged, Consent::ALL).unwrap();
        store.set_enabled("demo", false).unwrap();

        let same = store
            .stage(&package(tmp.path(), "0.2.0", &["~/.a"]))
            .unwrap();
        assert!(!same.needs_consent());
        let entry = store.install(same, CAPS_NOT_GRANTED).unwrap();
        assert_eq!(entry.installed.version, semver::Version::new(0, 2, 0));
        // The user's disable survives the upgrade.
        assert_eq!(entry.status, PluginStatus::Disabled);

        let wider = store
            .stage(&package(tmp.path(), "0.3.0", &["~/.a", "~/.b"]))
            .unwrap();
        assert!(wider.needs_consent());
        assert!(matches!(
            store.install(wider, CAPS_NOT_GRANTED),
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
    fn an_upgrade_from_another_publisher_or_unsigned_needs_its_own_consent() {
        use super::super::fixtures::sign;
        use super::PublisherConcern;
        use keeperdb_model::signature::{Publisher, public_key_of};
        const TRUSTED: [u8; 32] = [1; 32];
        const IMPOSTOR: [u8; 32] = [2; 32];
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let original = package(tmp.path(), "0.1.0", &["~/.a"]);
        sign(&original, &TRUSTED);
        let staged = store.stage(&original).unwrap();
        assert_eq!(staged.publisher_concern(), None);
        store.install(staged, Consent::CAPABILITIES).unwrap();

        // Same id, higher version, no new capabilities, another key: not an upgrade by itself.
        let impostor = package(tmp.path(), "0.2.0", &["~/.a"]);
        sign(&impostor, &IMPOSTOR);
        let staged = store.stage(&impostor).unwrap();
        assert!(!staged.needs_consent());
        let concern = staged.publisher_concern().unwrap();
        assert!(matches!(concern, PublisherConcern::Changed { .. }));
        assert!(
            concern.to_string().contains("different publisher"),
            "{concern}"
        );
        let err = store.install(staged, Consent::CAPABILITIES).unwrap_err();
        assert_eq!(err.kind(), "publisher-not-trusted", "{err}");

        // Unsigned: the same, and said differently.
        let unsigned = package(tmp.path(), "0.3.0", &["~/.a"]);
        let staged = store.stage(&unsigned).unwrap();
        assert_eq!(staged.publisher_concern(), Some(PublisherConcern::Unsigned));
        let err = store.install(staged, Consent::CAPABILITIES).unwrap_err();
        assert!(err.to_string().contains("unsigned"), "{err}");

        // Nothing the user had changed.
        let info = store.info("demo").unwrap();
        assert_eq!(info.installed.version, semver::Version::new(0, 1, 0));
        assert_eq!(
            info.installed.publisher(),
            Publisher::Key(public_key_of(&TRUSTED))
        );
        assert_eq!(info.status, PluginStatus::Enabled);

        // The same publisher upgrades without a question.
        let next = package(tmp.path(), "0.4.0", &["~/.a"]);
        sign(&next, &TRUSTED);
        let staged = store.stage(&next).unwrap();
        assert_eq!(staged.publisher_concern(), None);
        store.install(staged, Consent::default()).unwrap();

        // Its signature swapped on disk afterwards: broken, not loaded.
        sign(&store.root().join("demo"), &IMPOSTOR);
        let status = store.info("demo").unwrap().status.to_string();
        assert!(status.contains("now signed as third party"), "{status}");
    }

    #[test]
    fn a_package_whose_signature_does_not_match_is_refused() {
        use super::super::fixtures::sign;
        let tmp = tempfile::tempdir().unwrap();
        let store = PluginStore::at(tmp.path().join("plugins"));
        let pkg = package(tmp.path(), "0.1.0", &[]);
        sign(&pkg, &[3; 32]);
        let manifest = pkg.join(keeperdb_model::manifest::MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}badge = \"Vault\"\n")).unwrap();
        let err = store.stage(&pkg).unwrap_err();
        assert_eq!(err.kind(), "signature", "{err}");
        assert!(
            err.to_string().contains("changed after it was signed"),
            "{err}"
        );
    }
}
