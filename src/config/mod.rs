//! Module implementing the configuration: [`MonitoringConfig`] and its sections, one file each
//! with its own `validate`, loading from TOML and the environment.
//!
//! - `prometheus`: [`PrometheusConfig`] and [`HttpAuth`];
//! - `health`: [`HealthCheckConfig`];
//! - `alerting`: [`AlertingConfig`], [`AlertRule`] and its threshold and severity;
//! - `notification`: [`NotificationConfig`] and the typed settings of each channel;
//! - `load`: reading TOML, with errors that never quote a secret;
//! - `env`: the environment variables, in one table;
//! - `storage`: [`StorageConfig`], the folder kept across restarts;
//! - `exemplars`: [`ExemplarConfig`], exemplars and the slow-query log;
//! - `anomaly`: [`AnomalyDetectionConfig`], the series watched for anomalies;
//! - `remote_write`: [`RemoteWriteConfig`], the stores samples are shipped to;
//! - `url`: URLs checked, and named without their credentials;
//! - `duration`: durations written as `"15s"`, `"5m"`.

mod alerting;
mod anomaly;
mod duration;
mod env;
mod exemplars;
mod health;
mod load;
mod matcher;
mod notification;
mod prometheus;
mod remote_write;
mod routing;
mod storage;
mod url;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::MonitoringError;

pub use alerting::{AlertRule, AlertSeverity, AlertThreshold, AlertingConfig, FlapDetection};
pub use anomaly::{AnomalyDetectionConfig, ForecastConfig, DEFAULT_ANOMALY_WATCH};
pub use env::{
    ENV_ALERT_EMAIL_SMTP, ENV_ALERT_SLACK_WEBHOOK, ENV_METRICS_BEARER_TOKEN, ENV_METRICS_PATH,
    ENV_METRICS_PORT, ENV_VARIABLES,
};
pub use exemplars::{ExemplarConfig, ExemplarSelection};
pub use health::HealthCheckConfig;
pub(crate) use matcher::all_match;
pub use matcher::Matcher;
pub use notification::{
    AlertmanagerChannel, Channel, Delivery, EmailChannel, NotificationConfig, NotificationType,
    PagerDutyChannel, Secret, SlackChannel, SmtpSecurity, WebhookChannel,
};
pub use prometheus::{HttpAuth, PrometheusConfig};
pub use remote_write::{
    Authorization, BasicAuth, MetadataConfig, QueueConfig, RelabelAction, RelabelConfig,
    RemoteWriteConfig,
};
pub use routing::{InhibitRuleConfig, RouteConfig};
pub(crate) use routing::{DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL};
pub use storage::StorageConfig;
pub(crate) use url::{check_url, without_userinfo};

