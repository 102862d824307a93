//! # keeperdb-plugin: write keeperdb plugins in Rust, run them sandboxed
//!
//! keeperdb runs connection sources and storage backends as WebAssembly components under
//! wasmtime. A plugin has no ambient authority: no files, no network, no clock, no
//! environment. Everything it can do comes through host imports that the user granted at
//! install time (the *capabilities*), and each call runs under a deadline and a memory limit.
//!
//! This crate hides the component-model plumbing: you implement one plain Rust trait and call
//! one macro.
//!
//! ## A connection source in five steps
//!
//! 1. `cargo new --lib my-source`, then in `Cargo.toml`:
//!
//!    ```toml
//!    [lib]
//!    crate-type = ["cdylib"]
//!
//!    [dependencies]
//!    keeperdb-plugin = { version = "0.4", features = ["connection-source"] }
//!
//!    [profile.release]
//!    panic = "abort"
//!    opt-level = "s"
//!    ```
//!
//! 2. Implement [`ConnectionSource`] and export it:
//!
//!    ```ignore
//!    use keeperdb_plugin::{Connection, ConnectionSource, Credentials, Error, Secret};
//!
//!    struct MySource;
//!
//!    impl ConnectionSource for MySource {
//!        fn list_connections() -> Result<Vec<Connection>, Error> {
//!            let text = keeperdb_plugin::fs::read_to_string("~/.my-connections")?;
//!            Ok(text.lines().map(|line| Connection::new(line, line, "postgres")).collect())
//!        }
//!
//!        fn credentials(connection: Connection) -> Result<Credentials, Error> {
//!            Ok(Credentials { user: connection.user, password: None })
//!        }
//!    }
//!
//!    keeperdb_plugin::export_connection_source!(MySource);
//!    ```
//!
//! 3. Write `plugin.toml` next to the payload:
//!
//!    ```toml
//!    id = "my-source"          # lowercase letters, digits, `-`
//!    version = "0.1.0"
//!    kind = "connection-source"
//!    api = "^0.4"              # host API versions you work with
//!    payload = "payload.wasm"
//!    sha256 = "..."            # sha256sum payload.wasm
//!    badge = "Mine"            # shown beside your connections
//!    description = "Connections listed in ~/.my-connections"
//!
//!    [capabilities.fs-read]
//!    paths = ["~/.my-connections"]
//!    ```
//!
//! 4. Build a core module for `wasm32-unknown-unknown` and turn it into a component with
//!    `wit_component::ComponentEncoder` (what `cargo xtask build-plugins` does for the
//!    first-party plugins; `wasm-tools component new` does the same from a shell).
//!
//! 5. `keeperdb plugins install ./my-source` shows the capabilities you ask for and asks the
//!    user to agree.
//!
//! ## Capabilities
//!
//! | capability | module | manifest | what it gives |
//! |---|---|---|---|
//! | `log` | [`log`] | always | messages into the host's log |
//! | `progress` | [`progress`] | always | live progress of long work |
//! | `fs-read` | [`fs`] | `[capabilities.fs-read] paths = [...]` | read exactly those files |
//! | `http` | [`http`] | `[capabilities.http] hosts = [...]` | requests to those hosts |
//! | `keeper-vault` | [`vault`] | `[capabilities.keeper-vault]` | the user's Keeper vault, keys stay in the host |
//!
//! Calling a capability makes your component import it. A component that imports a
//! capability the user did not grant is refused at load, with a message naming it, so ask in
//! `plugin.toml` for exactly what you call. `fs-read` paths may use `~/` and
//! `${VAR:-default}` (e.g. `${PGPASSFILE:-~/.pgpass}`); [`fs::granted_paths`] tells you
//! what they resolved to.
//!
//! ## Limits, errors and panics
//!
//! Each call has a deadline (2 s by default) and the instance a memory limit (64 MiB by
//! default). A trap, a panic or a timeout fails that call only; the host starts a fresh
//! instance for the next call, so do not rely on state surviving an error. A panic message is
//! sent to the host log and shown in the error. Return an [`Error`] variant that says what was
//! wrong ([`Error::InvalidData`] with the file and line, [`Error::Unavailable`], ...): users
//! see its text.
//!
//! ## Secrets
//!
//! A source returns passwords only from [`ConnectionSource::credentials`], called at connect
//! time. Where the secret lives in the Keeper vault, return [`Secret::VaultField`] and let the
//! host fetch it, so it never passes through plugin memory. Never log a secret.
//!
//! ## A storage backend
//!
//! A storage backend mirrors the host's saved connections and its preferences somewhere else.
//! The host runs the sync (what to push, recreate or remove, and the progress shown); the
//! backend only lists, writes and removes items. Enable the feature `storage-backend`,
//! implement `StorageBackend` and export it with `export_storage_backend!`; the manifest says
//! `kind = "storage-backend"` and `api = "^0.4"` (storage backends need host API 0.3.0, which
//! carries secrets by reference).
//!
//! - `list_items`: every item you hold, each a `StoredItem` with the local id it mirrors, your
//!   own reference to it (`remote_ref`, e.g. a record UID), its `ItemKind` and its payload
//!   exactly as it was put. Keep an item you cannot read in the list (with a payload that says
//!   what is wrong) so the host sees its local id and never writes it twice.
//! - `put`: write a `NewItem` as a new item and return its reference. Leave an older item with
//!   the same local id alone: the host removes it once the new one is written.
//! - `remove`: remove an item by reference; [`Error::NotFound`] when there is none.
//!
//! A payload is JSON text and never holds a secret. A connection's password travels as a
//! *handle*: `NewItem::secret` is an opaque string, valid during that `put` call only. Put it
//! into the field that is to hold the secret and the host writes the value there, so it never
//! enters the plugin:
//!
//! ```ignore
//! use keeperdb_plugin::vault::NewField;
//!
//! if let Some(handle) = item.secret.clone() {
//!     // The same as NewField::secret("password", None, handle).
//!     fields.push(NewField {
//!         field_type: "password".into(),
//!         label: None,
//!         value: "[]".into(),
//!         secret: Some(handle),
//!     });
//! }
//! ```
//!
//! Never ask for the value, and keep the handle nowhere else: it means nothing after the call.
//! When listing, say where the secret is kept with `StoredItem::secret`
//! (`Some(VaultFieldRef { record_uid, field: "password".into() })`): the vault lists secret
//! fields empty and `redacted`, and the host reads the field itself when it restores the item.
//! An item without a secret (or a backend that cannot keep one) answers `None`.
#![warn(missing_docs)]

