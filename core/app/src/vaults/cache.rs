//! The non-secret listing of each vault, saved after every successful refresh so the
//! connection list still shows vault entries while the vault cannot be reached. One owner-only
//! JSON file per attachment under the cache dir; nothing secret is in it (connections never
//! hold a password). A cache that does not parse is treated as absent: it can be rebuilt.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use keeperdb_model::Connection;
use keeperdb_model::source::{Skipped, SourceListing, Stale};
use serde::{Deserialize, Serialize};

/// What was saved for one vault.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CachedListing {
    /// When the listing was last read from the vault (seconds since the Unix epoch).
    pub refreshed_at: Option<u64>,
    /// Records the vault returned then.
    pub records_seen: usize,
    /// The connections listed then.
    pub connections: Vec<Connection>,
    /// Entries skipped then, with why.
    pub skipped: Vec<(String, String)>,
    /// The last refresh that failed after it, and why.
    pub last_failure: Option<(u64, String)>,
}

impl CachedListing {
    /// When it was last refreshed.
    pub fn refreshed(&self) -> Option<SystemTime> {
        self.refreshed_at
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
    }
}

/// The cache file of one attachment.
#[derive(Debug, Clone)]
pub(crate) struct ListingCache {
    path: PathBuf,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ListingCache {
    pub(crate) fn new(cache_dir: &Path, vault: &str) -> Self {
        Self {
            path: cache_dir.join("vaults").join(format!("{vault}.json")),
        }
    }

    /// What was saved, if anything readable was.
    pub(crate) fn load(&self) -> Option<CachedListing> {
        let text = keeperdb_fs::read_optional(&self.path).ok()??;
        match serde_json::from_str(&text) {
            Ok(cached) => Some(cached),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "ignoring an unreadable vault cache: {e}");
                None
            }
        }
    }

    /// Save a fresh listing.
    pub(crate) fn store_listing(&self, listing: &SourceListing, records_seen: usize) {
        self.write(&CachedListing {
            refreshed_at: Some(now_secs()),
            records_seen,
            connections: listing.connections.clone(),
            skipped: listing
                .skipped
                .iter()
                .map(|s| (s.entry.clone(), s.reason.clone()))
                .collect(),
            last_failure: None,
        });
    }

    /// Note a failed refresh, keeping the last good listing.
    pub(crate) fn store_failure(&self, reason: &str) {
        let mut cached = self.load().unwrap_or_default();
        cached.last_failure = Some((now_secs(), reason.to_string()));
        self.write(&cached);
    }

    /// The saved listing, marked stale with `reason`, if there is one.
    pub(crate) fn stale_listing(&self, reason: &str) -> Option<SourceListing> {
        let cached = self.load()?;
        let refreshed_at = cached.refreshed()?;
        Some(SourceListing {
            connections: cached.connections,
            skipped: cached
                .skipped
                .into_iter()
                .map(|(entry, reason)| Skipped { entry, reason })
                .collect(),
            stale: Some(Stale {
                refreshed_at,
                reason: reason.to_string(),
            }),
        })
    }

    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    fn write(&self, cached: &CachedListing) {
        // A cache that cannot be written only costs the offline listing; say so and go on.
        let written = self
            .path
            .parent()
            .map_or(Ok(()), keeperdb_fs::ensure_private_dir)
            .and_then(|()| {
                let text = serde_json::to_vec_pretty(cached).map_err(std::io::Error::other)?;
                keeperdb_fs::write_atomic(&self.path, &text)
            });
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), "cannot save the vault listing for offline use: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use keeperdb_model::Engine;
    use keeperdb_model::connection::{ConnectionId, ConnectionSpec, Origin};

    #[test]
    fn a_listing_survives_a_failure_and_comes_back_stale_from_an_owner_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ListingCache::new(dir.path(), "work");
        assert!(
            cache.stale_listing("offline").is_none(),
            "nothing saved yet"
        );
        let mut spec = ConnectionSpec::new(Engine::POSTGRES, "Orders");
        spec.host = Some("db.internal".into());
        let listing = SourceListing::from(vec![Connection {
            id: ConnectionId::from_string("keeper-vault@work:UID1"),
            spec,
            origin: Origin {
                source: "keeper-vault@work".into(),
                badge: "Vault".into(),
                vault: Some("work".into()),
            },
        }]);
        cache.store_listing(&listing, 7);
        cache.store_failure("cannot reach keepersecurity.com");
        let stale = cache
            .stale_listing("cannot reach keepersecurity.com")
            .unwrap();
        assert_eq!(stale.connections, listing.connections);
        assert!(stale.stale.unwrap().refreshed_at <= SystemTime::now());
        let saved = cache.load().unwrap();
        assert_eq!(saved.records_seen, 7);
        assert!(saved.last_failure.unwrap().1.contains("cannot reach"));
        let mode = std::fs::metadata(dir.path().join("vaults/work.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
    }

    #[test]
    fn a_corrupt_cache_counts_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ListingCache::new(dir.path(), "work");
        std::fs::create_dir_all(dir.path().join("vaults")).unwrap();
        std::fs::write(dir.path().join("vaults/work.json"), "{oops").unwrap();
        assert!(cache.stale_listing("offline").is_none());
    }
}
