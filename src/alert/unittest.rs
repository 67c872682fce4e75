//! Module implementing a runner for `promtool test rules` files, so that an expression can be
//! tested without a Prometheus. See [`test_rules_file`] for details.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::group::{instant, GroupRun};
use super::lifecycle::{AlertState, TemplateContext};
use super::rules::{load_rule_file, Rule};
use crate::query::{self, duration_ms, duration_string, labels_string, Labels, Step, Store};
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
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: String,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: std::collections::BTreeMap<String, String>,
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
/// Rule files (`rule_files`, relative to the test file, globs allowed) are evaluated as
/// promtool does: every group at each multiple of `evaluation_interval` from time zero to the
/// last test's time, in `group_eval_order`, each rule's output written back before the next
/// runs (recordings, `ALERTS`, `ALERTS_FOR_STATE`, stale markers); `alert_rule_test` compares
/// the firing alerts of the evaluation at or just before its time, labels and annotations.
/// Templates in alert labels and annotations are expanded as Prometheus expands them, with
/// the test group's `external_labels` and `external_url`.
///
/// What the PromQL evaluates: number literals, parentheses, unary minus, instant vector
/// selectors with every matcher, `offset` and `@`, with Prometheus's 5-minute lookback
/// (closed at both ends) and staleness, subqueries, the binary operators with vector
/// matching, the aggregations, and the functions `reference::promql` lists. Anything else
/// fails its test with an error that names it.
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
    // A subquery without a step steps by the evaluation interval, as in promtool, and the
    // rules are evaluated at every multiple of it.
    let evaluation_interval = match &file.evaluation_interval {
        Some(interval) => duration_ms(interval).map_err(bad)?,
        None => 60_000,
    };
    if evaluation_interval <= 0 {
        return Err(bad(
            "evaluation_interval must be longer than zero".to_owned()
        ));
    }
    let report = |failures| RulesTestReport {
        file: path.to_owned(),
        failures,
    };
    let mut order: HashMap<&str, usize> = HashMap::new();
    for (i, name) in file.group_eval_order.iter().enumerate() {
        if order.insert(name, i).is_some() {
            return Ok(report(vec![format!(
                "group name repeated in evaluation order: {name}"
            )]));
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let rule_files = match resolve_rule_files(dir, &file.rule_files) {
        Ok(files) => files,
        Err(e) => return Ok(report(vec![e])),
    };
    let mut failures = Vec::new();
    for group in &file.tests {
        let rules = Rules {
            files: &rule_files,
            order: &order,
            evaluation_interval,
        };
        failures.extend(run_group(group, &rules).map_err(bad)?);
    }
    Ok(report(failures))
}

/// The rule files of a test file, each path taken from the test file's folder; a `*` or `?`
/// in a file name matches as in a shell (promtool globs them).
fn resolve_rule_files(dir: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for pattern in patterns {
        let path = clean(&dir.join(pattern));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.contains(['*', '?']) {
            files.push(path);
            continue;
        }
        let parent = path.parent().unwrap_or(dir);
        let mut matched: Vec<PathBuf> = std::fs::read_dir(parent)
            .map_err(|e| format!("{}: {e}", parent.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| wildcard(&name, &n.to_string_lossy()))
            })
            .collect();
        matched.sort();
        files.extend(matched);
    }
    Ok(files)
}

