//! Applying a plan: its steps run on a bounded number of threads against the backend, each
//! backend call retried with backoff while the backend is unavailable (throttling, a dropped
//! connection, a 5xx), with `Configuring... N of M` reported after every step. A write always
//! lands before the records it replaces are removed, so stopping at any instant leaves either
//! the old record or the new one (or both, which the next plan resolves), never neither.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use keeperdb_model::storage::{NewItem, StorageBackend, StorageError, StorageErrorKind};
use keeperdb_wasm_host::ProgressSink;
use secrecy::SecretString;

use super::item::LocalItem;
use super::plan::{Op, Plan};

/// Attempts per backend call while it is unavailable.
const ATTEMPTS: u32 = 5;
/// The first wait between attempts; it doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(3);

/// What applying a plan did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Steps that finished.
    pub done: usize,
    /// Local id -> digest of every item written.
    pub written: BTreeMap<String, String>,
    /// Local ids whose records were all removed.
    pub removed: Vec<String>,
    /// Steps that failed: (what, why).
    pub failures: Vec<(String, StorageError)>,
    /// A call had to be retried: a write may have landed twice (a lost reply), so the caller
    /// lists again to resolve it.
    pub retried: bool,
    /// The backend refused (not retried): the run stopped.
    pub refused: Option<StorageError>,
}

/// Where a written item's secret comes from (the OS credential store), read only when the
/// item is written; an unavailable store is retried like the backend.
pub(crate) type SecretLookup<'a> =
    dyn Fn(&LocalItem) -> Result<Option<SecretString>, StorageError> + Sync + 'a;

/// Run `plan`'s steps with at most `concurrency` at once. The first write runs alone, so a
/// backend that sets itself up on its first write (a folder to create) does it once.
pub(crate) fn apply(
    backend: &dyn StorageBackend,
    plan: &Plan,
    local: &[LocalItem],
    secret_of: &SecretLookup<'_>,
    concurrency: usize,
    progress: Option<&ProgressSink>,
) -> Applied {
    let total = plan.ops.len();
    let out = Mutex::new(Applied::default());
    let retried = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    let report = |done: usize| {
        if let Some(sink) = progress {
            sink(done as u64, total as u64, "Configuring...");
        }
    };
    report(0);
    let run = |op: &Op| {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let result = run_op(backend, op, local, secret_of, &retried);
        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(Step::Written(id, digest)) => {
                out.written.insert(id, digest);
            }
            Ok(Step::Removed(id)) => out.removed.push(id),
            Err((what, e)) => {
                if e.kind() == StorageErrorKind::Denied {
                    stop.store(true, Ordering::Relaxed);
                    out.refused.get_or_insert(e);
                } else {
                    out.failures.push((what, e));
                }
                return;
            }
        }
        out.done += 1;
        drop(out);
        report(finished.fetch_add(1, Ordering::Relaxed) + 1);
    };

    let first = plan
        .ops
        .iter()
        .position(|op| matches!(op, Op::Write { .. }));
    if let Some(i) = first {
        run(&plan.ops[i]);
    }
    let rest: Vec<&Op> = plan
        .ops
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != first)
        .map(|(_, op)| op)
        .collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, rest.len().max(1)) {
            scope.spawn(|| {
                while let Some(op) = rest.get(next.fetch_add(1, Ordering::Relaxed)) {
                    run(op);
                }
            });
        }
    });
    let mut out = out.into_inner().unwrap_or_else(|p| p.into_inner());
    out.retried = retried.load(Ordering::Relaxed);
    out
}

enum Step {
    Written(String, String),
    Removed(String),
}

fn run_op(
    backend: &dyn StorageBackend,
    op: &Op,
    local: &[LocalItem],
    secret_of: &SecretLookup<'_>,
    retried: &AtomicBool,
) -> Result<Step, (String, StorageError)> {
    match op {
        Op::Write { index, then_remove } => {
            let item = &local[*index];
            let label = item.content.label();
            let fail = |e| (label.clone(), e);
            let secret = with_retry(retried, || secret_of(item)).map_err(fail)?;
            let new = NewItem {
                local_id: item.local_id.clone(),
                kind: item.content.kind(),
                payload: item.content.payload(),
                secret,
            };
            let _span = tracing::info_span!("sync.write", local_id = %item.local_id).entered();
            with_retry(retried, || backend.put(&new)).map_err(fail)?;
            for old in then_remove {
                remove(backend, old, retried).map_err(fail)?;
            }
            Ok(Step::Written(item.local_id.clone(), item.digest.clone()))
        }
        Op::Remove {
            local_id,
            label,
            remote_refs,
        } => {
            let _span = tracing::info_span!("sync.remove", local_id = %local_id).entered();
            for r in remote_refs {
                remove(backend, r, retried).map_err(|e| (label.clone(), e))?;
            }
            Ok(Step::Removed(local_id.clone()))
        }
    }
}

/// Remove a record; one that is gone already (a lost reply to an earlier try) is removed.
fn remove(
    backend: &dyn StorageBackend,
    remote_ref: &str,
    retried: &AtomicBool,
) -> Result<(), StorageError> {
    match with_retry(retried, || backend.remove(remote_ref)) {
        Err(e) if e.kind() == StorageErrorKind::NotFound => Ok(()),
        other => other,
    }
}

pub(crate) fn with_retry<T>(
    retried: &AtomicBool,
    mut call: impl FnMut() -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let mut wait = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match call() {
            Err(e) if e.kind() == StorageErrorKind::Unavailable && attempt < ATTEMPTS => {
                retried.store(true, Ordering::Relaxed);
                tracing::info!(attempt, "storage backend unavailable; trying again");
                std::thread::sleep(wait + jitter(wait));
                wait = (wait * 2).min(MAX_BACKOFF);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Up to a quarter of `wait`, so concurrent retries do not hit the backend in step.
fn jitter(wait: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    wait / 4 * (nanos % 1000) / 1000
}
