//! Test-only storage backend that tries to get at the secrets it is lent: it writes everything
//! it received into the record's title (so a test can see what entered plugin memory), keeps
//! the last secret handle, and on a `replay` item writes with that old handle.

use std::sync::Mutex;

use keeperdb_plugin::vault::{self, NewField, NewRecord};
use keeperdb_plugin::{Error, NewItem, StorageBackend, StoredItem};

static LAST_HANDLE: Mutex<Option<String>> = Mutex::new(None);

struct Probe;

impl StorageBackend for Probe {
    fn list_items() -> Result<Vec<StoredItem>, Error> {
        Ok(Vec::new())
    }

    fn put(item: NewItem) -> Result<String, Error> {
        let mut last = LAST_HANDLE
            .lock()
            .map_err(|_| Error::Internal("poisoned".into()))?;
        let handle = if item.payload == "replay" {
            last.clone()
        } else {
            item.secret.clone()
        };
        let seen = format!(
            "local_id={} payload={} secret={:?}",
            item.local_id, item.payload, item.secret
        );
        if item.secret.is_some() {
            *last = item.secret.clone();
        }
        let mut fields = vec![NewField::new("text", Some("type"), "[\"postgresql\"]")];
        if let Some(handle) = handle {
            fields.push(NewField::secret("password", None, handle));
        }
        vault::create_record(
            "folder",
            &NewRecord {
                record_type: "databaseCredentials".into(),
                title: seen,
                fields,
                custom: Vec::new(),
                notes: None,
            },
        )
    }

    fn remove(_remote_ref: String) -> Result<(), Error> {
        Ok(())
    }
}

keeperdb_plugin::export_storage_backend!(Probe);
