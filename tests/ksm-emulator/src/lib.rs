//! A local, offline Keeper Secrets Manager service for tests and demos.
//!
//! It speaks the server side of the KSM protocol (`ksm-protocol.md`) well enough that the
//! unmodified `keeper-secrets-manager-core` SDK binds to it with a one-time token, reads,
//! creates, updates and deletes records and folders, and sees the errors the real service
//! sends. Nothing here talks to Keeper's cloud.
//!
//! # How a client reaches it
//!
//! The SDK always calls `https://<token host>:443/...`. The emulator listens on one loopback
//! port that is an HTTP CONNECT proxy: give the SDK `proxy_url = handle.proxy_url()` and the
//! token `handle.issue_token(app)` (`ksm.test:<token>`). TLS runs inside the tunnel with a
//! certificate for `ksm.test`, `localhost` and `127.0.0.1` signed by the emulator's CA; the
//! client trusts it through `SSL_CERT_FILE=<handle.ca_pem_path()>` (no skip-verify). The
//! server key is the emulator's own: pass `handle.server_public_key()` and
//! `handle.server_public_key_id()` to `ClientOptions::set_server_public_key[_id]`.
//! The same port also accepts TLS directly (for a client that reaches it as `127.0.0.1:443`
//! through port forwarding).
//!
//! # Seed file
//!
//! ```json
//! {
//!   "apps":    [{"name": "keeperdb", "shared_folders": ["Databases"], "records": [], "editable": true}],
//!   "folders": [{"name": "Databases"}, {"name": "Staging", "parent": "Databases"},
//!               {"uid": "optionalExplicitUid01", "name": "KeeperDB Storage"}],
//!   "records": [{"folder": "Staging", "type": "databaseCredentials", "title": "Orders DB",
//!                "notes": "", "fields": [{"type": "login", "value": ["app"]}],
//!                "custom": [{"type": "text", "label": "Database", "value": ["orders"]}],
//!                "links": [{"record": "pg admin", "data": {"is_admin": true}, "path": null}]}]
//! }
//! ```
//! Folders without `parent` are shared folders; others are subfolders (listed after their
//! parent). References (`parent`, `folder`, app `shared_folders` / `records`, link `record`)
//! take a UID or a unique name/title. UIDs are made up when absent. With no `apps`, one app
//! named `keeperdb` sees every shared folder and every record outside a folder.
//! A record may carry `"files": [{"name", "title"?, "type"?, "content" | "content_base64"}]`.
//! `seeds/demo.json` is a full example.
//!
//! # Storage
//!
//! Records, folders and attached files are kept encrypted as the service keeps them (record
//! keys wrapped by the shared folder or app key, subfolder keys by the shared folder key, the
//! app key by each client's token key); with `persist_path` the encrypted state is written atomically after every
//! change and reloaded at the next start (the seed is then ignored). The file also holds the
//! emulated owner's data key and the server key: it is a test fixture, not a secret store.
//!
//! # Faults
//!
//! [`FaultRule`]s set at start or at any time ([`EmulatorHandle::set_faults`]) add latency,
//! HTTP 5xx answers, throttling, dropped connections, slow or cut bodies, or a key rotation,
//! to all requests or one endpoint, after N requests, for M requests.

#![warn(missing_docs)]

mod crypto;
mod faults;
mod seed;
mod server;
mod tls;
mod vault;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

pub use faults::{Fault, FaultRule};
pub use seed::{Seed, SeedApp, SeedFile, SeedFolder, SeedLink, SeedRecord};
pub use tls::{CA_CERT_FILE, CA_KEY_FILE, make_ca};

use server::{Shared, lock};
use vault::Vault;

