//! PromQL in code over the history: instant and range queries, typed results, errors.

mod common;

use std::time::Duration;

use common::wait_for;
use kotoba_monitoring::{
    HistoryStore, LabelSet, MetricsCollector, MonitoringConfig, MonitoringError, QueryError,
    QueryValue,
};
use time::OffsetDateTime;

fn vector(v: QueryValue) -> Vec<(Vec<(String, String)>, f64)> {
    match v {
        QueryValue::Vector(samples) => samples.into_iter().map(|s| (s.labels, s.value)).collect(),
        other => panic!("not a vector: {other:?}"),
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn queries_read_the_series_metrics_exposes() {
    let c = MetricsCollector::standalone(MonitoringConfig {
        collection_interval: Duration::from_millis(20),
        ..MonitoringConfig::default()
    })
    .unwrap();
    let get = c.queries().operation("get").unwrap();
    for ms in [1, 2, 3, 40] {
        get.record(Duration::from_millis(ms), true);
    }
    c.start().unwrap();
    let ticks = || {
        let now = OffsetDateTime::now_utc();
        c.get_metrics(
            "kotoba_db_queries_total",
            now - Duration::from_secs(60),
            now,
        )
        .unwrap()
        .len()
    };
    wait_for("three ticks", Duration::from_secs(30), || {
        (ticks() >= 3).then_some(())
    });
    c.stop().unwrap();
    let now = OffsetDateTime::now_utc();

    let total = vector(c.query("kotoba_db_queries_total", now).unwrap());
    assert_eq!(
        total,
        [(
            pairs(&[
                ("__name__", "kotoba_db_queries_total"),
                ("operation", "get")
            ]),
            4.0
        )]
    );
    // The buckets are there for histogram_quantile: 3 of 4 values are under 5 ms.
    let share = vector(
        c.query(
            "sum(kotoba_db_query_latency_seconds_bucket{le=\"0.005\"}) / sum(kotoba_db_query_latency_seconds_count)",
            now,
        )
        .unwrap(),
    );
    assert_eq!(share, [(Vec::new(), 0.75)]);
    let p50 = vector(
        c.query(
            "histogram_quantile(0.5, sum by (le) (kotoba_db_query_latency_seconds_bucket))",
            now,
        )
        .unwrap(),
    );
    assert!(p50[0].1 > 0.001 && p50[0].1 <= 0.0025, "{p50:?}");
    let window = vector(
        c.query("kotoba_db_query_latency_window_seconds{q=\"0.99\"}", now)
            .unwrap(),
    );
    assert!((window[0].1 - 0.040).abs() <= 0.040 * 0.01, "{window:?}");
    assert_eq!(c.query("1 + 1", now).unwrap(), QueryValue::Scalar(2.0));
}

#[test]
fn bad_and_unsupported_expressions_are_errors() {
    let store = HistoryStore::new(Duration::from_secs(3600), 100);
    let now = OffsetDateTime::now_utc();
    let err = store.query("rate(x[5m]", now).unwrap_err();
    assert!(
        matches!(err, MonitoringError::Query(QueryError::Parse { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains("unclosed left parenthesis"),
        "{err}"
    );
    let err = store.query("histogram_count(x)", now).unwrap_err();
    assert!(
        matches!(err, MonitoringError::Query(QueryError::Unsupported { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains("function histogram_count"),
        "{err}"
    );
    let err = store.query("max_over_time(x[1d:10ms])", now).unwrap_err();
    assert!(err.to_string().contains("larger step"), "{err}");
}

#[test]
fn range_queries_give_one_series_per_label_set() {
    let store = HistoryStore::new(Duration::from_secs(3600), 100);
    let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let minute = Duration::from_secs(60);
    for (op, values) in [("get", [1.0, 2.0, 3.0]), ("put", [10.0, 20.0, 30.0])] {
        let labels = LabelSet::new("jobs", &[("op", op)]).unwrap();
        for (i, v) in values.iter().enumerate() {
            store.append("jobs", &labels, start + minute * i as u32, *v);
        }
    }
    let end = start + minute * 2;
    let QueryValue::Matrix(series) = store.query_range("jobs * 2", start, end, minute).unwrap()
    else {
        panic!("not a matrix")
    };
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].labels, pairs(&[("op", "get")]));
    let values: Vec<f64> = series[1].points.iter().map(|p| p.1).collect();
    assert_eq!(values, [20.0, 40.0, 60.0]);
    assert_eq!(series[1].points[2].0, end);
    // `@ start()` and `@ end()` name the range query's first and last step at every step,
    // in a subquery too. (A subquery steps at multiples of its step since the epoch.)
    for (expr, want) in [
        ("jobs{op=\"put\"} @ start()", [10.0; 3]),
        ("jobs{op=\"put\"} @ end()", [30.0; 3]),
        (
            "max_over_time(jobs{op=\"put\"}[2m:10s] @ start())",
            [10.0; 3],
        ),
        (
            "max_over_time((jobs{op=\"put\"} @ end())[2m:1m])",
            [30.0; 3],
        ),
        (
            "max_over_time(jobs{op=\"put\"}[1m:10s])",
            [10.0, 20.0, 30.0],
        ),
    ] {
        let QueryValue::Matrix(got) = store.query_range(expr, start, end, minute).unwrap() else {
            panic!("not a matrix")
        };
        assert_eq!(got.len(), 1, "{expr}");
        let values: Vec<f64> = got[0].points.iter().map(|p| p.1).collect();
        assert_eq!(values, want, "{expr}");
    }
    let QueryValue::Matrix(scalar) = store.query_range("time()", start, end, minute).unwrap()
    else {
        panic!("not a matrix")
    };
    assert_eq!(scalar.len(), 1);
    assert!(scalar[0].labels.is_empty());
    assert_eq!(scalar[0].points[0].1, 1_700_000_000.0);
    for (from, to, step) in [
        (end, start, minute),
        (start, end, Duration::ZERO),
        (start, end, Duration::from_millis(1)),
    ] {
        let err = store.query_range("jobs", from, to, step).unwrap_err();
        assert!(
            matches!(err, MonitoringError::InvalidTimeRange { .. }),
            "{err}"
        );
    }
}

#[test]
fn the_lookback_is_the_store_s_own() {
    let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let found = |store: &HistoryStore, after: u64| {
        let labels = LabelSet::new("g", &[]).unwrap();
        store.append("g", &labels, t0, 1.0);
        vector(store.query("g", t0 + Duration::from_secs(after)).unwrap()).len()
    };
    let default = HistoryStore::new(Duration::from_secs(3600), 100);
    assert_eq!(default.query_lookback(), Duration::from_secs(300));
    // Closed at both ends: exactly 5 minutes back is still found.
    assert_eq!(found(&default, 300), 1);
    assert_eq!(found(&default, 301), 0);
    let short = HistoryStore::new(Duration::from_secs(3600), 100)
        .with_query_lookback(Duration::from_secs(60));
    assert_eq!(found(&short, 60), 1);
    assert_eq!(found(&short, 120), 0);
    // The collector's history takes it from the configuration.
    let c = MetricsCollector::standalone(MonitoringConfig {
        query_lookback: Duration::from_secs(30),
        ..MonitoringConfig::default()
    })
    .unwrap();
    assert_eq!(c.history().query_lookback(), Duration::from_secs(30));
}