/// Everything the monitor needs to know, with the kotoba-monitoring 0.1.21 API's fields and
/// defaults.
///
/// Build it in code with `..Default::default()`, from TOML with
/// [`from_toml_str`](Self::from_toml_str) / [`from_toml_file`](Self::from_toml_file), or with
/// [`load`](Self::load), which layers, lowest first: the defaults, the file, the environment
/// (the variables in [`ENV_VARIABLES`]). Fields set in code after loading win over all three.
///
/// In TOML, durations are written with a unit (`"15s"`, `"5m"`, `"1h30m"`), every field is
/// optional, and an unknown field is an error (a typo should not go unnoticed).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use kotoba_monitoring::MonitoringConfig;
///
/// let config = MonitoringConfig::from_toml_str(r#"
///     collection_interval = "10s"
///     retention_period = "2h"
///
///     [prometheus_config]
///     port = 0               # any free port
///
///     [prometheus_config.global_labels]
///     cluster = "production"
/// "#)?;
/// assert_eq!(config.collection_interval, Duration::from_secs(10));
/// assert_eq!(config.health_check_interval, Duration::from_secs(30)); // default
/// assert_eq!(config.prometheus_config.global_labels["cluster"], "production");
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Collect metrics and keep history. Defaults to `true`.
    pub enable_metrics: bool,
    /// Run health checks. Defaults to `true`.
    pub enable_health_checks: bool,
    /// How often the collector takes a sample of every series. Defaults to 15 seconds.
    #[serde(with = "duration")]
    pub collection_interval: Duration,
    /// How often health checks run. Defaults to 30 seconds.
    #[serde(with = "duration")]
    pub health_check_interval: Duration,
    /// How long history is kept. Defaults to 3600 seconds.
    #[serde(with = "duration")]
    pub retention_period: Duration,
    /// The most points one series keeps in history. Defaults to `10000`.
    pub max_metrics_points: usize,
    /// The most label sets one metric may hold; new ones past it are refused and counted.
    /// Defaults to `2000`.
    pub max_series_per_metric: usize,
    /// The most metric names (families) the collector's registry may hold; new names past it
    /// are refused and counted in `kotoba_monitoring_families_rejected_total`, so that
    /// `record_metric` with ever-new names cannot exhaust memory. Defaults to `2000`.
    pub max_metric_families: usize,
    /// The most series (label sets) all metrics together may hold; new ones past it are
    /// refused and counted. Defaults to `100000`.
    pub max_total_series: usize,
    /// The recent window of latency histograms ("p99 over the last minute"). Defaults to 60
    /// seconds.
    #[serde(with = "duration")]
    pub latency_window: Duration,
    /// How far back a PromQL selector looks for a sample (Prometheus's
    /// `--query.lookback-delta`). Defaults to 5 minutes.
    #[serde(with = "duration")]
    pub query_lookback: Duration,
    /// The capacity of the `record_metric` queue, at most 1,048,576 (its memory is taken
    /// up front). Defaults to `65536`.
    pub ingest_queue_capacity: usize,
    /// What `record_metric` does when the queue is full. Defaults to [`OverflowPolicy::Drop`].
    pub ingest_overflow: OverflowPolicy,
    /// How long `stop()` waits for each background thread. Defaults to 5 seconds.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// How long a call into the monitored database (its metrics, on `kotoba-db`) may take.
    /// A call past it is reported and the rest of the collection goes on; while it has not
    /// returned the database is not called again. Defaults to 5 seconds.
    #[serde(with = "duration")]
    pub database_timeout: Duration,
    /// The Prometheus endpoint.
    pub prometheus_config: PrometheusConfig,
    /// Thresholds and limits of the built-in health checks.
    pub health_config: HealthCheckConfig,
    /// Alert rules and where notifications go.
    pub alerting_config: AlertingConfig,
    /// Where the history, alert state and the notification log are kept across restarts
    /// (`[storage]`). Defaults to nowhere: everything stays in memory.
    pub storage: StorageConfig,
    /// Which instrumented queries keep their trace as an exemplar, and the slow-query log
    /// (`[exemplars]`). Defaults to slow queries, 100 remembered.
    pub exemplars: ExemplarConfig,
    /// The series watched for anomalies (`[anomaly_detection]`). Off by default.
    pub anomaly_detection: AnomalyDetectionConfig,
    /// Stores every sample of the history is shipped to with Prometheus remote write
    /// (`[[remote_write]]`), each on a thread of its own. Defaults to none.
    pub remote_write: Vec<RemoteWriteConfig>,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            enable_metrics: true,
            enable_health_checks: true,
            collection_interval: Duration::from_secs(15),
            health_check_interval: Duration::from_secs(30),
            retention_period: Duration::from_secs(3600),
            max_metrics_points: 10_000,
            max_series_per_metric: 2000,
            max_metric_families: 2000,
            max_total_series: 100_000,
            latency_window: Duration::from_secs(60),
            query_lookback: Duration::from_secs(300),
            ingest_queue_capacity: 65_536,
            ingest_overflow: OverflowPolicy::Drop,
            shutdown_timeout: Duration::from_secs(5),
            database_timeout: Duration::from_secs(5),
            prometheus_config: PrometheusConfig::default(),
            health_config: HealthCheckConfig::default(),
            alerting_config: AlertingConfig::default(),
            storage: StorageConfig::default(),
            exemplars: ExemplarConfig::default(),
            anomaly_detection: AnomalyDetectionConfig::default(),
            remote_write: Vec::new(),
        }
    }
}

