//! Module implementing the lock-sharded HDR histogram and its recent window.
//! See [`Histogram`] for details.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::histogram_opts::HistogramOpts;
use super::shard::{shard_count, thread_slot};
use super::snapshot::HistogramSnapshot;
use super::timer::HistogramTimer;
use super::Counter;

pub(crate) type Hdr = hdrhistogram::Histogram<u64>;

/// A distribution of observed values, such as query latencies, with quantiles readable in code.
///
/// `Histogram` is a cheap `Clone` handle. Recording takes the lock of the calling thread's own
/// shard only (one HDR histogram per core, each on its own cache line), so threads recording into
/// one series do not wait for each other; readers merge the shards. Recording does no lookup and
/// no allocation.
///
/// Two views are kept: everything since the series was created ([`snapshot`](Self::snapshot))
/// and the recent window ([`window_snapshot`](Self::window_snapshot), 60 seconds by default).
/// The exact sum of the recorded values is kept beside the histogram, so `sum` and `mean` are
/// not rounded to buckets. See [`HistogramOpts`] for precision and memory.
///
/// Negative and NaN values are refused and counted in `kotoba_monitoring_values_rejected_total`;
/// values above the configured maximum are recorded as the maximum and counted in
/// `kotoba_monitoring_values_clamped_total`. Neither panics.
///
/// # About the window
///
/// The window advances one slice at a time. A started [`MetricsCollector`] advances every
/// histogram of its registry on its own thread; without one, a histogram advances when it is
/// read, and samples recorded before a long idle gap are counted in the slice that closes at that
/// read.
///
/// [`MetricsCollector`]: crate::MetricsCollector
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use kotoba_monitoring::Registry;
///
/// let registry = Registry::new();
/// let latency = registry.histogram(
///     "kotoba_db_query_latency_seconds",
///     "Query latency.",
///     &[("op", "get")],
/// )?;
/// for ms in 1..=100 {
///     latency.observe_duration(Duration::from_millis(ms));
/// }
/// {
///     let _timer = latency.start_timer(); // records the elapsed time when dropped
/// }
/// let recent = latency.window_snapshot();
/// assert_eq!(recent.count, 101);
/// assert!((recent.p99 - 0.099).abs() < 0.099 * 0.01);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Clone)]
pub struct Histogram {
    core: Arc<HistogramCore>,
}

struct HistogramCore {
    /// Samples since the last window rotation, one part per shard.
    shards: Box<[CachePadded<Mutex<Part>>]>,
    /// `shards.len() - 1`; the shard count is a power of two.
    mask: usize,
    /// `1 / resolution`: multiplying is cheaper than dividing on the hot path.
    steps_per_unit: f64,
    resolution: f64,
    max_value: f64,
    max_steps: u64,
    /// The rotated history: a running total and the window's slices. Lock order: this, then
    /// shards.
    window: Mutex<Window>,
    /// `kotoba_monitoring_values_clamped_total{metric=…}`.
    clamped: Counter,
    /// `kotoba_monitoring_values_rejected_total{metric=…}`.
    rejected: Counter,
}

/// One HDR histogram with the exact sum, minimum and maximum of what it holds.
pub(crate) struct Part {
    pub(crate) hist: Hdr,
    pub(crate) sum: f64,
    /// `+inf` while empty.
    pub(crate) min: f64,
    /// `-inf` while empty.
    pub(crate) max: f64,
}

struct Window {
    /// Every slice ever rotated out of the shards.
    total: Part,
    /// The window, as a ring of closed slices.
    slices: Box<[Slice]>,
    /// The ring position the next rotation fills.
    next: usize,
    /// When the slice now filling in the shards began.
    slice_started: Instant,
    /// When the series was created.
    created: Instant,
    slice_len: Duration,
    window: Duration,
}

impl Window {
    /// The closed slices still inside the window at `now`.
    fn live_slices(&self, now: Instant) -> impl Iterator<Item = &Slice> + '_ {
        let span = self.window;
        self.slices.iter().filter(move |s| {
            s.ended
                .is_some_and(|ended| now.saturating_duration_since(ended) < span)
        })
    }
}

