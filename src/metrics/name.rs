//! Module implementing the Prometheus naming rules for metrics and labels.
//! See [`validate_metric_name`] and [`validate_label_name`] for details.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::MonitoringError;

/// A metric name as a number, for the handles that show it only in errors and `Debug`: 4 bytes
/// in every counter instead of a 16-byte pointer to a shared string, which at a million series
/// is 16 MB twice over (the handle is held by the registry and by its user). Each distinct
/// name is kept once for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct MetricName(u32);

/// The names given a number so far, and their numbers.
struct Interned {
    numbers: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

static INTERNED: Mutex<Option<Interned>> = Mutex::new(None);

impl MetricName {
    /// The number of `name`, given it if it has none yet.
    pub(crate) fn of(name: &str) -> Self {
        let mut guard = INTERNED.lock();
        let interned = guard.get_or_insert_with(|| Interned {
            numbers: HashMap::new(),
            names: Vec::new(),
        });
        if let Some(&n) = interned.numbers.get(name) {
            return Self(n);
        }
        // Past 2^32 names (never, in practice) the last number is reused: only messages
        // would name the wrong metric.
        let n = u32::try_from(interned.names.len()).unwrap_or(u32::MAX);
        let name: Arc<str> = name.into();
        interned.names.push(name.clone());
        interned.numbers.insert(name, n);
        Self(n)
    }

    /// The name.
    pub(crate) fn name(self) -> Arc<str> {
        INTERNED
            .lock()
            .as_ref()
            .and_then(|i| i.names.get(self.0 as usize).cloned())
            .unwrap_or_else(|| "".into())
    }
}

impl std::fmt::Debug for MetricName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.name(), f)
    }
}

/// Checks a metric name against `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn validate_metric_name(name: &str) -> Result<(), MonitoringError> {
    check(name, |c| c == '_' || c == ':').map_err(|reason| MonitoringError::InvalidMetricName {
        name: name.to_owned(),
        reason,
    })
}

/// Checks a label name against `[a-zA-Z_][a-zA-Z0-9_]*` without the reserved `__` prefix.
pub(crate) fn validate_label_name(metric: &str, label: &str) -> Result<(), MonitoringError> {
    check(label, |c| c == '_')
        .and_then(|()| {
            if label.starts_with("__") {
                Err("names starting with \"__\" are reserved for Prometheus".to_owned())
            } else {
                Ok(())
            }
        })
        .map_err(|reason| MonitoringError::InvalidLabelName {
            metric: metric.to_owned(),
            label: label.to_owned(),
            reason,
        })
}

/// Whether `name` matches Prometheus's label name rule, `[a-zA-Z_][a-zA-Z0-9_]*` (names
/// with `__` included, as PromQL's `by`, `without` and `label_*` take them).
pub(crate) fn is_label_name(name: &str) -> bool {
    check(name, |c| c == '_').is_ok()
}

/// Checks `name` against `[a-zA-Z<extra>][a-zA-Z0-9<extra>]*`, saying which part it broke.
fn check(name: &str, extra: impl Fn(char) -> bool) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("it is empty".to_owned()),
        Some(c) if c.is_ascii_digit() => return Err("it must not start with a digit".to_owned()),
        Some(c) if !(c.is_ascii_alphabetic() || extra(c)) => {
            return Err(format!("it must not start with {c:?}"))
        }
        Some(_) => {}
    }
    match chars.find(|c| !(c.is_ascii_alphanumeric() || extra(*c))) {
        Some(c) => Err(format!("character {c:?} is not allowed")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for ok in [
            "a",
            "_a",
            ":a",
            "kotoba_db_queries_total",
            "job:rate5m",
            "A9_:",
        ] {
            assert!(validate_metric_name(ok).is_ok(), "{ok} should be valid");
        }
        for (bad, why) in [
            ("", "empty"),
            ("9lives", "digit"),
            ("-x", "start with '-'"),
            ("a-b", "'-'"),
            ("a b", "' '"),
            ("é", "start with 'é'"),
            ("a.b", "'.'"),
        ] {
            let err = validate_metric_name(bad).unwrap_err();
            assert!(err.to_string().contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn label_names() {
        for ok in ["a", "_a", "check_name", "le", "quantile", "_"] {
            assert!(validate_label_name("m", ok).is_ok(), "{ok} should be valid");
        }
        for (bad, why) in [
            ("", "empty"),
            ("1a", "digit"),
            (":a", "start with ':'"),
            ("a:b", "':'"),
            ("__name__", "reserved"),
            ("__x", "reserved"),
            ("a-b", "'-'"),
        ] {
            let err = validate_label_name("m", bad).unwrap_err();
            assert!(err.to_string().contains(why), "{bad:?}: {err}");
            assert_eq!(err.metric_name(), Some("m"));
        }
    }
}

#[cfg(test)]
mod interning_tests {
    use super::MetricName;

    #[test]
    fn a_name_keeps_its_number_and_gives_it_back() {
        let a = MetricName::of("interned_a_total");
        let b = MetricName::of("interned_b_total");
        assert!(a != b);
        assert!(MetricName::of("interned_a_total") == a);
        assert_eq!(&*a.name(), "interned_a_total");
        assert_eq!(format!("{b:?}"), "\"interned_b_total\"");
    }
}

/// The quantiles of the recent window, exported as `<name>_window<_unit>{q="…"}` gauges.
pub(crate) const WINDOW_QUANTILES: [(f64, &str); 5] = [
    (0.5, "0.5"),
    (0.9, "0.9"),
    (0.95, "0.95"),
    (0.99, "0.99"),
    (0.999, "0.999"),
];

/// The base units a metric name may end in, which OpenMetrics declares as its UNIT.
const UNITS: [&str; 10] = [
    "seconds", "bytes", "ratio", "percent", "celsius", "meters", "volts", "amperes", "joules",
    "grams",
];

/// Splits a base-unit suffix off a name: `query_latency_seconds` → (`query_latency`,
/// `seconds`); a name without one, or that is only a unit, comes back whole.
pub(crate) fn split_unit_suffix(name: &str) -> (&str, Option<&'static str>) {
    for unit in UNITS {
        let stem = name
            .strip_suffix(unit)
            .and_then(|rest| rest.strip_suffix('_'))
            .filter(|stem| !stem.is_empty());
        if let Some(stem) = stem {
            return (stem, Some(unit));
        }
    }
    (name, None)
}

/// The name of the gauge family holding `histogram`'s recent-window quantiles: `h_window`, or
/// `<stem>_window_<unit>` when the name ends in a unit.
pub(crate) fn window_family_name(histogram: &str) -> String {
    let (stem, _) = split_unit_suffix(histogram);
    format!("{stem}_window{}", &histogram[stem.len()..])
}
