//! Module implementing the configuration: [`MonitoringConfig`] and its parts, their defaults,
//! loading from TOML and the environment, and [`MonitoringConfig::validate`].

mod duration;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::LabelSet;
use crate::MonitoringError;

/// Overrides the exporter port (`PrometheusConfig::port`).
pub const ENV_METRICS_PORT: &str = "KOTOBA_METRICS_PORT";
/// Overrides the exporter path (`PrometheusConfig::path`).
pub const ENV_METRICS_PATH: &str = "KOTOBA_METRICS_PATH";
/// Sets `webhook_url` of the Slack notification, adding one if there is none.
pub const ENV_ALERT_SLACK_WEBHOOK: &str = "KOTOBA_ALERT_SLACK_WEBHOOK";
/// Sets `smtp_server` (`host:port`) of the email notification, adding one if there is none.
pub const ENV_ALERT_EMAIL_SMTP: &str = "KOTOBA_ALERT_EMAIL_SMTP";
/// Protects the exporter's endpoints with this bearer token (`PrometheusConfig::auth`), so the
/// secret need not sit in a file.
pub const ENV_METRICS_BEARER_TOKEN: &str = "KOTOBA_METRICS_BEARER_TOKEN";

/// Everything the monitor needs to know, with the seed's fields and defaults.
///
/// Build it in code with `..Default::default()`, from TOML with
/// [`from_toml_str`](Self::from_toml_str) / [`from_toml_file`](Self::from_toml_file), or with
/// [`load`](Self::load), which layers, lowest first: the defaults, the file, the environment
/// (`KOTOBA_METRICS_PORT`, `KOTOBA_METRICS_PATH`, `KOTOBA_ALERT_SLACK_WEBHOOK`,
/// `KOTOBA_ALERT_EMAIL_SMTP`, `KOTOBA_METRICS_BEARER_TOKEN`). Fields set in code after loading
/// win over all three.
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
            ingest_queue_capacity: 65_536,
            ingest_overflow: OverflowPolicy::Drop,
            shutdown_timeout: Duration::from_secs(5),
            database_timeout: Duration::from_secs(5),
            prometheus_config: PrometheusConfig::default(),
            health_config: HealthCheckConfig::default(),
            alerting_config: AlertingConfig::default(),
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

/// The Prometheus endpoint: where it listens, what it adds to every series, and who may read it.
///
/// The seed's five fields plus [`auth`](Self::auth); build it with `..Default::default()` so
/// that fields added later do not break your code.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::{HttpAuth, PrometheusConfig};
///
/// let config = PrometheusConfig {
///     port: 0, // any free port; read it back with `PrometheusExporter::local_addr`
///     auth: Some(HttpAuth::bearer("s3cret")),
///     ..Default::default()
/// };
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Serve the endpoint. Defaults to `true`.
    pub enabled: bool,
    /// The address to listen on. Defaults to `"127.0.0.1"`.
    pub address: String,
    /// The port to listen on; `0` picks any free port. Defaults to `9090`.
    pub port: u16,
    /// The path metrics are served at. Defaults to `"/metrics"`.
    pub path: String,
    /// Labels added to every exported series. A series' own label of the same name wins.
    /// Defaults to none.
    pub global_labels: HashMap<String, String>,
    /// Credentials every endpoint (metrics, health, probes, alerts) requires; requests without
    /// them get `401`. Defaults to none (open). In TOML: `auth = { bearer = { token = "…" } }`
    /// or `auth = { basic = { username = "…", password = "…" } }`.
    pub auth: Option<HttpAuth>,
    /// Export each histogram's recent-window quantiles as the gauge family
    /// `<name>_window<_unit>{q="0.5|0.9|0.95|0.99|0.999"}` beside its buckets. Each histogram
    /// series then adds five series, and each scrape reads the HDR cells of the window. Turn it
    /// off to export only the buckets, `_sum` and `_count`. Defaults to `true`.
    pub window_quantiles: bool,
}

