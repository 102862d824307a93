//! Test-only storage backend: items live in instance memory; `put` reports progress and
//! recreates an item under a new remote ref, as the vault backend does. It keeps no secret (an
//! item's secret handle is dropped, and items list with `secret: None`). A payload of `trap`
//! makes `put` abort, to check that state is rebuilt from scratch afterwards.

use std::sync::Mutex;

use keeperdb_plugin::{Error, NewItem, StorageBackend, StoredItem};

static ITEMS: Mutex<Vec<StoredItem>> = Mutex::new(Vec::new());
static NEXT: Mutex<u64> = Mutex::new(1);

struct Memory;

impl StorageBackend for Memory {
    fn list_items() -> Result<Vec<StoredItem>, Error> {
        Ok(ITEMS
            .lock()
            .map_err(|_| Error::Internal("poisoned".into()))?
            .clone())
    }

    fn put(item: NewItem) -> Result<String, Error> {
        if item.payload == "trap" {
            std::process::abort();
        }
        let mut items = ITEMS
            .lock()
            .map_err(|_| Error::Internal("poisoned".into()))?;
        let mut next = NEXT
            .lock()
            .map_err(|_| Error::Internal("poisoned".into()))?;
        let remote_ref = format!("ref-{}", *next);
        *next += 1;
        items.retain(|i| i.local_id != item.local_id);
        items.push(StoredItem {
            local_id: item.local_id,
            remote_ref: remote_ref.clone(),
            kind: item.kind,
            payload: item.payload,
            // Nothing secret is kept here: the handle is valid during this call only, and only a
            // vault field can take it.
            secret: None,
        });
        keeperdb_plugin::progress::report(items.len() as u64, 0, "Configuring...");
        Ok(remote_ref)
    }

    fn remove(remote_ref: String) -> Result<(), Error> {
        let mut items = ITEMS
            .lock()
            .map_err(|_| Error::Internal("poisoned".into()))?;
        let before = items.len();
        items.retain(|i| i.remote_ref != remote_ref);
        if items.len() == before {
            return Err(Error::NotFound(format!("item {remote_ref}")));
        }
        Ok(())
    }
}

keeperdb_plugin::export_storage_backend!(Memory);
