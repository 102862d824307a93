//! Compiled components on disk, so a warm start maps native code instead of compiling.
//!
//! Key: the payload's sha256 (already verified against the manifest) and the engine's
//! precompile compatibility hash (wasmtime version, target, settings). Entries are written
//! atomically into a directory keeperdb creates owner-only. Deserializing trusts the bytes to
//! be wasmtime's own output for this payload, and a file name proves neither (another
//! plugin's entry copied over it, or a crafted file, would run as this plugin): so each entry
//! is tied to its payload by the sha256 of the entry's bytes, which the caller recorded when
//! it was written, in the plugins state the user's consent protects. An entry is only
//! deserialized when its bytes hash to that digest; otherwise the payload is compiled again.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// The cache directory and the engine key.
#[derive(Debug, Clone)]
pub(crate) struct CompiledCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompiledCache {
    pub(crate) fn new(dir: PathBuf, engine: &wasmtime::Engine) -> Self {
        // SipHash with fixed keys: stable for one keeperdb build, which is all the key needs.
        #[allow(deprecated)]
        let mut hasher = std::hash::SipHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.cwasm",
            sha256.to_ascii_lowercase(),
            self.engine_key
        ))
    }

    /// The cached component for a payload hash, if an entry exists whose bytes hash to
    /// `expected` (the digest recorded when it was written). Any other entry is discarded.
    pub(crate) fn load(
        &self,
        engine: &wasmtime::Engine,
        sha256: &str,
        expected: Option<&str>,
    ) -> Option<(Component, String)> {
        let path = self.entry(sha256);
        let expected = expected?;
        let bytes = std::fs::read(&path).ok()?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if !digest.eq_ignore_ascii_case(expected) {
            tracing::warn!(
                path = %path.display(),
                "compiled plugin in the cache is not the one keeperdb wrote for this payload; compiling again"
            );
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // SAFETY: these exact bytes (read once, hashed, and deserialized from memory, so the
        // file cannot change in between) hash to the digest recorded when `store` wrote them
        // from `Component::serialize` for this payload and engine configuration; wasmtime
        // still checks the header and refuses a mismatched engine.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => Some((component, digest)),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unusable compiled plugin: {e}");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Store a compiled component; returns the digest to record, or `None` when it could not
    /// be written (which only costs the next start a compile).
    pub(crate) fn store(&self, sha256: &str, component: &Component) -> Option<String> {
        match self.try_store(sha256, component) {
            Ok(digest) => Some(digest),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), "cannot cache compiled plugin: {e}");
                None
            }
        }
    }

    fn try_store(&self, sha256: &str, component: &Component) -> Result<String, String> {
        keeperdb_fs::ensure_private_dir(&self.dir).map_err(|e| e.to_string())?;
        let bytes = component.serialize().map_err(|e| e.to_string())?;
        keeperdb_fs::write_atomic(&self.entry(sha256), &bytes).map_err(|e| e.to_string())?;
        Ok(hex::encode(Sha256::digest(&bytes)))
    }
}
