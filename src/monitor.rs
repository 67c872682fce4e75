//! Module implementing the one-call facade. See [`Monitor`] for details.

use parking_lot::Mutex;

use crate::{MetricsCollector, MonitoringConfig, MonitoringError, Registry};

/// The whole monitoring system behind one value: build it from a configuration, `start()` it,
/// record through handles from its [`registry`](Self::registry), read snapshots and history,
/// `stop()` it (or drop it).
///
/// Today it runs the [`MetricsCollector`] (when `enable_metrics` is set); the exporter, health
/// checks and alerting join it as they land, under the same `start`/`stop`.
///
/// # About threads
///
/// `Monitor` is `Send + Sync`; every method takes `&self`, so it can sit in an `Arc` shared by
/// the database's threads. Handles taken from its registry stay valid after `stop()`; they only
/// stop being copied into history.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::{Monitor, MonitoringConfig};
///
/// let monitor = Monitor::new(MonitoringConfig::default())?;
/// monitor.start()?;
///
/// let latency = monitor.registry().histogram(
///     "kotoba_db_query_latency_seconds",
///     "Time to execute a query.",
///     &[("op", "get")],
/// )?;
/// latency.observe(0.002);
/// latency.observe(0.004);
/// let recent = latency.window_snapshot();
/// assert_eq!(recent.count, 2);
/// println!("p99 over the last minute: {:.3} ms", recent.p99 * 1e3);
///
/// monitor.stop()?;
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug)]
pub struct Monitor {
    collector: MetricsCollector,
    /// Serialises `start` and `stop` and remembers which one came last.
    started: Mutex<bool>,
}

impl Monitor {
    /// A stopped monitor for `config`.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] when `config` does not validate.
    pub fn new(config: MonitoringConfig) -> Result<Self, MonitoringError> {
        Ok(Self {
            collector: MetricsCollector::new(config)?,
            started: Mutex::new(false),
        })
    }

    /// Starts every enabled component.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::AlreadyStarted`] when running; otherwise the first component's start
    /// error, after stopping the components already started.
    pub fn start(&self) -> Result<(), MonitoringError> {
        let mut started = self.started.lock();
        if *started {
            return Err(MonitoringError::AlreadyStarted {
                component: "monitor",
            });
        }
        if self.collector.config().enable_metrics {
            self.collector.start()?;
        }
        *started = true;
        Ok(())
    }

    /// Stops every component and joins their threads; does nothing when stopped.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ShutdownTimeout`] when a thread did not end within
    /// `shutdown_timeout`.
    pub fn stop(&self) -> Result<(), MonitoringError> {
        let mut started = self.started.lock();
        *started = false;
        self.collector.stop()
    }

    /// Whether the monitor is started.
    pub fn is_running(&self) -> bool {
        *self.started.lock()
    }

    /// The registry to take counter, gauge and histogram handles from.
    pub fn registry(&self) -> &Registry {
        self.collector.registry()
    }

    /// The metrics collector: `record_metric`, `get_metrics`, history.
    pub fn collector(&self) -> &MetricsCollector {
        &self.collector
    }

    /// The configuration in force.
    pub fn config(&self) -> &MonitoringConfig {
        self.collector.config()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
