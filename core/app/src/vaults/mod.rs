//! Keeper vaults attached to keeperdb: attaching one with a one-time access token, listing and
//! refreshing them, disconnecting, and binding each to an instance of the vault source plugin
//! (see `plugins::load`). The attachments and their offline listings are here; the KSM client
//! is `keeperdb-keeper`'s, and the mapping of records to connections is the plugin's.

mod cache;
mod source;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use keeperdb_keeper::{KsmClient, KsmVault, OneTimeToken, ProxyUrl, VaultError, VaultSettings};
use keeperdb_model::capability;
use keeperdb_model::manifest::PluginKind;
use keeperdb_model::source::ConnectionSource;
use secrecy::{ExposeSecret, SecretString};

pub use cache::CachedListing;
pub(crate) use cache::ListingCache;
use source::UnopenedVault;
pub(crate) use source::VaultSource;

use crate::app::App;
use crate::error::{Error, Result};
use crate::store::{Attachment, StoreError, check_vault_name};

/// The id of keeperdb's first-party vault source plugin, the one whose connections get the
/// `Vault` badge.
pub const VAULT_SOURCE_PLUGIN: &str = "keeper-vault";

/// An attachment opened for this run: its capability for the plugin, and its offline cache.
pub struct VaultBinding {
    pub(crate) name: String,
    pub(crate) vault: KsmVault,
    pub(crate) cache: ListingCache,
}

impl VaultBinding {
    /// The source id of `plugin`'s instance for this vault.
    pub(crate) fn source_id(&self, plugin: &str) -> String {
        format!("{plugin}@{}", self.name)
    }
}

/// What to attach.
pub struct AttachRequest {
    /// The name to address it by.
    pub name: String,
    /// The one-time access token, as pasted (`EU:...`, `host:...`, or bare).
    pub token: SecretString,
    /// An HTTPS proxy URL (a password in it goes to the credential store).
    pub proxy: Option<String>,
    /// Extra CA certificates to trust (PEM).
    pub ca_bundle: Option<PathBuf>,
    /// The server's public key and its id, for deployments with keys of their own.
    pub server_key: Option<(String, u32)>,
}

/// The state of one attachment, from what was saved at its last refresh.
#[derive(Debug, Clone)]
pub struct VaultStatus {
    /// Its name.
    pub name: String,
    /// The KSM host.
    pub host: String,
    /// The region, when the host is one of Keeper's.
    pub region: Option<&'static str>,
    /// The proxy, shown without credentials.
    pub proxy: Option<String>,
    /// When it was attached.
    pub attached_at: SystemTime,
    /// What the last refresh saved, if any.
    pub cached: Option<CachedListing>,
    /// The listing is missing its credentials in the OS credential store.
    pub config_missing: bool,
}

impl VaultStatus {
    /// `ok`, `unreachable`, `missing config` or `never refreshed`, for a status column.
    pub fn state(&self) -> &'static str {
        if self.config_missing {
            return "missing config";
        }
        match &self.cached {
            None => "never refreshed",
            Some(c) if c.last_failure.is_some() => "failing",
            Some(c) if c.refreshed_at.is_none() => "never refreshed",
            Some(_) => "ok",
        }
    }
}

/// What refreshing one vault gave.
#[derive(Debug)]
pub struct RefreshReport {
    /// The vault.
    pub name: String,
    /// Records seen, connections listed and entries skipped; or why it failed.
    pub outcome: std::result::Result<(usize, usize, usize), String>,
}

fn vault_error(name: &str, error: VaultError) -> Error {
    Error::Vault {
        name: name.to_string(),
        error,
    }
}

impl App {
    /// Check, before a one-time token is spent, that `name` can be attached: a valid name,
    /// not taken, and a vault source plugin installed and granted to list it.
    pub fn check_vault_attachable(&self, name: &str) -> Result<()> {
        if let Some(why) = check_vault_name(name) {
            return Err(Error::BadVaultName {
                name: name.escape_default().to_string(),
                why,
            });
        }
        if self.store().vault_attachment(name)?.is_some() {
            return Err(StoreError::DuplicateVault(name.to_string()).into());
        }
        // A vault is of use to a source that lists it or to a storage backend that syncs to it.
        let has_user = self.plugins().list()?.iter().any(|e| {
            e.installed.enabled
                && e.installed.kind != PluginKind::Driver
                && e.installed.granted.contains_key(capability::KEEPER_VAULT)
        });
        if !has_user {
            return Err(Error::NoVaultSource);
        }
        Ok(())
    }

