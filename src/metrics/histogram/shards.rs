//! Module implementing a histogram series' shards: what each recording thread slot was given,
//! and how readers add the shards up. See [`Shard`].

use std::ops::Range;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::OnceLock;

use once_cell::race::OnceBox;

use crossbeam_utils::CachePadded;

use super::plan::{HistogramPlan, Spot, PAGE};
use super::readout::Cells;
use crate::metrics::shard::add_owned;

/// One page of cells (see [`PAGE`]). A page is made at the first value any of its cells gets, so
/// that a series pays for the range its values span, not for the whole range of its family.
///
/// A cell's count takes 15 bits of a 16-bit word, so that the cells a series' values touch take
/// half the cache they would in 32 bits. A count that passes [`LOW`] starts again from 0 and
/// carries into the page's high halves, made at the first carry; a high half that passes
/// `u16::MAX` carries 2^31 into the shard's spill.
///
/// In a shard of its own, the word's top bit, [`SLOW`], sends the owner off the common path:
/// it is set on a cell never counted, on a cell that holds an exported bucket's bound (whose
/// values are counted by bucket in the shard's parts), and on the cells of the shard's smallest
/// and largest values. A value anywhere else can change neither extreme, so the common path
/// counts it with one compare and does not look at them. A value inside the extremes in a
/// marked cell stays inline too: in a cell counted before it counts in the word, in a cell
/// that holds a bound (whose word stays `SLOW`) in its part, found from the plan's table by
/// place (a search for the cell's part cost about 0.2 ns a record in a loop over the `peers`
/// bench's values, which fall in such cells about one in twenty). The shared shard adds
/// atomically to the whole word and keeps its extremes with atomic min and max.
struct Page {
    low: [AtomicU16; PAGE],
    high: OnceBox<[AtomicU16; PAGE]>,
}

/// The largest count a cell's word holds before it carries into its high half.
const LOW: u16 = (1 << 15) - 1;

/// The bit of an owned shard's word that sends recording off the common path.
const SLOW: u16 = 1 << 15;

impl Page {
    /// A page whose every word is `word`.
    fn new(word: u16) -> Self {
        Self {
            low: std::array::from_fn(|_| AtomicU16::new(word)),
            high: OnceBox::new(),
        }
    }

    /// The high halves, made if need be.
    fn high(&self) -> &[AtomicU16; PAGE] {
        self.high
            .get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU16::new(0))))
    }

    /// The counts at `offsets` (without what a carry put in the spill), to `each`; `mask` keeps
    /// the bits of a word that count.
    fn counts(&self, offsets: Range<usize>, mask: u16, mut each: impl FnMut(usize, u64)) {
        let high = self.high.get();
        for offset in offsets {
            let low = u64::from(self.low[offset].load(Ordering::Relaxed) & mask);
            let high = high.map_or(0, |high| u64::from(high[offset].load(Ordering::Relaxed)));
            each(offset, low + (high << 15));
        }
    }
}

/// How many parts a shard's running sum is kept in (see [`Shard::sums`]).
pub(super) const SUMS: usize = 2;

/// Everything one shard was given since the series was created. Never reset: readers only
/// load, so that the owner can store without a lock.
pub(super) struct Shard {
    /// Made at the shard's first value, so that a series pays only for the threads that record
    /// into it. Held inline (it fits in the padding of the shard's 128 bytes), so that a record
    /// reaches the page table in one load.
    data: OnceLock<ShardData>,
    /// The exact sum, as `f64` bits, in two parts: the owner adds a value to the part of its
    /// place's parity in its page, so that consecutive values seldom wait for each other's
    /// addition (with one running sum each `observe` of a series waited for the last one's:
    /// 11.6 ns a record against 7.4 with two, one thread on one series). Others add to the
    /// first.
    /// [`sum`](Self::sum) is the total.
    pub(super) sums: [AtomicU64; SUMS],
    /// The smallest value, as `f64` bits (which order as the values do, none being negative);
    /// `+inf` while empty.
    pub(super) min: AtomicU64,
    /// The largest value, as `f64` bits; `0.0` while empty.
    pub(super) max: AtomicU64,
    /// Whether threads share the shard (and add atomically), or one owns it.
    shared: bool,
}

