//! What alerting keeps across a restart when the monitor has a storage folder: alerts'
//! `for` state, read back from the `ALERTS_FOR_STATE` series of the durable history as
//! Prometheus reads it, and flap detection's history of each alert, kept in
//! `state/alerts.json`. See [`Durability`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::group::GroupRun;
use super::lifecycle::ForRestore;
use super::rules::Rule;
use crate::clock::millis;
use crate::query::Labels;
use crate::{HistoryStore, LabelSet, MonitoringError};

/// The state file's name under `state/`.
const FILE: &str = "alerts.json";

/// Where alerting keeps its state, and how a restart restores it.
#[derive(Debug, Clone)]
pub(crate) struct Durability {
    pub(crate) folder: PathBuf,
    pub(crate) for_restore: ForRestore,
}

/// The state file: per group (by file and name), per alerting rule (by name), each alert's
/// flap history.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    groups: Vec<GroupState>,
}

#[derive(Debug, Serialize, Deserialize)]
struct GroupState {
    file: String,
    name: String,
    rules: Vec<RuleState>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RuleState {
    name: String,
    /// Each alert's identity and whether it was in the result at each of its last
    /// evaluations, oldest first.
    flap_history: Vec<(Labels, Vec<bool>)>,
}

impl Durability {
    /// Prepares `runs` for a start over a history written before: their alerting rules
    /// write no `ALERTS` until [`restore_for_state`](Self::restore_for_state), and take
    /// back their flap histories.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when the state file exists but cannot be read or
    /// understood.
    pub(crate) fn prepare<'a>(
        &self,
        runs: impl Iterator<Item = &'a mut GroupRun>,
    ) -> Result<(), MonitoringError> {
        let saved: StateFile = match crate::storage::read_state(&self.folder, FILE)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                crate::storage::error(
                    &self.folder.join("state").join(FILE),
                    format!("is not alert state this monitor wrote ({e}); remove it to start without flap history"),
                    None,
                )
            })?,
            None => StateFile::default(),
        };
        for run in runs {
            let group = saved
                .groups
                .iter()
                .find(|g| g.file == run.group.file && g.name == run.group.name);
            for rule in &mut run.group.rules {
                let Rule::Alerting(rule) = rule else { continue };
                rule.await_restore();
                let saved = group.and_then(|g| g.rules.iter().find(|r| r.name == rule.name()));
                if let Some(saved) = saved {
                    rule.restore_flap_history(
                        saved
                            .flap_history
                            .iter()
                            .map(|(labels, seen)| (labels.clone(), seen.iter().copied().collect()))
                            .collect(),
                    );
                }
            }
        }
        Ok(())
    }

    /// Restores the `for` state of `run`'s alerts at `now` from `history`.
    pub(crate) fn restore_for_state(
        &self,
        run: &mut GroupRun,
        history: &HistoryStore,
        now: time::OffsetDateTime,
    ) {
        let ts = millis(now);
        for rule in &mut run.group.rules {
            let Rule::Alerting(rule) = rule else { continue };
            rule.restore_for_state(ts, self.for_restore, |labels, from, to| {
                let pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .filter(|(n, _)| n != "__name__")
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let set = LabelSet::new("ALERTS_FOR_STATE", &pairs).ok()?;
                history.last_sample_ms("ALERTS_FOR_STATE", &set, from, to)
            });
        }
    }

    /// Writes the flap histories of `runs` to the state file.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when it cannot be written.
    pub(crate) fn save<'a>(
        &self,
        runs: impl Iterator<Item = &'a GroupRun>,
    ) -> Result<(), MonitoringError> {
        let mut file = StateFile::default();
        for run in runs {
            let rules: Vec<RuleState> = run
                .group
                .rules
                .iter()
                .filter_map(|rule| match rule {
                    Rule::Alerting(rule) if !rule.flap_history().is_empty() => Some(RuleState {
                        name: rule.name().to_owned(),
                        flap_history: rule
                            .flap_history()
                            .iter()
                            .map(|(labels, seen)| (labels.clone(), seen.iter().copied().collect()))
                            .collect(),
                    }),
                    _ => None,
                })
                .collect();
            if !rules.is_empty() {
                file.groups.push(GroupState {
                    file: run.group.file.clone(),
                    name: run.group.name.clone(),
                    rules,
                });
            }
        }
        let bytes = serde_json::to_vec(&file).unwrap_or_default();
        crate::storage::write_state(&self.folder, FILE, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::lifecycle::{FlapDetection, TemplateContext};

    fn runs(dir: &std::path::Path) -> Vec<GroupRun> {
        let path = dir.join("rules.yml");
        std::fs::write(
            &path,
            "groups:\n  - name: g\n    rules:\n      - alert: Up\n        expr: up == 1\n",
        )
        .unwrap();
        let mut groups = super::super::load_rule_file(&path).unwrap();
        for group in &mut groups {
            for rule in &mut group.rules {
                if let Rule::Alerting(rule) = rule {
                    rule.flap_detection = Some(FlapDetection {
                        start_percent: 20.0,
                        stop_percent: 5.0,
                    });
                }
            }
        }
        groups
            .into_iter()
            .map(|g| GroupRun::new(g, TemplateContext::default()))
            .collect()
    }

    fn histories(runs: &[GroupRun]) -> Vec<Vec<(Labels, Vec<bool>)>> {
        runs.iter()
            .flat_map(|run| &run.group.rules)
            .filter_map(|rule| match rule {
                Rule::Alerting(rule) => Some(
                    rule.flap_history()
                        .iter()
                        .map(|(l, h)| (l.clone(), h.iter().copied().collect()))
                        .collect(),
                ),
                Rule::Recording(_) => None,
            })
            .collect()
    }

    #[test]
    fn flap_histories_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let durability = Durability {
            folder: dir.path().join("data"),
            for_restore: ForRestore {
                outage_tolerance_ms: 3_600_000,
                grace_period_ms: 600_000,
            },
        };
        let mut before = runs(dir.path());
        let up = vec![(
            vec![
                ("__name__".to_owned(), "up".to_owned()),
                ("job".to_owned(), "db".to_owned()),
            ],
            1.0,
        )];
        for ts in 0..7 {
            let Rule::Alerting(rule) = &mut before[0].group.rules[0] else {
                unreachable!()
            };
            let result = if ts % 2 == 0 { up.clone() } else { Vec::new() };
            rule.eval(ts * 1000, result, None, 0, &TemplateContext::default())
                .unwrap();
        }
        let saved = histories(&before);
        assert_eq!(saved[0][0].1.len(), 7);
        durability.save(before.iter()).unwrap();
        let mut after = runs(dir.path());
        durability.prepare(after.iter_mut()).unwrap();
        assert_eq!(histories(&after), saved);
        // A state file of something else is refused by name.
        std::fs::write(dir.path().join("data/state/alerts.json"), b"[1, 2").unwrap();
        let err = durability.prepare(runs(dir.path()).iter_mut()).unwrap_err();
        assert!(err.to_string().contains("alerts.json"), "{err}");
    }
}
