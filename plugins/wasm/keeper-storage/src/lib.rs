//! keeperdb's Keeper vault storage backend: mirrors the saved connections and the preferences
//! into the vault folder `KeeperDB Storage`, one record per item, each found again by its
//! `keeperdb_local_id` custom field. The host runs the sync (what to push, recreate or remove,
//! and the progress shown) and binds each instance to one vault attachment; this plugin only
//! lists, writes and removes records, over the host's `keeper-vault` capability.
//!
//! - Listing reads every record the Keeper Secrets Manager application sees in one call, and
//!   maps those with a local id back to items (`mapping`). A record that cannot be read is
//!   listed anyway, with a payload saying why, so the host never writes it twice.
//! - Writing creates a new record in `KeeperDB Storage`, which is found by name or else created
//!   in the first shared folder the application may edit. A connection is a "Database" record
//!   Keeper's own apps show; its password is written by the host from the handle it passed
//!   (`NewItem::secret`), so it never enters this plugin. The preferences are a secure note.
//! - Removing deletes a record by UID.

use std::sync::{Mutex, PoisonError};

use keeperdb_plugin::vault::{self, Folder, NewRecord};
use keeperdb_plugin::{Error, NewItem, StorageBackend, StoredItem};

pub mod mapping;

use mapping::FOLDER_NAME;

/// The UID of `KeeperDB Storage` once found or created, for the later calls of this instance.
static FOLDER: Mutex<Option<String>> = Mutex::new(None);

const CAN_EDIT: &str = "give it the \"Can Edit\" permission on a shared folder in Keeper";

struct KeeperStorage;

impl StorageBackend for KeeperStorage {
    fn list_items() -> Result<Vec<StoredItem>, Error> {
        // One round trip: an unchanged vault re-syncs with this call alone.
        let records = vault::list_records(None, false)?;
        let mut items = Vec::new();
        for record in &records {
            match mapping::to_item(record) {
                Some(item) => items.push(item),
                None if record.custom_field(mapping::LOCAL_ID).is_some() => {
                    keeperdb_plugin::log::warn(&format!(
                        "vault record {} has a `{}` field without a usable id: left out of storage sync",
                        record.uid,
                        mapping::LOCAL_ID
                    ))
                }
                None => {}
            }
        }
        Ok(items)
    }

    fn put(item: NewItem) -> Result<String, Error> {
        let record = mapping::to_record(&item)?;
        put_record(&Host, &FOLDER, &record)
    }

    fn remove(remote_ref: String) -> Result<(), Error> {
        vault::delete_record(&remote_ref).map_err(|e| match e {
            Error::Denied(why) => Error::Denied(format!(
                "cannot delete vault record {remote_ref} ({why}): the Keeper Secrets Manager application may not edit the shared folder it is in: {CAN_EDIT}"
            )),
            other => other,
        })
    }
}

keeperdb_plugin::export_storage_backend!(KeeperStorage);

/// The vault calls `put` makes, so that the folder logic can be tested without a host.
trait Vault {
    fn list_folders(&self) -> Result<Vec<Folder>, Error>;
    fn create_folder(&self, parent_uid: &str, name: &str) -> Result<String, Error>;
    fn create_record(&self, folder_uid: &str, record: &NewRecord) -> Result<String, Error>;
}

/// The host's `keeper-vault` capability.
struct Host;

impl Vault for Host {
    fn list_folders(&self) -> Result<Vec<Folder>, Error> {
        vault::list_folders()
    }
    fn create_folder(&self, parent_uid: &str, name: &str) -> Result<String, Error> {
        vault::create_folder(parent_uid, name)
    }
    fn create_record(&self, folder_uid: &str, record: &NewRecord) -> Result<String, Error> {
        vault::create_record(folder_uid, record)
    }
}

/// Create `record` in `KeeperDB Storage`, remembering the folder in `cache`. A remembered
/// folder that is gone (deleted in Keeper, unshared) is looked up again, once.
fn put_record(
    vault: &impl Vault,
    cache: &Mutex<Option<String>>,
    record: &NewRecord,
) -> Result<String, Error> {
    let cached = cache.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let folder = match &cached {
        Some(uid) => uid.clone(),
        None => remember(cache, storage_folder(vault)?),
    };
    let created = match vault.create_record(&folder, record) {
        Err(Error::NotFound(_)) if cached.is_some() => {
            forget(cache);
            let folder = remember(cache, storage_folder(vault)?);
            vault.create_record(&folder, record)
        }
        other => other,
    };
    if matches!(created, Err(Error::NotFound(_))) {
        forget(cache);
    }
    created.map_err(explain_create)
}

fn remember(cache: &Mutex<Option<String>>, uid: String) -> String {
    *cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(uid.clone());
    uid
}

