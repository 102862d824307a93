//! The local store: keeperdb's own saved connections (`connections.toml`) and preferences
//! (`preferences.toml`) in the per-user config dir.
//!
//! Files are human-readable TOML without secrets; passwords go to the OS credential store.
//! Every change is a read-modify-write under an exclusive lock on `.keeperdb.lock`, written to a
//! temp file, fsynced and renamed over the old one, so a second process never loses an update
//! and a crash never leaves half a file. A file that does not parse is reported with its path
//! and line and is never overwritten.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::secret_store::{SecretStore, SecretStoreError};
use keeperdb_model::connection::{
    Connection, ConnectionId, ConnectionSpec, InvalidConnection, LOCAL_SOURCE_ID, Origin,
};
use keeperdb_model::credentials::Credentials;
use keeperdb_model::prefs::{PasswordStorage, Preferences};
use keeperdb_model::source::{ConnectionSource, SourceError, SourceInfo, SourceListing};

/// Environment variable that points keeperdb at another config dir (tests, portable setups).
pub const CONFIG_DIR_ENV: &str = "KEEPERDB_CONFIG_DIR";
const CONNECTIONS_FILE: &str = "connections.toml";
const PREFERENCES_FILE: &str = "preferences.toml";
const LOCK_FILE: &str = ".keeperdb.lock";
const FORMAT_VERSION: u32 = 1;

