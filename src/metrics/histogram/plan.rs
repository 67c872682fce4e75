//! Module implementing a histogram family's plan: the cell a value falls in, the values a
//! cell holds, and the exported bucket it counts in. See [`HistogramPlan`].

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use crate::metrics::histogram_opts::HistogramOpts;

/// Marks a cell that lies inside one exported bucket, in [`HistogramPlan::first_bucket`].
const WHOLE_CELL: u32 = 1 << 31;

/// The bits of an `f64`'s fraction.
const FRACTION: u64 = (1 << 52) - 1;

/// The most slots of the fraction's top bits (10 bits, enough for three figures' 347 cells
/// per power of two); a fixed size, so that indexing needs no bounds check.
const SLOTS: usize = 1 << 10;

/// One slot of the fraction's top bits: the cell its lowest fraction falls in, within its power
/// of two, and where the next cell starts if it starts inside the slot.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    split: u64,
    cell: u64,
}

/// Cells per page of a shard's counts: one power of two at the default two figures (35 cells),
/// eight at one figure (4 each), a tenth of one at three (347). A value's page then follows from
/// its power of two alone, so that the page is found while the cell within it is still being
/// worked out: with 64 cells a page, found from the cell, a record waited for both in turn
/// (about 6.3 against 5.9 ns, one thread on one series).
pub(super) const PAGE: usize = 35;

/// Where a value is counted: the page and the place in the page that count its cell
/// ([`HistogramPlan::cell_at`] tells the cell, off the common path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spot {
    pub(super) page: usize,
    pub(super) offset: usize,
}

impl Spot {
    /// The spot's index among the places of all pages, [`PAGE`] a page.
    fn place(self) -> usize {
        self.page * PAGE + self.offset
    }
}

/// A run of consecutive cells kept side by side in one page.
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    pub(super) cell: usize,
    pub(super) offset: usize,
    pub(super) len: usize,
}

/// A cell that holds one or more exported bucket bounds: its values are counted per bucket, in
/// parts of their own (see [`HistogramPlan::bound_part`]).
#[derive(Debug, Clone, Copy)]
struct BoundCell {
    cell: usize,
    /// The lowest bucket a value of the cell can fall in.
    first_bucket: usize,
    /// Where the cell's parts start among a shard's parts.
    first_part: usize,
    /// The buckets its values can fall in, one part each.
    parts: usize,
}

/// Where a family's values go: cells of equal ratio, and the exported buckets.
///
/// A value is first taken in steps of the resolution, `x = value / resolution`. Cell 0 holds
/// every `x` below 1 (values below the resolution); above it each power of two is cut into
/// `per_doubling` cells whose bounds grow by the same ratio `γ = 2^(1/per_doubling)`, chosen so
/// that the value a cell reports, `2·low·high / (low + high)`, is within `10^-figures` of any
/// value in it (1% at two figures: 35 cells per power of two). The cell of `x` comes from its
/// `f64` bits: the exponent is the power of two, and a table on the top bits of the fraction
/// gives the cell within it to one bound compare, since no table slot is wider than half a cell.
///
/// Every series of a family holds a clone (under 200 bytes; the tables are shared), so that
/// recording reads the plan without following another pointer.
#[derive(Debug, Clone)]
pub(crate) struct HistogramPlan {
    /// `1 / resolution`: multiplying is cheaper than dividing on the hot path.
    steps_per_unit: f64,
    /// The largest value recorded as itself.
    max_value: f64,
    /// The bits of the smallest value of at least one step (the low edge of cell 1).
    usual_low: u64,
    /// The bits of the largest value recorded as itself, less `usual_low`: a value's bits less
    /// `usual_low`, wrapping, are at most this exactly when it is usual (see
    /// [`usual_spot`](Self::usual_spot)).
    usual_span: u64,
    /// Cells per power of two.
    per_doubling: usize,
    /// How far a fraction is shifted to index `slots`.
    slot_shift: u32,
    /// The slots of the fraction's top bits: no slot is wider than half a cell, so one
    /// compare with its split finds the cell.
    slots: Arc<[Slot; SLOTS]>,
    /// For each cell within a power of two, and one past the last: the lowest fraction in it.
    starts: Arc<[u64]>,
    /// The number of cells: cell 0 and `per_doubling` for every power of two up to the maximum.
    cells: usize,
    /// With at most [`PAGE`] cells per power of two: `1 << page_shift` powers of two share a
    /// page.
    page_shift: u32,
    /// With more: the pages one power of two takes.
    pages_per_doubling: usize,
    /// The pages of the cells above cell 0; cell 0 has the page after them.
    pages: usize,
    /// For each cell, the first exported bucket its lowest value could fall in; a value moves
    /// up from there while it is above the bound. [`WHOLE_CELL`] is set when every value of the
    /// cell falls in that bucket, so that no bound need be compared.
    first_bucket: Arc<[u32]>,
    /// The cells that hold a bound, ascending.
    bound_cells: Arc<[BoundCell]>,
    /// For each place in the pages ([`Spot::place`]), the index in `bound_cells` of the
    /// cell counted there, or `u16::MAX` when it holds no bound (at most 1,000 bounds): a
    /// record finds its part from its spot in one load.
    bound_at: Arc<[u16]>,
    /// The exported bucket bounds, without `+Inf`.
    bounds: Arc<[f64]>,
    opts: Arc<HistogramOpts>,
}

