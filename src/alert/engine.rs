//! Module implementing the `kotoba-alert` thread: rule groups evaluated at their intervals
//! over the history, their outputs written back into it, their alerts readable at any time.
//! See [`RuleEngine`] for details.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use time::OffsetDateTime;

use super::group::{GroupRun, RuleFailure, RuleStorage};
use super::lifecycle::AlertState;
use super::restore::Durability;
use super::rules::Rule;
use crate::clock::{duration_ms, millis, time_of};
use crate::notify::{NotifySink, PostableAlert};
use crate::query::{Labels, QueryError};
use crate::worker::{guarded, stopped_before, Stoppable, Worker};
use crate::{Counter, Gauge, HistoryStore, LabelSet, MonitoringError, QueryValue, Registry};

/// An alert of a rule, pending or firing, as [`Monitor::alerts`](crate::Monitor::alerts)
/// lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    /// Its identity: the series' labels (without `__name__`), the rule's labels and
    /// `alertname`, sorted by name.
    pub labels: Vec<(String, String)>,
    /// The rule's annotations, sorted by name.
    pub annotations: Vec<(String, String)>,
    /// Pending (its `for` has not passed yet) or firing.
    pub state: AlertState,
    /// When its series entered the rule's result.
    pub active_at: OffsetDateTime,
    /// The series' value at the last evaluation.
    pub value: f64,
    /// Whether it changes state too often to notify about (flap detection,
    /// `alerting_config.flap_detection`); notifications hold it while this is set.
    pub flapping: bool,
}

/// An alert changing state, as the `kotoba-alert` thread hands it over
/// ([`Monitor::alert_transitions`](crate::Monitor::alert_transitions)).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTransition {
    /// The alert after the change (a resolved one is [`AlertState::Inactive`]).
    pub alert: ActiveAlert,
    /// Its state before: [`AlertState::Inactive`] for an alert that is new. The same as
    /// the alert's own when only its `flapping` mark changed.
    pub from: AlertState,
    /// When the rule's evaluation saw the change.
    pub at: OffsetDateTime,
}

/// How many transitions wait for a reader before new ones are dropped (and counted): the
/// evaluation never waits on the reader.
const TRANSITIONS_QUEUED: usize = 4096;

impl ActiveAlert {
    /// What callers see of a rule's `alert`.
    fn of(alert: &super::lifecycle::Alert) -> Self {
        Self {
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            state: alert.state,
            active_at: time_of(alert.active_at),
            value: alert.value,
            flapping: alert.flapping,
        }
    }

    /// The alert as Prometheus's `/api/v1/alerts` writes it: labels, annotations, state,
    /// `activeAt` (RFC 3339) and the value as Go's shortest `%e` (`1e+00`).
    pub(crate) fn prometheus_json(&self) -> serde_json::Value {
        serde_json::json!({
            "labels": labels_json(&self.labels),
            "annotations": labels_json(&self.annotations),
            "state": self.state.as_str(),
            "activeAt": self
                .active_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "value": crate::gofmt::format_float(self.value, 'e'),
            "flapping": self.flapping,
        })
    }
}

