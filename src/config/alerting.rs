//! Module implementing the alerting configuration: the kotoba-monitoring 0.1.21 API's rules and the
//! notification channels. See [`AlertingConfig`] for details.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use super::{InhibitRuleConfig, NotificationConfig, RouteConfig};
use crate::metrics::LabelSet;
use crate::MonitoringError;

/// Alerting: the rules and the notification channels. Off by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Evaluate rules and send notifications. Defaults to `false`.
    pub enabled: bool,
    /// The rules. Defaults to none.
    pub rules: Vec<AlertRule>,
    /// Prometheus rule files (groups of recording and alerting rules), read as Prometheus
    /// reads them when the monitor is built. Defaults to none.
    pub rule_files: Vec<std::path::PathBuf>,
    /// How often a rule file's group without an `interval` of its own is evaluated
    /// (Prometheus's global `evaluation_interval`). Defaults to 1 minute.
    #[serde(with = "duration")]
    pub evaluation_interval: Duration,
    /// Flap detection for every alerting rule, or `None` (the default) for none.
    pub flap_detection: Option<FlapDetection>,
    /// Hysteresis for any alerting rule, of `rule_files` or `rules`, by its alert name: a
    /// PromQL expression whose result must hold an alert's series (matched by the alert's
    /// labels) before the firing alert resolves, so an alert with `expr: disk_busy > 0.9`
    /// and `DiskBusy = "disk_busy < 0.7"` here fires above 0.9 and resolves below 0.7.
    /// Rule files have no field for it, and stay as Prometheus reads them. A name no rule
    /// has is an error. Defaults to none.
    pub recovery_expressions: BTreeMap<String, String>,
    /// What alert templates read as `$externalURL` (Prometheus's `--web.external-url`):
    /// where people reach the database's dashboards. Defaults to empty.
    pub external_url: String,
    /// Where notifications go. Defaults to none.
    pub notifications: Vec<NotificationConfig>,
    /// Which alerts go to which channels, grouped how: Alertmanager's `route`. Defaults to
    /// every alert to every channel (but Alertmanager ones, which get every alert), in one
    /// group, with Alertmanager's timings.
    pub route: RouteConfig,
    /// Alertmanager's `inhibit_rules`: firing alerts that mute others. Defaults to none.
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// How often a firing alert is sent again to Alertmanagers and to the notifier
    /// (Prometheus's `--rules.alert.resend-delay`). Defaults to 1 minute.
    #[serde(with = "duration")]
    pub resend_delay: Duration,
    /// With `storage.path` set: how long the monitor may have been down for its alerts'
    /// `for` state to be restored at a restart (Prometheus's
    /// `--rules.alert.for-outage-tolerance`). Defaults to 1 hour.
    #[serde(with = "duration")]
    pub for_outage_tolerance: Duration,
    /// With `storage.path` set: the least time a restored pending alert waits before it
    /// fires; rules whose `for` is shorter are not restored and wait their `for` again
    /// (Prometheus's `--rules.alert.for-grace-period`). Defaults to 10 minutes.
    #[serde(with = "duration")]
    pub for_grace_period: Duration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            rules: Vec::new(),
            rule_files: Vec::new(),
            evaluation_interval: Duration::from_secs(60),
            flap_detection: None,
            recovery_expressions: BTreeMap::new(),
            external_url: String::new(),
            notifications: Vec::new(),
            route: RouteConfig::default(),
            inhibit_rules: Vec::new(),
            resend_delay: Duration::from_secs(60),
            for_outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
        }
    }
}

/// One alert rule: a query over the metrics, a threshold, and what to say when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// A unique, human-readable name ("High CPU Usage").
    pub name: String,
    /// What the alert means.
    pub description: String,
    /// The PromQL expression evaluated over the history store (`system_cpu_usage_percent >
    /// 80`); checked when the configuration is validated.
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
    /// Hysteresis: once firing, the alert resolves only when the query's value meets this
    /// condition too (fire above 80 with `threshold`, resolve below 70 with `recovery = {
    /// less_than = 70.0 }`); in between it stays firing. `None` (the default) resolves as
    /// soon as the threshold no longer holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<AlertThreshold>,
}

/// Flap detection as Nagios does it: the weighted percent of state changes over an alert's
/// last 21 evaluations (newer changes weigh more); an alert starts flapping at
/// `start_percent` and stops below `stop_percent`. While it flaps it is marked `flapping`
/// and its notifications are held. In TOML: `flap_detection = { start_percent = 20.0,
/// stop_percent = 5.0 }` (Nagios's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlapDetection {
    /// Flapping starts when the percent of state changes reaches this.
    pub start_percent: f64,
    /// Flapping stops when it falls below this.
    pub stop_percent: f64,
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

impl AlertingConfig {
    pub(crate) fn validate(&self) -> Result<(), MonitoringError> {
        if self.evaluation_interval.is_zero() {
            return Err(MonitoringError::config(
                "alerting_config.evaluation_interval",
                "must be longer than zero, for example \"1m\"",
            ));
        }
        if let Some(flap) = self.flap_detection {
            let valid = flap.stop_percent > 0.0
                && flap.stop_percent < flap.start_percent
                && flap.start_percent <= 100.0;
            if !valid {
                return Err(MonitoringError::config(
                    "alerting_config.flap_detection",
                    format!(
                        "needs 0 < stop_percent < start_percent <= 100, got start {} and stop {}; Nagios uses 20 and 5",
                        flap.start_percent, flap.stop_percent
                    ),
                ));
            }
        }
        for (name, expr) in &self.recovery_expressions {
            let field = format!("alerting_config.recovery_expressions.{name}");
            if expr.trim().is_empty() {
                return Err(MonitoringError::config(
                    field,
                    "needs a PromQL expression, for example \"system_cpu_usage_percent < 70\"",
                ));
            }
            crate::promql::parse(expr, Some(field))?;
        }
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
            crate::promql::parse(&rule.query, Some(field("query")))?;
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
        let mut channels: Vec<String> = Vec::new();
        // Alertmanager channels take every alert; routes name the others.
        let mut routed: Vec<String> = Vec::new();
        for (i, notification) in self.notifications.iter().enumerate() {
            let at = format!("alerting_config.notifications[{i}].config");
            notification.parse(&at)?;
            let name = notification.parse_delivery(&at)?.name;
            if channels.contains(&name) {
                return Err(MonitoringError::config(
                    format!("{at}.name"),
                    format!("another channel is named {name:?}; give each channel its own `name`"),
                ));
            }
            if notification.notification_type != super::NotificationType::Alertmanager {
                routed.push(name.clone());
            }
            channels.push(name);
        }
        self.route.validate("alerting_config.route", &routed)?;
        for (i, rule) in self.inhibit_rules.iter().enumerate() {
            rule.validate(&format!("alerting_config.inhibit_rules[{i}]"))?;
        }
        if self.resend_delay.is_zero() {
            return Err(MonitoringError::config(
                "alerting_config.resend_delay",
                "must be longer than zero, for example \"1m\"",
            ));
        }
        Ok(())
    }
}
