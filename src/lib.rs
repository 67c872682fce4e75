//! Monitoring for an embedded database, with no async runtime: metrics with p95/p99 readable in
//! code, a history queried with PromQL, a Prometheus/OpenMetrics endpoint with exemplars,
//! health checks and probes, alerting with notifications, durable storage and remote write,
//! and a built-in dashboard with Grafana dashboards to match.
//!
//! Everything runs on a few named OS threads that talk over crossbeam channels. The database's
//! own threads only touch atomics when they record, with no lock: the first threads to record
//! (one per core, up to 8) each own a shard of every counter and histogram and add to it with
//! plain loads and stores. Recording never blocks on I/O, never allocates once a handle exists,
//! and never panics.
//!
//! # Start a monitor
//!
//! ```
//! use std::time::Duration;
//! use kotoba_monitoring::{Monitor, MonitoringConfig, PrometheusConfig};
//!
//! let config = MonitoringConfig {
//!     collection_interval: Duration::from_secs(15),
//!     // Serve /metrics, /health, /livez, /readyz on any free port of this machine.
//!     prometheus_config: PrometheusConfig { port: 0, ..Default::default() },
//!     ..Default::default()
//! };
//! let monitor = Monitor::new(config)?;
//! monitor.start()?;
//! println!("scrape {}", monitor.exporter().unwrap().metrics_url().unwrap());
//! # monitor.stop()?;
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
//!
//! # Register, then record through handles
//!
//! Get a handle once, when the database opens; the name and labels are checked then. Recording
//! through it does no lookup.
//!
//! ```
//! # let monitor = kotoba_monitoring::Monitor::new(Default::default())?;
//! let registry = monitor.registry();
//! let queries = registry.counter("kotoba_db_queries_total", "Queries executed.", &[("op", "get")])?;
//! let active = registry.gauge("kotoba_db_connections_active", "Open connections.", &[])?;
//! let latency = registry.histogram(
//!     "kotoba_db_query_latency_seconds",
//!     "Query latency.",
//!     &[("op", "get")],
//! )?;
//!
//! active.inc();
//! for _ in 0..3 {
//!     let _timer = latency.start_timer(); // records on drop
//!     queries.inc();
//! }
//! assert_eq!(queries.get(), 3.0);
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
//!
//! # Read latency in code
//!
//! ```
//! # let registry = kotoba_monitoring::Registry::new();
//! # let latency = registry.histogram("kotoba_db_query_latency_seconds", "", &[])?;
//! for us in 1..=1000 {
//!     latency.observe(us as f64 * 1e-6);
//! }
//! let last_minute = latency.window_snapshot();
//! let since_start = latency.snapshot();
//! assert_eq!(since_start.count, 1000);
//! assert!((last_minute.p99 - 990e-6).abs() <= 990e-6 * 0.01);
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
//!
//! # Record ad-hoc samples and query history
//!
//! `record_metric` takes a sample from any thread over a bounded queue; each collection tick
//! copies every series into the history store.
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::Duration;
//! use time::OffsetDateTime;
//! # let mut config = kotoba_monitoring::MonitoringConfig::default();
//! # config.prometheus_config.enabled = false;
//! # let monitor = kotoba_monitoring::Monitor::new(config)?;
//! # monitor.start()?;
//! let collector = monitor.collector();
//! collector.record_metric("replication_lag_seconds", 0.8, HashMap::new())?;
//! collector.flush(Duration::from_secs(5))?;
//! let now = OffsetDateTime::now_utc();
//! let points = collector.get_metrics("replication_lag_seconds", now - Duration::from_secs(3600), now)?;
//! assert_eq!(points.last().map(|p| p.value), Some(0.8));
//! # monitor.stop()?;
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
//!
//! # Serve Prometheus
//!
//! The exporter writes every series with prometheus-client's encoders, in OpenMetrics when the
//! scraper asks for it and in Prometheus text otherwise. See [`PrometheusExporter`] for the
//! endpoints and what the exposition holds.
//!
//! ```
//! use kotoba_monitoring::{ExpositionFormat, Monitor, MonitoringConfig};
//! # let mut config = MonitoringConfig::default();
//! # config.prometheus_config.port = 0;
//! let monitor = Monitor::new(config)?;
//! monitor.registry()
//!     .histogram("kotoba_db_query_latency_seconds", "", &[("op", "get")])?
//!     .observe(0.003);
//! let text = monitor.exporter().unwrap().encode(ExpositionFormat::OpenMetrics)?;
//! assert!(text.contains("# TYPE kotoba_db_query_latency_seconds histogram\n"));
//! assert!(text.contains("# UNIT kotoba_db_query_latency_seconds seconds\n"));
//! assert!(text.contains("kotoba_db_query_latency_seconds_bucket{le=\"0.005\",op=\"get\"} 1\n"));
//! assert!(text.contains("kotoba_db_query_latency_window_seconds{op=\"get\",q=\"0.99\"} 0.003"));
//! assert!(text.ends_with("# EOF\n"));
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
//!
//! # Add a health check
//!
//! The monitor runs the built-in checks (memory, disk, CPU; the database once one is
//! attached) every `health_check_interval`; add your own on its [`HealthChecker`]. Each check
//! runs on its own thread with a timeout, so one that hangs or panics is reported Unhealthy
//! without stalling the others. `/health`, `/livez` and `/readyz` answer from the results.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use kotoba_monitoring::{HealthCheck, HealthCheckResult, HealthStatus, Monitor,
//!     MonitoringConfig};
//!
//! struct ReplicaLag;
//!
//! impl HealthCheck for ReplicaLag {
//!     fn check_health(&self) -> HealthCheckResult {
//!         let started = Instant::now();
//!         let lag = Duration::from_millis(40); // ask the replica
//!         let status = if lag < Duration::from_secs(1) {
//!             HealthStatus::Healthy
//!         } else {
//!             HealthStatus::Degraded
//!         };
//!         HealthCheckResult::new("replica_lag", status, format!("{lag:?} behind"), started.elapsed())
//!             .with_detail("lag_ms", lag.as_millis())
//!     }
//! }
//!
//! # let mut config = MonitoringConfig::default();
//! # config.prometheus_config.enabled = false;
//! let monitor = Monitor::new(config)?;
//! let health = monitor.health().unwrap();
//! health.register_check("replica_lag", Box::new(ReplicaLag))?;
//! let now = health.check_health()?;
//! println!("overall: {}", now.overall_status);
//! assert!(now.checks.iter().any(|c| c.result.name == "replica_lag"
//!     && c.result.status == HealthStatus::Healthy));
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
//!
//! # Configure from a file and the environment
//!
//! [`MonitoringConfig::load`] reads a TOML file, then applies `KOTOBA_METRICS_PORT`,
//! `KOTOBA_METRICS_PATH`, `KOTOBA_METRICS_BEARER_TOKEN`, `KOTOBA_ALERT_SLACK_WEBHOOK` and
//! `KOTOBA_ALERT_EMAIL_SMTP`.
//!
//! # Features
//!
//! - `system` (default): system and process metrics (`system_*`, `process_*`), read with
//!   sysinfo on the collector thread. The built-in memory, disk and CPU health checks use
//!   sysinfo whether or not it is on.
//! - `cluster`: [`ClusterSource`](crate::MetricsCollector::set_cluster_source) for the
//!   `kotoba_cluster_*` metrics, and the `network` health check of the configured peers.
//!
//! # Reference
//!
//! The [`reference`](mod@reference) module holds everything in full, one page per subject:
//! [collection](reference::collection), [the endpoint](reference::endpoint),
//! [dashboards](reference::dashboards), [exemplars](reference::exemplars),
//! [health](reference::health), [PromQL](reference::promql),
//! [configuration](reference::configuration), [alerting](reference::alerting),
//! [notifications](reference::notifications), [anomaly detection](reference::anomaly),
//! [durability](reference::durability), [scaling out](reference::scaling_out) and
//! [precision, memory and limits](reference::limits).
//!
//! # Versioning
//!
//! Semantic versioning; the minimum supported Rust version is 1.95 (sysinfo 0.40's).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod alert;
mod anomaly;
mod clock;
mod collect;
mod config;
mod dashboard;
mod error;
mod gofmt;
mod health;
mod history;
mod http;
mod metrics;
mod monitor;
mod net;
mod notify;
pub mod prometheus_exporter;
mod promql;
mod query;
pub mod reference;
mod remote;
mod storage;
mod trace;
mod worker;

