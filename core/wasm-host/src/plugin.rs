//! Loading one plugin (verify, compile or map from cache, check API version and imports, link
//! what was granted) and calling it under the limits, re-instantiating after a failure.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use secrecy::SecretString;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, types::ComponentItem};
use wasmtime::{Store, Trap};

use super::host::{
    Grants, HostState, Limiter, PathContext, ProgressSink, VaultCapability, capability,
};
use super::v0::{self, source_world, storage_world, types};
use super::{WasmError, WasmRuntime, resolve_paths};
use keeperdb_model::connection::{
    Connection, ConnectionId, ConnectionSpec, Engine, Origin, TlsMode,
};
use keeperdb_model::credentials::Credentials;
use keeperdb_model::manifest::{Manifest, PluginKind};
use keeperdb_model::source::{ConnectionSource, Skipped, SourceError, SourceInfo, SourceListing};
use keeperdb_model::storage::{ItemKind, NewItem, StorageBackend, StorageError, StoredItem};

/// The WIT package every plugin interface belongs to.
const PACKAGE: &str = "keeperdb:plugin";

/// What the host grants and provides to a plugin being loaded.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Capability names the user granted at install (from the plugins state file).
    pub granted: BTreeSet<String>,
    /// How `~` and `${VAR}` in granted paths resolve.
    pub paths: Arc<PathContext>,
    /// The vault behind `keeper-vault`, when one is attached.
    pub vault: Option<Arc<dyn VaultCapability>>,
    /// Where `progress` reports go.
    pub progress: Option<ProgressSink>,
}

impl LoadOptions {
    /// Options for the running process (its home and environment), with these grants.
    pub fn granted<I, S>(granted: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            granted: granted.into_iter().map(Into::into).collect(),
            paths: Arc::new(PathContext::from_process()),
            vault: None,
            progress: None,
        }
    }
}

enum Exports {
    Source(source_world::ConnectionSource),
    Storage(storage_world::StorageBackend),
}

struct Live {
    store: Store<HostState>,
    exports: Exports,
}

