//! Module implementing the thread each check runs on, and the timeout around a run.
//! See [`Runner`] for details.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::{HealthCheck, HealthCheckResult, HealthStatus};
use crate::worker::{guarded, Worker};
use crate::MonitoringError;

/// One check's own thread (`kotoba-check`). A run that outlives its timeout is reported and
/// left to finish; until it does, the check is not started again, so a check that keeps
/// hanging costs one thread, not one per tick.
///
/// Dropping a runner (an unregistered check) closes its queue, which ends the thread once its
/// current run returns; a hung run is left to finish on its own.
pub(crate) struct Runner {
    name: String,
    requests: Sender<Sender<HealthCheckResult>>,
    /// Set while a run is in progress on the thread.
    busy: Arc<AtomicBool>,
    worker: Worker,
}

/// A run that was started; [`wait`](Self::wait) for its result.
pub(crate) enum Pending {
    Started {
        name: String,
        reply: Receiver<HealthCheckResult>,
        started: Instant,
    },
    /// The result is known without running (still busy from a timed-out run).
    Done(HealthCheckResult),
}

impl Runner {
    /// Starts the thread for `check`, registered as `name`.
    pub(crate) fn spawn(name: &str, check: Arc<dyn HealthCheck>) -> Result<Self, MonitoringError> {
        let (tx, rx) = crossbeam_channel::unbounded::<Sender<HealthCheckResult>>();
        let busy = Arc::new(AtomicBool::new(false));
        let worker = {
            let (busy, name) = (busy.clone(), name.to_owned());
            Worker::spawn("kotoba-check", move || {
                while let Ok(reply) = rx.recv() {
                    let started = Instant::now();
                    let mut result =
                        guarded(&format!("health check {name:?}"), || check.check_health())
                            .unwrap_or_else(|message| {
                                HealthCheckResult::new(
                                    &name,
                                    HealthStatus::Unhealthy,
                                    message,
                                    started.elapsed(),
                                )
                            });
                    // The registered name is the one that counts.
                    result.name.clone_from(&name);
                    busy.store(false, Ordering::SeqCst);
                    let _ = reply.send(result);
                }
            })?
        };
        Ok(Self {
            name: name.to_owned(),
            requests: tx,
            busy,
            worker,
        })
    }

    /// Starts a run, unless the last one has not returned yet.
    pub(crate) fn start(&self) -> Pending {
        if self.busy.swap(true, Ordering::SeqCst) {
            return Pending::Done(HealthCheckResult::new(
                &self.name,
                HealthStatus::Unhealthy,
                "still running from an earlier run that timed out; not started again until it returns",
                Duration::ZERO,
            ));
        }
        let (reply_tx, reply) = crossbeam_channel::bounded(1);
        if self.requests.send(reply_tx).is_err() {
            self.busy.store(false, Ordering::SeqCst);
            return Pending::Done(HealthCheckResult::new(
                &self.name,
                HealthStatus::Unhealthy,
                "its thread has ended",
                Duration::ZERO,
            ));
        }
        Pending::Started {
            name: self.name.clone(),
            reply,
            started: Instant::now(),
        }
    }

    /// Ends the thread, waiting at most `timeout` for a run in progress.
    pub(crate) fn stop(self, timeout: Duration) -> Result<(), MonitoringError> {
        drop(self.requests);
        self.worker.join(timeout)
    }
}

impl Pending {
    /// The run's result, or Unhealthy "timed out" once `deadline` has passed.
    pub(crate) fn wait(self, deadline: Instant, timeout: Duration) -> HealthCheckResult {
        match self {
            Pending::Done(result) => result,
            Pending::Started {
                name,
                reply,
                started,
            } => match reply.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(result) => result,
                Err(RecvTimeoutError::Timeout) => HealthCheckResult::new(
                    name,
                    HealthStatus::Unhealthy,
                    format!("timed out after {timeout:?}"),
                    started.elapsed(),
                ),
                Err(RecvTimeoutError::Disconnected) => HealthCheckResult::new(
                    name,
                    HealthStatus::Unhealthy,
                    "its thread ended during the run",
                    started.elapsed(),
                ),
            },
        }
    }
}