/// Labels or annotations as a JSON object, as Prometheus's API writes them.
fn labels_json(pairs: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        pairs
            .iter()
            .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// A group on its schedule.
#[derive(Debug)]
struct Scheduled {
    run: GroupRun,
    interval: Duration,
    /// The rules that failed at the last evaluation.
    failures: Vec<RuleFailure>,
    /// When it was last evaluated, and how long that took.
    last: Option<(OffsetDateTime, Duration)>,
    /// Evaluations since the engine started: after the second, a restart's `for` state is
    /// restored, as Prometheus does.
    evaluations: u64,
    metrics: GroupMetrics,
}

/// A group's self-metrics, as Prometheus's `prometheus_rule_*` with our prefix.
#[derive(Debug)]
struct GroupMetrics {
    evaluations: Counter,
    failures: Counter,
    last_evaluation: Gauge,
    last_duration: Gauge,
}

impl GroupMetrics {
    fn new(registry: &Registry, group: &GroupRun) -> Result<Self, MonitoringError> {
        let name = group.group.name.as_str();
        let labels = [("rule_group", name)];
        let rules = registry.gauge_family(
            "kotoba_monitoring_rule_group_rules",
            "Rules in each rule group.",
        )?;
        rules
            .with_labels(&labels)?
            .set(group.group.rules.len() as f64);
        Ok(Self {
            evaluations: registry
                .counter_family(
                    "kotoba_monitoring_rule_evaluations_total",
                    "Rule evaluations, by rule group.",
                )?
                .with_labels(&labels)?,
            failures: registry
                .counter_family(
                    "kotoba_monitoring_rule_evaluation_failures_total",
                    "Rule evaluations that failed, by rule group.",
                )?
                .with_labels(&labels)?,
            last_evaluation: registry
                .gauge_family(
                    "kotoba_monitoring_rule_group_last_evaluation_timestamp_seconds",
                    "When each rule group was last evaluated, in Unix seconds.",
                )?
                .with_labels(&labels)?,
            last_duration: registry
                .gauge_family(
                    "kotoba_monitoring_rule_group_last_duration_seconds",
                    "How long each rule group's last evaluation took.",
                )?
                .with_labels(&labels)?,
        })
    }
}

/// Rule groups evaluated on the `kotoba-alert` thread.
#[derive(Debug)]
pub(crate) struct RuleEngine {
    groups: Arc<Vec<Mutex<Scheduled>>>,
    history: HistoryStore,
    /// Where `ALERTS` and `ALERTS_FOR_STATE` are set for `/metrics`.
    registry: Registry,
    worker: Stoppable,
    transitions: (Sender<AlertTransition>, Receiver<AlertTransition>),
    /// `kotoba_monitoring_alert_transitions_dropped_total`.
    dropped: Counter,
    /// Where alerts go to be notified, and how often a firing one is sent again.
    notify: Option<(NotifySink, Duration)>,
    /// Where alert state is kept across restarts, when the monitor has storage.
    durability: Option<Durability>,
}

/// What a group's alerting rules send after an evaluation at `ts` (Prometheus's
/// `sendAlerts`): each alert due, its labels with the external labels it lacks, its end
/// four resends (or intervals) ahead while it fires, its source the rule's expression in
/// the Prometheus UI under the external URL.
fn to_notify(
    run: &mut GroupRun,
    ts: i64,
    resend: Duration,
    interval: Duration,
) -> Vec<PostableAlert> {
    let ms = duration_ms;
    let context = &run.context;
    let mut out = Vec::new();
    for rule in &mut run.group.rules {
        let Rule::Alerting(rule) = rule else { continue };
        let due = rule.take_due_sends(ts, ms(resend), ms(interval));
        if due.is_empty() {
            continue;
        }
        let generator_url = format!(
            "{}/graph?g0.expr={}&g0.tab=1",
            context.external_url,
            super::template::query_escape(&rule.expr)
        );
        for (alert, ends_at) in due {
            let mut labels = alert.labels;
            for (name, value) in &context.external_labels {
                if !labels.iter().any(|(n, _)| n == name) {
                    labels.push((name.clone(), value.clone()));
                }
            }
            labels.sort();
            out.push(PostableAlert {
                labels,
                annotations: alert.annotations,
                starts_at: alert.fired_at.unwrap_or(alert.active_at),
                ends_at,
                generator_url: generator_url.clone(),
                flapping: alert.flapping,
            });
        }
    }
    out
}

/// The history as a rule's storage: queries are PromQL over it, outputs are appended to it,
/// and `ALERTS` and `ALERTS_FOR_STATE` are also set as gauges in the registry, for
/// `/metrics` (a stale marker removes the gauge's series).
struct HistoryRules<'a> {
    history: &'a HistoryStore,
    registry: &'a Registry,
}

/// The help of the alert series on `/metrics`.
fn alert_series_help(name: &str) -> Option<&'static str> {
    match name {
        "ALERTS" => Some("Alerts pending or firing, one series each (as Prometheus's ALERTS)."),
        "ALERTS_FOR_STATE" => {
            Some("When each pending or firing alert became active, in Unix seconds.")
        }
        _ => None,
    }
}

