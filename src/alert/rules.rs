//! Module implementing Prometheus rule files: groups of recording and alerting rules, read
//! and checked as Prometheus 2.42 reads them. See [`load_rule_file`] for details.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::lifecycle::AlertingRule;
use super::positions::{FilePositions, Pos, RulePos};
use crate::metrics::name::is_label_name;
use crate::query::{self, duration_ms, Labels};

/// A rule file as written: `groups:` of rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    groups: Vec<GroupSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSpec {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    expr: String,
    #[serde(default, rename = "for")]
    hold: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A recording rule: `expr`'s result stored under the name `record`, with `labels` set.
#[derive(Debug)]
pub(crate) struct RecordingRule {
    pub(crate) name: String,
    pub(crate) expr: String,
    pub(crate) parsed: promql_parser::parser::Expr,
    pub(crate) labels: Labels,
}

/// One rule of a group.
#[derive(Debug)]
pub(crate) enum Rule {
    Recording(RecordingRule),
    /// Boxed: an alerting rule holds its alerts and their histories.
    Alerting(Box<AlertingRule>),
}

impl Rule {
    /// The recorded metric's or the alert's name.
    pub(crate) fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.name,
            Rule::Alerting(a) => a.name(),
        }
    }
}

/// A group of rules, evaluated in order at each interval.
#[derive(Debug)]
pub(crate) struct RuleGroup {
    pub(crate) name: String,
    /// The file it came from (empty for a configured rule's group).
    pub(crate) file: String,
    /// Its own `interval`, in milliseconds, if it gives one (the rules runner evaluates
    /// every group at the file's evaluation interval instead, as promtool does).
    pub(crate) interval_ms: Option<i64>,
    /// The most series a rule may return (`limit`); 0 for no limit.
    pub(crate) limit: usize,
    pub(crate) rules: Vec<Rule>,
}

