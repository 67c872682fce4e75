//! Module implementing the `kotoba-alert` thread: rule groups evaluated at their intervals
//! over the history, their outputs written back into it, their alerts readable at any time.
//! See [`RuleEngine`] for details.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;
use time::OffsetDateTime;

use super::group::{GroupRun, RuleFailure, RuleStorage};
use super::lifecycle::AlertState;
use super::rules::Rule;
use crate::query::{Labels, QueryError};
use crate::worker::{guarded, Worker};
use crate::{HistoryStore, LabelSet, MonitoringError, QueryValue};

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
}

/// A group on its schedule.
#[derive(Debug)]
struct Scheduled {
    run: GroupRun,
    interval: Duration,
    /// The rules that failed at the last evaluation.
    failures: Vec<RuleFailure>,
}

/// Rule groups evaluated on the `kotoba-alert` thread.
#[derive(Debug)]
pub(crate) struct RuleEngine {
    groups: Arc<Vec<Mutex<Scheduled>>>,
    history: HistoryStore,
    worker: Mutex<Option<(Worker, Sender<()>)>>,
}

/// The history as a rule's storage: queries are PromQL over it, outputs are appended to it.
struct HistoryRules<'a>(&'a HistoryStore);

fn time_of(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl RuleStorage for HistoryRules<'_> {
    fn query(
        &self,
        text: &str,
        _parsed: &promql_parser::parser::Expr,
        ts: i64,
        _default_step: Duration,
    ) -> Result<Vec<(Labels, f64)>, String> {
        match self.0.query(text, time_of(ts)) {
            Ok(QueryValue::Vector(samples)) => {
                Ok(samples.into_iter().map(|s| (s.labels, s.value)).collect())
            }
            Ok(QueryValue::Scalar(v)) => Ok(vec![(Labels::new(), v)]),
            Ok(_) => Err("rule result is not a vector or scalar".to_owned()),
            Err(MonitoringError::Query(QueryError::Evaluation { reason, .. })) => Err(reason),
            Err(e) => Err(e.to_string()),
        }
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
        self.0.append(&name, &set, time_of(ts), value);
        Ok(())
    }
}

impl RuleEngine {
    /// An engine of `groups`, each evaluated every its interval, over `history`.
    pub(crate) fn new(groups: Vec<(GroupRun, Duration)>, history: HistoryStore) -> Self {
        let groups = groups
            .into_iter()
            .map(|(run, interval)| {
                Mutex::new(Scheduled {
                    run,
                    interval,
                    failures: Vec::new(),
                })
            })
            .collect();
        Self {
            groups: Arc::new(groups),
            history,
            worker: Mutex::new(None),
        }
    }

    /// Starts the `kotoba-alert` thread: every group at once, then at each interval.
    pub(crate) fn start(&self) -> Result<(), MonitoringError> {
        let mut worker = self.worker.lock();
        if worker.is_some() {
            return Err(MonitoringError::AlreadyStarted {
                component: "alerting",
            });
        }
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let groups = self.groups.clone();
        let history = self.history.clone();
        let thread = Worker::spawn("kotoba-alert", move || {
            let mut due: Vec<Instant> = vec![Instant::now(); groups.len()];
            loop {
                let now = Instant::now();
                for (group, due) in groups.iter().zip(due.iter_mut()) {
                    if *due > now {
                        continue;
                    }
                    let mut group = group.lock();
                    let interval = group.interval;
                    evaluate(&mut group, &history);
                    *due += interval;
                    if *due <= now {
                        *due = now + interval;
                    }
                }
                let wake = due
                    .iter()
                    .min()
                    .copied()
                    .unwrap_or(now + Duration::from_secs(60));
                match stop.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
        *worker = Some((thread, stop_tx));
        Ok(())
    }

    /// Stops the thread, waiting up to `timeout`; does nothing when stopped.
    pub(crate) fn stop(&self, timeout: Duration) -> Result<(), MonitoringError> {
        match self.worker.lock().take() {
            Some((worker, stop)) => {
                let _ = stop.send(());
                worker.join(timeout)
            }
            None => Ok(()),
        }
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
                        .map(|a| ActiveAlert {
                            labels: a.labels.clone(),
                            annotations: a.annotations.clone(),
                            state: a.state,
                            active_at: time_of(a.active_at),
                            value: a.value,
                        }),
                );
            }
        }
        out
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

/// Evaluates one group now, keeping what failed; a panic is contained and kept as a failure.
fn evaluate(group: &mut Scheduled, history: &HistoryStore) {
    let ts = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let name = group.run.group.name.clone();
    let run = &mut group.run;
    let outcome = guarded("a rule group's evaluation", || {
        run.eval(
            ts,
            &mut HistoryRules(history),
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
}
