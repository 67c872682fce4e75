//! Module implementing the environment overrides, in one table. See [`ENV_VARIABLES`] for
//! details.

use std::collections::HashMap;

use super::{HttpAuth, MonitoringConfig, NotificationConfig, NotificationType};
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

/// Every environment variable [`MonitoringConfig::apply_env`] reads, with what it sets, in the
/// order it applies them. [`MonitoringConfig::load`] applies them over the file.
pub const ENV_VARIABLES: [(&str, &str); 5] = [
    (ENV_METRICS_PORT, "prometheus_config.port"),
    (ENV_METRICS_PATH, "prometheus_config.path"),
    (
        ENV_METRICS_BEARER_TOKEN,
        "prometheus_config.auth (a bearer token)",
    ),
    (
        ENV_ALERT_SLACK_WEBHOOK,
        "webhook_url of the Slack notification, added if there is none",
    ),
    (
        ENV_ALERT_EMAIL_SMTP,
        "smtp_server (host:port) of the email notification, added if there is none",
    ),
];

impl MonitoringConfig {
    /// Applies the variables in [`ENV_VARIABLES`] from the process environment over the
    /// current values.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_variable_and_readme_lists_them() {
        let names: Vec<&str> = ENV_VARIABLES.iter().map(|(name, _)| *name).collect();
        for constant in [
            ENV_METRICS_PORT,
            ENV_METRICS_PATH,
            ENV_METRICS_BEARER_TOKEN,
            ENV_ALERT_SLACK_WEBHOOK,
            ENV_ALERT_EMAIL_SMTP,
        ] {
            assert!(names.contains(&constant), "{constant} is not in the table");
        }
        let reference = include_str!("../reference/configuration.rs");
        for name in names {
            assert!(
                reference.contains(name),
                "reference::configuration does not list {name}"
            );
        }
    }
}