// The generated bindings name this crate by its absolute path so that the export macros work
// from plugin crates; this makes the same path resolve inside the SDK itself.
extern crate self as keeperdb_plugin;

#[cfg(all(feature = "connection-source", feature = "storage-backend"))]
compile_error!(
    "keeperdb-plugin: enable exactly one of the features `connection-source` or `storage-backend`: a component implements one world"
);
#[cfg(not(any(feature = "connection-source", feature = "storage-backend")))]
compile_error!(
    "keeperdb-plugin: enable one of the features `connection-source` or `storage-backend` (the world your plugin implements)"
);

/// The wit-bindgen bindings this crate wraps. Use the re-exports and helpers at the crate
/// root instead; these paths may change between SDK versions.
#[doc(hidden)]
pub mod bindings {
    #[cfg(feature = "connection-source")]
    wit_bindgen::generate!({
        path: "../wit/0.4",
        world: "connection-source",
        export_macro_name: "__export_world",
        pub_export_macro: true,
        default_bindings_module: "::keeperdb_plugin::bindings",
        runtime_path: "::keeperdb_plugin::__wit_bindgen::rt",
    });

    #[cfg(all(feature = "storage-backend", not(feature = "connection-source")))]
    wit_bindgen::generate!({
        path: "../wit/0.4",
        world: "storage-backend",
        export_macro_name: "__export_world",
        pub_export_macro: true,
        default_bindings_module: "::keeperdb_plugin::bindings",
        runtime_path: "::keeperdb_plugin::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

use bindings::keeperdb::plugin::types;

pub use types::{Connection, Credentials, Error, InvalidData, Secret, TlsMode, VaultFieldRef};

/// The WIT package version this SDK was built against; the host checks it at load.
pub const API_VERSION: &str = "0.4.0";

impl Connection {
    /// A connection with an id, a name and an engine, everything else unset.
    pub fn new(id: impl Into<String>, name: impl Into<String>, engine: impl Into<String>) -> Self {
        Connection {
            id: id.into(),
            name: name.into(),
            engine: engine.into(),
            host: None,
            port: None,
            database: None,
            user: None,
            tls: None,
            read_only: false,
            environment: None,
            color: None,
            options: Vec::new(),
        }
    }
}

impl Error {
    /// Malformed data read from `what` (a path with a line number, a record UID).
    pub fn invalid_data(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidData(InvalidData {
            what: what.into(),
            message: message.into(),
        })
    }
}

#[cfg(feature = "connection-source")]
thread_local! {
    static SKIPPED: std::cell::RefCell<Vec<bindings::exports::keeperdb::plugin::source::Skipped>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Report an entry that [`ConnectionSource::list_connections`] could not turn into a
/// connection (a record with no host, a line with a bad port): the host shows it, with the
/// reason, beside the connections you list. Call it while listing; never put a secret in it.
#[cfg(feature = "connection-source")]
pub fn skip(entry: impl Into<String>, reason: impl Into<String>) {
    let skipped = bindings::exports::keeperdb::plugin::source::Skipped {
        entry: entry.into(),
        reason: reason.into(),
    };
    SKIPPED.with(|s| s.borrow_mut().push(skipped));
}

#[doc(hidden)]
#[cfg(feature = "connection-source")]
pub fn __take_skipped() -> Vec<bindings::exports::keeperdb::plugin::source::Skipped> {
    SKIPPED.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

/// A plugin that lists connections and hands out their credentials.
///
/// Both functions are called by the host, each under a deadline. They are associated
/// functions (no `self`): keep state in a `static` if you need it, remembering that the host
/// may start a fresh instance at any time.
pub trait ConnectionSource {
    /// Every connection this source provides now. Give each a stable [`Connection::id`];
    /// report entries you leave out with [`skip`].
    fn list_connections() -> Result<Vec<Connection>, Error>;

    /// Credentials for a connection this source listed, fetched at connect time.
    fn credentials(connection: Connection) -> Result<Credentials, Error>;
}

#[cfg(feature = "storage-backend")]
pub use bindings::exports::keeperdb::plugin::storage::{ItemKind, NewItem, StoredItem};

/// A remote mirror of the local connections and preferences. The host runs the sync
/// algorithm; a backend only lists, writes and removes items (see the crate docs, "A storage
/// backend").
#[cfg(feature = "storage-backend")]
pub trait StorageBackend {
    /// Every item the backend holds, each with where its secret is kept
    /// ([`StoredItem::secret`]). Err only when the backend cannot be read at all.
    fn list_items() -> Result<Vec<StoredItem>, Error>;
    /// Write an item as a new one; returns its new `remote_ref`. An older item with the same
    /// local id is left alone (the host removes it). [`NewItem::secret`] is a handle, valid
    /// during this call only: write it into a [`vault::NewField`] with
    /// [`vault::NewField::secret`], never ask for the value.
    fn put(item: NewItem) -> Result<String, Error>;
    /// Remove an item by `remote_ref`; [`Error::NotFound`] when there is none.
    fn remove(remote_ref: String) -> Result<(), Error>;
}

/// Export a [`ConnectionSource`] implementation as the plugin's entry points.
/// Use it once, at the crate root, with the feature `connection-source`.
#[cfg(feature = "connection-source")]
#[macro_export]
macro_rules! export_connection_source {
    ($ty:ident) => {
        impl $crate::bindings::exports::keeperdb::plugin::source::Guest for $ty {
            fn list_connections() -> ::core::result::Result<
                $crate::bindings::exports::keeperdb::plugin::source::Listing,
                $crate::Error,
            > {
                $crate::__init();
                let listed = <$ty as $crate::ConnectionSource>::list_connections();
                let skipped = $crate::__take_skipped();
                listed.map(|connections| $crate::bindings::exports::keeperdb::plugin::source::Listing {
                    connections,
                    skipped,
                })
            }

            fn fetch_credentials(
                connection: $crate::Connection,
            ) -> ::core::result::Result<$crate::Credentials, $crate::Error> {
                $crate::__init();
                <$ty as $crate::ConnectionSource>::credentials(connection)
            }
        }

        $crate::bindings::__export_world!($ty with_types_in $crate::bindings);
    };
}

/// Export a [`StorageBackend`] implementation as the plugin's entry points.
/// Use it once, at the crate root, with the feature `storage-backend`.
#[cfg(feature = "storage-backend")]
#[macro_export]
macro_rules! export_storage_backend {
    ($ty:ident) => {
        impl $crate::bindings::exports::keeperdb::plugin::storage::Guest for $ty {
            fn list_items() -> ::core::result::Result<
                ::std::vec::Vec<$crate::StoredItem>,
                $crate::Error,
            > {
                $crate::__init();
                <$ty as $crate::StorageBackend>::list_items()
            }

            fn put(item: $crate::NewItem) -> ::core::result::Result<::std::string::String, $crate::Error> {
                $crate::__init();
                <$ty as $crate::StorageBackend>::put(item)
            }

            fn remove(remote_ref: ::std::string::String) -> ::core::result::Result<(), $crate::Error> {
                $crate::__init();
                <$ty as $crate::StorageBackend>::remove(remote_ref)
            }
        }

        $crate::bindings::__export_world!($ty with_types_in $crate::bindings);
    };
}

/// Runs before every exported call: routes panic messages to the host log, where the host
/// picks them up to explain the trap that follows.
#[doc(hidden)]
pub fn __init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log::error(&format!("plugin panicked: {info}"));
        }));
    });
}

