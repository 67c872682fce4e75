//! Module implementing the sharded, lock-free HDR histogram and its recent window.
//! See [`Histogram`] for details.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::histogram_opts::HistogramOpts;
use super::layout::Layout;
use super::shard::{add_owned, shard_count, thread_slot};
use super::snapshot::{cell_value, normalized, HistogramSnapshot};
use super::timer::HistogramTimer;
use super::Counter;

pub(crate) type Hdr = hdrhistogram::Histogram<u64>;

/// A distribution of observed values, such as query latencies, with quantiles readable in code.
///
/// `Histogram` is a cheap `Clone` handle. Recording takes no lock: the first threads to record
/// (one per core, up to 8) each own a shard of the series and add to it with plain loads and
/// stores; other threads share one more shard with atomic adds. A shard counts in the cells of
/// an HDR histogram, and in the exported buckets. Readers add the shards up. Recording does no
/// lookup and no allocation.
///
/// Two views are kept: everything since the series was created ([`snapshot`](Self::snapshot))
/// and the recent window ([`window_snapshot`](Self::window_snapshot), 60 seconds by default).
/// The exact sum of the recorded values is kept beside the histogram, so `sum` and `mean` are
/// not rounded to buckets, and the exported `_bucket{le}` counts compare each value with the
/// bound exactly. See [`HistogramOpts`] for precision and memory.
///
/// Negative and NaN values are refused and counted in `kotoba_monitoring_values_rejected_total`;
/// values above the configured maximum are recorded as the maximum and counted in
/// `kotoba_monitoring_values_clamped_total`. Neither panics.
///
/// # About the window
///
/// The window advances one slice at a time: at the end of each slice the series notes its
/// running totals, and the window is what was added since the note taken when its oldest slice
/// began. A started [`MetricsCollector`] advances every histogram of its registry on its own
/// thread; without one, a histogram advances when it is read, and samples recorded before a
/// long idle gap are counted in the slice that closes at that read. The window's `min` and
/// `max` are exact when the window holds everything recorded, and otherwise within the
/// histogram's precision.
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

/// What every series of one histogram family shares: its options, the HDR layout, and where
/// each HDR cell's values start among the exported buckets.
#[derive(Debug)]
pub(crate) struct HistogramPlan {
    opts: HistogramOpts,
    layout: Layout,
    /// An empty histogram with the family's bounds, to make others like it.
    template: Hdr,
    /// For each HDR cell, the first exported bucket that its lowest value could fall in; a
    /// value moves up from there while it is above the bound. [`WHOLE_CELL`] is set when every
    /// value of the cell falls in that bucket, so that no bound need be compared.
    first_bucket: Arc<[u32]>,
    /// `opts`' bucket bounds, shared with every series' core for the record path.
    bounds: Arc<[f64]>,
}

impl HistogramPlan {
    /// The plan for `opts`, which must have passed [`HistogramOpts::validate`].
    pub(crate) fn new(opts: HistogramOpts) -> Self {
        // `validate` guarantees max_steps >= 2 and figures in 1..=5, the only inputs
        // hdrhistogram refuses; the fallback keeps a usable histogram regardless.
        let template = Hdr::new_with_bounds(1, opts.max_steps().max(2), opts.figures())
            .or_else(|_| Hdr::new_with_bounds(1, 2, 2))
            .unwrap_or_else(|_| unreachable!("1..2 at 2 figures is a valid histogram"));
        let layout = Layout::of(&template);
        let resolution = opts.resolution();
        let bounds = opts.bucket_bounds();
        let first_bucket = (0..layout.len())
            .map(|index| {
                // Steps round to nearest, so a cell's values lie within half a step of its
                // steps; a whole step either side is a safe margin.
                let low = layout.value_at(index);
                let lowest = (low as f64 - 1.0) * resolution;
                let highest = (template.highest_equivalent(low) as f64 + 1.0) * resolution;
                let first = bounds.partition_point(|&b| b < lowest);
                let last = bounds.partition_point(|&b| b < highest);
                if first == last {
                    first as u32 | WHOLE_CELL
                } else {
                    first as u32
                }
            })
            .collect();
        let bounds = bounds.into();
        Self {
            opts,
            layout,
            template,
            first_bucket,
            bounds,
        }
    }

