//! The collector polling a database with known numbers, query instrumentation, the performance
//! read-out, fault isolation, and (with the features) system and cluster metrics.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::wait_for;
use kotoba_monitoring::{
    DatabaseMetrics, MetricsCollector, MonitoredDatabase, MonitoringConfig, MonitoringError,
    QueryMetrics, Registry, StorageMetrics,
};

/// A database that answers the seed's example figures, with a query total the test moves.
struct KnownDb {
    queries: AtomicU64,
    fail_storage: bool,
    panic_database: bool,
    query_metrics: bool,
}

impl KnownDb {
    fn new() -> Self {
        Self {
            queries: AtomicU64::new(1000),
            fail_storage: false,
            panic_database: false,
            query_metrics: true,
        }
    }
}

impl MonitoredDatabase for KnownDb {
    fn get_database_metrics(&self) -> Result<DatabaseMetrics, MonitoringError> {
        if self.panic_database {
            panic!("the database handle is poisoned");
        }
        Ok(DatabaseMetrics {
            active_connections: 10,
            total_connections: 15,
            uptime_seconds: 3600,
            version: "1.2.3".into(),
        })
    }
    fn get_query_metrics(&self) -> Result<QueryMetrics, MonitoringError> {
        if !self.query_metrics {
            return Err(MonitoringError::Unsupported {
                what: "query metrics",
            });
        }
        Ok(QueryMetrics {
            total_queries: self.queries.load(Ordering::SeqCst),
            queries_per_second: 50.0,
            avg_query_latency_ms: 25.0,
            p95_query_latency_ms: 50.0,
            p99_query_latency_ms: 100.0,
            slow_queries: 5,
            failed_queries: 1,
        })
    }
    fn get_storage_metrics(&self) -> Result<StorageMetrics, MonitoringError> {
        if self.fail_storage {
            return Err(MonitoringError::Source {
                source_name: "database",
                message: "the storage engine is compacting".into(),
            });
        }
        Ok(StorageMetrics {
            total_size_bytes: 1_000_000_000,
            used_size_bytes: 500_000_000,
            read_operations: 10_000,
            write_operations: 5_000,
            read_bytes_per_sec: 100_000.0,
            write_bytes_per_sec: 50_000.0,
            cache_hit_rate: 0.95,
            io_latency_ms: 10.0,
        })
    }
}

fn config() -> MonitoringConfig {
    MonitoringConfig {
        collection_interval: Duration::from_millis(20),
        ..MonitoringConfig::default()
    }
}

fn gauge(r: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    r.gauge(name, "", labels).unwrap().get()
}

fn counter(r: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    r.counter(name, "", labels).unwrap().get()
}

fn errors(r: &Registry, source: &str) -> f64 {
    counter(
        r,
        "kotoba_monitoring_collection_errors_total",
        &[("source", source)],
    )
}

#[test]
fn the_database_is_published_under_the_seed_names() {
    let db = Arc::new(KnownDb::new());
    let c = MetricsCollector::new(db.clone(), config()).unwrap();
    c.start().unwrap();
    let r = c.registry().clone();
    wait_for("the first poll", Duration::from_secs(30), || {
        r.metric_type("kotoba_db_storage_used_bytes").map(|_| ())
    });
    assert_eq!(gauge(&r, "kotoba_db_connections_active", &[]), 10.0);
    assert_eq!(counter(&r, "kotoba_db_connections_total", &[]), 15.0);
    assert_eq!(counter(&r, "kotoba_db_queries_total", &[]), 1000.0);
    assert_eq!(gauge(&r, "kotoba_db_storage_size_bytes", &[]), 1e9);
    assert_eq!(gauge(&r, "kotoba_db_storage_used_bytes", &[]), 5e8);
    let ops = "kotoba_db_storage_operations_total";
    assert_eq!(counter(&r, ops, &[("kind", "read")]), 10_000.0);
    assert_eq!(counter(&r, ops, &[("kind", "write")]), 5_000.0);
    let bytes = "kotoba_db_storage_throughput_bytes_per_second";
    assert_eq!(gauge(&r, bytes, &[("kind", "read")]), 100_000.0);
    assert_eq!(gauge(&r, "kotoba_db_cache_hit_ratio", &[]), 0.95);
    assert_eq!(gauge(&r, "kotoba_db_io_latency_seconds", &[]), 0.01);
    assert_eq!(gauge(&r, "kotoba_db_uptime_seconds", &[]), 3600.0);
    assert_eq!(gauge(&r, "kotoba_db_info", &[("version", "1.2.3")]), 1.0);

    // Totals advance by the difference; a total that drops (a restart) counts on from zero.
    db.queries.store(1500, Ordering::SeqCst);
    wait_for("1500 queries", Duration::from_secs(30), || {
        (counter(&r, "kotoba_db_queries_total", &[]) == 1500.0).then_some(())
    });
    db.queries.store(20, Ordering::SeqCst);
    wait_for("a restart to count on", Duration::from_secs(30), || {
        (counter(&r, "kotoba_db_queries_total", &[]) == 1520.0).then_some(())
    });
    assert_eq!(errors(&r, "database"), 0.0);

    let perf = c.get_performance_metrics().unwrap();
    assert_eq!(perf.database_metrics.version, "1.2.3");
    assert_eq!(perf.query_metrics.p95_query_latency_ms, 50.0);
    assert_eq!(perf.storage_metrics.cache_hit_rate, 0.95);
    c.stop().unwrap();
}

