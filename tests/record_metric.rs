//! `record_metric` over the bounded queue: overflow is counted, samples are stored exactly once,
//! the blocking policy loses nothing.

use std::collections::HashMap;
use std::time::Duration;

use kotoba_monitoring::{MetricsCollector, MonitoringConfig, OverflowPolicy};
use time::OffsetDateTime;

fn collector(capacity: usize, overflow: OverflowPolicy) -> MetricsCollector {
    MetricsCollector::standalone(MonitoringConfig {
        collection_interval: Duration::from_millis(10),
        ingest_queue_capacity: capacity,
        ingest_overflow: overflow,
        // These tests count what a stop drains, not how fast: a debug build on a loaded
        // machine took more than the default 5 s to store 20,000 queued samples.
        shutdown_timeout: Duration::from_secs(60),
        ..MonitoringConfig::default()
    })
    .unwrap()
}

fn dropped(c: &MetricsCollector) -> f64 {
    c.registry()
        .counter("kotoba_monitoring_samples_dropped_total", "", &[])
        .unwrap()
        .get()
}

fn hammer(c: &MetricsCollector, name: &str, threads: usize, per_thread: usize) {
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    c.record(name, 1.0, &[]).unwrap();
                }
            });
        }
    });
}

#[test]
fn overflow_drops_are_counted_and_nothing_else_is_lost() {
    let c = collector(1, OverflowPolicy::Drop);
    c.registry().counter("events_total", "", &[]).unwrap();
    c.start().unwrap();
    let (threads, per_thread) = (4, 20_000);
    hammer(&c, "events_total", threads, per_thread);
    c.flush(Duration::from_secs(10)).unwrap();
    let applied = c.registry().counter("events_total", "", &[]).unwrap().get();
    // Every sample was either applied or counted as dropped.
    assert_eq!(applied + dropped(&c), (threads * per_thread) as f64);
    c.stop().unwrap();
}

#[test]
fn blocking_policy_applies_every_sample() {
    let c = collector(1, OverflowPolicy::Block);
    c.registry().counter("blocked_total", "", &[]).unwrap();
    c.start().unwrap();
    hammer(&c, "blocked_total", 4, 5_000);
    c.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(
        c.registry()
            .counter("blocked_total", "", &[])
            .unwrap()
            .get(),
        20_000.0
    );
    assert_eq!(dropped(&c), 0.0);
    c.stop().unwrap();
}

#[test]
fn each_sample_is_stored_exactly_once() {
    // A tick at start, none for an hour, and a last one at stop, which may store the gauge's
    // final value once more as a regular sample, later than every sample.
    let c = MetricsCollector::standalone(MonitoringConfig {
        collection_interval: Duration::from_secs(3600),
        ..MonitoringConfig::default()
    })
    .unwrap();
    c.start().unwrap();
    let from = OffsetDateTime::now_utc();
    let labels = HashMap::from([("op".to_owned(), "put".to_owned())]);
    for i in 0..20 {
        c.record_metric("queue_depth", i as f64, labels.clone())
            .unwrap();
    }
    c.flush(Duration::from_secs(5)).unwrap();
    c.stop().unwrap();
    let points = c
        .get_metrics("queue_depth", from, OffsetDateTime::now_utc())
        .unwrap();
    let values: Vec<f64> = points.iter().map(|p| p.value).take(20).collect();
    assert_eq!(values, (0..20).map(f64::from).collect::<Vec<_>>());
    assert!(points.len() <= 21, "{points:?}");
    if let Some(last) = points.get(20) {
        assert!(last.value == 19.0 && last.timestamp > points[19].timestamp);
    }
    assert!(points.iter().all(|p| p.labels.get("op") == Some("put")));
}

#[test]
fn stop_drains_the_queue_into_the_store() {
    let c = collector(100_000, OverflowPolicy::Drop);
    c.registry().counter("drained_total", "", &[]).unwrap();
    c.start().unwrap();
    hammer(&c, "drained_total", 2, 10_000);
    c.stop().unwrap();
    let counter = c.registry().counter("drained_total", "", &[]).unwrap();
    assert_eq!(counter.get() + dropped(&c), 20_000.0);
    assert_eq!(
        dropped(&c),
        0.0,
        "the queue was large enough for every sample"
    );
}

#[test]
fn a_value_its_type_refuses_is_an_error_whether_or_not_the_collector_runs() {
    // Each on a fresh collector, where the seed's counter has no family yet.
    let stopped = collector(1024, OverflowPolicy::Drop);
    let running = collector(1024, OverflowPolicy::Drop);
    running.start().unwrap();
    for c in [&stopped, &running] {
        let err = c
            .record("kotoba_db_queries_total", -5.0, &[("op", "get")])
            .expect_err("a counter refuses a negative increment");
        assert!(err.to_string().contains("kotoba_db_queries_total"), "{err}");
    }
    running.stop().unwrap();
}
