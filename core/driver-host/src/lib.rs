//! Loads native driver plugins and serves them as [`Driver`]s.
//!
//! A driver plugin is a directory with a `plugin.toml` (kind `driver`) and a shared library
//! built with `keeperdb-driver-sdk`. Loading checks, in order: the manifest, its kind, the host
//! API range, the payload's sha256; then it copies the verified bytes to a private file (so what
//! is loaded is exactly what was hashed, whatever happens to the plugin directory meanwhile),
//! opens it with `RTLD_NOW | RTLD_LOCAL`, resolves the one entry symbol and checks the table's
//! ABI version and size. Libraries are never unloaded: a driver may have threads and stream
//! callbacks alive for as long as the process runs.
//!
//! Panics inside a driver are caught by the SDK's export layer and arrive here as
//! [`DriverErrorKind::Internal`] errors; the host keeps working.
// FFI into driver libraries: one of the two crates where `unsafe` is allowed.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use keeperdb_driver_sdk::ffi::{self, KdbBuf, KdbDriverTable, KdbError, KdbResult, KdbStr};
use keeperdb_driver_sdk::{ConnectParams, DriverInfo};

use keeperdb_model::connection::Engine;
use keeperdb_model::driver::{
    Canceller, CatalogRequest, ConnectRequest, Driver, DriverConnection, DriverError,
    DriverErrorKind, StatementResult,
};
use keeperdb_model::manifest::{Manifest, ManifestError, PluginKind};

/// Why a driver plugin was refused. Every variant names the plugin and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum DriverLoadError {
    /// The manifest is unreadable or invalid, the payload's hash differs, or the host API
    /// range cannot be served.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The manifest is for another kind of plugin.
    #[error("plugin `{id}` is a {kind} plugin, not a driver")]
    NotADriver {
        /// Plugin id.
        id: String,
        /// Its kind.
        kind: PluginKind,
    },
    /// The verified payload could not be copied to a private file for loading.
    #[error("plugin `{id}`: cannot stage the library for loading: {source}")]
    Stage {
        /// Plugin id.
        id: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The dynamic loader refused the file (not a shared library, wrong architecture,
    /// unresolved dependencies).
    #[error("plugin `{id}`: {payload} is not a loadable shared library: {message}")]
    Open {
        /// Plugin id.
        id: String,
        /// Payload path.
        payload: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The library does not export the driver entry point.
    #[error(
        "plugin `{id}`: {payload} does not export `{symbol}`; it is not a keeperdb driver (build it with keeperdb-driver-sdk's export_driver!)"
    )]
    MissingSymbol {
        /// Plugin id.
        id: String,
        /// Payload path.
        payload: PathBuf,
        /// The symbol looked for.
        symbol: String,
    },
    /// The entry point returned no table.
    #[error("plugin `{id}`: the driver's entry point returned no function table")]
    NoTable {
        /// Plugin id.
        id: String,
    },
    /// The table has another ABI major version.
    #[error(
        "plugin `{id}`: driver ABI {found_major}.{found_minor} is not supported; this keeperdb speaks driver ABI {expected}.x"
    )]
    AbiMismatch {
        /// Plugin id.
        id: String,
        /// The driver's major.
        found_major: u32,
        /// The driver's minor.
        found_minor: u32,
        /// The host's major.
        expected: u32,
    },
    /// The driver was built against a host API this keeperdb does not serve.
    #[error(
        "plugin `{id}`: the driver was built for host API {built}, but this keeperdb serves {served}; its plugin.toml claims otherwise, so the package is inconsistent: install a driver built for one of those"
    )]
    BuiltForOtherApi {
        /// Plugin id.
        id: String,
        /// The API version in the driver's table header.
        built: String,
        /// The API version this host serves.
        served: String,
    },
    /// The table is smaller than its ABI version requires, or lacks a function.
    #[error("plugin `{id}`: the driver's function table is malformed: {message}")]
    BadTable {
        /// Plugin id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// The manifest declares an engine the driver does not serve.
    #[error(
        "plugin `{id}`: its plugin.toml declares engine `{engine}`, but the driver serves only {served}; the package is inconsistent, ask its publisher for a fixed one"
    )]
    UndeclaredEngine {
        /// Plugin id.
        id: String,
        /// The engine declared.
        engine: String,
        /// What the driver says it serves.
        served: String,
    },
    /// The driver could not describe itself.
    #[error("plugin `{id}`: the driver failed to describe itself: {source}")]
    Info {
        /// Plugin id.
        id: String,
        /// The driver's error.
        source: DriverError,
    },
}