/// Where a value falls within its power of two, which depends on the figures alone: made once
/// per figures and shared by every family with them (the slots are 16 KiB).
#[derive(Clone)]
struct CellTable {
    per_doubling: usize,
    slot_shift: u32,
    slots: Arc<[Slot; SLOTS]>,
    starts: Arc<[u64]>,
}

impl CellTable {
    /// The table of `figures` (1 to 3; others are taken as the nearest).
    fn of(figures: u8) -> Self {
        static TABLES: [OnceLock<CellTable>; 3] = [const { OnceLock::new() }; 3];
        let figures = figures.clamp(1, 3);
        TABLES[usize::from(figures - 1)]
            .get_or_init(|| Self::new(figures))
            .clone()
    }

    fn new(figures: u8) -> Self {
        let epsilon = 10f64.powi(-i32::from(figures));
        let per_doubling =
            (std::f64::consts::LN_2 / ((1.0 + epsilon) / (1.0 - epsilon)).ln()).ceil() as usize;
        let starts: Arc<[u64]> = (0..=per_doubling)
            .map(|j| match j {
                0 => 0,
                j if j == per_doubling => 1 << 52,
                j => ((2f64.powf(j as f64 / per_doubling as f64) - 1.0) * (1u64 << 52) as f64)
                    .ceil() as u64,
            })
            .collect();
        // A slot narrower than half the narrowest cell (the first, ln 2 / per_doubling wide
        // at least) holds at most one cell's start.
        let slot_bits = ((per_doubling as f64 / std::f64::consts::LN_2).log2().ceil() as u32) + 1;
        let slot_shift = 52 - slot_bits;
        let mut slots = Box::new([Slot::default(); SLOTS]);
        for (index, slot) in slots.iter_mut().enumerate().take(1 << slot_bits) {
            let lowest = (index as u64) << slot_shift;
            let cell = starts.partition_point(|&s| s <= lowest) - 1;
            let next = starts[cell + 1];
            *slot = Slot {
                split: match next < lowest + (1 << slot_shift) {
                    true => next,
                    false => u64::MAX,
                },
                cell: cell as u64,
            };
        }
        Self {
            per_doubling,
            slot_shift,
            slots: Arc::from(slots),
            starts,
        }
    }
}

