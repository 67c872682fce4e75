//! Module implementing the sharded counter. See [`Counter`] for details.
//!
//! How the cells are laid out: counters are kept fifteen to a block. The first threads to
//! record (one per core, up to 8, until they end) each hold an owned slot, and the slot of the
//! first of them to record into a block owns the block: its thread adds to the block's owner
//! row with a plain load and store, at a fixed place. Other threads with an owned slot add to
//! their slot's row the same way; every other thread shares one more cell with atomic adds.
//! Reading adds up the cells that were written. Each row is one cache line that only one
//! thread writes, so a counter costs 8 bytes per row rather than a padded line, and a scrape
//! reads fifteen counters' cells from each line it loads. `benches/README.md` has the
//! measurements behind this layout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::exemplar::Exemplar;
use super::name::MetricName;
use super::shard::{current_slot, shard_count, thread_slot};
use crate::{MonitoringError, TraceContext};

/// A monotonically increasing count, such as queries served or bytes written.
///
/// `Counter` is a handle: cloning it is cheap and every clone records into the same series.
/// Incrementing takes no lock and never allocates; threads incrementing the same counter do not
/// contend, since each adds to cells of its own, and a read adds them up.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::Registry;
///
/// let registry = Registry::new();
/// let queries = registry.counter("kotoba_db_queries_total", "Queries executed.", &[("op", "get")])?;
/// queries.inc();
/// queries.inc_by(2);
/// assert_eq!(queries.get(), 3.0);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Clone)]
pub struct Counter {
    /// The block holding this counter's cells. Held directly by the handle, so that an
    /// increment follows one pointer, as a lone atomic would.
    block: BlockRef,
    /// This counter's column in the block, below [`PER_BLOCK`].
    at: u32,
    /// The family name, for error messages.
    name: MetricName,
}

/// The largest increment the whole cells take: one then needs 256 increments of this size
/// (or 2^64 in all, centuries at a billion a second) to wrap. Larger ones go to the `f64` cell.
const LARGE_INCREMENT: u64 = 1 << 56;

/// Cells in a row: one cache line of `u64`.
const ROW_CELLS: usize = 16;

/// Counters per block: a row's cells but one, which the written row gives to the owner slot.
const PER_BLOCK: usize = ROW_CELLS - 1;

type Row = CachePadded<[AtomicU64; ROW_CELLS]>;

/// The cells of fifteen counters, in rows of one cache line each. The four fixed rows come
/// first, so that an increment finds them at fixed offsets from the one pointer it follows,
/// and the rows of the owned slots after them.
struct Block<Slots: ?Sized> {
    /// Written only by the thread holding the block's owner slot.
    owner: Row,
    /// Per counter, the mask of slot rows ever written, so that a read loads those only. Its
    /// last cell ([`OWNER_SLOT`]) is the owner slot, [`NO_OWNER`] until a thread takes the block.
    written: Row,
    /// The non-integer increments and those above [`LARGE_INCREMENT`], as `f64` bits.
    fraction: Row,
    /// For threads without an owned slot, with atomic adds.
    shared: Row,
    /// One per owned slot, written only by the thread holding the slot.
    slots: Slots,
}

/// A block as counters hold it: its slot rows as many as [`shard_count`] gives.
type BlockRef = Arc<Block<[Row]>>;

/// The [`Block::written`] cell that holds the owner slot.
const OWNER_SLOT: usize = ROW_CELLS - 1;

/// The owner slot of a block nobody has taken: above every slot, and unequal to the number
/// [`current_slot`] gives before a thread claims its slot.
const NO_OWNER: u64 = u64::MAX - 1;

fn new_block() -> BlockRef {
    fn with_slots<const N: usize>() -> BlockRef {
        let row = || CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0)));
        let block = Block {
            owner: row(),
            written: row(),
            fraction: row(),
            shared: row(),
            slots: std::array::from_fn::<Row, N, _>(|_| row()),
        };
        block.written[OWNER_SLOT].store(NO_OWNER, Ordering::Relaxed);
        Arc::new(block)
    }
    // `shard_count` is a power of two, at most 8.
    match shard_count() {
        1 => with_slots::<1>(),
        2 => with_slots::<2>(),
        4 => with_slots::<4>(),
        _ => with_slots::<8>(),
    }
}

