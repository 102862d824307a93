//! One KSM client, bound to one vault attachment, living on a thread of its own: the SDK is
//! blocking (reqwest's blocking client, sleeps during throttling) and must never run on, or be
//! dropped on, an async runtime's thread. Every call is a job sent to that thread; a panic in
//! the SDK on a malformed answer is caught there and becomes an error.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use keeper_secrets_manager_core::custom_error::KSMRError;
use keeper_secrets_manager_core::prelude::*;
use secrecy::{ExposeSecret, SecretString};

use crate::VaultError;
use crate::http::{self, FailureSlot, TransportFailure};
use crate::settings::{VaultSettings, display_proxy};
use crate::token::OneTimeToken;

/// The longest keeperdb waits between throttle retries. The SDK would back off for up to about
/// six minutes; a person at a prompt is better served by an error they can act on.
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(4);
/// Throttle retries the SDK makes before it gives up.
const THROTTLE_RETRIES: u32 = 5;

/// The KSM application config a bound client keeps (its private key, app key, client id, ...):
/// JSON text, secret as a whole. Store it in the OS credential store, nowhere else.
pub struct BoundConfig(pub SecretString);

impl std::fmt::Debug for BoundConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoundConfig(..)")
    }
}

/// What a call does, which decides what a refusal means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallMode {
    /// Spends the one-time token.
    Bind,
    /// Reads records or folders.
    Read,
    /// Creates or deletes records or folders.
    Write,
}

/// A call to run on the client's thread: with the client, or with why it could not be made.
type Job = Box<dyn FnOnce(Result<&mut Worker, &VaultError>) + Send>;

/// What lives on the client's thread.
struct Worker {
    sm: SecretsManager,
    slot: FailureSlot,
    throttled: Arc<AtomicU32>,
}

/// A KSM client for one attachment. Cheap to share. Calls run on its threads: one at first,
/// more when [`KsmClient::widen`] asks for concurrent calls.
pub struct KsmClient {
    name: String,
    settings: VaultSettings,
    jobs: mpsc::Sender<Job>,
    spawn: Mutex<Spawner>,
}

/// What starting one more worker thread needs.
struct Spawner {
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    config: Option<SecretString>,
    proxy_password: Option<SecretString>,
    workers: usize,
}

impl std::fmt::Debug for KsmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KsmClient")
            .field("name", &self.name)
            .field("host", &self.settings.host)
            .finish_non_exhaustive()
    }
}

impl KsmClient {
    /// Bind a new client with a one-time token: the first request registers this client's key
    /// and spends the token. Returns the client and the config to keep.
    pub fn bind(
        name: &str,
        token: &OneTimeToken,
        mut settings: VaultSettings,
        proxy_password: Option<SecretString>,
    ) -> Result<(Self, BoundConfig), VaultError> {
        settings.host = token.host().to_string();
        let sdk_token = token.for_sdk();
        let client = Self::start(name, settings, None, Some(sdk_token), proxy_password)?;
        let _span =
            tracing::info_span!("vault.bind", vault = %client.name, host = %client.settings.host)
                .entered();
        client.call(CallMode::Bind, |sm| sm.get_secrets(Vec::new()).map(drop))?;
        let config = client.call(CallMode::Bind, |sm| {
            let map = sm.config.read_storage()?;
            let obj: HashMap<String, String> = map
                .into_iter()
                .map(|(k, v)| (k.value().to_string(), v))
                .collect();
            serde_json::to_string(&obj).map_err(|e| KSMRError::SerializationError(e.to_string()))
        })?;
        Ok((client, BoundConfig(SecretString::from(config))))
    }

    /// A client from a config saved at binding.
    pub fn open(
        name: &str,
        settings: VaultSettings,
        config: &BoundConfig,
        proxy_password: Option<SecretString>,
    ) -> Result<Self, VaultError> {
        Self::start(name, settings, Some(config), None, proxy_password)
    }