/// `path` with `.` and `name/..` taken out by its text alone, as Go's `filepath.Join` does,
/// so that errors name a rule file as promtool does.
fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut parts: Vec<Component<'_>> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            Component::ParentDir if matches!(parts.last(), Some(Component::RootDir)) => {}
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return PathBuf::from(".");
    }
    parts.iter().collect()
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` one.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// What every test group of a file evaluates: its rule files, the groups' order, and the
/// evaluation interval.
struct Rules<'a> {
    files: &'a [PathBuf],
    order: &'a HashMap<&'a str, usize>,
    evaluation_interval: i64,
}

impl Rules<'_> {
    /// Fresh groups (no alerts yet), in `group_eval_order` (groups it does not name first,
    /// in file order); `Err` with every problem of the files.
    fn groups(&self, context: &TemplateContext) -> Result<Vec<GroupRun>, Vec<String>> {
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        for file in self.files {
            match load_rule_file(file) {
                Ok(loaded) => groups.extend(loaded),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        groups.sort_by_key(|g| self.order.get(g.name.as_str()).copied().unwrap_or(0));
        Ok(groups
            .into_iter()
            .map(|g| GroupRun::new(g, context.clone()))
            .collect())
    }
}

/// Runs one test group; `Err` for a group that cannot run at all.
fn run_group(group: &TestGroup, rules: &Rules<'_>) -> Result<Vec<String>, String> {
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
    let mut store = Store::from_series(series);
    let mut failures = Vec::new();
    let mut alert_tests: std::collections::BTreeMap<i64, Vec<&AlertTest>> = Default::default();
    for test in &group.alert_rule_test {
        if test.alertname.is_empty() {
            let name = if group.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", group.name)
            };
            return Ok(vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{name}",
                test.eval_time
            )]);
        }
        alert_tests
            .entry(duration_ms(&test.eval_time)?)
            .or_default()
            .push(test);
    }
    let context = TemplateContext::new(
        &group.external_labels,
        group.external_url.clone().unwrap_or_default(),
    );
    let mut groups = match rules.groups(&context) {
        Ok(groups) => groups,
        Err(errors) => return Ok(errors),
    };
    if !groups.is_empty() || !alert_tests.is_empty() {
        let last = group
            .promql_expr_test
            .iter()
            .map(|t| duration_ms(&t.eval_time))
            .chain(alert_tests.keys().map(|&t| Ok(t)))
            .collect::<Result<Vec<i64>, String>>()?
            .into_iter()
            .max()
            .unwrap_or(0);
        let step = rules.evaluation_interval;
        let default_step = std::time::Duration::from_millis(step.unsigned_abs());
        let mut ts = 0;
        while ts <= last {
            let mut errors: Vec<String> = Vec::new();
            for run in &mut groups {
                errors.extend(run.eval(ts, &mut store, default_step).into_iter().map(|f| {
                    format!(
                        "    rule: {}, time: {}, err: {}",
                        f.rule,
                        go_duration(ts),
                        f.reason
                    )
                }));
            }
            if !errors.is_empty() {
                failures.extend(errors);
                return Ok(failures);
            }
            for (&t, tests) in alert_tests.range(ts..ts + step) {
                for test in tests {
                    if let Some(failure) = check_alerts(group, &groups, test, t) {
                        failures.push(failure);
                    }
                }
            }
            ts += step;
        }
    }
    for test in &group.promql_expr_test {
        let at = duration_ms(&test.eval_time)?;
        let time = duration_string(at);
        let step = std::time::Duration::from_millis(rules.evaluation_interval.unsigned_abs());
        // As a rule's query: promtool's words for what it cannot compare, Prometheus's own
        // message for an evaluation error.
        let got = match query::parse(&test.expr, None)
            .map_err(|e| e.to_string())
            .and_then(|expr| instant(&test.expr, &expr, at, &store, step))
        {
            Ok(got) => got,
            Err(reason) => {
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

/// Compares the firing alerts named by `test` at its time with the expected ones, as promtool
/// does: `None` when they agree, else promtool's failure text.
fn check_alerts(
    group: &TestGroup,
    groups: &[GroupRun],
    test: &AlertTest,
    t: i64,
) -> Option<String> {
    let mut got: Vec<(Labels, Labels)> = groups
        .iter()
        .flat_map(|run| run.group.rules.iter())
        .filter_map(|rule| match rule {
            Rule::Alerting(a) if a.name() == test.alertname => Some(a),
            _ => None,
        })
        .flat_map(|a| a.alerts())
        .filter(|a| a.state == AlertState::Firing)
        .map(|a| (a.labels.clone(), a.annotations.clone()))
        .collect();
    let mut expected: Vec<(Labels, Labels)> = test
        .exp_alerts
        .iter()
        .map(|e| {
            let mut labels = e.exp_labels.clone();
            labels.insert("alertname".to_owned(), test.alertname.clone());
            (
                labels.into_iter().collect(),
                e.exp_annotations.clone().into_iter().collect(),
            )
        })
        .collect();
    got.sort();
    expected.sort();
    if got == expected {
        return None;
    }
    let name = if group.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", group.name)
    };
    let indent = "            ";
    Some(format!(
        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
        test.alertname,
        duration_string(t),
        indent_lines(&alerts_string(&expected), indent),
        indent_lines(&alerts_string(&got), indent)
    ))
}

/// Alerts as promtool's `labelsAndAnnotations.String()` prints them.
fn alerts_string(alerts: &[(Labels, Labels)]) -> String {
    if alerts.is_empty() {
        return "[]".to_owned();
    }
    let one = |(labels, annotations): &(Labels, Labels)| {
        format!(
            "Labels:{}\nAnnotations:{}",
            labels_string(labels),
            labels_string(annotations)
        )
    };
    let mut out = format!(
        "[\n0:{}",
        indent_lines(&format!("\n{}", one(&alerts[0])), "  ")
    );
    for (i, alert) in alerts.iter().enumerate().skip(1) {
        out.push_str(&format!(
            ",\n{i}:{}",
            indent_lines(&format!("\n{}", one(alert)), "  ")
        ));
    }
    out.push_str("\n]");
    out
}

/// Prometheus's `indentLines`: `indent` before every line but the first.
fn indent_lines(text: &str, indent: &str) -> String {
    text.split('\n')
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                line.to_owned()
            } else {
                format!("{indent}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `time.Duration.String()` of `ms` milliseconds: `0s`, `1m0s`, `1h2m3.5s`, `500ms`.
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m) = (ms / 3_600_000, ms / 60_000 % 60);
    let (s, frac) = (ms / 1000 % 60, ms % 1000);
    let seconds = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{sign}{seconds}"),
        (0, m) => format!("{sign}{m}m{seconds}"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}"),
    }
}

/// Samples as promtool prints them: `{a="b"} 1E+00, …`, or `nil`.
fn samples_string(samples: &[(Labels, f64)]) -> String {
    if samples.is_empty() {
        return "nil".to_owned();
    }
    samples
        .iter()
        .map(|(labels, v)| format!("{} {}", labels_string(labels), go_float_e(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`, as promtool prints sample values.