/// Messages into the host's log. Never log a secret.
pub mod log {
    use crate::bindings::keeperdb::plugin::log::{Level, log};

    /// Detailed tracing.
    pub fn trace(message: &str) {
        log(Level::Trace, message);
    }
    /// Debugging detail.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }
    /// Normal operation.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }
    /// Something looks wrong but work goes on (a skipped malformed line, ...).
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }
    /// Something failed.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Live progress of long work.
pub mod progress {
    /// `done` of `total` steps (0: unknown total), with a short message such as
    /// `Configuring...`.
    pub fn report(done: u64, total: u64, message: &str) {
        crate::bindings::keeperdb::plugin::progress::report(done, total, message);
    }
}

/// Read the files the user granted (capability `fs-read`).
pub mod fs {
    use crate::Error;
    use crate::bindings::keeperdb::plugin::fs_read;

    pub use fs_read::{Grant, Metadata};

    /// The files this plugin may read, in manifest order, with `~` and `${VAR:-default}`
    /// already resolved by the host.
    pub fn granted_paths() -> Vec<Grant> {
        fs_read::granted_paths()
    }

    /// Metadata of a granted file (size, Unix mode bits, whether it is a regular file).
    /// [`Error::NotFound`] when it does not exist.
    pub fn metadata(path: &str) -> Result<Metadata, Error> {
        fs_read::stat(path)
    }

