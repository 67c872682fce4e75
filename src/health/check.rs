//! Module implementing the health-check trait and how a check is registered.
//! See [`HealthCheck`] for details.

use super::HealthCheckResult;

/// A health check: something that can tell whether one part of the system works.
///
/// It runs on a thread of its own, with a timeout (`health_config.check_timeout`): a check that
/// hangs is reported Unhealthy and is not started again until its last run returns; a check
/// that panics is reported Unhealthy with the panic's message. Neither holds up other checks.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use kotoba_monitoring::{HealthCheck, HealthCheckResult, HealthStatus};
///
/// struct QueueDepth(fn() -> usize);
///
/// impl HealthCheck for QueueDepth {
///     fn check_health(&self) -> HealthCheckResult {
///         let started = Instant::now();
///         let depth = (self.0)();
///         let status = if depth < 1000 { HealthStatus::Healthy } else { HealthStatus::Degraded };
///         HealthCheckResult::new("queue", status, format!("{depth} jobs waiting"), started.elapsed())
///             .with_detail("depth", depth)
///     }
/// }
/// assert_eq!(QueueDepth(|| 3).check_health().status, HealthStatus::Healthy);
/// ```
pub trait HealthCheck: Send + Sync {
    /// Runs the check once.
    fn check_health(&self) -> HealthCheckResult;
}

/// How a check counts, given when it is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// An unhealthy result makes the whole system unhealthy (and fails the probes that count
    /// the check); a non-critical one only degrades it. Defaults to `true`.
    pub critical: bool,
    /// `/livez` counts the check: a restart would fix it. Defaults to `true`.
    pub liveness: bool,
    /// `/readyz` counts the check: traffic should wait until it passes. Defaults to `true`.
    pub readiness: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            critical: true,
            liveness: true,
            readiness: true,
        }
    }
}

impl CheckOptions {
    /// Non-critical: counts for both probes, but an unhealthy result only degrades the system.
    pub fn non_critical() -> Self {
        Self {
            critical: false,
            ..Self::default()
        }
    }

    /// Critical for readiness only: an outage of a dependency makes the service not ready,
    /// but restarting it would not help.
    pub fn readiness_only() -> Self {
        Self {
            liveness: false,
            ..Self::default()
        }
    }
}
