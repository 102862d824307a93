//! The vault as the service keeps it, and the request pipeline (protocol doc §2.3, §3, §4).
//!
//! Everything is stored wrapped, as the real service stores it: records under record keys,
//! record keys under the shared folder key (and under the app key for direct shares), shared
//! folder keys under each app key, subfolder keys under the root shared folder key (CBC), app
//! keys under the client key (`encryptedAppKey`). The only key held in clear is the emulated
//! vault owner's data key (`master_key`), which stands in for the owner's account and lets the
//! emulator seed, inspect and accept writes.

use std::collections::{BTreeMap, HashSet};

use p256::SecretKey;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::crypto::{self, b64, b64_lenient, b64url};
use crate::seed::{Seed, check_fields};
use crate::{EmulatorError, FolderView, LinkView, RecordView};

/// Base64 (padded standard) for byte fields in the persisted JSON.
mod bytes_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::crypto::b64(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        crate::crypto::b64_lenient(&s).map_err(serde::de::Error::custom)
    }
}

mod opt_bytes_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&crate::crypto::b64(v)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| crate::crypto::b64_lenient(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The server key id as persisted: a number. States written before key ids were numeric hold a
/// string such as `"emu-1"`; those load as 0 and take the configured id at start.
mod key_id_compat {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Number(u32),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        Ok(match Stored::deserialize(d)? {
            Stored::Number(n) => n,
            Stored::Text(s) => s.trim().parse().unwrap_or(0),
        })
    }
}

const STATE_VERSION: u32 = 1;

/// The endpoints the SDK calls (doc §1.1) that the emulator serves.
pub(crate) const ENDPOINTS: [&str; 11] = [
    "get_secret",
    "get_folders",
    "create_secret",
    "update_secret",
    "delete_secret",
    "create_folder",
    "update_folder",
    "delete_folder",
    "finalize_secret_update",
    "rollback_secret_update",
    "add_file",
];

/// Path prefixes of the file transfer URLs handed out by `add_file` and `get_secret` (the
/// stand-in for the service's pre-signed storage URLs).
pub(crate) const UPLOAD_PATH: &str = "/ksm-emulator/upload/";
pub(crate) const DOWNLOAD_PATH: &str = "/ksm-emulator/files/";
const MAX_FILE: u64 = 16 * 1024 * 1024 - 4096;

#[derive(Serialize, Deserialize)]
pub(crate) struct Vault {
    version: u32,
    /// The id clients must send as `PublicKeyId` (a positive integer, as the service's are).
    #[serde(deserialize_with = "key_id_compat::deserialize")]
    pub server_key_id: u32,
    #[serde(with = "bytes_b64")]
    server_private: Vec<u8>,
    #[serde(with = "bytes_b64")]
    master_key: Vec<u8>,
    #[serde(with = "bytes_b64")]
    owner_public: Vec<u8>,
    apps: Vec<App>,
    /// Parents always come before their children.
    folders: Vec<Folder>,
    records: Vec<Record>,
    clients: Vec<Client>,
    #[serde(skip)]
    hinted_key_ids: HashSet<String>,
    /// The host in file URLs (the token host).
    #[serde(skip)]
    pub hostname: String,
}

#[derive(Serialize, Deserialize)]
struct App {
    uid: String,
    name: String,
    #[serde(with = "bytes_b64")]
    app_key: Vec<u8>,
    editable: bool,
    shared_folders: Vec<FolderShare>,
    records: Vec<RecordShare>,
}

#[derive(Serialize, Deserialize)]
struct FolderShare {
    folder_uid: String,
    /// GCM(appKey, sharedFolderKey)
    #[serde(with = "bytes_b64")]
    folder_key: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct RecordShare {
    record_uid: String,
    /// GCM(appKey, recordKey)
    #[serde(with = "bytes_b64")]
    record_key: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Folder {
    uid: String,
    parent: Option<String>,
    /// The root shared folder of this folder's tree (itself for a shared folder).
    shared_folder: String,
    /// Shared folder: GCM(master, key). Subfolder: CBC(rootSharedFolderKey, key).
    #[serde(with = "bytes_b64")]
    key: Vec<u8>,
    /// CBC(key, {"name": ...})
    #[serde(with = "bytes_b64")]
    data: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Record {
    uid: String,
    shared_folder: Option<String>,
    inner_folder: Option<String>,
    /// GCM(sharedFolderKey, recordKey) for records in a shared folder.
    #[serde(with = "opt_bytes_b64")]
    folder_key: Option<Vec<u8>>,
    /// GCM(master, recordKey): the owner's copy.
    #[serde(with = "bytes_b64")]
    owner_key: Vec<u8>,
    /// GCM(recordKey, recordJSON)
    #[serde(with = "bytes_b64")]
    data: Vec<u8>,
    revision: u64,
    links: Vec<Link>,
    /// The data and revision before an unfinished rotation update.
    #[serde(default)]
    pending: Option<Pending>,
    #[serde(default)]
    files: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    uid: String,
    /// GCM(recordKey, fileKey)
    #[serde(with = "bytes_b64")]
    key: Vec<u8>,
    /// GCM(fileKey, {"name","title","type","size"})
    #[serde(with = "bytes_b64")]
    meta: Vec<u8>,
    /// GCM(fileKey, content); `None` until the client uploads it.
    #[serde(with = "opt_bytes_b64")]
    blob: Option<Vec<u8>>,
    /// Encrypted size the client announced.
    size: u64,
    /// Makes the transfer URLs unguessable, as pre-signed URLs are.
    url_token: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct Pending {
    #[serde(with = "bytes_b64")]
    data: Vec<u8>,
    revision: u64,
}

#[derive(Serialize, Deserialize, Clone)]
struct Link {
    record_uid: String,
    data: Option<String>,
    path: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Client {
    client_id: String,
    app_uid: String,
    /// GCM(clientKey, appKey), made when the token was issued; the token itself is not kept.
    #[serde(with = "bytes_b64")]
    encrypted_app_key: Vec<u8>,
    #[serde(with = "opt_bytes_b64")]
    public_key: Option<Vec<u8>>,
}

/// One HTTP request as the pipeline sees it.
pub(crate) struct ApiRequest<'a> {
    pub endpoint: &'a str,
    pub transmission_key: Option<&'a str>,
    pub public_key_id: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

/// What goes back: status and body (encrypted JSON on 200, plaintext JSON otherwise).
#[derive(Debug)]
pub(crate) struct ApiReply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

impl ApiReply {
    /// A plaintext JSON answer (the service's errors).
    pub fn json(status: u16, body: Vec<u8>) -> ApiReply {
        ApiReply {
            status,
            body,
            content_type: "application/json",
        }
    }

    /// A 200 answer with an encrypted (or empty) body.
    pub fn octets(body: Vec<u8>) -> ApiReply {
        ApiReply {
            status: 200,
            body,
            content_type: "application/octet-stream",
        }
    }
}

/// A request that decrypted and whose signature checked out.
struct Authenticated {
    transmission_key: Vec<u8>,
    client_idx: usize,
    payload: Value,
    /// The client is binding: the answer carries the app key (doc §3.3).
    include_app_key: bool,
    /// This request bound the client (its public key is now stored).
    newly_bound: bool,
}

/// An error answer: HTTP status, error code, message.
struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
}

fn err(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    err(400, "bad_request", message)
}

fn denied(message: &str) -> ApiError {
    err(403, "access_denied", message)
}

fn server_error(message: &'static str) -> ApiError {
    err(500, "server_error", message)
}

fn already_exists(what: &str, uid: &str) -> ApiError {
    err(
        409,
        "already_exists",
        format!("{what} {uid} already exists"),
    )
}

fn not_shared(what: &str, uid: &str) -> ApiError {
    err(
        404,
        "not_found",
        format!("{what} {uid} is not shared to this application"),
    )
}

const UNKNOWN_CLIENT: &str = "Unable to validate application access";
const BAD_SIGNATURE: &str = "Signature is invalid";
const READ_ONLY: &str = "The application is read-only";

/// The plaintext JSON error envelope the service sends (doc §6).
pub(crate) fn error_body(
    endpoint: &str,
    code: &str,
    message: &str,
    extra: Option<(&str, Value)>,
) -> Vec<u8> {
    let mut v = json!({
        "path": format!("https://keepersecurity.com/api/rest/sm/v1/{endpoint}, POST"),
        "additional_info": "",
        "location": "default exception manager - api exception",
        "error": code,
        "message": message,
    });
    if let Some((k, x)) = extra {
        v[k] = x;
    }
    v.to_string().into_bytes()
}

fn error_reply(ep: &str, e: ApiError) -> ApiReply {
    tracing::debug!(
        endpoint = ep,
        status = e.status,
        code = e.code,
        "request refused"
    );
    ApiReply::json(e.status, error_body(ep, e.code, &e.message, None))
}

/// The `{"error":"key"}` answer, naming the server's key id when `key_id` is given. The service
/// sends the id as a JSON number (`{"error":"key","key_id":17}`).
pub(crate) fn key_reply(endpoint: &str, key_id: Option<u32>) -> ApiReply {
    let extra = key_id.map(|id| ("key_id", Value::from(id)));
    ApiReply::json(400, error_body(endpoint, "key", "invalid key id", extra))
}

/// A string field of a payload; absent and empty are the same.
fn opt_str_field<'a>(p: &'a Value, k: &str) -> Option<&'a str> {
    p.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn str_field<'a>(p: &'a Value, k: &str) -> Result<&'a str, ApiError> {
    opt_str_field(p, k).ok_or_else(|| bad_request(format!("{k} is missing")))
}

fn bytes_field(p: &Value, k: &str) -> Result<Vec<u8>, ApiError> {
    b64_lenient(str_field(p, k)?).map_err(|_| bad_request(format!("{k} is not base64")))
}

/// The strings of an array field (non-strings skipped); `None` when it is not an array.
fn str_list(p: &Value, k: &str) -> Option<Vec<String>> {
    let list = p.get(k)?.as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    )
}

