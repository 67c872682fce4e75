//! Module implementing the health checks' configuration. See [`HealthCheckConfig`] for
//! details.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::MonitoringError;

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
    /// Checks the thresholds and limits; [`MonitoringConfig::validate`](crate::MonitoringConfig::validate) calls it.
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