/// Why the local store could not do what was asked. Nothing was written when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No config dir could be determined (no home directory).
    #[error(
        "cannot determine the config directory (no home directory): set {CONFIG_DIR_ENV} or name one explicitly"
    )]
    NoConfigDir,
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file does not parse; it is left untouched.
    #[error(
        "{path}: {message}\nthe file was left untouched; fix it by hand or move it away to start afresh"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Line, column and what the parser expected.
        message: String,
    },
    /// The file was written by a newer keeperdb.
    #[error(
        "{path}: format version {found} is newer than this keeperdb understands ({FORMAT_VERSION}); upgrade keeperdb"
    )]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// The version it declares.
        found: u32,
    },
    /// No connection matches.
    #[error("no saved connection named or with id `{0}`")]
    NotFound(String),
    /// The name is taken.
    #[error("a saved connection named `{0}` already exists")]
    DuplicateName(String),
    /// The connection is not valid.
    #[error(transparent)]
    Invalid(#[from] InvalidConnection),
    /// The credential store failed; the connection was not saved.
    #[error(transparent)]
    Secrets(#[from] SecretStoreError),
    /// A preference could not be set.
    #[error(transparent)]
    Pref(#[from] keeperdb_model::prefs::PrefError),
}

/// Where keeperdb keeps its per-user state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDir {
    root: PathBuf,
}

impl ConfigDir {
    /// Resolve the config dir: an explicit path, else `KEEPERDB_CONFIG_DIR`, else the
    /// platform's per-user config dir (XDG on Linux).
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Self, StoreError> {
        let root = explicit
            .or_else(|| {
                std::env::var_os(CONFIG_DIR_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| {
                directories::ProjectDirs::from("", "", "keeperdb")
                    .map(|d| d.config_dir().to_path_buf())
            })
            .ok_or(StoreError::NoConfigDir)?;
        Ok(Self { root })
    }

    /// Use exactly this directory.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Create the directory (owner-only on Unix) if it does not exist.
    pub fn ensure(&self) -> Result<(), StoreError> {
        keeperdb_fs::ensure_private_dir(&self.root).map_err(|source| StoreError::Io {
            path: self.root.clone(),
            source,
        })
    }
}

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
}

impl SavedConnection {
    fn new(connection: Connection, password: Option<PasswordSource>) -> Self {
        Self {
            id: connection.id,
            spec: connection.spec,
            password,
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

/// The local store over one config dir.
#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: ConfigDir,
    secrets: SecretStore,
}

impl LocalStore {
    /// A store over `dir`, keeping passwords in `secrets`.
    pub fn new(dir: ConfigDir, secrets: SecretStore) -> Self {
        Self { dir, secrets }
    }

    /// The config dir.
    pub fn dir(&self) -> &ConfigDir {
        &self.dir
    }

    fn connections_path(&self) -> PathBuf {
        self.dir.path().join(CONNECTIONS_FILE)
    }

    fn preferences_path(&self) -> PathBuf {
        self.dir.path().join(PREFERENCES_FILE)
    }

    /// Every saved connection, in the order they were added.
    pub fn connections(&self) -> Result<Vec<SavedConnectionView>, StoreError> {
        Ok(self
            .read_connections()?
            .connections
            .into_iter()
            .map(|s| SavedConnectionView {
                connection: s.connection(),
                password: s.password,
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

    /// The preferences (defaults if the file does not exist yet).
    pub fn preferences(&self) -> Result<Preferences, StoreError> {
        let path = self.preferences_path();
        match read_optional(&path)? {
            None => Ok(Preferences::default()),
            Some(text) => {
                let prefs: Preferences = parse_toml(&text, &path)?;
                prefs.validate().map_err(|message| StoreError::Corrupt {
                    path: path.clone(),
                    message,
                })?;
                Ok(prefs)
            }
        }
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
            let source = store.apply_password(&connection.id, password, None)?;
            file.connections
                .push(SavedConnection::new(connection.clone(), source));
            store.write_connections_or_rollback(&file, &connection.id, source)?;
            Ok(SavedConnectionView {
                connection,
                password: source,
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
            let source = store.apply_password(&id, password, old.password)?;
            file.connections[index] = SavedConnection::new(updated.clone(), source);
            store.write_connections(&file)?;
            Ok(SavedConnectionView {
                connection: updated,
                password: source,
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

    /// Change one preference.
    pub fn set_preference(&self, key: &str, value: &str) -> Result<Preferences, StoreError> {
        self.locked(|store| {
            let mut prefs = store.preferences()?;
            prefs.set(key, value)?;
            let text = toml::to_string_pretty(&prefs).map_err(|e| StoreError::Corrupt {
                path: store.preferences_path(),
                message: e.to_string(),
            })?;
            write_atomic(&store.preferences_path(), text.as_bytes())?;
            Ok(prefs)
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

    /// Run `f` holding the store's exclusive lock, so read-modify-write cycles of concurrent
    /// processes serialise instead of overwriting each other.
    fn locked<T>(&self, f: impl FnOnce(&Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.dir.ensure()?;
        let lock_path = self.dir.path().join(LOCK_FILE);
        keeperdb_fs::with_lock(&lock_path, || f(self)).map_err(|source| StoreError::Io {
            path: lock_path.clone(),
            source,
        })?
    }
}

fn find_index(file: &ConnectionsFile, key: &str) -> Result<usize, StoreError> {
    file.connections
        .iter()
        .position(|s| s.id.as_str() == key)
        .or_else(|| file.connections.iter().position(|s| s.spec.name == key))
        .ok_or_else(|| StoreError::NotFound(key.to_string()))
}

fn read_optional(path: &Path) -> Result<Option<String>, StoreError> {
    keeperdb_fs::read_optional(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, StoreError> {
    toml::from_str(text).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        message: keeperdb_model::describe_toml_error(text, &e),
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    keeperdb_fs::write_atomic(path, bytes).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The local store as a connection source, with the `Local` badge.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(
            ConfigDir::at(dir.path().join("cfg")),
            SecretStore::new("keeperdb-unit-tests"),
        );
        (dir, store)
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

    #[test]
    fn preferences_round_trip_and_corrupt_prefs_are_reported() {
        let (_d, store) = store();
        assert_eq!(store.preferences().unwrap(), Preferences::default());
        store.set_preference("page_size", "77").unwrap();
        assert_eq!(store.preferences().unwrap().page_size, 77);
        fs::write(
            store.dir().path().join(PREFERENCES_FILE),
            "page_size = \"x\"\n",
        )
        .unwrap();
        let err = store.preferences().unwrap_err().to_string();
        assert!(
            err.contains("preferences.toml") && err.contains("line 1"),
            "{err}"
        );
    }
}
