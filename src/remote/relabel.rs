//! `write_relabel_configs`: each series' labels rewritten, or the series dropped, before it
//! is sent, as Prometheus 2.42's `model/relabel` does it for `keep`, `drop`, `replace`,
//! `labeldrop` and `labelkeep`. See [`Relabeler`].

use regex::Regex;

use crate::config::{RelabelAction, RelabelConfig};
use crate::query::{set_label, Labels};

/// One rule, its expression compiled anchored at both ends.
#[derive(Debug)]
struct Rule {
    config: RelabelConfig,
    regex: Regex,
}

/// The rules of one endpoint, in order.
#[derive(Debug, Default)]
pub(crate) struct Relabeler {
    rules: Vec<Rule>,
}

impl Relabeler {
    /// The rules of `configs`, which validated.
    pub(crate) fn new(configs: &[RelabelConfig]) -> Self {
        let rules = configs
            .iter()
            .filter_map(|config| {
                let regex = Regex::new(&format!("^(?:{})$", config.regex)).ok()?;
                Some(Rule {
                    config: config.clone(),
                    regex,
                })
            })
            .collect();
        Self { rules }
    }

    /// `labels` (sorted by name, `__name__` among them) after every rule, or `None` when a
    /// rule drops the series or no label is left.
    pub(crate) fn apply(&self, mut labels: Labels) -> Option<Labels> {
        for rule in &self.rules {
            labels = rule.apply(labels)?;
        }
        (!labels.is_empty()).then_some(labels)
    }
}

/// The value of label `name`, or empty.
fn get<'a>(labels: &'a Labels, name: &str) -> &'a str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

impl Rule {
    fn apply(&self, mut labels: Labels) -> Option<Labels> {
        let config = &self.config;
        let value = config
            .source_labels
            .iter()
            .map(|name| get(&labels, name))
            .collect::<Vec<_>>()
            .join(&config.separator);
        match config.action {
            RelabelAction::Drop if self.regex.is_match(&value) => return None,
            RelabelAction::Keep if !self.regex.is_match(&value) => return None,
            RelabelAction::Drop | RelabelAction::Keep => {}
            RelabelAction::Replace => {
                // No match, no replacement.
                let Some(captures) = self.regex.captures(&value) else {
                    return Some(labels);
                };
                let template = config.target_label.as_deref().unwrap_or("");
                let mut target = String::new();
                captures.expand(template, &mut target);
                if !crate::metrics::name::is_label_name(&target) {
                    set_label(&mut labels, template, "");
                    return Some(labels);
                }
                let mut replaced = String::new();
                captures.expand(&config.replacement, &mut replaced);
                if replaced.is_empty() {
                    set_label(&mut labels, template, "");
                } else {
                    set_label(&mut labels, &target, &replaced);
                }
            }
            RelabelAction::LabelDrop => labels.retain(|(name, _)| !self.regex.is_match(name)),
            RelabelAction::LabelKeep => labels.retain(|(name, _)| self.regex.is_match(name)),
        }
        Some(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        let mut out: Labels = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        out.sort();
        out
    }

    fn rule(action: RelabelAction, f: impl FnOnce(&mut RelabelConfig)) -> RelabelConfig {
        let mut config = RelabelConfig {
            action,
            ..RelabelConfig::default()
        };
        f(&mut config);
        config
    }

    #[test]
    fn each_action_does_what_prometheus_does() {
        let series = labels(&[
            ("__name__", "kotoba_db_queries_total"),
            ("op", "get"),
            ("instance", "db-1:9090"),
        ]);
        let keep = rule(RelabelAction::Keep, |c| {
            c.source_labels = vec!["__name__".into()];
            c.regex = "kotoba_db_.*".into();
        });
        assert_eq!(
            Relabeler::new(std::slice::from_ref(&keep)).apply(series.clone()),
            Some(series.clone())
        );
        let other = labels(&[("__name__", "process_cpu_seconds_total")]);
        assert_eq!(Relabeler::new(&[keep]).apply(other.clone()), None);
        // Anchored: a part of the name does not match.
        let drop = rule(RelabelAction::Drop, |c| {
            c.source_labels = vec!["__name__".into()];
            c.regex = "process_cpu".into();
        });
        assert_eq!(Relabeler::new(&[drop]).apply(other.clone()), Some(other));
        // Replace with groups and two sources joined by the separator.
        let replace = rule(RelabelAction::Replace, |c| {
            c.source_labels = vec!["instance".into(), "op".into()];
            c.regex = "([^:]+):\\d+;(.*)".into();
            c.target_label = Some("where".into());
            c.replacement = "${1}/$2".into();
        });
        let got = Relabeler::new(&[replace]).apply(series.clone()).unwrap();
        assert_eq!(get(&got, "where"), "db-1/get");
        // A replacement that comes out empty removes the target.
        let empty = rule(RelabelAction::Replace, |c| {
            c.source_labels = vec!["missing".into()];
            c.regex = "(.*)".into();
            c.target_label = Some("op".into());
        });
        let got = Relabeler::new(&[empty]).apply(series.clone()).unwrap();
        assert_eq!(get(&got, "op"), "");
        assert_eq!(got.len(), 2);
        // labeldrop and labelkeep match names.
        let labeldrop = rule(RelabelAction::LabelDrop, |c| c.regex = "inst.*".into());
        let got = Relabeler::new(&[labeldrop]).apply(series.clone()).unwrap();
        assert_eq!(
            got,
            labels(&[("__name__", "kotoba_db_queries_total"), ("op", "get")])
        );
        let labelkeep = rule(RelabelAction::LabelKeep, |c| c.regex = "__name__|op".into());
        let got = Relabeler::new(&[labelkeep]).apply(series).unwrap();
        assert_eq!(
            got,
            labels(&[("__name__", "kotoba_db_queries_total"), ("op", "get")])
        );
    }
}