/// What a shard makes at its first value.
struct ShardData {
    /// The pages of cells, each made at its first value.
    pages: Box<[OnceBox<Page>]>,
    /// The values of the cells that hold a bound, by cell and exported bucket (see
    /// [`HistogramPlan::bound_part`]).
    parts: Box<[AtomicU64]>,
    /// 2^31 for every time a cell's high half passed `u16::MAX`, by cell: made the first time
    /// one does.
    spill: OnceLock<Box<[AtomicU64]>>,
}

impl Shard {
    /// An empty shard; `shared` when threads share it.
    pub(super) fn new(shared: bool) -> Self {
        Self {
            data: OnceLock::new(),
            sums: std::array::from_fn(|_| AtomicU64::new(0f64.to_bits())),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(0f64.to_bits()),
            shared,
        }
    }

    /// The bits of a word that count.
    fn mask(&self) -> u16 {
        match self.shared {
            true => u16::MAX,
            false => LOW,
        }
    }

    /// The shard's data, made at its first value.
    #[inline(always)]
    fn data(&self, plan: &HistogramPlan) -> &ShardData {
        match self.data.get() {
            Some(data) => data,
            None => self.make_data(plan),
        }
    }

    /// Counts `value`, which falls in `spot`, for the thread that owns the shard (its only
    /// writer). The caller knows which shard it has, so the common path tests nothing for it.
    #[inline(always)]
    pub(super) fn count_owned(&self, plan: &HistogramPlan, spot: Spot, value: f64) {
        let data = self.data(plan);
        let page = data.page(false, spot.page);
        let count = &page.low[spot.offset];
        match count.load(Ordering::Relaxed) {
            n if n < LOW => count.store(n + 1, Ordering::Relaxed),
            // A cell that holds an extreme, counted before, not full: a value inside the
            // extremes only counts.
            n if n > SLOW && n < SLOW | LOW && self.inside_extremes(value) => {
                count.store(n + 1, Ordering::Relaxed)
            }
            // A cell that holds a bound (its word stays `SLOW`), a value inside the extremes:
            // only its part counts.
            SLOW if self.inside_extremes(value) => match plan.bound_part(spot, value) {
                Some(part) => add_owned(&data.parts[part], 1),
                None => self.count_unusual(plan, data, page, spot, value),
            },
            _ => self.count_unusual(plan, data, page, spot, value),
        }
    }

