//! The local store as a connection source, with the `Local` badge.

use keeperdb_model::connection::{Connection, LOCAL_SOURCE_ID, Origin};
use keeperdb_model::credentials::Credentials;
use keeperdb_model::source::{ConnectionSource, SourceError, SourceInfo, SourceListing};

use super::{LocalStore, StoreError};

/// keeperdb's own saved connections as a source.
#[derive(Debug, Clone)]
pub struct LocalSource {
    store: LocalStore,
}

impl LocalSource {
    /// Wrap a store.
    pub fn new(store: LocalStore) -> Self {
        Self { store }
    }
}

impl ConnectionSource for LocalSource {
    fn info(&self) -> SourceInfo {
        let origin = Origin::local();
        SourceInfo {
            id: origin.source,
            badge: origin.badge,
            vault: None,
        }
    }

    fn list(&self) -> Result<SourceListing, SourceError> {
        let connections: Vec<Connection> = self
            .store
            .connections()
            .map_err(store_to_source)?
            .into_iter()
            .map(|v| v.connection)
            .collect();
        Ok(connections.into())
    }

    fn credentials(&self, connection: &Connection) -> Result<Credentials, SourceError> {
        debug_assert_eq!(connection.origin.source, LOCAL_SOURCE_ID);
        self.store.credentials(connection).map_err(|e| match e {
            StoreError::NotFound(_) => SourceError::NotFound(connection.id.clone()),
            other => store_to_source(other),
        })
    }
}

fn store_to_source(e: StoreError) -> SourceError {
    match e {
        StoreError::Secrets(s) => SourceError::SecretStore(s),
        StoreError::Corrupt { path, message } => SourceError::InvalidData {
            what: path.display().to_string(),
            message,
        },
        other => SourceError::Unavailable(other.to_string()),
    }
}
