//! Module implementing a runner for `promtool test rules` files, so that an expression can be
//! tested without a Prometheus. See [`test_rules_file`] for details.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::query::{self, duration_ms, duration_string, Labels, QueryError, Step, Store, Value};
use crate::MonitoringError;

/// A test file, as promtool 2.42 reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    name: String,
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    external_labels: HashMap<String, String>,
    #[serde(default)]
    external_url: Option<String>,
    #[serde(default)]
    alert_rule_test: Vec<serde_norway::Value>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

/// The outcome of one test file: passed, or the failures promtool would print.
///
/// Its `Display` is promtool's report: `Unit Testing:  <file>`, then `SUCCESS` or `FAILED:`
/// and each failure (`expr: "…", time: 10m,` with the expected and the received samples).
#[derive(Debug, Clone, PartialEq)]
pub struct RulesTestReport {
    file: PathBuf,
    failures: Vec<String>,
}

impl RulesTestReport {
    /// Whether every test in the file passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Each failure, as promtool words it.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }
}

impl fmt::Display for RulesTestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Byte for byte what promtool 2.42 prints, blank lines included.
        writeln!(f, "Unit Testing:  {}", self.file.display())?;
        if self.passed() {
            return writeln!(f, "  SUCCESS\n");
        }
        writeln!(f, "  FAILED:")?;
        for failure in &self.failures {
            writeln!(f, "{failure}")?;
        }
        // promtool prints a blank line on stdout after each failure and one at the end; read
        // as one stream, they all come after the failures.
        for _ in 0..=self.failures.len() {
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Runs a `promtool test rules` file, comparing results exactly as promtool 2.42 does: each
/// `promql_expr_test` is evaluated at its `eval_time` over the group's `input_series` (one
/// sample per `interval` from time zero, in Prometheus's series notation), and its samples
/// must equal the expected ones, labels and float bits alike (a NaN never matches).
///
/// What this runner evaluates so far: number literals, parentheses, unary minus, instant
/// vector selectors with every matcher, `offset` and `@`, with Prometheus's 5-minute
/// lookback (closed at both ends) and staleness, the binary operators with vector matching,
/// the aggregations, and the functions the crate's README lists. Anything else fails its
/// test with an error that names it; rule files and `alert_rule_test` are refused.
///
/// Where a result depends on the order of the input series (a float sum that rounds, a
/// running mean, a tie in `topk`), series are taken in label order, one of the orders
/// Prometheus may use; promtool 2.42 itself answers such tests differently from run to run,
/// since it loads the input series from a Go map.
///
/// # Errors
///
/// [`MonitoringError::Io`] when the file cannot be read; [`MonitoringError::ConfigParse`]
/// when it is not a test file (bad YAML, an unknown field, a bad duration, a group without
/// `interval`, or a part this runner does not run yet).
pub fn test_rules_file(path: impl AsRef<Path>) -> Result<RulesTestReport, MonitoringError> {
    let path = path.as_ref();
    let bad = |message: String| MonitoringError::ConfigParse {
        path: Some(path.to_owned()),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| MonitoringError::Io {
        path: path.to_owned(),
        source,
    })?;
    let file: TestFile = serde_norway::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if !file.rule_files.is_empty() || !file.group_eval_order.is_empty() {
        return Err(bad(
            "rule_files and group_eval_order are not run yet: this runner evaluates promql_expr_test only".to_owned(),
        ));
    }
    // A subquery without a step steps by the evaluation interval, as in promtool.
    let evaluation_interval = match &file.evaluation_interval {
        Some(interval) => duration_ms(interval).map_err(bad)?,
        None => 60_000,
    };
    let mut failures = Vec::new();
    for group in &file.tests {
        failures.extend(run_group(group, evaluation_interval).map_err(bad)?);
    }
    Ok(RulesTestReport {
        file: path.to_owned(),
        failures,
    })
}

/// Runs one test group; `Err` for a group that cannot run at all.
fn run_group(group: &TestGroup, evaluation_interval: i64) -> Result<Vec<String>, String> {
    let _ = (&group.name, &group.external_labels, &group.external_url);
    if !group.alert_rule_test.is_empty() {
        return Err(
            "alert_rule_test is not run yet: this runner evaluates promql_expr_test only"
                .to_owned(),
        );
    }
    let interval = match &group.interval {
        Some(text) => duration_ms(text)?,
        None => {
            return Err(
                "a test group needs an interval, such as \"1m\" (promtool 2.42 has no default)"
                    .to_owned(),
            )
        }
    };
    let mut series = Vec::with_capacity(group.input_series.len());
    for input in &group.input_series {
        let desc = query::parse_series_desc(&format!("{} {}", input.series, input.values))
            .map_err(|e| e.to_string())?;
        let mut samples = Vec::new();
        for (i, step) in desc.steps.iter().enumerate() {
            if let Step::Value(v) = step {
                samples.push((i as i64 * interval, *v));
            }
        }
        series.push((desc.labels, samples));
    }
    let store = Store::from_series(series);
    let mut failures = Vec::new();
    for test in &group.promql_expr_test {
        let at = duration_ms(&test.eval_time)?;
        let time = duration_string(at);
        let step = std::time::Duration::from_millis(evaluation_interval.unsigned_abs());
        let got = match query::parse(&test.expr, None).and_then(|mut expr| {
            if query::is_range_or_string(&expr).is_some() {
                // promtool's own words for a result it cannot compare.
                return Err(QueryError::evaluation(
                    &test.expr,
                    "rule result is not a vector or scalar",
                ));
            }
            query::prepare(&mut expr, at, at, step);
            query::eval_instant(&test.expr, &expr, at, &store)
        }) {
            Ok(Value::Scalar(v)) => vec![(Labels::new(), v)],
            Ok(Value::Vector(samples)) => {
                samples.into_iter().map(|s| (s.labels, s.value)).collect()
            }
            Err(e) => {
                // An evaluation error reads as Prometheus's own message, as promtool prints it.
                let reason = match e {
                    QueryError::Evaluation { reason, .. } => reason,
                    other => other.to_string(),
                };
                failures.push(format!(
                    "    expr: {:?}, time: {time}, err: {reason}",
                    test.expr
                ));
                continue;
            }
        };
        let mut expected = Vec::new();
        for sample in &test.exp_samples {
            match query::metric_labels(&sample.labels) {
                Ok(labels) => expected.push((labels, sample.value)),
                Err(e) => {
                    failures.push(format!(
                        "    expr: {:?}, time: {time}, err: labels {:?}: {e}",
                        test.expr, sample.labels
                    ));
                    break;
                }
            }
        }
        if expected.len() != test.exp_samples.len() {
            continue;
        }
        let mut got = got;
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        got.sort_by(|a, b| a.0.cmp(&b.0));
        // Go's reflect.DeepEqual: labels equal, floats equal with `==`.
        let same = expected.len() == got.len()
            && expected
                .iter()
                .zip(&got)
                .all(|(e, g)| e.0 == g.0 && e.1 == g.1);
        if !same {
            failures.push(format!(
                "    expr: {:?}, time: {time},\n        exp: {}\n        got: {}",
                test.expr,
                samples_string(&expected),
                samples_string(&got)
            ));
        }
    }
    Ok(failures)
}

/// Samples as promtool prints them: `{a="b"} 1E+00, …`, or `nil`.
fn samples_string(samples: &[(Labels, f64)]) -> String {
    if samples.is_empty() {
        return "nil".to_owned();
    }
    samples
        .iter()
        .map(|(labels, v)| {
            let labels: Vec<String> = labels
                .iter()
                .map(|(n, v)| format!("{n}={}", go_quote(v)))
                .collect();
            format!("{{{}}} {}", labels.join(", "), go_float_e(*v))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `strconv.Quote` for the text a label value holds.
fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`, as promtool prints sample values.
fn go_float_e(v: f64) -> String {
    query::format_float(v, 'E')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them_with_e() {
        assert_eq!(go_float_e(1.1), "1.1E+00");
        assert_eq!(go_float_e(1.0999999999999999), "1.0999999999999999E+00");
        assert_eq!(go_float_e(1500.0), "1.5E+03");
        assert_eq!(go_float_e(0.00015), "1.5E-04");
        assert_eq!(go_float_e(-2.0), "-2E+00");
        assert_eq!(go_float_e(f64::NEG_INFINITY), "-Inf");
    }
}
