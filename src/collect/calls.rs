//! Module implementing the thread the monitored database is called on, with a timeout around
//! each call. See [`DatabaseCalls`] for details.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::worker::{guarded, CallWatch, Worker};
use crate::{MonitoredDatabase, MonitoringError};

/// The thread's name.
const THREAD: &str = "kotoba-db";

/// A job for the database thread.
type Job = Box<dyn FnOnce() + Send>;

/// Calls the monitored database on a thread of its own (`kotoba-db`, started at the first
/// call) and waits at most `timeout` for each answer, so that a hung database costs that one
/// thread and never the collector's tick or a caller of `performance_metrics()`.
///
/// While a call that timed out has not returned, no new call is made: callers get the hang
/// reported at once. So a database that keeps hanging holds one thread, not one per tick.
pub(crate) struct DatabaseCalls {
    db: Arc<dyn MonitoredDatabase>,
    watch: Arc<CallWatch>,
    /// The thread and its queue; `None` until the first call and after `stop`.
    thread: Mutex<Option<(Sender<Job>, Worker)>>,
}

impl std::fmt::Debug for DatabaseCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseCalls")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

/// Why a call gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NoAnswer(pub(crate) String);

impl DatabaseCalls {
    pub(crate) fn new(db: Arc<dyn MonitoredDatabase>, timeout: Duration) -> Self {
        Self {
            db,
            watch: Arc::new(CallWatch::new(timeout)),
            thread: Mutex::new(None),
        }
    }

    pub(crate) fn database(&self) -> &Arc<dyn MonitoredDatabase> {
        &self.db
    }

    /// What the database thread is doing, for the database health check.
    pub(crate) fn watch(&self) -> &Arc<CallWatch> {
        &self.watch
    }

    /// Runs `f` with the database on `kotoba-db` and waits for its answer, at most the
    /// timeout.
    pub(crate) fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn MonitoredDatabase, &CallWatch) -> T + Send + 'static,
    ) -> Result<T, NoAnswer> {
        let timeout = self.watch.timeout;
        if let Some((method, running_for)) = self.watch.stuck() {
            return Err(NoAnswer(format!(
                "{method} has not returned for {:.1} s, past the {:?} timeout; the database is not called again until it does",
                running_for.as_secs_f64(),
                timeout
            )));
        }
        let queue = self.queue()?;
        let (reply_tx, reply) = crossbeam_channel::bounded(1);
        let (db, watch) = (self.db.clone(), self.watch.clone());
        let job: Job = Box::new(move || {
            let _ = reply_tx.send(f(&*db, &watch));
        });
        if queue.send(job).is_err() {
            return Err(NoAnswer("the database thread has ended".to_owned()));
        }
        match reply.recv_timeout(timeout) {
            Ok(answer) => Ok(answer),
            Err(RecvTimeoutError::Timeout) => {
                let method = self.watch.running().map_or("a call", |(method, _)| method);
                Err(NoAnswer(format!(
                    "the database did not answer within {timeout:?}: {method} is still running"
                )))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(NoAnswer("the database call panicked".to_owned()))
            }
        }
    }

    /// The queue of the running thread, started if there is none.
    fn queue(&self) -> Result<Sender<Job>, NoAnswer> {
        let mut thread = self.thread.lock();
        if let Some((queue, _)) = thread.as_ref() {
            return Ok(queue.clone());
        }
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let worker = Worker::spawn(THREAD, move || {
            while let Ok(job) = rx.recv() {
                // Each database method is guarded on its own; this keeps the thread alive
                // whatever else a job does.
                let _ = guarded("a database call", job);
            }
        })
        .map_err(|e| NoAnswer(e.to_string()))?;
        *thread = Some((tx.clone(), worker));
        Ok(tx)
    }

    /// Ends the thread, waiting at most `timeout` for a call in progress; a hung call leaves
    /// it detached, reported as [`MonitoringError::ShutdownTimeout`].
    pub(crate) fn stop(&self, timeout: Duration) -> Result<(), MonitoringError> {
        let Some((queue, worker)) = self.thread.lock().take() else {
            return Ok(());
        };
        drop(queue);
        worker.join(timeout)
    }
}