/// What `record_metric` does when its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowPolicy {
    /// Drop the sample and count it in `kotoba_monitoring_samples_dropped_total`; the caller
    /// never waits. The default: monitoring must not slow the database down.
    #[default]
    Drop,
    /// Wait for room (backpressure). The caller blocks while the ingest thread catches up.
    Block,
}

impl MonitoringConfig {
    /// Checks that every field holds a value that can work.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] naming the first field that cannot work and how to fix
    /// it: zero intervals, retention shorter than the collection interval, zero capacities, a
    /// path without a leading `/`, an address that is neither an IP address nor a host name,
    /// invalid global label names, alert rules without a name, query or interval, duplicate rule
    /// names, notifications missing a required setting.
    ///
    /// # Examples
    ///
    /// ```
    /// use kotoba_monitoring::MonitoringConfig;
    ///
    /// let mut config = MonitoringConfig::default();
    /// config.prometheus_config.path = "metrics".into();
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.field(), Some("prometheus_config.path"));
    /// assert!(err.to_string().contains("start with '/'"));
    /// ```
    pub fn validate(&self) -> Result<(), MonitoringError> {
        for (field, value) in [
            ("collection_interval", self.collection_interval),
            ("health_check_interval", self.health_check_interval),
            ("retention_period", self.retention_period),
            ("latency_window", self.latency_window),
            ("query_lookback", self.query_lookback),
            ("shutdown_timeout", self.shutdown_timeout),
            ("database_timeout", self.database_timeout),
        ] {
            if value.is_zero() {
                return Err(MonitoringError::config(
                    field,
                    "must be longer than zero, for example \"15s\"",
                ));
            }
        }
        if self.retention_period < self.collection_interval {
            return Err(MonitoringError::config(
                "retention_period",
                format!(
                    "{:?} is shorter than collection_interval {:?}, so no history would be kept; make it at least as long",
                    self.retention_period, self.collection_interval
                ),
            ));
        }
        for (field, value) in [
            ("max_metrics_points", self.max_metrics_points),
            ("max_series_per_metric", self.max_series_per_metric),
            ("max_metric_families", self.max_metric_families),
            ("max_total_series", self.max_total_series),
            ("ingest_queue_capacity", self.ingest_queue_capacity),
        ] {
            if value == 0 {
                return Err(MonitoringError::config(field, "must be at least 1"));
            }
        }
        if self.ingest_queue_capacity > MAX_INGEST_QUEUE {
            return Err(MonitoringError::config(
                "ingest_queue_capacity",
                format!(
                    "{} is more than the {MAX_INGEST_QUEUE} allowed; the queue's memory is taken when the collector is made, and the default {} absorbs bursts of a million values a second",
                    self.ingest_queue_capacity,
                    MonitoringConfig::default().ingest_queue_capacity
                ),
            ));
        }
        self.prometheus_config.validate()?;
        self.health_config.validate()?;
        self.storage.validate()?;
        self.exemplars.validate()?;
        self.anomaly_detection.validate()?;
        let mut names = std::collections::HashSet::new();
        for (i, remote) in self.remote_write.iter().enumerate() {
            let field = format!("remote_write[{i}]");
            remote.validate(&field)?;
            if !names.insert(remote.resolved_name()) {
                return Err(MonitoringError::config(
                    format!("{field}.name"),
                    format!(
                        "{:?} names another endpoint too; give each a name of its own",
                        remote.resolved_name()
                    ),
                ));
            }
        }
        self.alerting_config.validate()
    }
}

