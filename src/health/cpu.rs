//! Module implementing the built-in CPU check. See [`CpuCheck`] for details.

use std::time::Instant;

use sysinfo::MINIMUM_CPU_UPDATE_INTERVAL;

use super::system_handle::SystemHandle;
use super::{HealthCheck, HealthCheckResult, HealthStatus, Thresholds};

/// CPU usage of the whole machine, in percent of all cores, averaged since the check last
/// ran (the first run samples for 200 ms). Defaults: Degraded at 90%, Unhealthy at 99%
/// (`health_config.cpu_*_percent`); registered as non-critical by default, since a busy CPU
/// slows the database down but rarely stops it.
#[derive(Debug)]
pub struct CpuCheck {
    thresholds: Thresholds,
    system: SystemHandle,
}

impl CpuCheck {
    /// A CPU check with `thresholds` in percent.
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            system: SystemHandle::new(),
        }
    }
}

impl HealthCheck for CpuCheck {
    fn check_health(&self) -> HealthCheckResult {
        let started = Instant::now();
        let unknown = |message: String| {
            HealthCheckResult::new("cpu", HealthStatus::Unknown, message, started.elapsed())
        };
        let read = self.system.with(
            |first| {
                // Usage is a difference between two readings.
                first.refresh_cpu_usage();
                std::thread::sleep(MINIMUM_CPU_UPDATE_INTERVAL);
            },
            |system| {
                system.refresh_cpu_usage();
                (f64::from(system.global_cpu_usage()), system.cpus().len())
            },
        );
        let (percent, cores) = match read {
            Ok(figures) => figures,
            Err(e) => return unknown(format!("cannot read CPU usage on this platform: {e}")),
        };
        if !percent.is_finite() {
            return unknown("the platform reports no CPU usage".to_owned());
        }
        HealthCheckResult::new(
            "cpu",
            self.thresholds.status(percent),
            format!("{percent:.1}% CPU in use over {cores} cores"),
            started.elapsed(),
        )
        .with_detail("used_percent", format!("{percent:.2}"))
        .with_detail("cores", cores)
    }
}
