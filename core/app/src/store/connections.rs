//! Saved connections in `connections.toml`, and their passwords in the OS credential store:
//! add, edit, remove, read, and the credentials handed out at connect time.

use keeperdb_model::connection::{Connection, ConnectionId, ConnectionSpec, Origin};
use keeperdb_model::credentials::Credentials;
use keeperdb_model::prefs::PasswordStorage;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{FORMAT_VERSION, LocalStore, StoreError, parse_toml, read_optional, write_atomic};
use crate::secret_store::SecretStoreError;

/// Where a saved connection's password comes from. The password itself is never in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordSource {
    /// The OS credential store holds it under the connection's id.
    Keyring,
    /// Ask the user at connect time.
    Prompt,
}

/// A connection as written in `connections.toml`: its id and spec (the origin is always
/// local, so it is not written), plus where its password lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedConnection {
    id: ConnectionId,
    #[serde(flatten)]
    spec: ConnectionSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<PasswordSource>,
    /// Changes whenever the stored password does, so storage sync sees a new password without
    /// reading or hashing it. Not secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_rev: Option<String>,
}

impl SavedConnection {
    fn new(connection: Connection, password: Option<PasswordSource>, rev: Option<String>) -> Self {
        Self {
            id: connection.id,
            spec: connection.spec,
            password,
            password_rev: rev,
        }
    }

