//! Module implementing an alerting rule's alerts and their lifecycle, as Prometheus 2.42's
//! `rules/alerting.go` runs it. See [`AlertingRule::eval`] for details.

use std::collections::BTreeMap;

use super::template::{expand, TemplateData};
pub(crate) use crate::query::set_label;
use crate::query::Labels;

/// What every template of a group's alerts sees besides the alert: Prometheus's external
/// labels and URL.
#[derive(Debug, Clone, Default)]
pub(crate) struct TemplateContext {
    pub(crate) external_labels: Labels,
    pub(crate) external_url: String,
}

impl TemplateContext {
    /// The context of `external_labels` (in any order) and `external_url`.
    pub(crate) fn new(
        external_labels: &std::collections::HashMap<String, String>,
        external_url: String,
    ) -> Self {
        let mut labels: Labels = external_labels
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        labels.sort();
        Self {
            external_labels: labels,
            external_url,
        }
    }
}

/// How long a resolved alert is kept (and would be re-sent as resolved), as Prometheus's
/// `resolvedRetention`.
pub(crate) const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// Where an alert is in Prometheus's lifecycle, ordered as Prometheus ranks a rule's state
/// (the most advanced of its alerts').
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// Resolved: no longer in the rule's result (kept for a while to be sent as resolved).
    Inactive,
    /// In the result, for less than the rule's `for`.
    Pending,
    /// In the result for at least `for`.
    Firing,
}

impl AlertState {
    /// The name in `ALERTS{alertstate}` and the API: `inactive`, `pending`, `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule: one series of its result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alert {
    /// The identity: the result's labels without `__name__`, the rule's labels, `alertname`.
    pub(crate) labels: Labels,
    pub(crate) annotations: Labels,
    pub(crate) state: AlertState,
    /// Milliseconds: when it entered the result.
    pub(crate) active_at: i64,
    pub(crate) fired_at: Option<i64>,
    pub(crate) resolved_at: Option<i64>,
    /// While `keep_firing_for` holds it: since when it has been out of the result.
    pub(crate) keep_firing_since: Option<i64>,
    /// The result's value at the last evaluation it was in.
    pub(crate) value: f64,
    /// Whether it changes state too often to be worth a notification (see
    /// [`FlapDetection`]).
    pub(crate) flapping: bool,
    /// When it was last handed to the notifier (Prometheus's `LastSentAt`).
    pub(crate) last_sent_at: Option<i64>,
}

/// How many evaluations flap detection looks back over, as Nagios.
pub(crate) const FLAP_HISTORY: usize = 21;

/// Nagios's flap detection: the weighted percent of state changes over the last 21
/// evaluations (newer changes weigh more, 0.75 to 1.25); an alert starts flapping at
/// `start_percent` and stops below `stop_percent`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FlapDetection {
    pub(crate) start_percent: f64,
    pub(crate) stop_percent: f64,
}

/// Nagios's curved percent state change of `history` (oldest first).
pub(crate) fn percent_state_change(history: &std::collections::VecDeque<bool>) -> f64 {
    let (low, high) = (0.75, 1.25);
    let mut changes = 0.0;
    for (x, (a, b)) in history.iter().zip(history.iter().skip(1)).enumerate() {
        if a != b {
            changes += (x as f64 * (high - low)) / ((FLAP_HISTORY - 2) as f64) + low;
        }
    }
    changes * 100.0 / (FLAP_HISTORY - 1) as f64
}

