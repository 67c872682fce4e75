//! Module implementing the values a PromQL expression evaluates to. See [`Value`] for
//! details.

pub(crate) use crate::metrics::Labels;
pub(crate) use crate::promql::go_quote;

/// Sets label `name` in sorted `labels` (an empty value removes it, as Prometheus's label
/// builder does).
pub(crate) fn set_label(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value.to_owned(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_owned(), value.to_owned())),
    }
}

/// The value of label `name` in `labels`, empty when there is none (as PromQL reads a
/// missing label).
pub(crate) fn label_value<'a>(labels: &'a Labels, name: &str) -> &'a str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Prometheus's text of a label set, `{a="1", b="2"}`, in name order (Go's
/// `labels.Labels.String()` and `model.LabelSet.String()`, which promtool's reports and
/// Alertmanager's group keys print).
pub(crate) fn labels_string(labels: &Labels) -> String {
    let mut sorted: Vec<&(String, String)> = labels.iter().collect();
    sorted.sort();
    let pairs: Vec<String> = sorted
        .iter()
        .map(|(n, v)| format!("{n}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) labels: Labels,
    pub(crate) value: f64,
}

/// What an instant query yields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A single number.
    Scalar(f64),
    /// One sample per series.
    Vector(Vec<Sample>),
}

/// A range vector: each series' labels and its samples (milliseconds, value) in time order.
pub(crate) type RangeSeries = Vec<(Labels, Vec<(i64, f64)>)>;

#[cfg(test)]
mod quote_tests {
    use super::*;

    #[test]
    fn quotes_and_label_sets_print_as_go_prints_them() {
        // strconv.Quote's answers.
        assert_eq!(
            go_quote("a\"b\\c\u{1}\u{7f}\u{85}\u{a0}é\u{7}\n"),
            r#""a\"b\\c\x01\x7f\u0085\u00a0é\a\n""#
        );
        let labels: Labels = vec![("b".into(), "x\"y".into()), ("a".into(), "1".into())];
        assert_eq!(labels_string(&labels), r#"{a="1", b="x\"y"}"#);
        assert_eq!(label_value(&labels, "b"), "x\"y");
        assert_eq!(label_value(&labels, "c"), "");
    }
}
