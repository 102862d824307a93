//! Publisher identity: a package's `plugin.sig` signs its `plugin.toml` (which names the
//! payload's sha256, so the signature covers the payload too) with the publisher's ed25519
//! key. The publisher *is* that key; the host knows one of them, the project's, as first-party.
//!
//! `plugin.sig` is TOML:
//!
//! ```toml
//! key = "<hex ed25519 public key>"
//! signature = "<hex ed25519 signature over SIGNED_PREFIX + the exact bytes of plugin.toml>"
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::manifest::MANIFEST_FILE;

/// The file beside `plugin.toml` that carries the publisher's signature.
pub const SIGNATURE_FILE: &str = "plugin.sig";

/// Prefixed to the manifest bytes before signing, so a signature made for anything else with
/// the same key can never pass as a plugin's.
const SIGNED_PREFIX: &[u8] = b"keeperdb plugin manifest v1\n";

/// The development key's public half. Its seed is public (xtask derives it), so it proves
/// nothing outside a checkout: a release build sets `KEEPERDB_FIRST_PARTY_KEY` at compile
/// time to the release key's public half, and the release plugins are signed with its seed.
const DEV_FIRST_PARTY_KEY: &str =
    "14e7b218d51839083634486ebd308018463998ae744d379c63de974828b95b6a";

/// The public key (hex) of the project's first-party plugins, as this build trusts it.
pub fn first_party_key() -> &'static str {
    option_env!("KEEPERDB_FIRST_PARTY_KEY").unwrap_or(DEV_FIRST_PARTY_KEY)
}

/// Who published a package, as far as its signature shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Publisher {
    /// Signed with the project's key.
    FirstParty,
    /// Signed with another key (lowercase hex of the public key).
    Key(String),
    /// No `plugin.sig`.
    Unsigned,
}

impl Publisher {
    /// The publisher for a recorded key (`None`: unsigned).
    pub fn from_key(key: Option<&str>) -> Self {
        match key {
            None => Publisher::Unsigned,
            Some(k) if k.eq_ignore_ascii_case(first_party_key()) => Publisher::FirstParty,
            Some(k) => Publisher::Key(k.to_ascii_lowercase()),
        }
    }

    /// The key as recorded in the install state (`None` when unsigned).
    pub fn key(&self) -> Option<String> {
        match self {
            Publisher::FirstParty => Some(first_party_key().to_string()),
            Publisher::Key(k) => Some(k.clone()),
            Publisher::Unsigned => None,
        }
    }

    /// Whether this is the project itself.
    pub fn is_first_party(&self) -> bool {
        matches!(self, Publisher::FirstParty)
    }
}

impl fmt::Display for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Publisher::FirstParty => write!(f, "keeperdb project (first-party)"),
            // A fingerprint short enough to compare by eye, long enough not to collide by chance.
            Publisher::Key(k) => write!(f, "third party, key ed25519:{}", &k[..k.len().min(16)]),
            Publisher::Unsigned => write!(f, "unsigned (publisher unknown)"),
        }
    }
}

/// Why a signature was refused. An invalid signature is never taken as "unsigned": it means
/// the manifest changed after signing, or the file was made to look signed.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The signature file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The signature file is malformed.
    #[error("{path}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The signature does not match the manifest.
    #[error(
        "{path}: the signature does not match plugin.toml; the package was changed after it was signed, refusing it"
    )]
    Invalid {
        /// The signature file.
        path: PathBuf,
    },
}

impl SignatureError {
    /// A stable name for the kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            SignatureError::Io { .. } => "io",
            SignatureError::Malformed { .. } => "malformed",
            SignatureError::Invalid { .. } => "invalid",
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    key: String,
    signature: String,
}

/// The `plugin.sig` text for `manifest` (the exact bytes of `plugin.toml`) signed with the
/// 32-byte ed25519 `seed`. For publishers (`cargo xtask` signs the first-party plugins).
pub fn sign(manifest: &[u8], seed: &[u8; 32]) -> String {
    let key = SigningKey::from_bytes(seed);
    let signature = key.sign(&signed_message(manifest));
    let file = SignatureFile {
        key: hex::encode(key.verifying_key().as_bytes()),
        signature: hex::encode(signature.to_bytes()),
    };
    // Serializing two strings cannot fail.
    toml::to_string(&file).unwrap_or_default()
}