    /// The options the family was registered with.
    pub(crate) fn opts(&self) -> &HistogramOpts {
        &self.opts
    }
}

/// Marks a cell that lies inside one exported bucket, in [`HistogramPlan::first_bucket`].
const WHOLE_CELL: u32 = 1 << 31;

struct HistogramCore {
    /// One shard per owned thread slot, then the shared shard.
    shards: Box<[CachePadded<Shard>]>,
    plan: Arc<HistogramPlan>,
    /// `1 / resolution`: multiplying is cheaper than dividing on the hot path. This and the
    /// next three are copied from the plan, so that recording reads them without following
    /// another pointer.
    steps_per_unit: f64,
    max_value: f64,
    max_steps: u64,
    layout: Layout,
    /// The plan's `first_bucket` table and bounds, held here too for the same reason.
    first_bucket: Arc<[u32]>,
    bounds: Arc<[f64]>,
    /// Where a shard's bucket counts start in its `counts`: after its cells and a cache line.
    buckets_at: usize,
    /// The running totals noted at the last rotations, which the window is measured from.
    window: Mutex<Window>,
    /// `kotoba_monitoring_values_clamped_total{metric=…}`.
    clamped: Counter,
    /// `kotoba_monitoring_values_rejected_total{metric=…}`.
    rejected: Counter,
}

/// Everything one shard was given since the series was created. Never reset: readers only
/// load, so that the owner can store without a lock.
struct Shard {
    /// Values per HDR cell, then a cache line unused, then values per exported bucket (the
    /// last one `+Inf`), then a cache line unused: one allocation, so that recording follows
    /// one pointer, and padded so that the bucket counts, which every value writes, share no
    /// cache line with another thread's data. Made at the shard's first value, so that a
    /// series pays only for the threads that record into it.
    counts: OnceLock<Box<[AtomicU64]>>,
    /// The number of cells, where the padding before the buckets starts.
    cell_count: usize,
    /// The number of exported buckets, `+Inf` included.
    buckets: usize,
    /// The exact sum, as `f64` bits.
    sum: AtomicU64,
    /// The smallest value, as `f64` bits (which order as the values do, none being negative);
    /// `+inf` while empty.
    min: AtomicU64,
    /// The largest value, as `f64` bits; `0.0` while empty.
    max: AtomicU64,
}

/// One cache line of counts, the padding around a shard's bucket counts.
const PAD: usize = 64 / std::mem::size_of::<AtomicU64>();

