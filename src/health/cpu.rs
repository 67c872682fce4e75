//! Module implementing the built-in CPU check. See [`CpuCheck`] for details.

use std::time::Instant;

use parking_lot::Mutex;
use sysinfo::{System, MINIMUM_CPU_UPDATE_INTERVAL};

use super::{HealthCheck, HealthCheckResult, HealthStatus, Thresholds};

/// CPU usage of the whole machine, in percent of all cores, averaged since the check last
/// ran (the first run samples for 200 ms). Defaults: Degraded at 90%, Unhealthy at 99%
/// (`health_config.cpu_*_percent`); registered as non-critical by default, since a busy CPU
/// slows the database down but rarely stops it.
pub struct CpuCheck {
    thresholds: Thresholds,
    system: Mutex<Option<System>>,
}

impl std::fmt::Debug for CpuCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuCheck")
            .field("thresholds", &self.thresholds)
            .finish_non_exhaustive()
    }
}

impl CpuCheck {
    /// A CPU check with `thresholds` in percent.
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            system: Mutex::new(None),
        }
    }
}

impl HealthCheck for CpuCheck {
    fn check_health(&self) -> HealthCheckResult {
        let started = Instant::now();
        let mut slot = self.system.lock();
        let system = match slot.as_mut() {
            Some(s) => s,
            None => match System::new() {
                Ok(mut s) => {
                    // Usage is a difference between two readings.
                    s.refresh_cpu_usage();
                    std::thread::sleep(MINIMUM_CPU_UPDATE_INTERVAL);
                    slot.insert(s)
                }
                Err(e) => {
                    return HealthCheckResult::new(
                        "cpu",
                        HealthStatus::Unknown,
                        format!("cannot read CPU usage on this platform: {e}"),
                        started.elapsed(),
                    )
                }
            },
        };
        system.refresh_cpu_usage();
        let percent = f64::from(system.global_cpu_usage());
        if !percent.is_finite() {
            return HealthCheckResult::new(
                "cpu",
                HealthStatus::Unknown,
                "the platform reports no CPU usage",
                started.elapsed(),
            );
        }
        HealthCheckResult::new(
            "cpu",
            self.thresholds.status(percent),
            format!(
                "{percent:.1}% CPU in use over {} cores",
                system.cpus().len()
            ),
            started.elapsed(),
        )
        .with_detail("used_percent", format!("{percent:.2}"))
        .with_detail("cores", system.cpus().len())
    }
}
