//! Module implementing the timer guard. See [`HistogramTimer`] for details.

use std::time::{Duration, Instant};

use super::Histogram;

/// Records the time from its creation into a [`Histogram`] when dropped.
///
/// Made by [`Histogram::start_timer`]. Call [`stop`](Self::stop) to record early and get the
/// duration back, or [`discard`](Self::discard) to record nothing (a query that was cancelled).
///
/// # Examples
///
/// ```
/// # let registry = kotoba_monitoring::Registry::new();
/// let latency = registry.histogram("get_seconds", "Get latency.", &[])?;
/// let timer = latency.start_timer();
/// let elapsed = timer.stop();
/// assert_eq!(latency.snapshot().count, 1);
/// assert!(latency.snapshot().max >= elapsed.as_secs_f64() * 0.99);
///
/// latency.start_timer().discard();
/// assert_eq!(latency.snapshot().count, 1);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[must_use = "a timer records when it is dropped; dropping it at once records almost nothing"]
#[derive(Debug)]
pub struct HistogramTimer<'a> {
    histogram: &'a Histogram,
    started: Instant,
    /// Cleared by `stop` and `discard` so that `drop` records nothing more.
    armed: bool,
}

impl<'a> HistogramTimer<'a> {
    pub(crate) fn new(histogram: &'a Histogram) -> Self {
        Self {
            histogram,
            started: Instant::now(),
            armed: true,
        }
    }

    /// Records the elapsed time now and returns it.
    pub fn stop(mut self) -> Duration {
        self.armed = false;
        let elapsed = self.started.elapsed();
        self.histogram.observe_duration(elapsed);
        elapsed
    }

    /// Drops the timer without recording.
    pub fn discard(mut self) {
        self.armed = false;
    }
}

impl Drop for HistogramTimer<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.histogram.observe_duration(self.started.elapsed());
        }
    }
}
