//! [`App`]: what every shell holds. It opens the config dir, assembles the registry from the
//! local store and the enabled plugins, finds drivers, resolves what the user named into a
//! connection with its credentials, opens query sessions, and checks plugin packages before a
//! shell asks for consent.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keeperdb_model::driver::{ConnectRequest, Driver, DriverErrorKind};
use keeperdb_model::engine::EngineSpec;
use keeperdb_model::manifest::PluginKind;
use keeperdb_model::url::{ParsedUrl, parse_connection_url_with};
use keeperdb_model::{Connection, Credentials, Engine, LOCAL_SOURCE_ID};
use keeperdb_wasm_host::{LoadOptions, LoadedPlugin, ProgressSink, WasmRuntime};

use crate::bundle::Bundle;
use crate::drivers::DriverSet;
use crate::error::{Error, Result};
use crate::plugins::{PluginStore, Staged};
use crate::registry::Registry;
use crate::secret_store::SecretStore;
use crate::session::Session;
use crate::store::{ConfigDir, LocalSource, LocalStore, StoreError};

/// The application core over one config dir.
pub struct App {
    store: LocalStore,
    plugins: PluginStore,
    drivers: DriverSet,
    pub(crate) progress: Option<ProgressSink>,
}

/// What a user named, resolved: the connection and its credentials, fetched just now.
pub struct Resolved {
    /// The connection.
    pub connection: Connection,
    /// Its credentials (`needs_prompt` when the shell must ask for the password).
    pub credentials: Credentials,
    /// It was a URL that carried a password, which is visible to other local users.
    pub password_in_url: bool,
    /// Things to tell the user about how it was resolved (a password file not read because
    /// others may read it); never a secret.
    pub notes: Vec<String>,
}

impl App {
    /// Open the config dir (an explicit one, else the environment's or the platform's); nothing
    /// is created until something is written.
    pub fn open(config_dir: Option<PathBuf>) -> Result<Self> {
        let dir = ConfigDir::resolve(config_dir)?;
        tracing::debug!(config_dir = %dir.path().display(), "using config dir");
        let plugins = PluginStore::for_config(&dir);
        Ok(Self {
            store: LocalStore::new(dir, SecretStore::default()),
            drivers: DriverSet::new(plugins.clone()),
            plugins,
            progress: None,
        })
    }

    /// Send plugins' progress reports here (a progress bar, a browser stream).
    pub fn with_progress(mut self, progress: ProgressSink) -> Self {
        self.progress = Some(progress);
        self
    }

    /// keeperdb's own saved connections and preferences.
    pub fn store(&self) -> &LocalStore {
        &self.store
    }

    /// The installed plugins.
    pub fn plugins(&self) -> &PluginStore {
        &self.plugins
    }

    /// The plugins shipped with this keeperdb.
    pub fn bundle(&self) -> Bundle {
        Bundle::of_this_process()
    }

    fn load_options(&self) -> LoadOptions {
        let mut options = LoadOptions::granted(Vec::<String>::new());
        options.progress = self.progress.clone();
        options
    }

    fn runtime(&self) -> Result<WasmRuntime> {
        Ok(WasmRuntime::new(Some(self.plugins.cache_dir()))
            .map_err(crate::plugins::PluginError::from)?)
    }