pub use alert::{test_rules_file, ActiveAlert, AlertState, AlertTransition, RulesTestReport};
pub use anomaly::{Anomaly, AnomalyDetector, SeasonalForecaster};
#[cfg(feature = "cluster")]
pub use collect::{ClusterMetrics, ClusterSource};
pub use collect::{
    DatabaseMetrics, MetricsCollector, MonitoredDatabase, PerformanceMetrics, QueryInstruments,
    QueryMetrics, QueryOperation, QueryTimer, SlowQuery, StorageMetrics, SystemMetrics,
};
pub use config::{
    AlertRule, AlertSeverity, AlertThreshold, AlertingConfig, AlertmanagerChannel,
    AnomalyDetectionConfig, Authorization, BasicAuth, Channel, Delivery, EmailChannel,
    ExemplarConfig, ExemplarSelection, FlapDetection, ForecastConfig, HealthCheckConfig, HttpAuth,
    InhibitRuleConfig, MetadataConfig, MonitoringConfig, NotificationConfig, NotificationType,
    OverflowPolicy, PagerDutyChannel, PrometheusConfig, QueueConfig, RelabelAction, RelabelConfig,
    RemoteWriteConfig, RouteConfig, Secret, SlackChannel, SmtpSecurity, StorageConfig,
    WebhookChannel, DEFAULT_ANOMALY_WATCH, ENV_ALERT_EMAIL_SMTP, ENV_ALERT_SLACK_WEBHOOK,
    ENV_METRICS_BEARER_TOKEN, ENV_METRICS_PATH, ENV_METRICS_PORT, ENV_VARIABLES,
};
pub use dashboard::{DashboardPanel, DashboardView, GrafanaDashboard, PanelKind, Unit};
pub use error::MonitoringError;
#[cfg(feature = "cluster")]
pub use health::NetworkCheck;
pub use health::{
    CheckOptions, CheckState, CpuCheck, DatabaseCheck, DiskCheck, HealthCheck, HealthCheckResult,
    HealthChecker, HealthStatus, MemoryCheck, SystemHealth, Thresholds,
};
pub use health::{CheckReport, HealthReport, HealthSource, ProbeStatus};
pub use history::{HistoryStore, LabelMatcher, MetricPoint, Point, ReplayReport, SeriesRange};
pub use http::ExpositionFormat;
pub use metrics::{
    Counter, Exemplar, Family, Gauge, Histogram, HistogramOpts, HistogramSnapshot, HistogramTimer,
    LabelIter, LabelSet, MetricKind, MetricType, Registry, RegistryOptions, LATENCY_BUCKETS,
};
pub use monitor::Monitor;
pub use notify::ChannelStatus;
pub use prometheus_exporter::PrometheusExporter;
pub use query::{QueryError, QuerySample, QuerySeries, QueryValue};
pub use remote::RemoteWriteStatus;
pub use trace::{TraceContext, TraceGuard};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn shared_types_are_send_and_sync() {
        assert_send_sync::<Monitor>();
        assert_send_sync::<MetricsCollector>();
        assert_send_sync::<Registry>();
        assert_send_sync::<Counter>();
        assert_send_sync::<Gauge>();
        assert_send_sync::<Histogram>();
        assert_send_sync::<HistoryStore>();
        assert_send_sync::<MonitoringError>();
    }
}

/// Compiles and runs the README's examples as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