/// A verified, compiled, linked plugin. Calls are serialised; each runs under the runtime's
/// deadline, and a failed call drops the instance so the next one starts fresh.
pub struct LoadedPlugin {
    manifest: Manifest,
    runtime: WasmRuntime,
    pre: InstancePre<HostState>,
    grants: Arc<Grants>,
    options: LoadOptions,
    live: Mutex<Option<Live>>,
    api: semver::Version,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.manifest.id)
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// Load the plugin in `dir`: manifest, API range, payload sha256, component API version,
    /// imports against grants; then link.
    pub fn load(
        runtime: &WasmRuntime,
        dir: &Path,
        options: LoadOptions,
    ) -> Result<Self, WasmError> {
        let manifest = Manifest::load(dir)?;
        let _span = tracing::info_span!("plugin_load", plugin = %manifest.id).entered();
        if manifest.kind == PluginKind::Driver {
            return Err(WasmError::WrongKind {
                plugin: manifest.id.clone(),
                kind: manifest.kind,
                wanted: PluginKind::ConnectionSource,
            });
        }
        manifest.check_api(&keeperdb_model::HOST_API_VERSION)?;
        let bytes = manifest.read_verified_payload(dir)?;
        let grants = Arc::new(resolve_grants(&manifest, &options)?);

        let engine = runtime.engine();
        let sha = manifest.sha256.to_ascii_lowercase();
        let component = match runtime.cache().and_then(|c| c.load(engine, &sha)) {
            Some(component) => component,
            None => {
                let component =
                    Component::from_binary(engine, &bytes).map_err(|e| WasmError::Compile {
                        plugin: manifest.id.clone(),
                        message: format!("{e:#}"),
                    })?;
                if let Some(cache) = runtime.cache() {
                    cache.store(&sha, &component);
                }
                component
            }
        };

        let api = check_component(&component, engine, &manifest, &grants)?;
        let linker = build_linker(engine, &grants).map_err(|e| WasmError::Compile {
            plugin: manifest.id.clone(),
            message: format!("{e:#}"),
        })?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| WasmError::Compile {
                plugin: manifest.id.clone(),
                message: format!("{e:#}"),
            })?;
        Ok(Self {
            manifest,
            runtime: runtime.clone(),
            pre,
            grants,
            options,
            live: Mutex::new(None),
            api,
        })
    }

    /// The manifest it was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The API version the component was built against.
    pub fn api_version(&self) -> &semver::Version {
        &self.api
    }

    /// The capabilities linked for it, beyond log and progress.
    pub fn granted_capabilities(&self) -> Vec<&'static str> {
        self.grants.names()
    }

    /// Create an instance now (normally done lazily by the first call); for warm-start checks.
    pub fn instantiate(&self) -> Result<(), WasmError> {
        let mut live = self.lock();
        if live.is_none() {
            *live = Some(self.new_instance("instantiate")?);
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Option<Live>> {
        // A panic while holding the lock can only come from the host side; the instance is
        // rebuilt on the next call anyway.
        self.live.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        })
    }

    fn new_instance(&self, call: &'static str) -> Result<Live, WasmError> {
        let limits = self.runtime.limits();
        let state = HostState {
            plugin_id: self.manifest.id.clone(),
            grants: self.grants.clone(),
            paths: self.options.paths.clone(),
            limiter: Limiter {
                max_memory: limits.max_memory_bytes,
                max_table_elements: 100_000,
                memory_exceeded: false,
            },
            last_error_log: None,
            progress: self.options.progress.clone(),
            vault: self.options.vault.clone(),
        };
        let mut store = Store::new(self.runtime.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.runtime.deadline_ticks());
        let result = match self.manifest.kind {
            PluginKind::StorageBackend => storage_world::StorageBackendPre::new(self.pre.clone())
                .and_then(|pre| pre.instantiate(&mut store))
                .map(Exports::Storage),
            _ => source_world::ConnectionSourcePre::new(self.pre.clone())
                .and_then(|pre| pre.instantiate(&mut store))
                .map(Exports::Source),
        };
        match result {
            Ok(exports) => Ok(Live { store, exports }),
            Err(e) => Err(self.call_error(call, &e, store.data())),
        }
    }

    fn call_error(&self, call: &'static str, e: &wasmtime::Error, state: &HostState) -> WasmError {
        let limits = self.runtime.limits();
        let mut message = if state.limiter.memory_exceeded {
            format!(
                "exceeded its memory limit of {} MiB",
                limits.max_memory_bytes >> 20
            )
        } else {
            match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => format!(
                    "did not finish within the {} ms deadline and was stopped",
                    limits.call_deadline.as_millis()
                ),
                Some(Trap::StackOverflow) => {
                    "overflowed its call stack (runaway recursion)".to_string()
                }
                Some(Trap::UnreachableCodeReached) => "aborted (a panic or an abort)".to_string(),
                Some(other) => format!("trapped: {other}"),
                None => format!("{e:#}"),
            }
        };
        if let Some(last) = &state.last_error_log {
            message.push_str(&format!("; its last error message: {last}"));
        }
        message.push_str("; the instance was discarded and the next call starts a fresh one");
        WasmError::Call {
            plugin: self.manifest.id.clone(),
            call,
            message,
        }
    }

    /// Run one export under the deadline; on any trap drop the instance.
    fn call<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&Exports, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, WasmError> {
        let _span = tracing::info_span!("plugin_call", plugin = %self.manifest.id, call).entered();
        let mut guard = self.lock();
        if guard.is_none() {
            *guard = Some(self.new_instance(call)?);
        }
        let Some(live) = guard.as_mut() else {
            unreachable!("instance was just created")
        };
        live.store.set_epoch_deadline(self.runtime.deadline_ticks());
        live.store.data_mut().last_error_log = None;
        match f(&live.exports, &mut live.store) {
            Ok(value) => Ok(value),
            Err(e) => {
                let err = self.call_error(call, &e, live.store.data());
                tracing::warn!("{err}");
                *guard = None;
                Err(err)
            }
        }
    }

    fn too_big(&self, call: &'static str, size: usize) -> WasmError {
        WasmError::Call {
            plugin: self.manifest.id.clone(),
            call,
            message: format!(
                "returned {} MiB, more than the {} MiB a call may return",
                size >> 20,
                self.runtime.limits().max_return_bytes >> 20
            ),
        }
    }

    fn source_exports(exports: &Exports) -> wasmtime::Result<&source_world::ConnectionSource> {
        match exports {
            Exports::Source(s) => Ok(s),
            Exports::Storage(_) => Err(wasmtime::Error::msg("not a connection source")),
        }
    }

    fn storage_exports(exports: &Exports) -> wasmtime::Result<&storage_world::StorageBackend> {
        match exports {
            Exports::Storage(s) => Ok(s),
            Exports::Source(_) => Err(wasmtime::Error::msg("not a storage backend")),
        }
    }

    /// `list-connections`, with the answer's size checked.
    fn list_raw(&self) -> Result<Result<Vec<types::Connection>, types::Error>, WasmError> {
        let answer = self.call("list-connections", |exports, store| {
            Self::source_exports(exports)?
                .keeperdb_plugin_source()
                .call_list_connections(store)
        })?;
        if let Ok(list) = &answer {
            let size: usize = list.iter().map(connection_size).sum();
            if size > self.runtime.limits().max_return_bytes {
                return Err(self.too_big("list-connections", size));
            }
        }
        Ok(answer)
    }
}