#[test]
fn a_failing_or_panicking_database_is_reported_and_the_next_tick_runs() {
    let db = Arc::new(KnownDb {
        fail_storage: true,
        panic_database: true,
        ..KnownDb::new()
    });
    let c = MetricsCollector::new(db, config()).unwrap();
    c.start().unwrap();
    let r = c.registry().clone();
    // Two failures per tick (storage and the panic); wait for several ticks.
    wait_for("several failed polls", Duration::from_secs(30), || {
        (errors(&r, "database") >= 6.0).then_some(())
    });
    let (_, last) = c.last_error().unwrap();
    assert!(
        last.contains("compacting") || last.contains("the database handle is poisoned"),
        "{last}"
    );
    // What did answer is published, and the collector still works.
    assert_eq!(counter(&r, "kotoba_db_queries_total", &[]), 1000.0);
    assert!(r.metric_type("kotoba_db_storage_used_bytes").is_none());
    let err = c.get_performance_metrics().unwrap_err();
    assert!(matches!(err, MonitoringError::Source { .. }), "{err}");
    c.record("after_the_faults", 1.0, &[]).unwrap();
    c.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(gauge(&r, "after_the_faults", &[]), 1.0);
    c.stop().unwrap();
}

#[test]
fn instrumentation_computes_the_query_figures() {
    let c = MetricsCollector::standalone(MonitoringConfig::default()).unwrap();
    let q = c.queries();
    q.set_slow_threshold(Duration::from_millis(50));
    let get = q.operation("get").unwrap();
    let put = q.operation("put").unwrap();
    // 1..=100 ms on get, all fine; 10 puts of 200 ms, 4 failing.
    for ms in 1..=100u64 {
        get.record(Duration::from_millis(ms), true);
    }
    for i in 0..10 {
        put.record(Duration::from_millis(200), i >= 4);
    }
    let m = q.query_metrics();
    assert_eq!(m.total_queries, 110);
    assert_eq!(m.failed_queries, 4);
    // 51..=100 ms and the 10 puts are over 50 ms.
    assert_eq!(m.slow_queries, 60);
    let mean = (5050.0 + 2000.0) / 110.0;
    assert!(
        (m.avg_query_latency_ms - mean).abs() < 1e-6,
        "{}",
        m.avg_query_latency_ms
    );
    // Of 110 values, p95 is the 105th (200 ms), p99 the 109th (200 ms).
    assert!(
        (m.p95_query_latency_ms - 200.0).abs() <= 2.0,
        "{}",
        m.p95_query_latency_ms
    );
    assert!(m.queries_per_second > 0.0);
    let r = c.registry();
    assert_eq!(
        counter(r, "kotoba_db_query_errors_total", &[("operation", "put")]),
        4.0
    );
    assert_eq!(
        counter(r, "kotoba_db_slow_queries_total", &[("operation", "get")]),
        50.0
    );

    // Guards and closures.
    drop(get.start());
    let failed: Result<(), &str> = get.time(|| Err("no such key"));
    assert!(failed.is_err());
    put.start().fail();
    let m = q.query_metrics();
    assert_eq!((m.total_queries, m.failed_queries), (113, 6));

    // Without a database the performance read-out is the instrumentation's.
    let perf = c.get_performance_metrics().unwrap();
    assert_eq!(perf.query_metrics.total_queries, 113);
    assert_eq!(perf.storage_metrics, StorageMetrics::default());
}