/// Counters' exemplars, by block address and column, in shards by block: none of a
/// counter's own memory goes to them, and a block's entries go with it (see its `Drop`).
static EXEMPLARS: [Mutex<Option<ExemplarMap>>; EXEMPLAR_SHARDS] =
    [const { Mutex::new(None) }; EXEMPLAR_SHARDS];

/// A shard of [`EXEMPLARS`]: each counter's exemplar by its block's address and its column.
type ExemplarMap = std::collections::HashMap<(usize, u32), Exemplar>;

/// Shards of [`EXEMPLARS`]: a block's counters share one, so that writers of exemplars on
/// different blocks rarely meet, and a dropped block clears one.
const EXEMPLAR_SHARDS: usize = 32;

fn exemplar_shard(block: usize) -> &'static Mutex<Option<ExemplarMap>> {
    // Blocks are 64-byte aligned: the bits above that spread them.
    &EXEMPLARS[(block >> 6) % EXEMPLAR_SHARDS]
}

/// Whether any counter ever had an exemplar: until one has, nothing looks them up.
static ANY_EXEMPLAR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl<Slots: ?Sized> Drop for Block<Slots> {
    fn drop(&mut self) {
        if ANY_EXEMPLAR.load(Ordering::Relaxed) {
            let address = self as *const Self as *const u8 as usize;
            if let Some(map) = exemplar_shard(address).lock().as_mut() {
                map.retain(|(block, _), _| *block != address);
            }
        }
    }
}

/// The block new counters take columns from, and its next free column.
static FILLING: Mutex<Option<(BlockRef, usize)>> = Mutex::new(None);

impl Counter {
    pub(crate) fn new(name: MetricName) -> Self {
        let mut filling = FILLING.lock();
        let (block, at) = match filling.take() {
            Some((block, at)) if at < PER_BLOCK => (block, at),
            _ => (new_block(), 0),
        };
        *filling = Some((block.clone(), at + 1));
        Self {
            block,
            at: at as u32,
            name,
        }
    }

    /// Adds `n` and keeps `labels` (a trace id, say) as the counter's exemplar, the newest.
    /// Exemplars are kept beside the counters, in shards whose lock is held for one map
    /// insert or lookup; plain [`inc`](Self::inc) never touches them.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidTrace`] when the labels are not an exemplar's (more than 128
    /// characters together, a name that is not a label name); `n` is added anyway.
    pub fn inc_by_with_exemplar(
        &self,
        n: u64,
        labels: &[(&str, &str)],
    ) -> Result<(), MonitoringError> {
        self.inc_by(n);
        let exemplar = Exemplar::new(labels, n as f64)?;
        self.keep_exemplar(exemplar);
        Ok(())
    }

    /// Adds one, with the current thread's trace (see [`TraceContext::enter`]) as the
    /// exemplar when one is entered and sampled.
    pub fn inc_traced(&self) {
        self.inc();
        if let Some(trace) = TraceContext::current().filter(TraceContext::sampled) {
            self.keep_exemplar(Exemplar::of_trace(&trace, 1.0));
        }
    }

    fn key(&self) -> (usize, u32) {
        (Arc::as_ptr(&self.block) as *const u8 as usize, self.at)
    }

    fn keep_exemplar(&self, exemplar: Exemplar) {
        ANY_EXEMPLAR.store(true, Ordering::Relaxed);
        let key = self.key();
        exemplar_shard(key.0)
            .lock()
            .get_or_insert_with(Default::default)
            .insert(key, exemplar);
    }

    /// The counter's exemplar, the newest, if it has one.
    pub(crate) fn exemplar(&self) -> Option<Exemplar> {
        if !ANY_EXEMPLAR.load(Ordering::Relaxed) {
            return None;
        }
        let key = self.key();
        exemplar_shard(key.0).lock().as_ref()?.get(&key).cloned()
    }