/// The base64 field `k`, which must be AES-GCM encrypted JSON under `key` (named in the error).
fn gcm_json_field(p: &Value, k: &str, key: &[u8], key_name: &str) -> Result<Vec<u8>, ApiError> {
    let blob = bytes_field(p, k)?;
    let plain = crypto::gcm_decrypt(key, &blob)
        .map_err(|_| bad_request(format!("{k} does not decrypt with the {key_name} key")))?;
    serde_json::from_slice::<Value>(&plain)
        .map_err(|_| bad_request(format!("{k} does not decrypt to JSON")))?;
    Ok(blob)
}

/// Folder `data` must be AES-CBC (not GCM: folders use CBC throughout, doc §5) encrypted
/// `{"name": ...}` under the folder's own key.
fn check_folder_data(key: &[u8], data: &[u8]) -> Result<(), ApiError> {
    let named = crypto::cbc_decrypt(key, data)
        .ok()
        .and_then(|d| serde_json::from_slice::<Value>(&d).ok())
        .is_some_and(|v| v.get("name").is_some_and(Value::is_string));
    if named {
        Ok(())
    } else {
        Err(bad_request(
            "folder data does not decrypt to {\"name\": ...}",
        ))
    }
}

/// Refuses writes from a read-only application.
fn check_editable(app: &App) -> Result<(), ApiError> {
    if app.editable {
        Ok(())
    } else {
        Err(denied(READ_ONLY))
    }
}

