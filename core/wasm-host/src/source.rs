//! [`WasmSource`]: a loaded `connection-source` plugin as a [`ConnectionSource`], its
//! descriptors checked like any saved connection and its vault references resolved host-side.

use std::sync::Arc;

use keeperdb_model::connection::{
    Connection, ConnectionId, ConnectionSpec, Engine, Origin, TlsMode,
};
use keeperdb_model::credentials::Credentials;
use keeperdb_model::manifest::PluginKind;
use keeperdb_model::source::{ConnectionSource, Skipped, SourceError, SourceInfo, SourceListing};
use secrecy::SecretString;

use crate::WasmError;
use crate::loader::LoadedPlugin;
use crate::sanitize::sanitize;
use crate::types::{Descriptor, PluginError, PluginListing, PluginSecret};

/// A connection source backed by a WASM plugin.
#[derive(Debug, Clone)]
pub struct WasmSource {
    plugin: Arc<LoadedPlugin>,
    origin: Origin,
}

impl WasmSource {
    /// Wrap a loaded plugin of kind `connection-source`; its source id is the plugin id and its
    /// badge the manifest's.
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<Self, WasmError> {
        let origin = Origin {
            source: plugin.manifest.id.clone(),
            badge: plugin
                .manifest
                .badge
                .clone()
                .unwrap_or_else(|| plugin.manifest.id.clone()),
            vault: None,
        };
        Self::with_origin(plugin, origin)
    }

    /// Wrap a loaded plugin under an identity the host gives it: one instance per vault
    /// attachment gets a source id and vault name of its own (and, for the first-party vault
    /// source, the `Vault` badge no plugin may claim for itself).
    pub fn with_origin(plugin: Arc<LoadedPlugin>, origin: Origin) -> Result<Self, WasmError> {
        match plugin.manifest.kind {
            PluginKind::ConnectionSource => Ok(Self { plugin, origin }),
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

    /// The source id its connections carry.
    fn id(&self) -> &str {
        &self.origin.source
    }

    fn plugin_id(&self) -> &str {
        &self.plugin.manifest.id
    }

    fn origin(&self) -> Origin {
        self.origin.clone()
    }

    fn badge(&self) -> String {
        self.origin.badge.clone()
    }

    fn plugin_error(&self, e: WasmError) -> SourceError {
        SourceError::Plugin {
            plugin: self.plugin_id().to_string(),
            message: match e {
                WasmError::Call { call, message, .. } => format!("{call}: {message}"),
                other => other.to_string(),
            },
        }
    }

    fn answer_error(&self, e: &PluginError) -> SourceError {
        match e {
            PluginError::InvalidData(d) => SourceError::InvalidData {
                what: sanitize(&d.what),
                message: sanitize(&d.message),
            },
            PluginError::Unavailable(m) => SourceError::Unavailable(format!(
                "{} ({}): {}",
                self.badge(),
                self.id(),
                sanitize(m)
            )),
            other => SourceError::Plugin {
                plugin: self.plugin_id().to_string(),
                message: other.describe(),
            },
        }
    }

    /// `list-connections`, with the answer's size checked.
    fn list_raw(&self) -> Result<Result<PluginListing, PluginError>, WasmError> {
        let plugin = &self.plugin;
        let answer = plugin.call("list-connections", |exports, store| {
            exports.list_connections(store)
        })?;
        if let Ok(list) = &answer {
            let size: usize = list.connections.iter().map(Descriptor::size).sum::<usize>()
                + list
                    .skipped
                    .iter()
                    .map(|(e, r)| e.len() + r.len())
                    .sum::<usize>();
            if size > plugin.runtime.limits().max_return_bytes {
                return Err(plugin.too_big("list-connections", size));
            }
        }
        Ok(answer)
    }

    /// Map a plugin descriptor into core's model, checking it as any saved connection is;
    /// the error says what is wrong with it, in words safe to show.
    fn to_connection(&self, c: Descriptor) -> Result<Connection, String> {
        let engine: Engine = c.engine.parse().map_err(|e| sanitize(&format!("{e}")))?;
        if c.id.is_empty() {
            return Err("empty id".into());
        }
        let tls = c.tls.unwrap_or(TlsMode::Prefer);
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
            .map_err(|e| sanitize(&e.to_string()))?;
        Ok(connection)
    }

    /// Core's connection back into the descriptor the plugin produced.
    fn to_descriptor(&self, c: &Connection) -> Result<Descriptor, SourceError> {
        let prefix = format!("{}:", self.id());
        let id =
            c.id.as_str()
                .strip_prefix(&prefix)
                .ok_or_else(|| SourceError::NotFound(c.id.clone()))?;
        Ok(Descriptor {
            id: id.to_string(),
            name: c.spec.name.clone(),
            engine: c.spec.engine.as_str().to_string(),
            host: c.spec.host.clone(),
            port: c.spec.port,
            database: c.spec.database.clone(),
            user: c.spec.user.clone(),
            tls: Some(c.spec.tls),
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

    /// A `vault-field-ref`, resolved host-side. Only for plugins granted `keeper-vault`:
    /// otherwise a plugin could aim a vault secret at a server of its choosing.
    fn resolve_vault_field(
        &self,
        record_uid: &str,
        field: &str,
    ) -> Result<SecretString, SourceError> {
        if !self.plugin.grants.keeper_vault {
            return Err(SourceError::Plugin {
                plugin: self.plugin_id().to_string(),
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
            .resolve_field(record_uid, field)
            .map_err(|e| self.answer_error(&e))
    }
}

impl ConnectionSource for WasmSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            id: self.id().to_string(),
            badge: self.badge(),
            vault: self.origin.vault.clone(),
        }
    }

    fn list(&self) -> Result<SourceListing, SourceError> {
        let answer = self.list_raw().map_err(|e| self.plugin_error(e))?;
        let list = answer.map_err(|e| self.answer_error(&e))?;
        let mut listing = SourceListing::default();
        for (entry, reason) in list.skipped {
            let (entry, reason) = (sanitize(&entry), sanitize(&reason));
            tracing::warn!(plugin = %self.plugin_id(), entry = %entry, "skipped: {reason}");
            listing.skipped.push(Skipped { entry, reason });
        }
        for descriptor in list.connections {
            let entry = sanitize(&descriptor.id);
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
                exports.fetch_credentials(store, &descriptor)
            })
            .map_err(|e| self.plugin_error(e))?;
        let creds = answer.map_err(|e| self.answer_error(&e))?;
        let size = creds.user.as_ref().map_or(0, String::len)
            + match &creds.password {
                Some(PluginSecret::Value(v)) => v.len(),
                Some(PluginSecret::VaultField { record_uid, field }) => {
                    record_uid.len() + field.len()
                }
                None => 0,
            };
        if size > plugin.runtime.limits().max_return_bytes {
            return Err(self.plugin_error(plugin.too_big("fetch-credentials", size)));
        }
        let password = match creds.password {
            None => None,
            Some(PluginSecret::Value(v)) => Some(SecretString::from(v)),
            Some(PluginSecret::VaultField { record_uid, field }) => {
                Some(self.resolve_vault_field(&record_uid, &field)?)
            }
        };
        Ok(Credentials::new(creds.user, password))
    }
}