    /// The content of a granted file. [`Error::NotFound`] when it does not exist,
    /// [`Error::Denied`] when it is outside the grant.
    pub fn read(path: &str) -> Result<Vec<u8>, Error> {
        fs_read::read(path)
    }

    /// The content of a granted file as UTF-8 text.
    pub fn read_to_string(path: &str) -> Result<String, Error> {
        let bytes = read(path)?;
        String::from_utf8(bytes)
            .map_err(|e| Error::invalid_data(path, format!("not valid UTF-8: {e}")))
    }
}

/// HTTP to the hosts the user granted (capability `http`).
pub mod http {
    pub use crate::bindings::keeperdb::plugin::http::{Request, Response};

    /// Send a request and wait for the whole response.
    pub fn send(request: &Request) -> Result<Response, crate::Error> {
        crate::bindings::keeperdb::plugin::http::send(request)
    }
}

/// The user's Keeper vault, through the host's KSM client (capability `keeper-vault`).
/// Secret field values are withheld (listed empty, with [`Field::redacted`] set): a source
/// returns a [`crate::Secret::VaultField`] instead, a storage backend writes secrets with a
/// handle ([`NewField::secret`]) and lists them as a [`crate::VaultFieldRef`].
///
/// [`Field::redacted`]: crate::vault::Field::redacted
/// [`NewField::secret`]: crate::vault::NewField::secret
pub mod vault {
    use crate::Error;
    use crate::bindings::keeperdb::plugin::keeper_vault as kv;

