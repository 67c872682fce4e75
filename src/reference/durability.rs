//! Durability: what `storage.path` keeps across a restart, what a crash can lose, and the folder it uses.
//!
//! Set `storage.path` and the monitor keeps what it knows in that folder:
//!
//! ```toml
//! [storage]
//! path = "/var/lib/kotoba/monitoring"   # made if missing; one monitor per folder
//! fsync_interval = "1s"                 # optional; by default the log is synced after each tick
//!
//! [alerting_config]
//! for_outage_tolerance = "1h"   # Prometheus's --rules.alert.for-outage-tolerance
//! for_grace_period = "10m"      # Prometheus's --rules.alert.for-grace-period
//! ```
//!
//! - **The history.** Every sample the history takes (each collection tick's, each
//!   `record_metric`, each rule's output) goes to a write-ahead log, compressed as the history
//!   holds it, before it counts as stored. The compressed chunks are checkpointed once the log
//!   holds half as many samples as the last checkpoint, and the log behind the checkpoint is
//!   dropped, as Prometheus's head block does. A start reads the checkpoint and the log back
//!   (an hour of 10,000 series in 0.2 s), then applies retention: `get_metrics`, PromQL, the
//!   rules and `/api/v1` see the history from before the restart.
//! - **Alerts.** A restarted monitor restores its alerts' `for` state from the
//!   `ALERTS_FOR_STATE` series as Prometheus does after a group's second evaluation: an alert
//!   that was firing fires on with its original `activeAt`; a pending one keeps its progress
//!   toward `for`. Rules whose `for` is shorter than `for_grace_period` start over, as in
//!   Prometheus. Flap detection's history is kept too.
//! - **Notifications.** The notification log (which group was sent what, and when, per channel,
//!   as Alertmanager's nflog) and the alerts it is about are kept: a restart within
//!   `repeat_interval` sends nothing again for a group already notified, and an alert that
//!   resolves after the restart is still sent resolved. `stop` waits for a delivery under way
//!   (up to the longest channel `timeout`), so that one it makes is logged too.
//! - **Remote write** keeps each endpoint's position: it resumes where it was.
//!
//! What a crash can lose: a process killed at any moment (`kill -9`, a panic elsewhere in the
//! database) loses the samples since the log was last written, at most one collection tick (or
//! `fsync_interval`); a power loss the same, since each write is synced. A clean `stop()` loses
//! nothing. A log cut short by a crash or a full disk, or bytes flipped on disk, are found at the
//! next start: the damaged tail is cut off, counted in `kotoba_monitoring_wal_corruptions_total`,
//! logged (through the `log` facade, at `warn`) and listed in `collector.replay_report()`;
//! everything before it is kept, and since each log segment reads on its own, the segments after
//! a damaged one are read as usual. A file of something else where ours go, a folder that cannot
//! be written, or one another monitor holds, is an error naming it at `Monitor::new`. A disk that
//! fills up is counted (`kotoba_monitoring_wal_write_failures_total`,
//! `kotoba_monitoring_wal_samples_unlogged_total`); the samples stay in memory and the next
//! checkpoint makes them durable.
//!
//! The folder holds `LOCK`, `wal/` (log segments), `checkpoint.N` (the history up to segment N)
//! and `state/` (alert state, the notification log, remote-write positions). Size it at about
//! 2.1 bytes per sample held for counters and 3 for a typical self-scrape (floats that change at
//! every tick cost more): an hour of 10,000 series at 15 s is 2.4 million samples, 5 to 7 MB, and
//! the log may add half as much again before the next checkpoint.
//! `kotoba_monitoring_storage_bytes` tells what it takes now.
