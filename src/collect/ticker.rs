//! Module implementing the collector thread's loop. See [`run`] for details.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use time::OffsetDateTime;

use super::collector::Shared;
use crate::worker::{guarded, stopped_before};
use crate::Registry;

/// How many times per window slice the histograms are checked for a slice to close.
const ROTATION_CHECKS: u32 = 16;

/// The shortest time between two such checks.
const MIN_ROTATION_CHECK: Duration = Duration::from_millis(10);

/// Every `collection_interval`, polls the database, system and cluster sources, then copies
/// each series of the collector's registry and of the
/// process-wide registry into history and prunes expired points; every window slice, advances
/// the histogram windows. When `stop` disconnects, takes a last sample and returns, so history
/// covers the run up to `stop()`.
pub(crate) fn run(shared: Arc<Shared>, stop: Receiver<()>, started: OffsetDateTime) {
    let interval = shared.config.collection_interval;
    // Windows are checked for a slice to close this often, so that each closes within a
    // sixteenth of a slice of its end (under a second at the defaults).
    let slice = (shared.slice_len / ROTATION_CHECKS).max(MIN_ROTATION_CHECK);
    // The first tick skips series that received a sample since the collector started.
    let mut last_tick = started;
    let mut next_collect = Instant::now();
    // Ticks are stamped with their scheduled time (when they run within a quarter interval
    // of it), so that a series' samples are exactly `collection_interval` apart, as
    // Prometheus aligns its scrapes: the history stores such timestamps in a bit each.
    let origin = (next_collect, OffsetDateTime::now_utc());
    let grid = |due: Instant| origin.1 + due.saturating_duration_since(origin.0);
    let mut next_rotate = Instant::now() + slice;
    // With storage, the log is written and synced after each tick, or on its own interval.
    let sync_every = shared.config.storage.fsync_interval;
    let mut next_sync = sync_every.map(|every| Instant::now() + every);
    // Readers of the history (remote write) wait for the samples the next tick will store:
    // it stamps them no earlier than a quarter interval before the time it runs, so from
    // the end of one tick to the end of the next the thread holds a quarter interval before
    // the end of the last one.
    let tolerance = interval / 4;
    let holding = || {
        shared
            .history
            .hold(OffsetDateTime::now_utc() - tolerance - Duration::from_millis(1))
    };
    let mut _hold = holding();
    loop {
        let now = Instant::now();
        if now >= next_rotate {
            if let Err(e) = guarded("advancing histogram windows", || {
                shared.registry.rotate_windows(now);
                Registry::global().rotate_windows(now);
            }) {
                shared.report(e);
            }
            next_rotate = later(next_rotate, slice, now);
        }
        if now >= next_collect {
            last_tick = tick(&shared, last_tick, Some(grid(next_collect)));
            _hold = holding();
            if sync_every.is_none() {
                persist(&shared);
            }
            next_collect = later(next_collect, interval, now);
        }
        if let (Some(due), Some(every)) = (next_sync, sync_every) {
            if now >= due {
                persist(&shared);
                next_sync = Some(later(due, every, now));
            }
        }
        let wake = next_collect
            .min(next_rotate)
            .min(next_sync.unwrap_or(next_rotate));
        if stopped_before(&stop, wake) {
            tick(&shared, last_tick, None);
            persist(&shared);
            return;
        }
    }
}

/// Samples every series into history and prunes it, reporting a panic rather than ending the
/// thread; the samples are stamped `scheduled` when the tick runs less than a quarter of the
/// interval after it, else now. Returns the time it sampled at: the `since` of the next tick.
fn tick(
    shared: &Shared,
    since: OffsetDateTime,
    scheduled: Option<OffsetDateTime>,
) -> OffsetDateTime {
    let tolerance = shared.config.collection_interval / 4;
    // The sources first, so that this tick's history holds what they said.
    for error in shared
        .sources
        .collect(&shared.registry, &shared.instruments)
    {
        shared.report(error);
    }
    let now = OffsetDateTime::now_utc();
    let at = match scheduled {
        Some(due) if due <= now && now - due <= tolerance && due > since => due,
        _ => now,
    };
    let began = Instant::now();
    let sampled = guarded("a collection tick", || {
        shared.history.scrape(
            &[&shared.registry, Registry::global()],
            &shared.exposed,
            at,
            since,
        );
        shared.history.prune(at);
    });
    shared.tick_seconds.set(began.elapsed().as_secs_f64());
    if let Err(e) = sampled {
        shared.report(e);
    }
    at
}

/// Writes and syncs the history's log, checkpointing when due (with storage), reporting a
/// failure or a panic rather than ending the thread.
fn persist(shared: &Shared) {
    match guarded("writing the history's log", || shared.history.persist(true)) {
        Ok(None) => {}
        Ok(Some(e)) | Err(e) => shared.report(e),
    }
}

/// The next deadline after `previous` on a fixed grid, skipping beats missed while busy.
fn later(previous: Instant, every: Duration, now: Instant) -> Instant {
    let next = previous + every;
    if next > now {
        next
    } else {
        now + every
    }
}