/// Load the driver plugin in `plugin_dir` (which holds `plugin.toml` and the library).
pub fn load(plugin_dir: &Path) -> Result<Arc<dyn Driver>, DriverLoadError> {
    let manifest = Manifest::load(plugin_dir)?;
    load_with_manifest(plugin_dir, &manifest)
}

/// Load a driver plugin whose manifest the caller has already read from `plugin_dir`.
pub fn load_with_manifest(
    plugin_dir: &Path,
    manifest: &Manifest,
) -> Result<Arc<dyn Driver>, DriverLoadError> {
    let _span = tracing::info_span!("driver.load", plugin = %manifest.id).entered();
    if manifest.kind != PluginKind::Driver {
        return Err(DriverLoadError::NotADriver {
            id: manifest.id.clone(),
            kind: manifest.kind,
        });
    }
    manifest.check_api()?;
    let bytes = manifest.read_verified_payload(plugin_dir)?;

    // The same verified bytes are loaded once per process and shared.
    let key = format!("{}:{}", manifest.id, manifest.sha256.to_ascii_lowercase());
    let mut loaded = loaded_drivers()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(driver) = loaded.get(&key) {
        return Ok(driver.clone());
    }
    let payload = plugin_dir.join(&manifest.payload);
    let table = open_library(&manifest.id, &payload, &bytes)?;
    let driver = Arc::new(NativeDriver::new(&manifest.id, table)?);
    if let Some(missing) = manifest
        .engines
        .iter()
        .find(|spec| !driver.engines.contains(&spec.id))
    {
        return Err(DriverLoadError::UndeclaredEngine {
            id: manifest.id.clone(),
            engine: missing.id.to_string(),
            served: driver
                .engines
                .iter()
                .map(Engine::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    tracing::info!(engines = ?driver.engines, "driver loaded");
    loaded.insert(key, driver.clone());
    Ok(driver)
}

fn loaded_drivers() -> &'static Mutex<HashMap<String, Arc<NativeDriver>>> {
    static LOADED: OnceLock<Mutex<HashMap<String, Arc<NativeDriver>>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// Write the verified bytes to a private directory, `dlopen` that copy, and return its table.
fn open_library(
    id: &str,
    payload: &Path,
    bytes: &[u8],
) -> Result<&'static KdbDriverTable, DriverLoadError> {
    let file_name = payload
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "driver.so".into());
    // The temp dir may be mounted noexec on hardened systems; then try the other places a
    // private copy can live.
    let mut last_error = None;
    let mut library = None;
    for root in stage_roots() {
        if !root.exists() && std::fs::create_dir_all(&root).is_err() {
            continue;
        }
        // tempfile creates the directory with mode 0700: nobody else can swap the file.
        let staged_dir = match tempfile::Builder::new()
            .prefix("keeperdb-driver-")
            .tempdir_in(&root)
        {
            Ok(d) => d,
            Err(source) => {
                last_error = Some(DriverLoadError::Stage {
                    id: id.to_string(),
                    source,
                });
                continue;
            }
        };
        let staged = staged_dir.path().join(&file_name);
        if let Err(source) = std::fs::write(&staged, bytes) {
            last_error = Some(DriverLoadError::Stage {
                id: id.to_string(),
                source,
            });
            continue;
        }
        let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL;
        // SAFETY: loading a library runs its initialisers. The bytes are exactly those whose
        // sha256 the manifest names, which is the trust decision the user made when installing.
        match unsafe { libloading::os::unix::Library::open(Some(&staged), flags) } {
            Ok(l) => {
                // The mapping stays valid once the file is gone; the copy is not needed any more.
                drop(staged_dir);
                library = Some(l);
                break;
            }
            Err(e) => {
                tracing::debug!(stage = %root.display(), error = %e, "driver did not load from this stage dir");
                last_error = Some(DriverLoadError::Open {
                    id: id.to_string(),
                    payload: payload.to_path_buf(),
                    message: e.to_string(),
                });
            }
        }
    }
    let Some(library) = library else {
        return Err(last_error.unwrap_or_else(|| DriverLoadError::Stage {
            id: id.to_string(),
            source: std::io::Error::other("no directory to stage the library in"),
        }));
    };
    // Never unloaded: driver threads and stream callbacks may outlive any handle we hold.
    let library: &'static libloading::os::unix::Library = Box::leak(Box::new(library));

    let symbol_name =
        String::from_utf8_lossy(&ffi::ENTRY_SYMBOL[..ffi::ENTRY_SYMBOL.len() - 1]).into_owned();
    // SAFETY: the symbol's type is the SDK's documented entry signature.
    let entry = unsafe { library.get::<ffi::EntryFn>(ffi::ENTRY_SYMBOL) }.map_err(|_| {
        DriverLoadError::MissingSymbol {
            id: id.to_string(),
            payload: payload.to_path_buf(),
            symbol: symbol_name,
        }
    })?;
    // SAFETY: calling the entry point as documented; it returns a static table or NULL.
    let table = unsafe { entry() };
    if table.is_null() {
        return Err(DriverLoadError::NoTable { id: id.to_string() });
    }
    // SAFETY: the header is the fixed-layout prefix of every table version.
    let header = unsafe { (*table).header };
    if header.abi_major != ffi::ABI_MAJOR {
        return Err(DriverLoadError::AbiMismatch {
            id: id.to_string(),
            found_major: header.abi_major,
            found_minor: header.abi_minor,
            expected: ffi::ABI_MAJOR,
        });
    }
    // The manifest's range was checked already; the table says what the code was really built
    // against, and a 0.x minor is a breaking change.
    let built = semver::Version::new(
        header.api_major.into(),
        header.api_minor.into(),
        header.api_patch.into(),
    );
    let compatible = semver::VersionReq::parse(&format!("^{built}"))
        .is_ok_and(|req| keeperdb_model::served_api_matching(&req).is_some());
    if !compatible {
        return Err(DriverLoadError::BuiltForOtherApi {
            id: id.to_string(),
            built: built.to_string(),
            served: keeperdb_model::served_api_list(),
        });
    }
    // Every field this host reads must lie inside what the driver says it wrote.
    if header.table_size < ffi::TABLE_SIZE_V1_0 as u64 {
        return Err(DriverLoadError::BadTable {
            id: id.to_string(),
            message: format!(
                "it is {} bytes, but ABI {}.{} needs at least {}",
                header.table_size,
                header.abi_major,
                header.abi_minor,
                ffi::TABLE_SIZE_V1_0
            ),
        });
    }
    // SAFETY: the table is at least as large as the struct we read, and lives forever.
    Ok(unsafe { &*table })
}

/// Where a private copy of a verified library may be written before `dlopen`: the temp dir,
/// then the per-user runtime and cache dirs (for systems whose /tmp is mounted noexec).
fn stage_roots() -> Vec<PathBuf> {
    let mut roots = vec![std::env::temp_dir()];
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
        roots.push(PathBuf::from(run));
    }
    if let Some(dirs) = directories::ProjectDirs::from("", "", "keeperdb") {
        roots.push(dirs.cache_dir().join("driver-stage"));
    }
    roots
}

/// The table's functions, checked present once at load.
#[derive(Clone, Copy)]
struct Fns {
    info: ffi::InfoFn,
    connect: ffi::ConnectFn,
    execute: ffi::ExecuteFn,
    catalog: ffi::CatalogFn,
    canceller_new: ffi::CancellerNewFn,
    cancel: ffi::CancelFn,
    canceller_release: ffi::CancellerReleaseFn,
    close: ffi::CloseFn,
}

impl Fns {
    fn from_table(id: &str, t: &KdbDriverTable) -> Result<Self, DriverLoadError> {
        fn need<T>(id: &str, f: Option<T>, name: &str) -> Result<T, DriverLoadError> {
            f.ok_or_else(|| DriverLoadError::BadTable {
                id: id.to_string(),
                message: format!("function `{name}` is missing"),
            })
        }
        Ok(Self {
            info: need(id, t.info, "info")?,
            connect: need(id, t.connect, "connect")?,
            execute: need(id, t.execute, "execute")?,
            catalog: need(id, t.catalog, "catalog")?,
            canceller_new: need(id, t.canceller_new, "canceller_new")?,
            cancel: need(id, t.cancel, "cancel")?,
            canceller_release: need(id, t.canceller_release, "canceller_release")?,
            close: need(id, t.close, "close")?,
        })
    }
}

/// Copy a driver's error out and let the driver free it.
fn take_error(id: &str, status: i32, err: &mut KdbError) -> DriverError {
    let bytes = |ptr: *mut u8, len: usize| -> String {
        if ptr.is_null() {
            String::new()
        } else {
            // SAFETY: the driver filled ptr/len and keeps them alive until release.
            String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(ptr, len) }).into_owned()
        }
    };
    let mut message = bytes(err.message, err.message_len);
    let code = (!err.code.is_null()).then(|| bytes(err.code, err.code_len));
    if let Some(release) = err.release {
        // SAFETY: releasing the error the driver filled, once.
        unsafe { release(err) };
    }
    if message.is_empty() {
        message = format!("driver `{id}` failed without a message (status {status})");
    }
    let kind = if err.kind != ffi::STATUS_OK {
        err.kind
    } else {
        status
    };
    DriverError {
        kind: DriverErrorKind::from_status(kind),
        message,
        code: code.filter(|c| !c.is_empty()),
    }
}

