//! Module implementing the sharded counter. See [`Counter`] for details.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::shard::{add_owned, shard_count, thread_slot};
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
    /// Integer increments: one cell per owned slot, written only by its owner, then the shared
    /// cell. Held directly by the handle, so that an increment follows one pointer, as a lone
    /// atomic would.
    cells: Arc<[CachePadded<AtomicU64>]>,
    /// What the increment path never touches.
    core: Arc<CounterCore>,
}

struct CounterCore {
    /// The sum of non-integer increments, as `f64` bits. Kept apart so the integer path stays a
    /// single `fetch_add`.
    fraction: AtomicU64,
    /// The family name, for error messages.
    name: Arc<str>,
}

impl Counter {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            cells: (0..=shard_count())
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            core: Arc::new(CounterCore {
                fraction: AtomicU64::new(0f64.to_bits()),
                name,
            }),
        }
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
        let cell = &self.cells[slot];
        if slot + 1 < self.cells.len() {
            add_owned(cell, n);
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
                metric: self.core.name.to_string(),
                value: v,
                reason: "a counter only takes finite, non-negative increments",
            });
        }
        // Whole numbers that an f64 represents exactly take the integer path.
        if v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            self.inc_by(v as u64);
            return Ok(());
        }
        let mut old = self.core.fraction.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(old) + v).to_bits();
            match self.core.fraction.compare_exchange_weak(
                old,
                new,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => old = current,
            }
        }
    }

    /// The current total.
    pub fn get(&self) -> f64 {
        let whole: u64 = self
            .cells
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add);
        whole as f64 + f64::from_bits(self.core.fraction.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("name", &self.core.name)
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
    fn clones_share_the_series() {
        let a = Counter::new("c_total".into());
        let b = a.clone();
        std::thread::spawn(move || b.inc_by(5)).join().unwrap();
        a.inc();
        assert_eq!(a.get(), 6.0);
    }
}