    /// Attach a vault: check everything that can be checked, spend the token binding a new
    /// KSM client, keep its config in the OS credential store, and list the vault once.
    pub fn attach_vault(&self, request: AttachRequest) -> Result<(VaultStatus, RefreshReport)> {
        let name = request.name.as_str();
        self.check_vault_attachable(name)?;
        let _span = tracing::info_span!("vault.attach", vault = %name).entered();
        let token =
            OneTimeToken::parse(request.token.expose_secret()).map_err(|e| vault_error(name, e))?;
        let proxy = request
            .proxy
            .as_deref()
            .map(ProxyUrl::parse)
            .transpose()
            .map_err(|e| vault_error(name, e))?;
        let (proxy_url, proxy_password) = match proxy {
            Some(p) => (Some(p.url), p.password),
            None => (None, None),
        };
        // The credential store must work before the token is spent: a spent token cannot be
        // retried.
        self.store().secrets.probe().map_err(|e| match e {
            keeperdb_model::secrets::SecretStoreError::Unavailable(why) => {
                Error::NoCredentialStoreForVault(why)
            }
            other => other.into(),
        })?;
        let settings = VaultSettings {
            host: token.host().to_string(),
            proxy: proxy_url,
            ca_bundle: request.ca_bundle,
            server_public_key: request.server_key.as_ref().map(|(k, _)| k.clone()),
            server_public_key_id: request.server_key.as_ref().map(|(_, id)| *id),
        };
        let (_client, config) =
            KsmClient::bind(name, &token, settings.clone(), proxy_password.clone())
                .map_err(|e| vault_error(name, e))?;
        let attachment = Attachment {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            settings,
            attached_at: cache::now_secs(),
        };
        self.store()
            .add_vault_attachment(attachment, &config, proxy_password.as_ref())?;
        let report = self
            .refresh_vaults(Some(name))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::NoVault(name.to_string()))?;
        let status = self
            .vaults()?
            .into_iter()
            .find(|v| v.name == name)
            .ok_or_else(|| Error::NoVault(name.to_string()))?;
        Ok((status, report))
    }

    /// Every attached vault, with what its last refresh saved.
    pub fn vaults(&self) -> Result<Vec<VaultStatus>> {
        let cache_dir = self.store().dir().cache_path().to_path_buf();
        let mut out = Vec::new();
        for a in self.store().vault_attachments()? {
            let config_missing = self.store().vault_secrets(&a)?.is_none();
            out.push(VaultStatus {
                region: keeperdb_keeper::region_of_host(&a.settings.host),
                proxy: a.settings.proxy.clone(),
                host: a.settings.host.clone(),
                attached_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(a.attached_at),
                cached: ListingCache::new(&cache_dir, &a.name).load(),
                config_missing,
                name: a.name,
            });
        }
        Ok(out)
    }

    /// Read one vault (or all of them, concurrently) now, saving the listings.
    pub fn refresh_vaults(&self, name: Option<&str>) -> Result<Vec<RefreshReport>> {
        if let Some(name) = name
            && self.store().vault_attachment(name)?.is_none()
        {
            return Err(Error::NoVault(name.to_string()));
        }
        let registry = self.registry_with_vaults(name);
        let listing = registry.list();
        let mut reports = Vec::new();
        for a in self.store().vault_attachments()? {
            if name.is_some_and(|n| n != a.name) {
                continue;
            }
            let ours = |source: &str| source.rsplit_once('@').is_some_and(|(_, v)| v == a.name);
            let failure = listing.failures.iter().find(|f| ours(&f.source));
            let stale = listing.stale.iter().find(|(s, _)| ours(s));
            let outcome = match (failure, stale) {
                (Some(f), _) => Err(f.error.to_string()),
                (None, Some((_, stale))) => Err(stale.reason.clone()),
                (None, None) => {
                    let cached = ListingCache::new(self.store().dir().cache_path(), &a.name).load();
                    let connections = listing
                        .connections
                        .iter()
                        .filter(|c| c.origin.vault.as_deref() == Some(a.name.as_str()))
                        .count();
                    let skipped = listing.skipped.iter().filter(|(s, _)| ours(s)).count();
                    Ok((cached.map_or(0, |c| c.records_seen), connections, skipped))
                }
            };
            reports.push(RefreshReport {
                name: a.name,
                outcome,
            });
        }
        Ok(reports)
    }

    /// Disconnect a vault: its config leaves the OS credential store, its saved listing is
    /// deleted, and its connections are no longer listed.
    pub fn detach_vault(&self, name: &str) -> Result<()> {
        if !self.store().remove_vault_attachment(name)? {
            return Err(Error::NoVault(name.to_string()));
        }
        ListingCache::new(self.store().dir().cache_path(), name).remove();
        Ok(())
    }

    /// The attachments opened for this run (`only`: just that one). One that cannot be opened
    /// is returned as a source that fails with why.
    pub(crate) fn vault_bindings(
        &self,
        only: Option<&str>,
    ) -> (Vec<VaultBinding>, Vec<Arc<dyn ConnectionSource>>) {
        let mut bindings = Vec::new();
        let mut failed = Vec::new();
        let attachments = match self.store().vault_attachments() {
            Ok(a) => a,
            Err(e) => {
                failed.push(crate::plugins::failed_source("vaults", e.to_string()));
                return (bindings, failed);
            }
        };
        let cache_dir = self.store().dir().cache_path().to_path_buf();
        for a in attachments {
            if only.is_some_and(|n| n != a.name) {
                continue;
            }
            let source_id = format!("{VAULT_SOURCE_PLUGIN}@{}", a.name);
            let opened = match self.store().vault_secrets(&a) {
                Ok(Some(secrets)) => KsmClient::open(
                    &a.name,
                    a.settings.clone(),
                    &secrets.config,
                    secrets.proxy_password,
                )
                .map_err(|e| vault_error(&a.name, e).to_string()),
                Ok(None) => Err(format!(
                    "vault `{}`: its Secrets Manager configuration is missing from the OS credential store; disconnect it and attach it again with a new one-time token",
                    a.name
                )),
                Err(e) => Err(e.to_string()),
            };
            let cache = ListingCache::new(&cache_dir, &a.name);
            match opened {
                Ok(client) => bindings.push(VaultBinding {
                    cache,
                    vault: KsmVault::new(client),
                    name: a.name,
                }),
                Err(reason) => failed.push(Arc::new(UnopenedVault {
                    info: keeperdb_model::source::SourceInfo {
                        id: source_id,
                        badge: "Vault".into(),
                        vault: Some(a.name),
                    },
                    cache,
                    reason,
                })),
            }
        }
        (bindings, failed)
    }
}