    /// The attachment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start the client's first thread. Making the SDK client (its HTTP clients, the system's
    /// CA certificates) takes a while, so it happens there while the caller goes on (loading
    /// the plugin, opening other vaults); a failure is the answer to every call.
    fn start(
        name: &str,
        settings: VaultSettings,
        config: Option<&BoundConfig>,
        token: Option<SecretString>,
        proxy_password: Option<SecretString>,
    ) -> Result<Self, VaultError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let client = Self {
            name: name.to_string(),
            settings,
            jobs,
            spawn: Mutex::new(Spawner {
                queue: Arc::new(Mutex::new(queue)),
                config: config.map(|c| c.0.clone()),
                proxy_password,
                workers: 0,
            }),
        };
        client.spawn_worker(token)?;
        Ok(client)
    }

    /// Let up to `workers` calls run at once (each thread has its own SDK client on the same
    /// application config). Only a bound client widens; the binding client stays single.
    pub fn widen(&self, workers: usize) -> Result<(), VaultError> {
        loop {
            let have = self.spawn.lock().map(|s| s.workers).unwrap_or(usize::MAX);
            if have >= workers {
                return Ok(());
            }
            self.spawn_worker(None)?;
        }
    }

    fn spawn_worker(&self, token: Option<SecretString>) -> Result<(), VaultError> {
        let mut spawn = self.spawn.lock().map_err(|_| VaultError::Client {
            host: self.settings.host.clone(),
            what: "its threads are gone".into(),
        })?;
        if spawn.workers > 0 && spawn.config.is_none() {
            // A client that is binding has no saved config to start more workers from.
            return Ok(());
        }
        let queue = spawn.queue.clone();
        let config_json = spawn.config.as_ref().map(|c| c.expose_secret().to_string());
        let proxy_password = spawn.proxy_password.clone();
        let worker_settings = self.settings.clone();
        let worker_name = self.name.clone();
        std::thread::Builder::new()
            .name(format!("keeperdb-vault-{}-{}", self.name, spawn.workers))
            .spawn(move || {
                let made = catch_unwind(AssertUnwindSafe(|| {
                    Worker::new(
                        &worker_name,
                        &worker_settings,
                        config_json,
                        token,
                        proxy_password,
                    )
                }))
                .unwrap_or_else(|_| {
                    Err(VaultError::Client {
                        host: worker_settings.host.clone(),
                        what: "the client could not be created".into(),
                    })
                });
                // Ends when the last handle is dropped; the SDK is dropped here, off any runtime.
                let mut worker = made;
                loop {
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    match &mut worker {
                        Ok(w) => job(Ok(w)),
                        Err(e) => job(Err(e)),
                    }
                }
            })
            .map_err(|_| VaultError::Client {
                host: self.settings.host.clone(),
                what: "no thread could be started for it".into(),
            })?;
        spawn.workers += 1;
        Ok(())
    }

    /// Run `f` on one of the client's threads and map its failure into keeperdb's words. `mode`
    /// says whether a token is being spent or the vault changed, which decides what a refusal
    /// means.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        mode: CallMode,
        f: impl FnOnce(&mut SecretsManager) -> Result<R, KSMRError> + Send + 'static,
    ) -> Result<R, VaultError> {
        let (tx, rx) = mpsc::channel();
        let host = self.settings.host.clone();
        let via = self
            .settings
            .proxy
            .as_deref()
            .map(|p| format!(" through {}", display_proxy(p)))
            .unwrap_or_default();
        let job: Job = Box::new(move |worker: Result<&mut Worker, &VaultError>| {
            let worker = match worker {
                Ok(worker) => worker,
                Err(e) => {
                    let _ = tx.send(Err(e.clone()));
                    return;
                }
            };
            worker.throttled.store(0, Ordering::Relaxed);
            let outcome = catch_unwind(AssertUnwindSafe(|| f(&mut worker.sm)));
            let result = match outcome {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(classify(&e, worker, &host, &via, mode)),
                Err(_) => Err(VaultError::Client {
                    host: host.clone(),
                    what: "it stopped on an answer it could not handle (a malformed response or record)".into(),
                }),
            };
            let _ = tx.send(result);
        });
        let stopped = || VaultError::Client {
            host: self.settings.host.clone(),
            what: "its thread is gone".into(),
        };
        self.jobs.send(job).map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }
}