impl HistogramPlan {
    /// The plan for `opts`, which must have passed [`HistogramOpts::validate`] (a positive
    /// resolution, a maximum of at least two steps, 1 to 3 figures).
    pub(crate) fn new(opts: HistogramOpts) -> Self {
        let CellTable {
            per_doubling,
            slot_shift,
            slots,
            starts,
        } = CellTable::of(opts.figures());
        // Rounded up if need be, so that the resolution itself is one step.
        let mut steps_per_unit = 1.0 / opts.resolution();
        if opts.resolution() * steps_per_unit < 1.0 {
            steps_per_unit = steps_per_unit.next_up();
        }
        let max_value = opts.max_value();
        let top = (max_value * steps_per_unit).max(1.0);
        let doublings = ((top.to_bits() >> 52) - 1023) as usize + 1;
        let page_shift = (PAGE / per_doubling).max(1).ilog2();
        let pages_per_doubling = per_doubling.div_ceil(PAGE);
        let pages = match per_doubling <= PAGE {
            true => doublings.div_ceil(1 << page_shift),
            false => doublings * pages_per_doubling,
        };
        let mut plan = Self {
            steps_per_unit,
            max_value,
            usual_low: 0,
            usual_span: 0,
            per_doubling,
            slot_shift,
            slots,
            starts,
            cells: 1 + doublings * per_doubling,
            page_shift,
            pages_per_doubling,
            pages,
            first_bucket: Arc::from([]),
            bound_cells: Arc::from([]),
            bound_at: Arc::from([]),
            bounds: opts.bucket_bounds().into(),
            opts: Arc::new(opts),
        };
        plan.first_bucket = (0..plan.cells)
            .map(|cell| {
                // A margin of a billionth either side covers any rounding in the edges.
                let low = plan.low(cell) * (1.0 - 1e-9);
                let high = plan.high(cell) * (1.0 + 1e-9);
                let first = plan.bounds.partition_point(|&b| b < low);
                let last = plan.bounds.partition_point(|&b| b < high);
                if first == last {
                    first as u32 | WHOLE_CELL
                } else {
                    first as u32
                }
            })
            .collect();
        let mut bound_cells = Vec::new();
        let mut first_part = 0;
        for cell in 0..plan.cells {
            if plan.holds_bound(cell) {
                let first_bucket = (plan.first_bucket[cell] & !WHOLE_CELL) as usize;
                let last = plan.bucket_of(plan.high(cell).next_down(), cell);
                let parts = last - first_bucket + 1;
                bound_cells.push(BoundCell {
                    cell,
                    first_bucket,
                    first_part,
                    parts,
                });
                first_part += parts;
            }
        }
        let mut bound_at = vec![u16::MAX; (plan.pages + 1) * PAGE];
        for (index, held) in bound_cells.iter().enumerate() {
            bound_at[plan.spot_of(held.cell).place()] =
                u16::try_from(index).expect("at most 1,000 bounds, so as many cells hold one");
        }
        plan.bound_cells = bound_cells.into();
        plan.bound_at = bound_at.into();
        plan.usual_low = plan.at_least(1.0).to_bits();
        plan.usual_span = plan.max_value.to_bits().wrapping_sub(plan.usual_low);
        plan
    }

    /// The options the family was registered with.
    pub(crate) fn opts(&self) -> &HistogramOpts {
        &self.opts
    }

    /// The largest value recorded as itself.
    #[inline]
    pub(super) fn max_value(&self) -> f64 {
        self.max_value
    }

    /// The number of cells.
    pub(super) fn cells(&self) -> usize {
        self.cells
    }

    /// The cells in one power of two.
    #[cfg(test)]
    pub(super) fn per_doubling(&self) -> usize {
        self.per_doubling
    }

    /// The exported bucket bounds, without `+Inf`.
    pub(super) fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// The cell of `value`, which must be between 0 and the maximum.
    #[inline]
    pub(super) fn cell_of(&self, value: f64) -> usize {
        let x = value * self.steps_per_unit;
        if x < 1.0 {
            return 0;
        }
        self.cell_of_steps(x)
    }

    /// Where `value` is counted when it is at least the resolution and at most the maximum, the
    /// usual case; `None` for any other value (below the resolution, above the maximum,
    /// negative or NaN), in one test.
    #[inline(always)]
    pub(super) fn usual_spot(&self, value: f64) -> Option<Spot> {
        let x = value * self.steps_per_unit;
        // The bits of a value order as the value when it is not negative; below the resolution
        // (+0 included) the difference wraps past the span, and so do a negative value's bits
        // (the sign bit set), NaN's and those of values above the maximum.
        match value.to_bits().wrapping_sub(self.usual_low) <= self.usual_span {
            true => {
                let (doubling, within) = self.doubling_and_within(x);
                Some(self.spot(doubling, within))
            }
            false => None,
        }
    }

    /// The power of two of `x` steps, at least 1, and its cell within it.
    #[inline(always)]
    fn doubling_and_within(&self, x: f64) -> (usize, usize) {
        let bits = x.to_bits();
        let doubling = (bits >> 52) - 1023;
        let fraction = bits & FRACTION;
        let slot = self.slots[(fraction >> self.slot_shift) as usize % SLOTS];
        let within = slot.cell + u64::from(fraction >= slot.split);
        (doubling as usize, within as usize)
    }

    /// The cell of `x` steps, at least 1.
    #[inline]
    fn cell_of_steps(&self, x: f64) -> usize {
        let (doubling, within) = self.doubling_and_within(x);
        1 + doubling * self.per_doubling + within
    }