    fn connection(&self) -> Connection {
        Connection {
            id: self.id.clone(),
            spec: self.spec.clone(),
            origin: Origin::local(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConnectionsFile {
    #[serde(default = "format_version")]
    version: u32,
    #[serde(default, rename = "connection")]
    connections: Vec<SavedConnection>,
}

fn format_version() -> u32 {
    FORMAT_VERSION
}

/// A saved connection with where its password lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedConnectionView {
    /// The connection (origin `Local`).
    pub connection: Connection,
    /// Where its password lives, if it has one.
    pub password: Option<PasswordSource>,
    /// Changes whenever the stored password changes (not secret).
    pub password_rev: Option<String>,
}

/// What to do with the password when saving a connection.
#[derive(Debug)]
pub enum PasswordChange {
    /// Leave it as it is.
    Keep,
    /// Store this password (in the credential store, or mark prompt-at-connect if the user
    /// chose the prompt fallback).
    Set(SecretString),
    /// Ask at every connect; remove any stored password.
    Prompt,
    /// No password; remove any stored one.
    Clear,
}

impl LocalStore {
    /// Every saved connection, in the order they were added.
    pub fn connections(&self) -> Result<Vec<SavedConnectionView>, StoreError> {
        Ok(self
            .read_connections()?
            .connections
            .into_iter()
            .map(|s| SavedConnectionView {
                connection: s.connection(),
                password: s.password,
                password_rev: s.password_rev,
            })
            .collect())
    }
    /// One saved connection, by id or by name.
    pub fn get(&self, key: &str) -> Result<SavedConnectionView, StoreError> {
        self.connections()?
            .into_iter()
            .find(|v| v.connection.id.as_str() == key || v.connection.spec.name == key)
            .ok_or_else(|| StoreError::NotFound(key.to_string()))
    }
    /// Save a new connection. The password (if any) is stored first, so a failing credential
    /// store leaves nothing half-saved.
    pub fn add(
        &self,
        connection: Connection,
        password: PasswordChange,
    ) -> Result<SavedConnectionView, StoreError> {
        connection.spec.validate()?;
        let _span =
            tracing::info_span!("store.add", id = %connection.id, name = %connection.spec.name)
                .entered();
        self.locked(|store| {
            let mut file = store.read_connections()?;
            if file
                .connections
                .iter()
                .any(|s| s.spec.name == connection.spec.name)
            {
                return Err(StoreError::DuplicateName(connection.spec.name.clone()));
            }
            let rev = new_rev(&password, None);
            let source = store.apply_password(&connection.id, password, None)?;
            file.connections.push(SavedConnection::new(
                connection.clone(),
                source,
                rev.clone(),
            ));
            store.write_connections_or_rollback(&file, &connection.id, source)?;
            Ok(SavedConnectionView {
                connection,
                password: source,
                password_rev: rev,
            })
        })
    }
    /// Change a saved connection. `edit` gets the current connection and returns the new one;
    /// the id never changes.
    pub fn edit(
        &self,
        key: &str,
        password: PasswordChange,
        edit: impl FnOnce(Connection) -> Connection,
    ) -> Result<SavedConnectionView, StoreError> {
        self.locked(|store| {
            let mut file = store.read_connections()?;
            let index = find_index(&file, key)?;
            let old = file.connections[index].clone();
            let id = old.id.clone();
            let mut updated = edit(old.connection());
            updated.id = id.clone();
            updated.origin = Origin::local();
            updated.spec.validate()?;
            if file
                .connections
                .iter()
                .enumerate()
                .any(|(i, s)| i != index && s.spec.name == updated.spec.name)
            {
                return Err(StoreError::DuplicateName(updated.spec.name));
            }
            let _span = tracing::info_span!("store.edit", id = %id).entered();
            let rev = new_rev(&password, old.password_rev.clone());
            let source = store.apply_password(&id, password, old.password)?;
            file.connections[index] = SavedConnection::new(updated.clone(), source, rev.clone());
            store.write_connections(&file)?;
            Ok(SavedConnectionView {
                connection: updated,
                password: source,
                password_rev: rev,
            })
        })
    }
    /// Save a connection restored from storage sync under its own id, replacing the one with
    /// that id, with the password it had (`secret`, stored first) and its password revision, so
    /// the next sync sees it unchanged. Refused when another connection has its name.
    pub fn put_restored(
        &self,
        connection: Connection,
        password: Option<PasswordSource>,
        secret: Option<SecretString>,
        rev: Option<String>,
    ) -> Result<SavedConnectionView, StoreError> {
        connection.spec.validate()?;
        let _span = tracing::info_span!("store.restore", id = %connection.id).entered();
        self.locked(|store| {
            let mut file = store.read_connections()?;
            let index = file.connections.iter().position(|s| s.id == connection.id);
            if file
                .connections
                .iter()
                .any(|s| s.id != connection.id && s.spec.name == connection.spec.name)
            {
                return Err(StoreError::DuplicateName(connection.spec.name.clone()));
            }
            let old = index.and_then(|i| file.connections[i].password);
            let source = match (password, secret) {
                (Some(PasswordSource::Keyring), Some(secret)) => {
                    store.secrets.set(connection.id.as_str(), &secret)?;
                    Some(PasswordSource::Keyring)
                }
                (Some(PasswordSource::Keyring), None) => {
                    // The vault holds no password for it: ask at connect rather than fail then.
                    store.forget_password(&connection.id, old);
                    Some(PasswordSource::Prompt)
                }
                (other, _) => {
                    store.forget_password(&connection.id, old);
                    other
                }
            };
            let saved = SavedConnection::new(connection.clone(), source, rev.clone());
            match index {
                Some(i) => file.connections[i] = saved,
                None => file.connections.push(saved),
            }
            store.write_connections_or_rollback(&file, &connection.id, source)?;
            Ok(SavedConnectionView {
                connection,
                password: source,
                password_rev: rev,
            })
        })
    }
    /// Remove a saved connection and its stored password.
    pub fn remove(&self, key: &str) -> Result<Connection, StoreError> {
        self.locked(|store| {
            let mut file = store.read_connections()?;
            let index = find_index(&file, key)?;
            let removed = file.connections.remove(index);
            let _span = tracing::info_span!("store.remove", id = %removed.id).entered();
            store.write_connections(&file)?;
            if removed.password == Some(PasswordSource::Keyring) {
                // The file no longer refers to it; a failure here leaves an orphan secret,
                // never a connection without its password.
                if let Err(e) = store.secrets.delete(removed.id.as_str()) {
                    tracing::warn!(error = %e, "could not remove the stored password");
                }
            }
            Ok(removed.connection())
        })
    }
    /// The password of a saved connection, from wherever it lives.
    pub fn credentials(&self, connection: &Connection) -> Result<Credentials, StoreError> {
        let saved = self.get(connection.id.as_str())?;
        let user = saved.connection.spec.user.clone();
        match saved.password {
            None => Ok(Credentials::new(user, None)),
            Some(PasswordSource::Prompt) => Ok(Credentials {
                user,
                password: None,
                needs_prompt: true,
            }),
            Some(PasswordSource::Keyring) => match self.secrets.get(connection.id.as_str())? {
                Some(password) => Ok(Credentials::new(user, Some(password))),
                None => Err(StoreError::Secrets(SecretStoreError::Failed(format!(
                    "the password of `{}` is missing from the credential store; set it again by editing the connection with a new password",
                    saved.connection.spec.name
                )))),
            },
        }
    }
    fn apply_password(
        &self,
        id: &ConnectionId,
        change: PasswordChange,
        current: Option<PasswordSource>,
    ) -> Result<Option<PasswordSource>, StoreError> {
        match change {
            PasswordChange::Keep => Ok(current),
            PasswordChange::Set(secret) => match self.preferences()?.password_storage {
                PasswordStorage::Keyring => {
                    self.secrets.set(id.as_str(), &secret)?;
                    Ok(Some(PasswordSource::Keyring))
                }
                PasswordStorage::Prompt => {
                    self.forget_password(id, current);
                    Ok(Some(PasswordSource::Prompt))
                }
            },
            PasswordChange::Prompt => {
                self.forget_password(id, current);
                Ok(Some(PasswordSource::Prompt))
            }
            PasswordChange::Clear => {
                self.forget_password(id, current);
                Ok(None)
            }
        }
    }
    fn forget_password(&self, id: &ConnectionId, current: Option<PasswordSource>) {
        if current == Some(PasswordSource::Keyring)
            && let Err(e) = self.secrets.delete(id.as_str())
        {
            tracing::warn!(error = %e, "could not remove the stored password");
        }
    }
    fn write_connections_or_rollback(
        &self,
        file: &ConnectionsFile,
        id: &ConnectionId,
        source: Option<PasswordSource>,
    ) -> Result<(), StoreError> {
        let result = self.write_connections(file);
        if result.is_err() && source == Some(PasswordSource::Keyring) {
            let _ = self.secrets.delete(id.as_str());
        }
        result
    }
    fn read_connections(&self) -> Result<ConnectionsFile, StoreError> {
        let path = self.connections_path();
        let Some(text) = read_optional(&path)? else {
            return Ok(ConnectionsFile {
                version: FORMAT_VERSION,
                connections: Vec::new(),
            });
        };
        let file: ConnectionsFile = parse_toml(&text, &path)?;
        if file.version > FORMAT_VERSION {
            return Err(StoreError::NewerFormat {
                path,
                found: file.version,
            });
        }
        for saved in &file.connections {
            saved
                .connection()
                .spec
                .validate()
                .map_err(|e| StoreError::Corrupt {
                    path: path.clone(),
                    message: format!("connection `{}`: {e}", saved.spec.name),
                })?;
        }
        Ok(file)
    }
    fn write_connections(&self, file: &ConnectionsFile) -> Result<(), StoreError> {
        let path = self.connections_path();
        let body = toml::to_string_pretty(file).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let text = format!(
            "# keeperdb saved connections. Passwords are not here: they live in the OS credential store.\n{body}"
        );
        write_atomic(&path, text.as_bytes())
    }
}

/// The password revision after `change`: a fresh one for a new password, none without one.
fn new_rev(change: &PasswordChange, current: Option<String>) -> Option<String> {
    match change {
        PasswordChange::Keep => current,
        PasswordChange::Set(_) => Some(uuid::Uuid::new_v4().simple().to_string()),
        PasswordChange::Prompt | PasswordChange::Clear => None,
    }
}

fn find_index(file: &ConnectionsFile, key: &str) -> Result<usize, StoreError> {
    file.connections
        .iter()
        .position(|s| s.id.as_str() == key)
        .or_else(|| file.connections.iter().position(|s| s.spec.name == key))
        .ok_or_else(|| StoreError::NotFound(key.to_string()))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::CONNECTIONS_FILE;
    use super::*;

    fn store() -> (tempfile::TempDir, LocalStore) {
        super::super::test_store()
    }

    fn sqlite(name: &str) -> Connection {
        let mut c = keeperdb_model::url::parse_connection_url("sqlite:/tmp/x.db")
            .unwrap()
            .connection;
        c.spec.name = name.into();
        c
    }

    #[test]
    fn add_list_edit_remove_without_passwords() {
        let (_d, store) = store();
        assert!(store.connections().unwrap().is_empty());
        let added = store.add(sqlite("one"), PasswordChange::Clear).unwrap();
        store.add(sqlite("two"), PasswordChange::Clear).unwrap();
        let names: Vec<_> = store
            .connections()
            .unwrap()
            .into_iter()
            .map(|v| v.connection.spec.name)
            .collect();
        assert_eq!(names, ["one", "two"]);
        let edited = store
            .edit("one", PasswordChange::Keep, |mut c| {
                c.spec.name = "uno".into();
                c.spec.read_only = true;
                c
            })
            .unwrap();
        assert_eq!(
            edited.connection.id, added.connection.id,
            "id is stable across edits"
        );
        assert!(store.get("uno").unwrap().connection.spec.read_only);
        store.remove(added.connection.id.as_str()).unwrap();
        assert!(matches!(store.get("uno"), Err(StoreError::NotFound(_))));
        assert_eq!(store.connections().unwrap().len(), 1);
    }

    #[test]
    fn duplicate_names_are_refused() {
        let (_d, store) = store();
        store.add(sqlite("one"), PasswordChange::Clear).unwrap();
        assert!(matches!(
            store.add(sqlite("one"), PasswordChange::Clear),
            Err(StoreError::DuplicateName(n)) if n == "one"
        ));
        store.add(sqlite("two"), PasswordChange::Clear).unwrap();
        assert!(matches!(
            store.edit("two", PasswordChange::Keep, |mut c| {
                c.spec.name = "one".into();
                c
            }),
            Err(StoreError::DuplicateName(_))
        ));
    }

    #[test]
    fn prompt_fallback_stores_no_secret_anywhere() {
        let (_d, store) = store();
        store.set_preference("password_storage", "prompt").unwrap();
        let v = store
            .add(
                sqlite("p"),
                PasswordChange::Set(SecretString::from("pw-never-on-disk")),
            )
            .unwrap();
        assert_eq!(v.password, Some(PasswordSource::Prompt));
        let creds = store.credentials(&v.connection).unwrap();
        assert!(creds.needs_prompt && creds.password.is_none());
        for entry in fs::read_dir(store.dir().path()).unwrap() {
            let bytes = fs::read(entry.unwrap().path()).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains("pw-never-on-disk"));
        }
    }

    #[test]
    fn a_corrupt_file_is_named_with_its_line_and_left_untouched() {
        let (_d, store) = store();
        store.add(sqlite("one"), PasswordChange::Clear).unwrap();
        let path = store.dir().path().join(CONNECTIONS_FILE);
        let broken = fs::read_to_string(&path)
            .unwrap()
            .replace("engine = \"sqlite\"", "engine = sqlite");
        fs::write(&path, &broken).unwrap();
        let err = store.add(sqlite("two"), PasswordChange::Clear).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("connections.toml") && text.contains("line "),
            "{text}"
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            broken,
            "never overwritten"
        );
    }

    #[test]
    fn a_newer_format_is_refused() {
        let (_d, store) = store();
        store.dir().ensure().unwrap();
        fs::write(store.dir().path().join(CONNECTIONS_FILE), "version = 9\n").unwrap();
        assert!(matches!(
            store.connections(),
            Err(StoreError::NewerFormat { found: 9, .. })
        ));
    }

    #[test]
    fn invalid_values_in_the_file_name_the_connection() {
        let (_d, store) = store();
        store.dir().ensure().unwrap();
        fs::write(
            store.dir().path().join(CONNECTIONS_FILE),
            "[[connection]]\nid = \"x\"\nname = \"bad\"\nengine = \"postgres\"\nport = 0\n",
        )
        .unwrap();
        let err = store.connections().unwrap_err().to_string();
        assert!(err.contains("`bad`") && err.contains("port 0"), "{err}");
    }
}