/// Rough byte size of a returned connection: the strings it carries plus a fixed overhead.
fn connection_size(c: &types::Connection) -> usize {
    64 + c.id.len()
        + c.name.len()
        + c.engine.len()
        + c.host.as_ref().map_or(0, String::len)
        + c.database.as_ref().map_or(0, String::len)
        + c.user.as_ref().map_or(0, String::len)
        + c.environment.as_ref().map_or(0, String::len)
        + c.color.as_ref().map_or(0, String::len)
        + c.options
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}

/// Grants for this run: asked for in the manifest *and* granted by the user.
fn resolve_grants(manifest: &Manifest, options: &LoadOptions) -> Result<Grants, WasmError> {
    let wanted = |name: &str| {
        manifest
            .capabilities
            .get(name)
            .filter(|_| options.granted.contains(name))
    };
    let fs_read = match wanted(capability::FS_READ) {
        Some(request) => Some(resolve_paths(&request.paths, &options.paths).map_err(
            |message| WasmError::Grant {
                plugin: manifest.id.clone(),
                message,
            },
        )?),
        None => None,
    };
    Ok(Grants {
        fs_read,
        http: wanted(capability::HTTP).map(|r| r.hosts.clone()),
        keeper_vault: wanted(capability::KEEPER_VAULT).is_some(),
    })
}

/// `keeperdb:plugin/<interface>@<version>` split into its parts.
fn parse_name(name: &str) -> Option<(&str, Option<&str>)> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    Some(match rest.split_once('@') {
        Some((iface, version)) => (iface, Some(version)),
        None => (rest, None),
    })
}

/// Check the component's API version and its imports against what this plugin was granted.
/// Returns the API version it was built for.
fn check_component(
    component: &Component,
    engine: &wasmtime::Engine,
    manifest: &Manifest,
    grants: &Grants,
) -> Result<semver::Version, WasmError> {
    let plugin = || manifest.id.clone();
    let ty = component.component_type();
    let served = &keeperdb_model::HOST_API_VERSION;
    let check_version = |name: &str, version: Option<&str>| -> Result<semver::Version, WasmError> {
        let found = version
            .and_then(|v| semver::Version::parse(v).ok())
            .ok_or_else(|| WasmError::UnknownImport {
                plugin: plugin(),
                import: name.to_string(),
            })?;
        // Built against `found`: the host must serve something semver-compatible and at
        // least as new (a plugin may use functions added in its minor).
        let compatible = semver::VersionReq::parse(&format!("^{found}"))
            .map(|req| req.matches(served))
            .unwrap_or(false);
        if compatible {
            Ok(found)
        } else {
            Err(WasmError::IncompatibleApi {
                plugin: plugin(),
                name: name.to_string(),
                found: found.to_string(),
                served: served.to_string(),
            })
        }
    };

    let expected_export = match manifest.kind {
        PluginKind::StorageBackend => "storage",
        _ => "source",
    };
    let mut api = None;
    for (name, _) in ty.exports(engine) {
        if let Some((iface, version)) = parse_name(name) {
            let found = check_version(name, version)?;
            if iface == expected_export {
                api = Some(found);
            }
        }
    }
    for (name, item) in ty.imports(engine) {
        let Some((iface, version)) = parse_name(name) else {
            return Err(WasmError::UnknownImport {
                plugin: plugin(),
                import: name.to_string(),
            });
        };
        check_version(name, version)?;
        let Some(cap) = capability::of_interface(iface) else {
            return Err(WasmError::UnknownImport {
                plugin: plugin(),
                import: name.to_string(),
            });
        };
        if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            return Err(WasmError::UnknownImport {
                plugin: plugin(),
                import: name.to_string(),
            });
        }
        if !grants.has(cap) {
            let reason = if manifest.capabilities.contains_key(cap) {
                "the user did not grant"
            } else {
                "its plugin.toml does not ask for"
            };
            return Err(WasmError::CapabilityNotGranted {
                plugin: plugin(),
                capability: cap.to_string(),
                import: name.to_string(),
                reason,
            });
        }
    }
    api.ok_or_else(|| WasmError::WrongWorld {
        plugin: plugin(),
        kind: manifest.kind,
        expected: format!(
            "{PACKAGE}/{expected_export}@{}",
            keeperdb_model::HOST_API_VERSION
        ),
    })
}

