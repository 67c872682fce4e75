//! Every kind of bad name or label is refused with an error that names it, and loses nothing
//! already stored.

use std::collections::HashMap;

use kotoba_monitoring::{MetricsCollector, MonitoringConfig, MonitoringError, Registry};

fn registry_with_data() -> (Registry, kotoba_monitoring::Counter) {
    let registry = Registry::new();
    let kept = registry.counter("kept_total", "", &[("a", "1")]).unwrap();
    kept.inc_by(5);
    (registry, kept)
}

fn assert_untouched(registry: &Registry, kept: &kotoba_monitoring::Counter) {
    assert_eq!(kept.get(), 5.0);
    assert_eq!(
        registry
            .counter("kept_total", "", &[("a", "1")])
            .unwrap()
            .get(),
        5.0
    );
}

#[test]
fn empty_metric_name() {
    let (r, kept) = registry_with_data();
    let err = r.counter("", "", &[]).unwrap_err();
    assert!(matches!(err, MonitoringError::InvalidMetricName { .. }));
    assert!(err.to_string().contains("empty"), "{err}");
    assert_untouched(&r, &kept);
}

#[test]
fn metric_name_starting_with_a_digit() {
    let (r, kept) = registry_with_data();
    let err = r.gauge("1st_gauge", "", &[]).unwrap_err();
    assert!(
        err.to_string().contains("must not start with a digit"),
        "{err}"
    );
    assert_untouched(&r, &kept);
}

#[test]
fn metric_name_with_a_forbidden_character() {
    let (r, kept) = registry_with_data();
    let err = r.histogram("query.latency", "", &[]).unwrap_err();
    assert!(err.to_string().contains("'.' is not allowed"), "{err}");
    assert_eq!(err.metric_name(), Some("query.latency"));
    assert_untouched(&r, &kept);
}

#[test]
fn label_name_with_a_forbidden_character() {
    let (r, kept) = registry_with_data();
    let err = r.counter("kept_total", "", &[("a-b", "1")]).unwrap_err();
    assert!(matches!(err, MonitoringError::InvalidLabelName { ref label, .. } if label == "a-b"));
    assert!(err.to_string().contains("'-' is not allowed"), "{err}");
    assert_untouched(&r, &kept);
}

#[test]
fn label_name_starting_with_a_digit() {
    let (r, kept) = registry_with_data();
    let err = r.counter("kept_total", "", &[("9a", "1")]).unwrap_err();
    assert!(
        err.to_string().contains("must not start with a digit"),
        "{err}"
    );
    assert_untouched(&r, &kept);
}

#[test]
fn label_name_with_a_colon() {
    let (r, kept) = registry_with_data();
    let err = r.counter("kept_total", "", &[("a:b", "1")]).unwrap_err();
    assert!(err.to_string().contains("':' is not allowed"), "{err}");
    assert_untouched(&r, &kept);
}

#[test]
fn reserved_label_name() {
    let (r, kept) = registry_with_data();
    let err = r
        .counter("kept_total", "", &[("__name__", "x")])
        .unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    assert_untouched(&r, &kept);
}

#[test]
fn empty_label_name() {
    let (r, kept) = registry_with_data();
    let err = r.counter("kept_total", "", &[("", "x")]).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    assert_untouched(&r, &kept);
}

#[test]
fn duplicate_label_name() {
    let (r, kept) = registry_with_data();
    let err = r
        .counter("kept_total", "", &[("a", "1"), ("a", "2")])
        .unwrap_err();
    assert!(
        matches!(err, MonitoringError::DuplicateLabel { .. }),
        "{err}"
    );
    assert_untouched(&r, &kept);
}

#[test]
fn reserved_histogram_label() {
    let r = Registry::new();
    let err = r.histogram("h_seconds", "", &[("le", "0.1")]).unwrap_err();
    assert!(
        err.to_string().contains("histograms export it themselves"),
        "{err}"
    );
}

#[test]
fn one_name_two_types() {
    let (r, kept) = registry_with_data();
    let err = r.gauge("kept_total", "", &[("a", "1")]).unwrap_err();
    assert!(matches!(
        err,
        MonitoringError::TypeConflict {
            registered: "counter",
            requested: "gauge",
            ..
        }
    ));
    assert!(err.to_string().contains("registered as a counter"), "{err}");
    assert_untouched(&r, &kept);
}

#[test]
fn label_values_are_any_utf8() {
    let r = Registry::new();
    let value = "quote \" backslash \\ newline \n 日本語 🙂";
    let g = r.gauge("utf8_values", "", &[("v", value)]).unwrap();
    g.set(1.0);
    assert_eq!(
        r.gauge("utf8_values", "", &[("v", value)]).unwrap().get(),
        1.0
    );
}

#[test]
fn record_metric_refuses_bad_names_synchronously() {
    let collector = MetricsCollector::standalone(MonitoringConfig::default()).unwrap();
    let err = collector
        .record_metric("bad name", 1.0, HashMap::new())
        .unwrap_err();
    assert!(matches!(err, MonitoringError::InvalidMetricName { .. }));
    let labels = HashMap::from([("bad-label".to_owned(), "x".to_owned())]);
    let err = collector
        .record_metric("good_name", 1.0, labels)
        .unwrap_err();
    assert!(matches!(err, MonitoringError::InvalidLabelName { .. }));
    assert!(collector.registry().metric_type("good_name").is_none());
}

#[test]
fn a_name_bomb_is_capped_refused_and_counted() {
    let c = MetricsCollector::standalone(MonitoringConfig {
        max_metric_families: 100,
        ..MonitoringConfig::default()
    })
    .unwrap();
    let kept = c.registry().counter("kept_total", "", &[]).unwrap();
    kept.inc_by(5);
    let mut refused = 0;
    for i in 0..20_000 {
        match c.record(&format!("bomb_{i}"), 1.0, &[]) {
            Ok(()) => {}
            Err(MonitoringError::RegistryFull { limit: 100, .. }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
    }
    let accepted = c
        .registry()
        .metric_names()
        .iter()
        .filter(|n| n.starts_with("bomb_"))
        .count();
    assert!(accepted < 100, "{accepted}");
    assert_eq!(accepted + refused, 20_000);
    let counted = c
        .registry()
        .counter("kotoba_monitoring_families_rejected_total", "", &[])
        .unwrap()
        .get();
    assert_eq!(counted, refused as f64);
    assert_eq!(kept.get(), 5.0);
}
