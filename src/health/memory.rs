//! Module implementing the built-in memory check. See [`MemoryCheck`] for details.

use std::time::Instant;

use parking_lot::Mutex;
use sysinfo::System;

use super::{HealthCheck, HealthCheckResult, HealthStatus, Thresholds};

/// Memory in use on the machine (total minus available), as a percentage of the total.
/// Defaults: Degraded at 85%, Unhealthy at 95% (`health_config.memory_*_percent`).
pub struct MemoryCheck {
    thresholds: Thresholds,
    system: Mutex<Option<System>>,
}

impl std::fmt::Debug for MemoryCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCheck")
            .field("thresholds", &self.thresholds)
            .finish_non_exhaustive()
    }
}

impl MemoryCheck {
    /// A memory check with `thresholds` in percent.
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            system: Mutex::new(None),
        }
    }
}

impl HealthCheck for MemoryCheck {
    fn check_health(&self) -> HealthCheckResult {
        let started = Instant::now();
        let mut slot = self.system.lock();
        let system = match slot.as_mut() {
            Some(s) => s,
            None => match System::new() {
                Ok(s) => slot.insert(s),
                Err(e) => {
                    return HealthCheckResult::new(
                        "memory",
                        HealthStatus::Unknown,
                        format!("cannot read memory figures on this platform: {e}"),
                        started.elapsed(),
                    )
                }
            },
        };
        system.refresh_memory();
        let total = system.total_memory();
        if total == 0 {
            return HealthCheckResult::new(
                "memory",
                HealthStatus::Unknown,
                "the platform reports no memory",
                started.elapsed(),
            );
        }
        let used = total.saturating_sub(system.available_memory());
        let percent = used as f64 * 100.0 / total as f64;
        let status = self.thresholds.status(percent);
        HealthCheckResult::new(
            "memory",
            status,
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