impl Shard {
    fn new(cells: usize, buckets: usize) -> Self {
        Self {
            counts: OnceLock::new(),
            cell_count: cells,
            buckets,
            sum: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// The counts, made on first use: the one allocation recording may make, once per
    /// thread slot and series.
    #[inline]
    fn counts(&self) -> &[AtomicU64] {
        match self.counts.get() {
            Some(counts) => counts,
            None => self.make_counts(),
        }
    }

    #[cold]
    fn make_counts(&self) -> &[AtomicU64] {
        self.counts.get_or_init(|| {
            (0..self.cell_count + PAD + self.buckets + PAD)
                .map(|_| AtomicU64::new(0))
                .collect()
        })
    }

    /// Whether a value was ever recorded here (its counts made).
    fn written(&self) -> bool {
        self.counts.get().is_some()
    }

    /// The counts per HDR cell (none before the first value).
    fn cells(&self) -> &[AtomicU64] {
        self.counts.get().map_or(&[], |c| &c[..self.cell_count])
    }

    /// The counts per exported bucket (none before the first value).
    fn bucket_counts(&self) -> &[AtomicU64] {
        self.counts
            .get()
            .map_or(&[], |c| &c[self.cell_count + PAD..c.len() - PAD])
    }
}

/// Per-cell counts read out of the shards, kept to be reused.
#[derive(Default)]
pub(crate) struct Cells {
    /// The counts of the cells in `range`, from its start: the cells outside it are empty.
    counts: Vec<u64>,
    range: std::ops::Range<usize>,
}

/// A read-out: one HDR histogram with the exact sum, minimum and maximum of what it holds.
pub(crate) struct Part {
    pub(crate) hist: Hdr,
    pub(crate) sum: f64,
    /// `+inf` while empty.
    pub(crate) min: f64,
    /// `-inf` while empty.
    pub(crate) max: f64,
}

/// The running totals of a series at the end of a window slice.
struct Mark {
    /// Values per HDR cell, over all shards, as [`Histogram::gather`] read them: the cells
    /// between the shards' extremes at the time, outside which every cell was zero.
    cells: Cells,
    sum: f64,
    at: Instant,
}

struct Window {
    /// A ring of the marks of the last `slices + 2` rotations: a window is measured from the
    /// youngest mark at least a window old, which may be `slices + 1` slices back while the
    /// newest slice has not been closed yet.
    marks: Box<[Mark]>,
    /// The ring position of the newest mark.
    newest: usize,
    /// How many ring positions hold a mark.
    filled: usize,
    /// Slices end on a grid from the series' creation, so that a slice closed late does not
    /// move the ends of the next ones, and a check a moment early does not skip one.
    created: Instant,
    /// The end of the current slice.
    due: Instant,
    slice_len: Duration,
    window: Duration,
}

impl Window {
    /// The mark the window is measured from at `now`: the youngest mark at least a window
    /// old, or the oldest one while none is (the series is younger than its window).
    fn base(&self, now: Instant) -> &Mark {
        let n = self.marks.len();
        let mut base = (self.newest + n + 1 - self.filled) % n;
        for back in 0..self.filled {
            let mark = (self.newest + n - back) % n;
            if now.saturating_duration_since(self.marks[mark].at) >= self.window {
                base = mark;
                break;
            }
        }
        &self.marks[base]
    }

    /// The first slice end on the grid after `now`.
    fn next_end(&self, now: Instant) -> Instant {
        let slice = self.slice_len.as_nanos().max(1);
        let elapsed = now.saturating_duration_since(self.created).as_nanos();
        let slices = elapsed / slice + 1;
        let nanos = u64::try_from(slices * slice).unwrap_or(u64::MAX);
        self.created + Duration::from_nanos(nanos)
    }
}

impl Part {
    fn empty(plan: &HistogramPlan) -> Self {
        Self {
            hist: Hdr::new_from(&plan.template),
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Histogram {
    /// Builds a series of the family planned by `plan`.
    pub(crate) fn new(plan: &Arc<HistogramPlan>, clamped: Counter, rejected: Counter) -> Self {
        let opts = &plan.opts;
        let buckets = plan.bounds.len() + 1;
        let now = Instant::now();
        let marks = (0..opts.slices() + 2)
            .map(|_| Mark {
                cells: Cells::default(),
                sum: 0.0,
                at: now,
            })
            .collect();
        Self {
            core: Arc::new(HistogramCore {
                shards: (0..=shard_count())
                    .map(|_| CachePadded::new(Shard::new(plan.layout.len(), buckets)))
                    .collect(),
                plan: plan.clone(),
                steps_per_unit: 1.0 / opts.resolution(),
                max_value: opts.max_value(),
                max_steps: opts.max_steps(),
                layout: plan.layout,
                first_bucket: plan.first_bucket.clone(),
                bounds: plan.bounds.clone(),
                buckets_at: plan.layout.len() + PAD,
                window: Mutex::new(Window {
                    marks,
                    newest: 0,
                    filled: 1,
                    created: now,
                    due: now + opts.slice_len(),
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
        // One test keeps NaN, negative and too large values off the common path.
        if !(value >= 0.0 && value <= core.max_value) {
            return self.observe_unusual(value);
        }
        // Adding 0.0 turns -0.0 into 0.0, so that the bits order as the values do.
        self.record(value + 0.0, self.steps(value));
    }

    /// A NaN or negative value (refused) or one above the maximum (recorded as the maximum).
    #[cold]
    fn observe_unusual(&self, value: f64) {
        let core = &*self.core;
        if value > core.max_value {
            core.clamped.inc();
            self.record(core.max_value, core.max_steps);
        } else {
            core.rejected.inc();
        }
    }

    /// Adds `value`, which is `steps` steps, to the calling thread's shard.
    #[inline]
    fn record(&self, value: f64, steps: u64) {
        let core = &*self.core;
        let cell = core.layout.index_of(steps);
        let bounds = &*core.bounds;
        let first = core.first_bucket[cell];
        let mut bucket = (first & !WHOLE_CELL) as usize;
        if first & WHOLE_CELL == 0 {
            while bucket < bounds.len() && value > bounds[bucket] {
                bucket += 1;
            }
        }
        let bits = value.to_bits();
        let slot = thread_slot();
        let shard = &core.shards[slot];
        // Read once: a store to a count could, for all the compiler knows, change the field.
        let counts = shard.counts();
        let bucket = core.buckets_at + bucket;
        if slot + 1 < core.shards.len() {
            // This thread owns the shard: nobody else writes it.
            add_owned(&counts[cell], 1);
            add_owned(&counts[bucket], 1);
            let sum = f64::from_bits(shard.sum.load(Ordering::Relaxed)) + value;
            shard.sum.store(sum.to_bits(), Ordering::Relaxed);
            if bits < shard.min.load(Ordering::Relaxed) {
                shard.min.store(bits, Ordering::Relaxed);
            }
            if bits > shard.max.load(Ordering::Relaxed) {
                shard.max.store(bits, Ordering::Relaxed);
            }
        } else {
            counts[cell].fetch_add(1, Ordering::Relaxed);
            counts[bucket].fetch_add(1, Ordering::Relaxed);
            let _ = shard
                .sum
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
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
        let mut part = Part::empty(&self.core.plan);
        self.total_into(&mut part);
        HistogramSnapshot::new(part, self.core.plan.opts.resolution())
    }

    /// What was recorded over the recent window (see [`HistogramOpts::window`]).
    pub fn window_snapshot(&self) -> HistogramSnapshot {
        let mut part = Part::empty(&self.core.plan);
        self.window_into(Instant::now(), &mut part);
        HistogramSnapshot::new(part, self.core.plan.opts.resolution())
    }

    /// The exported bucket bounds, without `+Inf`.
    pub(crate) fn bucket_bounds(&self) -> &[f64] {
        &self.core.bounds
    }

    /// What the exposition writes for the series: how many values fell in each exported
    /// bucket (not cumulative; the last is `+Inf`), appended to `per_bucket`, and the exact
    /// sum, returned.
    pub(crate) fn export_buckets(&self, per_bucket: &mut Vec<u64>) -> f64 {
        let start = per_bucket.len();
        per_bucket.resize(start + self.core.bounds.len() + 1, 0);
        let mine = &mut per_bucket[start..];
        let mut sum = 0.0;
        for shard in self.written_shards() {
            for (total, cell) in mine.iter_mut().zip(shard.bucket_counts()) {
                *total = total.wrapping_add(cell.load(Ordering::Relaxed));
            }
            sum += f64::from_bits(shard.sum.load(Ordering::Relaxed));
        }
        sum
    }

    /// The recent window's value at each of `quantiles` (ascending), or `None` while the window
    /// is empty: the same figures as [`window_snapshot`](Self::window_snapshot), read straight
    /// off the cells gathered into `scratch` (reused across series of one family), with no
    /// histogram built.
    pub(crate) fn window_quantiles(
        &self,
        quantiles: &[f64],
        scratch: &mut Cells,
    ) -> Option<Vec<f64>> {
        let now = Instant::now();
        {
            let mut window = self.core.window.lock();
            self.rotate_locked(&mut window, now);
            self.gather(Some(window.base(now)), scratch);
        }
        let range = scratch.range.clone();
        let counts = &scratch.counts[..];
        let total = counts.iter().copied().fold(0u64, u64::wrapping_add);
        let first = range.start + counts.iter().position(|&c| c != 0)?;
        let last = range.start + counts.iter().rposition(|&c| c != 0)?;
        let (min, max) = self.clamped_extremes(first, last);
        let template = &self.core.plan.template;
        let resolution = self.core.plan.opts.resolution();
        // As hdrhistogram's `value_at_quantiles`: the first cell where the running count
        // reaches ceil(q * total), at least 1. A run of cells that leaves the count short of
        // the target holds no answer, so runs of CHUNK cells are skipped on their sum, which
        // the compiler vectorises, and only the last run is walked cell by cell.
        const CHUNK: usize = 16;
        let live = &counts[first - range.start..=last - range.start];
        // `live[..added]` is counted in `running`; the answer so far is `live[cell]`.
        let (mut added, mut running, mut cell) = (0usize, 0u64, 0usize);
        let values = quantiles
            .iter()
            .map(|&q| {
                let target = ((normalized(q) * total as f64).ceil() as u64).clamp(1, total);
                if running < target {
                    while let Some(run) = live.get(added..added + CHUNK) {
                        let sum = run.iter().copied().fold(0u64, u64::wrapping_add);
                        if running.wrapping_add(sum) >= target {
                            break;
                        }
                        running = running.wrapping_add(sum);
                        added += CHUNK;
                    }
                    while running < target && added < live.len() {
                        running = running.wrapping_add(live[added]);
                        added += 1;
                    }
                    // At least one cell was added: the runs skipped hold less than `target`,
                    // and all of `live` holds `total`.
                    cell = added.saturating_sub(1);
                }
                let steps = self.core.layout.value_at(first + cell);
                cell_value(template, steps, resolution, min, max)
            })
            .collect();
        Some(values)
    }

    /// How many values were recorded since the series was created.
    pub(crate) fn count(&self) -> u64 {
        self.written_shards()
            .flat_map(|shard| shard.bucket_counts())
            .map(|cell| cell.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
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
        now.saturating_duration_since(window.base(now).at)
    }

    /// Closes the current window slice if it has run its length.
    pub(crate) fn rotate_if_due(&self, now: Instant) {
        let mut window = self.core.window.lock();
        self.rotate_locked(&mut window, now);
    }

    fn rotate_locked(&self, window: &mut Window, now: Instant) {
        if now < window.due {
            return;
        }
        window.due = window.next_end(now);
        let n = window.marks.len();
        let next = (window.newest + 1) % n;
        let mark = &mut window.marks[next];
        self.gather(None, &mut mark.cells);
        mark.sum = self.sum();
        mark.at = now;
        window.newest = next;
        window.filled = (window.filled + 1).min(n);
    }

    /// The window at `now` into `part`, rotating first if a slice is due.
    fn window_into(&self, now: Instant, part: &mut Part) {
        let mut cells = Cells::default();
        let base_sum = {
            let mut window = self.core.window.lock();
            self.rotate_locked(&mut window, now);
            let base = window.base(now);
            self.gather(Some(base), &mut cells);
            base.sum
        };
        self.fill(&cells, part);
        part.sum -= base_sum;
    }

    /// Everything since creation into `part`.
    fn total_into(&self, part: &mut Part) {
        let mut cells = Cells::default();
        self.gather(None, &mut cells);
        self.fill(&cells, part);
    }

    /// The shards' cells, less those of `base` (the mark the window starts at, if any), into
    /// `cells`. Only the cells between the shards' smallest and largest values can be
    /// non-zero, so only those are read; `cells.range` says which.
    fn gather(&self, base: Option<&Mark>, cells: &mut Cells) {
        let layout = &self.core.layout;
        cells.counts.clear();
        let (mut low, mut high) = (usize::MAX, 0);
        for shard in self.written_shards() {
            let min = f64::from_bits(shard.min.load(Ordering::Relaxed));
            let max = f64::from_bits(shard.max.load(Ordering::Relaxed));
            low = low.min(layout.index_of(self.steps(min)));
            high = high.max(layout.index_of(self.steps(max)));
        }
        if low > high {
            cells.range = 0..0;
            return;
        }
        let range = low..high + 1;
        // The first written shard is copied in, the others added to it.
        let mut shards = self.written_shards();
        if let Some(shard) = shards.next() {
            let cells_of = shard.cells()[range.clone()].iter();
            cells
                .counts
                .extend(cells_of.map(|cell| cell.load(Ordering::Relaxed)));
        }
        cells.counts.resize(range.len(), 0);
        let counts = &mut cells.counts[..];
        for shard in shards {
            for (total, cell) in counts.iter_mut().zip(&shard.cells()[range.clone()]) {
                *total = total.wrapping_add(cell.load(Ordering::Relaxed));
            }
        }
        if let Some(base) = base {
            // The shards' extremes only widen, so a mark's cells lie within the range; the
            // overlap is taken all the same.
            let noted = &base.cells;
            let low = noted.range.start.max(range.start);
            let high = noted.range.end.min(range.end);
            if low < high {
                let first = noted.range.start;
                let noted = &noted.counts[low - first..high - first];
                let totals = &mut counts[low - range.start..high - range.start];
                for (total, noted) in totals.iter_mut().zip(noted) {
                    *total = total.saturating_sub(*noted);
                }
            }
        }
        cells.range = range;
    }

    /// The cells, the running sum and the extremes into `part`.
    fn fill(&self, cells: &Cells, part: &mut Part) {
        part.hist.reset();
        part.sum = self.sum();
        let counts = &cells.counts[..];
        let (mut first, mut last) = (None, 0);
        for (index, &count) in cells.range.clone().zip(counts) {
            if count != 0 {
                // Every cell's lowest value is within the histogram's range.
                let _ = part.hist.record_n(self.core.layout.value_at(index), count);
                first.get_or_insert(index);
                last = index;
            }
        }
        (part.min, part.max) = match first {
            Some(first) => self.clamped_extremes(first, last),
            None => (f64::INFINITY, f64::NEG_INFINITY),
        };
    }

    /// The extremes of values held in cells `first..=last`: the exact extremes since creation
    /// where those cells reach them, otherwise the edges of the cells.
    fn clamped_extremes(&self, first: usize, last: usize) -> (f64, f64) {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for shard in self.core.shards.iter() {
            min = min.min(f64::from_bits(shard.min.load(Ordering::Relaxed)));
            max = max.max(f64::from_bits(shard.max.load(Ordering::Relaxed)));
        }
        // Values round to the nearest step, so a cell holds values from half a step below its
        // lowest step to half a step above its highest.
        let template = &self.core.plan.template;
        let resolution = self.core.plan.opts.resolution();
        let lowest = self.core.layout.value_at(first);
        let highest = template.highest_equivalent(self.core.layout.value_at(last));
        (
            min.max((lowest as f64 - 0.5) * resolution),
            max.min((highest as f64 + 0.5) * resolution),
        )
    }

    /// `value`, between 0 and the maximum, in steps, rounded to the nearest. The maximum is
    /// below 2^62 steps (checked by `HistogramOpts::validate`), so the signed conversion, the
    /// cheaper one, is exact.
    #[inline]
    fn steps(&self, value: f64) -> u64 {
        (value * self.core.steps_per_unit + 0.5) as i64 as u64
    }

    /// The shards that were ever written: a shard's minimum is set by its first value, and the
    /// others need not be read.
    fn written_shards(&self) -> impl Iterator<Item = &Shard> + '_ {
        let never = f64::INFINITY.to_bits();
        self.core
            .shards
            .iter()
            .map(|shard| &**shard)
            .filter(move |shard| shard.min.load(Ordering::Relaxed) != never && shard.written())
    }

    fn sum(&self) -> f64 {
        self.written_shards()
            .map(|shard| f64::from_bits(shard.sum.load(Ordering::Relaxed)))
            .sum()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("resolution", &self.core.plan.opts.resolution())
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
        let plan = Arc::new(HistogramPlan::new(opts.clone()));
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
        let mut part = Part::empty(&h.core.plan);
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
        // One bound inside a wide HDR cell: the comparison with the bound is exact.
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
        assert_eq!((w.hist.len(), w.sum, w.min, w.max), (3, 6.0, 1.0, 3.0));
        // (That read rotated, closing [30, 70) with 3.0.) At 80 s the first slice ended 65 s
        // ago and is out.
        let w = window_at(&h, t0 + Duration::from_secs(80));
        assert_eq!((w.hist.len(), w.sum), (2, 5.0));
        assert!((w.min - 2.0).abs() <= 0.5 && (w.max - 3.0).abs() < 1e-9);
        // At 200 s only the slice that closes then, [70, 200), is in the window: empty.
        let w = window_at(&h, t0 + Duration::from_secs(200));
        assert!(w.hist.is_empty());
        let s = h.snapshot();
        assert_eq!((s.count, s.sum, s.min, s.max), (3, 6.0, 1.0, 3.0));
    }

    #[test]
    fn a_mark_subtracts_its_own_cells_after_smaller_values_widen_the_range() {
        // A mark keeps only the cells between the extremes of its time; a smaller value
        // recorded later moves the start of every later gather, not of the mark.
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
        let counts = [2, 500, 600].map(|v| w.hist.count_at(v));
        assert_eq!((counts, w.hist.len(), w.sum), ([1, 0, 1], 2, 602.0));
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
        assert_eq!((w.hist.len(), w.sum), (2, 19.0));
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
        let last = h.core.shards.last().unwrap();
        assert_eq!(
            last.bucket_counts()
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum::<u64>(),
            2
        );
        let s = h.snapshot();
        assert_eq!((s.count, s.sum, s.min, s.max), (3, 13.0, 1.0, 7.0));
    }

    quickcheck! {
        /// The exposition's quantiles, read off the cells, are the snapshot's, read by
        /// hdrhistogram, whatever the values, including zeros and clamped ones, recorded from
        /// two threads (so into two shards).
        fn window_quantiles_match_the_snapshot(values: Vec<u32>, scale: u8) -> bool {
            let (h, _, _) = histogram(&HistogramOpts::new(0.001, 1e6));
            let scale = 10f64.powi(i32::from(scale % 8) - 3);
            let (here, there) = values.split_at(values.len() / 2);
            std::thread::scope(|s| {
                s.spawn(|| there.iter().for_each(|v| h.observe(f64::from(*v) * scale)));
            });
            for v in here {
                h.observe(f64::from(*v) * scale);
            }
            let qs = [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0];
            let got = h.window_quantiles(&qs, &mut Cells::default());
            let w = h.window_snapshot();
            match got {
                None => values.is_empty(),
                Some(got) => got.iter().zip(qs).all(|(g, q)| *g == w.quantile(q)),
            }
        }

        /// A histogram recorded from several threads equals one hdrhistogram of the same values.
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
            let mut single = Part::empty(&h.core.plan);
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
