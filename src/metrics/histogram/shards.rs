//! Module implementing a histogram series' shards: what each recording thread slot was given,
//! and how readers add the shards up. See [`Shard`].

use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use crossbeam_utils::CachePadded;

use super::plan::HistogramPlan;
use super::readout::Cells;
use crate::metrics::shard::add_owned;

/// Cells per page. A page is made at the first value any of its cells gets, so that a series
/// pays for the range its values span, not for the whole range of its family.
pub(super) const PAGE: usize = 64;

/// One page of cells. A cell counts in 32 bits; a cell that passes `u32::MAX` starts again
/// from 0 and carries 2^32 into the shard's spill.
type Page = [AtomicU32; PAGE];

/// Everything one shard was given since the series was created. Never reset: readers only
/// load, so that the owner can store without a lock.
pub(super) struct Shard {
    /// Made at the shard's first value, so that a series pays only for the threads that record
    /// into it.
    data: OnceLock<ShardData>,
    /// How many pages the family's cells take.
    pages: usize,
    /// The number of exported buckets, `+Inf` included.
    buckets: usize,
    /// The exact sum, as `f64` bits, in two parts: the owner adds a value to the part of its
    /// cell's parity, so that consecutive values seldom wait for each other's addition (with one
    /// running sum each `observe` of a series waited for the last one's: 11.6 ns a record
    /// against 7.4 with two, one thread on one series). Others add to the first.
    /// [`sum`](Self::sum) is the total.
    pub(super) sums: [AtomicU64; 2],
    /// The smallest value, as `f64` bits (which order as the values do, none being negative);
    /// `+inf` while empty.
    pub(super) min: AtomicU64,
    /// The largest value, as `f64` bits; `0.0` while empty.
    pub(super) max: AtomicU64,
}

/// What a shard makes at its first value.
struct ShardData {
    /// The pages of cells, each made at its first value.
    pages: Box<[OnceLock<Box<Page>>]>,
    /// A cache line unused, then values per exported bucket (the last one `+Inf`), then a cache
    /// line unused: padded so that the bucket counts, which every value writes, share no cache
    /// line with another thread's data.
    buckets: Box<[AtomicU64]>,
    /// 2^32 for every time a cell passed `u32::MAX`, by cell: made the first time one does.
    spill: OnceLock<Box<[AtomicU64]>>,
}

/// One cache line of counts, the padding around a shard's bucket counts.
const PAD: usize = 64 / std::mem::size_of::<AtomicU64>();