fn internal(message: impl Into<String>) -> DriverError {
    DriverError::new(DriverErrorKind::Internal, message)
}

/// A loaded native driver.
struct NativeDriver {
    id: String,
    engines: Vec<Engine>,
    fns: Fns,
}

impl NativeDriver {
    fn new(id: &str, table: &'static KdbDriverTable) -> Result<Self, DriverLoadError> {
        let fns = Fns::from_table(id, table)?;
        let mut buf = KdbBuf::empty();
        let mut err = KdbError::empty();
        // SAFETY: calling the driver's info with our out-parameters.
        let status = unsafe { (fns.info)(&mut buf, &mut err) };
        if status != ffi::STATUS_OK {
            return Err(DriverLoadError::Info {
                id: id.to_string(),
                source: take_error(id, status, &mut err),
            });
        }
        let json = if buf.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: the driver filled ptr/len and keeps them alive until release.
            unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
        };
        if let Some(release) = buf.release {
            // SAFETY: releasing the buffer the driver filled, once.
            unsafe { release(&mut buf) };
        }
        let info: DriverInfo =
            serde_json::from_slice(&json).map_err(|e| DriverLoadError::Info {
                id: id.to_string(),
                source: internal(format!("its self-description is not valid JSON: {e}")),
            })?;
        let engines = info
            .engines
            .iter()
            .map(|e| e.parse::<Engine>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DriverLoadError::Info {
                id: id.to_string(),
                source: internal(format!("it names an engine that is not an id: {e}")),
            })?;
        Ok(Self {
            id: id.to_string(),
            engines,
            fns,
        })
    }
}