/// Reads the rule file at `path` as Prometheus 2.42 does, checking every group and rule;
/// `Err` holds every problem found, each naming the file, the position of the node at fault
/// when there is one, the group and the rule, as `promtool check rules` does
/// (`file: 5:15: group "g", rule 1, "name": reason`).
pub(crate) fn load_rule_file(path: &Path) -> Result<Vec<RuleGroup>, Vec<String>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{file}: {e}")])?;
    let spec: FileSpec = serde_norway::from_str(&text).map_err(|e| vec![format!("{file}: {e}")])?;
    let positions = FilePositions::read(&text);
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (g, group) in spec.groups.into_iter().enumerate() {
        let at = positions.group(g);
        if group.name.is_empty() {
            errors.push(format!("{file}: {at}: Groupname must not be empty"));
        }
        if !seen.insert(group.name.clone()) {
            errors.push(format!(
                "{file}: {at}: groupname: \"{}\" is repeated in the same file",
                group.name
            ));
        }
        // As Prometheus: an interval of 0 means the evaluation interval.
        let interval_ms = match group.interval.as_deref().map(duration_ms).transpose() {
            Ok(ms) => ms.filter(|ms| *ms > 0),
            Err(e) => {
                errors.push(format!("{file}: group {:?}: interval: {e}", group.name));
                None
            }
        };
        let mut rules = Vec::new();
        for (i, rule) in group.rules.into_iter().enumerate() {
            let name = rule
                .alert
                .clone()
                .or(rule.record.clone())
                .unwrap_or_default();
            let place = positions.rule(g, i);
            let rule_at = format!("group {:?}, rule {}, {:?}", group.name, i + 1, name);
            match check_rule(rule, place) {
                Ok(rule) => rules.push(rule),
                Err(problems) => errors.extend(problems.into_iter().map(|p| match p.at {
                    Some((pos, None)) => format!("{file}: {pos}: {rule_at}: {}", p.text),
                    Some((pos, Some(alt))) => {
                        format!("{file}: {pos}: {alt}: {rule_at}: {}", p.text)
                    }
                    None => format!("{file}: {rule_at}: {}", p.text),
                })),
            }
        }
        groups.push(RuleGroup {
            name: group.name,
            file: file.clone(),
            interval_ms,
            limit: group.limit.unwrap_or(0) as usize,
            rules,
        });
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

/// The group of one of the configuration's rules (`alerting_config.rules`): an alerting rule
/// named after it whose expression is `(<query>) <op> <threshold>`, so that the threshold
/// filters the query's result (a comparison query and the same threshold agree), with the
/// rule's labels and `severity`, and its description as the `description` annotation; its
/// `recovery` becomes the recovery expression `(<query>) <op> <value>` (hysteresis).
pub(crate) fn seed_rule_group(rule: &crate::AlertRule) -> Result<RuleGroup, String> {
    use crate::AlertThreshold::{Equal, GreaterThan, LessThan, NotEqual};
    let condition = |threshold: crate::AlertThreshold| {
        let (op, value) = match threshold {
            GreaterThan(v) => (">", v),
            LessThan(v) => ("<", v),
            Equal(v) => ("==", v),
            NotEqual(v) => ("!=", v),
        };
        let expr = format!("({}) {op} {value:?}", rule.query);
        query::parse(&expr, None)
            .map(|parsed| (expr, parsed))
            .map_err(|e| e.to_string())
    };
    let (expr, parsed) = condition(rule.threshold)?;
    let recovery = rule.recovery.map(condition).transpose()?;
    let mut labels: Labels = rule
        .labels
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let severity = format!("{:?}", rule.severity).to_lowercase();
    labels.retain(|(n, _)| n != "severity");
    labels.push(("severity".to_owned(), severity));
    labels.sort();
    let annotations = if rule.description.is_empty() {
        Labels::new()
    } else {
        vec![("description".to_owned(), rule.description.clone())]
    };
    Ok(RuleGroup {
        name: rule.name.clone(),
        file: String::new(),
        interval_ms: Some(crate::clock::duration_ms(rule.evaluation_interval)),
        limit: 0,
        rules: vec![Rule::Alerting({
            let mut alerting = Box::new(AlertingRule::new(
                rule.name.clone(),
                expr,
                parsed,
                0,
                0,
                labels,
                annotations,
            ));
            alerting.recovery = recovery;
            alerting
        })],
    })
}

/// A problem with one rule, at the node or nodes it concerns.
struct Problem {
    at: Option<(Pos, Option<Pos>)>,
    text: String,
}

impl Problem {
    fn new(text: impl Into<String>) -> Problem {
        Problem {
            at: None,
            text: text.into(),
        }
    }

    fn at(pos: Pos, text: impl Into<String>) -> Problem {
        Problem {
            at: Some((pos, None)),
            text: text.into(),
        }
    }
}

/// One rule, checked as Prometheus's `rulefmt` checks it (an empty `record` or `alert` is
/// not written), with the positions of its fields in the file.
fn check_rule(mut rule: RuleSpec, place: RulePos) -> Result<Rule, Vec<Problem>> {
    rule.record = rule.record.filter(|name| !name.is_empty());
    rule.alert = rule.alert.filter(|name| !name.is_empty());
    let mut problems = Vec::new();
    match (&rule.record, &rule.alert) {
        (Some(_), Some(_)) => problems.push(Problem {
            at: Some((place.record, Some(place.alert))),
            text: "only one of 'record' and 'alert' must be set".into(),
        }),
        (None, None) => problems.push(Problem::at(
            place.record,
            "one of 'record' or 'alert' must be set",
        )),
        _ => {}
    }
    let parsed = if rule.expr.is_empty() {
        problems.push(Problem::at(place.expr, "field 'expr' must be set in rule"));
        None
    } else {
        match query::parse(&rule.expr, None) {
            Ok(expr) => Some(expr),
            Err(e) => {
                let reason = match e {
                    query::QueryError::Parse { reason, .. } => reason,
                    other => other.to_string(),
                };
                problems.push(Problem::at(
                    place.expr,
                    format!("could not parse expression: {reason}"),
                ));
                None
            }
        }
    };
    if let Some(name) = &rule.record {
        let at = |text: &str| Problem::at(place.record, text);
        if !rule.annotations.is_empty() {
            problems.push(at("invalid field 'annotations' in recording rule"));
        }
        if rule.hold.is_some() {
            problems.push(at("invalid field 'for' in recording rule"));
        }
        if rule.keep_firing_for.is_some() {
            problems.push(at("invalid field 'keep_firing_for' in recording rule"));
        }
        if crate::metrics::validate_metric_name(name).is_err() {
            problems.push(at(&format!("invalid recording rule name: {name}")));
        }
    }
    for name in rule.labels.keys() {
        if !is_label_name(name) || name == "__name__" {
            problems.push(Problem::new(format!("invalid label name: {name}")));
        }
    }
    for name in rule.annotations.keys() {
        if !is_label_name(name) {
            problems.push(Problem::new(format!("invalid annotation name: {name}")));
        }
    }
    if let Some(alert) = &rule.alert {
        // As Prometheus: each template must parse.
        let name = format!("__alert_{alert}");
        for (kind, pairs) in [("label", &rule.labels), ("annotation", &rule.annotations)] {
            for (key, text) in pairs {
                if let Err(e) = super::template::check(&name, text) {
                    problems.push(Problem::new(format!("{kind} {key:?}: {e}")));
                }
            }
        }
    }
    let duration = |text: &Option<String>, field: &str, problems: &mut Vec<Problem>| match text
        .as_deref()
        .map(duration_ms)
        .transpose()
    {
        Ok(ms) => ms.unwrap_or(0),
        Err(e) => {
            problems.push(Problem::new(format!("{field}: {e}")));
            0
        }
    };
    let hold_ms = duration(&rule.hold, "for", &mut problems);
    let keep_firing_ms = duration(&rule.keep_firing_for, "keep_firing_for", &mut problems);
    let Some(parsed) = parsed.filter(|_| problems.is_empty()) else {
        return Err(problems);
    };
    let labels: Labels = rule.labels.into_iter().collect();
    Ok(match (rule.record, rule.alert) {
        (Some(name), _) => Rule::Recording(RecordingRule {
            name,
            expr: rule.expr,
            parsed,
            labels,
        }),
        (None, Some(name)) => Rule::Alerting(Box::new(AlertingRule::new(
            name,
            rule.expr,
            parsed,
            hold_ms,
            keep_firing_ms,
            labels,
            rule.annotations.into_iter().collect(),
        ))),
        (None, None) => return Err(vec![Problem::new("one of 'record' or 'alert' must be set")]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<RuleGroup>, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.yml");
        std::fs::write(&path, text).unwrap();
        load_rule_file(&path).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| e.replace(&path.display().to_string(), "FILE"))
                .collect()
        })
    }

    #[test]
    fn a_good_file_loads_in_order() {
        let groups = load(
            "groups:\n  - name: g\n    interval: 30s\n    limit: 5\n    rules:\n      - record: a:b\n        expr: sum(x)\n      - alert: A\n        expr: a:b > 1\n        for: 1m\n",
        )
        .unwrap();
        assert_eq!(groups[0].name, "g");
        assert_eq!(groups[0].limit, 5);
        let names: Vec<&str> = groups[0].rules.iter().map(Rule::name).collect();
        assert_eq!(names, ["a:b", "A"]);
    }

    #[test]
    fn every_problem_is_named_with_file_group_and_rule() {
        let errors = load(
            "groups:\n  - name: g\n    rules:\n      - record: 1bad\n        expr: sum(\n        for: 1m\n      - alert: A\n        record: B\n        expr: x\n      - alert: C\n        expr: x\n        labels:\n          __name__: y\n  - name: g\n    rules: []\n",
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "FILE: 5:15: group \"g\", rule 1, \"1bad\": could not parse expression: 1:5: parse error: unclosed left parenthesis",
                "FILE: 4:17: group \"g\", rule 1, \"1bad\": invalid field 'for' in recording rule",
                "FILE: 4:17: group \"g\", rule 1, \"1bad\": invalid recording rule name: 1bad",
                "FILE: 8:17: 7:16: group \"g\", rule 2, \"A\": only one of 'record' and 'alert' must be set",
                "FILE: group \"g\", rule 3, \"C\": invalid label name: __name__",
                "FILE: 14:5: groupname: \"g\" is repeated in the same file",
            ]
        );
        let errors = load("groups:\n  - rules: []\n").unwrap_err();
        assert_eq!(errors, ["FILE: 2:5: Groupname must not be empty"]);
        let errors = load("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x\n        annotations:\n          s: '{{ $value'\n").unwrap_err();
        assert!(
            errors[0].contains("annotation \"s\": template: __alert_A"),
            "{errors:?}"
        );
    }
}