fn forget(cache: &Mutex<Option<String>>) {
    *cache.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

fn explain_create(e: Error) -> Error {
    match e {
        Error::Denied(why) => Error::Denied(format!(
            "cannot write into the vault folder `{FOLDER_NAME}` ({why}): the Keeper Secrets Manager application may not edit the shared folder it is in: {CAN_EDIT}"
        )),
        other => other,
    }
}

/// The UID of `KeeperDB Storage`: an existing one, else one created in the first shared folder
/// the application may edit.
fn storage_folder(vault: &impl Vault) -> Result<String, Error> {
    let folders = vault.list_folders()?;
    if let Some(found) = find_folder(&folders) {
        return Ok(found.uid.clone());
    }
    let shared: Vec<&Folder> = folders.iter().filter(|f| f.parent_uid.is_none()).collect();
    if shared.is_empty() {
        return Err(Error::Denied(format!(
            "the Keeper Secrets Manager application sees no shared folder to create `{FOLDER_NAME}` in: share a folder with the application in Keeper, with the \"Can Edit\" permission"
        )));
    }
    for parent in &shared {
        match vault.create_folder(&parent.uid, FOLDER_NAME) {
            Ok(uid) => return Ok(uid),
            // Read-only here; another shared folder may do.
            Err(Error::Denied(_)) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(Error::Denied(format!(
        "cannot create the vault folder `{FOLDER_NAME}`: the Keeper Secrets Manager application may not edit any shared folder it sees ({}): {CAN_EDIT}, or create `{FOLDER_NAME}` in one it may edit",
        shared.len()
    )))
}

/// The folder named exactly `KeeperDB Storage`; of several, one directly inside a shared folder
/// the application sees first, then the smallest UID (so every instance picks the same one).
fn find_folder(folders: &[Folder]) -> Option<&Folder> {
    let in_shared = |f: &Folder| {
        f.parent_uid.as_deref().is_some_and(|parent| {
            folders
                .iter()
                .any(|p| p.uid == parent && p.parent_uid.is_none())
        })
    };
    folders
        .iter()
        .filter(|f| f.name == FOLDER_NAME)
        .min_by(|a, b| {
            in_shared(b)
                .cmp(&in_shared(a))
                .then_with(|| a.uid.cmp(&b.uid))
        })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn folder(uid: &str, name: &str, parent: Option<&str>) -> Folder {
        Folder {
            uid: uid.into(),
            name: name.into(),
            parent_uid: parent.map(Into::into),
            shared_folder_uid: Some(parent.unwrap_or(uid).into()),
        }
    }

    /// A vault in memory: the folders it lists, the shared folders the application may not
    /// edit, the folders that vanished, and every call made.
    #[derive(Default)]
    struct Fake {
        folders: RefCell<Vec<Folder>>,
        read_only: Vec<&'static str>,
        gone: RefCell<Vec<String>>,
        calls: RefCell<Vec<String>>,
    }

    impl Vault for Fake {
        fn list_folders(&self) -> Result<Vec<Folder>, Error> {
            self.calls.borrow_mut().push("list_folders".into());
            Ok(self.folders.borrow().clone())
        }
        fn create_folder(&self, parent_uid: &str, name: &str) -> Result<String, Error> {
            self.calls
                .borrow_mut()
                .push(format!("create_folder {parent_uid}"));
            if self.read_only.contains(&parent_uid) {
                return Err(Error::Denied(format!("read-only {parent_uid}")));
            }
            let uid = format!("NEW-{}", self.folders.borrow().len());
            self.folders
                .borrow_mut()
                .push(folder(&uid, name, Some(parent_uid)));
            Ok(uid)
        }
        fn create_record(&self, folder_uid: &str, record: &NewRecord) -> Result<String, Error> {
            self.calls
                .borrow_mut()
                .push(format!("create_record {folder_uid}"));
            if self.gone.borrow().iter().any(|g| g == folder_uid) {
                return Err(Error::NotFound(format!("folder {folder_uid}")));
            }
            if self.read_only.iter().any(|r| folder_uid.starts_with(r)) {
                return Err(Error::Denied(format!("read-only {folder_uid}")));
            }
            Ok(format!("REC-{}-{}", folder_uid, record.title))
        }
    }

    fn record() -> NewRecord {
        NewRecord {
            record_type: "encryptedNotes".into(),
            title: "t".into(),
            fields: Vec::new(),
            custom: Vec::new(),
            notes: None,
        }
    }

    fn calls(fake: &Fake) -> Vec<String> {
        fake.calls.borrow().clone()
    }

    #[test]
    fn an_existing_folder_is_used_preferring_one_directly_in_a_shared_folder_then_the_smallest_uid()
    {
        let fake = Fake {
            folders: RefCell::new(vec![
                folder("SF", "Team", None),
                folder("DEEP", "Sub", Some("SF")),
                folder("A-DEEP", FOLDER_NAME, Some("DEEP")),
                folder("Z", FOLDER_NAME, Some("SF")),
                folder("Y", FOLDER_NAME, Some("SF")),
                folder("LOOKALIKE", "keeperdb storage", Some("SF")),
            ]),
            ..Fake::default()
        };
        let cache = Mutex::new(None);
        assert_eq!(put_record(&fake, &cache, &record()).unwrap(), "REC-Y-t");
        assert_eq!(calls(&fake), ["list_folders", "create_record Y"]);
        // The second write of the same instance goes straight to the folder.
        put_record(&fake, &cache, &record()).unwrap();
        assert_eq!(
            calls(&fake),
            ["list_folders", "create_record Y", "create_record Y"]
        );

        let only_deep = [
            folder("SF", "Team", None),
            folder("B", FOLDER_NAME, Some("X")),
            folder("A", FOLDER_NAME, Some("X")),
        ];
        assert_eq!(find_folder(&only_deep).unwrap().uid, "A");
    }

    #[test]
    fn a_missing_folder_is_created_in_the_first_shared_folder_the_application_may_edit() {
        let fake = Fake {
            folders: RefCell::new(vec![
                folder("RO", "Read only", None),
                folder("SUB", "Sub", Some("RO")),
                folder("RW", "Team", None),
            ]),
            read_only: vec!["RO"],
            ..Fake::default()
        };
        let cache = Mutex::new(None);
        let uid = put_record(&fake, &cache, &record()).unwrap();
        assert_eq!(uid, "REC-NEW-3-t");
        assert_eq!(
            calls(&fake),
            [
                "list_folders",
                "create_folder RO",
                "create_folder RW",
                "create_record NEW-3"
            ]
        );
        assert_eq!(cache.lock().unwrap().as_deref(), Some("NEW-3"));
    }

    #[test]
    fn no_editable_shared_folder_is_denied_saying_what_to_grant() {
        let fake = Fake {
            folders: RefCell::new(vec![folder("RO", "Read only", None)]),
            read_only: vec!["RO"],
            ..Fake::default()
        };
        let Err(Error::Denied(why)) = put_record(&fake, &Mutex::new(None), &record()) else {
            panic!("not denied")
        };
        assert!(
            why.contains("may not edit any shared folder") && why.contains("\"Can Edit\""),
            "{why}"
        );

        let empty = Fake::default();
        let Err(Error::Denied(why)) = put_record(&empty, &Mutex::new(None), &record()) else {
            panic!("not denied")
        };
        assert!(
            why.contains("sees no shared folder")
                && why.contains("share a folder with the application"),
            "{why}"
        );
        assert_eq!(calls(&empty), ["list_folders"]);
    }

    #[test]
    fn a_remembered_folder_that_is_gone_is_looked_up_again_once() {
        let fake = Fake {
            folders: RefCell::new(vec![
                folder("SF", "Team", None),
                folder("NOW", FOLDER_NAME, Some("SF")),
            ]),
            gone: RefCell::new(vec!["OLD".into()]),
            ..Fake::default()
        };
        let cache = Mutex::new(Some("OLD".to_string()));
        assert_eq!(put_record(&fake, &cache, &record()).unwrap(), "REC-NOW-t");
        assert_eq!(
            calls(&fake),
            ["create_record OLD", "list_folders", "create_record NOW"]
        );
        assert_eq!(cache.lock().unwrap().as_deref(), Some("NOW"));

        // Gone again right after the new lookup: reported, not retried without end.
        fake.gone.borrow_mut().push("NOW".into());
        fake.calls.borrow_mut().clear();
        assert!(matches!(
            put_record(&fake, &cache, &record()),
            Err(Error::NotFound(_))
        ));
        assert_eq!(
            calls(&fake),
            ["create_record NOW", "list_folders", "create_record NOW"]
        );
        assert_eq!(*cache.lock().unwrap(), None);
    }

    #[test]
    fn a_refused_record_says_to_grant_can_edit() {
        let fake = Fake {
            folders: RefCell::new(vec![
                folder("RO", "Team", None),
                folder("RO-STORE", FOLDER_NAME, Some("RO")),
            ]),
            read_only: vec!["RO"],
            ..Fake::default()
        };
        let Err(Error::Denied(why)) = put_record(&fake, &Mutex::new(None), &record()) else {
            panic!("not denied")
        };
        assert!(
            why.contains("read-only RO-STORE") && why.contains("\"Can Edit\""),
            "{why}"
        );
    }
}