/// Everything that can go wrong starting or driving the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A file could not be read or written.
    #[error("cannot read or write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The seed is malformed or inconsistent.
    #[error("bad seed: {0}")]
    Seed(String),
    /// Certificates or the TLS configuration could not be made.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The persisted state file is unusable.
    #[error("persisted emulator state is unusable: {0}")]
    Persist(String),
    /// A cryptographic operation failed.
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// No record has this UID.
    #[error("no record with uid {0:?}")]
    UnknownRecord(String),
    /// The record has no such standard field.
    #[error("record {record:?} has no field {field:?}")]
    UnknownField {
        /// Record UID.
        record: String,
        /// Field label or type.
        field: String,
    },
    /// No application has this name.
    #[error("no KSM application named {0:?}")]
    UnknownApp(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A fault specification could not be parsed.
    #[error("bad fault spec {spec:?}: {reason}")]
    FaultSpec {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The test environment lacks what the test runner must set up.
    #[error("{0}")]
    Env(String),
    /// The server key id is not a positive integer.
    #[error("the server key id must be a positive integer (the service's are 1, 2, ...), not {0}")]
    ServerKeyId(u32),
    /// The async runtime could not start.
    #[error("cannot start the emulator runtime: {0}")]
    Runtime(std::io::Error),
}

/// The server key id used unless configured: a small positive integer, as the real service's
/// ids are (7 to 17 when this was written), so every official SDK takes it.
pub const DEFAULT_SERVER_KEY_ID: u32 = 17;

/// The demo seed (`seeds/demo.json`): databaseCredentials records for PostgreSQL, MariaDB and
/// SQLite, a pamDatabase linked to a pamUser, a record shared directly, a non-database record,
/// a `KeeperDB Storage` folder holding one synced record, and a read-only second app.
pub const DEMO_SEED_JSON: &str = include_str!("../seeds/demo.json");

impl Seed {
    /// The demo seed, parsed.
    pub fn demo() -> Seed {
        // The file is part of this crate and checked by its tests.
        Seed::from_json(DEMO_SEED_JSON).unwrap_or_default()
    }
}

/// Env var naming the CA directory the test runner made (`keeperdb-ksm-emulator make-ca --out DIR`).
pub const CA_DIR_ENV: &str = "KEEPERDB_KSM_CA_DIR";

/// The CA directory for tests: `$KEEPERDB_KSM_CA_DIR`, checked against `SSL_CERT_FILE` (which
/// must be `$KEEPERDB_KSM_CA_DIR/ca.pem`, since the SDK trusts only what that variable names).
/// The error says how to set both (`cargo xtask test` does).
pub fn test_ca_dir() -> Result<PathBuf, EmulatorError> {
    let help = "run the tests with `cargo xtask test`, or by hand: \
        `cargo run -p keeperdb-ksm-emulator -- make-ca --out DIR` then \
        `KEEPERDB_KSM_CA_DIR=DIR SSL_CERT_FILE=DIR/ca.pem cargo test ...`";
    let dir = std::env::var_os(CA_DIR_ENV)
        .map(PathBuf::from)
        .ok_or_else(|| EmulatorError::Env(format!("{CA_DIR_ENV} is not set: {help}")))?;
    let ca = dir.join(CA_CERT_FILE);
    let cert_file = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .ok_or_else(|| EmulatorError::Env(format!("SSL_CERT_FILE is not set: {help}")))?;
    let same = matches!(
        (std::fs::canonicalize(&cert_file), std::fs::canonicalize(&ca)),
        (Ok(a), Ok(b)) if a == b
    );
    if !same {
        return Err(EmulatorError::Env(format!(
            "SSL_CERT_FILE must name {} (the emulator CA): {help}",
            ca.display()
        )));
    }
    if std::env::var_os("KSM_SKIP_VERIFY").is_some() {
        return Err(EmulatorError::Env(
            "KSM_SKIP_VERIFY is set; unset it: the emulator is meant to be reached with strict TLS"
                .into(),
        ));
    }
    Ok(dir)
}

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Initial vault content (ignored when `persist_path` already holds a state).
    pub seed: Seed,
    /// Where to listen; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// A directory holding (or to receive) the CA (`ca.pem`, `ca-key.pem`). `None`: a fresh CA
    /// in a temporary directory removed on drop.
    pub ca_dir: Option<PathBuf>,
    /// A file keeping the encrypted vault across restarts.
    pub persist_path: Option<PathBuf>,
    /// Faults active from the start.
    pub faults: Vec<FaultRule>,
    /// The server key id clients must send (`PublicKeyId`): a positive integer, as the real
    /// service's are. Default [`DEFAULT_SERVER_KEY_ID`]. It also applies to a persisted state.
    pub server_key_id: u32,
    /// The host put in tokens (`<host>:<token>`). Default `ksm.test`.
    pub hostname: String,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            seed: Seed::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ca_dir: None,
            persist_path: None,
            faults: vec![],
            server_key_id: DEFAULT_SERVER_KEY_ID,
            hostname: "ksm.test".into(),
        }
    }
}

