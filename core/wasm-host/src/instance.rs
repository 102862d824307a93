//! Running one call of a loaded plugin: instances are created lazily, one per concurrent
//! caller, and kept in a pool; every call runs under the deadline, a failure is explained
//! (timeout, memory, stack, abort, with the last error the plugin logged) and drops that
//! instance so a later call starts a fresh one.

use std::sync::MutexGuard;

use wasmtime::{Store, Trap};

use crate::WasmError;
use crate::host::HostState;
use crate::loader::LoadedPlugin;
use crate::v0::Exports;

/// One live instance and its store.
pub(crate) struct Live {
    store: Store<HostState>,
    exports: Exports,
}

impl LoadedPlugin {
    /// Create an instance now (normally done lazily by the first call); for warm-start checks.
    pub fn instantiate(&self) -> Result<(), WasmError> {
        let mut idle = self.lock();
        if idle.is_empty() {
            idle.push(self.new_instance("instantiate")?);
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Live>> {
        // The lock is held only to take or return an instance, never during a call; a poisoned
        // pool is emptied and refilled on demand.
        self.live.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            guard.clear();
            guard
        })
    }

    fn new_instance(&self, call: &'static str) -> Result<Live, WasmError> {
        let limits = self.runtime.limits();
        let state = HostState::new(
            &self.manifest.id,
            &self.grants,
            &self.options,
            limits.max_memory_bytes,
        );
        let mut store = Store::new(self.runtime.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.runtime.deadline_ticks());
        match Exports::instantiate(&self.pre, self.manifest.kind, &self.api, &mut store) {
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
        if let Some(last) = &state.log.last_error {
            message.push_str(&format!("; its last error message: {last}"));
        }
        message.push_str("; the instance was discarded and the next call starts a fresh one");
        WasmError::Call {
            plugin: self.manifest.id.clone(),
            call,
            message,
        }
    }

    /// Run one export under the deadline on an idle instance (a new one when all are busy,
    /// so concurrent callers run in parallel); on any trap drop that instance.
    pub(crate) fn call<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&Exports, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, WasmError> {
        let _span = tracing::info_span!("plugin_call", plugin = %self.manifest.id, call).entered();
        let idle = self.lock().pop();
        let mut live = match idle {
            Some(live) => live,
            None => self.new_instance(call)?,
        };
        live.store.set_epoch_deadline(self.runtime.deadline_ticks());
        live.store.data_mut().log.begin_call();
        let result = f(&live.exports, &mut live.store);
        live.store.data_mut().log.end_call();
        match result {
            Ok(value) => {
                self.lock().push(live);
                Ok(value)
            }
            Err(e) => {
                let err = self.call_error(call, &e, live.store.data());
                tracing::warn!("{err}");
                Err(err)
            }
        }
    }

    /// The error for an answer larger than a call may return.
    pub(crate) fn too_big(&self, call: &'static str, size: usize) -> WasmError {
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
}
