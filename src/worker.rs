//! Module implementing the named background thread every component runs on.
//! See [`Worker`] for details.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::MonitoringError;

/// A named thread that can be joined with a deadline.
#[derive(Debug)]
pub(crate) struct Worker {
    name: std::borrow::Cow<'static, str>,
    handle: JoinHandle<()>,
    /// Disconnected when the thread's body returns (or unwinds), so `join` can wait with a
    /// deadline: `JoinHandle::join` cannot.
    finished: Receiver<()>,
}

impl Worker {
    /// Spawns `body` on a thread called `name`.
    pub(crate) fn spawn(
        name: impl Into<std::borrow::Cow<'static, str>>,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<Self, MonitoringError> {
        let name = name.into();
        let (finished_tx, finished) = crossbeam_channel::bounded::<()>(0);
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let _finished = finished_tx;
                // Leave the owned recording slots to the database's threads.
                crate::metrics::shard::use_shared_cells();
                body();
            })
            .map_err(|source| MonitoringError::ThreadSpawn {
                thread: name.clone(),
                source,
            })?;
        Ok(Self {
            name,
            handle,
            finished,
        })
    }

    /// Waits up to `timeout` for the thread to end, then joins it. A thread that is still
    /// running is left detached and reported.
    pub(crate) fn join(self, timeout: Duration) -> Result<(), MonitoringError> {
        match self.finished.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => Err(MonitoringError::ShutdownTimeout {
                thread: self.name,
                waited: timeout,
            }),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                // The body has returned; the join completes at once. Bodies catch their own
                // panics, so an Err here has nothing left to report.
                let _ = self.handle.join();
                Ok(())
            }
        }
    }
}

/// Threads that run until told to stop: a component's background threads, started once and
/// stopped by disconnecting the stop channel each of them waits on.
#[derive(Debug, Default)]
pub(crate) struct Stoppable {
    running: Mutex<Option<(Vec<Worker>, Sender<()>)>>,
}

impl Stoppable {
    /// Starts the threads `spawn` makes, each given the stop channel (it disconnects at
    /// [`stop`](Self::stop)). [`MonitoringError::AlreadyStarted`] naming `component` when they
    /// run; when a spawn fails, the threads already made are stopped and the error returned.
    pub(crate) fn start(
        &self,
        component: &'static str,
        spawn: impl FnOnce(&Receiver<()>, &mut Vec<Worker>) -> Result<(), MonitoringError>,
    ) -> Result<(), MonitoringError> {
        let mut running = self.running.lock();
        if running.is_some() {
            return Err(MonitoringError::AlreadyStarted { component });
        }
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let mut workers = Vec::new();
        if let Err(e) = spawn(&stop, &mut workers) {
            drop(stop_tx);
            for worker in workers {
                let _ = worker.join(Duration::from_secs(5));
            }
            return Err(e);
        }
        *running = Some((workers, stop_tx));
        Ok(())
    }

    /// Whether the threads were started and not stopped since.
    pub(crate) fn is_running(&self) -> bool {
        self.running.lock().is_some()
    }

    /// Tells the threads to stop and joins them, waiting up to `timeout` for each; nothing
    /// when they are not running.
    pub(crate) fn stop(&self, timeout: Duration) -> Result<(), MonitoringError> {
        let Some((workers, stop)) = self.running.lock().take() else {
            return Ok(());
        };
        drop(stop);
        MonitoringError::all(workers.into_iter().map(|w| w.join(timeout)))
    }
}

/// Waits on a [`Stoppable`] thread's stop channel until `wake`; true when the thread is to
/// stop (the channel disconnected, or sent), false when `wake` came.
pub(crate) fn stopped_before(stop: &Receiver<()>, wake: Instant) -> bool {
    !matches!(
        stop.recv_timeout(wake.saturating_duration_since(Instant::now())),
        Err(RecvTimeoutError::Timeout)
    )
}

/// Runs `f`, turning a panic into an error message so that one bad sample, tick or callback
/// cannot end a background thread.
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        format!("{what} panicked: {message}")
    })
}

/// Which database method is running and since when, and how long a call may take; shared
/// with the database health check, which reports a call stuck past that timeout.
#[derive(Debug)]
pub(crate) struct CallWatch {
    running: Mutex<Option<(&'static str, Instant)>>,
    /// How long a call may take.
    pub(crate) timeout: Duration,
}

impl CallWatch {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            running: Mutex::new(None),
            timeout,
        }
    }

    /// Runs `method` on this thread, noting it while it runs.
    pub(crate) fn calling<T>(&self, method: &'static str, f: impl FnOnce() -> T) -> T {
        *self.running.lock() = Some((method, Instant::now()));
        let out = f();
        *self.running.lock() = None;
        out
    }

    /// The method running, and for how long.
    pub(crate) fn running(&self) -> Option<(&'static str, Duration)> {
        let running = *self.running.lock();
        running.map(|(method, since)| (method, since.elapsed()))
    }

    /// The method that has been running for longer than the timeout, and for how long.
    pub(crate) fn stuck(&self) -> Option<(&'static str, Duration)> {
        self.running()
            .filter(|(_, running_for)| *running_for > self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_waits_for_the_thread() {
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        let worker = Worker::spawn("kotoba-test", move || {
            let _ = rx.recv();
        })
        .unwrap();
        drop(tx);
        worker.join(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn join_gives_up_after_the_deadline() {
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        let worker = Worker::spawn("kotoba-test", move || {
            let _ = rx.recv();
        })
        .unwrap();
        let err = worker.join(Duration::from_millis(10)).unwrap_err();
        assert!(
            matches!(&err, MonitoringError::ShutdownTimeout { thread, .. } if thread == "kotoba-test"),
            "{err}"
        );
        drop(tx); // lets the detached thread end
    }

    #[test]
    fn guarded_reports_the_panic_message() {
        let err = guarded("the tick", || panic!("boom {}", 42)).unwrap_err();
        assert_eq!(err, "the tick panicked: boom 42");
        assert_eq!(guarded("x", || 7), Ok(7));
    }
}
