//! A check that keeps hanging costs one thread, not one per round, and stop() joins it once it
//! returns. One test in this file, so that no other test's threads share its process.

use std::time::Duration;

use kotoba_monitoring::{
    HealthCheck, HealthCheckResult, HealthChecker, HealthStatus, MonitoringConfig, Registry,
};

fn check_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "kotoba-check")
        .count()
}

struct Hangs(crossbeam_channel::Receiver<()>);

impl HealthCheck for Hangs {
    fn check_health(&self) -> HealthCheckResult {
        let _ = self.0.recv();
        HealthCheckResult::new("hangs", HealthStatus::Healthy, "released", Duration::ZERO)
    }
}

#[test]
fn a_hanging_check_does_not_pile_up_threads() {
    let mut config = MonitoringConfig::default();
    config.health_config.check_timeout = Duration::from_millis(50);
    let checker = HealthChecker::with_registry(config, Registry::new());
    let (release, rx) = crossbeam_channel::bounded::<()>(0);
    checker
        .register_check("hangs", Box::new(Hangs(rx)))
        .unwrap();
    for _ in 0..5 {
        let health = checker.check_health().unwrap();
        assert_eq!(health.overall_status, HealthStatus::Unhealthy);
    }
    assert_eq!(check_threads(), 1);
    drop(release);
    checker.stop().unwrap();
    assert_eq!(check_threads(), 0);
}