    /// Where cell `within` of power of two `doubling` is counted.
    #[inline(always)]
    fn spot(&self, doubling: usize, within: usize) -> Spot {
        match self.per_doubling.cmp(&PAGE) {
            // Two figures: a page for each power of two.
            std::cmp::Ordering::Equal => Spot {
                page: doubling,
                offset: within,
            },
            std::cmp::Ordering::Less => Spot {
                page: doubling >> self.page_shift,
                offset: (doubling & ((1 << self.page_shift) - 1)) * self.per_doubling + within,
            },
            std::cmp::Ordering::Greater => Spot {
                page: doubling * self.pages_per_doubling + within / PAGE,
                offset: within % PAGE,
            },
        }
    }

    /// The cell counted at `spot`.
    pub(super) fn cell_at(&self, spot: Spot) -> usize {
        let per = self.per_doubling;
        let (doubling, within) = match per.cmp(&PAGE) {
            _ if spot.page == self.pages => return 0,
            std::cmp::Ordering::Equal => (spot.page, spot.offset),
            std::cmp::Ordering::Less => (
                (spot.page << self.page_shift) + spot.offset / per,
                spot.offset % per,
            ),
            std::cmp::Ordering::Greater => (
                spot.page / self.pages_per_doubling,
                (spot.page % self.pages_per_doubling) * PAGE + spot.offset,
            ),
        };
        1 + doubling * per + within
    }

    /// Where `cell` is counted.
    pub(super) fn spot_of(&self, cell: usize) -> Spot {
        match cell {
            0 => Spot {
                page: self.pages,
                offset: 0,
            },
            cell => self.spot(
                (cell - 1) / self.per_doubling,
                (cell - 1) % self.per_doubling,
            ),
        }
    }

    /// How many pages a shard's table has: the pages of the cells above cell 0, and cell 0's.
    pub(super) fn pages(&self) -> usize {
        self.pages + 1
    }

    /// The pages that keep the cells of `range` (not empty), in order.
    pub(super) fn pages_of(&self, range: Range<usize>) -> impl Iterator<Item = usize> {
        let below = (range.start == 0).then_some(self.pages);
        let first = self.spot_of(range.start.max(1)).page;
        let last = match range.end > 1 {
            true => self.spot_of(range.end - 1).page + 1,
            false => first,
        };
        below.into_iter().chain(first..last)
    }

