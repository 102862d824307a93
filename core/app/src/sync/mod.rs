//! Storage sync: keeperdb's saved connections and its preferences mirrored into a storage
//! backend (the Keeper vault's `KeeperDB Storage` folder, through the `keeper-storage` plugin),
//! and restored from it on another machine. The engine knows no backend: it plans from what the
//! backend lists (`plan`, pure), applies the plan with bounded concurrency and backoff
//! (`apply`), and keeps what this machine synced (`state`), so that a run stopped at any instant
//! converges on the next, and a record another machine wrote is never removed from here.
//! Passwords never enter the backend plugin: the host lends it a handle when it writes an item
//! and reads the vault field itself when it restores one. Standalone mode only.

mod apply;
mod item;
mod plan;
mod state;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keeperdb_model::manifest::PluginKind;
use keeperdb_model::prefs::Mode;
use keeperdb_model::storage::{ItemKind, StorageBackend, StorageError};
use secrecy::SecretString;

pub use plan::{PlanSummary, WriteReason};

use crate::app::App;
use crate::error::Result;
use crate::store::PasswordSource;
use item::{Content, LocalItem, RemoteItem};
use state::SyncState;

/// Backend calls at once. Each is one request to the vault (two for a write: the SDK reads the
/// folder keys first), and the vault serves a handful of clients' requests in parallel well.
const CONCURRENCY: usize = 8;
/// Plan-and-apply rounds in one sync: a second one resolves what a lost reply left behind.
const ROUNDS: usize = 3;

/// Why storage sync cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Behind a Keeper Gateway nothing is mirrored.
    #[error(
        "storage sync is not available in gateway mode: a Keeper Gateway is the only credential authority, so connections are not mirrored into a vault (the preference `mode` is `gateway`)"
    )]
    GatewayMode,
    /// Storage is not enabled.
    #[error("storage sync is not enabled: enable it for one of the attached vaults first")]
    NotEnabled,
    /// Storage is enabled for another vault.
    #[error(
        "storage sync is enabled for vault `{0}` already: disable it first to sync to another vault"
    )]
    EnabledElsewhere(String),
    /// The vault synced to is no longer attached as it was.
    #[error(
        "vault `{0}` is no longer attached as it was when storage sync was enabled; attach it again if needed, then disable and enable storage sync"
    )]
    VaultChanged(String),
    /// No storage backend plugin can write to the vault.
    #[error(
        "no installed storage backend may use the vault: install the bundled `keeper-storage` plugin and grant it keeper-vault"
    )]
    NoBackend,
    /// The backend plugin failed to load or to list.
    #[error("storage backend `{backend}`: {error}")]
    Backend {
        /// Plugin id.
        backend: String,
        /// What failed.
        #[source]
        error: StorageError,
    },
    /// Some items could not be written or removed; the rest were.
    #[error("{} item(s) could not be synced, the others were: {}; sync again to retry them", failed.len(), failed.iter().map(|(what, why)| format!("{what}: {why}")).collect::<Vec<_>>().join("; "))]
    Incomplete {
        /// What failed, with why.
        failed: Vec<(String, String)>,
    },
}

/// The broad class of a [`SyncError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncErrorKind {
    /// Settings: mode, not enabled, no backend.
    Config,
    /// The backend or the vault failed.
    Backend,
}

impl SyncError {
    /// The class of this error.
    pub fn kind(&self) -> SyncErrorKind {
        match self {
            SyncError::Backend { .. } | SyncError::Incomplete { .. } => SyncErrorKind::Backend,
            _ => SyncErrorKind::Config,
        }
    }
}

/// Where storage sync stands.
#[derive(Debug, Clone)]
pub struct StorageStatus {
    /// The vault synced to.
    pub vault: String,
    /// The backend plugin.
    pub backend: String,
    /// When it was enabled.
    pub enabled_at: SystemTime,
    /// When the backend was last found equal to the local state.
    pub last_sync: Option<SystemTime>,
    /// What a sync would do now, and what is in the backend only.
    pub pending: PlanSummary,
}

/// What a sync did.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// What the first plan found (for a dry run: what a sync would do).
    pub plan: PlanSummary,
    /// Steps applied (writes and removals).
    pub applied: usize,
    /// Plan-and-apply rounds it took.
    pub rounds: usize,
    /// Only planned, nothing written.
    pub dry_run: bool,
}