/// A linker with log and progress, plus exactly the granted capabilities.
fn build_linker(engine: &wasmtime::Engine, grants: &Grants) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    v0::types::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    v0::log::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    v0::progress::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    if grants.fs_read.is_some() {
        v0::fs_read::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    }
    if grants.http.is_some() {
        v0::http::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    }
    if grants.keeper_vault {
        v0::keeper_vault::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    }
    Ok(linker)
}

/// A plugin's error answer as user-facing text.
fn describe(e: &types::Error) -> String {
    match e {
        types::Error::InvalidData(d) => format!(
            "invalid data in {}: {}",
            v0::sanitize(&d.what),
            v0::sanitize(&d.message)
        ),
        types::Error::Denied(m) => format!("denied: {}", v0::sanitize(m)),
        types::Error::NotFound(m) => format!("not found: {}", v0::sanitize(m)),
        types::Error::Unavailable(m) => v0::sanitize(m),
        types::Error::Internal(m) => format!("internal error: {}", v0::sanitize(m)),
    }
}

/// A connection source backed by a WASM plugin.
#[derive(Debug, Clone)]
pub struct WasmSource {
    plugin: Arc<LoadedPlugin>,
}

impl WasmSource {
    /// Wrap a loaded plugin of kind `connection-source`.
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<Self, WasmError> {
        match plugin.manifest.kind {
            PluginKind::ConnectionSource => Ok(Self { plugin }),
            kind => Err(WasmError::WrongKind {
                plugin: plugin.manifest.id.clone(),
                kind,
                wanted: PluginKind::ConnectionSource,
            }),
        }
    }

