//! Module implementing where alerts' notifications go and how they are grouped, as
//! Alertmanager's `route` and `inhibit_rules` say it. See [`RouteConfig`] for details.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::MonitoringError;

/// A route, as Alertmanager's: alerts whose labels match its `matchers` go to its
/// `receivers` (channel names), grouped by `group_by`, unless a child route takes them first.
/// The top route matches every alert; its timings are the defaults of its children.
///
/// A group's first notification waits `group_wait` for more alerts to join it; after that,
/// its alerts are looked at every `group_interval`, and a notification goes out when an alert
/// joined, or resolved (to channels with `send_resolved`), or `repeat_interval` has passed
/// since the last one while alerts still fire.
///
/// In TOML:
///
/// ```toml
/// [alerting_config.route]
/// receivers = ["slack"]
/// group_by = ["alertname"]
/// group_wait = "30s"
///
/// [[alerting_config.route.routes]]
/// matchers = ['severity="critical"']
/// receivers = ["pagerduty"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The channels (by their `name`) this route's notifications go to. On the top route an
    /// empty list means every channel; on a child it means the parent's.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// Label matchers, as Alertmanager writes them: `name="value"`, `name!="value"`,
    /// `name=~"regex"`, `name!~"regex"` (regular expressions match the whole value). Ignored
    /// on the top route, which matches every alert.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// The labels alerts are grouped by: one notification per distinct set of their values.
    /// `["..."]` groups by every label (one group per alert); empty (the default) puts every
    /// alert of the route in one group. A child without it takes its parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// How long a new group waits before its first notification. Default 30s (the parent's on
    /// a child).
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_wait: Option<Duration>,
    /// How often a group is looked at again after its first notification. Default 5m.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_interval: Option<Duration>,
    /// How long before a notification that changes nothing is sent again while alerts fire.
    /// Default 4h.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub repeat_interval: Option<Duration>,
    /// Whether alerts that match this route go on to its later siblings too. Default false.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Child routes, tried in order.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// Alertmanager's defaults for the top route.
pub(crate) const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
/// See [`DEFAULT_GROUP_WAIT`].
pub(crate) const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// See [`DEFAULT_GROUP_WAIT`].
pub(crate) const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 60 * 60);

/// An inhibition rule, as Alertmanager's: while an alert matching `source_matchers` fires,
/// alerts matching `target_matchers` with the same values of the `equal` labels are muted
/// (an alert never mutes itself). In TOML:
/// `inhibit_rules = [{ source_matchers = ['severity="critical"'], target_matchers =
/// ['severity="warning"'], equal = ["alertname"] }]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    /// What a muting alert matches.
    pub source_matchers: Vec<String>,
    /// What a muted alert matches.
    pub target_matchers: Vec<String>,
    /// Labels whose values must be equal in both (absent counts as empty).
    #[serde(default)]
    pub equal: Vec<String>,
}

impl RouteConfig {
    /// Checks matchers, receivers (against `channels`, the names of the channels routes can
    /// send to: all but Alertmanager ones) and timings, the children's too; errors name the
    /// field under `at`.
    pub(crate) fn validate(&self, at: &str, channels: &[String]) -> Result<(), MonitoringError> {
        for (i, matcher) in self.matchers.iter().enumerate() {
            super::Matcher::parse(matcher)
                .map_err(|why| MonitoringError::config(format!("{at}.matchers[{i}]"), why))?;
        }
        for (i, name) in self.receivers.iter().enumerate() {
            if !channels.contains(name) {
                return Err(MonitoringError::config(
                    format!("{at}.receivers[{i}]"),
                    format!(
                        "no routed notification channel is named {name:?}; they are {channels:?} (a channel's `name` setting, else its type; Alertmanager channels take every alert and are not routed)"
                    ),
                ));
            }
        }
        for (field, value) in [
            ("group_interval", self.group_interval),
            ("repeat_interval", self.repeat_interval),
        ] {
            if value.is_some_and(|d| d.is_zero()) {
                return Err(MonitoringError::config(
                    format!("{at}.{field}"),
                    "must be longer than zero, for example \"5m\"",
                ));
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            route.validate(&format!("{at}.routes[{i}]"), channels)?;
        }
        Ok(())
    }
}

impl InhibitRuleConfig {
    /// Checks the matchers; errors name the field under `at`.
    pub(crate) fn validate(&self, at: &str) -> Result<(), MonitoringError> {
        for (field, matchers) in [
            ("source_matchers", &self.source_matchers),
            ("target_matchers", &self.target_matchers),
        ] {
            for (i, matcher) in matchers.iter().enumerate() {
                super::Matcher::parse(matcher)
                    .map_err(|why| MonitoringError::config(format!("{at}.{field}[{i}]"), why))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{AlertingConfig, NotificationConfig, NotificationType};

    #[test]
    fn routes_name_routed_channels_only() {
        let mut config = AlertingConfig {
            notifications: vec![
                NotificationConfig::new(NotificationType::Webhook, &[("url", "http://h.example/")]),
                NotificationConfig::new(
                    NotificationType::Alertmanager,
                    &[("url", "http://am:9093")],
                ),
            ],
            ..AlertingConfig::default()
        };
        config.route.receivers = vec!["webhook".into()];
        config.validate().unwrap();
        config.route.receivers = vec!["alertmanager".into()];
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("alerting_config.route.receivers[0]") && err.contains("not routed"),
            "{err}"
        );
    }
}
