//! Module implementing the sharded counter. See [`Counter`] for details.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::shard::{shard_count, thread_slot};
use crate::MonitoringError;

/// A monotonically increasing count, such as queries served or bytes written.
///
/// `Counter` is a handle: cloning it is cheap and every clone records into the same series.
/// The first threads to record (one per core, up to 8, until they end) each own a cell, on its
/// own cache line, and add to it with a plain load and store: no locked instruction and no
/// contention. Other threads share one more cell with atomic adds. Reading adds the cells up.
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
    /// One cell per owned slot, written only by its owner, then the shared cell. Held directly
    /// by the handle, so that an increment follows one pointer, as a lone atomic would.
    cells: Arc<[CachePadded<Cell>]>,
    /// The family name, for error messages.
    name: Arc<str>,
}

/// One cache line of a counter. Owned cells use `count` only; the shared cell also says which
/// owned cells were ever written, so that a read touches those lines only, and holds the
/// non-integer increments.
#[derive(Default)]
struct Cell {
    count: AtomicU64,
    /// Shared cell: bit `s` is set once slot `s`'s cell is first written.
    written: AtomicU64,
    /// Shared cell: the sum of non-integer increments, as `f64` bits (0 is `0.0`).
    fraction: AtomicU64,
}

impl Counter {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            cells: (0..=shard_count())
                .map(|_| CachePadded::new(Cell::default()))
                .collect(),
            name,
        }
    }

    fn shared(&self) -> &Cell {
        // `cells` always holds the shared cell, last.
        &self.cells[self.cells.len() - 1]
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`.
    #[inline]
    pub fn inc_by(&self, n: u64) {
        let slot = thread_slot();
        let cell = &self.cells[slot].count;
        if slot + 1 < self.cells.len() {
            let old = cell.load(Ordering::Relaxed);
            if old == 0 {
                self.shared().written.fetch_or(1 << slot, Ordering::Relaxed);
            }
            cell.store(old.wrapping_add(n), Ordering::Relaxed);
        } else {
            cell.fetch_add(n, Ordering::Relaxed);
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
        let fraction = &self.shared().fraction;
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
        let shared = self.shared();
        let mut written = shared.written.load(Ordering::Relaxed);
        let mut whole = shared.count.load(Ordering::Relaxed);
        while written != 0 {
            let slot = written.trailing_zeros() as usize;
            written &= written - 1;
            whole = whole.wrapping_add(self.cells[slot].count.load(Ordering::Relaxed));
        }
        whole as f64 + f64::from_bits(shared.fraction.load(Ordering::Relaxed))
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
        assert_eq!(c.shared().count.load(Ordering::Relaxed), 5);
        let written = c.shared().written.load(Ordering::Relaxed);
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
    fn clones_share_the_series() {
        let a = Counter::new("c_total".into());
        let b = a.clone();
        std::thread::spawn(move || b.inc_by(5)).join().unwrap();
        a.inc();
        assert_eq!(a.get(), 6.0);
    }
}
