//! The notification log: what each group last told each channel, and whether a flush must
//! tell it again (Alertmanager's `nflog` and `DedupStage`).

use std::collections::BTreeSet;

/// What the notification log remembers of a group's last notification to a channel.
#[derive(Debug, Clone)]
pub(super) struct LogEntry {
    pub(super) firing: BTreeSet<u64>,
    pub(super) resolved: BTreeSet<u64>,
    pub(super) at: i64,
}

/// Alertmanager's `DedupStage.needsUpdate`.
pub(super) fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_ms: i64,
    now: i64,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    entry.at < now.saturating_sub(repeat_ms)
}