/// What a pull restored.
#[derive(Debug, Clone, Default)]
pub struct PullReport {
    /// Connections saved here that were not: names.
    pub restored: Vec<String>,
    /// Local connections replaced by a newer version from the backend: names.
    pub updated: Vec<String>,
    /// Passwords put into the OS credential store.
    pub passwords: usize,
    /// The preferences were taken from the backend.
    pub preferences: bool,
    /// Items left out, with why.
    pub skipped: Vec<(String, String)>,
}

/// A loaded backend and the state it syncs under.
struct Session {
    backend: Arc<dyn StorageBackend>,
    state: SyncState,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

impl App {
    fn require_standalone(&self) -> Result<()> {
        if self.store().preferences()?.mode == Mode::Gateway {
            return Err(SyncError::GatewayMode.into());
        }
        Ok(())
    }

    /// Whether the storage commands apply here (not in gateway mode), for shells that hide them.
    pub fn storage_available(&self) -> bool {
        self.store()
            .preferences()
            .is_ok_and(|p| p.mode == Mode::Standalone)
    }

    /// Sync to the attached vault `vault` from now on (nothing is written until a sync).
    pub fn storage_enable(&self, vault: &str) -> Result<StorageStatus> {
        self.require_standalone()?;
        let attachment = self
            .store()
            .vault_attachment(vault)?
            .ok_or_else(|| crate::Error::NoVault(vault.to_string()))?;
        if let Some(state) = self.store().sync_state()? {
            if state.vault != vault {
                return Err(SyncError::EnabledElsewhere(state.vault).into());
            }
            return self.storage_status();
        }
        let backend = self.storage_backend_id()?;
        let state = SyncState {
            format: 1,
            vault: attachment.name,
            vault_id: attachment.id,
            backend,
            preferences_id: uuid::Uuid::new_v4().to_string(),
            enabled_at: now_secs(),
            last_sync: None,
            synced: Default::default(),
        };
        self.store().write_sync_state(&state)?;
        tracing::info!(vault = %state.vault, "storage sync enabled");
        self.storage_status()
    }

    /// Stop syncing. Nothing in the vault is touched.
    pub fn storage_disable(&self) -> Result<()> {
        if self.store().sync_state()?.is_none() {
            return Err(SyncError::NotEnabled.into());
        }
        Ok(self.store().remove_sync_state()?)
    }

    /// Where sync stands: one listing of the backend, compared with the local state.
    pub fn storage_status(&self) -> Result<StorageStatus> {
        let session = self.storage_session()?;
        let local = self.local_items(&session.state)?;
        let remote = list(&*session.backend, &session.state)?;
        let planned = plan::plan(&local, &remote, &session.state.synced);
        Ok(StorageStatus {
            vault: session.state.vault.clone(),
            backend: session.state.backend.clone(),
            enabled_at: at(session.state.enabled_at),
            last_sync: session.state.last_sync.map(at),
            pending: planned.summary,
        })
    }