/// The largest `ingest_queue_capacity`: the channel allocates every slot up front.
const MAX_INGEST_QUEUE: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_are_the_0_1_21_apis() {
        let c = MonitoringConfig::default();
        assert!(c.enable_metrics && c.enable_health_checks);
        assert_eq!(c.collection_interval, Duration::from_secs(15));
        assert_eq!(c.health_check_interval, Duration::from_secs(30));
        assert_eq!(c.retention_period, Duration::from_secs(3600));
        assert_eq!(c.max_metrics_points, 10_000);
        let p = &c.prometheus_config;
        assert!(p.enabled);
        assert_eq!(
            (p.address.as_str(), p.port, p.path.as_str()),
            ("127.0.0.1", 9090, "/metrics")
        );
        assert!(!c.alerting_config.enabled);
        assert!(c.validate().is_ok());
    }

    fn invalid(change: impl FnOnce(&mut MonitoringConfig)) -> MonitoringError {
        let mut c = MonitoringConfig::default();
        change(&mut c);
        c.validate().expect_err("should be refused")
    }

    #[test]
    fn nonsense_is_refused_naming_the_field() {
        type Change = Box<dyn FnOnce(&mut MonitoringConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|c| c.collection_interval = Duration::ZERO),
                "collection_interval",
            ),
            (
                Box::new(|c| c.health_check_interval = Duration::ZERO),
                "health_check_interval",
            ),
            (
                Box::new(|c| c.retention_period = Duration::from_secs(5)),
                "retention_period",
            ),
            (Box::new(|c| c.max_metrics_points = 0), "max_metrics_points"),
            (
                Box::new(|c| c.ingest_queue_capacity = 0),
                "ingest_queue_capacity",
            ),
            (
                Box::new(|c| c.ingest_queue_capacity = 1 << 40),
                "ingest_queue_capacity",
            ),
            (
                Box::new(|c| c.prometheus_config.path = "metrics".into()),
                "prometheus_config.path",
            ),
            (
                Box::new(|c| c.prometheus_config.path = "/a b".into()),
                "prometheus_config.path",
            ),
            (
                Box::new(|c| c.prometheus_config.address = "not an address".into()),
                "prometheus_config.address",
            ),
            (
                Box::new(|c| c.prometheus_config.address = String::new()),
                "prometheus_config.address",
            ),
            (
                Box::new(|c| {
                    c.prometheus_config
                        .global_labels
                        .insert("__bad".into(), "x".into());
                }),
                "prometheus_config.global_labels",
            ),
            (
                Box::new(|c| {
                    c.alerting_config.notifications.push(NotificationConfig {
                        notification_type: NotificationType::Slack,
                        config: HashMap::new(),
                    })
                }),
                "alerting_config.notifications[0].config.webhook_url",
            ),
        ];
        for (change, field) in cases {
            let e = invalid(change);
            assert_eq!(e.field(), Some(field), "{e}");
        }
    }

    fn rule(name: &str) -> AlertRule {
        AlertRule {
            name: name.into(),
            description: "d".into(),
            query: "up == 0".into(),
            threshold: AlertThreshold::Equal(0.0),
            evaluation_interval: Duration::from_secs(30),
            severity: AlertSeverity::Critical,
            labels: HashMap::new(),
            recovery: None,
        }
    }

    #[test]
    fn rules_are_checked() {
        let e = invalid(|c| c.alerting_config.rules = vec![rule("a"), rule("a")]);
        assert_eq!(e.field(), Some("alerting_config.rules[1].name"));
        let e = invalid(|c| {
            let mut r = rule("a");
            r.evaluation_interval = Duration::ZERO;
            c.alerting_config.rules = vec![r];
        });
        assert_eq!(
            e.field(),
            Some("alerting_config.rules[0].evaluation_interval")
        );
        let e = invalid(|c| {
            let mut r = rule("a");
            r.threshold = AlertThreshold::GreaterThan(f64::NAN);
            c.alerting_config.rules = vec![r];
        });
        assert_eq!(e.field(), Some("alerting_config.rules[0].threshold"));
        let e = invalid(|c| {
            let mut r = rule("a");
            r.query = "rate(system_cpu_usage_percent[5m] > 80".into();
            c.alerting_config.rules = vec![r];
        });
        assert!(matches!(e, MonitoringError::Query(_)), "{e}");
        assert_eq!(e.field(), Some("alerting_config.rules[0].query"));
        assert!(e.to_string().contains("unclosed left parenthesis"), "{e}");
    }

    #[test]
    fn host_names_and_ip_addresses_are_accepted() {
        for address in ["0.0.0.0", "::1", "localhost", "db-1.internal"] {
            let mut c = MonitoringConfig::default();
            c.prometheus_config.address = address.into();
            assert!(c.validate().is_ok(), "{address}");
        }
    }
}