struct Slice {
    part: Part,
    /// When the slice was closed; `None` until it first is.
    ended: Option<Instant>,
}

impl Part {
    fn new(opts: &HistogramOpts) -> Self {
        // `HistogramOpts::validate` guarantees max_steps >= 2 and figures in 1..=5, the only
        // inputs hdrhistogram refuses; the fallback keeps a usable histogram regardless.
        let hist = Hdr::new_with_bounds(1, opts.max_steps().max(2), opts.figures())
            .or_else(|_| Hdr::new_with_bounds(1, 2, 2))
            .unwrap_or_else(|_| unreachable!("1..2 at 2 figures is a valid histogram"));
        Self::from_hist(hist)
    }

    fn from_hist(hist: Hdr) -> Self {
        Self {
            hist,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn empty_like(&self) -> Self {
        Self::from_hist(Hdr::new_from(&self.hist))
    }

    fn merge(&mut self, other: &Part) {
        // Parts of one series share their bounds, so adding cannot run out of range.
        let _ = self.hist.add(&other.hist);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    fn reset(&mut self) {
        self.hist.reset();
        self.sum = 0.0;
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
    }
}

impl Histogram {
    /// Builds a series; `opts` must have passed [`HistogramOpts::validate`].
    pub(crate) fn new(opts: &HistogramOpts, clamped: Counter, rejected: Counter) -> Self {
        let shards = shard_count();
        let slices = (0..opts.slices())
            .map(|_| Slice {
                part: Part::new(opts),
                ended: None,
            })
            .collect();
        Self {
            core: Arc::new(HistogramCore {
                shards: (0..shards)
                    .map(|_| CachePadded::new(Mutex::new(Part::new(opts))))
                    .collect(),
                mask: shards - 1,
                steps_per_unit: 1.0 / opts.resolution(),
                resolution: opts.resolution(),
                max_value: opts.max_value(),
                max_steps: opts.max_steps(),
                window: Mutex::new(Window {
                    total: Part::new(opts),
                    slices,
                    next: 0,
                    slice_started: Instant::now(),
                    created: Instant::now(),
                    slice_len: opts.slice_len(),
                    window: opts.window_len(),
                }),
                clamped,
                rejected,
            }),
        }
    }

    /// Records one value, in the family's unit (seconds for latencies).
    ///
    /// A negative or NaN value is refused and counted; a value above the family's maximum is
    /// recorded as the maximum and counted.
    #[inline]
    pub fn observe(&self, value: f64) {
        let core = &*self.core;
        if value.is_nan() || value < 0.0 {
            core.rejected.inc();
            return;
        }
        let (value, steps) = if value > core.max_value {
            core.clamped.inc();
            (core.max_value, core.max_steps)
        } else {
            // Round to the nearest step; `as` saturates, and value <= max keeps it in range.
            (value, (value * core.steps_per_unit + 0.5) as u64)
        };
        let mut part = core.shards[thread_slot() & core.mask].lock();
        part.hist.saturating_record(steps);
        part.sum += value;
        if value < part.min {
            part.min = value;
        }
        if value > part.max {
            part.max = value;
        }
    }

    /// Records a duration, in seconds.
    #[inline]
    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(elapsed.as_secs_f64());
    }

    /// Starts a timer that records the elapsed time into this histogram when dropped.
    ///
    /// The guard borrows the handle; clone the handle first to move a timer elsewhere.
    pub fn start_timer(&self) -> HistogramTimer<'_> {
        HistogramTimer::new(self)
    }

    /// Runs `f` and records how long it took.
    ///
    /// # Examples
    ///
    /// ```
    /// # let registry = kotoba_monitoring::Registry::new();
    /// let latency = registry.histogram("scan_seconds", "Scan time.", &[])?;
    /// let rows = latency.time(|| (0..1000).filter(|n| n % 7 == 0).count());
    /// assert_eq!(rows, 143);
    /// assert_eq!(latency.snapshot().count, 1);
    /// # Ok::<(), kotoba_monitoring::MonitoringError>(())
    /// ```
    pub fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let _timer = self.start_timer();
        f()
    }

