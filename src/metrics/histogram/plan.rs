//! Module implementing a histogram family's plan: the cell a value falls in, the values a
//! cell holds, and the exported bucket it counts in. See [`HistogramPlan`].

use std::sync::{Arc, OnceLock};

use crate::metrics::histogram_opts::HistogramOpts;

/// Marks a cell that lies inside one exported bucket, in [`HistogramPlan::first_bucket`].
const WHOLE_CELL: u32 = 1 << 31;

/// The bits of an `f64`'s fraction.
const FRACTION: u64 = (1 << 52) - 1;

/// The most slots of the fraction's top bits (10 bits, enough for three figures' 347 cells
/// per power of two); a fixed size, so that indexing needs no bounds check.
const SLOTS: usize = 1 << 10;

/// One slot of the fraction's top bits: the cell its lowest fraction falls in, counted from
/// the top of cell 0, and where the next cell starts if it starts inside the slot.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    split: u64,
    cell: u64,
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
/// Every series of a family holds a clone (about a hundred bytes; the tables are shared), so
/// that recording reads the plan without following another pointer.
#[derive(Debug, Clone)]
pub(crate) struct HistogramPlan {
    /// `1 / resolution`: multiplying is cheaper than dividing on the hot path.
    steps_per_unit: f64,
    /// The largest value recorded as itself.
    max_value: f64,
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
    /// For each cell, the first exported bucket its lowest value could fall in; a value moves
    /// up from there while it is above the bound. [`WHOLE_CELL`] is set when every value of the
    /// cell falls in that bucket, so that no bound need be compared.
    first_bucket: Arc<[u32]>,
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
                cell: cell as u64 + 1,
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
        let mut plan = Self {
            steps_per_unit,
            max_value,
            per_doubling,
            slot_shift,
            slots,
            starts,
            cells: 1 + doublings * per_doubling,
            first_bucket: Arc::from([]),
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
        let bits = x.to_bits();
        let doubling = (bits >> 52) - 1023;
        let fraction = bits & FRACTION;
        let slot = self.slots[(fraction >> self.slot_shift) as usize % SLOTS];
        let cell = slot.cell + u64::from(fraction >= slot.split);
        (doubling * self.per_doubling as u64 + cell) as usize
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
            plan.per_doubling(),
            35,
            "two figures: 35 cells per power of two"
        );
        assert_eq!(plan.cells(), 1 + 42 * 35, "1 ns to 1 h: 42 powers of two");
    }
}