/// An alerting rule and its alerts.
#[derive(Debug)]
pub(crate) struct AlertingRule {
    name: String,
    pub(crate) expr: String,
    pub(crate) parsed: promql_parser::parser::Expr,
    hold_ms: i64,
    keep_firing_ms: i64,
    labels: Labels,
    annotations: Labels,
    /// By identity.
    active: BTreeMap<Labels, Alert>,
    /// What must hold of a firing alert's series before it resolves (hysteresis): the
    /// expression as written and parsed.
    pub(crate) recovery: Option<(String, promql_parser::parser::Expr)>,
    pub(crate) flap_detection: Option<FlapDetection>,
    /// Per identity, whether it was in the result at each of the last evaluations.
    history: BTreeMap<Labels, std::collections::VecDeque<bool>>,
    /// Whether its alerts' `for` state is as it should be: false after a restart until
    /// [`restore_for_state`](Self::restore_for_state) ran, and until then it writes no
    /// `ALERTS` or `ALERTS_FOR_STATE`, as Prometheus's rule before it is restored.
    restored: bool,
}

/// How a restart restores alerts' `for` state, as Prometheus's flags
/// `--rules.alert.for-outage-tolerance` and `--rules.alert.for-grace-period` set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ForRestore {
    /// How long the monitor may have been down for an alert's state to be restored.
    pub(crate) outage_tolerance_ms: i64,
    /// The least time left before a restored pending alert fires; rules whose `for` is
    /// shorter are not restored.
    pub(crate) grace_period_ms: i64,
}

impl AlertingRule {
    /// A rule with no alerts yet.
    pub(crate) fn new(
        name: String,
        expr: String,
        parsed: promql_parser::parser::Expr,
        hold_ms: i64,
        keep_firing_ms: i64,
        labels: Labels,
        annotations: Labels,
    ) -> Self {
        Self {
            name,
            expr,
            parsed,
            hold_ms,
            keep_firing_ms,
            labels,
            annotations,
            active: BTreeMap::new(),
            recovery: None,
            flap_detection: None,
            history: BTreeMap::new(),
            restored: true,
        }
    }

    /// Marks the rule as started again over a history it wrote before: no `ALERTS` until
    /// [`restore_for_state`](Self::restore_for_state).
    pub(crate) fn await_restore(&mut self) {
        self.restored = false;
    }

    /// Restores its alerts' `for` state at `ts` from what they wrote before the restart, as
    /// Prometheus 2.42's `Group.RestoreForState` does after a group's second evaluation:
    /// `last` gives an `ALERTS_FOR_STATE` series' last sample (milliseconds, value, stale
    /// markers too) within `[from, to]`. An alert that was firing keeps its `activeAt` and
    /// fires again at the next evaluation; a pending one keeps its progress toward `for`
    /// (its `activeAt` moved on by the time the monitor was down), but fires no sooner than
    /// the grace period from now. Rules whose `for` is shorter than the grace period are
    /// left as they are.
    pub(crate) fn restore_for_state(
        &mut self,
        ts: i64,
        options: ForRestore,
        last: impl Fn(&Labels, i64, i64) -> Option<(i64, f64)>,
    ) {
        let hold = self.hold_ms;
        if hold < options.grace_period_ms {
            self.restored = true;
            return;
        }
        let from = ts.saturating_sub(options.outage_tolerance_ms);
        let (rule_labels, rule_name) = (&self.labels, &self.name);
        for alert in self.active.values_mut() {
            if alert.state == AlertState::Inactive {
                continue;
            }
            let series = series_labels(rule_labels, rule_name, "ALERTS_FOR_STATE", alert, false);
            let Some((t, v)) = last(&series, from, ts) else {
                continue;
            };
            if v.to_bits() == crate::query::STALE_NAN_BITS || !v.is_finite() {
                continue;
            }
            // In whole seconds, as Prometheus's time.Unix(t/1000, 0) and time.Unix(int64(v), 0).
            let down_at = t.div_euclid(1000) * 1000;
            let mut active_at = (v as i64).saturating_mul(1000);
            let remaining = hold - (down_at - active_at);
            if remaining <= 0 {
                // It was firing: the next evaluation fires it again from its old activeAt.
            } else if remaining < options.grace_period_ms {
                active_at = ts + options.grace_period_ms - hold;
            } else {
                active_at += ts - down_at;
            }
            alert.active_at = active_at;
        }
        self.restored = true;
    }

