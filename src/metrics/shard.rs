//! Module giving recording threads cells of their own. See [`thread_slot`] for details.
//!
//! Counters and histograms keep cells per owned slot (a counter's in a row of its block, a
//! histogram's in a shard of its own) and a shared cell besides. The first [`shard_count`]
//! threads that record each own a slot: only that thread ever writes the cells at its index,
//! so it adds with a plain load and store and no locked instruction. Every other thread (and
//! every thread of this crate) writes the shared cell, with atomic read-modify-writes. A
//! thread gives its slot back when it ends, and the next thread to record takes the lowest
//! slot free. A counter block also has an owner row, which belongs to the first slot that
//! records into the block, for ever.
//!
//! Ownership is what makes the plain store sound: a cell with one writer cannot lose an update,
//! and the slot passes between threads through a mutex, so the next owner sees the last one's
//! final value.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

/// The largest number of owned slots, whatever the core count: each costs every counter about
/// 8.5 bytes (a 128-byte row per block of fifteen) and every histogram series a page table
/// and the pages of cells its values touch (up to 6.2 KiB for latencies).
const MAX_SHARDS: usize = 8;

/// Not yet asked for a slot.
const UNCLAIMED: usize = usize::MAX;

thread_local! {
    /// This thread's slot: below [`shard_count`] an owned one, equal to it the shared cell,
    /// [`UNCLAIMED`] until the thread first records.
    static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Gives an owned slot back when the thread ends; touched once, when the slot is claimed.
    static RELEASE: Release = const { Release };
}

/// The owned slots threads hold.
static POOL: Mutex<Pool> = Mutex::new(Pool::new());

/// The owned slots held, as a bit mask.
struct Pool {
    held: u64,
}

impl Pool {
    const fn new() -> Self {
        Self { held: 0 }
    }

    /// The lowest slot below `owned` nobody holds, or `owned` (the shared cell) when all are
    /// held. Lowest first, so that threads that come and go one at a time keep taking the same
    /// slot, and with it the counter blocks that slot owns (see `Counter`).
    fn take(&mut self, owned: usize) -> usize {
        let free = !self.held & ((1u64 << owned) - 1);
        if free == 0 {
            return owned;
        }
        let slot = free.trailing_zeros() as usize;
        self.held |= 1 << slot;
        slot
    }

    fn give_back(&mut self, slot: usize, owned: usize) {
        if slot < owned {
            self.held &= !(1u64 << slot);
        }
    }
}

struct Release;

impl Drop for Release {
    fn drop(&mut self) {
        // Later destructors of this thread that record go to the shared cell.
        let slot = SLOT.with(|s| s.replace(shard_count()));
        POOL.lock().give_back(slot, shard_count());
    }
}

/// This thread's cell index: below [`shard_count`] the thread owns the cell and may add to it
/// with [`add_owned`]; equal to `shard_count()` it must use an atomic read-modify-write.
#[inline]
pub(crate) fn thread_slot() -> usize {
    let slot = SLOT.with(Cell::get);
    if slot != UNCLAIMED {
        return slot;
    }
    claim()
}

/// This thread's slot as [`thread_slot`] gives it, or a number above every slot when the thread
/// has not claimed one yet: a single thread-local read, for a fast path that sends that case to
/// its slow path, which calls [`thread_slot`].
#[inline(always)]
pub(crate) fn current_slot() -> usize {
    SLOT.with(Cell::get)
}

#[cold]
fn claim() -> usize {
    let owned = shard_count();
    let mut slot = POOL.lock().take(owned);
    if slot < owned && RELEASE.try_with(|_| ()).is_err() {
        // The thread is already ending: it could not give the slot back, so it must not take it.
        POOL.lock().give_back(slot, owned);
        slot = owned;
    }
    SLOT.with(|s| s.set(slot));
    slot
}

/// Makes the calling thread record into the shared cells from now on, giving back any slot it
/// owned. The crate's own threads call this first, so that the owned slots go to the
/// database's threads, which record far more often.
pub(crate) fn use_shared_cells() {
    let owned = shard_count();
    let slot = SLOT.with(|s| s.replace(owned));
    POOL.lock().give_back(slot, owned);
}

/// Adds `n` to a cell that only the calling thread writes: a load and a store, no lock.
#[inline]
pub(crate) fn add_owned(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// The number of owned slots: the core count rounded up to a power of two, at most
/// [`MAX_SHARDS`]. Cell arrays have one more entry, the shared cell, at this index.
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
    use std::sync::Barrier;

    #[test]
    fn shard_count_is_a_power_of_two_within_bounds() {
        let n = shard_count();
        assert!(n.is_power_of_two() && n <= MAX_SHARDS);
    }

    #[test]
    fn a_thread_keeps_its_slot() {
        let here = thread_slot();
        assert!(here <= shard_count());
        assert_eq!(here, thread_slot());
    }

    #[test]
    fn threads_alive_together_never_own_the_same_slot() {
        // More threads than slots, all alive at once: owned slots are distinct, the rest share.
        let threads = shard_count() * 2 + 2;
        let barrier = Barrier::new(threads);
        let slots: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let slot = thread_slot();
                        barrier.wait(); // nobody ends, and gives a slot back, before all claimed
                        slot
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut owned: Vec<usize> = slots.into_iter().filter(|&s| s < shard_count()).collect();
        let claimed = owned.len();
        owned.sort_unstable();
        owned.dedup();
        assert_eq!(owned.len(), claimed, "an owned slot was handed out twice");
    }

    #[test]
    fn the_pool_hands_each_slot_to_one_holder_and_takes_it_back() {
        let mut pool = Pool::new();
        let (a, b, c) = (pool.take(3), pool.take(3), pool.take(3));
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(pool.take(3), 3, "all held: the shared cell");
        pool.give_back(3, 3); // the shared cell is nobody's to give back
        assert_eq!(pool.take(3), 3);
        pool.give_back(c, 3);
        pool.give_back(a, 3);
        assert_eq!(pool.take(3), a, "the lowest free slot first");
        assert_eq!(pool.take(3), c);
        assert_eq!(pool.take(3), 3);
    }

    #[test]
    fn crate_threads_use_the_shared_cell() {
        let (before, after) = std::thread::spawn(|| {
            let before = thread_slot();
            use_shared_cells();
            (before, thread_slot())
        })
        .join()
        .unwrap();
        assert!(before <= shard_count());
        assert_eq!(after, shard_count());
    }
}
