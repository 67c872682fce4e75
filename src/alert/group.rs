//! Module implementing the evaluation of a rule group, as Prometheus 2.42's `Group.Eval`
//! runs it. See [`GroupRun::eval`] for details.

use std::collections::BTreeSet;
use std::time::Duration;

use super::lifecycle::{set_label, TemplateContext};
use super::rules::{Rule, RuleGroup};
use super::template::{with_query, TemplateQuery};
use crate::query::{self, Labels, Store, Value, STALE_NAN_BITS};

/// Where a group's rules read and write: the rules runner's in-memory store, or the
/// monitor's history.
pub(crate) trait RuleStorage {
    /// `parsed` (written as `text`) at `ts` as a rule's query: a vector's samples, or a
    /// scalar as one sample without labels; the reason, as Prometheus words it, if it fails.
    fn query(
        &self,
        text: &str,
        parsed: &promql_parser::parser::Expr,
        ts: i64,
        default_step: Duration,
    ) -> Result<Vec<(Labels, f64)>, String>;

    /// Writes one sample of a rule's output; Prometheus's storage message if refused.
    fn append(&mut self, labels: Labels, ts: i64, value: f64) -> Result<(), &'static str>;

    /// What alert templates' `query` function asks at `ts`: the storage as it is now.
    fn template_query(&self, ts: i64, default_step: Duration) -> TemplateQuery;
}

impl RuleStorage for Store {
    fn query(
        &self,
        text: &str,
        parsed: &promql_parser::parser::Expr,
        ts: i64,
        default_step: Duration,
    ) -> Result<Vec<(Labels, f64)>, String> {
        instant(text, parsed, ts, self, default_step)
    }

    fn append(&mut self, labels: Labels, ts: i64, value: f64) -> Result<(), &'static str> {
        Store::append(self, labels, ts, value)
    }

    fn template_query(&self, ts: i64, default_step: Duration) -> TemplateQuery {
        // A copy: the rules runner's store is small, and the group writes to the original.
        let snapshot = self.clone();
        std::rc::Rc::new(move |text: &str| {
            let parsed = query::parse(text, None).map_err(|e| e.to_string())?;
            instant(text, &parsed, ts, &snapshot, default_step)
        })
    }
}

/// A group with what its last evaluation wrote, rule by rule.
#[derive(Debug)]
pub(crate) struct GroupRun {
    pub(crate) group: RuleGroup,
    /// Per rule, the series its last successful evaluation wrote: one missing from the next
    /// gets a stale marker.
    previous: Vec<BTreeSet<Labels>>,
    /// What its alerts' templates see besides the alert.
    pub(crate) context: TemplateContext,
}

/// A rule that failed at one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleFailure {
    pub(crate) rule: String,
    pub(crate) reason: String,
}

impl GroupRun {
    pub(crate) fn new(group: RuleGroup, context: TemplateContext) -> Self {
        let previous = vec![BTreeSet::new(); group.rules.len()];
        Self {
            group,
            previous,
            context,
        }
    }

    /// Evaluates every rule in order at `ts` (milliseconds) over `store`, writing each one's
    /// output into `store` before the next runs, so that a later rule sees an earlier one's
    /// series of this evaluation: a recording rule's result under its name and labels, an
    /// alerting rule's `ALERTS` and `ALERTS_FOR_STATE`. A series a rule wrote last time and
    /// not now gets a stale marker. A subquery without a step steps by `default_step`.
    /// Returns the rules that failed, each once; a rule whose query failed writes nothing and
    /// keeps its alerts.
    pub(crate) fn eval(
        &mut self,
        ts: i64,
        store: &mut impl RuleStorage,
        default_step: Duration,
    ) -> Vec<RuleFailure> {
        let mut failures = Vec::new();
        let limit = self.group.limit;
        for (i, rule) in self.group.rules.iter_mut().enumerate() {
            let output = match rule {
                Rule::Recording(r) => store
                    .query(&r.expr, &r.parsed, ts, default_step)
                    .and_then(|result| record(&r.name, &r.labels, result, limit)),
                Rule::Alerting(a) => {
                    let template_query = a
                        .uses_query()
                        .then(|| store.template_query(ts, default_step));
                    let recovered = match &a.recovery {
                        Some((text, parsed)) => {
                            store.query(text, parsed, ts, default_step).map(Some)
                        }
                        None => Ok(None),
                    };
                    recovered.and_then(|recovered| {
                        store
                            .query(&a.expr, &a.parsed, ts, default_step)
                            .and_then(|result| {
                                with_query(template_query, || {
                                    a.eval(ts, result, recovered, limit, &self.context)
                                })
                            })
                    })
                }
            };
            let output = match output {
                Ok(output) => output,
                Err(reason) => {
                    failures.push(RuleFailure {
                        rule: rule.name().to_owned(),
                        reason,
                    });
                    continue;
                }
            };
            let mut written = BTreeSet::new();
            // A rule reports its last refused sample, as Prometheus's LastError.
            let mut refused = None;
            for (labels, value) in output {
                match store.append(labels.clone(), ts, value) {
                    Ok(()) => {
                        written.insert(labels);
                    }
                    Err(reason) => refused = Some(reason),
                }
            }
            if let Some(reason) = refused {
                failures.push(RuleFailure {
                    rule: rule.name().to_owned(),
                    reason: reason.to_owned(),
                });
            }
            for gone in self.previous[i].difference(&written) {
                // As Prometheus, a marker that cannot be written is let go.
                let _ = store.append(gone.clone(), ts, f64::from_bits(STALE_NAN_BITS));
            }
            self.previous[i] = written;
        }
        failures
    }
}

/// `expr` at `ts` as a rule's query: a vector's samples, or a scalar as one sample without
/// labels; Prometheus's message for anything else.
pub(crate) fn instant(
    text: &str,
    parsed: &promql_parser::parser::Expr,
    ts: i64,
    store: &Store,
    default_step: Duration,
) -> Result<Vec<(Labels, f64)>, String> {
    if query::is_range_or_string(parsed).is_some() {
        return Err("rule result is not a vector or scalar".to_owned());
    }
    let mut expr = parsed.clone();
    query::prepare(&mut expr, ts, ts, default_step);
    match query::eval_instant(text, &expr, ts, store) {
        Ok(Value::Scalar(v)) => Ok(vec![(Labels::new(), v)]),
        Ok(Value::Vector(samples)) => {
            Ok(samples.into_iter().map(|s| (s.labels, s.value)).collect())
        }
        Err(query::QueryError::Evaluation { reason, .. }) => Err(reason),
        Err(other) => Err(other.to_string()),
    }
}

/// A recording rule's output: each sample renamed `name`, with `labels` set.
fn record(
    name: &str,
    labels: &Labels,
    result: Vec<(Labels, f64)>,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(result.len());
    for (mut series, value) in result {
        set_label(&mut series, "__name__", name);
        for (n, v) in labels {
            set_label(&mut series, n, v);
        }
        if !seen.insert(series.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels"
                    .to_owned(),
            );
        }
        out.push((series, value));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}