    /// Make the backend mirror the local connections and preferences (`dry_run`: only plan).
    /// Progress goes to the app's progress sink as `Configuring... N of M`.
    pub fn storage_sync(&self, dry_run: bool) -> Result<SyncReport> {
        let Session { backend, mut state } = self.storage_session()?;
        let _span = tracing::info_span!("storage.sync", vault = %state.vault, dry_run).entered();
        let local = self.local_items(&state)?;
        let secrets = self.store().secrets.clone();
        let secret_of =
            |item: &LocalItem| -> std::result::Result<Option<SecretString>, StorageError> {
                match &item.content {
                    Content::Connection(c) if c.password == Some(PasswordSource::Keyring) => {
                        match secrets.get(&item.local_id) {
                        Ok(Some(secret)) => Ok(Some(secret)),
                        Ok(None) => Err(StorageError::InvalidItem {
                            remote_ref: c.spec.name.clone(),
                            message: "its password is missing from the OS credential store; set it again by editing the connection".into(),
                        }),
                        // A busy credential store is worth asking again.
                        Err(e) => Err(StorageError::Unavailable(e.to_string())),
                    }
                    }
                    _ => Ok(None),
                }
            };
        let mut first: Option<PlanSummary> = None;
        let mut applied = 0;
        let mut failed = Vec::new();
        for round in 1..=ROUNDS {
            let remote = list(&*backend, &state)?;
            let planned = plan::plan(&local, &remote, &state.synced);
            state.synced.extend(planned.confirmed.clone());
            first.get_or_insert_with(|| planned.summary.clone());
            if dry_run {
                return Ok(report(first, 0, round, true));
            }
            if planned.ops.is_empty() {
                state.last_sync = Some(now_secs());
                self.store().write_sync_state(&state)?;
                return Ok(report(first, applied, round, false));
            }
            // Known before written: if this run dies after a write, the next one still knows
            // the record is this machine's to replace or remove.
            for op in &planned.ops {
                if let plan::Op::Write { index, .. } = op {
                    state
                        .synced
                        .entry(local[*index].local_id.clone())
                        .or_default();
                }
            }
            self.store().write_sync_state(&state)?;
            let done = apply::apply(
                &*backend,
                &planned,
                &local,
                &secret_of,
                CONCURRENCY,
                self.progress.as_ref(),
            );
            applied += done.done;
            state.synced.extend(done.written);
            for id in &done.removed {
                state.synced.remove(id);
            }
            self.store().write_sync_state(&state)?;
            if let Some(error) = done.refused {
                return Err(SyncError::Backend {
                    backend: state.backend.clone(),
                    error,
                }
                .into());
            }
            failed = done
                .failures
                .iter()
                .map(|(what, e)| (what.clone(), e.to_string()))
                .collect();
            if !done.retried && failed.is_empty() {
                // A round without retries leaves nothing a lost reply could have duplicated:
                // one more listing would only confirm it, except for the last-sync time.
                state.last_sync = Some(now_secs());
                self.store().write_sync_state(&state)?;
                return Ok(report(first, applied, round, false));
            }
        }
        Err(SyncError::Incomplete { failed }.into())
    }

    /// Bring in what the backend holds that is not here: connections (their passwords into the
    /// OS credential store), changes another machine made to synced ones, and, on a machine
    /// that has not synced its preferences yet, the newest preferences.
    pub fn storage_pull(&self) -> Result<PullReport> {
        let Session { backend, mut state } = self.storage_session()?;
        let _span = tracing::info_span!("storage.pull", vault = %state.vault).entered();
        let local = self.local_items(&state)?;
        let remote = list(&*backend, &state)?;
        let planned = plan::plan(&local, &remote, &state.synced);
        let local_ids: std::collections::BTreeSet<&str> =
            local.iter().map(|l| l.local_id.as_str()).collect();
        let mut out = PullReport::default();
        let mut newest_prefs: Option<&RemoteItem> = None;
        let mut seen = std::collections::BTreeSet::new();
        for r in &remote {
            let Some(digest) = r.digest.clone() else {
                continue;
            };
            if r.kind == ItemKind::Preferences {
                let adopt = !state.synced.contains_key(&state.preferences_id)
                    || (r.local_id == state.preferences_id
                        && planned
                            .summary
                            .changed_remotely
                            .iter()
                            .any(|l| l == "preferences"));
                if adopt && newer(r, newest_prefs) {
                    newest_prefs = Some(r);
                }
                continue;
            }
            let Some((connection, payload)) = r.connection() else {
                continue;
            };
            if !seen.insert(r.local_id.clone()) {
                continue;
            }
            let is_local = local_ids.contains(r.local_id.as_str());
            let changed_elsewhere = is_local
                && state.synced.get(&r.local_id).is_some_and(|s| {
                    !s.is_empty()
                        && local
                            .iter()
                            .any(|l| l.local_id == r.local_id && &l.digest == s)
                        && *s != digest
                });
            if is_local && !changed_elsewhere {
                continue;
            }
            if !is_local && state.synced.contains_key(&r.local_id) {
                // Removed here since it was synced: the next sync removes it there too.
                continue;
            }
            let name = connection.spec.name.clone();
            let secret = match (&payload.password, &r.secret) {
                (Some(PasswordSource::Keyring), Some(at)) => match backend.read_secret(at) {
                    Ok(secret) => Some(secret),
                    Err(e) => {
                        out.skipped
                            .push((name, format!("its password could not be read: {e}")));
                        continue;
                    }
                },
                _ => None,
            };
            let had_secret = secret.is_some();
            match self.store().put_restored(
                connection,
                payload.password,
                secret,
                payload.password_rev.clone(),
            ) {
                Ok(_) => {
                    state.synced.insert(r.local_id.clone(), digest);
                    out.passwords += usize::from(had_secret);
                    if is_local {
                        out.updated.push(name);
                    } else {
                        out.restored.push(name);
                    }
                }
                Err(crate::store::StoreError::DuplicateName(_)) => out.skipped.push((
                    name,
                    "a local connection has that name; rename it, then pull again".into(),
                )),
                Err(e) => out.skipped.push((name, e.to_string())),
            }
        }
        if let Some(r) = newest_prefs
            && let Ok(Content::Preferences(p)) = &r.content
        {
            self.store().replace_preferences(&p.preferences)?;
            state.preferences_id = r.local_id.clone();
            if let Some(d) = &r.digest {
                state.synced.insert(r.local_id.clone(), d.clone());
            }
            out.preferences = true;
        }
        self.store().write_sync_state(&state)?;
        Ok(out)
    }

