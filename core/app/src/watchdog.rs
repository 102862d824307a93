//! A timer that acts once a time limit passes unless it is dropped first, from a thread of
//! its own: the query timeout of a session, the time limit of an agent's call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// Runs its action once `limit` passes, unless dropped before.
pub(crate) struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
    limit: Duration,
}

impl Watchdog {
    /// Start the clock; `on_fire` runs on the watchdog's thread when the limit passes.
    pub(crate) fn arm(limit: Duration, on_fire: impl FnOnce() + Send + 'static) -> Self {
        let (disarm, wait) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let spawned = std::thread::Builder::new()
            .name("keeperdb-watchdog".into())
            .spawn(move || {
                // Disarmed (sender dropped) before the limit: nothing to do.
                if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                    flag.store(true, Ordering::SeqCst);
                    on_fire();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a watchdog for a time limit: {e}");
        }
        Self {
            disarm: Some(disarm),
            fired,
            limit,
        }
    }

    /// Whether the limit passed and the action ran.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// The limit it was armed with.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread, which then ends without acting.
        self.disarm.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_acts_once_the_limit_passes_and_not_when_dropped_before() {
        let (tx, rx) = mpsc::channel();
        let dog = Watchdog::arm(Duration::from_millis(20), move || tx.send(()).unwrap());
        rx.recv_timeout(Duration::from_secs(5)).expect("fired");
        assert!(dog.fired());

        let (tx, rx) = mpsc::channel::<()>();
        let dog = Watchdog::arm(Duration::from_secs(60), move || tx.send(()).unwrap());
        drop(dog);
        // The thread ends without acting: its sender goes away unsent.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    }
}