impl Worker {
    fn new(
        name: &str,
        settings: &VaultSettings,
        config: Option<String>,
        token: Option<SecretString>,
        proxy_password: Option<SecretString>,
    ) -> Result<Self, VaultError> {
        let config_error = |reason: &str| VaultError::Config {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let storage = InMemoryKeyValueStorage::new(config)
            .map_err(|_| config_error("it is not a KSM configuration"))?;
        let mut builder = ClientOptionsBuilder::new(KvStoreType::InMemory(storage));
        if let Some(token) = &token {
            builder = builder.token(token.expose_secret());
        }
        let mut options = builder.build();
        if let Some(key) = &settings.server_public_key {
            options.set_server_public_key(key);
        }
        if let Some(id) = settings.server_public_key_id {
            options.set_server_public_key_id(&id.to_string());
        }
        let client = http::build_client(settings, proxy_password.as_ref())?;
        let slot = FailureSlot::default();
        let post_slot = slot.clone();
        options.set_custom_post_function(move |url, key, payload| {
            http::post(&client, &post_slot, url, key, payload)
        });
        let mut sm = SecretsManager::new(options).map_err(|_| {
            if token.is_some() {
                VaultError::Client {
                    host: settings.host.clone(),
                    what: "the client could not be created from the token".into(),
                }
            } else {
                config_error("the client could not be created from it")
            }
        })?;
        let throttled = Arc::new(AtomicU32::new(0));
        let counter = throttled.clone();
        sm.set_custom_sleep_function(move |wait| {
            counter.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(wait.min(MAX_THROTTLE_WAIT));
        });
        Ok(Self {
            sm,
            slot,
            throttled,
        })
    }
}

/// The SDK's error in keeperdb's words. The SDK's text is read to tell cases apart (it is the
/// only place the server's error code surfaces) but never copied into the message.
fn classify(e: &KSMRError, worker: &Worker, host: &str, via: &str, mode: CallMode) -> VaultError {
    let host = host.to_string();
    let via = via.to_string();
    if let Some(failure) = worker.slot.lock().ok().and_then(|mut s| s.take()) {
        return match failure {
            TransportFailure::Tls(reason) => VaultError::Tls {
                host,
                via,
                reason: reason.into(),
            },
            TransportFailure::Network(reason) => VaultError::Unreachable {
                host,
                via,
                reason: reason.into(),
            },
        };
    }
    if let KSMRError::Throttled(_) = e {
        return VaultError::Throttled {
            host,
            retries: worker
                .throttled
                .load(Ordering::Relaxed)
                .max(THROTTLE_RETRIES),
        };
    }
    if let KSMRError::RecordDataError(_) = e {
        // The SDK checks a record before sending it; its reason names only field types.
        let what = if e.to_string().contains("non-empty") {
            "a standard field has an empty value"
        } else {
            "it has a field type or title Keeper does not allow"
        };
        return VaultError::RecordRefused(what);
    }
    let text = e.to_string();
    let has = |needle: &str| text.contains(needle);
    if has("Signature is invalid") {
        return if mode == CallMode::Bind {
            VaultError::TokenUsed
        } else {
            VaultError::AccessRevoked { host }
        };
    }
    if has("access_denied") {
        return match mode {
            CallMode::Bind => VaultError::TokenNotAccepted { host },
            // The client was just able to read (a sync lists first): a refused change means
            // the application may only read.
            CallMode::Write => VaultError::NotEditable { host },
            CallMode::Read => VaultError::AccessRevoked { host },
        };
    }
    let what = if has("invalid_client_version") {
        "it does not accept this client's version".to_string()
    } else if has("Invalid JSON response") {
        "its answer was not the KSM protocol (an error page from a proxy or load balancer?)".into()
    } else if has("throttled") {
        return VaultError::Throttled {
            host,
            retries: THROTTLE_RETRIES,
        };
    } else if let KSMRError::RecordNotFoundError(_) = e {
        "a record it was asked for does not exist".into()
    } else {
        "its answer could not be used".into()
    };
    VaultError::Server { host, what }
}