/// Request counters, for assertions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Of those, the ones the emulator is done with (closed by either side).
    pub closed: u64,
    /// HTTP requests read (inside tunnels and direct).
    pub requests: u64,
    /// Requests per KSM endpoint.
    pub by_endpoint: BTreeMap<String, u64>,
    /// Faults that fired.
    pub faults_fired: u64,
    /// TLS handshakes the client broke off because it did not trust the emulator's
    /// certificate (it sent a certificate alert such as `unknown_ca`).
    pub certificate_rejected: u64,
}

/// A record as a vault user would see it (decrypted), for test assertions.
#[derive(Clone)]
pub struct RecordView {
    /// Record UID.
    pub uid: String,
    /// Record type.
    pub record_type: String,
    /// Title.
    pub title: String,
    /// The folder holding it (a subfolder, or the shared folder itself).
    pub folder_uid: Option<String>,
    /// Its shared folder, if any.
    pub shared_folder_uid: Option<String>,
    /// Revision (1 when created, +1 per update).
    pub revision: u64,
    /// Its links.
    pub links: Vec<LinkView>,
    /// Its attached files (uploaded ones).
    pub files: Vec<FileView>,
    /// The full decrypted record JSON (contains secrets: never log it).
    pub data: Value,
}

impl RecordView {
    fn first_value<'a>(&'a self, list: &str, name: &str) -> Option<&'a Value> {
        let i = field_index(&self.data, list, name)?;
        self.data[list][i].get("value")?.as_array()?.first()
    }
    /// First value of the standard field with this label (else type), as the SDK matches.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.first_value("fields", name)
    }
    /// First value of the custom field with this label (else type).
    pub fn custom(&self, name: &str) -> Option<&Value> {
        self.first_value("custom", name)
    }
}

/// Index in `record[list]` (`fields` or `custom`) of the field with this label, else this
/// type (case-insensitive), as the SDK matches.
fn field_index(record: &Value, list: &str, name: &str) -> Option<usize> {
    let fields = record.get(list)?.as_array()?;
    fields
        .iter()
        .position(|f| f.get("label").and_then(Value::as_str) == Some(name))
        .or_else(|| {
            fields.iter().position(|f| {
                f.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case(name))
            })
        })
}

impl fmt::Debug for RecordView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `data` holds passwords; keep it out of Debug output.
        f.debug_struct("RecordView")
            .field("uid", &self.uid)
            .field("record_type", &self.record_type)
            .field("title", &self.title)
            .field("folder_uid", &self.folder_uid)
            .field("revision", &self.revision)
            .field("links", &self.links)
            .finish_non_exhaustive()
    }
}

/// A record link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkView {
    /// The linked record.
    pub record_uid: String,
    /// Link path (`None` for a credential link).
    pub path: Option<String>,
}

/// An attached file, decrypted.
#[derive(Clone, PartialEq)]
pub struct FileView {
    /// File UID.
    pub uid: String,
    /// File metadata (`name`, `title`, `type`, `size`).
    pub meta: Value,
    /// The file content.
    pub content: Vec<u8>,
}

impl fmt::Debug for FileView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileView")
            .field("uid", &self.uid)
            .field("meta", &self.meta)
            .field("bytes", &self.content.len())
            .finish()
    }
}