    pub use kv::{Field, Folder, NewField, NewRecord, RecordLink, VaultRecord};

    /// Every folder the KSM application can see.
    pub fn list_folders() -> Result<Vec<Folder>, Error> {
        kv::list_folders()
    }

    /// Records in one folder, or in all folders. Links are fetched only when asked for
    /// (`with_links`): a PAM Database's links name the PAM User it logs in with.
    pub fn list_records(
        folder_uid: Option<&str>,
        with_links: bool,
    ) -> Result<Vec<VaultRecord>, Error> {
        kv::list_records(folder_uid, with_links)
    }

    /// The records with these UIDs, fetched now (UIDs the application cannot see are left
    /// out): what `credentials` needs, without reading the whole vault again.
    pub fn get_records(uids: &[String], with_links: bool) -> Result<Vec<VaultRecord>, Error> {
        kv::get_records(uids, with_links)
    }

    impl VaultRecord {
        /// The first field (standard, then custom) whose label is `name`, or else whose type
        /// is `name` (any case): how Keeper's own SDKs look fields up.
        pub fn field(&self, name: &str) -> Option<&Field> {
            [&self.fields, &self.custom].into_iter().find_map(|fields| {
                fields
                    .iter()
                    .find(|f| f.label.as_deref() == Some(name))
                    .or_else(|| {
                        fields
                            .iter()
                            .find(|f| f.field_type.eq_ignore_ascii_case(name))
                    })
            })
        }

        /// A custom field by label, matched case-insensitively (`Database`, `database`).
        pub fn custom_field(&self, label: &str) -> Option<&Field> {
            self.custom.iter().find(|f| {
                f.label
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(label))
            })
        }
    }

    impl NewField {
        /// A field whose value is a JSON array (`["text"]`, `[{"hostName":"h","port":"5432"}]`);
        /// build it with a JSON library, never by pasting strings together.
        pub fn new(
            field_type: impl Into<String>,
            label: Option<&str>,
            value: impl Into<String>,
        ) -> Self {
            NewField {
                field_type: field_type.into(),
                label: label.map(str::to_string),
                value: value.into(),
                secret: None,
            }
        }

        /// A field that holds the secret `handle` stands for (a storage backend's
        /// `NewItem::secret`): the host writes the value, so it never enters the plugin.
        pub fn secret(
            field_type: impl Into<String>,
            label: Option<&str>,
            handle: impl Into<String>,
        ) -> Self {
            NewField {
                field_type: field_type.into(),
                label: label.map(str::to_string),
                value: "[]".into(),
                secret: Some(handle.into()),
            }
        }
    }

    /// Create a folder named `name` inside a shared folder (or one of its folders); returns
    /// its UID. [`Error::Denied`] when the application may not edit `parent_uid`.
    pub fn create_folder(parent_uid: &str, name: &str) -> Result<String, Error> {
        kv::create_folder(parent_uid, name)
    }

    /// Create a record in a folder; returns its UID. A field with a `secret` handle gets the
    /// secret the handle stands for as its value; an unknown or expired handle, like a folder
    /// the application may not edit, fails with [`Error::Denied`].
    pub fn create_record(folder_uid: &str, record: &NewRecord) -> Result<String, Error> {
        kv::create_record(folder_uid, record)
    }

    /// Delete a record.
    pub fn delete_record(uid: &str) -> Result<(), Error> {
        kv::delete_record(uid)
    }
}