/// `text` at `ts` over `history`, as a rule's query sees it.
fn history_query(
    history: &HistoryStore,
    text: &str,
    ts: i64,
) -> Result<Vec<(Labels, f64)>, String> {
    match history.query(text, time_of(ts)) {
        Ok(QueryValue::Vector(samples)) => {
            Ok(samples.into_iter().map(|s| (s.labels, s.value)).collect())
        }
        Ok(QueryValue::Scalar(v)) => Ok(vec![(Labels::new(), v)]),
        Ok(_) => Err("rule result is not a vector or scalar".to_owned()),
        Err(MonitoringError::Query(QueryError::Evaluation { reason, .. })) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

impl RuleStorage for HistoryRules<'_> {
    fn query(
        &self,
        text: &str,
        _parsed: &promql_parser::parser::Expr,
        ts: i64,
        _default_step: Duration,
    ) -> Result<Vec<(Labels, f64)>, String> {
        history_query(self.history, text, ts)
    }

    fn template_query(&self, ts: i64, _default_step: Duration) -> super::template::TemplateQuery {
        let history = self.history.clone();
        std::rc::Rc::new(move |text: &str| history_query(&history, text, ts))
    }

    fn append(&mut self, labels: Labels, ts: i64, value: f64) -> Result<(), &'static str> {
        let name = labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .filter(|(n, _)| n != "__name__")
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let set = LabelSet::new(&name, &pairs).map_err(|_| "invalid label set")?;
        self.history.append(&name, &set, time_of(ts), value);
        if let Some(help) = alert_series_help(&name) {
            // A full family refuses new series and counts them; the history has them.
            if let Ok(family) = self.registry.gauge_family(&name, help) {
                if value.to_bits() == crate::query::STALE_NAN_BITS {
                    family.remove_label_set(&set);
                } else if let Ok(gauge) = family.with_label_set(set) {
                    gauge.set(value);
                }
            }
        }
        Ok(())
    }
}

impl RuleEngine {
    /// An engine of `groups`, each evaluated every its interval, over `history`, its
    /// self-metrics in `registry`.
    ///
    /// # Errors
    ///
    /// As registering the self-metrics.
    pub(crate) fn new(
        groups: Vec<(GroupRun, Duration)>,
        history: HistoryStore,
        registry: &Registry,
    ) -> Result<Self, MonitoringError> {
        let groups = groups
            .into_iter()
            .map(|(run, interval)| {
                let metrics = GroupMetrics::new(registry, &run)?;
                Ok(Mutex::new(Scheduled {
                    run,
                    interval,
                    failures: Vec::new(),
                    last: None,
                    evaluations: 0,
                    metrics,
                }))
            })
            .collect::<Result<Vec<_>, MonitoringError>>()?;
        Ok(Self {
            groups: Arc::new(groups),
            history,
            registry: registry.clone(),
            worker: Stoppable::default(),
            transitions: crossbeam_channel::bounded(TRANSITIONS_QUEUED),
            dropped: registry.counter(
                "kotoba_monitoring_alert_transitions_dropped_total",
                "Alert state changes dropped because nobody read them and the queue was full.",
                &[],
            )?,
            notify: None,
            durability: None,
        })
    }

    /// Keeps alert state across restarts under `durability`: from now on the rules write no
    /// `ALERTS` until each group's second evaluation restores their `for` state from the
    /// history, and their flap histories are read back now and saved after evaluations.
    ///
    /// # Errors
    ///
    /// As [`Durability::prepare`].
    pub(crate) fn keep_state(&mut self, durability: Durability) -> Result<(), MonitoringError> {
        let mut groups: Vec<_> = self.groups.iter().map(|g| g.lock()).collect();
        durability.prepare(groups.iter_mut().map(|g| &mut g.run))?;
        drop(groups);
        self.durability = Some(durability);
        Ok(())
    }

    /// Hands the alerts to `sink` after each evaluation, as Prometheus sends them to an
    /// Alertmanager, a firing one again every `resend_delay`.
    pub(crate) fn notify_to(&mut self, sink: NotifySink, resend_delay: Duration) {
        self.notify = Some((sink, resend_delay));
    }