impl Shard {
    pub(super) fn new(cells: usize, buckets: usize) -> Self {
        Self {
            data: OnceLock::new(),
            pages: cells.div_ceil(PAGE),
            buckets,
            sums: [
                AtomicU64::new(0f64.to_bits()),
                AtomicU64::new(0f64.to_bits()),
            ],
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Counts one value in `cell` and exported bucket `bucket`; `owned` when the calling
    /// thread is the only one that writes this shard.
    #[inline]
    pub(super) fn count(&self, cell: usize, bucket: usize, owned: bool) {
        let data = match self.data.get() {
            Some(data) => data,
            None => self.make_data(),
        };
        let count = &data.page(cell)[cell % PAGE];
        let bucket = &data.buckets[PAD + bucket];
        if owned {
            add_owned(bucket, 1);
            match count.load(Ordering::Relaxed) {
                u32::MAX => data.carry(cell, count),
                n => count.store(n + 1, Ordering::Relaxed),
            }
        } else {
            bucket.fetch_add(1, Ordering::Relaxed);
            if count.fetch_add(1, Ordering::Relaxed) == u32::MAX {
                data.carry(cell, count);
            }
        }
    }

    /// The page table and bucket counts: made at the shard's first value.
    #[cold]
    fn make_data(&self) -> &ShardData {
        self.data.get_or_init(|| ShardData {
            pages: (0..self.pages).map(|_| OnceLock::new()).collect(),
            buckets: (0..PAD + self.buckets + PAD)
                .map(|_| AtomicU64::new(0))
                .collect(),
            spill: OnceLock::new(),
        })
    }

    /// The exact sum of what it was given.
    pub(super) fn sum(&self) -> f64 {
        f64::from_bits(self.sums[0].load(Ordering::Relaxed))
            + f64::from_bits(self.sums[1].load(Ordering::Relaxed))
    }

    /// Whether a value was ever recorded here: its minimum is set by its first value.
    pub(super) fn written(&self) -> bool {
        self.min.load(Ordering::Relaxed) != f64::INFINITY.to_bits() && self.data.get().is_some()
    }

    /// The counts per exported bucket (none before the first value).
    pub(super) fn bucket_counts(&self) -> &[AtomicU64] {
        self.data
            .get()
            .map_or(&[], |d| &d.buckets[PAD..d.buckets.len() - PAD])
    }

    /// Adds the counts of the cells in `range` to `totals`, which holds one count per cell
    /// of the range.
    fn add_cells(&self, range: Range<usize>, totals: &mut [u64]) {
        let Some(data) = self.data.get() else {
            return;
        };
        let mut cell = range.start;
        while cell < range.end {
            // The cells of `cell`'s page within the range.
            let end = ((cell / PAGE + 1) * PAGE).min(range.end);
            if let Some(page) = data.pages[cell / PAGE].get() {
                let counts = &page[cell % PAGE..cell % PAGE + (end - cell)];
                let totals = &mut totals[cell - range.start..end - range.start];
                for (total, count) in totals.iter_mut().zip(counts) {
                    *total = total.wrapping_add(u64::from(count.load(Ordering::Relaxed)));
                }
            }
            cell = end;
        }
        if let Some(spill) = data.spill.get() {
            let totals = totals.iter_mut();
            for (total, carried) in totals.zip(&spill[range]) {
                *total = total.wrapping_add(carried.load(Ordering::Relaxed));
            }
        }
    }

    /// Sets the count of `cell`, for the overflow test.
    #[cfg(test)]
    pub(super) fn set_count(&self, cell: usize, count: u32) {
        let data = self.data.get().expect("a written shard");
        data.page(cell)[cell % PAGE].store(count, Ordering::Relaxed);
    }
}

impl ShardData {
    /// The page of `cell`, made if need be: the one allocation recording makes after a shard's
    /// first value, once per page.
    #[inline]
    fn page(&self, cell: usize) -> &Page {
        let page = &self.pages[cell / PAGE];
        match page.get() {
            Some(page) => page,
            None => Self::make_page(page),
        }
    }

    #[cold]
    fn make_page(page: &OnceLock<Box<Page>>) -> &Page {
        page.get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU32::new(0))))
    }

    /// `count`, the count of `cell`, passed `u32::MAX`: carries 2^32 into the spill, then
    /// (for an owner, whose count still reads `u32::MAX`) starts the count again from 0. A
    /// reader between the two sees the cell 2^32 high for that moment.
    #[cold]
    fn carry(&self, cell: usize, count: &AtomicU32) {
        let cells = self.pages.len() * PAGE;
        let spill = self
            .spill
            .get_or_init(|| (0..cells).map(|_| AtomicU64::new(0)).collect());
        spill[cell].fetch_add(1 << 32, Ordering::Relaxed);
        // An owner's count is still u32::MAX; a shared one already wrapped, and later adds
        // must be kept.
        let _ = count.compare_exchange(u32::MAX, 0, Ordering::Relaxed, Ordering::Relaxed);
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
    written(shards).map(|shard| shard.sum()).sum()
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

/// The shards' cells into `cells`. Only the cells between the shards' smallest and largest
/// values can be non-zero, so only those are read; `cells.range` says which.
pub(super) fn gather(shards: &[CachePadded<Shard>], plan: &HistogramPlan, cells: &mut Cells) {
    cells.counts.clear();
    let (min, max) = extremes(shards);
    if min > max {
        cells.range = 0..0;
        return;
    }
    let range = plan.cell_of(min)..plan.cell_of(max) + 1;
    cells.counts.resize(range.len(), 0);
    for shard in written(shards) {
        shard.add_cells(range.clone(), &mut cells.counts);
    }
    cells.range = range;
}
