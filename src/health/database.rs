//! Module implementing the built-in database check. See [`DatabaseCheck`] for details.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{HealthCheck, HealthCheckResult, HealthStatus};
use crate::worker::CallWatch;
use crate::MonitoredDatabase;

/// Pings the monitored database ([`MonitoredDatabase::ping`]) and times the round trip: an
/// error is Unhealthy, a ping slower than `degraded_after` (default 100 ms,
/// `health_config.database_degraded_latency`) Degraded, and one that outlasts the check
/// timeout is reported as timed out. Within a [`Monitor`](crate::Monitor) it is also
/// Unhealthy while a call for the database's metrics has hung past `database_timeout`, even
/// if pings still answer.
pub struct DatabaseCheck {
    db: Arc<dyn MonitoredDatabase>,
    degraded_after: Duration,
    /// The collector's database calls.
    calls: Option<Arc<CallWatch>>,
}

impl std::fmt::Debug for DatabaseCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseCheck")
            .field("degraded_after", &self.degraded_after)
            .finish_non_exhaustive()
    }
}

impl DatabaseCheck {
    /// A check of `db`.
    pub fn new(db: Arc<dyn MonitoredDatabase>, degraded_after: Duration) -> Self {
        Self {
            db,
            degraded_after,
            calls: None,
        }
    }

    /// Also reports the collector's database calls that hang past their timeout.
    pub(crate) fn watching(mut self, calls: Option<Arc<CallWatch>>) -> Self {
        self.calls = calls;
        self
    }
}

impl HealthCheck for DatabaseCheck {
    fn check_health(&self) -> HealthCheckResult {
        let started = Instant::now();
        let stuck = self.calls.as_ref().and_then(|watch| watch.stuck());
        if let Some((method, running_for)) = stuck {
            return HealthCheckResult::new(
                "database",
                HealthStatus::Unhealthy,
                format!(
                    "{method} has not returned for {:.1} s; the database's metrics are not collected until it does",
                    running_for.as_secs_f64()
                ),
                started.elapsed(),
            );
        }
        match self.db.ping() {
            Err(e) => HealthCheckResult::new(
                "database",
                HealthStatus::Unhealthy,
                format!("the database does not answer: {e}"),
                started.elapsed(),
            ),
            Ok(latency) => {
                let (status, message) = if latency > self.degraded_after {
                    (
                        HealthStatus::Degraded,
                        format!(
                            "the database answers slowly: {:.1} ms, above {:.1} ms",
                            latency.as_secs_f64() * 1e3,
                            self.degraded_after.as_secs_f64() * 1e3
                        ),
                    )
                } else {
                    (
                        HealthStatus::Healthy,
                        format!(
                            "the database answers in {:.2} ms",
                            latency.as_secs_f64() * 1e3
                        ),
                    )
                };
                HealthCheckResult::new("database", status, message, started.elapsed())
                    .with_detail("latency_ms", format!("{:.3}", latency.as_secs_f64() * 1e3))
            }
        }
    }
}