#[test]
fn a_database_without_query_figures_gets_the_measured_ones() {
    let db = Arc::new(KnownDb {
        query_metrics: false,
        ..KnownDb::new()
    });
    let c = MetricsCollector::new(db, config()).unwrap();
    let get = c.queries().operation("get").unwrap();
    for _ in 0..42 {
        get.record(Duration::from_millis(3), true);
    }
    let perf = c.get_performance_metrics().unwrap();
    assert_eq!(perf.query_metrics.total_queries, 42);
    assert!((perf.query_metrics.p99_query_latency_ms - 3.0).abs() <= 0.03);
    c.start().unwrap();
    let r = c.registry().clone();
    // Counted as the queries ran, by operation, not once per collection.
    assert_eq!(
        counter(&r, "kotoba_db_queries_total", &[("operation", "get")]),
        42.0
    );
    wait_for("a collection", Duration::from_secs(30), || {
        (gauge(&r, "kotoba_db_connections_active", &[]) == 10.0).then_some(())
    });
    // "Unsupported" is not an error.
    assert_eq!(errors(&r, "database"), 0.0);
    c.stop().unwrap();
}

#[test]
fn timed_queries_are_counted_from_the_start_as_they_happen() {
    let c = MetricsCollector::new(
        Arc::new(KnownDb::new()),
        MonitoringConfig {
            collection_interval: Duration::from_secs(3600),
            ..MonitoringConfig::default()
        },
    )
    .unwrap();
    c.start().unwrap();
    let get = c.queries().operation("get").unwrap();
    let r = c.registry().clone();
    let total = || counter(&r, "kotoba_db_queries_total", &[("operation", "get")]);
    // The series exists before the first query, long before the first collection.
    assert!(r
        .metric_names()
        .iter()
        .any(|n| n == "kotoba_db_queries_total"));
    assert_eq!(total(), 0.0);
    get.record(Duration::from_millis(1), true);
    assert_eq!(total(), 1.0);
    let _ = get.time(|| Err::<(), _>("missing"));
    assert_eq!(total(), 2.0);
    // The database's own unlabelled total does not join the family beside them.
    assert!(
        c.get_performance_metrics()
            .unwrap()
            .query_metrics
            .total_queries
            >= 2
    );
    c.stop().unwrap();
    assert_eq!(
        r.counter_family("kotoba_db_queries_total", "")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn queries_per_second_does_not_depend_on_which_operation_came_first() {
    let c = MetricsCollector::standalone(MonitoringConfig::default()).unwrap();
    let q = c.queries();
    let first = q.operation("first").unwrap();
    for _ in 0..100 {
        first.record(Duration::from_micros(10), true);
    }
    let span = || {
        c.registry()
            .histogram(
                "kotoba_db_query_latency_seconds",
                "",
                &[("operation", "first")],
            )
            .unwrap()
            .window_span()
    };
    wait_for("a measurable window", Duration::from_secs(30), || {
        (span() >= Duration::from_millis(300)).then_some(())
    });
    // Eight operations made later, with a hundred queries each.
    for i in 0..8 {
        let op = q.operation(&format!("later{i}")).unwrap();
        for _ in 0..100 {
            op.record(Duration::from_micros(10), true);
        }
    }
    let before = span();
    let qps = q.query_metrics().queries_per_second;
    let after = span();
    // 900 queries over the oldest window, whichever operation the map yields first.
    assert!(
        qps >= 900.0 / after.as_secs_f64() && qps <= 900.0 / before.as_secs_f64(),
        "{qps} queries per second over a window of {before:?} to {after:?}"
    );
}

#[cfg(feature = "system")]
#[test]
fn system_metrics_are_present_and_plausible() {
    let c = MetricsCollector::standalone(config()).unwrap();
    c.start().unwrap();
    let r = c.registry().clone();
    wait_for("a system sample", Duration::from_secs(30), || {
        c.get_performance_metrics().ok()?.system_metrics
    });
    let s = c.get_performance_metrics().unwrap().system_metrics.unwrap();
    assert!(s.memory_usage_bytes > 0);
    assert!((0.0..=100.0).contains(&s.memory_usage_percent));
    assert!((0.0..=100.0).contains(&s.cpu_usage_percent));
    assert!(s.disk_usage_bytes > 0 && (0.0..=100.0).contains(&s.disk_usage_percent));
    assert!(s.process_resident_memory_bytes > 1 << 20);
    assert!(s.process_threads >= 3, "{}", s.process_threads); // main, ingest, collect
    assert!(s.process_open_fds >= 3, "{}", s.process_open_fds);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(s.process_start_time_seconds <= now && s.process_start_time_seconds + 86_400 > now);
    assert_eq!(
        gauge(&r, "process_resident_memory_bytes", &[]),
        s.process_resident_memory_bytes as f64
    );
    assert!(gauge(&r, "system_memory_usage_bytes", &[]) > 0.0);
    assert!(r.metric_type("process_cpu_seconds_total").is_some());
    assert!(r
        .metric_type("system_network_receive_bytes_total")
        .is_some());
    assert_eq!(errors(&r, "system"), 0.0);
    c.stop().unwrap();
}

#[cfg(feature = "cluster")]
#[test]
fn cluster_metrics_come_from_the_source() {
    use kotoba_monitoring::{ClusterMetrics, ClusterSource};
    struct Three(AtomicU64);
    impl ClusterSource for Three {
        fn cluster_metrics(&self) -> Result<ClusterMetrics, MonitoringError> {
            let changes = self.0.load(Ordering::SeqCst);
            if changes == u64::MAX {
                return Err(MonitoringError::Source {
                    source_name: "cluster",
                    message: "gossip timed out".into(),
                });
            }
            Ok(ClusterMetrics {
                nodes_total: 3,
                nodes_active: 2,
                leader_changes_total: changes,
            })
        }
    }
    let source = Arc::new(Three(AtomicU64::new(4)));
    let c = MetricsCollector::standalone(config()).unwrap();
    c.set_cluster_source(source.clone());
    c.start().unwrap();
    let r = c.registry().clone();
    wait_for("cluster metrics", Duration::from_secs(30), || {
        r.metric_type("kotoba_cluster_nodes_active").map(|_| ())
    });
    assert_eq!(gauge(&r, "kotoba_cluster_nodes_total", &[]), 3.0);
    assert_eq!(gauge(&r, "kotoba_cluster_nodes_active", &[]), 2.0);
    assert_eq!(counter(&r, "kotoba_cluster_leader_changes_total", &[]), 4.0);
    source.0.store(u64::MAX, Ordering::SeqCst);
    wait_for("a cluster error", Duration::from_secs(30), || {
        (errors(&r, "cluster") >= 1.0).then_some(())
    });
    c.stop().unwrap();
}

/// Answers its metrics, except that `get_storage_metrics` blocks until the test releases it,
/// counting how often it was entered.
struct HangingDb {
    release: crossbeam_channel::Receiver<()>,
    storage_calls: AtomicU64,
}

impl MonitoredDatabase for HangingDb {
    fn get_database_metrics(&self) -> Result<DatabaseMetrics, MonitoringError> {
        KnownDb::new().get_database_metrics()
    }
    fn get_query_metrics(&self) -> Result<QueryMetrics, MonitoringError> {
        KnownDb::new().get_query_metrics()
    }
    fn get_storage_metrics(&self) -> Result<StorageMetrics, MonitoringError> {
        self.storage_calls.fetch_add(1, Ordering::SeqCst);
        let _ = self.release.recv();
        KnownDb::new().get_storage_metrics()
    }
}

#[test]
fn a_hung_database_costs_one_thread_and_stops_nothing_else() {
    let (release, hold) = crossbeam_channel::bounded::<()>(0);
    let release_check = hold.clone();
    let db = Arc::new(HangingDb {
        release: hold,
        storage_calls: AtomicU64::new(0),
    });
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(50),
        database_timeout: Duration::from_millis(200),
        shutdown_timeout: Duration::from_millis(300),
        ..MonitoringConfig::default()
    };
    config.prometheus_config.port = 0;
    config.prometheus_config.address = "127.0.0.1".into();
    config.health_config.check_timeout = Duration::from_millis(200);
    let monitor = kotoba_monitoring::Monitor::with_database(db.clone(), config).unwrap();
    // A health check that hangs as well, on its own thread.
    monitor
        .health()
        .unwrap()
        .register_check(
            "stuck",
            Box::new(HangingCheck(std::sync::Mutex::new(release_check.clone()))),
        )
        .unwrap();
    monitor.start().unwrap();
    let c = monitor.collector();
    let r = c.registry().clone();
    // The hang is counted and reported, tick after tick.
    wait_for("reported hangs", Duration::from_secs(30), || {
        (errors(&r, "database") >= 5.0).then_some(())
    });
    let (_, last) = c.last_error().unwrap();
    assert!(last.contains("get_storage_metrics"), "{last}");
    // History goes on: the series sampled every tick keep gaining points.
    let points = || {
        let now = time::OffsetDateTime::now_utc();
        c.get_metrics(
            "kotoba_monitoring_samples_dropped_total",
            now - Duration::from_secs(600),
            now,
        )
        .unwrap()
        .len()
    };
    let before = points();
    wait_for("more history", Duration::from_secs(30), || {
        (points() >= before + 3).then_some(())
    });
    // The caller's thread is not held: the read gives up after the timeout.
    let err = monitor.performance_metrics().unwrap_err();
    assert!(matches!(err, MonitoringError::Timeout { .. }), "{err}");
    // The database health check says what hangs.
    let health = monitor.health().unwrap().check_health().unwrap();
    let db_check = health
        .checks
        .iter()
        .find(|c| c.result.name == "database")
        .unwrap();
    assert_eq!(
        db_check.result.status,
        kotoba_monitoring::HealthStatus::Unhealthy
    );
    assert!(db_check.result.message.contains("get_storage_metrics"));
    // However many ticks passed, the hung method was entered once: one thread is held.
    assert_eq!(db.storage_calls.load(Ordering::SeqCst), 1);
    // Stopping reports each thread it could not join, and stops everything else.
    let err = monitor.stop().unwrap_err();
    assert!(matches!(err, MonitoringError::Multiple { .. }), "{err}");
    for thread in ["kotoba-db", "kotoba-check"] {
        assert!(err.to_string().contains(thread), "{err}");
    }
    assert!(!monitor.is_running() && !c.is_running());
    // Released, the detached thread ends by itself.
    drop(release);
}

/// A health check that blocks until the test drops its channel's sender.
struct HangingCheck(std::sync::Mutex<crossbeam_channel::Receiver<()>>);

impl kotoba_monitoring::HealthCheck for HangingCheck {
    fn check_health(&self) -> kotoba_monitoring::HealthCheckResult {
        let release = self.0.lock().unwrap().clone();
        let _ = release.recv();
        kotoba_monitoring::HealthCheckResult::new(
            "stuck",
            kotoba_monitoring::HealthStatus::Healthy,
            "released",
            Duration::ZERO,
        )
    }
}

#[test]
fn a_registry_full_of_names_still_collects_checks_and_serves() {
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(20),
        max_metric_families: 3,
        max_total_series: 3,
        ..MonitoringConfig::default()
    };
    common::indifferent_to_the_machine(&mut config.health_config);
    config.prometheus_config.port = 0;
    config.prometheus_config.address = "127.0.0.1".into();
    let monitor =
        kotoba_monitoring::Monitor::with_database(Arc::new(KnownDb::new()), config).unwrap();
    let c = monitor.collector();
    // A name bomb fills the user's share before anything starts.
    for i in 0..100 {
        let _ = c.record(&format!("bomb_{i}"), 1.0, &[]);
    }
    c.queries()
        .operation("get")
        .unwrap()
        .record(Duration::from_millis(1), true);
    monitor.start().unwrap();
    let r = c.registry().clone();
    wait_for("collections", Duration::from_secs(30), || {
        (gauge(&r, "kotoba_db_connections_active", &[]) == 10.0).then_some(())
    });
    monitor.health().unwrap().check_health().unwrap();
    let addr = monitor.local_addr().unwrap();
    assert_eq!(common::get(addr, "/metrics").status, 200);
    let health = common::get(addr, "/health");
    assert_eq!(health.status, 200, "{}", health.text());
    // Nothing of the library's was refused.
    assert_eq!(errors(&r, "database"), 0.0);
    assert!(c.last_error().is_none(), "{:?}", c.last_error());
    #[cfg(feature = "system")]
    assert!(r.metric_type("process_resident_memory_bytes").is_some());
    let refused = counter(&r, "kotoba_monitoring_families_rejected_total", &[]);
    assert!(refused >= 97.0, "{refused}");
    monitor.stop().unwrap();
}
