//! Inhibition: alerts that mute others while they fire (Alertmanager's `inhibit/`).

use super::super::alert::PostableAlert;
use crate::config::{all_match, InhibitRuleConfig, Matcher};
use crate::query::{label_value, Labels};

/// An inhibition rule, parsed.
#[derive(Debug)]
struct Inhibit {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

/// The inhibition rules, parsed.
#[derive(Debug)]
pub(super) struct Inhibitor {
    rules: Vec<Inhibit>,
}

impl Inhibitor {
    /// The rules of `config`, whose matchers were validated.
    pub(super) fn new(config: &[InhibitRuleConfig]) -> Result<Self, String> {
        let parse = |ms: &[String]| -> Result<Vec<Matcher>, String> {
            ms.iter().map(|m| Matcher::parse(m)).collect()
        };
        let rules = config
            .iter()
            .map(|rule| {
                Ok(Inhibit {
                    source: parse(&rule.source_matchers)?,
                    target: parse(&rule.target_matchers)?,
                    equal: rule.equal.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { rules })
    }

    /// Whether a rule mutes the alert with `labels` while one of `alerts` fires (Alertmanager's
    /// `Inhibitor.Mutes`: a source that matches the target side too cannot mute an alert
    /// that matches both sides, so an alert never mutes itself).
    pub(super) fn mutes<'a>(
        &self,
        labels: &Labels,
        alerts: impl Iterator<Item = &'a PostableAlert> + Clone,
        now: i64,
    ) -> bool {
        self.rules.iter().any(|rule| {
            if !all_match(&rule.target, labels) {
                return false;
            }
            let two_sided = all_match(&rule.source, labels);
            alerts.clone().any(|source| {
                !source.resolved_at(now)
                    && all_match(&rule.source, &source.labels)
                    && rule
                        .equal
                        .iter()
                        .all(|n| label_value(&source.labels, n) == label_value(labels, n))
                    && !(two_sided && all_match(&rule.target, &source.labels))
            })
        })
    }
}