    /// Counts `value`, which falls in `spot`, for a thread that shares the shard: atomic adds
    /// to the whole word, and a count that reaches 2^15 carries.
    pub(super) fn count_shared(&self, plan: &HistogramPlan, spot: Spot, value: f64) {
        let data = self.data(plan);
        let page = data.page(true, spot.page);
        if let Some(part) = plan.bound_part(spot, value) {
            data.parts[part].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let word = &page.low[spot.offset];
        if word.fetch_add(1, Ordering::Relaxed) == LOW {
            // This add took the count to 2^15: carry it, while others may add on. A reader
            // between the two sees the cell 2^15 high for that moment.
            if page.high()[spot.offset].fetch_add(1, Ordering::Relaxed) == u16::MAX {
                data.spill(plan, plan.cell_at(spot))
                    .fetch_add(1 << 31, Ordering::Relaxed);
            }
            word.fetch_sub(SLOW, Ordering::Relaxed);
        }
    }

    /// Whether `value` lies within the shard's extremes (never while it is empty).
    #[inline(always)]
    fn inside_extremes(&self, value: f64) -> bool {
        let bits = value.to_bits();
        bits >= self.min.load(Ordering::Relaxed) && bits <= self.max.load(Ordering::Relaxed)
    }

    /// An owner's word at `spot`, in `page`, is [`SLOW`] or its count is full. A value inside
    /// the extremes, in a cell counted before, counts in the cell's part if the cell holds a
    /// bound, or in the cell, carrying if need be, and the cell keeps its mark. Otherwise the
    /// value moves an extreme or is its cell's first: the extremes and the marks of the cells
    /// that hold them are kept first.
    #[cold]
    #[inline(never)]
    fn count_unusual(
        &self,
        plan: &HistogramPlan,
        data: &ShardData,
        page: &Page,
        spot: Spot,
        value: f64,
    ) {
        let cell = plan.cell_at(spot);
        let word = &page.low[spot.offset];
        let bits = value.to_bits();
        let (min, max) = (
            self.min.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        );
        let empty = min == f64::INFINITY.to_bits();
        let part = plan.bound_part(spot, value);
        let mut now = word.load(Ordering::Relaxed);
        let counted_before = part.is_some() || now & LOW != 0;
        if empty || bits < min || bits > max || !counted_before {
            let (new_min, new_max) = (bits.min(min), if empty { bits } else { bits.max(max) });
            self.min.store(new_min, Ordering::Relaxed);
            self.max.store(new_max, Ordering::Relaxed);
            let extreme_cells = [new_min, new_max].map(|b| plan.cell_of(f64::from_bits(b)));
            // A cell that held an extreme and no longer does goes back to the common path.
            for old in [min, max].map(|b| plan.cell_of(f64::from_bits(b))) {
                if !empty && old != cell && !extreme_cells.contains(&old) && !plan.holds_bound(old)
                {
                    let spot = plan.spot_of(old);
                    let word = &data.page(false, spot.page).low[spot.offset];
                    word.store(word.load(Ordering::Relaxed) & LOW, Ordering::Relaxed);
                }
            }
            // The cell keeps its mark while it holds an extreme.
            now = match extreme_cells.contains(&cell) {
                true => now | SLOW,
                false => now & LOW,
            };
        }
        match part {
            Some(part) => add_owned(&data.parts[part], 1),
            None => data.add_carrying(plan, cell, page, spot.offset, now),
        }
    }

    /// The page table and parts: made at the shard's first value.
    #[cold]
    fn make_data(&self, plan: &HistogramPlan) -> &ShardData {
        self.data.get_or_init(|| ShardData {
            pages: (0..plan.pages()).map(|_| OnceBox::new()).collect(),
            parts: (0..plan.parts()).map(|_| AtomicU64::new(0)).collect(),
            spill: OnceLock::new(),
        })
    }

    /// The exact sum of what it was given.
    pub(super) fn sum(&self) -> f64 {
        // From +0: an empty `f64` sum is -0, which a scrape would write as `-0`.
        self.sums
            .iter()
            .map(|part| f64::from_bits(part.load(Ordering::Relaxed)))
            .fold(0.0, |sum, part| sum + part)
    }

    /// Whether a value was ever recorded here: its minimum is set by its first value.
    pub(super) fn written(&self) -> bool {
        self.min.load(Ordering::Relaxed) != f64::INFINITY.to_bits() && self.data.get().is_some()
    }

    /// Adds the values per exported bucket to `per_bucket` (one per bucket, `+Inf` last): the
    /// cells that lie inside one bucket, by the bucket each falls in, and the parts of those that
    /// hold a bound.
    pub(super) fn add_buckets(&self, plan: &HistogramPlan, per_bucket: &mut [u64]) {
        let Some(data) = self.data.get() else {
            return;
        };
        let spill = data.spill.get();
        let mask = self.mask();
        for (index, page) in data.pages.iter().enumerate() {
            let Some(page) = page.get() else {
                continue;
            };
            for run in plan.runs(index) {
                page.counts(run.offset..run.offset + run.len, mask, |offset, count| {
                    let cell = run.cell + (offset - run.offset);
                    let carried = spill.map_or(0, |spill| spill[cell].load(Ordering::Relaxed));
                    if count == 0 && carried == 0 {
                        return;
                    }
                    let Some(bucket) = plan.whole_bucket(cell) else {
                        return;
                    };
                    let total = &mut per_bucket[bucket];
                    *total = total.wrapping_add(count).wrapping_add(carried);
                });
            }
        }
        for (bucket, count) in plan.part_buckets().zip(data.parts.iter()) {
            per_bucket[bucket] = per_bucket[bucket].wrapping_add(count.load(Ordering::Relaxed));
        }
    }

    /// Adds the counts of the cells in `range` to `totals`, which holds one count per cell
    /// of the range.
    fn add_cells(&self, plan: &HistogramPlan, range: Range<usize>, totals: &mut [u64]) {
        let Some(data) = self.data.get() else {
            return;
        };
        let mask = self.mask();
        for index in plan.pages_of(range.clone()) {
            let Some(page) = data.pages[index].get() else {
                continue;
            };
            for run in plan.runs(index) {
                // The run's cells within the range.
                let start = run.cell.max(range.start);
                let end = (run.cell + run.len).min(range.end);
                if start >= end {
                    continue;
                }
                let offset = run.offset + (start - run.cell);
                let totals = &mut totals[start - range.start..end - range.start];
                page.counts(offset..offset + (end - start), mask, |at, count| {
                    let total = &mut totals[at - offset];
                    *total = total.wrapping_add(count);
                });
            }
        }
        // The cells that hold a bound count 0 in their pages: their parts instead.
        for (cell, parts) in plan.bound_cells(range.clone()) {
            let held: u64 = data.parts[parts]
                .iter()
                .map(|part| part.load(Ordering::Relaxed))
                .fold(0, u64::wrapping_add);
            let total = &mut totals[cell - range.start];
            *total = total.wrapping_add(held);
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
    pub(super) fn set_count(&self, plan: &HistogramPlan, cell: usize, count: u32) {
        let data = self.data.get().expect("a written shard");
        let spot = plan.spot_of(cell);
        let page = data.page(self.shared, spot.page);
        let word = &page.low[spot.offset];
        let slow = word.load(Ordering::Relaxed) & !self.mask();
        word.store(slow | (count as u16 & LOW), Ordering::Relaxed);
        page.high()[spot.offset].store((count >> 15) as u16, Ordering::Relaxed);
        let spilled = u64::from(count >> 31) << 31;
        data.spill(plan, cell).store(spilled, Ordering::Relaxed);
    }
}

impl ShardData {
    /// Page `index`, made if need be (for the shared shard when `shared`), at the first value
    /// any of its cells gets.
    #[inline(always)]
    fn page(&self, shared: bool, index: usize) -> &Page {
        let page = &self.pages[index];
        match page.get() {
            Some(page) => page,
            None => Self::make_page(shared, page),
        }
    }

    /// Makes a page: in an owned shard every cell [`SLOW`] until its first value, in the shared
    /// one every count 0.
    #[cold]
    fn make_page(shared: bool, page: &OnceBox<Page>) -> &Page {
        page.get_or_init(|| {
            Box::new(Page::new(match shared {
                true => 0,
                false => SLOW,
            }))
        })
    }

    /// Adds one to an owner's count of `cell`, at `offset` in `page`, whose word is `now`,
    /// carrying if the count is full; the word keeps its [`SLOW`] bit.
    fn add_carrying(
        &self,
        plan: &HistogramPlan,
        cell: usize,
        page: &Page,
        offset: usize,
        now: u16,
    ) {
        let word = &page.low[offset];
        let (slow, count) = (now & SLOW, now & LOW);
        if count < LOW {
            return word.store(slow | (count + 1), Ordering::Relaxed);
        }
        // The owner is the only writer: the high half first, then the word, so that a reader
        // between the two sees the cell 2^15 high for that moment, never low.
        let high = &page.high()[offset];
        match high.load(Ordering::Relaxed) {
            u16::MAX => {
                self.spill(plan, cell).fetch_add(1 << 31, Ordering::Relaxed);
                high.store(0, Ordering::Relaxed);
            }
            n => high.store(n + 1, Ordering::Relaxed),
        }
        word.store(slow, Ordering::Relaxed);
    }

    /// The spill of `cell`: the spill, one per cell of `plan`, is made the first time a count
    /// passes 2^31.
    #[cold]
    fn spill(&self, plan: &HistogramPlan, cell: usize) -> &AtomicU64 {
        let spill = self
            .spill
            .get_or_init(|| (0..plan.cells()).map(|_| AtomicU64::new(0)).collect());
        &spill[cell]
    }
}

/// A series' shards: one per owned thread slot, then the shared one.
pub(super) struct Shards {
    /// Boxed, the shared one too: held inline, a shard's cache-line alignment would pad the
    /// series' allocation by most of a line.
    all: Box<[CachePadded<Shard>]>,
}

impl Shards {
    /// `owned` shards and the shared one.
    pub(super) fn new(owned: usize) -> Self {
        Self {
            all: (0..=owned)
                .map(|i| CachePadded::new(Shard::new(i == owned)))
                .collect(),
        }
    }

    /// The shard of thread slot `slot`: `Ok` when the slot owns it, `Err` with the shared
    /// shard otherwise.
    #[inline(always)]
    pub(super) fn of_slot(&self, slot: usize) -> Result<&Shard, &Shard> {
        match self.all.split_last() {
            Some((_, owned)) if slot < owned.len() => Ok(&owned[slot]),
            Some((shared, _)) => Err(shared),
            None => unreachable!("a series has its shared shard"),
        }
    }

    /// How many shards, the shared one included.
    pub(super) fn len(&self) -> usize {
        self.all.len()
    }

    /// The shared shard.
    #[cfg(test)]
    pub(super) fn shared(&self) -> &Shard {
        self.all.last().expect("a series has its shared shard")
    }

    /// The values per exported bucket (not cumulative, `+Inf` last) into `per_bucket`, which
    /// holds one count per bucket.
    pub(super) fn add_buckets(&self, plan: &HistogramPlan, per_bucket: &mut [u64]) {
        for shard in self.written() {
            shard.add_buckets(plan, per_bucket);
        }
    }

    /// Every shard, the shared one last.
    pub(super) fn all(&self) -> impl Iterator<Item = &Shard> + '_ {
        self.all.iter().map(|shard| &**shard)
    }

    /// The shards that were ever written.
    pub(super) fn written(&self) -> impl Iterator<Item = &Shard> + '_ {
        self.all().filter(|shard| shard.written())
    }

    /// The exact sum of what the shards were given.
    pub(super) fn sum(&self) -> f64 {
        self.written().fold(0.0, |sum, shard| sum + shard.sum())
    }

    /// The exact extremes of what the shards were given: `(+inf, -inf)` when nothing.
    pub(super) fn extremes(&self) -> (f64, f64) {
        self.written()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(min, max), shard| {
                (
                    min.min(f64::from_bits(shard.min.load(Ordering::Relaxed))),
                    max.max(f64::from_bits(shard.max.load(Ordering::Relaxed))),
                )
            })
    }

    /// The shards' cells into `cells`. Only the cells between the shards' smallest and
    /// largest values can be non-zero, so only those are read; `cells.range` says which.
    pub(super) fn gather(&self, plan: &HistogramPlan, cells: &mut Cells) {
        cells.counts.clear();
        let (min, max) = self.extremes();
        if min > max {
            cells.range = 0..0;
            return;
        }
        let range = plan.cell_of(min)..plan.cell_of(max) + 1;
        cells.counts.resize(range.len(), 0);
        for shard in self.written() {
            shard.add_cells(plan, range.clone(), &mut cells.counts);
        }
        cells.range = range;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_and_its_data_fit_in_the_padding_of_one() {
        // The data is held inline so that a record reaches the page table in one load; at 128
        // bytes (crossbeam's padding on x86-64 and aarch64) no shard of any series grows.
        let size = std::mem::size_of::<Shard>();
        assert!(size <= 128, "a shard takes {size} bytes");
    }
}