    /// Everything recorded since the series was created.
    ///
    /// Takes each shard's lock briefly while merging; recording threads on other shards are not
    /// held up.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut window = self.core.window.lock();
        self.rotate_locked(&mut window, Instant::now());
        let mut merged = window.total.empty_like();
        merged.merge(&window.total);
        self.merge_shards(&mut merged);
        HistogramSnapshot::new(merged, self.core.resolution)
    }

    /// What was recorded over the recent window (see [`HistogramOpts::window`]).
    pub fn window_snapshot(&self) -> HistogramSnapshot {
        let now = Instant::now();
        let mut window = self.core.window.lock();
        self.rotate_locked(&mut window, now);
        let mut merged = window.total.empty_like();
        for slice in window.live_slices(now) {
            merged.merge(&slice.part);
        }
        self.merge_shards(&mut merged);
        HistogramSnapshot::new(merged, self.core.resolution)
    }

    /// What the exposition writes for the series, read in place: the count, the exact sum and,
    /// for each of `bounds` (ascending), how many values are at or below it. A value within
    /// the histogram's precision above a bound may be counted under it; bounds at or above the
    /// exact maximum count every value, bounds below the exact minimum none.
    pub(crate) fn export_totals(&self, bounds: &[f64]) -> (u64, f64, Vec<u64>) {
        let mut window = self.core.window.lock();
        self.rotate_locked(&mut window, Instant::now());
        let resolution = self.core.resolution;
        let bound_steps: Vec<f64> = bounds
            .iter()
            .map(|b| (b / resolution + 0.5).floor())
            .collect();
        // Values per bucket (index bounds.len() is +Inf), from each part in turn.
        let mut per_bucket = vec![0u64; bounds.len() + 1];
        let mut count = 0;
        let mut sum = 0.0;
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut add = |part: &Part| {
            if part.hist.is_empty() {
                return;
            }
            count += part.hist.len();
            sum += part.sum;
            min = min.min(part.min);
            max = max.max(part.max);
            let mut at = 0;
            for v in part.hist.iter_recorded() {
                let low = part.hist.lowest_equivalent(v.value_iterated_to()) as f64;
                while at < bound_steps.len() && bound_steps[at] < low {
                    at += 1;
                }
                per_bucket[at] += v.count_at_value();
            }
        };
        add(&window.total);
        for shard in self.core.shards.iter() {
            add(&shard.lock());
        }
        drop(window);
        let mut below = 0;
        let cumulative = bounds
            .iter()
            .zip(&per_bucket)
            .map(|(&bound, &n)| {
                below += n;
                if count == 0 || bound < min {
                    0
                } else if bound >= max {
                    count
                } else {
                    below.min(count)
                }
            })
            .collect();
        (count, sum, cumulative)
    }

    /// The recent window's value at each of `quantiles`, or `None` while the window is empty;
    /// the same figures as [`window_snapshot`](Self::window_snapshot), merged into `scratch`
    /// (reused across series of one family) instead of a new histogram.
    pub(crate) fn window_quantiles(
        &self,
        quantiles: &[f64],
        scratch: &mut Option<Hdr>,
    ) -> Option<Vec<f64>> {
        let now = Instant::now();
        let mut window = self.core.window.lock();
        self.rotate_locked(&mut window, now);
        let merged = match scratch {
            Some(h) if h.high() == window.total.hist.high() => {
                h.reset();
                h
            }
            _ => scratch.insert(Hdr::new_from(&window.total.hist)),
        };
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut add = |part: &Part| {
            if !part.hist.is_empty() {
                // Parts of one series share their bounds, so adding cannot run out of range.
                let _ = merged.add(&part.hist);
                min = min.min(part.min);
                max = max.max(part.max);
            }
        };
        for slice in window.live_slices(now) {
            add(&slice.part);
        }
        for shard in self.core.shards.iter() {
            add(&shard.lock());
        }
        drop(window);
        if merged.is_empty() {
            return None;
        }
        let resolution = self.core.resolution;
        Some(
            quantiles
                .iter()
                .map(|&q| super::snapshot::quantile_of(merged, q, resolution, min, max))
                .collect(),
        )
    }

    /// How many values were recorded since the series was created: the running total's and
    /// the shards' counts, without merging anything.
    pub(crate) fn count(&self) -> u64 {
        // The window lock keeps a rotation from moving shard counts into the total meanwhile.
        let window = self.core.window.lock();
        let shards: u64 = self.core.shards.iter().map(|s| s.lock().hist.len()).sum();
        window.total.hist.len() + shards
    }

    /// How much time [`window_snapshot`](Self::window_snapshot) covers now: the slices still in
    /// the window and the one filling, no more than the series has existed. Divide a window's
    /// count by it for a rate.
    pub fn window_span(&self) -> Duration {
        let now = Instant::now();
        let mut window = self.core.window.lock();
        self.rotate_locked(&mut window, now);
        let live = window.live_slices(now).count() as u32;
        let covered = window.slice_len * live + now.saturating_duration_since(window.slice_started);
        covered.min(now.saturating_duration_since(window.created))
    }

    /// Closes the current window slice if it has run its length.
    pub(crate) fn rotate_if_due(&self, now: Instant) {
        let mut window = self.core.window.lock();
        self.rotate_locked(&mut window, now);
    }

    fn rotate_locked(&self, window: &mut Window, now: Instant) {
        if now.saturating_duration_since(window.slice_started) < window.slice_len {
            return;
        }
        let Window {
            total,
            slices,
            next,
            slice_started,
            ..
        } = window;
        let slice = &mut slices[*next];
        slice.part.reset();
        for shard in self.core.shards.iter() {
            let mut part = shard.lock();
            slice.part.merge(&part);
            part.reset();
        }
        total.merge(&slice.part);
        slice.ended = Some(now);
        *next = (*next + 1) % slices.len();
        *slice_started = now;
    }

    fn merge_shards(&self, into: &mut Part) {
        for shard in self.core.shards.iter() {
            into.merge(&shard.lock());
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("resolution", &self.core.resolution)
            .field("max_value", &self.core.max_value)
            .field("shards", &self.core.shards.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    fn histogram(opts: &HistogramOpts) -> (Histogram, Counter, Counter) {
        let clamped = Counter::new("clamped_total".into());
        let rejected = Counter::new("rejected_total".into());
        (
            Histogram::new(opts, clamped.clone(), rejected.clone()),
            clamped,
            rejected,
        )
    }

    #[test]
    fn bad_values_are_refused_and_big_ones_clamped() {
        let (h, clamped, rejected) = histogram(&HistogramOpts::new(1.0, 1000.0));
        h.observe(-1.0);
        h.observe(f64::NAN);
        h.observe(f64::NEG_INFINITY);
        h.observe(5000.0);
        h.observe(f64::INFINITY);
        h.observe(10.0);
        assert_eq!(rejected.get(), 3.0);
        assert_eq!(clamped.get(), 2.0);
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.max, 1000.0);
        assert_eq!(s.sum, 2010.0);
    }

    #[test]
    fn the_exposition_reads_agree_with_the_snapshots() {
        let opts = HistogramOpts::latency();
        let (h, _, _) = histogram(&opts);
        let t0 = h.core.window.lock().slice_started;
        // Values on, between and around the bounds, spread over a closed slice and the shards.
        for (i, v) in [
            0.0001, 0.00025, 0.0003, 0.005, 0.0051, 0.02, 1.0, 9.99, 12.0, 0.0,
        ]
        .into_iter()
        .enumerate()
        {
            h.observe(v);
            if i == 4 {
                h.rotate_if_due(t0 + Duration::from_secs(15));
            }
        }
        let bounds = [0.0001, 0.00025, 0.005, 0.01, 1.0, 10.0];
        let (count, sum, cumulative) = h.export_totals(&bounds);
        let s = h.snapshot();
        assert_eq!((count, sum), (s.count, s.sum));
        // At or below: 0 and 0.0001 | 0.00025 | 0.0003, 0.005 | 0.0051 | 0.02, 1 | 9.99.
        assert_eq!(cumulative, [2, 3, 5, 6, 8, 9]);

        let qs = [0.5, 0.9, 0.95, 0.99, 0.999];
        let mut scratch = None;
        let w = h.window_snapshot();
        let got = h.window_quantiles(&qs, &mut scratch).unwrap();
        assert_eq!(got, [w.p50, w.p90, w.p95, w.p99, w.p999]);
        // The scratch histogram is reused, and an empty window has no quantiles.
        let (empty, _, _) = histogram(&opts);
        assert!(empty.window_quantiles(&qs, &mut scratch).is_none());
        assert_eq!(h.window_quantiles(&qs, &mut scratch).unwrap(), got);
    }

    #[test]
    fn sum_is_exact_not_bucketed() {
        let (h, _, _) = histogram(&HistogramOpts::latency());
        for v in [0.1234567, 0.0000013, 1.5] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.sum, 0.1234567 + 0.0000013 + 1.5);
        assert_eq!((s.min, s.max), (0.0000013, 1.5));
    }

    #[test]
    fn window_forgets_old_slices_but_total_keeps_them() {
        let opts = HistogramOpts::new(1.0, 1000.0)
            .window(Duration::from_secs(60))
            .window_slices(4);
        let (h, _, _) = histogram(&opts);
        let t0 = h.core.window.lock().slice_started;
        h.observe(1.0);
        h.rotate_if_due(t0 + Duration::from_secs(15)); // closes slice [0, 15)
        h.observe(2.0);
        h.rotate_if_due(t0 + Duration::from_secs(20)); // not due: the slice is 5 s old
        h.rotate_if_due(t0 + Duration::from_secs(30)); // closes slice [15, 30)
        {
            // Read "as of" t0 + 80 s: the first slice ended 65 s ago, the second 50 s ago.
            let mut w = h.core.window.lock();
            let now = t0 + Duration::from_secs(80);
            h.rotate_locked(&mut w, now);
            let live: Vec<_> = w
                .slices
                .iter()
                .filter(|s| s.ended.is_some_and(|e| now.duration_since(e) < w.window))
                .map(|s| s.part.hist.len())
                .collect();
            // The rotation at 80 s closed an empty slice; only the 2.0 slice is in the window.
            assert_eq!(live.iter().sum::<u64>(), 1);
        }
        assert_eq!(h.snapshot().count, 2);
    }

    #[test]
    fn ring_reuses_its_slices() {
        let opts = HistogramOpts::new(1.0, 1000.0)
            .window(Duration::from_secs(4))
            .window_slices(2);
        let (h, _, _) = histogram(&opts);
        let t0 = h.core.window.lock().slice_started;
        for i in 1..=10u64 {
            h.observe(i as f64);
            h.rotate_if_due(t0 + Duration::from_secs(2 * i));
        }
        let w = h.core.window.lock();
        assert_eq!(w.slices.len(), 2);
        assert_eq!(w.total.hist.len(), 10);
        let in_ring: u64 = w.slices.iter().map(|s| s.part.hist.len()).sum();
        assert_eq!(in_ring, 2);
    }

    quickcheck! {
        /// A histogram merged from shards equals one unsharded histogram of the same values.
        fn sharded_equals_unsharded(values: Vec<u32>, threads: u8) -> bool {
            let threads = (threads % 4 + 1) as usize;
            let opts = HistogramOpts::new(1.0, 1e10);
            let (h, _, _) = histogram(&opts);
            let chunks: Vec<Vec<u32>> = values
                .chunks(values.len().div_ceil(threads).max(1))
                .map(<[u32]>::to_vec)
                .collect();
            std::thread::scope(|s| {
                for chunk in &chunks {
                    let h = h.clone();
                    s.spawn(move || chunk.iter().for_each(|v| h.observe(*v as f64)));
                }
            });
            let mut single = Part::new(&opts);
            for v in &values {
                single.hist.saturating_record(*v as u64);
                single.sum += *v as f64;
                single.min = single.min.min(*v as f64);
                single.max = single.max.max(*v as f64);
            }
            let single = HistogramSnapshot::new(single, 1.0);
            let sharded = h.snapshot();
            let quantiles_match = [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0]
                .iter()
                .all(|q| single.quantile(*q) == sharded.quantile(*q));
            sharded.count == single.count
                && sharded.sum == single.sum
                && sharded.min == single.min
                && sharded.max == single.max
                && quantiles_match
        }
    }
}
