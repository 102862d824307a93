//! Signs first-party plugins with the project's key, so the host knows them as first-party.
//!
//! Development builds sign with the development key, whose seed is derived below from a
//! public phrase: anyone can sign with it, so it only means "built from this checkout". A
//! release sets `KEEPERDB_SIGNING_KEY` to a file holding the release key's 32-byte seed as
//! hex (kept offline, handed to the release job only), and builds keeperdb with
//! `KEEPERDB_FIRST_PARTY_KEY` set to its public half.

use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use keeperdb_model::manifest::MANIFEST_FILE;
use keeperdb_model::signature::{self, SIGNATURE_FILE};

/// The file holding the release key's seed (hex), when signing a release.
pub const SIGNING_KEY_ENV: &str = "KEEPERDB_SIGNING_KEY";

/// The development key's seed: public by design (see the module docs).
fn dev_seed() -> [u8; 32] {
    Sha256::digest(b"keeperdb development plugin signing key; public, never for releases").into()
}

/// The seed to sign with: the release key's when `KEEPERDB_SIGNING_KEY` names one.
pub fn seed() -> Result<[u8; 32]> {
    let Some(path) = std::env::var_os(SIGNING_KEY_ENV).filter(|v| !v.is_empty()) else {
        return Ok(dev_seed());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {SIGNING_KEY_ENV}={}", Path::new(&path).display()))?;
    let bytes = hex::decode(text.trim()).with_context(|| format!("{SIGNING_KEY_ENV}: not hex"))?;
    match <[u8; 32]>::try_from(bytes) {
        Ok(seed) => Ok(seed),
        Err(_) => bail!("{SIGNING_KEY_ENV}: an ed25519 seed is 32 bytes"),
    }
}

/// Write `dir/plugin.sig` for `dir/plugin.toml` as it is now.
pub fn sign_dir(dir: &Path, seed: &[u8; 32]) -> Result<()> {
    let manifest = std::fs::read(dir.join(MANIFEST_FILE))
        .with_context(|| format!("reading {}/{MANIFEST_FILE}", dir.display()))?;
    let tmp = dir.join(format!(".{SIGNATURE_FILE}.tmp"));
    std::fs::write(&tmp, signature::sign(&manifest, seed))?;
    std::fs::rename(&tmp, dir.join(SIGNATURE_FILE))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_seed_is_the_key_the_host_trusts_as_first_party() {
        assert_eq!(
            signature::public_key_of(&dev_seed()),
            signature::first_party_key()
        );
    }
}
