//! Start and stop: named threads appear on start and are all gone after stop or drop.
//!
//! This file holds one test so that no other test's threads share its process.

use std::time::Duration;

use kotoba_monitoring::{Monitor, MonitoringConfig, MonitoringError};

/// The names of this process's threads that belong to the crate.
fn our_threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("kotoba-"))
        .collect();
    names.sort();
    names
}

/// Waits (with a deadline) until the crate's threads are `expected`: a new thread names itself
/// only once it runs.
fn threads_become(expected: &[&str]) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let names = our_threads();
        if names == expected || std::time::Instant::now() > deadline {
            return names;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn stop_and_drop_leave_no_thread_behind() {
    assert!(our_threads().is_empty());
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(10),
        ..MonitoringConfig::default()
    };
    config.prometheus_config.port = 0;

    let monitor = Monitor::new(config.clone()).unwrap();
    monitor.start().unwrap();
    // The default health checks (memory, disk, cpu) each run on a kotoba-check thread.
    let running = [
        "kotoba-check",
        "kotoba-check",
        "kotoba-check",
        "kotoba-collect",
        "kotoba-health",
        "kotoba-http-0",
        "kotoba-http-1",
        "kotoba-http-2",
        "kotoba-http-3",
        "kotoba-http-io",
        "kotoba-ingest",
    ];
    assert_eq!(threads_become(&running), running);
    // A second start is an error and makes no second set of threads.
    assert!(matches!(
        monitor.start(),
        Err(MonitoringError::AlreadyStarted { .. })
    ));
    assert_eq!(our_threads(), running);
    monitor.stop().unwrap();
    assert!(our_threads().is_empty(), "{:?}", our_threads());
    monitor.stop().unwrap(); // idempotent

    // Restart, then let Drop do the stopping.
    monitor.start().unwrap();
    assert_eq!(threads_become(&running), running);
    drop(monitor);
    assert!(our_threads().is_empty(), "{:?}", our_threads());

    // With metrics, health checks and the exporter disabled there is nothing to run.
    config.prometheus_config.enabled = false;
    let quiet = Monitor::new(MonitoringConfig {
        enable_metrics: false,
        enable_health_checks: false,
        ..config
    })
    .unwrap();
    quiet.start().unwrap();
    assert!(our_threads().is_empty());
}
