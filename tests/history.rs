//! The collector fills history at every tick, and queries return points in time order.

use std::time::{Duration, Instant};

use kotoba_monitoring::{LabelMatcher, MetricsCollector, MonitoringConfig, MonitoringError};
use time::OffsetDateTime;

fn fast_collector() -> MetricsCollector {
    MetricsCollector::standalone(MonitoringConfig {
        collection_interval: Duration::from_millis(10),
        ..MonitoringConfig::default()
    })
    .unwrap()
}

/// Polls `done` until it holds or `limit` passes.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    done()
}

#[test]
fn ticks_store_every_series_in_time_order() {
    let c = fast_collector();
    let from = OffsetDateTime::now_utc();
    let gets = c
        .registry()
        .counter("kotoba_db_queries_total", "Queries.", &[("op", "get")])
        .unwrap();
    let puts = c
        .registry()
        .counter("kotoba_db_queries_total", "Queries.", &[("op", "put")])
        .unwrap();
    let latency = c
        .registry()
        .histogram("kotoba_db_query_latency_seconds", "Latency.", &[])
        .unwrap();
    c.start().unwrap();
    for i in 0..50 {
        gets.inc();
        puts.inc_by(2);
        latency.observe(0.001 * (i % 10 + 1) as f64);
    }
    let enough = wait_for(Duration::from_secs(10), || {
        let now = OffsetDateTime::now_utc();
        let points = c
            .get_metrics_matching(
                "kotoba_db_queries_total",
                &[LabelMatcher::eq("op", "get")],
                from,
                now,
            )
            .unwrap();
        points.iter().filter(|p| p.value == 50.0).count() >= 2
    });
    assert!(
        enough,
        "two ticks after the increments should have stored 50"
    );
    c.stop().unwrap();

    let to = OffsetDateTime::now_utc();
    let all = c.get_metrics("kotoba_db_queries_total", from, to).unwrap();
    assert!(all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    assert!(all
        .iter()
        .any(|p| p.labels.get("op") == Some("put") && p.value == 100.0));
    // Counters never go down in history.
    let puts_history: Vec<f64> = c
        .get_metrics_matching(
            "kotoba_db_queries_total",
            &[LabelMatcher::eq("op", "put")],
            from,
            to,
        )
        .unwrap()
        .iter()
        .map(|p| p.value)
        .collect();
    assert!(puts_history.windows(2).all(|w| w[0] <= w[1]));

    let count = c
        .get_metrics("kotoba_db_query_latency_seconds_count", from, to)
        .unwrap();
    assert_eq!(count.last().unwrap().value, 50.0);
    // The window quantiles under the name /metrics exposes them with.
    let p99 = c
        .get_metrics_matching(
            "kotoba_db_query_latency_window_seconds",
            &[LabelMatcher::eq("q", "0.99")],
            from,
            to,
        )
        .unwrap();
    assert!((p99.last().unwrap().value - 0.010).abs() <= 0.010 * 0.01);
    // And the cumulative buckets, as a Prometheus scraping us stores them.
    let inf = c
        .get_metrics_matching(
            "kotoba_db_query_latency_seconds_bucket",
            &[LabelMatcher::eq("le", "+Inf")],
            from,
            to,
        )
        .unwrap();
    assert_eq!(inf.last().unwrap().value, 50.0);
}

#[test]
fn retention_and_point_cap_bound_history() {
    let c = MetricsCollector::standalone(MonitoringConfig {
        collection_interval: Duration::from_millis(5),
        max_metrics_points: 3,
        ..MonitoringConfig::default()
    })
    .unwrap();
    let g = c.registry().gauge("bounded_gauge", "", &[]).unwrap();
    g.set(1.0);
    c.start().unwrap();
    let from = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let points = || {
        c.get_metrics("bounded_gauge", from, OffsetDateTime::now_utc())
            .unwrap()
    };
    assert!(wait_for(Duration::from_secs(10), || !points().is_empty()));
    let first = points()[0].timestamp;
    // More ticks than the cap allows: the first point must have been dropped for a newer one.
    let rolled = wait_for(Duration::from_secs(10), || {
        let p = points();
        p.len() == 3 && p[0].timestamp > first
    });
    c.stop().unwrap();
    assert!(rolled, "history should hold the 3 newest points");
    assert!(points().len() <= 3);
}

#[test]
fn queries_with_bad_arguments_are_errors() {
    let c = fast_collector();
    let now = OffsetDateTime::now_utc();
    assert!(matches!(
        c.get_metrics("x", now, now - Duration::from_secs(1)),
        Err(MonitoringError::InvalidTimeRange { .. })
    ));
    assert!(matches!(
        c.get_metrics("not a name", now, now),
        Err(MonitoringError::InvalidMetricName { .. })
    ));
    assert!(c
        .get_metrics("never_recorded", now, now)
        .unwrap()
        .is_empty());
}