    /// The plugin underneath.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    fn id(&self) -> &str {
        &self.plugin.manifest.id
    }

    fn origin(&self) -> Origin {
        Origin {
            source: self.id().to_string(),
            badge: self.badge(),
        }
    }

    fn badge(&self) -> String {
        self.plugin
            .manifest
            .badge
            .clone()
            .unwrap_or_else(|| self.plugin.manifest.id.clone())
    }

    fn plugin_error(&self, e: WasmError) -> SourceError {
        SourceError::Plugin {
            plugin: self.id().to_string(),
            message: match e {
                WasmError::Call { call, message, .. } => format!("{call}: {message}"),
                other => other.to_string(),
            },
        }
    }

    fn answer_error(&self, e: &types::Error) -> SourceError {
        match e {
            types::Error::InvalidData(d) => SourceError::InvalidData {
                what: v0::sanitize(&d.what),
                message: v0::sanitize(&d.message),
            },
            types::Error::Unavailable(m) => SourceError::Unavailable(format!(
                "{} ({}): {}",
                self.badge(),
                self.id(),
                v0::sanitize(m)
            )),
            other => SourceError::Plugin {
                plugin: self.id().to_string(),
                message: describe(other),
            },
        }
    }

    /// Map a plugin descriptor into core's model, checking it as any saved connection is;
    /// the error says what is wrong with it, in words safe to show.
    fn to_connection(&self, c: types::Connection) -> Result<Connection, String> {
        let engine: Engine = c
            .engine
            .parse()
            .map_err(|e| v0::sanitize(&format!("{e}")))?;
        if c.id.is_empty() {
            return Err("empty id".into());
        }
        let tls = match c.tls {
            None | Some(types::TlsMode::Prefer) => TlsMode::Prefer,
            Some(types::TlsMode::Disable) => TlsMode::Disable,
            Some(types::TlsMode::Require) => TlsMode::Require,
            Some(types::TlsMode::VerifyCa) => TlsMode::VerifyCa,
            Some(types::TlsMode::VerifyFull) => TlsMode::VerifyFull,
        };
        let mut id = String::with_capacity(self.id().len() + 1 + c.id.len());
        id.push_str(self.id());
        id.push(':');
        id.push_str(&c.id);
        let connection = Connection {
            id: ConnectionId::from_string(id),
            spec: ConnectionSpec {
                name: c.name,
                engine,
                host: c.host,
                port: c.port,
                database: c.database,
                user: c.user,
                tls,
                read_only: c.read_only,
                environment: c.environment,
                color: c.color,
                options: c.options.into_iter().collect(),
            },
            origin: self.origin(),
        };
        connection
            .spec
            .validate()
            .map_err(|e| v0::sanitize(&e.to_string()))?;
        Ok(connection)
    }

    /// Core's connection back into the descriptor the plugin produced.
    fn to_descriptor(&self, c: &Connection) -> Result<types::Connection, SourceError> {
        let prefix = format!("{}:", self.id());
        let id =
            c.id.as_str()
                .strip_prefix(&prefix)
                .ok_or_else(|| SourceError::NotFound(c.id.clone()))?;
        Ok(types::Connection {
            id: id.to_string(),
            name: c.spec.name.clone(),
            engine: c.spec.engine.as_str().to_string(),
            host: c.spec.host.clone(),
            port: c.spec.port,
            database: c.spec.database.clone(),
            user: c.spec.user.clone(),
            tls: Some(match c.spec.tls {
                TlsMode::Disable => types::TlsMode::Disable,
                TlsMode::Prefer => types::TlsMode::Prefer,
                TlsMode::Require => types::TlsMode::Require,
                TlsMode::VerifyCa => types::TlsMode::VerifyCa,
                TlsMode::VerifyFull => types::TlsMode::VerifyFull,
            }),
            read_only: c.spec.read_only,
            environment: c.spec.environment.clone(),
            color: c.spec.color.clone(),
            options: c
                .spec
                .options
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

impl ConnectionSource for WasmSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            id: self.id().to_string(),
            badge: self.badge(),
        }
    }

    fn list(&self) -> Result<SourceListing, SourceError> {
        let answer = self.plugin.list_raw().map_err(|e| self.plugin_error(e))?;
        let list = answer.map_err(|e| self.answer_error(&e))?;
        let mut listing = SourceListing::default();
        for descriptor in list {
            let entry = v0::sanitize(&descriptor.id);
            match self.to_connection(descriptor) {
                Ok(c) => listing.connections.push(c),
                Err(invalid) => {
                    tracing::warn!(plugin = %self.id(), entry = %entry, "skipped: {invalid}");
                    listing.skipped.push(Skipped {
                        entry,
                        reason: invalid,
                    });
                }
            }
        }
        Ok(listing)
    }

    fn credentials(&self, connection: &Connection) -> Result<Credentials, SourceError> {
        let descriptor = self.to_descriptor(connection)?;
        let plugin = &self.plugin;
        let answer = plugin
            .call("fetch-credentials", |exports, store| {
                LoadedPlugin::source_exports(exports)?
                    .keeperdb_plugin_source()
                    .call_fetch_credentials(store, &descriptor)
            })
            .map_err(|e| self.plugin_error(e))?;
        let creds = answer.map_err(|e| self.answer_error(&e))?;
        let size = creds.user.as_ref().map_or(0, String::len)
            + match &creds.password {
                Some(types::Secret::Value(v)) => v.len(),
                Some(types::Secret::VaultField(r)) => r.record_uid.len() + r.field.len(),
                None => 0,
            };
        if size > plugin.runtime.limits().max_return_bytes {
            return Err(self.plugin_error(plugin.too_big("fetch-credentials", size)));
        }
        let password = match creds.password {
            None => None,
            Some(types::Secret::Value(v)) => Some(SecretString::from(v)),
            Some(types::Secret::VaultField(r)) => Some(self.resolve_vault_field(&r)?),
        };
        Ok(Credentials::new(creds.user, password))
    }
}

impl WasmSource {
    /// A `vault-field-ref`, resolved host-side. Only for plugins granted `keeper-vault`:
    /// otherwise a plugin could aim a vault secret at a server of its choosing.
    fn resolve_vault_field(&self, r: &types::VaultFieldRef) -> Result<SecretString, SourceError> {
        if !self.plugin.grants.keeper_vault {
            return Err(SourceError::Plugin {
                plugin: self.id().to_string(),
                message: "answered with a vault field reference but was not granted keeper-vault"
                    .into(),
            });
        }
        let vault = self.plugin.options.vault.as_ref().ok_or_else(|| {
            SourceError::Unavailable(
                "no Keeper vault is attached: attach one with a KSM one-time access token".into(),
            )
        })?;
        vault
            .resolve_field(&r.record_uid, &r.field)
            .map_err(|e| self.answer_error(&e))
    }
}

