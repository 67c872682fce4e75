//! Module implementing a histogram series' shards: what each recording thread slot was given,
//! and how readers add the shards up. See [`Shard`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crossbeam_utils::CachePadded;

use super::plan::HistogramPlan;
use super::readout::Cells;

/// Everything one shard was given since the series was created. Never reset: readers only
/// load, so that the owner can store without a lock.
pub(super) struct Shard {
    /// Values per cell, then a cache line unused, then values per exported bucket (the last
    /// one `+Inf`), then a cache line unused: one allocation, so that recording follows one
    /// pointer, and padded so that the bucket counts, which every value writes, share no cache
    /// line with another thread's data. Made at the shard's first value, so that a series pays
    /// only for the threads that record into it.
    counts: OnceLock<Box<[AtomicU64]>>,
    /// The number of cells, where the padding before the buckets starts.
    cell_count: usize,
    /// The number of exported buckets, `+Inf` included.
    buckets: usize,
    /// The exact sum, as `f64` bits.
    pub(super) sum: AtomicU64,
    /// The smallest value, as `f64` bits (which order as the values do, none being negative);
    /// `+inf` while empty.
    pub(super) min: AtomicU64,
    /// The largest value, as `f64` bits; `0.0` while empty.
    pub(super) max: AtomicU64,
}

/// One cache line of counts, the padding around a shard's bucket counts.
const PAD: usize = 64 / std::mem::size_of::<AtomicU64>();

impl Shard {
    pub(super) fn new(cells: usize, buckets: usize) -> Self {
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
    pub(super) fn counts(&self) -> &[AtomicU64] {
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

    /// Where the bucket counts start in [`counts`](Self::counts).
    #[inline]
    pub(super) fn buckets_at(&self) -> usize {
        self.cell_count + PAD
    }

    /// Whether a value was ever recorded here: its minimum is set by its first value.
    pub(super) fn written(&self) -> bool {
        self.min.load(Ordering::Relaxed) != f64::INFINITY.to_bits() && self.counts.get().is_some()
    }

    /// The counts per cell (none before the first value).
    pub(super) fn cells(&self) -> &[AtomicU64] {
        self.counts.get().map_or(&[], |c| &c[..self.cell_count])
    }

    /// The counts per exported bucket (none before the first value).
    pub(super) fn bucket_counts(&self) -> &[AtomicU64] {
        self.counts
            .get()
            .map_or(&[], |c| &c[self.cell_count + PAD..c.len() - PAD])
    }
}

/// The shards that were ever written.
pub(super) fn written(shards: &[CachePadded<Shard>]) -> impl Iterator<Item = &Shard> + '_ {
    shards
        .iter()
        .map(|shard| &**shard)
        .filter(|shard| shard.written())
}

/// The exact sum of what `shards` were given.
pub(super) fn sum(shards: &[CachePadded<Shard>]) -> f64 {
    written(shards)
        .map(|shard| f64::from_bits(shard.sum.load(Ordering::Relaxed)))
        .sum()
}

/// The exact extremes of what `shards` were given: `(+inf, -inf)` when nothing.
pub(super) fn extremes(shards: &[CachePadded<Shard>]) -> (f64, f64) {
    written(shards).fold((f64::INFINITY, f64::NEG_INFINITY), |(min, max), shard| {
        (
            min.min(f64::from_bits(shard.min.load(Ordering::Relaxed))),
            max.max(f64::from_bits(shard.max.load(Ordering::Relaxed))),
        )
    })
}

/// The shards' cells, less those of `base` (a mark the window starts at, if any), into
/// `cells`. Only the cells between the shards' smallest and largest values can be non-zero,
/// so only those are read; `cells.range` says which.
pub(super) fn gather(
    shards: &[CachePadded<Shard>],
    plan: &HistogramPlan,
    base: Option<&Cells>,
    cells: &mut Cells,
) {
    cells.counts.clear();
    let (min, max) = extremes(shards);
    if min > max {
        cells.range = 0..0;
        return;
    }
    let range = plan.cell_of(min)..plan.cell_of(max) + 1;
    // The first written shard is copied in, the others added to it.
    let mut written = written(shards);
    if let Some(shard) = written.next() {
        let cells_of = shard.cells()[range.clone()].iter();
        cells
            .counts
            .extend(cells_of.map(|cell| cell.load(Ordering::Relaxed)));
    }
    cells.counts.resize(range.len(), 0);
    let counts = &mut cells.counts[..];
    for shard in written {
        for (total, cell) in counts.iter_mut().zip(&shard.cells()[range.clone()]) {
            *total = total.wrapping_add(cell.load(Ordering::Relaxed));
        }
    }
    if let Some(noted) = base {
        // The shards' extremes only widen, so a mark's cells lie within the range; the
        // overlap is taken all the same.
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
