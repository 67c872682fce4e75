//! Module implementing the sharded, lock-free histogram and its recent window. See
//! [`Histogram`] for details.
//!
//! - `plan`: a family's cells and buckets, which value goes where ([`HistogramPlan`]).
//! - `shards`: what each recording thread slot was given, and adding the shards up.
//! - `window`: the marks the recent window is measured from.
//! - `readout`: cells read out, and the quantile walk.

mod plan;
mod readout;
mod shards;
mod window;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::exemplar::{Exemplar, ExemplarSlots};
use super::shard::{shard_count, thread_slot};
use super::snapshot::HistogramSnapshot;
use super::timer::HistogramTimer;
use super::Counter;
use crate::{MonitoringError, TraceContext};
pub(crate) use plan::HistogramPlan;
use plan::Spot;
pub(crate) use readout::{Cells, Part};
use shards::{Shards, SUMS};
use window::Window;

/// A distribution of observed values, such as query latencies, with quantiles readable in code.
///
/// `Histogram` is a cheap `Clone` handle. Recording takes no lock: the first threads to record
/// (one per core, up to 8) each own a shard of the series and add to it with plain loads and
/// stores; other threads share one more shard with atomic adds. A shard counts in cells of
/// equal ratio (35 per power of two at the default 1%); the exported buckets are read off the
/// cells, and only the few cells that hold a bucket's bound count their values by bucket.
/// Readers add the shards up. Recording does no lookup, and allocates only a shard's page table
/// and bound cells' counts at its first value, a page of cells at the first value in it, and
/// the page's high halves at its first count past 2^15 (see
/// [`HistogramOpts`](crate::HistogramOpts)).
///
/// Two views are kept: everything since the series was created ([`snapshot`](Self::snapshot))
/// and the recent window ([`window_snapshot`](Self::window_snapshot), 60 seconds by default).
/// The exact sum of the recorded values is kept beside the histogram, so `sum` and `mean` are
/// not rounded to buckets, and the exported `_bucket{le}` counts compare each value with the
/// bound exactly. See [`HistogramOpts`](crate::HistogramOpts) for precision and memory.
///
/// Negative and NaN values are refused and counted in `kotoba_monitoring_values_rejected_total`;
/// values above the configured maximum are recorded as the maximum and counted in
/// `kotoba_monitoring_values_clamped_total`. Neither panics.
///
/// # About the window
///
/// The window advances one slice at a time: at the end of each slice the series notes what
/// the slice added, and the window is what was added since its oldest slice began. A started [`MetricsCollector`] advances every histogram of its registry on its own
/// thread; without one, a histogram advances when it is read, and samples recorded before a
/// long idle gap are counted in the slice that closes at that read. The window's `min` and
/// `max` are exact when the window holds everything recorded, and otherwise the edge of the
/// cell they fall in: within one cell's width (2% at two figures).
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
    /// One shard per owned thread slot, and the shared shard.
    shards: Shards,
    /// The family's plan, held here so that recording reads it without following a pointer.
    plan: HistogramPlan,
    /// The running totals noted at the last rotations, which the window is measured from.
    window: Mutex<Window>,
    /// `kotoba_monitoring_values_clamped_total{metric=…}`.
    clamped: Counter,
    /// `kotoba_monitoring_values_rejected_total{metric=…}`.
    rejected: Counter,
    /// One exemplar per exported bucket, made at the first exemplar.
    exemplars: OnceLock<ExemplarSlots>,
}

impl Histogram {
    /// Builds a series of the family planned by `plan`.
    pub(crate) fn new(plan: &HistogramPlan, clamped: Counter, rejected: Counter) -> Self {
        let opts = plan.opts();
        Self {
            core: Arc::new(HistogramCore {
                shards: Shards::new(shard_count()),
                window: Mutex::new(Window::new(
                    Instant::now(),
                    opts.window_len(),
                    opts.slices(),
                )),
                plan: plan.clone(),
                clamped,
                rejected,
                exemplars: OnceLock::new(),
            }),
        }
    }