/// The public key (hex) of a 32-byte ed25519 seed.
pub fn public_key_of(seed: &[u8; 32]) -> String {
    hex::encode(SigningKey::from_bytes(seed).verifying_key().as_bytes())
}

/// Who signed the package in `dir`: its `plugin.sig` checked against its `plugin.toml`.
/// No signature file is [`Publisher::Unsigned`]; a signature that does not verify is an error.
pub fn verify_dir(dir: &Path) -> Result<Publisher, SignatureError> {
    let sig_path = dir.join(SIGNATURE_FILE);
    let text = match std::fs::read_to_string(&sig_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Publisher::Unsigned),
        Err(source) => {
            return Err(SignatureError::Io {
                path: sig_path,
                source,
            });
        }
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = std::fs::read(&manifest_path).map_err(|source| SignatureError::Io {
        path: manifest_path,
        source,
    })?;
    verify(&manifest, &text, &sig_path)
}

/// Check a `plugin.sig` text against the manifest bytes it claims to sign.
pub fn verify(
    manifest: &[u8],
    sig_text: &str,
    sig_path: &Path,
) -> Result<Publisher, SignatureError> {
    let malformed = |message: &str| SignatureError::Malformed {
        path: sig_path.to_path_buf(),
        message: message.to_string(),
    };
    let file: SignatureFile = toml::from_str(sig_text)
        .map_err(|_| malformed("not a plugin signature (key, signature)"))?;
    let key: [u8; 32] = hex::decode(&file.key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("`key` is not a hex ed25519 public key"))?;
    let signature: [u8; 64] = hex::decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("`signature` is not a hex ed25519 signature"))?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| malformed("`key` is not a valid ed25519 public key"))?;
    let signature = ed25519_dalek::Signature::from_bytes(&signature);
    // `verify_strict` refuses weak keys and malleable signatures.
    key.verify_strict(&signed_message(manifest), &signature)
        .map_err(|_| SignatureError::Invalid {
            path: sig_path.to_path_buf(),
        })?;
    Ok(Publisher::from_key(Some(&hex::encode(key.as_bytes()))))
}

fn signed_message(manifest: &[u8]) -> Vec<u8> {
    [SIGNED_PREFIX, manifest].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OTHER_SEED: [u8; 32] = [7; 32];

    #[test]
    fn a_signature_names_its_key_and_breaks_when_the_manifest_changes() {
        let manifest = b"id = \"demo\"\n";
        let sig = sign(manifest, &OTHER_SEED);
        let path = Path::new("plugin.sig");
        assert_eq!(
            verify(manifest, &sig, path).unwrap(),
            Publisher::Key(public_key_of(&OTHER_SEED))
        );
        let err = verify(b"id = \"demo\"\nbadge = \"Vault\"\n", &sig, path).unwrap_err();
        assert_eq!(err.kind(), "invalid", "{err}");
        let err = verify(manifest, "key = \"00\"\nsignature = \"00\"\n", path).unwrap_err();
        assert_eq!(err.kind(), "malformed", "{err}");
    }

    #[test]
    fn a_package_without_a_signature_is_unsigned_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), "id = \"x\"\n").unwrap();
        let publisher = verify_dir(dir.path()).unwrap();
        assert_eq!(publisher, Publisher::Unsigned);
        assert!(publisher.to_string().contains("unsigned"));
    }

    #[test]
    fn the_first_party_key_is_recognised_by_its_public_half() {
        assert!(Publisher::from_key(Some(first_party_key())).is_first_party());
        assert!(!Publisher::from_key(Some(&public_key_of(&OTHER_SEED))).is_first_party());
        assert_eq!(Publisher::from_key(None), Publisher::Unsigned);
    }
}