fn go_float_e(v: f64) -> String {
    crate::gofmt::format_float(v, 'E')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_as_go_s_filepath_join_cleans_them() {
        for (path, clean_path) in [
            ("/a/b/../c/./d.yml", "/a/c/d.yml"),
            ("a/../../b.yml", "../b.yml"),
            ("/../a.yml", "/a.yml"),
            ("./a/..", "."),
        ] {
            assert_eq!(clean(Path::new(path)), Path::new(clean_path), "{path}");
        }
    }

    #[test]
    fn floats_print_as_go_prints_them_with_e() {
        assert_eq!(go_float_e(1.1), "1.1E+00");
        assert_eq!(go_float_e(1.0999999999999999), "1.0999999999999999E+00");
        assert_eq!(go_float_e(1500.0), "1.5E+03");
        assert_eq!(go_float_e(0.00015), "1.5E-04");
        assert_eq!(go_float_e(-2.0), "-2E+00");
        assert_eq!(go_float_e(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn durations_print_as_go_s_time_duration() {
        for (ms, text) in [
            (0, "0s"),
            (500, "500ms"),
            (1_000, "1s"),
            (60_000, "1m0s"),
            (90_500, "1m30.5s"),
            (3_600_000, "1h0m0s"),
            (3_723_000, "1h2m3s"),
        ] {
            assert_eq!(go_duration(ms), text);
        }
    }

    #[test]
    fn wildcards_match_as_a_shell_does() {
        assert!(wildcard("*.yml", "a.yml"));
        assert!(wildcard("rules_?.yml", "rules_1.yml"));
        assert!(!wildcard("*.yml", "a.yaml"));
        assert!(wildcard("a*b*c", "aXXbYc"));
    }
}