/// A storage backend backed by a WASM plugin.
#[derive(Debug, Clone)]
pub struct WasmStorage {
    plugin: Arc<LoadedPlugin>,
}

impl WasmStorage {
    /// Wrap a loaded plugin of kind `storage-backend`.
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<Self, WasmError> {
        match plugin.manifest.kind {
            PluginKind::StorageBackend => Ok(Self { plugin }),
            kind => Err(WasmError::WrongKind {
                plugin: plugin.manifest.id.clone(),
                kind,
                wanted: PluginKind::StorageBackend,
            }),
        }
    }

    fn fail(&self, e: WasmError) -> StorageError {
        StorageError::Plugin {
            plugin: self.plugin.manifest.id.clone(),
            message: match e {
                WasmError::Call { call, message, .. } => format!("{call}: {message}"),
                other => other.to_string(),
            },
        }
    }

    fn answer_error(&self, e: &types::Error) -> StorageError {
        match e {
            types::Error::InvalidData(d) => StorageError::InvalidItem {
                remote_ref: v0::sanitize(&d.what),
                message: v0::sanitize(&d.message),
            },
            types::Error::Unavailable(m) => StorageError::Unavailable(v0::sanitize(m)),
            other => StorageError::Plugin {
                plugin: self.plugin.manifest.id.clone(),
                message: describe(other),
            },
        }
    }
}

type WitStorage = storage_world::exports::keeperdb::plugin::storage::Guest;
use storage_world::exports::keeperdb::plugin::storage as wit_storage;

fn kind_to_wit(kind: ItemKind) -> wit_storage::ItemKind {
    match kind {
        ItemKind::Connection => wit_storage::ItemKind::Connection,
        ItemKind::Preferences => wit_storage::ItemKind::Preferences,
    }
}

fn kind_from_wit(kind: wit_storage::ItemKind) -> ItemKind {
    match kind {
        wit_storage::ItemKind::Connection => ItemKind::Connection,
        wit_storage::ItemKind::Preferences => ItemKind::Preferences,
    }
}

fn storage_guest(exports: &Exports) -> wasmtime::Result<&WitStorage> {
    Ok(LoadedPlugin::storage_exports(exports)?.keeperdb_plugin_storage())
}

impl StorageBackend for WasmStorage {
    fn id(&self) -> &str {
        &self.plugin.manifest.id
    }

    fn list(&self) -> Result<Vec<StoredItem>, StorageError> {
        let answer = self
            .plugin
            .call("list-items", |exports, store| {
                storage_guest(exports)?.call_list_items(store)
            })
            .map_err(|e| self.fail(e))?;
        let items = answer.map_err(|e| self.answer_error(&e))?;
        let size: usize = items
            .iter()
            .map(|i| 32 + i.local_id.len() + i.remote_ref.len() + i.payload.len())
            .sum();
        if size > self.plugin.runtime.limits().max_return_bytes {
            return Err(self.fail(self.plugin.too_big("list-items", size)));
        }
        Ok(items
            .into_iter()
            .map(|i| StoredItem {
                local_id: i.local_id,
                remote_ref: i.remote_ref,
                kind: kind_from_wit(i.kind),
                payload: i.payload,
            })
            .collect())
    }

    fn put(&self, item: &NewItem) -> Result<String, StorageError> {
        let wit_item = wit_storage::NewItem {
            local_id: item.local_id.clone(),
            kind: kind_to_wit(item.kind),
            payload: item.payload.clone(),
        };
        let answer = self
            .plugin
            .call("put", |exports, store| {
                storage_guest(exports)?.call_put(store, &wit_item)
            })
            .map_err(|e| self.fail(e))?;
        answer.map_err(|e| self.answer_error(&e))
    }

    fn remove(&self, remote_ref: &str) -> Result<(), StorageError> {
        let answer = self
            .plugin
            .call("remove", |exports, store| {
                storage_guest(exports)?.call_remove(store, remote_ref)
            })
            .map_err(|e| self.fail(e))?;
        answer.map_err(|e| self.answer_error(&e))
    }
}