    /// Sync now if the user asked for a sync after each change (`storage.auto`) and storage is
    /// enabled; `None` when nothing was to be done. Shells call this after they changed a saved
    /// connection or a preference.
    pub fn sync_after_change(&self) -> Option<Result<SyncReport>> {
        let prefs = self.store().preferences().ok()?;
        if !prefs.storage.auto || prefs.mode == Mode::Gateway {
            return None;
        }
        self.store().sync_state().ok()??;
        Some(self.storage_sync(false))
    }

    fn storage_session(&self) -> Result<Session> {
        self.require_standalone()?;
        let state = self.store().sync_state()?.ok_or(SyncError::NotEnabled)?;
        match self.store().vault_attachment(&state.vault)? {
            Some(a) if a.id == state.vault_id => {}
            _ => return Err(SyncError::VaultChanged(state.vault.clone()).into()),
        }
        let backend = self.load_storage_backend(&state.backend, &state.vault, CONCURRENCY)?;
        Ok(Session { backend, state })
    }

    /// The installed, enabled storage backend granted `keeper-vault`.
    fn storage_backend_id(&self) -> Result<String> {
        self.plugins()
            .list()?
            .into_iter()
            .find(|e| {
                e.installed.enabled
                    && e.installed.kind == PluginKind::StorageBackend
                    && e.installed
                        .granted
                        .contains_key(keeperdb_model::capability::KEEPER_VAULT)
            })
            .map(|e| e.id)
            .ok_or_else(|| SyncError::NoBackend.into())
    }

    fn local_items(&self, state: &SyncState) -> Result<Vec<LocalItem>> {
        let mut items: Vec<LocalItem> = self
            .store()
            .connections()?
            .iter()
            .map(LocalItem::connection)
            .collect();
        items.push(LocalItem::preferences(
            &state.preferences_id,
            &self.store().preferences()?,
            now_secs(),
        ));
        Ok(items)
    }
}

/// Everything the backend holds, checked; a listing is retried like any other call.
fn list(backend: &dyn StorageBackend, state: &SyncState) -> Result<Vec<RemoteItem>> {
    let items = apply::with_retry(&Default::default(), || backend.list()).map_err(|error| {
        SyncError::Backend {
            backend: state.backend.clone(),
            error,
        }
    })?;
    Ok(items.into_iter().map(RemoteItem::from_stored).collect())
}

fn newer(candidate: &RemoteItem, than: Option<&RemoteItem>) -> bool {
    let saved = |r: &RemoteItem| match &r.content {
        Ok(Content::Preferences(p)) => p.saved_at,
        _ => 0,
    };
    than.is_none_or(|t| saved(candidate) > saved(t))
}

fn report(plan: Option<PlanSummary>, applied: usize, rounds: usize, dry_run: bool) -> SyncReport {
    SyncReport {
        plan: plan.unwrap_or_default(),
        applied,
        rounds,
        dry_run,
    }
}