    /// Starts the `kotoba-alert` thread: every group at once, then at each interval.
    pub(crate) fn start(&self) -> Result<(), MonitoringError> {
        self.worker.start("alerting", |stop, workers| {
            let stop = stop.clone();
            let groups = self.groups.clone();
            let history = self.history.clone();
            let registry = self.registry.clone();
            let transitions = self.transitions.0.clone();
            let dropped = self.dropped.clone();
            let notify = self.notify.clone();
            let durability = self.durability.clone();
            let flapping = groups.iter().any(|g| {
                g.lock()
                    .run
                    .group
                    .rules
                    .iter()
                    .any(|r| matches!(r, Rule::Alerting(a) if a.flap_detection.is_some()))
            });
            let thread = Worker::spawn("kotoba-alert", move || {
                let mut due: Vec<Instant> = vec![Instant::now(); groups.len()];
                loop {
                    let now = Instant::now();
                    let mut evaluated = false;
                    for (group, due) in groups.iter().zip(due.iter_mut()) {
                        if *due > now {
                            continue;
                        }
                        let mut group = group.lock();
                        let interval = group.interval;
                        let before = states(&group.run);
                        evaluate(&mut group, &history, &registry);
                        evaluated = true;
                        group.evaluations += 1;
                        if let (Some(durability), 2) = (&durability, group.evaluations) {
                            let now = OffsetDateTime::now_utc();
                            durability.restore_for_state(&mut group.run, &history, now);
                        }
                        for change in changes(&group.run, &before) {
                            if transitions.try_send(change).is_err() {
                                dropped.inc();
                            }
                        }
                        if let (Some((sink, resend)), Some((at, _))) = (&notify, group.last) {
                            sink.send(to_notify(&mut group.run, millis(at), *resend, interval));
                        }
                        *due += interval;
                        if *due <= now {
                            *due = now + interval;
                        }
                    }
                    if let (Some(durability), true, true) = (&durability, evaluated, flapping) {
                        let runs: Vec<_> = groups.iter().map(|g| g.lock()).collect();
                        if let Err(e) = durability.save(runs.iter().map(|g| &g.run)) {
                            log::warn!("kotoba-monitoring alerting: {e}");
                        }
                    }
                    let wake = due
                        .iter()
                        .min()
                        .copied()
                        .unwrap_or(now + Duration::from_secs(60));
                    if stopped_before(&stop, wake) {
                        return;
                    }
                }
            })?;
            workers.push(thread);
            Ok(())
        })
    }

    /// Stops the thread, waiting up to `timeout`; does nothing when stopped.
    pub(crate) fn stop(&self, timeout: Duration) -> Result<(), MonitoringError> {
        self.worker.stop(timeout)
    }

    /// The state changes, oldest first, as they happen.
    pub(crate) fn transitions(&self) -> Receiver<AlertTransition> {
        self.transitions.1.clone()
    }

    /// Every pending and firing alert, by rule then identity.
    pub(crate) fn alerts(&self) -> Vec<ActiveAlert> {
        let mut out = Vec::new();
        for group in self.groups.iter() {
            let group = group.lock();
            for rule in &group.run.group.rules {
                let Rule::Alerting(rule) = rule else { continue };
                out.extend(
                    rule.alerts()
                        .filter(|a| a.state != AlertState::Inactive)
                        .map(ActiveAlert::of),
                );
            }
        }
        out
    }