/// Credentials the exporter requires on every request. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpAuth {
    /// `Authorization: Bearer <token>`, as Prometheus sends with `authorization.credentials`.
    Bearer {
        /// The token.
        token: String,
    },
    /// `Authorization: Basic …`, as Prometheus sends with `basic_auth`.
    Basic {
        /// The user name; must not contain `:`.
        username: String,
        /// The password.
        password: String,
    },
}

impl HttpAuth {
    /// Bearer-token authentication.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer {
            token: token.into(),
        }
    }

    /// HTTP basic authentication.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    fn validate(&self) -> Result<(), MonitoringError> {
        let field = "prometheus_config.auth";
        match self {
            Self::Bearer { token } if token.trim().is_empty() => Err(MonitoringError::config(
                field,
                "the bearer token is empty; set a long random token or remove `auth`",
            )),
            Self::Bearer { token } if token.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                Err(MonitoringError::config(
                    field,
                    "the bearer token contains whitespace, which cannot travel in an Authorization header",
                ))
            }
            Self::Basic { username, .. } if username.is_empty() || username.contains(':') => {
                Err(MonitoringError::config(
                    field,
                    "the basic-auth user name must be non-empty and must not contain ':'",
                ))
            }
            Self::Basic { password, .. } if password.is_empty() => Err(MonitoringError::config(
                field,
                "the basic-auth password is empty; set one or remove `auth`",
            )),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            address: "127.0.0.1".to_owned(),
            port: 9090,
            path: "/metrics".to_owned(),
            global_labels: HashMap::new(),
            auth: None,
            window_quantiles: true,
        }
    }
}

/// The health checks' limits and the built-in checks' thresholds. A reading at or above a
/// `*_degraded_percent` makes its check Degraded, at or above `*_unhealthy_percent` Unhealthy.
///
/// In TOML, under `[health_config]`:
///
/// ```
/// let config = kotoba_monitoring::MonitoringConfig::from_toml_str(r#"
///     [health_config]
///     check_timeout = "2s"
///     data_path = "/var/lib/kotoba"
///     disk_degraded_percent = 80.0
///     peers = ["10.0.0.2:7100", "10.0.0.3:7100"]
/// "#)?;
/// assert_eq!(config.health_config.disk_unhealthy_percent, 95.0); // default
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// How long one check may run before it is reported Unhealthy ("timed out"). Defaults to
    /// 5 seconds.
    #[serde(with = "duration")]
    pub check_timeout: Duration,
    /// How many past results [`HealthChecker::history`](crate::HealthChecker::history) keeps.
    /// Defaults to `100`.
    pub history_size: usize,
    /// The database's data directory: the disk check watches the disk holding it. Defaults to
    /// `"."`.
    pub data_path: std::path::PathBuf,
    /// Defaults to `85.0`.
    pub memory_degraded_percent: f64,
    /// Defaults to `95.0`.
    pub memory_unhealthy_percent: f64,
    /// Defaults to `85.0`.
    pub disk_degraded_percent: f64,
    /// Defaults to `95.0`.
    pub disk_unhealthy_percent: f64,
    /// Defaults to `90.0`.
    pub cpu_degraded_percent: f64,
    /// Defaults to `99.0`.
    pub cpu_unhealthy_percent: f64,
    /// A database ping slower than this makes the database check Degraded. Defaults to 100 ms.
    #[serde(with = "duration")]
    pub database_degraded_latency: Duration,
    /// Cluster peers (`host:port`) the network check (feature `cluster`) connects to. Defaults
    /// to none.
    pub peers: Vec<String>,
    /// How long the network check waits for each peer. Defaults to 2 seconds.
    #[serde(with = "duration")]
    pub peer_timeout: Duration,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            check_timeout: Duration::from_secs(5),
            history_size: 100,
            data_path: ".".into(),
            memory_degraded_percent: 85.0,
            memory_unhealthy_percent: 95.0,
            disk_degraded_percent: 85.0,
            disk_unhealthy_percent: 95.0,
            cpu_degraded_percent: 90.0,
            cpu_unhealthy_percent: 99.0,
            database_degraded_latency: Duration::from_millis(100),
            peers: Vec::new(),
            peer_timeout: Duration::from_secs(2),
        }
    }
}