    /// Every connection source the user has: the local store first, then the enabled plugins,
    /// a vault source once per attached vault. A plugin that fails to load is listed as a
    /// failing source with the reason, so it does not hide the others.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        registry.add_source(Arc::new(LocalSource::new(self.store.clone())));
        self.add_plugin_sources(&mut registry, None);
        registry
    }

    /// Only the vault sources (`only`: of that one vault).
    pub(crate) fn registry_with_vaults(&self, only: Option<&str>) -> Registry {
        let mut registry = Registry::new();
        self.add_plugin_sources(&mut registry, only);
        registry.retain(|id| id.contains('@'));
        registry
    }

    fn add_plugin_sources(&self, registry: &mut Registry, only_vault: Option<&str>) {
        let wanted = match self.plugins.list() {
            Ok(entries) => entries
                .iter()
                .any(|e| e.installed.enabled && e.installed.kind == PluginKind::ConnectionSource),
            Err(e) => {
                registry.add_source(crate::plugins::failed_source("plugins", e.to_string()));
                false
            }
        };
        if !wanted {
            return;
        }
        let (bindings, unopened) = self.vault_bindings(only_vault);
        let loaded = self.runtime().and_then(|rt| {
            Ok(self
                .plugins
                .load_enabled(&rt, &self.load_options(), &bindings)?)
        });
        match loaded {
            Ok(loaded) => {
                for source in loaded.sources {
                    registry.add_source(source);
                }
            }
            Err(e) => registry.add_source(crate::plugins::failed_source("plugins", e.to_string())),
        }
        for source in unopened {
            registry.add_source(source);
        }
    }

    /// The storage backend plugin `id`, loaded with the attached vault `vault` behind its
    /// `keeper-vault`, ready for `concurrency` calls at once.
    pub(crate) fn load_storage_backend(
        &self,
        id: &str,
        vault: &str,
        concurrency: usize,
    ) -> Result<Arc<dyn keeperdb_model::storage::StorageBackend>> {
        let (bindings, unopened) = self.vault_bindings(Some(vault));
        let Some(binding) = bindings.into_iter().next() else {
            let why = unopened
                .first()
                .and_then(|s| s.list().err())
                .map(|e| e.to_string())
                .unwrap_or_else(|| format!("no vault named `{vault}` is attached"));
            return Err(crate::sync::SyncError::Backend {
                backend: id.to_string(),
                error: keeperdb_model::storage::StorageError::Unavailable(why),
            }
            .into());
        };
        binding
            .vault
            .client()
            .widen(concurrency)
            .map_err(|error| Error::Vault {
                name: vault.to_string(),
                error,
            })?;
        let entry = self.plugins.info(id)?;
        let rt = self.runtime()?;
        Ok(self
            .plugins
            .load_storage(&rt, &self.load_options(), &entry, binding.vault)?)
    }

    /// The engines the available drivers serve, with their URL schemes and default ports.
    pub fn engines(&self) -> Vec<EngineSpec> {
        self.drivers.engines()
    }

    /// Parse a connection URL or database file path, with the URL schemes the available
    /// drivers declare beside the built-in ones.
    pub fn parse_url(&self, input: &str) -> Result<ParsedUrl> {
        Ok(parse_connection_url_with(input, &self.engines())?)
    }

    /// The query history of every connection (for shells with a history panel).
    pub fn history(&self) -> crate::history::History {
        crate::history::History::new(self.store.dir().data_path())
    }

    /// The driver serving `engine`.
    pub fn driver_for(&self, engine: &Engine) -> Result<Arc<dyn Driver>> {
        self.drivers.driver_for(engine)
    }

    /// What a user can type to name each listed connection, for completion: its name, or
    /// `SOURCE/NAME` (`VAULT/NAME` for a vault's) where several share the name. Sources that
    /// fail to list are left out.
    pub fn connection_names(&self) -> Vec<String> {
        let listing = self.registry().list();
        let mut count = std::collections::BTreeMap::<&str, usize>::new();
        for c in &listing.connections {
            *count.entry(c.spec.name.as_str()).or_default() += 1;
        }
        let mut names: Vec<String> = listing
            .connections
            .iter()
            .map(|c| {
                if count.get(c.spec.name.as_str()).copied().unwrap_or(0) > 1 {
                    let source = c.origin.vault.as_deref().unwrap_or(&c.origin.source);
                    format!("{source}/{}", c.spec.name)
                } else {
                    c.spec.name.clone()
                }
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Resolve what the user named: a connection URL or database file, else a connection from
    /// the registry by id, `SOURCE/NAME` or name, with its credentials fetched now from its
    /// source.
    pub fn resolve(&self, named: &str) -> Result<Resolved> {
        if looks_like_url(named) {
            let parsed = self.parse_url(named)?;
            let password_in_url = parsed.password.is_some();
            return Ok(Resolved {
                connection: parsed.connection,
                credentials: Credentials::new(None, parsed.password),
                password_in_url,
                notes: Vec::new(),
            });
        }
        let registry = self.registry();
        let connection = registry.find(named)?;
        let credentials =
            registry
                .credentials(&connection)
                .map_err(|error| Error::Credentials {
                    name: connection.spec.name.clone(),
                    local: connection.origin.source == LOCAL_SOURCE_ID,
                    error,
                })?;
        Ok(Resolved {
            connection,
            credentials,
            password_in_url: false,
            notes: Vec::new(),
        })
    }

    /// [`resolve`](Self::resolve) for one run of a shell, as libpq tools do it: the per-run
    /// database and user, a password prompt when asked for; for PostgreSQL the `PG*`
    /// environment for what a URL leaves out, then `PGPASSWORD` or the password file when
    /// there is no password; for a MySQL or MariaDB URL, `~/.my.cnf`. A SQLite file that does not exist is created only when asked for.
    pub fn resolve_for_run(
        &self,
        named: &str,
        overrides: &crate::adhoc::RunOverrides,
        env: &crate::adhoc::LibpqEnv,
    ) -> Result<Resolved> {
        let mut resolved = self.resolve(named)?;
        let engine = resolved.connection.spec.engine.clone();
        if engine == Engine::POSTGRES && looks_like_url(named) {
            let lower = named.to_ascii_lowercase();
            let tls_given = lower.contains("sslmode=") || lower.contains("tls=");
            let notes = crate::adhoc::apply_pg_env(&mut resolved.connection, tls_given, env);
            resolved.notes.extend(notes);
        }
        crate::adhoc::apply_overrides(
            &mut resolved.connection,
            &mut resolved.credentials,
            overrides,
        );
        let is_mysql = engine == Engine::MYSQL || engine == Engine::MARIADB;
        if is_mysql && looks_like_url(named) {
            let (password, notes) = crate::adhoc::my_cnf(&mut resolved.connection, env);
            resolved.notes.extend(notes);
            let creds = &mut resolved.credentials;
            if creds.password.is_none() && !creds.needs_prompt {
                creds.password = password;
            }
        }
        let creds = &resolved.credentials;
        if engine == Engine::POSTGRES && creds.password.is_none() && !creds.needs_prompt {
            let (password, notes) = crate::adhoc::pg_password(&resolved.connection, env);
            resolved.credentials.password = password;
            resolved.notes.extend(notes);
        }
        if engine == Engine::SQLITE
            && !overrides.create
            && let Some(path) = resolved.connection.spec.database.as_deref()
            && path != ":memory:"
            && !Path::new(path).exists()
        {
            return Err(Error::NoDatabaseFile {
                path: path.to_string(),
            });
        }
        Ok(resolved)
    }

    /// Connect with credentials resolved just now; they are dropped once the driver has them.
    pub fn connect(
        &self,
        connection: Connection,
        credentials: Credentials,
        connect_timeout: Duration,
    ) -> Result<Session> {
        let driver = self.driver_for(&connection.spec.engine)?;
        let _span = tracing::info_span!(
            "connect",
            connection = %connection.spec.name,
            engine = %connection.spec.engine,
            driver = %driver.id()
        )
        .entered();
        let request = ConnectRequest {
            connection: &connection,
            credentials: &credentials,
            connect_timeout,
        };
        let conn = match driver.connect(&request) {
            // A vault password may have been rotated between listing and connecting: fetch it
            // once more and try once more, never again.
            Err(e) if e.kind == DriverErrorKind::Auth && connection.origin.vault.is_some() => {
                drop(credentials);
                tracing::info!("the database refused the vault's credentials; fetching them again");
                let fresh = self.registry().credentials(&connection).map_err(|error| {
                    Error::Credentials {
                        name: connection.spec.name.clone(),
                        local: false,
                        error,
                    }
                })?;
                let retry = ConnectRequest {
                    connection: &connection,
                    credentials: &fresh,
                    connect_timeout,
                };
                driver.connect(&retry)?
            }
            other => {
                drop(credentials);
                other?
            }
        };
        let mut session = Session::new(connection, conn);
        // A preferences file that cannot be read leaves the defaults (no time limit, writes
        // to production confirmed); the shell that shows preferences reports the file.
        let prefs = self.store.preferences().unwrap_or_default();
        session.set_query_timeout(Some(Duration::from_secs(u64::from(
            prefs.query_timeout_secs,
        ))));
        let production = session
            .connection()
            .spec
            .environment
            .as_deref()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("production"));
        session.set_confirm_writes(prefs.confirm_production_writes && production);
        Ok(session)
    }

    /// Only keeperdb's own saved connections can be changed; one from another source belongs
    /// to that source.
    pub fn ensure_local(&self, key: &str) -> Result<()> {
        match self.store.get(key) {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound(_)) => match self.registry().find(key) {
                Ok(c) if c.origin.source != LOCAL_SOURCE_ID => Err(Error::NotLocal {
                    name: c.spec.name,
                    badge: c.origin.badge,
                    source_id: c.origin.source,
                }),
                Ok(_) | Err(_) => Err(StoreError::NotFound(key.to_string()).into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Install a staged plugin the user consented to. A driver takes no engine from the
    /// driver serving it now: [`Installed::engines`](crate::drivers::Installed) says which
    /// driver serves each of its engines.
    pub fn install_plugin(
        &self,
        staged: Staged,
        consent: crate::plugins::Consent,
    ) -> Result<crate::drivers::Installed> {
        self.drivers.install(staged, consent)
    }

    /// Remove an installed plugin; the engines it served fall back to the other drivers.
    pub fn remove_plugin(&self, id: &str) -> Result<crate::drivers::Removed> {
        self.drivers.remove(id)
    }

    /// Enable or disable an installed plugin; returns whether anything changed.
    pub fn set_plugin_enabled(&self, id: &str, enabled: bool) -> Result<bool> {
        self.drivers.set_enabled(id, enabled)
    }

    /// Make the driver `driver` serve `engine` from now on (kept in the plugin state).
    pub fn choose_driver(&self, driver: &str, engine: &str) -> Result<crate::drivers::Chosen> {
        self.drivers.choose(driver, engine)
    }

    /// Every driver plugin with the engines it serves and which driver serves each.
    pub fn driver_engines(&self) -> Vec<crate::drivers::DriverEngines> {
        self.drivers.report()
    }

    /// Unpack and verify a plugin package, and for a WASM plugin check the component itself
    /// (its API version, that it imports only what its manifest asks for), before any consent
    /// is asked. `path` may also name a bundled plugin by its id.
    pub fn stage_plugin(&self, path: &Path) -> Result<Staged> {
        let path = self.bundled_or_path(path)?;
        let mut staged = self.plugins.stage(&path)?;
        if staged.manifest.kind != PluginKind::Driver {
            // Compiled here, once: install records the cache entry, so the first listing maps
            // the native code instead of compiling a large component a second time.
            let asked: Vec<String> = staged.manifest.capabilities.keys().cloned().collect();
            let loaded =
                LoadedPlugin::load(&self.runtime()?, staged.dir(), LoadOptions::granted(asked))
                    .map_err(crate::plugins::PluginError::from)?;
            staged.compiled = loaded.compiled_digest().map(str::to_string);
        }
        Ok(staged)
    }

    /// `path` itself when it exists; else, when it is a bare id, that plugin in the bundle.
    fn bundled_or_path(&self, path: &Path) -> Result<PathBuf> {
        let id = path.to_str().filter(|s| !s.contains(['/', '.']));
        let Some(id) = id.filter(|_| !path.exists()) else {
            return Ok(path.to_path_buf());
        };
        let bundle = self.bundle();
        match bundle.find(id) {
            Some((_, dir)) => Ok(dir.clone()),
            None => Err(crate::plugins::PluginError::NotBundled {
                id: id.to_string(),
                bundled: bundle.plugins.iter().map(|(m, _)| m.id.clone()).collect(),
            }
            .into()),
        }
    }
}

/// Whether what a user typed is a URL or a database file rather than a connection's name.
pub fn looks_like_url(arg: &str) -> bool {
    let lower = arg.to_ascii_lowercase();
    lower.contains("://")
        || lower.starts_with("sqlite:")
        || [".db", ".sqlite", ".sqlite3", ".db3"]
            .iter()
            .any(|ext| lower.ends_with(ext))
        || arg.starts_with('/')
        || arg.starts_with("./")
}
