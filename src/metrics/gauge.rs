//! Module implementing the gauge. See [`Gauge`] for details.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A value that goes up and down, such as active connections or bytes in use.
///
/// `Gauge` is a cheap `Clone` handle over one atomic `f64`; every clone sets the same series. Any
/// `f64`, NaN included, is a valid gauge value, as in Prometheus.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::Registry;
///
/// let registry = Registry::new();
/// let active = registry.gauge("kotoba_db_connections_active", "Open connections.", &[])?;
/// active.set(5.0);
/// active.inc();
/// active.sub(2.0);
/// assert_eq!(active.get(), 4.0);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Clone, Default)]
pub struct Gauge {
    /// The value as `f64` bits.
    bits: Arc<AtomicU64>,
}

impl Gauge {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.bits.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `v` (which may be negative).
    #[inline]
    pub fn add(&self, v: f64) {
        let mut old = self.bits.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(old) + v).to_bits();
            match self
                .bits
                .compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(current) => old = current,
            }
        }
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: f64) {
        self.add(-v);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for Gauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gauge").field("value", &self.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_adds_are_not_lost() {
        let g = Gauge::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| g.inc()))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(g.get(), 40_000.0);
    }
}