impl HealthCheckConfig {
    /// Checks the thresholds and limits; [`MonitoringConfig::validate`] calls it.
    pub(crate) fn validate(&self) -> Result<(), MonitoringError> {
        let field = |name: &str| format!("health_config.{name}");
        for (name, value) in [
            ("check_timeout", self.check_timeout),
            ("peer_timeout", self.peer_timeout),
        ] {
            if value.is_zero() {
                return Err(MonitoringError::config(
                    field(name),
                    "must be longer than zero, for example \"2s\"",
                ));
            }
        }
        if self.history_size == 0 {
            return Err(MonitoringError::config(
                field("history_size"),
                "must be at least 1",
            ));
        }
        for (what, degraded, unhealthy) in [
            (
                "memory",
                self.memory_degraded_percent,
                self.memory_unhealthy_percent,
            ),
            (
                "disk",
                self.disk_degraded_percent,
                self.disk_unhealthy_percent,
            ),
            ("cpu", self.cpu_degraded_percent, self.cpu_unhealthy_percent),
        ] {
            for (kind, value) in [("degraded", degraded), ("unhealthy", unhealthy)] {
                if !(value > 0.0 && value <= 100.0) {
                    return Err(MonitoringError::config(
                        field(&format!("{what}_{kind}_percent")),
                        format!("{value} is not a percentage in (0, 100]"),
                    ));
                }
            }
            if degraded > unhealthy {
                return Err(MonitoringError::config(
                    field(&format!("{what}_degraded_percent")),
                    format!(
                        "{degraded} is above {what}_unhealthy_percent {unhealthy}; the degraded threshold must come first"
                    ),
                ));
            }
        }
        if let Some(peer) = self.peers.iter().find(|p| {
            p.rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .is_none()
        }) {
            return Err(MonitoringError::config(
                field("peers"),
                format!("{peer:?} is not host:port, for example \"10.0.0.2:7100\""),
            ));
        }
        Ok(())
    }
}

/// Alerting: the rules and the notification channels. Off by default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Evaluate rules and send notifications. Defaults to `false`.
    pub enabled: bool,
    /// The rules. Defaults to none.
    pub rules: Vec<AlertRule>,
    /// Where notifications go. Defaults to none.
    pub notifications: Vec<NotificationConfig>,
}

/// One alert rule: a query over the metrics, a threshold, and what to say when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// A unique, human-readable name ("High CPU Usage").
    pub name: String,
    /// What the alert means.
    pub description: String,
    /// The expression evaluated over the history store (`system_cpu_usage_percent > 80`).
    pub query: String,
    /// The condition on the query's value.
    pub threshold: AlertThreshold,
    /// How often the rule is evaluated.
    #[serde(with = "duration")]
    pub evaluation_interval: Duration,
    /// How serious it is.
    pub severity: AlertSeverity,
    /// Labels attached to the alert.
    #[serde(default)]
    pub labels: HashMap<String, String>,
}

/// The condition an alert rule's value is compared with. In TOML: `{ greater_than = 80.0 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertThreshold {
    /// Fires when the value is above.
    GreaterThan(f64),
    /// Fires when the value is below.
    LessThan(f64),
    /// Fires when the value equals.
    Equal(f64),
    /// Fires when the value differs.
    NotEqual(f64),
}

impl AlertThreshold {
    fn value(self) -> f64 {
        match self {
            Self::GreaterThan(v) | Self::LessThan(v) | Self::Equal(v) | Self::NotEqual(v) => v,
        }
    }
}

/// How serious an alert is. In TOML: `"info"`, `"warning"`, `"error"`, `"critical"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    /// Informational (a version update).
    Info,
    /// A warning condition (high resource usage).
    Warning,
    /// An error condition (service degradation).
    Error,
    /// A critical condition (service down).
    Critical,
}

