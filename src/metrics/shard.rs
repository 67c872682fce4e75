//! Module choosing which shard a recording thread writes to. See [`thread_slot`] for details.
//!
//! Counters and histograms keep one cache-padded cell per shard. Each thread gets a slot number
//! once, round-robin, the first time it records; `slot & mask` picks its shard from then on. Two
//! threads share a shard only when there are more recording threads than shards.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The largest number of shards a series gets, whatever the core count: beyond this the memory of
/// a histogram series grows faster than contention falls.
const MAX_SHARDS: usize = 8;

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot, `usize::MAX` until it first records.
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's slot number; AND it with a shard mask to pick a shard.
#[inline]
pub(crate) fn thread_slot() -> usize {
    SLOT.with(|slot| {
        let s = slot.get();
        if s != usize::MAX {
            return s;
        }
        let s = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
        slot.set(s);
        s
    })
}

/// The number of shards per series: the core count rounded up to a power of two, at most
/// [`MAX_SHARDS`].
pub(crate) fn shard_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .next_power_of_two()
            .min(MAX_SHARDS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_count_is_a_power_of_two_within_bounds() {
        let n = shard_count();
        assert!(n.is_power_of_two() && n <= MAX_SHARDS);
    }

    #[test]
    fn threads_get_distinct_slots_and_keep_them() {
        let here = thread_slot();
        assert_eq!(here, thread_slot());
        let there = std::thread::spawn(thread_slot).join().unwrap();
        assert_ne!(here, there);
    }
}