    /// Per alert identity, whether it was in the result at each of the last evaluations
    /// (oldest first): what flap detection decides by.
    pub(crate) fn flap_history(&self) -> &BTreeMap<Labels, std::collections::VecDeque<bool>> {
        &self.history
    }

    /// Takes back the flap-detection history [`flap_history`](Self::flap_history) gave
    /// before a restart (longer ones are cut to their newest evaluations).
    pub(crate) fn restore_flap_history(
        &mut self,
        history: BTreeMap<Labels, std::collections::VecDeque<bool>>,
    ) {
        self.history = history
            .into_iter()
            .map(|(identity, mut seen)| {
                while seen.len() > FLAP_HISTORY {
                    seen.pop_front();
                }
                (identity, seen)
            })
            .collect();
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// `for` and `keep_firing_for`, in milliseconds.
    pub(crate) fn holds_ms(&self) -> (i64, i64) {
        (self.hold_ms, self.keep_firing_ms)
    }

    /// Whether a label or annotation template may call `query`.
    pub(crate) fn uses_query(&self) -> bool {
        self.labels
            .iter()
            .chain(&self.annotations)
            .any(|(_, text)| text.contains("query"))
    }

    /// The rule's own labels and annotations, as written.
    pub(crate) fn templates(&self) -> (&Labels, &Labels) {
        (&self.labels, &self.annotations)
    }

    /// The alerts it holds: pending, firing, and resolved ones not yet forgotten.
    pub(crate) fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// The alerts to hand to the notifier after an evaluation at `ts`, each with the time it
    /// ends (Prometheus's `sendAlerts`): firing ones not sent for `resend_ms`, and resolved
    /// ones not sent since they resolved or for `resend_ms`; a firing alert ends four
    /// resends (or evaluations, if longer) ahead, so that two lost evaluations or sends do
    /// not resolve it.
    pub(crate) fn take_due_sends(
        &mut self,
        ts: i64,
        resend_ms: i64,
        interval_ms: i64,
    ) -> Vec<(Alert, i64)> {
        let mut out = Vec::new();
        for alert in self.active.values_mut() {
            if alert.state == AlertState::Pending {
                continue;
            }
            let resolved_since_sent = match (alert.resolved_at, alert.last_sent_at) {
                (Some(resolved), Some(sent)) => resolved > sent,
                (Some(_), None) => true,
                _ => false,
            };
            let due = alert
                .last_sent_at
                .is_none_or(|sent| sent.saturating_add(resend_ms) < ts);
            if !resolved_since_sent && !due {
                continue;
            }
            alert.last_sent_at = Some(ts);
            let ends_at = alert
                .resolved_at
                .unwrap_or_else(|| ts.saturating_add(4 * resend_ms.max(interval_ms)));
            out.push((alert.clone(), ends_at));
        }
        out
    }

    /// The identity and annotations of an alert on `series` with `value`: the series'
    /// labels without `__name__`, the rule's labels expanded, `alertname`.
    fn identity(&self, series: &Labels, value: f64, context: &TemplateContext) -> (Labels, Labels) {
        let template = format!("__alert_{}", self.name);
        let data = TemplateData {
            labels: series,
            external_labels: &context.external_labels,
            external_url: &context.external_url,
            value,
        };
        let expanded = |pairs: &Labels| -> Labels {
            pairs
                .iter()
                .map(|(n, text)| (n.clone(), expand(&template, text, &data)))
                .collect()
        };
        let mut identity: Labels = series
            .iter()
            .filter(|(n, _)| n != "__name__")
            .cloned()
            .collect();
        for (name, value) in &expanded(&self.labels) {
            set_label(&mut identity, name, value);
        }
        set_label(&mut identity, "alertname", &self.name);
        (identity, expanded(&self.annotations))
    }

    /// Takes the rule's result at `ts` (milliseconds; each series' labels and value) and
    /// moves its alerts on, as Prometheus's `AlertingRule.Eval`: a new series makes a pending
    /// alert, active since `ts`; a pending alert fires once `for` has passed since then; an
    /// alert whose series is gone is dropped if pending, else resolved at `ts` (unless
    /// `keep_firing_for` holds it firing) and forgotten 15 minutes later. Returns the
    /// `ALERTS` and `ALERTS_FOR_STATE` samples of the alerts pending or firing now.
    ///
    /// # Errors
    ///
    /// Two series with one identity, or more alerts than `limit` (when not 0), as Prometheus
    /// words it; the alerts are then as before for the first, and cleared for the second.
    ///
    /// Beyond Prometheus: with a recovery expression, a firing alert whose series leaves the
    /// result stays firing until its series is in `recovered` (the recovery expression's
    /// result); with flap detection, each alert's last 21 evaluations mark it `flapping`.
    pub(crate) fn eval(
        &mut self,
        ts: i64,
        result: Vec<(Labels, f64)>,
        recovered: Option<Vec<(Labels, f64)>>,
        limit: usize,
        context: &TemplateContext,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let recovered: Option<std::collections::BTreeSet<Labels>> = recovered.map(|r| {
            r.iter()
                .map(|(series, value)| self.identity(series, *value, context).0)
                .collect()
        });
        let mut current: BTreeMap<Labels, Alert> = BTreeMap::new();
        for (series, value) in result {
            let (identity, annotations) = self.identity(&series, value, context);
            if current.contains_key(&identity) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .to_owned(),
                );
            }
            current.insert(
                identity.clone(),
                Alert {
                    labels: identity,
                    annotations,
                    state: AlertState::Pending,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    keep_firing_since: None,
                    last_sent_at: None,
                    value,
                    flapping: false,
                },
            );
        }
        for (identity, alert) in &current {
            match self.active.get_mut(identity) {
                Some(known) if known.state != AlertState::Inactive => {
                    known.value = alert.value;
                    known.annotations = alert.annotations.clone();
                }
                _ => {
                    self.active.insert(identity.clone(), alert.clone());
                }
            }
        }
        let mut samples = Vec::new();
        let mut pending_or_firing = 0;
        let mut forget = Vec::new();
        let (rule_labels, rule_name) = (&self.labels, &self.name);
        for (identity, alert) in self.active.iter_mut() {
            if !current.contains_key(identity) {
                let mut keep_firing = false;
                if alert.state == AlertState::Firing && self.keep_firing_ms > 0 {
                    let since = *alert.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < self.keep_firing_ms;
                }
                // Hysteresis: not resolved until the recovery condition holds.
                if alert.state == AlertState::Firing
                    && recovered.as_ref().is_some_and(|r| !r.contains(identity))
                {
                    keep_firing = true;
                }
                let expired = alert
                    .resolved_at
                    .is_some_and(|at| ts - at > RESOLVED_RETENTION_MS);
                if alert.state == AlertState::Pending || expired {
                    forget.push(identity.clone());
                }
                if alert.state != AlertState::Inactive && !keep_firing {
                    alert.state = AlertState::Inactive;
                    alert.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                alert.keep_firing_since = None;
            }
            pending_or_firing += 1;
            if alert.state == AlertState::Pending && ts - alert.active_at >= self.hold_ms {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(ts);
            }
            if !self.restored {
                continue;
            }
            samples.push((
                series_labels(rule_labels, rule_name, "ALERTS", alert, true),
                1.0,
            ));
            samples.push((
                series_labels(rule_labels, rule_name, "ALERTS_FOR_STATE", alert, false),
                // Whole seconds, as Prometheus's float64(ActiveAt.Unix()).
                alert.active_at.div_euclid(1000) as f64,
            ));
        }
        for identity in forget {
            self.active.remove(&identity);
        }
        if let Some(flap) = self.flap_detection {
            for identity in self.active.keys().chain(current.keys()) {
                self.history.entry(identity.clone()).or_default();
            }
            let active = &mut self.active;
            self.history.retain(|identity, history| {
                history.push_back(current.contains_key(identity));
                if history.len() > FLAP_HISTORY {
                    history.pop_front();
                }
                let percent = percent_state_change(history);
                match active.get_mut(identity) {
                    Some(alert) => {
                        if !alert.flapping && percent >= flap.start_percent {
                            alert.flapping = true;
                        } else if alert.flapping && percent < flap.stop_percent {
                            alert.flapping = false;
                        }
                        true
                    }
                    // Kept while its recent past still has it in the result.
                    None => history.iter().any(|&was| was),
                }
            });
        }
        if limit > 0 && pending_or_firing > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {pending_or_firing} alerts"
            ));
        }
        Ok(samples)
    }
}