impl Driver for NativeDriver {
    fn id(&self) -> &str {
        &self.id
    }

    fn engines(&self) -> &[Engine] {
        &self.engines
    }

    fn connect(
        &self,
        request: &ConnectRequest<'_>,
    ) -> Result<Box<dyn DriverConnection>, DriverError> {
        let c = request.connection;
        let _span =
            tracing::info_span!("driver.connect", driver = %self.id, target = %c.spec.target())
                .entered();
        let params = ConnectParams {
            engine: c.spec.engine.as_str().to_string(),
            host: c.spec.host.clone(),
            port: c.spec.effective_port(),
            database: c.spec.database.clone(),
            user: request
                .credentials
                .user
                .clone()
                .or_else(|| c.spec.user.clone()),
            tls: c.spec.tls.as_str().to_string(),
            read_only: c.spec.read_only,
            connect_timeout_ms: u64::try_from(request.connect_timeout.as_millis())
                .unwrap_or(u64::MAX),
            options: c.spec.options.clone(),
        };
        let json = serde_json::to_string(&params)
            .map_err(|e| internal(format!("cannot encode connect parameters: {e}")))?;
        let password = match request.credentials.expose_password() {
            Some(p) => KdbStr::new(p),
            None => KdbStr::empty(),
        };
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut err = KdbError::empty();
        // SAFETY: strings live for the call; out-parameters are ours.
        let status =
            unsafe { (self.fns.connect)(KdbStr::new(&json), password, &mut handle, &mut err) };
        if status != ffi::STATUS_OK {
            return Err(take_error(&self.id, status, &mut err));
        }
        if handle.is_null() {
            return Err(internal(format!(
                "driver `{}` reported a connection but returned no handle",
                self.id
            )));
        }
        Ok(Box::new(NativeConnection {
            id: self.id.clone(),
            fns: self.fns,
            handle,
        }))
    }
}

/// A connection owned by a driver library.
struct NativeConnection {
    id: String,
    fns: Fns,
    handle: *mut c_void,
}

// SAFETY: the SDK requires driver connections to be `Send`, and the host never shares the
// handle between threads (all calls take `&mut self` or make a separate canceller).
unsafe impl Send for NativeConnection {}

impl NativeConnection {
    fn finish(
        &self,
        status: i32,
        mut err: KdbError,
        mut result: KdbResult,
    ) -> Result<StatementResult, DriverError> {
        if status != ffi::STATUS_OK {
            return Err(take_error(&self.id, status, &mut err));
        }
        match result.kind {
            ffi::RESULT_ROWS => {
                let stream = std::mem::replace(&mut result.stream, FFI_ArrowArrayStream::empty());
                let reader = RecordBatchStreamReader::try_new(stream)
                    .map_err(|e| stream_error(&self.id, &e))?;
                Ok(StatementResult::Rows(Box::new(HostReader {
                    id: self.id.clone(),
                    reader,
                })))
            }
            ffi::RESULT_DONE => Ok(StatementResult::Done {
                rows_affected: result.rows_affected,
            }),
            other => Err(internal(format!(
                "driver `{}` returned an unknown result kind {other}",
                self.id
            ))),
        }
    }
}