/// One notification channel and its settings. `Debug` shows the setting names, never their
/// values: webhook URLs, routing keys and passwords are secrets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// The kind of channel.
    pub notification_type: NotificationType,
    /// Its settings; [`NotificationType::required_keys`] lists the ones it must have.
    #[serde(default)]
    pub config: HashMap<String, String>,
}

impl std::fmt::Debug for NotificationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&str> = self.config.keys().map(String::as_str).collect();
        keys.sort_unstable();
        f.debug_struct("NotificationConfig")
            .field("notification_type", &self.notification_type)
            .field("config_keys", &keys)
            .finish_non_exhaustive()
    }
}

/// A kind of notification channel. In TOML: `"email"`, `"slack"`, `"webhook"`, `"pagerduty"`,
/// `"alertmanager"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationType {
    /// SMTP email.
    Email,
    /// A Slack incoming webhook.
    Slack,
    /// A generic HTTP webhook.
    Webhook,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// A Prometheus Alertmanager.
    Alertmanager,
}

impl NotificationType {
    /// The `config` keys this channel cannot work without.
    pub fn required_keys(self) -> &'static [&'static str] {
        match self {
            Self::Email => &["smtp_server", "from", "to"],
            Self::Slack => &["webhook_url"],
            Self::Webhook => &["url"],
            Self::PagerDuty => &["routing_key"],
            Self::Alertmanager => &["url"],
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Slack => "slack",
            Self::Webhook => "webhook",
            Self::PagerDuty => "pagerduty",
            Self::Alertmanager => "alertmanager",
        }
    }
}

/// Words in a key whose value is a credential or a secret URL: on a line holding one, a parse
/// error shows none of the line's values.
const SECRET_KEY_WORDS: [&str; 8] = [
    "token", "password", "secret", "auth", "key", "webhook", "url", "smtp",
];

/// A TOML error as position, key and reason, never quoting the configuration: toml's own
/// `Display` shows the offending line, which may hold a token, and serde's reasons quote the
/// value they refused (``invalid type: string "…"``, ``unknown variant `…` ``), so on a line
/// with a secret-bearing key any quoted text taken from the line's values is left out.
fn parse_error_message(text: &str, e: &toml::de::Error) -> String {
    let reason = e.message().trim_end();
    let Some(span) = e.span() else {
        // No position to look at: show no quoted text at all.
        return redact_quoted(reason, |_| true);
    };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count() + 1);
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let (key, values) = match line_text.split_once('=') {
        Some((k, v)) => (k.trim().trim_matches('"'), v),
        None => ("", line_text),
    };
    let lower = line_text.to_ascii_lowercase();
    let reason = if SECRET_KEY_WORDS.iter().any(|w| lower.contains(w)) {
        redact_quoted(reason, |quoted| values.contains(quoted))
    } else {
        reason.to_owned()
    };
    let is_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if is_key {
        format!("line {line}, column {column} (key `{key}`): {reason}")
    } else {
        format!("line {line}, column {column}: {reason}")
    }
}

/// `reason` with each text between double quotes or backticks that `hide` picks replaced by
/// `…`.
fn redact_quoted(reason: &str, hide: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[open] as char;
        let Some(len) = rest[open + 1..].find(quote) else {
            break;
        };
        let quoted = &rest[open + 1..open + 1 + len];
        out.push_str(&rest[..=open]);
        out.push_str(if hide(quoted) { "…" } else { quoted });
        out.push(quote);
        rest = &rest[open + 2 + len..];
    }
    out.push_str(rest);
    out
}

