//! Module implementing the sharded counter. See [`Counter`] for details.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::shard::{current_slot, shard_count, thread_slot};
use crate::MonitoringError;

/// A monotonically increasing count, such as queries served or bytes written.
///
/// `Counter` is a handle: cloning it is cheap and every clone records into the same series.
/// The first threads to record (one per core, up to 8, until they end) each own a cell of the
/// counter and add to it with a plain load and store: no locked instruction and no contention.
/// Other threads share one more cell with atomic adds. Reading adds up the cells that were
/// written.
///
/// Counters are kept sixteen to a block, one cache line per thread slot: a thread's cells of
/// sixteen counters share a line only it writes, so a counter costs 8 bytes per slot rather
/// than a padded line, and a scrape reads sixteen counters' cells from each line it loads.
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
    block: Arc<Block>,
    /// This counter's column in the block.
    at: usize,
    /// The family name, for error messages.
    name: Arc<str>,
}

/// Counters per block: one cache line of `u64` cells.
const PER_BLOCK: usize = 16;

type Row = CachePadded<[AtomicU64; PER_BLOCK]>;

/// The cells of sixteen counters, a row (one cache line) each for: every owned thread slot,
/// written only by its owner; the shared cell, for other threads; the mask of owned cells ever
/// written, so that a read loads those only; and the non-integer increments, as `f64` bits.
/// The rows are the block itself, so that an increment follows a single pointer.
type Block = [Row];

fn new_block() -> Arc<Block> {
    (0..shard_count() + 3)
        .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
        .collect()
}

/// The number of owned slots: rows before the shared one.
fn owned(block: &Block) -> usize {
    block.len() - 3
}

fn shared(block: &Block, at: usize) -> &AtomicU64 {
    &block[owned(block)][at]
}

fn written(block: &Block, at: usize) -> &AtomicU64 {
    &block[owned(block) + 1][at]
}

fn fraction(block: &Block, at: usize) -> &AtomicU64 {
    &block[owned(block) + 2][at]
}

/// The block new counters take columns from, and its next free column.
static FILLING: Mutex<Option<(Arc<Block>, usize)>> = Mutex::new(None);

impl Counter {
    pub(crate) fn new(name: Arc<str>) -> Self {
        let mut filling = FILLING.lock();
        let (block, at) = match filling.take() {
            Some((block, at)) if at < PER_BLOCK => (block, at),
            _ => (new_block(), 0),
        };
        *filling = Some((block.clone(), at + 1));
        Self { block, at, name }
    }

    /// Adds one.
    #[inline(always)]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`.
    // Always inlined, as an atomic add would be: a thread adding to its own cell, or to the
    // shared one, takes a few instructions, and a call costs about 1 ns more (3.5 against 2.5 ns
    // in the hot_path bench, where LLVM had declined to inline it). The rare cases are out of
    // line.
    #[inline(always)]
    pub fn inc_by(&self, n: u64) {
        let slot = current_slot();
        let block = &*self.block;
        if slot < owned(block) {
            let cell = &block[slot][self.at];
            let old = cell.load(Ordering::Relaxed);
            if old != 0 {
                cell.store(old.wrapping_add(n), Ordering::Relaxed);
                return;
            }
        } else if slot == owned(block) {
            shared(block, self.at).fetch_add(n, Ordering::Relaxed);
            return;
        }
        self.inc_by_rarely(n);
    }

    /// [`Counter::inc_by`] for a thread's first add to its own cell, which marks the cell
    /// written, and for a thread's first record of all, which claims its slot.
    #[cold]
    #[inline(never)]
    fn inc_by_rarely(&self, n: u64) {
        let slot = thread_slot();
        let block = &*self.block;
        if slot < owned(block) {
            let cell = &block[slot][self.at];
            let old = cell.load(Ordering::Relaxed);
            if old == 0 {
                written(block, self.at).fetch_or(1 << slot, Ordering::Relaxed);
            }
            cell.store(old.wrapping_add(n), Ordering::Relaxed);
        } else {
            shared(block, self.at).fetch_add(n, Ordering::Relaxed);
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
                metric: self.name.to_string(),
                value: v,
                reason: "a counter only takes finite, non-negative increments",
            });
        }
        // Whole numbers that an f64 represents exactly take the integer path.
        if v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            self.inc_by(v as u64);
            return Ok(());
        }
        let fraction = fraction(&self.block, self.at);
        let mut old = fraction.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(old) + v).to_bits();
            match fraction.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(current) => old = current,
            }
        }
    }

    /// The current total.
    pub fn get(&self) -> f64 {
        let (whole, fraction) = self.parts();
        whole as f64 + fraction
    }

    /// The total as the sum of its whole increments, exact, and its non-integer ones.
    pub(crate) fn parts(&self) -> (u64, f64) {
        let (block, at) = (&*self.block, self.at);
        let mut mask = written(block, at).load(Ordering::Relaxed);
        let mut whole = shared(block, at).load(Ordering::Relaxed);
        while mask != 0 {
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            whole = whole.wrapping_add(block[slot][at].load(Ordering::Relaxed));
        }
        let fraction = f64::from_bits(fraction(block, at).load(Ordering::Relaxed));
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
    fn integer_and_fractional_increments_add_up() {
        let c = Counter::new("c_total".into());
        c.inc();
        c.inc_by(41);
        c.inc_by_f64(0.5).unwrap();
        c.inc_by_f64(2.0).unwrap();
        assert_eq!(c.get(), 44.5);
    }

    #[test]
    fn bad_increments_are_refused_and_change_nothing() {
        let c = Counter::new("c_total".into());
        c.inc_by(3);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let err = c.inc_by_f64(bad).unwrap_err();
            assert!(err.to_string().contains("c_total"), "{err}");
        }
        assert_eq!(c.get(), 3.0);
    }

    #[test]
    fn a_read_adds_every_written_cell_and_the_shared_one() {
        let c = Counter::new("c_total".into());
        c.inc_by(0); // marks this thread's cell written, adds nothing
        c.inc_by(2);
        let owned = std::thread::spawn({
            let c = c.clone();
            move || {
                c.inc_by(3);
                crate::metrics::shard::thread_slot()
            }
        })
        .join()
        .unwrap();
        std::thread::spawn({
            let c = c.clone();
            move || {
                crate::metrics::shard::use_shared_cells();
                c.inc_by(5);
            }
        })
        .join()
        .unwrap();
        // Tests running alongside may hold every owned slot: then a thread adds to the shared
        // cell instead.
        let here = crate::metrics::shard::thread_slot();
        let on_shared = |slot: usize, n: u64| if slot < shard_count() { 0 } else { n };
        let expected = 5 + on_shared(here, 2) + on_shared(owned, 3);
        assert_eq!(shared(&c.block, c.at).load(Ordering::Relaxed), expected);
        let written = written(&c.block, c.at).load(Ordering::Relaxed);
        if owned < shard_count() {
            assert_ne!(
                written & (1 << owned),
                0,
                "slot {owned} not marked: {written:b}"
            );
        }
        assert_eq!(c.get(), 10.0);
    }

    #[test]
    fn neighbours_in_a_block_keep_their_own_counts() {
        // More counters than a block holds, written from two threads at once, each by a
        // different amount and fraction: nothing leaks from one column to another.
        let counters: Vec<Counter> = (0..PER_BLOCK * 2 + 3)
            .map(|i| Counter::new(format!("c{i}_total").into()))
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
        let a = Counter::new("c_total".into());
        let b = a.clone();
        std::thread::spawn(move || b.inc_by(5)).join().unwrap();
        a.inc();
        assert_eq!(a.get(), 6.0);
    }
}
