//! Module implementing the built-in memory check. See [`MemoryCheck`] for details.

use std::time::Instant;

use super::system_handle::SystemHandle;
use super::{HealthCheck, HealthCheckResult, HealthStatus, Thresholds};

/// Memory in use on the machine (total minus available), as a percentage of the total.
/// Defaults: Degraded at 85%, Unhealthy at 95% (`health_config.memory_*_percent`).
#[derive(Debug)]
pub struct MemoryCheck {
    thresholds: Thresholds,
    system: SystemHandle,
}

impl MemoryCheck {
    /// A memory check with `thresholds` in percent.
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            system: SystemHandle::new(),
        }
    }
}

impl HealthCheck for MemoryCheck {
    fn check_health(&self) -> HealthCheckResult {
        let started = Instant::now();
        let unknown = |message: String| {
            HealthCheckResult::new("memory", HealthStatus::Unknown, message, started.elapsed())
        };
        let read = self.system.with(
            |_| {},
            |system| {
                system.refresh_memory();
                (system.total_memory(), system.available_memory())
            },
        );
        let (total, available) = match read {
            Ok(figures) => figures,
            Err(e) => return unknown(format!("cannot read memory figures on this platform: {e}")),
        };
        if total == 0 {
            return unknown("the platform reports no memory".to_owned());
        }
        let used = total.saturating_sub(available);
        let percent = used as f64 * 100.0 / total as f64;
        HealthCheckResult::new(
            "memory",
            self.thresholds.status(percent),
            format!(
                "{percent:.1}% of memory in use ({} of {} MiB)",
                used >> 20,
                total >> 20
            ),
            started.elapsed(),
        )
        .with_detail("used_bytes", used)
        .with_detail("total_bytes", total)
        .with_detail("used_percent", format!("{percent:.2}"))
    }
}
