//! Compiled components on disk, so a warm start maps native code instead of compiling.
//!
//! Key: the payload's sha256 (already verified against the manifest) and the engine's
//! precompile compatibility hash (wasmtime version, target, settings). Entries are written
//! atomically into a directory keeperdb creates owner-only; only files from that directory
//! are ever deserialized, because deserializing trusts the bytes to be wasmtime's own output.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

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

    /// The cached component for a payload hash, if a usable one exists.
    pub(crate) fn load(&self, engine: &wasmtime::Engine, sha256: &str) -> Option<Component> {
        let path = self.entry(sha256);
        if !path.is_file() {
            return None;
        }
        // SAFETY: the file is in keeperdb's own owner-only cache dir, written by `store` below
        // from `Component::serialize` for this exact engine configuration (the name carries the
        // compatibility hash); wasmtime still checks its header and refuses a mismatched file.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unusable compiled plugin: {e}");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Store a compiled component; failures only cost the next start a compile.
    pub(crate) fn store(&self, sha256: &str, component: &Component) {
        if let Err(e) = self.try_store(sha256, component) {
            tracing::warn!(dir = %self.dir.display(), "cannot cache compiled plugin: {e}");
        }
    }

    fn try_store(&self, sha256: &str, component: &Component) -> Result<(), String> {
        keeperdb_fs::ensure_private_dir(&self.dir).map_err(|e| e.to_string())?;
        let bytes = component.serialize().map_err(|e| e.to_string())?;
        keeperdb_fs::write_atomic(&self.entry(sha256), &bytes).map_err(|e| e.to_string())
    }
}
