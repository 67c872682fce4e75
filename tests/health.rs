//! Health checks: each status path, isolation of hanging and panicking checks, the built-in
//! checks on this machine, the exported gauges and the probe endpoints.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{get, wait_for};
use crossbeam_channel::{Receiver, Sender};
use kotoba_monitoring::{
    CheckOptions, DatabaseCheck, DatabaseMetrics, ExpositionFormat, HealthCheck, HealthCheckResult,
    HealthChecker, HealthStatus, Monitor, MonitoredDatabase, MonitoringConfig, MonitoringError,
    QueryMetrics, Registry, StorageMetrics,
};

fn config() -> MonitoringConfig {
    let mut c = MonitoringConfig::default();
    c.health_config.check_timeout = Duration::from_millis(300);
    c
}

fn checker() -> HealthChecker {
    HealthChecker::with_registry(config(), Registry::new())
}

/// Answers with the status it is given.
struct Fixed(HealthStatus);

impl HealthCheck for Fixed {
    fn check_health(&self) -> HealthCheckResult {
        HealthCheckResult::new(
            "ignored",
            self.0,
            format!("told {}", self.0),
            Duration::ZERO,
        )
    }
}

/// Blocks until the test sends (or drops) its channel, counting its runs.
struct Hangs {
    release: Receiver<()>,
    runs: Arc<AtomicUsize>,
}

impl HealthCheck for Hangs {
    fn check_health(&self) -> HealthCheckResult {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let _ = self.release.recv();
        HealthCheckResult::new("hangs", HealthStatus::Healthy, "released", Duration::ZERO)
    }
}

struct Panics;

impl HealthCheck for Panics {
    fn check_health(&self) -> HealthCheckResult {
        panic!("disk controller on fire")
    }
}

fn status_of(health: &kotoba_monitoring::SystemHealth, name: &str) -> HealthCheckResult {
    health
        .checks
        .iter()
        .find(|c| c.result.name == name)
        .unwrap_or_else(|| panic!("no check {name}"))
        .result
        .clone()
}

#[test]
fn nothing_is_healthy_by_default() {
    let c = checker();
    assert_eq!(c.current_health().overall_status, HealthStatus::Unknown);
    assert_eq!(
        c.check_health().unwrap().overall_status,
        HealthStatus::Unknown
    );
    c.register_check("late", Box::new(Fixed(HealthStatus::Healthy)))
        .unwrap();
    // Registered, not run yet.
    assert_eq!(c.current_health().overall_status, HealthStatus::Unknown);
    assert!(!c.is_healthy());
    assert!(c.current_health().uptime > Duration::ZERO);
    assert_eq!(
        c.check_health().unwrap().overall_status,
        HealthStatus::Healthy
    );
    assert!(c.is_healthy());
}

#[test]
fn each_status_reaches_the_overall_status() {
    use HealthStatus::*;
    for (status, critical, overall) in [
        (Healthy, true, Healthy),
        (Degraded, true, Degraded),
        (Unhealthy, true, Unhealthy),
        (Unhealthy, false, Degraded),
        (Unknown, true, Unknown),
        (Unknown, false, Degraded),
    ] {
        let c = checker();
        c.register_check("base", Box::new(Fixed(Healthy))).unwrap();
        let options = CheckOptions {
            critical,
            ..CheckOptions::default()
        };
        c.register_check_with("probe", Box::new(Fixed(status)), options)
            .unwrap();
        let health = c.check_health().unwrap();
        assert_eq!(
            health.overall_status, overall,
            "{status:?} critical={critical}"
        );
        // The registered name wins over what the check put in its result.
        assert_eq!(status_of(&health, "probe").status, status);
        assert_eq!(
            status_of(&health, "probe").message,
            format!("told {status}")
        );
    }
}