    /// The groups and their rules as Prometheus's `/api/v1/rules` lists them.
    pub(crate) fn rules_json(&self) -> serde_json::Value {
        let rfc3339 = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let mut groups = Vec::new();
        for group in self.groups.iter() {
            let group = group.lock();
            let (last, took) = match group.last {
                Some((at, took)) => (rfc3339(at), took.as_secs_f64()),
                None => ("0001-01-01T00:00:00Z".to_owned(), 0.0),
            };
            let mut rules = Vec::new();
            for rule in &group.run.group.rules {
                let failure = group.failures.iter().rev().find(|f| f.rule == rule.name());
                let health = match (group.last, failure) {
                    (None, _) => "unknown",
                    (Some(_), Some(_)) => "err",
                    (Some(_), None) => "ok",
                };
                let mut json = match rule {
                    Rule::Recording(r) => serde_json::json!({
                        "name": r.name,
                        "query": r.expr,
                        "labels": labels_json(&r.labels),
                        "type": "recording",
                    }),
                    Rule::Alerting(a) => {
                        let (hold_ms, keep_ms) = a.holds_ms();
                        let (labels, annotations) = a.templates();
                        let alerts: Vec<serde_json::Value> = a
                            .alerts()
                            .filter(|alert| alert.state != AlertState::Inactive)
                            .map(|alert| ActiveAlert::of(alert).prometheus_json())
                            .collect();
                        let state = a
                            .alerts()
                            .map(|alert| alert.state)
                            .max()
                            .unwrap_or(AlertState::Inactive);
                        serde_json::json!({
                            "state": state.as_str(),
                            "name": a.name(),
                            "query": a.expr,
                            "duration": hold_ms as f64 / 1000.0,
                            "keepFiringFor": keep_ms as f64 / 1000.0,
                            "labels": labels_json(labels),
                            "annotations": labels_json(annotations),
                            "alerts": alerts,
                            "type": "alerting",
                        })
                    }
                };
                json["health"] = serde_json::Value::from(health);
                if let Some(failure) = failure {
                    json["lastError"] = serde_json::Value::from(failure.reason.clone());
                }
                json["evaluationTime"] = serde_json::Value::from(took);
                json["lastEvaluation"] = serde_json::Value::from(last.clone());
                rules.push(json);
            }
            groups.push(serde_json::json!({
                "name": group.run.group.name,
                "file": group.run.group.file,
                "rules": rules,
                "interval": group.interval.as_secs_f64(),
                "limit": group.run.group.limit,
                "evaluationTime": took,
                "lastEvaluation": last,
            }));
        }
        serde_json::json!({ "groups": groups })
    }

    /// The rules that failed at their group's last evaluation, as `group "g", rule "r":
    /// reason`.
    pub(crate) fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for group in self.groups.iter() {
            let group = group.lock();
            out.extend(group.failures.iter().map(|f| {
                format!(
                    "group {:?}, rule {:?}: {}",
                    group.run.group.name, f.rule, f.reason
                )
            }));
        }
        out
    }
}

/// Each alert of the group's alerting rules (by rule and identity): its state and whether
/// it flaps.
fn states(run: &GroupRun) -> BTreeMap<(usize, Labels), (AlertState, bool)> {
    let mut out = BTreeMap::new();
    for (i, rule) in run.group.rules.iter().enumerate() {
        if let Rule::Alerting(rule) = rule {
            for alert in rule.alerts() {
                out.insert((i, alert.labels.clone()), (alert.state, alert.flapping));
            }
        }
    }
    out
}

/// The alerts whose state differs from `before`: new ones, ones that fired, ones resolved,
/// and ones that started or stopped flapping.
fn changes(
    run: &GroupRun,
    before: &BTreeMap<(usize, Labels), (AlertState, bool)>,
) -> Vec<AlertTransition> {
    let at = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for (i, rule) in run.group.rules.iter().enumerate() {
        let Rule::Alerting(rule) = rule else { continue };
        for alert in rule.alerts() {
            let (from, was_flapping) = before
                .get(&(i, alert.labels.clone()))
                .copied()
                .unwrap_or((AlertState::Inactive, false));
            if from != alert.state || was_flapping != alert.flapping {
                out.push(AlertTransition {
                    alert: ActiveAlert::of(alert),
                    from,
                    at,
                });
            }
        }
    }
    out
}

/// Evaluates one group now, keeping what failed and counting it; a panic is contained and
/// kept as a failure.
fn evaluate(group: &mut Scheduled, history: &HistoryStore, registry: &Registry) {
    let now = OffsetDateTime::now_utc();
    // Its outputs are stamped `now`: readers of the history wait for them.
    let _hold = history.hold(now);
    let began = Instant::now();
    let ts = millis(now);
    let name = group.run.group.name.clone();
    let run = &mut group.run;
    let outcome = guarded("a rule group's evaluation", || {
        run.eval(
            ts,
            &mut HistoryRules { history, registry },
            crate::query::DEFAULT_SUBQUERY_STEP,
        )
    });
    group.failures = match outcome {
        Ok(failures) => failures,
        Err(message) => vec![RuleFailure {
            rule: name,
            reason: message,
        }],
    };
    let took = began.elapsed();
    group.last = Some((now, took));
    let metrics = &group.metrics;
    metrics
        .evaluations
        .inc_by(group.run.group.rules.len() as u64);
    metrics.failures.inc_by(group.failures.len() as u64);
    metrics.last_evaluation.set(ts as f64 / 1000.0);
    metrics.last_duration.set(took.as_secs_f64());
}