/// A folder, decrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderView {
    /// Folder UID.
    pub uid: String,
    /// Name.
    pub name: String,
    /// Parent folder (`None` for a shared folder).
    pub parent_uid: Option<String>,
    /// The shared folder at the root of its tree (itself for a shared folder).
    pub shared_folder_uid: String,
}

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Starts an emulator on its own runtime; it runs until the handle is dropped.
    pub fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        if config.server_key_id == 0 {
            return Err(EmulatorError::ServerKeyId(config.server_key_id));
        }
        let mut vault = match &config.persist_path {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(p).map_err(|e| EmulatorError::Io {
                    path: p.clone(),
                    source: e,
                })?;
                tracing::debug!("emulator state reloaded from its persist file; seed ignored");
                Vault::from_persisted(&text)?
            }
            _ => Vault::from_seed(&config.seed, config.server_key_id)?,
        };
        // The configured id wins over a persisted one: a bound client that sends the old id is
        // told the new one, as after a key rotation.
        vault.server_key_id = config.server_key_id;
        vault.hostname = config.hostname.clone();
        let tls = tls::setup(
            config.ca_dir.as_deref(),
            std::slice::from_ref(&config.hostname),
        )?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ksm-emulator")
            .enable_all()
            .build()
            .map_err(EmulatorError::Runtime)?;
        // Bound with std so that start() works from async code too (no block_on here).
        let bind_err = |e| EmulatorError::Bind {
            addr: config.listen,
            source: e,
        };
        let listener = std::net::TcpListener::bind(config.listen).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let shared = Arc::new(Shared {
            vault: Mutex::new(vault),
            rules: Mutex::new(
                config
                    .faults
                    .iter()
                    .cloned()
                    .map(faults::RuleState::new)
                    .collect(),
            ),
            stats: Mutex::new(Stats::default()),
            persist: config.persist_path.clone(),
            acceptor: tokio_rustls::TlsAcceptor::from(tls.config.clone()),
        });
        shared.persist_now(&lock(&shared.vault));
        let (stop_tx, stop_rx) = watch::channel(false);
        runtime.spawn(server::serve(listener, shared.clone(), stop_rx));
        tracing::debug!(%addr, "KSM emulator listening");
        Ok(EmulatorHandle {
            runtime: Some(runtime),
            stop: stop_tx,
            shared,
            addr,
            hostname: config.hostname,
            ca_cert_path: tls.ca_cert_path,
            _ca_temp: tls._temp,
        })
    }
}

/// A running emulator. Dropping it stops the server.
pub struct EmulatorHandle {
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    shared: Arc<Shared>,
    addr: SocketAddr,
    hostname: String,
    ca_cert_path: PathBuf,
    _ca_temp: Option<tls::TempDir>,
}

