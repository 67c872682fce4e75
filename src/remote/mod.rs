//! Shipping the history to the stores that run at scale: Prometheus remote write to
//! Prometheus, Mimir, Thanos, VictoriaMetrics (pushed), and `/federate` for a central
//! Prometheus (pulled).
//!
//! - `proto`: the remote-write protobuf messages; `relabel`: `write_relabel_configs`;
//! - `sender`: one endpoint's `kotoba-remote-<name>` thread, reading the history from its
//!   own position;
//! - `federate`: the latest sample of each matching series, as Prometheus's `/federate`
//!   serves it.

mod federate;
mod proto;
mod relabel;
mod sender;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use federate::federate;
use sender::Endpoint;
pub use sender::RemoteWriteStatus;

use crate::query::Labels;
use crate::worker::{Stoppable, Worker};
use crate::{HistoryStore, MonitoringConfig, MonitoringError, Registry};

/// The remote-write endpoints of a configuration, each on a thread of its own, so that a
/// slow one delays no other and never the collection.
#[derive(Debug)]
pub(crate) struct RemoteWriter {
    endpoints: Vec<Arc<Endpoint>>,
    running: Stoppable,
}

impl RemoteWriter {
    /// The endpoints of `config.remote_write` over `history`, their metadata from
    /// `registries`, their self-metrics in `registry`; `None` when there are none.
    ///
    /// # Errors
    ///
    /// As registering the self-metrics.
    pub(crate) fn new(
        config: &MonitoringConfig,
        history: &HistoryStore,
        registries: Vec<Registry>,
        registry: &Registry,
    ) -> Result<Option<Self>, MonitoringError> {
        if config.remote_write.is_empty() {
            return Ok(None);
        }
        let mut external: Labels = config
            .prometheus_config
            .global_labels
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        external.sort();
        let endpoints = config
            .remote_write
            .iter()
            .map(|remote| {
                Endpoint::new(
                    remote.clone(),
                    external.clone(),
                    history.clone(),
                    registries.clone(),
                    config.storage.path.clone(),
                    config.retention_period,
                    registry,
                )
                .map(Arc::new)
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Self {
            endpoints,
            running: Stoppable::default(),
        }))
    }

    /// Starts a `kotoba-remote-<name>` thread per endpoint.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::AlreadyStarted`] when running; [`MonitoringError::ThreadSpawn`],
    /// after stopping the threads already started.
    pub(crate) fn start(&self) -> Result<(), MonitoringError> {
        self.running.start("remote write", |stop, workers| {
            for endpoint in &self.endpoints {
                let (endpoint, stop) = (endpoint.clone(), stop.clone());
                let name = format!("kotoba-remote-{}", endpoint.name);
                workers.push(Worker::spawn(name, move || endpoint.run(&stop))?);
            }
            Ok(())
        })
    }

    /// Stops the threads, waiting up to `timeout` for each (a request under way ends
    /// within its `remote_timeout`). What was not sent yet is sent after the next start,
    /// from the position kept under `storage.path`.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ShutdownTimeout`] for a thread that did not end in time.
    pub(crate) fn stop(&self, timeout: Duration) -> Result<(), MonitoringError> {
        self.running.stop(timeout)
    }

    /// Where each endpoint stands.
    pub(crate) fn status(&self) -> Vec<RemoteWriteStatus> {
        self.endpoints.iter().map(|e| e.status()).collect()
    }
}