    /// Adds one.
    #[inline(always)]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`. The total does not wrap: increments above 2^56 are kept as an `f64`, a cell
    /// that passes `u64::MAX` carries 2^64 into it, and the read adds the cells in 128 bits.
    // Always inlined, as an atomic add would be: each case takes a few instructions, and a call
    // costs about 1 ns more (3.5 against 2.5 ns in the hot_path bench, where LLVM had declined
    // to inline it). The owner's row is at a fixed offset, so the thread-local read of the slot
    // only decides a branch: the store's address does not wait for it. The rare cases are out
    // of line.
    #[inline(always)]
    pub fn inc_by(&self, n: u64) {
        if n > LARGE_INCREMENT {
            return self.inc_by_large(n);
        }
        let slot = current_slot();
        let block = &*self.block;
        // `at` is below PER_BLOCK; the mask spares a bounds check.
        let at = self.at as usize % ROW_CELLS;
        if slot as u64 == block.written[OWNER_SLOT].load(Ordering::Relaxed) {
            self.add_to_own(&block.owner[at], n);
            return;
        }
        if slot < block.slots.len() {
            let cell = &block.slots[slot][at];
            if cell.load(Ordering::Relaxed) != 0 {
                self.add_to_own(cell, n);
                return;
            }
        } else if slot == block.slots.len() {
            self.add_shared(n);
            return;
        }
        self.inc_by_rarely(n);
    }

    /// Adds `n` to `cell`, which only this thread writes: a plain load and store, carrying a
    /// wrap.
    #[inline(always)]
    fn add_to_own(&self, cell: &AtomicU64, n: u64) {
        let (new, wrapped) = cell.load(Ordering::Relaxed).overflowing_add(n);
        cell.store(new, Ordering::Relaxed);
        if wrapped {
            self.carry();
        }
    }

    /// Adds `n` to the cell the threads without a slot share.
    #[inline(always)]
    fn add_shared(&self, n: u64) {
        let old = self.block.shared[self.at as usize].fetch_add(n, Ordering::Relaxed);
        if old.overflowing_add(n).1 {
            self.carry();
        }
    }

    /// A cell passed `u64::MAX` and wrapped: the 2^64 it lost goes to the `f64` cell, so that
    /// the total never reads smaller (Prometheus would take that for a reset).
    #[cold]
    #[inline(never)]
    fn carry(&self) {
        self.add_to_fraction(2f64.powi(64));
    }

    /// [`Counter::inc_by`] for a thread's first record of all, which claims its slot, and for
    /// a thread's first add to its own row, which takes the block if nobody has or else marks
    /// the cell written.
    #[cold]
    #[inline(never)]
    fn inc_by_rarely(&self, n: u64) {
        let slot = thread_slot();
        let block = &*self.block;
        if slot >= block.slots.len() {
            self.add_shared(n);
            return;
        }
        let owner = &block.written[OWNER_SLOT];
        let taken =
            owner.compare_exchange(NO_OWNER, slot as u64, Ordering::Relaxed, Ordering::Relaxed);
        let owned = taken.is_ok() || taken == Err(slot as u64);
        let cell = if owned {
            &block.owner[self.at as usize]
        } else {
            &block.slots[slot][self.at as usize]
        };
        if !owned && cell.load(Ordering::Relaxed) == 0 {
            block.written[self.at as usize].fetch_or(1 << slot, Ordering::Relaxed);
        }
        self.add_to_own(cell, n);
    }

    /// [`Counter::inc_by`] for an increment above [`LARGE_INCREMENT`]: added to the block's
    /// `f64` cell, which cannot wrap (a whole cell past `u64::MAX` would read as a smaller
    /// total, which Prometheus takes for a reset). Exact while the total stays below 2^53.
    #[cold]
    #[inline(never)]
    fn inc_by_large(&self, n: u64) {
        self.add_to_fraction(n as f64);
    }