/// The labels of `alert`'s `ALERTS` (with `alertstate`) or `ALERTS_FOR_STATE` series: the
/// rule's labels, overwritten by the alert's, the series name and `alertname`.
fn series_labels(
    rule_labels: &Labels,
    rule_name: &str,
    name: &str,
    alert: &Alert,
    with_state: bool,
) -> Labels {
    let mut labels = rule_labels.clone();
    for (n, v) in &alert.labels {
        set_label(&mut labels, n, v);
    }
    set_label(&mut labels, "__name__", name);
    set_label(&mut labels, "alertname", rule_name);
    if with_state {
        set_label(&mut labels, "alertstate", alert.state.as_str());
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(hold_ms: i64, keep_firing_ms: i64) -> AlertingRule {
        let expr = "up == 0";
        AlertingRule::new(
            "Down".into(),
            expr.into(),
            promql_parser::parser::parse(expr).unwrap(),
            hold_ms,
            keep_firing_ms,
            vec![("severity".into(), "page".into())],
            vec![("summary".into(), "down".into())],
        )
    }

    fn series(instance: &str) -> (Labels, f64) {
        (
            vec![
                ("__name__".into(), "up".into()),
                ("instance".into(), instance.into()),
            ],
            0.0,
        )
    }

    fn states(r: &AlertingRule) -> Vec<&'static str> {
        r.alerts().map(|a| a.state.as_str()).collect()
    }

    #[test]
    fn pending_fires_after_for_and_resolves_then_is_forgotten() {
        let mut r = rule(60_000, 0);
        let samples = r
            .eval(0, vec![series("a")], None, 0, &TemplateContext::default())
            .unwrap();
        assert_eq!(states(&r), ["pending"]);
        assert_eq!(samples.len(), 2);
        assert!(samples[0]
            .0
            .contains(&("alertstate".into(), "pending".into())));
        assert!(samples[0].0.contains(&("alertname".into(), "Down".into())));
        r.eval(
            59_999,
            vec![series("a")],
            None,
            0,
            &TemplateContext::default(),
        )
        .unwrap();
        assert_eq!(states(&r), ["pending"]);
        r.eval(
            60_000,
            vec![series("a")],
            None,
            0,
            &TemplateContext::default(),
        )
        .unwrap();
        assert_eq!(states(&r), ["firing"]);
        // Gone: resolved at once, no samples, kept for 15 minutes.
        assert!(r
            .eval(120_000, vec![], None, 0, &TemplateContext::default())
            .unwrap()
            .is_empty());
        assert_eq!(states(&r), ["inactive"]);
        r.eval(
            120_000 + RESOLVED_RETENTION_MS,
            vec![],
            None,
            0,
            &TemplateContext::default(),
        )
        .unwrap();
        assert_eq!(states(&r), ["inactive"]);
        r.eval(
            120_001 + RESOLVED_RETENTION_MS,
            vec![],
            None,
            0,
            &TemplateContext::default(),
        )
        .unwrap();
        assert!(states(&r).is_empty());
    }

    #[test]
    fn a_pending_alert_that_goes_away_is_dropped_and_a_return_starts_over() {
        let mut r = rule(60_000, 0);
        r.eval(0, vec![series("a")], None, 0, &TemplateContext::default())
            .unwrap();
        r.eval(30_000, vec![], None, 0, &TemplateContext::default())
            .unwrap();
        assert!(states(&r).is_empty());
        r.eval(
            60_000,
            vec![series("a")],
            None,
            0,
            &TemplateContext::default(),
        )
        .unwrap();
        assert_eq!(r.alerts().next().unwrap().active_at, 60_000);
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert() {
        let mut r = rule(0, 60_000);
        r.eval(0, vec![series("a")], None, 0, &TemplateContext::default())
            .unwrap();
        assert_eq!(states(&r), ["firing"]);
        assert_eq!(
            r.eval(30_000, vec![], None, 0, &TemplateContext::default())
                .unwrap()
                .len(),
            2
        );
        assert_eq!(states(&r), ["firing"]);
        r.eval(89_999, vec![], None, 0, &TemplateContext::default())
            .unwrap();
        assert_eq!(states(&r), ["firing"]);
        r.eval(90_000, vec![], None, 0, &TemplateContext::default())
            .unwrap();
        assert_eq!(states(&r), ["inactive"]);
    }

    #[test]
    fn one_identity_twice_and_the_limit_are_errors() {
        let mut r = rule(0, 0);
        let twice = vec![series("a"), (vec![("instance".into(), "a".into())], 1.0)];
        assert!(r
            .eval(0, twice, None, 0, &TemplateContext::default())
            .unwrap_err()
            .contains("same labelset"));
        let err = r
            .eval(
                0,
                vec![series("a"), series("b")],
                None,
                1,
                &TemplateContext::default(),
            )
            .unwrap_err();
        assert_eq!(err, "exceeded limit of 1 with 2 alerts");
        assert!(states(&r).is_empty());
    }

    fn cpu(value: f64) -> (Labels, f64) {
        (vec![("core".into(), "0".into())], value)
    }

    #[test]
    fn a_recovery_condition_holds_a_firing_alert_until_it_is_met() {
        // Fire above 80, resolve only below 70.
        let mut r = rule(0, 0);
        let ctx = TemplateContext::default();
        let eval = |r: &mut AlertingRule, ts: i64, v: f64| {
            let fire = if v > 80.0 { vec![cpu(v)] } else { vec![] };
            let recover = if v < 70.0 { vec![cpu(v)] } else { vec![] };
            r.eval(ts, fire, Some(recover), 0, &ctx).unwrap();
            states(r)
        };
        assert_eq!(eval(&mut r, 0, 85.0), ["firing"]);
        assert_eq!(eval(&mut r, 1, 75.0), ["firing"], "between: held");
        assert_eq!(eval(&mut r, 2, 79.0), ["firing"]);
        assert_eq!(eval(&mut r, 3, 65.0), ["inactive"], "below 70: resolved");
        assert_eq!(
            eval(&mut r, 4, 75.0),
            ["inactive"],
            "between: not fired again"
        );
        assert_eq!(eval(&mut r, 5, 90.0), ["firing"]);
    }

    #[test]
    fn flapping_starts_and_stops_with_nagios_s_weighted_changes() {
        let mut history: std::collections::VecDeque<bool> =
            std::iter::repeat_n(false, 21).collect();
        assert_eq!(percent_state_change(&history), 0.0);
        // Every evaluation a change: all 20 changes, weights 0.75..1.25 summing to 20.
        history = (0..21).map(|i| i % 2 == 0).collect();
        assert!((percent_state_change(&history) - 100.0).abs() < 1e-9);
        // One change, the newest: weight 1.25 of 20.
        history = (0..21).map(|i| i == 20).collect();
        assert!((percent_state_change(&history) - 6.25).abs() < 1e-9);

        let mut r = rule(0, 0);
        r.flap_detection = Some(FlapDetection {
            start_percent: 20.0,
            stop_percent: 5.0,
        });
        let ctx = TemplateContext::default();
        let mut flapping = Vec::new();
        for ts in 0..30 {
            // On and off every evaluation for 10, then steadily on.
            let on = ts >= 10 || ts % 2 == 0;
            let result = if on { vec![series("a")] } else { vec![] };
            r.eval(ts * 1000, result, None, 0, &ctx).unwrap();
            flapping.push(r.alerts().any(|a| a.flapping));
        }
        let started = flapping.iter().position(|&f| f).unwrap();
        assert!(started > 0 && started < 10, "{flapping:?}");
        // Quiet again: the changes age out of the 21 evaluations and the mark goes.
        assert!(!flapping[29], "{flapping:?}");
        assert!(flapping[12], "{flapping:?}");
    }

    #[test]
    fn for_state_is_restored_as_prometheus_restores_it() {
        let minute = 60_000;
        let options = ForRestore {
            outage_tolerance_ms: 60 * minute,
            grace_period_ms: 10 * minute,
        };
        let ctx = TemplateContext::default();
        // `for: 25m`; restored at 100 min, each alert pending since the first evaluation.
        let restore_at = 100 * minute;
        let restored = |written: Option<(i64, f64)>| {
            let mut r = rule(25 * minute, 0);
            r.await_restore();
            let samples = r
                .eval(restore_at - minute, vec![series("a")], None, 0, &ctx)
                .unwrap();
            assert!(samples.is_empty(), "no ALERTS before restoring");
            r.restore_for_state(restore_at, options, |labels, from, to| {
                assert_eq!(from, restore_at - 60 * minute);
                assert_eq!(to, restore_at);
                assert!(labels.contains(&("__name__".into(), "ALERTS_FOR_STATE".into())));
                written
            });
            let samples = r
                .eval(restore_at, vec![series("a")], None, 0, &ctx)
                .unwrap();
            assert_eq!(samples.len(), 2, "ALERTS again once restored");
            let alert = r.alerts().next().unwrap();
            (alert.active_at, alert.state)
        };
        let secs = |ms: i64| ms as f64 / 1000.0;
        // Firing when it went down (active 40 min before): fires on, activeAt kept.
        let down = 90 * minute;
        assert_eq!(
            restored(Some((down, secs(50 * minute)))),
            (50 * minute, AlertState::Firing)
        );
        // Pending for 5 of its 25 minutes: the 10 minutes down do not count.
        assert_eq!(
            restored(Some((down, secs(85 * minute)))),
            (85 * minute + 10 * minute, AlertState::Pending)
        );
        // Pending for 20 of 25: it would fire within the grace period, so it waits that.
        assert_eq!(
            restored(Some((down, secs(70 * minute)))),
            (restore_at + 10 * minute - 25 * minute, AlertState::Pending)
        );
        // No series, or a stale one: a new alert.
        assert_eq!(restored(None), (restore_at - minute, AlertState::Pending));
        let stale = f64::from_bits(crate::query::STALE_NAN_BITS);
        assert_eq!(
            restored(Some((down, stale))),
            (restore_at - minute, AlertState::Pending)
        );
        // A rule whose `for` is under the grace period is not restored.
        let mut short = rule(5 * minute, 0);
        short.await_restore();
        short
            .eval(restore_at - minute, vec![series("a")], None, 0, &ctx)
            .unwrap();
        short.restore_for_state(restore_at, options, |_, _, _| Some((down, 0.0)));
        assert_eq!(
            short.alerts().next().unwrap().active_at,
            restore_at - minute
        );
    }
}
