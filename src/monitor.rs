//! Module implementing the one-call facade. See [`Monitor`] for details.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{MetricsCollector, MonitoringConfig, MonitoringError, PrometheusExporter, Registry};

/// The whole monitoring system behind one value: build it from a configuration, `start()` it,
/// record through handles from its [`registry`](Self::registry), read snapshots and history,
/// `stop()` it (or drop it).
///
/// Today it runs the [`MetricsCollector`] (when `enable_metrics` is set) and the
/// [`PrometheusExporter`] (when `prometheus_config.enabled` is set); health checks and alerting
/// join them as they land, under the same `start`/`stop`.
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
/// let mut config = MonitoringConfig::default();
/// config.prometheus_config.port = 0; // any free port
/// let monitor = Monitor::new(config)?;
/// monitor.start()?;
/// println!("metrics at {}", monitor.exporter().unwrap().metrics_url().unwrap());
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
    collector: Arc<MetricsCollector>,
    exporter: Option<PrometheusExporter>,
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
        let prometheus = config.prometheus_config.clone();
        let collector = Arc::new(MetricsCollector::new(config)?);
        let exporter = if prometheus.enabled {
            Some(PrometheusExporter::new(collector.clone(), prometheus)?)
        } else {
            None
        };
        Ok(Self {
            collector,
            exporter,
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
        if let Some(exporter) = &self.exporter {
            if let Err(e) = exporter.start() {
                let _ = self.collector.stop();
                return Err(e);
            }
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
        let exporter = match &self.exporter {
            Some(exporter) => exporter.stop(),
            None => Ok(()),
        };
        let collector = self.collector.stop();
        exporter.and(collector)
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

    /// The Prometheus exporter, unless `prometheus_config.enabled` is false.
    pub fn exporter(&self) -> Option<&PrometheusExporter> {
        self.exporter.as_ref()
    }

    /// The address the exporter listens on while running (with the real port when port 0 was
    /// configured).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.exporter
            .as_ref()
            .and_then(PrometheusExporter::local_addr)
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
