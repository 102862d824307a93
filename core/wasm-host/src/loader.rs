//! Loading one plugin directory: manifest, API range and payload checks, compiling or mapping
//! from the cache, checking the component's API version and imports against the grants, and
//! linking exactly what was granted.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use keeperdb_model::capability;
use keeperdb_model::manifest::{Manifest, PluginKind};
use wasmtime::component::{Component, InstancePre, types::ComponentItem};

use crate::cap::Grants;
use crate::cap::fs_read::{PathContext, resolve_paths};
use crate::cap::keeper_vault::VaultCapability;
use crate::cap::progress::ProgressSink;
use crate::host::HostState;
use crate::instance::Live;
use crate::{WasmError, WasmRuntime, cap};

use crate::imports::{PACKAGE, api_served, parse_name};

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
    /// The digest of this plugin's compiled cache entry, as recorded when it was written
    /// (none: the cache entry is not trusted and the payload is compiled).
    pub compiled: Option<String>,
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
            compiled: None,
        }
    }
}

/// A verified, compiled, linked plugin. Calls are serialised; each runs under the runtime's
/// deadline, and a failed call drops the instance so the next one starts fresh.
pub struct LoadedPlugin {
    pub(crate) manifest: Manifest,
    pub(crate) runtime: WasmRuntime,
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) grants: Arc<Grants>,
    pub(crate) options: LoadOptions,
    /// Idle instances; empty until the first call. A failed call's instance is dropped.
    pub(crate) live: Mutex<Vec<Live>>,
    pub(crate) api: semver::Version,
    /// Its native code came from the compiled cache rather than a compile.
    from_cache: bool,
    /// The digest of the cache entry this load used or wrote, to be recorded for the next.
    pub(crate) compiled: Option<String>,
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
    /// The sha256 of the compiled cache entry this load used or wrote: record it, and pass it
    /// as [`LoadOptions::compiled`] next time, so the next start may map it instead of
    /// compiling. `None` when nothing was cached.
    pub fn compiled_digest(&self) -> Option<&str> {
        self.compiled.as_deref()
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
        manifest.check_api()?;
        let bytes = manifest.read_verified_payload(dir)?;
        // Before the cache or a compile: a refused import fails in milliseconds.
        crate::imports::check_imports(&manifest, &bytes)?;
        let grants = Arc::new(resolve_grants(&manifest, &options)?);

        let engine = runtime.engine();
        let sha = manifest.sha256.to_ascii_lowercase();
        let cached = runtime
            .cache()
            .and_then(|c| c.load(engine, &sha, options.compiled.as_deref()));
        let from_cache = cached.is_some();
        let (component, compiled) = match cached {
            Some((component, digest)) => (component, Some(digest)),
            None => {
                let component =
                    Component::from_binary(engine, &bytes).map_err(|e| WasmError::Compile {
                        plugin: manifest.id.clone(),
                        message: format!("{e:#}"),
                    })?;
                let digest = runtime.cache().and_then(|c| c.store(&sha, &component));
                (component, digest)
            }
        };

        let api = check_component(&component, engine, &manifest, &grants)?;
        if manifest.kind == PluginKind::StorageBackend && api < crate::v0::STORAGE_MIN_API {
            // Before 0.3.0 a storage item could not carry its secret by reference.
            return Err(WasmError::IncompatibleApi {
                plugin: manifest.id.clone(),
                name: "storage".into(),
                found: api.to_string(),
                served: format!(
                    "{} and newer for storage backends",
                    crate::v0::STORAGE_MIN_API
                ),
            });
        }
        let linker = cap::linker(engine, &grants).map_err(|e| WasmError::Compile {
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
            live: Mutex::new(Vec::new()),
            api,
            from_cache,
            compiled,
        })
    }

    /// Whether this load took the plugin's native code from the compiled cache (a warm start)
    /// instead of compiling it.
    pub fn from_cache(&self) -> bool {
        self.from_cache
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
    let check_version = |name: &str, version: Option<&str>| -> Result<semver::Version, WasmError> {
        let found = version
            .and_then(|v| semver::Version::parse(v).ok())
            .ok_or_else(|| WasmError::UnknownImport {
                plugin: plugin(),
                import: name.to_string(),
            })?;
        // Built against `found`: the host must serve something semver-compatible and at
        // least as new (a plugin may use functions added in its minor).
        if api_served(&found) {
            Ok(found)
        } else {
            Err(WasmError::IncompatibleApi {
                plugin: plugin(),
                name: name.to_string(),
                found: found.to_string(),
                served: keeperdb_model::served_api_list(),
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
