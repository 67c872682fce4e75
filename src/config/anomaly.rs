//! The `[anomaly_detection]` section: which series the monitor watches for anomalies. See
//! [`AnomalyDetectionConfig`] for details.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::MonitoringError;

/// What the `kotoba-anomaly` thread watches: each PromQL expression in `watch` is evaluated
/// every `interval` (by default `collection_interval`) over the history, and each series it returns gets a streaming
/// [`AnomalyDetector`](crate::AnomalyDetector) of its own, whose score for the newest sample is
/// published as `kotoba_anomaly_score{…the series' labels…, expr="…"}` (in [0, 1]) on
/// `/metrics` and in the history, so that rules can alert on it, and listed by
/// [`Monitor::anomalies`](crate::Monitor::anomalies) while at or above `threshold`. With
/// `[storage] path`, the detectors and forecasters are saved there at stop and every five
/// minutes and taken back at start.
///
/// ```
/// use kotoba_monitoring::MonitoringConfig;
///
/// let config = MonitoringConfig::from_toml_str(r#"
///     [anomaly_detection]
///     enabled = true
///     watch = ["sum by (operation) (rate(kotoba_db_queries_total[1m]))"]
/// "#)?;
/// assert!(config.anomaly_detection.enabled);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyDetectionConfig {
    /// Whether the monitor runs the detectors. Defaults to `false`.
    pub enabled: bool,
    /// The PromQL expressions to watch, each evaluated as an instant query. Defaults to each
    /// operation's recent p99 latency, queries and errors per second by operation, CPU and
    /// memory use.
    pub watch: Vec<String>,
    /// How often the expressions are evaluated and scored. Defaults to `collection_interval`.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// The score from which a series is listed as anomalous by `Monitor::anomalies`, 0 to 1.
    /// Defaults to 0.4, the detector's own alarm level.
    pub threshold: f64,
    /// Seasonal forecasts (`[[anomaly_detection.forecast]]`): each series an expression
    /// returns gets a [`SeasonalForecaster`](crate::SeasonalForecaster), whose forecast
    /// `horizon` ahead is published as `kotoba_forecast{…the series' labels…, expr="…",
    /// horizon="4h"}` once a whole season has been seen. None by default.
    pub forecast: Vec<ForecastConfig>,
    /// The most series watched at once; a series past it gets no detector (and is counted in
    /// `kotoba_anomaly_series_dropped_total`). Defaults to 1,000 (about 16 MiB of detectors).
    pub max_series: usize,
}

/// A seasonal forecast to publish: see [`AnomalyDetectionConfig::forecast`].
///
/// ```
/// use kotoba_monitoring::MonitoringConfig;
///
/// let config = MonitoringConfig::from_toml_str(r#"
///     [anomaly_detection]
///     enabled = true
///     [[anomaly_detection.forecast]]
///     expr = "system_disk_usage_percent"
///     horizon = "4h"
/// "#)?;
/// assert_eq!(config.anomaly_detection.forecast[0].season.as_secs(), 86_400);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// The PromQL expression whose series are forecast.
    pub expr: String,
    /// How far ahead.
    #[serde(with = "duration")]
    pub horizon: Duration,
    /// How long the series takes to repeat itself. Defaults to a day.
    #[serde(with = "duration", default = "one_day")]
    pub season: Duration,
}

fn one_day() -> Duration {
    Duration::from_secs(86_400)
}

/// The series watched when `watch` is not given.
pub const DEFAULT_ANOMALY_WATCH: [&str; 5] = [
    r#"kotoba_db_query_latency_window_seconds{q="0.99"}"#,
    "sum by (operation) (rate(kotoba_db_queries_total[1m]))",
    "sum by (operation) (rate(kotoba_db_query_errors_total[1m]))",
    "system_cpu_usage_percent",
    "system_memory_usage_percent",
];

impl Default for AnomalyDetectionConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            watch: DEFAULT_ANOMALY_WATCH.map(str::to_owned).to_vec(),
            interval: None,
            forecast: Vec::new(),
            threshold: 0.4,
            max_series: 1_000,
        }
    }
}

impl AnomalyDetectionConfig {
    /// Checks that the fields can work.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] for an expression that is not PromQL, a threshold
    /// outside 0 to 1, or no room for a series.
    pub fn validate(&self) -> Result<(), MonitoringError> {
        for (i, expr) in self.watch.iter().enumerate() {
            crate::promql::parse(expr, Some(format!("anomaly_detection.watch[{i}]")))?;
        }
        for (i, forecast) in self.forecast.iter().enumerate() {
            crate::promql::parse(
                &forecast.expr,
                Some(format!("anomaly_detection.forecast[{i}].expr")),
            )?;
            for (name, value) in [("horizon", forecast.horizon), ("season", forecast.season)] {
                if value.is_zero() {
                    return Err(MonitoringError::config(
                        format!("anomaly_detection.forecast[{i}].{name}"),
                        "must be longer than zero, for example \"4h\" (a horizon) or \"1d\" (a season)",
                    ));
                }
            }
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(MonitoringError::config(
                "anomaly_detection.threshold",
                format!(
                    "{} is not a score; give a number from 0 to 1 (0.4 is the detector's alarm level)",
                    self.threshold
                ),
            ));
        }
        if self.interval.is_some_and(|i| i.is_zero()) {
            return Err(MonitoringError::config(
                "anomaly_detection.interval",
                "must be longer than zero, for example \"15s\" (or left out: collection_interval)",
            ));
        }
        if self.max_series == 0 {
            return Err(MonitoringError::config(
                "anomaly_detection.max_series",
                "must be at least 1, for example 1000",
            ));
        }
        Ok(())
    }
}