impl fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the SDK's `proxy_url`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The host put in tokens (`ksm.test` by default).
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The CA certificate clients must trust (`SSL_CERT_FILE`).
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_cert_path
    }

    /// The server public key for `ClientOptions::set_server_public_key`: url-safe base64
    /// without padding of the 65-byte uncompressed P-256 point.
    pub fn server_public_key(&self) -> String {
        lock(&self.shared.vault)
            .server_public_key()
            .unwrap_or_default()
    }

    /// The server key id in decimal, as `ClientOptions::set_server_public_key_id` (Rust),
    /// `serverPublicKeyId` (JavaScript) and `server_public_key_id` (Python) take it.
    pub fn server_public_key_id(&self) -> String {
        self.server_key_id().to_string()
    }

    /// The server key id as a number.
    pub fn server_key_id(&self) -> u32 {
        lock(&self.shared.vault).server_key_id
    }

    /// The application names, in seed order.
    pub fn apps(&self) -> Vec<String> {
        lock(&self.shared.vault).app_names()
    }

    /// Issues a one-time access token for application `app`, formatted `<hostname>:<token>`
    /// (`ksm.test:...`), ready for `ClientOptions`. It binds exactly one client.
    pub fn issue_token(&self, app: &str) -> Result<String, EmulatorError> {
        let tok = self.change(|v| v.issue_token(app))?;
        Ok(format!("{}:{tok}", self.hostname))
    }

    /// Issues a token for the first application.
    pub fn issue_default_token(&self) -> Result<String, EmulatorError> {
        let app = self
            .apps()
            .into_iter()
            .next()
            .ok_or_else(|| EmulatorError::UnknownApp(String::new()))?;
        self.issue_token(&app)
    }

    /// Lets an unused token (as [`EmulatorHandle::issue_token`] returned it) expire: binding
    /// with it then fails as with an unknown token, as the service answers. Returns whether it
    /// was issued and still unused.
    pub fn expire_token(&self, token: &str) -> Result<bool, EmulatorError> {
        let key = token.rsplit(':').next().unwrap_or(token);
        let Ok(client_key) = crypto::b64_lenient(key) else {
            return Ok(false);
        };
        self.change(|v| Ok(v.expire_token(&client_key)))
    }

    /// Replaces the fault rules (their counters start at zero).
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        *lock(&self.shared.rules) = rules.into_iter().map(faults::RuleState::new).collect();
    }

    /// Adds one fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.shared.rules).push(faults::RuleState::new(rule));
    }

    /// Request counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Waits until every connection accepted so far is closed: each request a client sent,
    /// even a client that has since died, has been carried out or dropped. `false` if that
    /// took longer than `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if stats.closed == stats.connections {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// How many clients have bound with their token.
    pub fn bound_clients(&self) -> usize {
        lock(&self.shared.vault).bound_clients()
    }

    /// Every record, decrypted.
    pub fn records(&self) -> Vec<RecordView> {
        lock(&self.shared.vault).record_views()
    }

    /// Every folder, decrypted, parents first.
    pub fn folders(&self) -> Vec<FolderView> {
        lock(&self.shared.vault).folder_views()
    }

    /// Adds more folders, records and apps while running (as a vault user would).
    pub fn add_seed(&self, seed: &Seed) -> Result<(), EmulatorError> {
        self.change(|v| v.add_seed(seed))
    }

    /// Changes a record as its owner would in the vault (for example rotating a password),
    /// re-encrypting it under its record key; returns the new revision. `edit` gets the record
    /// JSON (`type`, `title`, `notes`, `fields`, `custom`).
    pub fn update_record(
        &self,
        uid: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Result<u64, EmulatorError> {
        self.change(|v| {
            v.edit_record(uid, |rec| {
                edit(rec);
                Ok(())
            })
        })
    }

    /// Sets the value of a record's standard field, matched by label then type (as the SDK
    /// matches), e.g. `set_field(uid, "password", json!("new"))`; returns the new revision.
    pub fn set_field(&self, uid: &str, name: &str, value: Value) -> Result<u64, EmulatorError> {
        self.change(|v| {
            v.edit_record(uid, |rec| {
                let i = field_index(rec, "fields", name).ok_or_else(|| {
                    EmulatorError::UnknownField {
                        record: uid.to_string(),
                        field: name.to_string(),
                    }
                })?;
                rec["fields"][i]["value"] = Value::Array(vec![value]);
                Ok(())
            })
        })
    }

    /// Removes a record as its owner would (clients no longer see it).
    pub fn remove_record(&self, uid: &str) -> Result<(), EmulatorError> {
        self.change(|v| v.remove_record(uid))
    }

    /// Applies an owner-side change to the vault and persists it if it succeeded.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut Vault) -> Result<T, EmulatorError>,
    ) -> Result<T, EmulatorError> {
        let mut v = lock(&self.shared.vault);
        let out = change(&mut v)?;
        self.shared.persist_now(&v);
        Ok(out)
    }

    /// Stops the server (same as dropping the handle).
    pub fn shutdown(self) {}
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            // Safe from sync and async contexts alike.
            rt.shutdown_background();
        }
    }
}