impl MonitoringConfig {
    /// Parses a TOML text and validates the result. Fields not in the text keep their defaults.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ConfigParse`] with the line and column for text that is not valid
    /// TOML or has an unknown field or wrong type; [`MonitoringError::InvalidConfig`] for values
    /// [`validate`](Self::validate) refuses.
    pub fn from_toml_str(text: &str) -> Result<Self, MonitoringError> {
        let config: Self = toml::from_str(text).map_err(|e| MonitoringError::ConfigParse {
            path: None,
            message: parse_error_message(text, &e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file, as [`from_toml_str`](Self::from_toml_str).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Io`] when the file cannot be read, and as
    /// [`from_toml_str`](Self::from_toml_str), with the path.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, MonitoringError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| MonitoringError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            MonitoringError::ConfigParse { message, .. } => MonitoringError::ConfigParse {
                path: Some(path.to_owned()),
                message,
            },
            other => other,
        })
    }

    /// The defaults, or `file` when given, then the environment overrides, validated: the
    /// documented precedence in one call.
    ///
    /// # Errors
    ///
    /// As [`from_toml_file`](Self::from_toml_file) and [`apply_env`](Self::apply_env).
    pub fn load(file: Option<&Path>) -> Result<Self, MonitoringError> {
        let mut config = match file {
            Some(path) => Self::from_toml_file(path)?,
            None => Self::default(),
        };
        config.apply_env()?;
        config.validate()?;
        Ok(config)
    }

    /// Applies `KOTOBA_METRICS_PORT`, `KOTOBA_METRICS_PATH`, `KOTOBA_ALERT_SLACK_WEBHOOK` and
    /// `KOTOBA_ALERT_EMAIL_SMTP` from the process environment over the current values.
    ///
    /// # Errors
    ///
    /// As [`apply_env_from`](Self::apply_env_from).
    pub fn apply_env(&mut self) -> Result<(), MonitoringError> {
        self.apply_env_from(|key| std::env::var(key).ok())
    }

    /// Applies the environment overrides read through `lookup` (so tests and embedders can
    /// supply their own environment). Variables that are unset or empty change nothing.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] naming the variable when `KOTOBA_METRICS_PORT` is not
    /// a port number; the configuration is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use kotoba_monitoring::MonitoringConfig;
    ///
    /// let env = HashMap::from([("KOTOBA_METRICS_PORT", "9100")]);
    /// let mut config = MonitoringConfig::default();
    /// config.apply_env_from(|k| env.get(k).map(|v| v.to_string()))?;
    /// assert_eq!(config.prometheus_config.port, 9100);
    /// # Ok::<(), kotoba_monitoring::MonitoringError>(())
    /// ```
    pub fn apply_env_from(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), MonitoringError> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let port = match get(ENV_METRICS_PORT) {
            Some(text) => Some(text.trim().parse::<u16>().map_err(|_| {
                MonitoringError::config(
                    ENV_METRICS_PORT,
                    format!("{text:?} is not a port number; use 0 to 65535 (0 picks a free port)"),
                )
            })?),
            None => None,
        };
        if let Some(port) = port {
            self.prometheus_config.port = port;
        }
        if let Some(path) = get(ENV_METRICS_PATH) {
            self.prometheus_config.path = path.trim().to_owned();
        }
        if let Some(token) = get(ENV_METRICS_BEARER_TOKEN) {
            self.prometheus_config.auth = Some(HttpAuth::bearer(token.trim()));
        }
        if let Some(url) = get(ENV_ALERT_SLACK_WEBHOOK) {
            self.notification_mut(NotificationType::Slack)
                .insert("webhook_url".to_owned(), url.trim().to_owned());
        }
        if let Some(server) = get(ENV_ALERT_EMAIL_SMTP) {
            self.notification_mut(NotificationType::Email)
                .insert("smtp_server".to_owned(), server.trim().to_owned());
        }
        Ok(())
    }

    fn notification_mut(&mut self, kind: NotificationType) -> &mut HashMap<String, String> {
        let notifications = &mut self.alerting_config.notifications;
        let index = match notifications
            .iter()
            .position(|n| n.notification_type == kind)
        {
            Some(i) => i,
            None => {
                notifications.push(NotificationConfig {
                    notification_type: kind,
                    config: HashMap::new(),
                });
                notifications.len() - 1
            }
        };
        &mut notifications[index].config
    }

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
        self.alerting_config.validate()
    }
}

/// The largest `ingest_queue_capacity`: the channel allocates every slot up front.
const MAX_INGEST_QUEUE: usize = 1 << 20;

/// Label names the exposition writes itself, so a global label may not take them.
const RESERVED_GLOBAL_LABELS: [&str; 3] = ["le", "quantile", "q"];

impl PrometheusConfig {
    /// Checks the exporter's fields; [`MonitoringConfig::validate`] calls it.
    pub(crate) fn validate(&self) -> Result<(), MonitoringError> {
        let address = self.address.trim();
        let is_host_name = !address.is_empty()
            && address.len() <= 253
            && address.split('.').all(|part| {
                !part.is_empty()
                    && !part.starts_with('-')
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if address.parse::<IpAddr>().is_err() && !is_host_name {
            return Err(MonitoringError::config(
                "prometheus_config.address",
                format!(
                    "{:?} is neither an IP address nor a host name; use \"127.0.0.1\" for this machine only or \"0.0.0.0\" for all interfaces",
                    self.address
                ),
            ));
        }
        let path = &self.path;
        if !path.starts_with('/') {
            return Err(MonitoringError::config(
                "prometheus_config.path",
                format!("{path:?} must start with '/', for example \"/metrics\""),
            ));
        }
        if let Some(c) = path
            .chars()
            .find(|c| c.is_whitespace() || matches!(c, '?' | '#'))
        {
            return Err(MonitoringError::config(
                "prometheus_config.path",
                format!("{path:?} contains {c:?}; a path has no spaces, query or fragment"),
            ));
        }
        let labels: Vec<(&str, &str)> = self
            .global_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        LabelSet::new("global_labels", &labels).map_err(|e| {
            MonitoringError::config("prometheus_config.global_labels", e.to_string())
        })?;
        if let Some(reserved) = RESERVED_GLOBAL_LABELS
            .iter()
            .find(|r| self.global_labels.contains_key(**r))
        {
            return Err(MonitoringError::config(
                "prometheus_config.global_labels",
                format!(
                    "{reserved:?} is reserved: histograms export `le`, summaries `quantile`, and the recent-window gauges `q`; choose another name"
                ),
            ));
        }
        if let Some(auth) = &self.auth {
            auth.validate()?;
        }
        Ok(())
    }
}

impl AlertingConfig {
    fn validate(&self) -> Result<(), MonitoringError> {
        let mut names = HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let field = |name: &str| format!("alerting_config.rules[{i}].{name}");
            if rule.name.trim().is_empty() {
                return Err(MonitoringError::config(
                    field("name"),
                    "a rule needs a name",
                ));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(MonitoringError::config(
                    field("name"),
                    format!(
                        "{:?} is used by another rule; rule names must be unique",
                        rule.name
                    ),
                ));
            }
            if rule.query.trim().is_empty() {
                return Err(MonitoringError::config(
                    field("query"),
                    "a rule needs a query, for example \"system_cpu_usage_percent > 80\"",
                ));
            }
            if rule.evaluation_interval.is_zero() {
                return Err(MonitoringError::config(
                    field("evaluation_interval"),
                    "must be longer than zero, for example \"30s\"",
                ));
            }
            if !rule.threshold.value().is_finite() {
                return Err(MonitoringError::config(
                    field("threshold"),
                    "the threshold must be a finite number",
                ));
            }
            let labels: Vec<(&str, &str)> = rule
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            LabelSet::new(&rule.name, &labels)
                .map_err(|e| MonitoringError::config(field("labels"), e.to_string()))?;
        }
        for (i, notification) in self.notifications.iter().enumerate() {
            let kind = notification.notification_type;
            for key in kind.required_keys() {
                if notification
                    .config
                    .get(*key)
                    .is_none_or(|v| v.trim().is_empty())
                {
                    return Err(MonitoringError::config(
                        format!("alerting_config.notifications[{i}].config.{key}"),
                        format!("a {} notification needs `{key}`", kind.as_str()),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
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