    /// Records one value, in the family's unit (seconds for latencies).
    ///
    /// A negative or NaN value is refused and counted; a value above the family's maximum is
    /// recorded as the maximum and counted.
    #[inline]
    pub fn observe(&self, value: f64) {
        // One test keeps NaN, negative, too large and below-resolution values off the common
        // path.
        match self.core.plan.usual_spot(value) {
            Some(spot) => self.record(value, spot),
            None => self.observe_unusual(value),
        }
    }

    /// A value [`HistogramPlan::usual_spot`] leaves out: NaN or negative (refused), above the
    /// maximum (recorded as the maximum), or below the resolution (cell 0).
    #[cold]
    fn observe_unusual(&self, value: f64) {
        let core = &*self.core;
        let plan = &core.plan;
        let value = if value > plan.max_value() {
            core.clamped.inc();
            plan.max_value()
        } else if value >= 0.0 {
            // Adding 0.0 turns -0.0 into 0.0, so that the bits order as the values do.
            value + 0.0
        } else {
            return core.rejected.inc();
        };
        self.record(value, plan.spot_of(plan.cell_of(value)));
    }

    /// Adds `value`, between 0 and the maximum, in `spot`, to the calling thread's shard.
    /// Always inlined into `observe`, whatever LLVM weighs: it once kept it a call, about 1 ns
    /// of 7.5 a record. Today it inlines it either way (a loop of `observe` on one series:
    /// 5.63 ns with the attribute, 5.77 without, medians of five alternated runs).
    #[inline(always)]
    fn record(&self, value: f64, spot: Spot) {
        let core = &*self.core;
        match core.shards.of_slot(thread_slot()) {
            // This thread owns the shard: nobody else writes it. Counting keeps the extremes,
            // off the common path (see `shards`).
            Ok(shard) => {
                shard.count_owned(&core.plan, spot, value);
                let part = &shard.sums[spot.offset % SUMS];
                let sum = f64::from_bits(part.load(Ordering::Relaxed)) + value;
                part.store(sum.to_bits(), Ordering::Relaxed);
            }
            Err(shard) => {
                let bits = value.to_bits();
                shard.count_shared(&core.plan, spot, value);
                let _ = shard.sums[0].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
                    Some((f64::from_bits(sum) + value).to_bits())
                });
                if bits < shard.min.load(Ordering::Relaxed) {
                    shard.min.fetch_min(bits, Ordering::Relaxed);
                }
                if bits > shard.max.load(Ordering::Relaxed) {
                    shard.max.fetch_max(bits, Ordering::Relaxed);
                }
            }
        }
    }

    /// Records `value` and keeps `labels` (a trace id, say) as the exemplar of the bucket it
    /// falls in: each bucket keeps its newest. Recording an exemplar never waits for another
    /// thread; plain [`observe`](Self::observe) never touches them.
    ///
    /// ```
    /// # let registry = kotoba_monitoring::Registry::new();
    /// let latency = registry.histogram("rpc_seconds", "RPC latency.", &[])?;
    /// latency.observe_with_exemplar(0.53, &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")])?;
    /// assert_eq!(latency.snapshot().count, 1);
    /// # Ok::<(), kotoba_monitoring::MonitoringError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidTrace`] when the labels are not an exemplar's (more than 128
    /// characters together, a name that is not a label name); the value is recorded anyway.
    pub fn observe_with_exemplar(
        &self,
        value: f64,
        labels: &[(&str, &str)],
    ) -> Result<(), MonitoringError> {
        self.observe(value);
        let exemplar = Exemplar::new(labels, value)?;
        self.keep_exemplar(exemplar);
        Ok(())
    }

    /// Records `value` with `trace` as its exemplar (`trace_id`, `span_id`) when the trace is
    /// sampled.
    pub fn observe_with_trace(&self, value: f64, trace: &TraceContext) {
        self.observe(value);
        if trace.sampled() {
            self.keep_exemplar(Exemplar::of_trace(trace, value));
        }
    }

    /// Records `value` with the current thread's trace (see [`TraceContext::enter`]) as its
    /// exemplar, when one is entered and sampled; as [`observe`](Self::observe) otherwise.
    pub fn observe_traced(&self, value: f64) {
        match TraceContext::current() {
            Some(trace) => self.observe_with_trace(value, &trace),
            None => self.observe(value),
        }
    }

    /// Keeps `exemplar` in the bucket its value falls in (a refused value keeps none).
    fn keep_exemplar(&self, exemplar: Exemplar) {
        let plan = &self.core.plan;
        let value = exemplar.value();
        if value.is_nan() || value < 0.0 {
            return;
        }
        let value = value.min(plan.max_value()) + 0.0;
        let bucket = plan.bucket_of(value, plan.cell_of(value));
        self.core
            .exemplars
            .get_or_init(|| ExemplarSlots::new(plan.bounds().len() + 1))
            .put(bucket, exemplar);
    }

    /// Calls `f` with each exported bucket's exemplar and the bucket's index (the last is
    /// `+Inf`'s).
    pub(crate) fn each_exemplar(&self, f: impl FnMut(usize, &Exemplar)) {
        if let Some(slots) = self.core.exemplars.get() {
            slots.each(f);
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
    /// Only loads what the recording threads store; it never holds them up.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut part = Part::default();
        self.total_into(&mut part);
        HistogramSnapshot::new(part, self.core.plan.clone())
    }

    /// What was recorded over the recent window (see [`HistogramOpts::window`](crate::HistogramOpts::window)).
    pub fn window_snapshot(&self) -> HistogramSnapshot {
        let mut part = Part::default();
        self.window_into(Instant::now(), &mut part);
        HistogramSnapshot::new(part, self.core.plan.clone())
    }

    /// The exported bucket bounds, without `+Inf`.
    pub(crate) fn bucket_bounds(&self) -> &[f64] {
        self.core.plan.bounds()
    }

    /// What the exposition writes for the series: how many values fell in each exported
    /// bucket (not cumulative; the last is `+Inf`), appended to `per_bucket`, and the exact
    /// sum, returned.
    pub(crate) fn export_buckets(&self, per_bucket: &mut Vec<u64>) -> f64 {
        let start = per_bucket.len();
        per_bucket.resize(start + self.core.plan.bounds().len() + 1, 0);
        self.core
            .shards
            .add_buckets(&self.core.plan, &mut per_bucket[start..]);
        self.core.shards.sum()
    }

    /// The recent window's value at each of `quantiles` (ascending), or `None` while the window
    /// is empty: the same figures as [`window_snapshot`](Self::window_snapshot), read straight
    /// off the cells gathered into `scratch` (reused across series of one family).
    pub(crate) fn window_quantiles(
        &self,
        quantiles: &[f64],
        scratch: &mut Cells,
    ) -> Option<Vec<f64>> {
        let now = Instant::now();
        {
            let mut window = self.core.window.lock();
            self.rotate_locked(&mut window, now);
            self.core.shards.gather(&self.core.plan, scratch);
            window.since(window.base(now), scratch);
        }
        let (first, last) = scratch.occupied()?;
        let (min, max) = self.clamped_extremes(first, last);
        Some(scratch.quantiles(&self.core.plan, quantiles, min, max))
    }

    /// How many values were recorded since the series was created, as the exported buckets
    /// count them.
    pub(crate) fn count(&self) -> u64 {
        let mut per_bucket = Vec::new();
        self.export_buckets(&mut per_bucket);
        per_bucket.into_iter().fold(0, u64::wrapping_add)
    }

    /// How much time [`window_snapshot`](Self::window_snapshot) covers now: from the start of
    /// the oldest slice still in the window, or from the series' creation. Divide a window's
    /// count by it for a rate.
    pub fn window_span(&self) -> Duration {
        self.window_span_at(Instant::now())
    }

    fn window_span_at(&self, now: Instant) -> Duration {
        let mut window = self.core.window.lock();
        self.rotate_locked(&mut window, now);
        window.span(now)
    }

    /// Closes the current window slice if it has run its length.
    pub(crate) fn rotate_if_due(&self, now: Instant) {
        let mut window = self.core.window.lock();
        self.rotate_locked(&mut window, now);
    }

    fn rotate_locked(&self, window: &mut Window, now: Instant) {
        let core = &*self.core;
        if window.due(now) {
            let mut totals = Cells::default();
            core.shards.gather(&core.plan, &mut totals);
            window.rotate(now, &totals, core.shards.sum());
        }
    }

    /// The window at `now` into `part`, rotating first if a slice is due.
    fn window_into(&self, now: Instant, part: &mut Part) {
        let core = &*self.core;
        let base_sum = {
            let mut window = core.window.lock();
            self.rotate_locked(&mut window, now);
            let base = window.base(now);
            core.shards.gather(&core.plan, &mut part.cells);
            window.since(base, &mut part.cells);
            window.marks[base].sum
        };
        self.fill(part);
        part.sum -= base_sum;
    }

    /// Everything since creation into `part`.
    fn total_into(&self, part: &mut Part) {
        self.core.shards.gather(&self.core.plan, &mut part.cells);
        self.fill(part);
    }

    /// The running sum and the extremes of `part`'s cells into it.
    fn fill(&self, part: &mut Part) {
        part.sum = self.core.shards.sum();
        (part.min, part.max) = match part.cells.occupied() {
            Some((first, last)) => self.clamped_extremes(first, last),
            None => (f64::INFINITY, f64::NEG_INFINITY),
        };
    }

    /// The extremes of values held in cells `first..=last`: the exact extremes since creation
    /// where those cells hold them, otherwise the edges of the cells.
    fn clamped_extremes(&self, first: usize, last: usize) -> (f64, f64) {
        let plan = &self.core.plan;
        let (min, max) = self.core.shards.extremes();
        (
            match plan.cell_of(min) == first {
                true => min,
                false => min.max(plan.low(first)),
            },
            match plan.cell_of(max) == last {
                true => max,
                false => max.min(plan.high(last)),
            },
        )
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opts = self.core.plan.opts();
        f.debug_struct("Histogram")
            .field("resolution", &opts.resolution())
            .field("max_value", &opts.max_value())
            .field("shards", &self.core.shards.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::HistogramOpts;
    use quickcheck::quickcheck;

    fn histogram(opts: &HistogramOpts) -> (Histogram, Counter, Counter) {
        let clamped = Counter::new(crate::metrics::name::MetricName::of("clamped_total"));
        let rejected = Counter::new(crate::metrics::name::MetricName::of("rejected_total"));
        let plan = HistogramPlan::new(opts.clone());
        (
            Histogram::new(&plan, clamped.clone(), rejected.clone()),
            clamped,
            rejected,
        )
    }

    /// The creation time, which the first mark carries.
    fn created(h: &Histogram) -> Instant {
        h.core.window.lock().marks[0].at
    }

    fn window_at(h: &Histogram, now: Instant) -> Part {
        let mut part = Part::default();
        h.window_into(now, &mut part);
        part
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
        h.observe(-0.0);
        assert_eq!(rejected.get(), 3.0);
        assert_eq!(clamped.get(), 2.0);
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!((s.min, s.max), (0.0, 1000.0));
        assert_eq!(s.sum, 2010.0);
    }

    #[test]
    fn the_exposition_reads_agree_with_the_snapshots() {
        let bounds = [0.0001, 0.00025, 0.005, 0.01, 1.0, 10.0];
        let opts = HistogramOpts::latency().buckets(bounds);
        let (h, _, _) = histogram(&opts);
        let t0 = created(&h);
        // Values on, between and around the bounds, spread over a closed slice and the open one.
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
        let mut per_bucket = vec![7]; // appended to, not overwritten
        let sum = h.export_buckets(&mut per_bucket);
        let count: u64 = per_bucket[1..].iter().sum();
        let s = h.snapshot();
        assert_eq!((count, sum), (s.count, s.sum));
        assert_eq!(count, h.count());
        // 0 and 0.0001 | 0.00025 | 0.0003, 0.005 | 0.0051 | 0.02, 1 | 9.99 | 12 (+Inf).
        assert_eq!(per_bucket, [7, 2, 1, 2, 1, 2, 1, 1]);

        let qs = [0.5, 0.9, 0.95, 0.99, 0.999];
        let mut scratch = Cells::default();
        let w = h.window_snapshot();
        let got = h.window_quantiles(&qs, &mut scratch).unwrap();
        assert_eq!(got, [w.p50, w.p90, w.p95, w.p99, w.p999]);
        // The scratch histogram is reused, and an empty window has no quantiles.
        let (empty, _, _) = histogram(&opts);
        assert!(empty.window_quantiles(&qs, &mut scratch).is_none());
        assert_eq!(h.window_quantiles(&qs, &mut scratch).unwrap(), got);
    }

    #[test]
    fn values_just_above_a_bound_go_to_the_next_bucket() {
        // Bounds inside one cell: the comparison with the bound is exact.
        let opts = HistogramOpts::new(1.0, 1e6).buckets([1000.0, 1000.5, 1001.0]);
        let (h, _, _) = histogram(&opts);
        for v in [999.9, 1000.0, 1000.25, 1000.5, 1000.75, 1001.0, 1001.5] {
            h.observe(v);
        }
        let mut per_bucket = Vec::new();
        h.export_buckets(&mut per_bucket);
        assert_eq!(per_bucket, [2, 2, 2, 1]);
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
    fn window_forgets_old_slices_but_the_snapshot_keeps_them() {
        let opts = HistogramOpts::new(1.0, 1000.0)
            .window(Duration::from_secs(60))
            .window_slices(4);
        let (h, _, _) = histogram(&opts);
        let t0 = created(&h);
        h.observe(1.0);
        h.rotate_if_due(t0 + Duration::from_secs(15)); // closes slice [0, 15)
        h.observe(2.0);
        h.rotate_if_due(t0 + Duration::from_secs(20)); // not due: the slice is 5 s old
        h.rotate_if_due(t0 + Duration::from_secs(30)); // closes slice [15, 30)
        h.observe(3.0);
        // At 70 s the first slice ended 55 s ago: all three values are in the window.
        let w = window_at(&h, t0 + Duration::from_secs(70));
        assert_eq!((w.cells.total(), w.sum, w.min, w.max), (3, 6.0, 1.0, 3.0));
        // (That read rotated, closing [30, 70) with 3.0.) At 80 s the first slice ended 65 s
        // ago and is out.
        let w = window_at(&h, t0 + Duration::from_secs(80));
        assert_eq!((w.cells.total(), w.sum), (2, 5.0));
        assert!((w.min - 2.0).abs() <= 0.5 && (w.max - 3.0).abs() < 1e-9);
        // At 200 s only the slice that closes then, [70, 200), is in the window: empty.
        let w = window_at(&h, t0 + Duration::from_secs(200));
        assert_eq!(w.cells.total(), 0);
        let s = h.snapshot();
        assert_eq!((s.count, s.sum, s.min, s.max), (3, 6.0, 1.0, 3.0));
    }

    #[test]
    fn totals_noted_before_a_smaller_value_widened_the_range_still_subtract() {
        // The totals noted at a slice's end cover only the cells between the extremes of that
        // time; a smaller value recorded later moves the start of every later gather, not of
        // what was noted.
        let opts = HistogramOpts::new(1.0, 1000.0)
            .window(Duration::from_secs(30))
            .window_slices(2);
        let (h, _, _) = histogram(&opts);
        let t0 = created(&h);
        h.observe(500.0);
        h.observe(600.0);
        h.rotate_if_due(t0 + Duration::from_secs(15)); // closes [0, 15) with 500 and 600
        h.observe(2.0);
        h.observe(600.0);
        // At 50 s the first slice ended 35 s ago: the window holds 2 and the second 600.
        let w = window_at(&h, t0 + Duration::from_secs(50));
        let counts = [2.0, 500.0, 600.0].map(|v| w.cells.count_at(h.core.plan.cell_of(v)));
        assert_eq!((counts, w.cells.total(), w.sum), ([1, 0, 1], 2, 602.0));
        assert_eq!(h.snapshot().count, 4);
    }

    #[test]
    fn the_window_spans_its_length_to_one_slice_more() {
        let window = Duration::from_secs(2);
        let opts = HistogramOpts::latency().window(window).window_slices(4);
        let slice = opts.slice_len();
        let (h, _, _) = histogram(&opts);
        let t0 = created(&h);
        // A rotator checking every sixteenth of a slice, each check up to a sixteenth late,
        // and reads at times between the checks (a fixed pseudo-random sequence).
        let check = slice / 16;
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % 1000
        };
        let mut at = t0;
        for i in 0..4000u32 {
            at = t0 + check * i + check * (next() as u32) / 1000;
            h.rotate_if_due(at);
            let read = at + check * (next() as u32) / 1000;
            let span = h.window_span_at(read);
            if read.duration_since(t0) >= window {
                assert!(
                    span >= window && span <= window + slice + 2 * check,
                    "a {window:?} window spans {span:?} at {:?}",
                    read.duration_since(t0)
                );
            } else {
                assert_eq!(span, read.duration_since(t0), "younger than its window");
            }
        }
        assert!(at.duration_since(t0) > window * 30);
    }

    #[test]
    fn a_check_a_moment_early_skips_no_slice() {
        let opts = HistogramOpts::new(1.0, 1000.0)
            .window(Duration::from_secs(60))
            .window_slices(4);
        let (h, _, _) = histogram(&opts);
        let t0 = created(&h);
        let ms = Duration::from_millis;
        // The first slice is closed late; the next check comes on time for the second.
        h.rotate_if_due(t0 + Duration::from_secs(15) + ms(40));
        h.rotate_if_due(t0 + Duration::from_secs(30) + ms(1));
        let w = h.core.window.lock();
        assert_eq!(w.filled, 3, "both slices closed");
        assert_eq!(w.due, t0 + Duration::from_secs(45));
    }

    #[test]
    fn ring_reuses_its_marks() {
        let opts = HistogramOpts::new(1.0, 1000.0)
            .window(Duration::from_secs(4))
            .window_slices(2);
        let (h, _, _) = histogram(&opts);
        let t0 = created(&h);
        for i in 1..=10u64 {
            h.observe(i as f64);
            h.rotate_if_due(t0 + Duration::from_secs(2 * i));
        }
        {
            let w = h.core.window.lock();
            assert_eq!((w.marks.len(), w.filled), (4, 4));
        }
        // Window of 4 s at 20 s: the slices that ended at 18 s and 20 s, holding 9 and 10.
        let w = window_at(&h, t0 + Duration::from_secs(20));
        assert_eq!((w.cells.total(), w.sum), (2, 19.0));
        assert_eq!(h.snapshot().count, 10);
    }

    #[test]
    fn owned_and_shared_shards_both_count() {
        let (h, _, _) = histogram(&HistogramOpts::new(1.0, 1000.0));
        h.observe(5.0);
        let shared = h.clone();
        std::thread::spawn(move || {
            crate::metrics::shard::use_shared_cells();
            shared.observe(7.0);
            shared.observe(1.0);
        })
        .join()
        .unwrap();
        let mut per_bucket = vec![0; h.core.plan.bounds().len() + 1];
        h.core
            .shards
            .shared()
            .add_buckets(&h.core.plan, &mut per_bucket);
        assert_eq!(per_bucket.iter().sum::<u64>(), 2);
        let s = h.snapshot();
        assert_eq!((s.count, s.sum, s.min, s.max), (3, 13.0, 1.0, 7.0));
    }

    #[test]
    fn a_cell_past_16_bits_carries_into_its_high_half() {
        let (h, _, _) = histogram(&HistogramOpts::new(1.0, 1000.0));
        for _ in 0..200_000 {
            h.observe(5.0);
        }
        let shared = h.clone();
        std::thread::spawn(move || {
            crate::metrics::shard::use_shared_cells();
            for _ in 0..70_000 {
                shared.observe(5.0);
            }
        })
        .join()
        .unwrap();
        let s = h.snapshot();
        assert_eq!((s.count, s.p50, s.sum), (270_000, 5.0, 1_350_000.0));
        assert_eq!(h.count(), 270_000);
    }

    #[test]
    fn a_cell_past_32_bits_carries_into_the_spill() {
        let (h, _, _) = histogram(&HistogramOpts::new(1.0, 1000.0));
        let cell = h.core.plan.cell_of(5.0);
        h.observe(5.0);
        let owned = h.core.shards.written().next().unwrap();
        owned.set_count(&h.core.plan, cell, u32::MAX - 1);
        for _ in 0..3 {
            h.observe(5.0);
        }
        // The shared shard wraps with an atomic add.
        let shared = h.clone();
        std::thread::spawn(move || {
            crate::metrics::shard::use_shared_cells();
            shared.observe(5.0);
            let last = shared.core.shards.shared();
            last.set_count(&shared.core.plan, cell, u32::MAX);
            shared.observe(5.0);
            shared.observe(5.0);
        })
        .join()
        .unwrap();
        let s = h.snapshot();
        let owned_count = u64::from(u32::MAX - 1) + 3;
        let shared_count = u64::from(u32::MAX) + 2;
        assert_eq!(s.count, owned_count + shared_count);
        assert_eq!((s.p50, s.min, s.max), (5.0, 5.0, 5.0));
        assert_eq!(
            h.count(),
            s.count,
            "the exported buckets count what the cells hold"
        );
    }

    quickcheck! {
        /// The exposition's quantiles, read off the cells, are the snapshot's, whatever the
        /// values, including zeros and clamped ones, recorded from two threads (so into two
        /// shards).
        /// The window holds exactly what its slices were given: the same cells, sum and
        /// quantiles as a histogram given only those values, however they spread over the
        /// slices and cells (including 32-bit wrap-free runs of many values in one cell).
        fn the_window_holds_exactly_its_slices(values: Vec<(u8, u32)>) -> bool {
            let opts = HistogramOpts::new(1.0, 1e10)
                .window(Duration::from_secs(60))
                .window_slices(4);
            let (h, _, _) = histogram(&opts);
            let (only_window, _, _) = histogram(&opts);
            let t0 = created(&h);
            let mut values = values;
            values.sort_by_key(|(slice, _)| slice % 12);
            let mut at = 0;
            for slice in 0..12u64 {
                while let Some(&(k, v)) = values.get(at) {
                    if u64::from(k % 12) != slice {
                        break;
                    }
                    h.observe(f64::from(v));
                    // The window at 180 s starts at the mark of 120 s: slices 8 to 11.
                    if slice >= 8 {
                        only_window.observe(f64::from(v));
                    }
                    at += 1;
                }
                h.rotate_if_due(t0 + Duration::from_secs(15 * (slice + 1)));
            }
            let w = window_at(&h, t0 + Duration::from_secs(180) + Duration::from_millis(1));
            let mut want = Part::default();
            only_window.total_into(&mut want);
            let cells_agree = (0..h.core.plan.cells())
                .all(|c| w.cells.count_at(c) == want.cells.count_at(c));
            cells_agree && w.sum == want.sum
        }

        /// The extremes are exact after every value, as they move within a cell and from cell
        /// to cell (the owner keeps them off its common path, in the cells that hold them).
        fn extremes_are_exact_after_every_value(values: Vec<(u8, bool)>) -> bool {
            let (h, _, _) = histogram(&HistogramOpts::new(1e-6, 100.0));
            let mut seen: Option<(f64, f64)> = None;
            values.iter().all(|&(step, far)| {
                // Steps of a thousandth: several values to a cell of 2%, a few cells in all.
                let value = match far {
                    true => 0.5 + f64::from(step) * 0.01,
                    false => 1.0 + f64::from(step % 64) * 0.001,
                };
                h.observe(value);
                let (min, max) = seen.map_or((value, value), |(lo, hi)| (lo.min(value), hi.max(value)));
                seen = Some((min, max));
                let s = h.snapshot();
                (s.min, s.max) == (min, max)
            })
        }

        /// The exported buckets count each value in the first bucket whose bound is not below
        /// it, at any precision, for values on, just below and just above the bounds (in the
        /// cells that hold them), whether the thread records into a shard of its own or the
        /// shared one.
        fn exported_buckets_compare_each_value_with_the_bounds(
            values: Vec<(u8, i8)>,
            figures: u8,
            shared: bool
        ) -> bool {
            let bounds = [0.001, 0.0015, 0.00151, 0.002, 0.01, 0.1, 1.0];
            let opts = HistogramOpts::new(1e-6, 100.0)
                .significant_figures(figures % 3 + 1)
                .buckets(bounds);
            let (h, _, _) = histogram(&opts);
            let values: Vec<f64> = values
                .iter()
                .map(|&(at, step)| {
                    let bound = bounds[usize::from(at) % bounds.len()];
                    bound * (1.0 + f64::from(step) * 1e-4)
                })
                .collect();
            let recorder = h.clone();
            let given = values.clone();
            std::thread::spawn(move || {
                if shared {
                    crate::metrics::shard::use_shared_cells();
                }
                given.iter().for_each(|&v| recorder.observe(v));
            })
            .join()
            .unwrap();
            let mut want = vec![0; bounds.len() + 1];
            for v in &values {
                want[bounds.partition_point(|&b| b < *v)] += 1;
            }
            let mut got = Vec::new();
            h.export_buckets(&mut got);
            got == want && h.snapshot().count == values.len() as u64
        }

        /// A histogram recorded from several threads holds the values' exact count, sum and
        /// extremes, and every quantile within 1% of the true sample quantile (the smallest
        /// value that at least that share of the values does not exceed), or within the
        /// resolution below it.
        fn quantiles_are_within_the_precision_of_the_values(values: Vec<u32>, threads: u8, scale: u8) -> bool {
            let threads = (threads % 4 + 1) as usize;
            let scale = 10f64.powi(i32::from(scale % 7) - 6);
            let values: Vec<f64> = values.iter().map(|v| f64::from(*v) * scale).collect();
            let opts = HistogramOpts::new(0.001, 1e10);
            let (h, _, _) = histogram(&opts);
            let chunks: Vec<Vec<f64>> = values
                .chunks(values.len().div_ceil(threads).max(1))
                .map(<[f64]>::to_vec)
                .collect();
            std::thread::scope(|s| {
                for chunk in &chunks {
                    let h = h.clone();
                    s.spawn(move || chunk.iter().for_each(|v| h.observe(*v)));
                }
            });
            let s = h.snapshot();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let Some((&min, &max)) = sorted.first().zip(sorted.last()) else {
                return s.count == 0 && s.quantile(0.5) == 0.0;
            };
            let within = |got: f64, want: f64| (got - want).abs() <= want * 0.01 + 0.001;
            let quantiles_hold = [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0].iter().all(|&q| {
                let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
                within(s.quantile(q), sorted[rank - 1])
            });
            // Sums of chunks are added in another order, which for these values is exact.
            s.count == values.len() as u64
                && (s.sum - values.iter().sum::<f64>()).abs() <= 1e-9 * s.sum
                && (s.min, s.max) == (min, max)
                && quantiles_hold
        }
    }
}