#[test]
fn a_hanging_check_times_out_alone_and_is_not_restarted() {
    let c = checker();
    let (release, rx): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(0);
    let runs = Arc::new(AtomicUsize::new(0));
    c.register_check(
        "hangs",
        Box::new(Hangs {
            release: rx,
            runs: runs.clone(),
        }),
    )
    .unwrap();
    c.register_check("fine", Box::new(Fixed(HealthStatus::Healthy)))
        .unwrap();

    let first = c.check_health().unwrap();
    let hung = status_of(&first, "hangs");
    assert_eq!(hung.status, HealthStatus::Unhealthy);
    assert!(
        hung.message.contains("timed out after 300ms"),
        "{}",
        hung.message
    );
    assert_eq!(status_of(&first, "fine").status, HealthStatus::Healthy);
    assert_eq!(first.overall_status, HealthStatus::Unhealthy);

    // Still hanging: reported, but not started a second time.
    let second = c.check_health().unwrap();
    assert!(status_of(&second, "hangs")
        .message
        .contains("still running"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Released (every run returns at once from now on): the next round runs it again, and it
    // passes.
    drop(release);
    let third = wait_for(
        "the released check to pass",
        Duration::from_secs(30),
        || {
            let h = c.check_health().unwrap();
            (status_of(&h, "hangs").status == HealthStatus::Healthy).then_some(h)
        },
    );
    assert_eq!(third.overall_status, HealthStatus::Healthy);
    assert!(runs.load(Ordering::SeqCst) >= 2);
    c.stop().unwrap();
}

#[test]
fn a_panicking_check_is_unhealthy_and_its_thread_lives_on() {
    // Not a test of the timeout: a panic with RUST_BACKTRACE set (as under CI) symbolizes a
    // backtrace, which on a loaded machine takes longer than `checker()`'s 300 ms.
    let mut cfg = config();
    cfg.health_config.check_timeout = Duration::from_secs(10);
    let c = HealthChecker::with_registry(cfg, Registry::new());
    c.register_check("panics", Box::new(Panics)).unwrap();
    c.register_check("fine", Box::new(Fixed(HealthStatus::Healthy)))
        .unwrap();
    for _ in 0..2 {
        let h = c.check_health().unwrap();
        let r = status_of(&h, "panics");
        assert_eq!(r.status, HealthStatus::Unhealthy);
        assert!(
            r.message.contains("disk controller on fire"),
            "{}",
            r.message
        );
        assert_eq!(status_of(&h, "fine").status, HealthStatus::Healthy);
    }
    c.stop().unwrap();
}

#[test]
fn names_are_checked_and_checks_can_be_removed() {
    let c = checker();
    c.register_check("a", Box::new(Fixed(HealthStatus::Unhealthy)))
        .unwrap();
    let dup = c
        .register_check("a", Box::new(Fixed(HealthStatus::Healthy)))
        .unwrap_err();
    assert!(matches!(dup, MonitoringError::InvalidCheck { .. }), "{dup}");
    assert!(c
        .register_check(" ", Box::new(Fixed(HealthStatus::Healthy)))
        .is_err());
    c.check_health().unwrap();
    // The round wrote the series (reading it below would otherwise create it at 0).
    let family = c
        .registry()
        .gauge_family("health_check_status", "")
        .unwrap();
    assert_eq!(family.len(), 1);
    let gauge = |r: &Registry| {
        r.gauge("health_check_status", "", &[("check_name", "a")])
            .unwrap()
            .get()
    };
    assert_eq!(gauge(c.registry()), 0.0);
    assert!(c.unregister_check("a"));
    assert!(!c.unregister_check("a"));
    assert_eq!(gauge(c.registry()), -1.0);
    assert_eq!(
        c.check_health().unwrap().overall_status,
        HealthStatus::Unknown
    );
}

#[test]
fn history_is_bounded() {
    let mut cfg = config();
    cfg.health_config.history_size = 3;
    let c = HealthChecker::with_registry(cfg, Registry::new());
    c.register_check("x", Box::new(Fixed(HealthStatus::Healthy)))
        .unwrap();
    for _ in 0..5 {
        c.check_health().unwrap();
    }
    let h = c.history();
    assert_eq!(h.len(), 3);
    assert!(h.windows(2).all(|w| w[0].last_check <= w[1].last_check));
    assert_eq!(h.last().unwrap().last_check, c.current_health().last_check);
}

#[test]
fn the_health_thread_runs_every_interval() {
    let mut cfg = config();
    cfg.health_check_interval = Duration::from_millis(20);
    let c = HealthChecker::with_registry(cfg, Registry::new());
    c.register_check("x", Box::new(Fixed(HealthStatus::Healthy)))
        .unwrap();
    c.start().unwrap();
    assert!(matches!(
        c.start(),
        Err(MonitoringError::AlreadyStarted { .. })
    ));
    wait_for("three rounds", Duration::from_secs(30), || {
        (c.history().len() >= 3).then_some(())
    });
    c.stop().unwrap();
    assert!(!c.is_running());
}

/// A database whose ping the test scripts.
struct Db(Result<Duration, String>);

impl MonitoredDatabase for Db {
    fn get_database_metrics(&self) -> Result<DatabaseMetrics, MonitoringError> {
        Ok(DatabaseMetrics::default())
    }
    fn get_query_metrics(&self) -> Result<QueryMetrics, MonitoringError> {
        Ok(QueryMetrics::default())
    }
    fn get_storage_metrics(&self) -> Result<StorageMetrics, MonitoringError> {
        Ok(StorageMetrics::default())
    }
    fn ping(&self) -> Result<Duration, MonitoringError> {
        self.0
            .clone()
            .map_err(|reason| MonitoringError::InvalidCheck {
                name: "db".into(),
                reason,
            })
    }
}

#[test]
fn the_database_check_measures_the_ping() {
    let limit = Duration::from_millis(100);
    let run = |db: Db| DatabaseCheck::new(Arc::new(db), limit).check_health();
    let fast = run(Db(Ok(Duration::from_millis(2))));
    assert_eq!(fast.status, HealthStatus::Healthy);
    assert_eq!(fast.details["latency_ms"], "2.000");
    let slow = run(Db(Ok(Duration::from_millis(250))));
    assert_eq!(slow.status, HealthStatus::Degraded);
    assert!(
        slow.message.contains("250.0 ms, above 100.0 ms"),
        "{}",
        slow.message
    );
    let down = run(Db(Err("connection refused".into())));
    assert_eq!(down.status, HealthStatus::Unhealthy);
    assert!(down.message.contains("connection refused"));
}

#[test]
fn default_checks_measure_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.health_config.check_timeout = Duration::from_secs(10);
    cfg.health_config.data_path = dir.path().to_owned();
    let c = HealthChecker::with_registry(cfg, Registry::new());
    c.set_database(Arc::new(Db(Ok(Duration::from_millis(1)))));
    c.add_default_checks().unwrap();
    c.add_default_checks().unwrap(); // idempotent
    let h = c.check_health().unwrap();
    let names: Vec<&str> = h.checks.iter().map(|c| c.result.name.as_str()).collect();
    assert_eq!(names, ["memory", "disk", "cpu", "database"]);
    for name in ["memory", "disk", "cpu"] {
        let r = status_of(&h, name);
        assert_ne!(r.status, HealthStatus::Unknown, "{name}: {}", r.message);
        let percent: f64 = r.details["used_percent"].parse().unwrap();
        assert!((0.0..=100.0).contains(&percent), "{name}: {percent}");
    }
    let memory = status_of(&h, "memory");
    let total: u64 = memory.details["total_bytes"].parse().unwrap();
    assert!(total > 64 << 20, "{total}");
    assert!(!status_of(&h, "disk").details["mount_point"].is_empty());
    c.stop().unwrap();

    // A data path that does not exist is a failed disk check.
    let mut cfg = config();
    cfg.health_config.data_path = dir.path().join("missing");
    let c = HealthChecker::with_registry(cfg, Registry::new());
    c.add_default_checks().unwrap();
    let disk = status_of(&c.check_health().unwrap(), "disk");
    assert_eq!(disk.status, HealthStatus::Unhealthy);
    assert!(disk.message.contains("is not usable"), "{}", disk.message);
    c.stop().unwrap();
}

#[test]
fn the_monitor_serves_the_checker_and_exports_the_gauges() {
    let mut cfg = config();
    common::indifferent_to_the_machine(&mut cfg.health_config);
    cfg.prometheus_config.port = 0;
    let monitor = Monitor::new(cfg).unwrap();
    let health = monitor.health().unwrap();
    health
        .register_check_with(
            "database",
            Box::new(DatabaseCheck::new(
                Arc::new(Db(Err("disk gone".into()))),
                Duration::from_millis(100),
            )),
            CheckOptions::readiness_only(),
        )
        .unwrap();
    monitor.start().unwrap();
    let addr = monitor.local_addr().unwrap();
    wait_for("the first round", Duration::from_secs(30), || {
        health.current_health().last_check
    });
    let ready = get(addr, "/readyz?verbose");
    assert_eq!(ready.status, 503);
    assert!(
        ready
            .text()
            .contains("[-]database failed: unhealthy: the database does not answer"),
        "{}",
        ready.text()
    );
    assert_eq!(get(addr, "/livez").status, 200);
    let body: serde_json::Value = serde_json::from_slice(&get(addr, "/health").body).unwrap();
    assert_eq!(body["status"], "fail");
    assert_eq!(body["checks"]["database"][0]["status"], "fail");

    // The seed's rule `health_check_status{check_name="database"} == 0` has its series.
    let text = monitor
        .exporter()
        .unwrap()
        .encode(ExpositionFormat::PrometheusText)
        .unwrap();
    assert!(
        text.contains("\nhealth_check_status{check_name=\"database\"} 0.0\n"),
        "{text}"
    );
    assert!(text.contains("health_check_duration_seconds{check_name=\"memory\"}"));
    monitor.stop().unwrap();
}

#[cfg(feature = "cluster")]
#[test]
fn the_network_check_reaches_the_peers() {
    use kotoba_monitoring::NetworkCheck;
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // A port that was free a moment ago: nothing listens there.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let up_addr = up.local_addr().unwrap().to_string();
    let check =
        |peers: Vec<String>| NetworkCheck::new(peers, Duration::from_secs(2)).check_health();
    assert_eq!(check(vec![up_addr.clone()]).status, HealthStatus::Healthy);
    let some = check(vec![up_addr, down.to_string()]);
    assert_eq!(some.status, HealthStatus::Degraded);
    assert!(
        some.message.contains("1 of 2 peers reachable"),
        "{}",
        some.message
    );
    assert_eq!(
        check(vec![down.to_string()]).status,
        HealthStatus::Unhealthy
    );
    assert_eq!(check(vec![]).status, HealthStatus::Unhealthy);
}

/// Returns about 2 MB of message and details, as a check dumping a whole status page might.
struct Verbose;

impl HealthCheck for Verbose {
    fn check_health(&self) -> HealthCheckResult {
        let mut r = HealthCheckResult::new(
            "verbose",
            HealthStatus::Degraded,
            "x".repeat(1 << 20),
            Duration::ZERO,
        );
        for i in 0..100 {
            r = r.with_detail(format!("line{i}"), "y".repeat(10_000));
        }
        r
    }
}

#[test]
fn huge_results_are_cut_before_they_are_kept() {
    let c = checker();
    c.register_check("verbose", Box::new(Verbose)).unwrap();
    for _ in 0..10 {
        c.check_health().unwrap();
    }
    let kept = |h: &kotoba_monitoring::SystemHealth| -> usize {
        h.checks
            .iter()
            .map(|s| {
                s.result.message.len()
                    + s.result
                        .details
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>()
            })
            .sum()
    };
    let result = status_of(&c.current_health(), "verbose");
    assert!(result.message.contains("[truncated from 1048576 bytes]"));
    assert_eq!(result.details["truncated"], "37 more details left out");
    // Each kept round holds at most 4 KiB of message and 64 KiB of details, not 2 MB.
    for h in c.history().iter().chain([&c.current_health()]) {
        assert!(kept(h) <= 4096 + 64 * 2048, "{}", kept(h));
    }
    // /health says what is wrong within the same bounds.
    let report = kotoba_monitoring::HealthSource::health_report(&c);
    let output = report.checks[0].output.as_deref().unwrap();
    assert!(
        output.starts_with("degraded: xxx") && output.len() < 4200,
        "{}",
        output.len()
    );
}

#[test]
fn the_overall_output_says_which_checks_are_not_healthy_and_why() {
    let c = checker();
    c.register_check("fine", Box::new(Fixed(HealthStatus::Healthy)))
        .unwrap();
    c.register_check("slow", Box::new(Fixed(HealthStatus::Degraded)))
        .unwrap();
    c.check_health().unwrap();
    let report = kotoba_monitoring::HealthSource::health_report(&c);
    assert_eq!(
        report.output.as_deref(),
        Some("degraded: slow is degraded: told degraded")
    );
}