    /// The runs of cells page `page` keeps, in order.
    pub(super) fn runs(&self, page: usize) -> impl Iterator<Item = Run> + '_ {
        let per = self.per_doubling;
        // The powers of two the cells above cell 0 span.
        let doublings = (self.cells - 1) / per;
        let (first, count, within, len) = match (page == self.pages, per <= PAGE) {
            (true, _) => (0, 0, 0, 0),
            (false, true) => (page << self.page_shift, 1 << self.page_shift, 0, per),
            (false, false) => {
                let within = (page % self.pages_per_doubling) * PAGE;
                (
                    page / self.pages_per_doubling,
                    1,
                    within,
                    PAGE.min(per - within),
                )
            }
        };
        let below = (page == self.pages).then_some(Run {
            cell: 0,
            offset: 0,
            len: 1,
        });
        let above =
            (first..(first + count).min(doublings))
                .enumerate()
                .map(move |(i, doubling)| Run {
                    cell: 1 + doubling * per + within,
                    offset: i * per,
                    len,
                });
        below.into_iter().chain(above)
    }

    /// The exported bucket of `value`, in `cell`: the first whose bound is not below it.
    #[inline]
    pub(super) fn bucket_of(&self, value: f64, cell: usize) -> usize {
        let first = self.first_bucket[cell];
        let mut bucket = (first & !WHOLE_CELL) as usize;
        if first & WHOLE_CELL == 0 {
            while bucket < self.bounds.len() && value > self.bounds[bucket] {
                bucket += 1;
            }
        }
        bucket
    }

    /// Whether an exported bound lies within `cell`, so that its values are counted in parts
    /// by bucket (the cell's count in a page is then a mark).
    #[inline]
    pub(super) fn holds_bound(&self, cell: usize) -> bool {
        self.first_bucket[cell] & WHOLE_CELL == 0
    }

    /// The exported bucket of every value of `cell`, or `None` when a bound lies within it.
    #[inline]
    pub(super) fn whole_bucket(&self, cell: usize) -> Option<usize> {
        let first = self.first_bucket[cell];
        (first & WHOLE_CELL != 0).then_some((first & !WHOLE_CELL) as usize)
    }

    /// How many parts a shard keeps: one for each bucket each cell that holds a bound reaches.
    pub(super) fn parts(&self) -> usize {
        self.bound_cells
            .last()
            .map_or(0, |last| last.first_part + last.parts)
    }

    /// The part that counts `value`, at `spot`, when its cell holds a bound; `None` when it
    /// holds none. The bounds within the cell are the first `parts - 1` from its first bucket
    /// (the highest value of the cell falls in its last part), so counting those below
    /// `value` is [`bucket_of`](Self::bucket_of) without the cell.
    #[inline(always)]
    pub(super) fn bound_part(&self, spot: Spot, value: f64) -> Option<usize> {
        let at = *self.bound_at.get(spot.place())?;
        let held = self.bound_cells.get(usize::from(at))?;
        let within = self
            .bounds
            .get(held.first_bucket..held.first_bucket + held.parts - 1)
            .unwrap_or_default();
        Some(held.first_part + within.iter().filter(|&&bound| value > bound).count())
    }

    /// The exported bucket of each part, in the parts' order.
    pub(super) fn part_buckets(&self) -> impl Iterator<Item = usize> + '_ {
        self.bound_cells
            .iter()
            .flat_map(|held| held.first_bucket..held.first_bucket + held.parts)
    }

    /// The cells within `range` that hold a bound, each with its parts.
    pub(super) fn bound_cells(
        &self,
        range: Range<usize>,
    ) -> impl Iterator<Item = (usize, Range<usize>)> + '_ {
        let from = self.bound_cells.partition_point(|b| b.cell < range.start);
        self.bound_cells[from..]
            .iter()
            .take_while(move |held| held.cell < range.end)
            .map(|held| (held.cell, held.first_part..held.first_part + held.parts))
    }

    /// The lowest value `cell` holds.
    pub(super) fn low(&self, cell: usize) -> f64 {
        match cell {
            0 => 0.0,
            cell => self.edge(
                (cell - 1) / self.per_doubling,
                (cell - 1) % self.per_doubling,
            ),
        }
    }

    /// The value just above every value `cell` holds.
    pub(super) fn high(&self, cell: usize) -> f64 {
        match cell {
            0 => self.at_least(1.0),
            cell => self.edge(cell / self.per_doubling, cell % self.per_doubling),
        }
    }

    /// The start of cell `within` of power of two `doubling`, as a value: the smallest value
    /// that [`cell_of`](Self::cell_of) takes to that cell or above, whichever way dividing by
    /// the steps per unit rounds.
    fn edge(&self, doubling: usize, within: usize) -> f64 {
        let x = f64::from_bits(((doubling as u64 + 1023) << 52) | self.starts[within]);
        self.at_least(x)
    }

    /// The smallest value whose steps are at least `x`.
    fn at_least(&self, x: f64) -> f64 {
        let mut value = x / self.steps_per_unit;
        while value * self.steps_per_unit < x {
            value = value.next_up();
        }
        while value > 0.0 && value.next_down() * self.steps_per_unit >= x {
            value = value.next_down();
        }
        value
    }

    /// What a quantile falling in `cell` reports: the value nearest, in ratio, to every value
    /// the cell holds (half the resolution for cell 0).
    pub(super) fn value_of(&self, cell: usize) -> f64 {
        let (low, high) = (self.low(cell), self.high(cell));
        match cell {
            0 => high / 2.0,
            _ => 2.0 * low * high / (low + high),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_cell_has_one_place_and_the_pages_list_it_once() {
        for figures in 1..=3 {
            let plan = HistogramPlan::new(HistogramOpts::latency().significant_figures(figures));
            let mut listed = vec![None; plan.cells()];
            let mut places = HashSet::new();
            for page in 0..plan.pages() {
                for run in plan.runs(page) {
                    assert!(
                        run.offset + run.len <= PAGE,
                        "{figures} figures, page {page}"
                    );
                    for i in 0..run.len {
                        let place = (page, run.offset + i);
                        assert!(places.insert(place), "{place:?} holds two cells");
                        let earlier = listed[run.cell + i].replace(place);
                        assert!(earlier.is_none(), "cell {} listed twice", run.cell + i);
                    }
                }
            }
            for (cell, place) in listed.into_iter().enumerate() {
                let spot = plan.spot_of(cell);
                assert_eq!(Some((spot.page, spot.offset)), place, "cell {cell}");
                assert_eq!(plan.cell_at(spot), cell);
            }
            let (lowest, highest) = (plan.low(1), plan.max_value());
            for value in [lowest, 1e-9, 3.3e-7, 0.004_999, 0.005, 1.0, 3599.9, highest] {
                let usual = plan.usual_spot(value);
                assert_eq!(usual, Some(plan.spot_of(plan.cell_of(value))), "{value}");
            }
            let (below, above) = (lowest.next_down(), highest.next_up());
            for unusual in [
                0.0,
                -0.0,
                below,
                0.5e-9,
                -1.0,
                f64::NAN,
                f64::INFINITY,
                above,
            ] {
                assert_eq!(plan.usual_spot(unusual), None, "{unusual}");
            }
        }
    }

    #[test]
    fn a_value_of_a_cell_that_holds_a_bound_counts_in_its_buckets_part() {
        for figures in 1..=3 {
            let opts = HistogramOpts::latency().significant_figures(figures);
            // Close bounds, so that some cells hold two.
            let plan = HistogramPlan::new(opts.buckets(vec![0.001, 0.00125, 0.0013, 0.5, 7.0]));
            let buckets: Vec<usize> = plan.part_buckets().collect();
            let mut held = 0;
            for cell in 0..plan.cells() {
                let spot = plan.spot_of(cell);
                let (low, high) = (plan.low(cell), plan.high(cell).next_down());
                let Some((_, own)) = plan.bound_cells(cell..cell + 1).next() else {
                    assert_eq!(plan.bound_part(spot, low), None, "cell {cell}");
                    continue;
                };
                held += 1;
                let mut values = vec![low, high];
                for &bound in plan.bounds.iter().filter(|&&b| low <= b && b <= high) {
                    values.extend([bound.next_down(), bound, bound.next_up()]);
                }
                for value in values.into_iter().filter(|&v| low <= v && v <= high) {
                    let part = plan
                        .bound_part(spot, value)
                        .expect("the cell holds a bound");
                    let at = format!("{figures} figures, cell {cell}, {value}");
                    assert!(own.contains(&part), "{at}: part {part} not in {own:?}");
                    assert_eq!(buckets[part], plan.bucket_of(value, cell), "{at}");
                }
            }
            assert!(held >= 4, "{figures} figures: {held} cells hold a bound");
        }
    }

    #[test]
    fn every_value_lands_in_the_cell_whose_edges_hold_it() {
        for figures in 1..=3 {
            let plan = HistogramPlan::new(HistogramOpts::latency().significant_figures(figures));
            let epsilon = 10f64.powi(-i32::from(figures));
            // Every cell's edges, and values just either side of them.
            for cell in 1..plan.cells() {
                let (low, high) = (plan.low(cell), plan.high(cell));
                assert!(low < high, "cell {cell}: {low} .. {high}");
                if low > plan.max_value() {
                    break;
                }
                assert_eq!(plan.cell_of(low), cell, "the low edge of cell {cell}");
                let below = f64::from_bits(high.to_bits() - 1);
                if below <= plan.max_value() {
                    assert_eq!(plan.cell_of(below), cell, "just below cell {cell}'s top");
                }
                let value = plan.value_of(cell);
                for v in [low, below.min(plan.max_value())] {
                    assert!(
                        (value - v).abs() <= v * epsilon,
                        "cell {cell} reports {value} for {v}, beyond {epsilon}"
                    );
                }
            }
            assert!(plan.cell_of(plan.max_value()) < plan.cells());
            assert_eq!(plan.cell_of(0.0), 0);
            assert_eq!(plan.cell_of(0.99e-9), 0);
            assert_eq!(plan.cell_of(1e-9), 1);
        }
        let plan = HistogramPlan::new(HistogramOpts::latency());
        assert_eq!(
            plan.pages(),
            43,
            "two figures: a page per power of two, and cell 0's"
        );
        assert_eq!(
            plan.per_doubling(),
            35,
            "two figures: 35 cells per power of two"
        );
        assert_eq!(plan.cells(), 1 + 42 * 35, "1 ns to 1 h: 42 powers of two");
    }
}