fn uid_ok(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn c<T>(r: Result<T, crypto::CryptoError>) -> Result<T, EmulatorError> {
    r.map_err(|e| EmulatorError::Crypto(e.0.to_string()))
}

impl Vault {
    /// A new vault holding `seed`, encrypted.
    pub fn from_seed(seed: &Seed, server_key_id: u32) -> Result<Vault, EmulatorError> {
        let server = SecretKey::random(&mut rand::thread_rng());
        let owner = SecretKey::random(&mut rand::thread_rng());
        let mut v = Vault {
            version: STATE_VERSION,
            server_key_id,
            server_private: server.to_bytes().to_vec(),
            master_key: crypto::random_key().to_vec(),
            owner_public: crypto::public_point(&owner),
            apps: vec![],
            folders: vec![],
            records: vec![],
            clients: vec![],
            hinted_key_ids: HashSet::new(),
            hostname: "ksm.test".into(),
        };
        v.add_seed(seed)?;
        Ok(v)
    }

    pub fn from_persisted(text: &str) -> Result<Vault, EmulatorError> {
        let v: Vault =
            serde_json::from_str(text).map_err(|e| EmulatorError::Persist(e.to_string()))?;
        if v.version != STATE_VERSION {
            return Err(EmulatorError::Persist(format!(
                "state version {} is not the supported version {STATE_VERSION}",
                v.version
            )));
        }
        v.server_secret()?;
        if v.master_key.len() != 32 {
            return Err(EmulatorError::Persist(
                "the stored owner key is not 32 bytes".into(),
            ));
        }
        Ok(v)
    }

    pub fn to_persisted(&self) -> Result<String, EmulatorError> {
        serde_json::to_string_pretty(self).map_err(|e| EmulatorError::Persist(e.to_string()))
    }

    pub fn server_secret(&self) -> Result<SecretKey, EmulatorError> {
        SecretKey::from_slice(&self.server_private)
            .map_err(|_| EmulatorError::Persist("the stored server key is not a P-256 key".into()))
    }

    /// The server public key as the SDK takes it: b64url, no padding, 65-byte point.
    pub fn server_public_key(&self) -> Result<String, EmulatorError> {
        Ok(b64url(&crypto::public_point(&self.server_secret()?)))
    }

    // ---------------------------------------------------------------- keys

    fn unwrap_master(&self, blob: &[u8]) -> Result<Vec<u8>, crypto::CryptoError> {
        crypto::gcm_decrypt(&self.master_key, blob)
    }

    fn folder(&self, uid: &str) -> Option<&Folder> {
        self.folders.iter().find(|f| f.uid == uid)
    }

    fn record_idx(&self, uid: &str) -> Option<usize> {
        self.records.iter().position(|r| r.uid == uid)
    }

    /// The plain key of any folder (shared folder or subfolder).
    fn folder_key(&self, uid: &str) -> Result<Vec<u8>, crypto::CryptoError> {
        let f = self
            .folder(uid)
            .ok_or(crypto::CryptoError("no such folder"))?;
        match &f.parent {
            None => self.unwrap_master(&f.key),
            Some(_) => crypto::cbc_decrypt(&self.folder_key(&f.shared_folder)?, &f.key),
        }
    }

    fn record_key(&self, r: &Record) -> Result<Vec<u8>, crypto::CryptoError> {
        self.unwrap_master(&r.owner_key)
    }

    fn app_key(&self, app: &App) -> Result<Vec<u8>, crypto::CryptoError> {
        self.unwrap_master(&app.app_key)
    }

    // ---------------------------------------------------------------- seeding

    fn resolve_folder(&self, r: &str) -> Result<String, EmulatorError> {
        if self.folder(r).is_some() {
            return Ok(r.to_string());
        }
        let mut by_name = self
            .folders
            .iter()
            .filter(|f| self.folder_name(f).as_deref() == Some(r));
        match (by_name.next(), by_name.next()) {
            (Some(f), None) => Ok(f.uid.clone()),
            (Some(_), Some(_)) => Err(EmulatorError::Seed(format!(
                "folder name {r:?} is used by more than one folder; refer to it by uid"
            ))),
            _ => Err(EmulatorError::Seed(format!(
                "no folder with uid or name {r:?}"
            ))),
        }
    }

    /// The shared folder at the root of folder `uid`, and its plain key.
    fn root_with_key(&self, uid: &str) -> Result<(String, Vec<u8>), EmulatorError> {
        let root = self
            .folder(uid)
            .map(|f| f.shared_folder.clone())
            .unwrap_or_default();
        let key = c(self.folder_key(&root))?;
        Ok((root, key))
    }

    fn folder_name(&self, f: &Folder) -> Option<String> {
        let key = self.folder_key(&f.uid).ok()?;
        let plain = crypto::cbc_decrypt(&key, &f.data).ok()?;
        let v: Value = serde_json::from_slice(&plain).ok()?;
        v.get("name").and_then(Value::as_str).map(str::to_string)
    }

    fn resolve_record(
        &self,
        r: &str,
        titles: &BTreeMap<String, Vec<String>>,
    ) -> Result<String, EmulatorError> {
        if self.record_idx(r).is_some() {
            return Ok(r.to_string());
        }
        match titles.get(r).map(Vec::as_slice) {
            Some([uid]) => Ok(uid.clone()),
            Some(_) => Err(EmulatorError::Seed(format!(
                "record title {r:?} is used by more than one record; refer to it by uid"
            ))),
            None => Err(EmulatorError::Seed(format!(
                "no record with uid or title {r:?}"
            ))),
        }
    }

    fn new_uid(&self, given: &Option<String>, what: &str) -> Result<String, EmulatorError> {
        match given {
            Some(u) if !uid_ok(u) => Err(EmulatorError::Seed(format!(
                "{what}: uid {u:?} must be 1-64 characters of A-Z a-z 0-9 - _"
            ))),
            Some(u) if self.folder(u).is_some() || self.record_idx(u).is_some() => Err(
                EmulatorError::Seed(format!("{what}: uid {u:?} is already used")),
            ),
            Some(u) => Ok(u.clone()),
            None => Ok(crypto::random_uid()),
        }
    }

    /// Adds a seed's folders, records and apps to the vault.
    pub fn add_seed(&mut self, seed: &Seed) -> Result<(), EmulatorError> {
        for f in &seed.folders {
            let uid = self.new_uid(&f.uid, &format!("folder {:?}", f.name))?;
            let key = crypto::random_key();
            let name = serde_json::to_vec(&json!({ "name": f.name })).unwrap_or_default();
            let data = c(crypto::cbc_encrypt(&key, &name))?;
            let folder = match &f.parent {
                None => Folder {
                    uid: uid.clone(),
                    parent: None,
                    shared_folder: uid.clone(),
                    key: c(crypto::gcm_encrypt(&self.master_key, &key))?,
                    data,
                },
                Some(p) => {
                    let parent = self.resolve_folder(p)?;
                    let (root, root_key) = self.root_with_key(&parent)?;
                    Folder {
                        uid: uid.clone(),
                        parent: Some(parent),
                        shared_folder: root,
                        key: c(crypto::cbc_encrypt(&root_key, &key))?,
                        data,
                    }
                }
            };
            self.folders.push(folder);
        }

        let mut titles: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &self.records {
            if let Some(v) = self.record_plain(r)
                && let Some(t) = v.get("title").and_then(Value::as_str)
            {
                titles.entry(t.to_string()).or_default().push(r.uid.clone());
            }
        }
        let mut pending_links = vec![];
        for sr in &seed.records {
            check_fields(&sr.title, "fields", &sr.fields)?;
            check_fields(&sr.title, "custom", &sr.custom)?;
            let uid = self.new_uid(&sr.uid, &format!("record {:?}", sr.title))?;
            let key = crypto::random_key();
            let (shared_folder, inner_folder, folder_key) = match &sr.folder {
                None => (None, None, None),
                Some(fr) => {
                    let fu = self.resolve_folder(fr)?;
                    let (root, sf_key) = self.root_with_key(&fu)?;
                    let inner = (fu != root).then_some(fu);
                    (
                        Some(root),
                        inner,
                        Some(c(crypto::gcm_encrypt(&sf_key, &key))?),
                    )
                }
            };
            let mut json_rec = sr.record_json();
            let mut files = vec![];
            for sf in &sr.files {
                let content = match (&sf.content, &sf.content_base64) {
                    (Some(t), None) => t.as_bytes().to_vec(),
                    (None, Some(b)) => b64_lenient(b).map_err(|_| {
                        EmulatorError::Seed(format!(
                            "record {:?}: file {:?}: content_base64 is not base64",
                            sr.title, sf.name
                        ))
                    })?,
                    _ => {
                        return Err(EmulatorError::Seed(format!(
                            "record {:?}: file {:?} needs exactly one of content, content_base64",
                            sr.title, sf.name
                        )));
                    }
                };
                let file_key = crypto::random_key();
                let meta = json!({
                    "name": sf.name,
                    "title": sf.title.clone().unwrap_or_else(|| sf.name.clone()),
                    "type": sf.mime_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
                    "size": content.len(),
                });
                let blob = c(crypto::gcm_encrypt(&file_key, &content))?;
                files.push(FileEntry {
                    uid: crypto::random_uid(),
                    key: c(crypto::gcm_encrypt(&key, &file_key))?,
                    meta: c(crypto::gcm_encrypt(&file_key, meta.to_string().as_bytes()))?,
                    size: blob.len() as u64,
                    blob: Some(blob),
                    url_token: crypto::random_uid(),
                });
            }
            if !files.is_empty() {
                add_file_refs(&mut json_rec, files.iter().map(|f| f.uid.clone()));
            }
            let plain = serde_json::to_vec(&json_rec).unwrap_or_default();
            self.records.push(Record {
                uid: uid.clone(),
                shared_folder,
                inner_folder,
                folder_key,
                owner_key: c(crypto::gcm_encrypt(&self.master_key, &key))?,
                data: c(crypto::gcm_encrypt(&key, &plain))?,
                revision: 1,
                links: vec![],
                pending: None,
                files,
            });
            titles
                .entry(sr.title.clone())
                .or_default()
                .push(uid.clone());
            if !sr.links.is_empty() {
                pending_links.push((uid, sr.links.clone()));
            }
        }
        for (uid, links) in pending_links {
            let mut out = vec![];
            for l in links {
                let target = self.resolve_record(&l.record, &titles)?;
                let data = l.data.as_ref().map(|d| b64(d.to_string().as_bytes()));
                out.push(Link {
                    record_uid: target,
                    data,
                    path: l.path.clone(),
                });
            }
            if let Some(i) = self.record_idx(&uid) {
                self.records[i].links = out;
            }
        }

        let mut apps = seed.apps.clone();
        if apps.is_empty() && self.apps.is_empty() {
            apps.push(crate::seed::SeedApp {
                name: "keeperdb".into(),
                shared_folders: self
                    .folders
                    .iter()
                    .filter(|f| f.parent.is_none())
                    .map(|f| f.uid.clone())
                    .collect(),
                records: self
                    .records
                    .iter()
                    .filter(|r| r.shared_folder.is_none())
                    .map(|r| r.uid.clone())
                    .collect(),
                editable: true,
            });
        }
        for sa in &apps {
            if self.apps.iter().any(|a| a.name == sa.name) {
                return Err(EmulatorError::Seed(format!(
                    "application name {:?} is used twice",
                    sa.name
                )));
            }
            let app_key = crypto::random_key();
            let mut app = App {
                uid: crypto::random_uid(),
                name: sa.name.clone(),
                app_key: c(crypto::gcm_encrypt(&self.master_key, &app_key))?,
                editable: sa.editable,
                shared_folders: vec![],
                records: vec![],
            };
            for fr in &sa.shared_folders {
                let fu = self.resolve_folder(fr)?;
                if self.folder(&fu).is_some_and(|f| f.parent.is_some()) {
                    return Err(EmulatorError::Seed(format!(
                        "app {:?}: {fr:?} is a subfolder; only shared (top-level) folders can be shared to an app",
                        sa.name
                    )));
                }
                let k = c(self.folder_key(&fu))?;
                app.shared_folders.push(FolderShare {
                    folder_uid: fu,
                    folder_key: c(crypto::gcm_encrypt(&app_key, &k))?,
                });
            }
            for rr in &sa.records {
                let ru = self.resolve_record(rr, &titles)?;
                let i = self
                    .record_idx(&ru)
                    .ok_or_else(|| EmulatorError::Seed(format!("no record {rr:?}")))?;
                let k = c(self.record_key(&self.records[i]))?;
                app.records.push(RecordShare {
                    record_uid: ru,
                    record_key: c(crypto::gcm_encrypt(&app_key, &k))?,
                });
            }
            self.apps.push(app);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- tokens

    pub fn app_names(&self) -> Vec<String> {
        self.apps.iter().map(|a| a.name.clone()).collect()
    }

    /// Makes a one-time token for `app` and registers its (still unbound) client.
    pub fn issue_token(&mut self, app: &str) -> Result<String, EmulatorError> {
        let i = self
            .apps
            .iter()
            .position(|a| a.name == app)
            .ok_or_else(|| EmulatorError::UnknownApp(app.to_string()))?;
        let client_key = crypto::random_key();
        let app_key = c(self.app_key(&self.apps[i]))?;
        self.clients.push(Client {
            client_id: crypto::client_id(&client_key),
            app_uid: self.apps[i].uid.clone(),
            encrypted_app_key: c(crypto::gcm_encrypt(&client_key, &app_key))?,
            public_key: None,
        });
        Ok(b64url(&client_key))
    }

    /// Lets an unused one-time token expire, as the service does after its lifetime: its
    /// client is forgotten, so binding with it is answered as for an unknown token. Returns
    /// whether an unbound client of that token existed.
    pub fn expire_token(&mut self, client_key: &[u8]) -> bool {
        let id = crypto::client_id(client_key);
        let before = self.clients.len();
        self.clients
            .retain(|c| !(c.client_id == id && c.public_key.is_none()));
        self.clients.len() != before
    }

    pub fn bound_clients(&self) -> usize {
        self.clients
            .iter()
            .filter(|c| c.public_key.is_some())
            .count()
    }

    // ---------------------------------------------------------------- views

    fn record_plain(&self, r: &Record) -> Option<Value> {
        let key = self.record_key(r).ok()?;
        let plain = crypto::gcm_decrypt(&key, &r.data).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    pub fn record_views(&self) -> Vec<RecordView> {
        self.records
            .iter()
            .filter_map(|r| {
                let data = self.record_plain(r)?;
                let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or_default();
                Some(RecordView {
                    uid: r.uid.clone(),
                    record_type: text("type").to_string(),
                    title: text("title").to_string(),
                    folder_uid: r.inner_folder.clone().or_else(|| r.shared_folder.clone()),
                    shared_folder_uid: r.shared_folder.clone(),
                    revision: r.revision,
                    links: r
                        .links
                        .iter()
                        .map(|l| LinkView {
                            record_uid: l.record_uid.clone(),
                            path: l.path.clone(),
                        })
                        .collect(),
                    files: self.file_views(r),
                    data,
                })
            })
            .collect()
    }

    /// Owner-side edit of a record's JSON (a vault user changing it): re-encrypted under the
    /// same record key, revision + 1. Returns the new revision; an `edit` that fails changes
    /// nothing.
    pub fn edit_record(
        &mut self,
        uid: &str,
        edit: impl FnOnce(&mut Value) -> Result<(), EmulatorError>,
    ) -> Result<u64, EmulatorError> {
        let i = self
            .record_idx(uid)
            .ok_or_else(|| EmulatorError::UnknownRecord(uid.to_string()))?;
        let mut json = self
            .record_plain(&self.records[i])
            .ok_or_else(|| EmulatorError::Crypto(format!("record {uid} does not decrypt")))?;
        edit(&mut json)?;
        let key = c(self.record_key(&self.records[i]))?;
        let data = c(crypto::gcm_encrypt(&key, json.to_string().as_bytes()))?;
        let r = &mut self.records[i];
        r.data = data;
        r.revision += 1;
        Ok(r.revision)
    }

    /// Owner-side removal of a record (and its files).
    pub fn remove_record(&mut self, uid: &str) -> Result<(), EmulatorError> {
        let i = self
            .record_idx(uid)
            .ok_or_else(|| EmulatorError::UnknownRecord(uid.to_string()))?;
        self.drop_record(i);
        Ok(())
    }

    pub fn folder_views(&self) -> Vec<FolderView> {
        self.folders
            .iter()
            .map(|f| FolderView {
                uid: f.uid.clone(),
                name: self.folder_name(f).unwrap_or_default(),
                parent_uid: f.parent.clone(),
                shared_folder_uid: f.shared_folder.clone(),
            })
            .collect()
    }

    // ---------------------------------------------------------------- the pipeline

    /// The `{"error":"key","key_id":...}` answer. With a custom server key the SDK retries such
    /// an answer forever with the same key id, so each wrong id gets the hint once; after that
    /// the answer carries no `key_id`, which the SDK reports as an error.
    pub fn key_error(&mut self, endpoint: &str, wrong_id: &str) -> ApiReply {
        let first = self.hinted_key_ids.insert(wrong_id.to_string());
        key_reply(endpoint, first.then_some(self.server_key_id))
    }

    /// Runs one request through decryption, authentication and the endpoint handler.
    /// Returns the reply and whether the vault changed (so the caller persists it).
    pub fn handle(&mut self, req: &ApiRequest<'_>) -> (ApiReply, bool) {
        let ep = req.endpoint;
        let key_id = req.public_key_id.unwrap_or("").trim();
        // The SDKs send the id in decimal (the JavaScript SDK sends `NaN` for an id that is not
        // a number); anything else names a key this server does not have.
        if key_id != self.server_key_id.to_string() {
            tracing::debug!(endpoint = ep, "request names an unknown server key id");
            return (self.key_error(ep, key_id), false);
        }
        let auth = match self.authenticate(req) {
            Ok(a) => a,
            Err(e) => return (error_reply(ep, e), false),
        };
        let result = self.dispatch(ep, &auth);
        // A write endpoint that answered 200 changed the vault (a delete whose every item
        // failed persists the same state again, which is harmless).
        let changed =
            auth.newly_bound || (result.is_ok() && !matches!(ep, "get_secret" | "get_folders"));
        let reply = match result {
            Ok(None) => ApiReply::octets(vec![]),
            Ok(Some(v)) => {
                match crypto::gcm_encrypt(&auth.transmission_key, v.to_string().as_bytes()) {
                    Ok(body) => ApiReply::octets(body),
                    Err(_) => error_reply(ep, server_error("cannot encrypt the response")),
                }
            }
            Err(e) => error_reply(ep, e),
        };
        (reply, changed)
    }

    fn authenticate(&mut self, req: &ApiRequest<'_>) -> Result<Authenticated, ApiError> {
        let etk = req
            .transmission_key
            .and_then(|t| b64_lenient(t).ok())
            .ok_or_else(|| bad_request("TransmissionKey header is missing or not base64"))?;
        let server = self
            .server_secret()
            .map_err(|_| server_error("server key unavailable"))?;
        let tk = crypto::ecies_decrypt(&server, &etk)
            .map_err(|_| bad_request("Unable to decrypt the transmission key"))?;
        if tk.len() != 32 {
            return Err(bad_request("The transmission key is not 32 bytes"));
        }
        let plain = crypto::gcm_decrypt(&tk, req.body)
            .map_err(|_| bad_request("Unable to decrypt the payload"))?;
        let payload: Value = serde_json::from_slice(&plain)
            .map_err(|_| bad_request("The payload is not valid JSON"))?;
        let client_id = payload
            .get("clientId")
            .and_then(Value::as_str)
            .ok_or_else(|| bad_request("clientId is missing from the payload"))?;
        let idx = self
            .clients
            .iter()
            .position(|c| c.client_id == client_id)
            .ok_or_else(|| denied(UNKNOWN_CLIENT))?;
        let offered = match payload.get("publicKey") {
            Some(Value::String(s)) if !s.is_empty() => {
                Some(b64_lenient(s).map_err(|_| bad_request("publicKey is not base64"))?)
            }
            _ => None,
        };
        let sig = req
            .authorization
            .map(|a| a.trim().strip_prefix("Signature ").unwrap_or(a).trim())
            .and_then(|s| b64_lenient(s).ok())
            .ok_or_else(|| denied(BAD_SIGNATURE))?;
        let signed = [etk.as_slice(), req.body].concat();

        let client = &self.clients[idx];
        let Some(verifying) = client.public_key.as_ref().or(offered.as_ref()) else {
            return Err(denied(UNKNOWN_CLIENT));
        };
        if !crypto::verify_signature(verifying, &signed, &sig) {
            return Err(denied(BAD_SIGNATURE));
        }
        let binding_endpoint = matches!(req.endpoint, "get_secret" | "get_folders");
        let newly_bound = client.public_key.is_none();
        let include_app_key = match (&client.public_key, &offered) {
            (None, Some(_)) => {
                if !binding_endpoint {
                    return Err(denied(UNKNOWN_CLIENT));
                }
                tracing::debug!(endpoint = req.endpoint, app = %client.app_uid, "client bound with its one-time token");
                self.clients[idx].public_key = offered;
                true
            }
            // The same device asking again before it stored the app key (a lost reply).
            (Some(k), Some(o)) => k == o && binding_endpoint,
            _ => false,
        };
        Ok(Authenticated {
            transmission_key: tk,
            client_idx: idx,
            payload,
            include_app_key,
            newly_bound,
        })
    }

    fn dispatch(&mut self, ep: &str, auth: &Authenticated) -> Result<Option<Value>, ApiError> {
        let client = &self.clients[auth.client_idx];
        let app_i = self
            .apps
            .iter()
            .position(|a| a.uid == client.app_uid)
            .ok_or_else(|| denied(UNKNOWN_CLIENT))?;
        let p = &auth.payload;
        let mut out = match ep {
            "get_secret" => Some(self.get_secret(app_i, p)),
            "get_folders" => Some(self.get_folders(app_i)),
            "create_secret" => self.create_secret(app_i, p)?,
            "update_secret" => self.update_secret(app_i, p)?,
            "delete_secret" => self.delete_secret(app_i, p)?,
            "create_folder" => self.create_folder(app_i, p)?,
            "update_folder" => self.update_folder(app_i, p)?,
            "delete_folder" => self.delete_folder(app_i, p)?,
            "add_file" => self.add_file(app_i, p)?,
            "finalize_secret_update" | "rollback_secret_update" => {
                self.end_transaction(app_i, ep, p)?
            }
            _ => return Err(err(404, "not_found", format!("unknown endpoint {ep}"))),
        };
        if auth.include_app_key
            && let Some(Value::Object(m)) = out.as_mut()
        {
            let c = &self.clients[auth.client_idx];
            // Unpadded url-safe for the app key, padded standard for the owner key: the SDK
            // decodes the first strictly unpadded and the second either way (doc §2.1, §3.3).
            m.insert(
                "encryptedAppKey".into(),
                Value::String(b64url(&c.encrypted_app_key)),
            );
            m.insert(
                "appOwnerPublicKey".into(),
                Value::String(b64(&self.owner_public)),
            );
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- access

    fn can_see_record(&self, app: &App, r: &Record) -> bool {
        app.records.iter().any(|s| s.record_uid == r.uid)
            || r.shared_folder
                .as_ref()
                .is_some_and(|sf| self.sees_shared_folder(app, sf))
    }

    fn sees_shared_folder(&self, app: &App, sf: &str) -> bool {
        app.shared_folders.iter().any(|s| s.folder_uid == sf)
    }

    fn editable_record(&self, app_i: usize, uid: &str) -> Result<usize, ApiError> {
        let app = &self.apps[app_i];
        let i = self
            .record_idx(uid)
            .filter(|&i| self.can_see_record(app, &self.records[i]))
            .ok_or_else(|| not_shared("record", uid))?;
        check_editable(app)?;
        Ok(i)
    }

    /// The shared folder `sf` of a create request, which the app must see and may write to.
    fn writable_shared_folder(&self, app_i: usize, sf: &str) -> Result<(), ApiError> {
        let app = &self.apps[app_i];
        if !self.sees_shared_folder(app, sf) {
            return Err(denied(
                "The shared folder is not shared to this application",
            ));
        }
        check_editable(app)
    }

    /// The client-made UID in field `k` for a new `what`: well-formed and not used by any
    /// record or folder.
    fn new_client_uid(&self, p: &Value, k: &str, what: &str) -> Result<String, ApiError> {
        let uid = str_field(p, k)?.to_string();
        if !uid_ok(&uid) {
            return Err(bad_request(format!("{k} is not a valid uid")));
        }
        if self.record_idx(&uid).is_some() || self.folder(&uid).is_some() {
            return Err(already_exists(what, &uid));
        }
        Ok(uid)
    }

    /// Removes record `i` and the direct shares of it.
    fn drop_record(&mut self, i: usize) {
        let r = self.records.remove(i);
        for a in &mut self.apps {
            a.records.retain(|s| s.record_uid != r.uid);
        }
    }

    // ---------------------------------------------------------------- endpoints

    fn envelope(&self, r: &Record, record_key: &[u8], links: bool, editable: bool) -> Value {
        let mut v = json!({
            "recordUid": r.uid,
            "recordKey": b64(record_key),
            "data": b64(&r.data),
            "revision": r.revision,
            "isEditable": editable,
            "files": self.file_envelopes(r),
            "folderUid": null,
            "innerFolderUid": r.inner_folder,
        });
        if links {
            v["links"] = Value::Array(
                r.links
                    .iter()
                    .map(|l| json!({"recordUid": l.record_uid, "data": l.data, "path": l.path}))
                    .collect(),
            );
        }
        v
    }

    fn get_secret(&self, app_i: usize, p: &Value) -> Value {
        let app = &self.apps[app_i];
        let want_records = str_list(p, "requestedRecords");
        let want_folders = str_list(p, "requestedFolders");
        let links = p
            .get("requestLinks")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let filtered = want_records.is_some() || want_folders.is_some();
        let wanted = |r: &Record| -> bool {
            if !filtered {
                return true;
            }
            want_records.as_ref().is_some_and(|w| w.contains(&r.uid))
                || want_folders.as_ref().is_some_and(|w| {
                    r.shared_folder.as_ref().is_some_and(|f| w.contains(f))
                        || r.inner_folder.as_ref().is_some_and(|f| w.contains(f))
                })
        };
        let mut folders = vec![];
        for share in &app.shared_folders {
            let recs: Vec<Value> = self
                .records
                .iter()
                .filter(|r| {
                    r.shared_folder.as_deref() == Some(share.folder_uid.as_str()) && wanted(r)
                })
                .filter_map(|r| {
                    r.folder_key
                        .as_ref()
                        .map(|k| self.envelope(r, k, links, app.editable))
                })
                .collect();
            if filtered && recs.is_empty() {
                continue;
            }
            folders.push(json!({
                "folderUid": share.folder_uid,
                "folderKey": b64(&share.folder_key),
                "data": null,
                "parent": null,
                "isEditable": app.editable,
                "records": recs,
            }));
        }
        let records: Vec<Value> = app
            .records
            .iter()
            .filter_map(|s| {
                let r = &self.records[self.record_idx(&s.record_uid)?];
                wanted(r).then(|| self.envelope(r, &s.record_key, links, app.editable))
            })
            .collect();
        // Unpadded url-safe, unlike everything in `folders` and `records` (doc §2.1).
        let app_data = self
            .app_key(app)
            .ok()
            .and_then(|k| {
                let plain = json!({"title": app.name, "type": "app"}).to_string();
                crypto::gcm_encrypt(&k, plain.as_bytes()).ok()
            })
            .map(|b| b64url(&b));
        tracing::debug!(
            endpoint = "get_secret",
            folders = folders.len(),
            records = records.len(),
            "served"
        );
        json!({
            "appData": app_data,
            "encryptedAppKey": null,
            "appOwnerPublicKey": null,
            "folders": folders,
            "records": records,
            "expiresOn": 0,
            "warnings": null,
            "extra": null,
        })
    }

    fn get_folders(&self, app_i: usize) -> Value {
        let app = &self.apps[app_i];
        let mut out = vec![];
        for share in &app.shared_folders {
            let Some(root) = self.folder(&share.folder_uid) else {
                continue;
            };
            // A shared folder's key is sent wrapped by the app key (GCM), a subfolder's as stored,
            // wrapped by its shared folder's key (CBC) (doc §4.2).
            out.push(json!({
                "folderUid": root.uid, "folderKey": b64(&share.folder_key),
                "data": b64(&root.data), "parent": null,
            }));
            // Parents before children, as the SDK needs (doc §4.2); `folders` is kept in that order.
            for f in self
                .folders
                .iter()
                .filter(|f| f.parent.is_some() && f.shared_folder == root.uid)
            {
                out.push(json!({
                    "folderUid": f.uid, "folderKey": b64(&f.key),
                    "data": b64(&f.data), "parent": f.parent,
                }));
            }
        }
        json!({ "folders": out })
    }

    fn create_secret(&mut self, app_i: usize, p: &Value) -> Result<Option<Value>, ApiError> {
        let uid = self.new_client_uid(p, "recordUid", "record")?;
        let sf = str_field(p, "folderUid")?.to_string();
        self.writable_shared_folder(app_i, &sf)?;
        let inner = match opt_str_field(p, "subFolderUid") {
            Some(sub) if sub == sf => None,
            Some(sub) => match self.folder(sub) {
                Some(f) if f.shared_folder == sf => Some(sub.to_string()),
                _ => {
                    return Err(bad_request(format!(
                        "folder {sub} is not inside shared folder {sf}"
                    )));
                }
            },
            None => None,
        };
        let wrapped = bytes_field(p, "folderKey")?;
        let sf_key = self
            .folder_key(&sf)
            .map_err(|_| server_error("folder key unavailable"))?;
        let rec_key = crypto::gcm_decrypt(&sf_key, &wrapped)
            .map_err(|_| bad_request("folderKey does not decrypt with the shared folder key"))?;
        let data = gcm_json_field(p, "data", &rec_key, "record")?;
        let owner_key = crypto::gcm_encrypt(&self.master_key, &rec_key)
            .map_err(|_| server_error("wrap failed"))?;
        tracing::debug!(endpoint = "create_secret", record = %uid, folder = %sf, "record created");
        self.records.push(Record {
            uid,
            shared_folder: Some(sf),
            inner_folder: inner,
            folder_key: Some(wrapped),
            owner_key,
            data,
            revision: 1,
            links: vec![],
            pending: None,
            files: vec![],
        });
        Ok(None)
    }

    fn update_secret(&mut self, app_i: usize, p: &Value) -> Result<Option<Value>, ApiError> {
        let uid = str_field(p, "recordUid")?.to_string();
        let i = self.editable_record(app_i, &uid)?;
        let revision = p.get("revision").and_then(Value::as_u64);
        if revision.is_some_and(|r| r != self.records[i].revision) {
            return Err(err(
                409,
                "out_of_sync",
                "The record was changed since it was read; read it again",
            ));
        }
        let key = self
            .record_key(&self.records[i])
            .map_err(|_| server_error("record key unavailable"))?;
        let data = gcm_json_field(p, "data", &key, "record")?;
        let rotation = p.get("transactionType").and_then(Value::as_str) == Some("rotation");
        let remove = str_list(p, "links2Remove").unwrap_or_default();
        let r = &mut self.records[i];
        if rotation {
            r.pending = Some(Pending {
                data: r.data.clone(),
                revision: r.revision,
            });
        }
        r.data = data;
        r.revision += 1;
        r.links.retain(|l| !remove.contains(&l.record_uid));
        tracing::debug!(endpoint = "update_secret", record = %uid, revision = r.revision, "record updated");
        Ok(None)
    }

    fn end_transaction(
        &mut self,
        app_i: usize,
        ep: &str,
        p: &Value,
    ) -> Result<Option<Value>, ApiError> {
        let uid = str_field(p, "recordUid")?;
        let i = self.editable_record(app_i, uid)?;
        let r = &mut self.records[i];
        let pending = r.pending.take();
        // A rollback restores the old data as a new revision, so readers notice the change.
        if ep == "rollback_secret_update"
            && let Some(prev) = pending
        {
            r.data = prev.data;
            r.revision = prev.revision + 2;
        }
        Ok(None)
    }

    fn delete_secret(&mut self, app_i: usize, p: &Value) -> Result<Option<Value>, ApiError> {
        let uids = str_list(p, "recordUids").ok_or_else(|| bad_request("recordUids is missing"))?;
        let mut results = vec![];
        for uid in uids {
            let (code, msg) = match self.editable_record(app_i, &uid) {
                Ok(i) => {
                    self.drop_record(i);
                    tracing::debug!(endpoint = "delete_secret", record = %uid, "record deleted");
                    ("ok", String::new())
                }
                Err(e) => (e.code, e.message),
            };
            results.push(json!({"recordUid": uid, "responseCode": code, "errorMessage": msg}));
        }
        Ok(Some(json!({ "records": results })))
    }

    fn create_folder(&mut self, app_i: usize, p: &Value) -> Result<Option<Value>, ApiError> {
        let uid = self.new_client_uid(p, "folderUid", "folder")?;
        let sf = str_field(p, "sharedFolderUid")?.to_string();
        self.writable_shared_folder(app_i, &sf)?;
        let parent = opt_str_field(p, "parentUid").unwrap_or(&sf).to_string();
        if self.folder(&parent).is_none_or(|f| f.shared_folder != sf) {
            return Err(bad_request(format!(
                "parent folder {parent} is not inside shared folder {sf}"
            )));
        }
        // Subfolder keys are wrapped with CBC, not GCM, under the shared folder key (doc §4.6).
        let wrapped = bytes_field(p, "sharedFolderKey")?;
        let sf_key = self
            .folder_key(&sf)
            .map_err(|_| server_error("folder key unavailable"))?;
        let key = crypto::cbc_decrypt(&sf_key, &wrapped)
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| bad_request("sharedFolderKey does not decrypt to a folder key"))?;
        let data = bytes_field(p, "data")?;
        check_folder_data(&key, &data)?;
        tracing::debug!(endpoint = "create_folder", folder = %uid, parent = %parent, "folder created");
        self.folders.push(Folder {
            uid,
            parent: Some(parent),
            shared_folder: sf,
            key: wrapped,
            data,
        });
        Ok(None)
    }

    fn update_folder(&mut self, app_i: usize, p: &Value) -> Result<Option<Value>, ApiError> {
        let uid = str_field(p, "folderUid")?;
        let app = &self.apps[app_i];
        let Some(i) = self
            .folders
            .iter()
            .position(|f| f.uid == uid && self.sees_shared_folder(app, &f.shared_folder))
        else {
            return Err(not_shared("folder", uid));
        };
        check_editable(app)?;
        let data = bytes_field(p, "data")?;
        let key = self
            .folder_key(uid)
            .map_err(|_| server_error("folder key unavailable"))?;
        check_folder_data(&key, &data)?;
        self.folders[i].data = data;
        Ok(None)
    }

    fn delete_folder(&mut self, app_i: usize, p: &Value) -> Result<Option<Value>, ApiError> {
        let uids = str_list(p, "folderUids").ok_or_else(|| bad_request("folderUids is missing"))?;
        let force = p
            .get("forceDeletion")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut results = vec![];
        for uid in uids {
            let app = &self.apps[app_i];
            let (code, msg): (&str, String) = match self.folder(&uid) {
                None => ("not_found", format!("folder {uid} does not exist")),
                Some(f) if !self.sees_shared_folder(app, &f.shared_folder) => {
                    let e = not_shared("folder", &uid);
                    (e.code, e.message)
                }
                Some(_) if !app.editable => ("access_denied", READ_ONLY.into()),
                Some(f) if f.parent.is_none() => (
                    "access_denied",
                    "A shared folder cannot be deleted through Secrets Manager".into(),
                ),
                Some(_) => {
                    let tree = self.subtree(&uid);
                    let in_tree =
                        |r: &Record| r.inner_folder.as_ref().is_some_and(|f| tree.contains(f));
                    if (tree.len() > 1 || self.records.iter().any(in_tree)) && !force {
                        (
                            "folder_not_empty",
                            "The folder is not empty; use force deletion".into(),
                        )
                    } else {
                        // Through drop_record, so that direct shares of these records go
                        // too: a stale share would expose a later record reusing the UID.
                        for i in (0..self.records.len()).rev() {
                            if in_tree(&self.records[i]) {
                                self.drop_record(i);
                            }
                        }
                        self.folders.retain(|f| !tree.contains(&f.uid));
                        tracing::debug!(endpoint = "delete_folder", folder = %uid, "folder deleted");
                        ("ok", String::new())
                    }
                }
            };
            results.push(json!({"folderUid": uid, "responseCode": code, "errorMessage": msg}));
        }
        Ok(Some(json!({ "folders": results })))
    }

    fn file_url(&self, prefix: &str, f: &FileEntry) -> String {
        format!(
            "https://{}{prefix}{}?t={}",
            self.hostname, f.uid, f.url_token
        )
    }

    fn file_envelopes(&self, r: &Record) -> Value {
        let files: Vec<Value> = r
            .files
            .iter()
            .filter(|f| f.blob.is_some())
            .map(|f| {
                json!({
                    "fileUid": f.uid,
                    "fileKey": b64(&f.key),
                    "data": b64(&f.meta),
                    "url": self.file_url(DOWNLOAD_PATH, f),
                    "thumbnailUrl": null,
                })
            })
            .collect();
        if files.is_empty() {
            Value::Null
        } else {
            Value::Array(files)
        }
    }

    fn file_views(&self, r: &Record) -> Vec<crate::FileView> {
        let Ok(rec_key) = self.record_key(r) else {
            return vec![];
        };
        r.files
            .iter()
            .filter_map(|f| {
                let fk = crypto::gcm_decrypt(&rec_key, &f.key).ok()?;
                let meta = serde_json::from_slice(&crypto::gcm_decrypt(&fk, &f.meta).ok()?).ok()?;
                let content = crypto::gcm_decrypt(&fk, f.blob.as_ref()?).ok()?;
                Some(crate::FileView {
                    uid: f.uid.clone(),
                    meta,
                    content,
                })
            })
            .collect()
    }

    fn add_file(&mut self, app_i: usize, p: &Value) -> Result<Option<Value>, ApiError> {
        let owner = str_field(p, "ownerRecordUid")?.to_string();
        let i = self.editable_record(app_i, &owner)?;
        let uid = self.new_client_uid(p, "fileRecordUid", "file")?;
        if self
            .records
            .iter()
            .any(|r| r.files.iter().any(|f| f.uid == uid))
        {
            return Err(already_exists("file", &uid));
        }
        let size = p
            .get("fileSize")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad_request("fileSize is missing"))?;
        if size > MAX_FILE {
            return Err(bad_request(format!(
                "fileSize {size} is over the emulator's limit of {MAX_FILE} bytes"
            )));
        }
        let rec_key = self
            .record_key(&self.records[i])
            .map_err(|_| server_error("record key unavailable"))?;
        let link_key = bytes_field(p, "linkKey")?;
        let file_key = crypto::gcm_decrypt(&rec_key, &link_key)
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| bad_request("linkKey does not decrypt with the owner record key"))?;
        let meta = gcm_json_field(p, "fileRecordData", &file_key, "file")?;
        let owner_data = gcm_json_field(p, "ownerRecordData", &rec_key, "record")?;
        let entry = FileEntry {
            uid: uid.clone(),
            key: link_key,
            meta,
            blob: None,
            size,
            url_token: crypto::random_uid(),
        };
        let url = self.file_url(UPLOAD_PATH, &entry);
        let r = &mut self.records[i];
        r.data = owner_data;
        r.revision += 1;
        r.files.push(entry);
        tracing::debug!(endpoint = "add_file", record = %owner, file = %uid, "file announced");
        Ok(Some(json!({
            "url": url,
            "parameters": json!({"key": uid}).to_string(),
            "successStatusCode": 204,
        })))
    }

    fn file_mut(&mut self, uid: &str, token: &str) -> Option<&mut FileEntry> {
        self.records
            .iter_mut()
            .flat_map(|r| r.files.iter_mut())
            .find(|f| f.uid == uid && f.url_token == token)
    }

    /// Stores an uploaded (encrypted) file body. Errors are (status, message).
    /// `blob` is `None` when the request carried no multipart `file` part.
    pub fn upload(
        &mut self,
        uid: &str,
        token: &str,
        blob: Option<Vec<u8>>,
    ) -> Result<(), (u16, String)> {
        let f = self
            .file_mut(uid, token)
            .ok_or((404, "no upload is expected at this URL".to_string()))?;
        let blob = blob.ok_or((
            400,
            "expected multipart/form-data with a part named file".to_string(),
        ))?;
        if f.blob.is_some() {
            return Err((409, "this file was already uploaded".into()));
        }
        if blob.len() as u64 != f.size {
            return Err((
                400,
                format!("expected {} bytes, got {}", f.size, blob.len()),
            ));
        }
        f.blob = Some(blob);
        tracing::debug!(file = %uid, "file uploaded");
        Ok(())
    }

    /// The encrypted body of an uploaded file.
    pub fn download(&mut self, uid: &str, token: &str) -> Option<Vec<u8>> {
        self.file_mut(uid, token).and_then(|f| f.blob.clone())
    }

    fn subtree(&self, uid: &str) -> Vec<String> {
        let mut out = vec![uid.to_string()];
        let mut i = 0;
        while i < out.len() {
            let cur = out[i].clone();
            out.extend(
                self.folders
                    .iter()
                    .filter(|f| f.parent.as_deref() == Some(cur.as_str()))
                    .map(|f| f.uid.clone()),
            );
            i += 1;
        }
        out
    }
}

/// Adds file UIDs to the record's first `fileRef` field (making one if needed).
fn add_file_refs(record: &mut Value, uids: impl Iterator<Item = String>) {
    let uids: Vec<Value> = uids.map(Value::String).collect();
    let Some(fields) = record.get_mut("fields").and_then(Value::as_array_mut) else {
        return;
    };
    let existing = fields
        .iter_mut()
        .find(|f| f.get("type").and_then(Value::as_str) == Some("fileRef"));
    match existing {
        Some(f) => match f.get_mut("value").and_then(Value::as_array_mut) {
            Some(v) => v.extend(uids),
            None => f["value"] = Value::Array(uids),
        },
        None => fields.push(json!({"type": "fileRef", "value": uids})),
    }
}