    fn add_to_fraction(&self, v: f64) {
        let fraction = &self.block.fraction[self.at as usize];
        let mut old = fraction.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(old) + v).to_bits();
            match fraction.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(current) => old = current,
            }
        }
    }

    /// Adds a non-negative, finite `v`, which may have a fractional part (seconds of CPU, say).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidValue`] when `v` is negative, NaN or infinite: a counter never
    /// goes down. Nothing is added then.
    pub fn inc_by_f64(&self, v: f64) -> Result<(), MonitoringError> {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(MonitoringError::InvalidValue {
                metric: self.name.name().to_string(),
                value: v,
                reason: "a counter only takes finite, non-negative increments",
            });
        }
        // Whole numbers that an f64 represents exactly take the integer path.
        if v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            self.inc_by(v as u64);
        } else {
            self.add_to_fraction(v);
        }
        Ok(())
    }

    /// The current total.
    pub fn get(&self) -> f64 {
        let (whole, fraction) = self.parts();
        whole as f64 + fraction
    }

    /// The total as the sum of its whole increments, exact, and its non-integer ones.
    /// The cells are added in 128 bits, so their sum cannot wrap.
    pub(crate) fn parts(&self) -> (u128, f64) {
        let (block, at) = (&*self.block, self.at as usize);
        let mut mask = block.written[at].load(Ordering::Relaxed);
        let mut whole = u128::from(block.owner[at].load(Ordering::Relaxed))
            + u128::from(block.shared[at].load(Ordering::Relaxed));
        while mask != 0 {
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            whole += u128::from(block.slots[slot][at].load(Ordering::Relaxed));
        }
        let fraction = f64::from_bits(block.fraction[at].load(Ordering::Relaxed));
        (whole, fraction)
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("name", &self.name)
            .field("value", &self.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_handle_is_three_words() {
        // What a million series cost twice over: in the registry's map and in the user's hands.
        assert_eq!(std::mem::size_of::<Counter>(), 24);
        assert_eq!(std::mem::size_of::<crate::metrics::Series>(), 32);
        // A family's map entry is a label set and a series: 48 bytes, each byte a megabyte at
        // a million series.
        assert_eq!(std::mem::size_of::<crate::metrics::LabelSet>(), 16);
    }

    #[test]
    fn integer_and_fractional_increments_add_up() {
        let c = Counter::new(MetricName::of("c_total"));
        c.inc();
        c.inc_by(41);
        c.inc_by_f64(0.5).unwrap();
        c.inc_by_f64(2.0).unwrap();
        assert_eq!(c.get(), 44.5);
    }

    #[test]
    fn huge_increments_never_wrap_to_a_smaller_total() {
        let c = Counter::new(MetricName::of("c_total"));
        c.inc_by(u64::MAX);
        let full = c.get();
        assert_eq!(full, u64::MAX as f64);
        c.inc_by(2);
        assert!(c.get() >= full);
        c.inc_by(u64::MAX);
        assert_eq!(c.get(), 2.0 * u64::MAX as f64);
        // Increments up to 2^56 in two cells, each below 2^64, add up exactly past 2^64.
        let before = c.get();
        on_thread(&c, |c| (0..200).for_each(|_| c.inc_by(LARGE_INCREMENT)));
        on_thread(&c, |c| {
            crate::metrics::shard::use_shared_cells();
            (0..200).for_each(|_| c.inc_by(LARGE_INCREMENT));
        });
        assert!(c.get() >= before);
        // When every owned slot is taken (by other tests' threads), both threads add to the
        // shared cell, which passes 2^64 and carries it into the f64 cell.
        let (whole, fraction) = c.parts();
        let carried = (fraction - 2.0 * u64::MAX as f64) as u128;
        assert_eq!(whole + carried, 2 + 400 * u128::from(LARGE_INCREMENT));
    }

    #[test]
    fn a_cell_that_passes_u64_max_carries_into_the_total() {
        let c = Counter::new(MetricName::of("c_total"));
        for _ in 0..2 {
            on_thread(&c, |c| {
                crate::metrics::shard::use_shared_cells();
                (0..200).for_each(|_| c.inc_by(LARGE_INCREMENT));
            });
        }
        let (whole, fraction) = c.parts();
        assert_eq!(fraction, 2f64.powi(64), "one carry");
        assert_eq!(whole + (1 << 64), 400 * u128::from(LARGE_INCREMENT));
        assert_eq!(c.get(), 400.0 * LARGE_INCREMENT as f64);
    }

    #[test]
    fn bad_increments_are_refused_and_change_nothing() {
        let c = Counter::new(MetricName::of("c_total"));
        c.inc_by(3);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let err = c.inc_by_f64(bad).unwrap_err();
            assert!(err.to_string().contains("c_total"), "{err}");
        }
        assert_eq!(c.get(), 3.0);
    }

    /// A counter alone in a block nobody has taken yet.
    fn in_fresh_block() -> Counter {
        Counter {
            block: new_block(),
            at: 0,
            name: MetricName::of("c_total"),
        }
    }

    /// Runs `record` with a clone of `c` on a thread of its own, and gives the slot that thread
    /// recorded from.
    fn on_thread(c: &Counter, record: impl FnOnce(&Counter) + Send + 'static) -> usize {
        let c = c.clone();
        std::thread::spawn(move || {
            record(&c);
            thread_slot()
        })
        .join()
        .unwrap()
    }

    /// Records `n` from a thread on the shared cell, as the crate's own threads are.
    fn on_shared_cells(c: &Counter, n: u64) {
        on_thread(c, move |c| {
            crate::metrics::shard::use_shared_cells();
            c.inc_by(n);
        });
    }

    fn owner_slot(c: &Counter) -> u64 {
        c.block.written[OWNER_SLOT].load(Ordering::Relaxed)
    }

    #[test]
    fn a_read_adds_the_owner_row_the_written_slot_rows_and_the_shared_cell() {
        let c = in_fresh_block();
        let owned = shard_count();
        let here = thread_slot();
        c.inc_by(2);
        let there = on_thread(&c, |c| {
            c.inc_by(0); // a first add of nothing: marks the slot row written, or takes the block
            c.inc_by(3);
        });
        on_shared_cells(&c, 5);
        // Tests running alongside may hold every owned slot: then a thread adds to the shared
        // cell instead, and the first thread with an owned slot takes the block.
        let owner = [here, there].into_iter().find(|&slot| slot < owned);
        assert_eq!(owner_slot(&c), owner.map_or(NO_OWNER, |slot| slot as u64));
        let (first, second) = if here < owned { (2, 3) } else { (3, 2) };
        let load = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        assert_eq!(
            load(&c.block.owner[0]),
            if owner.is_some() { first } else { 0 }
        );
        let mut shared = 5;
        match (here < owned, there < owned) {
            (true, true) => {
                assert_eq!(load(&c.block.slots[there][0]), 3);
                assert_eq!(load(&c.block.written[0]), 1 << there);
            }
            (false, false) => shared += first + second,
            _ => shared += second,
        }
        assert_eq!(load(&c.block.shared[0]), shared);
        assert_eq!(c.get(), 10.0);
    }

    #[test]
    fn threads_on_the_shared_cell_never_take_a_block() {
        let c = in_fresh_block();
        on_shared_cells(&c, 7);
        assert_eq!(owner_slot(&c), NO_OWNER);
        assert_eq!(c.block.shared[0].load(Ordering::Relaxed), 7);
        assert_eq!(c.get(), 7.0);
    }

    #[test]
    fn the_next_thread_on_the_owner_slot_adds_to_the_owner_row() {
        let c = in_fresh_block();
        let first = on_thread(&c, |c| c.inc_by(2));
        // Takes the lowest free slot: `first`, unless a test running alongside took it.
        let second = on_thread(&c, |c| c.inc_by(3));
        assert_eq!(c.get(), 5.0);
        if first < shard_count() && second == first {
            assert_eq!(c.block.owner[0].load(Ordering::Relaxed), 5);
            assert_eq!(c.block.written[0].load(Ordering::Relaxed), 0);
        }
    }

    #[test]
    fn neighbours_in_a_block_keep_their_own_counts() {
        // More counters than a block holds, written from two threads at once, each by a
        // different amount and fraction: nothing leaks from one column to another.
        let counters: Vec<Counter> = (0..PER_BLOCK * 2 + 3)
            .map(|i| Counter::new(MetricName::of(&format!("c{i}_total"))))
            .collect();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for (i, c) in counters.iter().enumerate() {
                        for _ in 0..100 {
                            c.inc_by(i as u64);
                        }
                        c.inc_by_f64(0.25).unwrap();
                    }
                });
            }
        });
        for (i, c) in counters.iter().enumerate() {
            assert_eq!(c.get(), (200 * i) as f64 + 0.5, "counter {i}");
        }
    }

    #[test]
    fn clones_share_the_series() {
        let a = Counter::new(MetricName::of("c_total"));
        let b = a.clone();
        std::thread::spawn(move || b.inc_by(5)).join().unwrap();
        a.inc();
        assert_eq!(a.get(), 6.0);
    }
}
