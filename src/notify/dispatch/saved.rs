//! The notification log and the alerts, as kept in a state file across restarts.

use super::super::alert::{fingerprint, PostableAlert};
use super::{Dispatcher, LogEntry, Stored};
use crate::query::Labels;

/// The notification log and the alerts it is about, as kept in a state file across
/// restarts (Alertmanager keeps its `nflog` so, and Prometheus sends its alerts again).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedDispatch {
    log: Vec<SavedEntry>,
    alerts: Vec<SavedAlert>,
}

/// One group's last notification to one channel, the channel by name.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedEntry {
    group_key: String,
    receiver: String,
    firing: Vec<u64>,
    resolved: Vec<u64>,
    at: i64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedAlert {
    labels: Labels,
    annotations: Labels,
    starts_at: i64,
    ends_at: i64,
    generator_url: String,
    validity: i64,
}

impl Dispatcher {
    /// The log and the alerts, to keep across a restart, when they changed since the last
    /// call.
    pub(crate) fn saved(&mut self) -> Option<SavedDispatch> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        let log = self
            .log
            .iter()
            .map(|((group_key, channel), entry)| SavedEntry {
                group_key: group_key.clone(),
                receiver: self.channels[*channel].name.clone(),
                firing: entry.firing.iter().copied().collect(),
                resolved: entry.resolved.iter().copied().collect(),
                at: entry.at,
            })
            .collect();
        let alerts = self
            .alerts
            .values()
            .map(|s| SavedAlert {
                labels: s.alert.labels.clone(),
                annotations: s.alert.annotations.clone(),
                starts_at: s.alert.starts_at,
                ends_at: s.alert.ends_at,
                generator_url: s.alert.generator_url.clone(),
                validity: s.validity,
            })
            .collect();
        Some(SavedDispatch { log, alerts })
    }

    /// Takes back what [`saved`](Self::saved) gave before a restart, at `now`: the log
    /// (entries of channels no longer configured are let go) and the alerts, each put back
    /// in the groups of its routes. A group notified before then sends nothing again until
    /// its alerts change or its `repeat_interval` passes; an alert that ended meanwhile is
    /// sent resolved.
    pub(crate) fn restore(&mut self, saved: SavedDispatch, now: i64) {
        for entry in saved.log {
            let Some(channel) = self.channels.iter().position(|c| c.name == entry.receiver) else {
                continue;
            };
            self.log.insert(
                (entry.group_key, channel),
                LogEntry {
                    firing: entry.firing.into_iter().collect(),
                    resolved: entry.resolved.into_iter().collect(),
                    at: entry.at,
                },
            );
        }
        for saved in saved.alerts {
            let alert = PostableAlert {
                labels: saved.labels,
                annotations: saved.annotations,
                starts_at: saved.starts_at,
                ends_at: saved.ends_at,
                generator_url: saved.generator_url,
                flapping: false,
            };
            let fp = fingerprint(&alert.labels);
            self.sequence += 1;
            let stored = Stored {
                alert,
                updated: self.sequence,
                validity: saved.validity,
            };
            self.alerts.insert(fp, stored.clone());
            for route in self.routes.matching(&stored.alert.labels) {
                self.insert(route, fp, stored.clone(), now);
            }
        }
        self.forget(now);
    }
}