impl DriverConnection for NativeConnection {
    fn execute(&mut self, sql: &str) -> Result<StatementResult, DriverError> {
        let _span = tracing::info_span!("driver.execute", driver = %self.id).entered();
        let mut err = KdbError::empty();
        let mut result = KdbResult::empty();
        // SAFETY: our live handle; sql lives for the call; out-parameters are ours.
        let status =
            unsafe { (self.fns.execute)(self.handle, KdbStr::new(sql), &mut result, &mut err) };
        self.finish(status, err, result)
    }

    fn canceller(&self) -> Arc<dyn Canceller> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let mut err = KdbError::empty();
        // SAFETY: our live handle; out-parameters are ours.
        let status = unsafe { (self.fns.canceller_new)(self.handle, &mut out, &mut err) };
        if status != ffi::STATUS_OK || out.is_null() {
            let error = if status != ffi::STATUS_OK {
                take_error(&self.id, status, &mut err)
            } else {
                internal("the driver returned no canceller")
            };
            return Arc::new(BrokenCanceller(error));
        }
        Arc::new(NativeCanceller {
            id: self.id.clone(),
            fns: self.fns,
            handle: out,
        })
    }

    fn catalog(&mut self, request: &CatalogRequest) -> Result<StatementResult, DriverError> {
        let _span = tracing::info_span!("driver.catalog", driver = %self.id).entered();
        let json = serde_json::to_string(request)
            .map_err(|e| internal(format!("cannot encode catalog request: {e}")))?;
        let mut err = KdbError::empty();
        let mut result = KdbResult::empty();
        // SAFETY: our live handle; json lives for the call; out-parameters are ours.
        let status =
            unsafe { (self.fns.catalog)(self.handle, KdbStr::new(&json), &mut result, &mut err) };
        self.finish(status, err, result)
    }
}

impl Drop for NativeConnection {
    fn drop(&mut self) {
        // SAFETY: closing our handle once.
        unsafe { (self.fns.close)(self.handle) };
    }
}

struct NativeCanceller {
    id: String,
    fns: Fns,
    handle: *mut c_void,
}

// SAFETY: the SDK requires cancellers to be `Send + Sync`: that is their purpose.
unsafe impl Send for NativeCanceller {}
// SAFETY: as above.
unsafe impl Sync for NativeCanceller {}

impl Canceller for NativeCanceller {
    fn cancel(&self) -> Result<(), DriverError> {
        let _span = tracing::info_span!("driver.cancel", driver = %self.id).entered();
        let mut err = KdbError::empty();
        // SAFETY: our live canceller handle.
        let status = unsafe { (self.fns.cancel)(self.handle, &mut err) };
        if status == ffi::STATUS_OK {
            Ok(())
        } else {
            Err(take_error(&self.id, status, &mut err))
        }
    }
}

impl Drop for NativeCanceller {
    fn drop(&mut self) {
        // SAFETY: releasing our handle once.
        unsafe { (self.fns.canceller_release)(self.handle) };
    }
}

struct BrokenCanceller(DriverError);

impl Canceller for BrokenCanceller {
    fn cancel(&self) -> Result<(), DriverError> {
        Err(self.0.clone())
    }
}

/// Turn an Arrow error from the C stream back into the driver's error (kind and code kept).
fn stream_error(id: &str, error: &ArrowError) -> DriverError {
    let text = error.to_string();
    match DriverError::from_stream_message(&text) {
        Some(e) => e,
        None => internal(format!("driver `{id}` failed while streaming rows: {text}")),
    }
}

/// The rows of a statement, pulled page by page from the driver. Errors are
/// `ArrowError::ExternalError` wrapping a [`DriverError`], so callers can downcast for the kind.
struct HostReader {
    id: String,
    reader: RecordBatchStreamReader,
}

impl Iterator for HostReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(
            self.reader
                .next()?
                .map_err(|e| ArrowError::ExternalError(Box::new(stream_error(&self.id, &e)))),
        )
    }
}

impl RecordBatchReader for HostReader {
    fn schema(&self) -> SchemaRef {
        self.reader.schema()
    }
}

pub use keeperdb_model::driver::driver_error_of;
