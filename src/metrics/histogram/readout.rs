//! Module implementing the read-out of a histogram's cells: their counts over a range, and
//! the quantile walk every figure this crate reports goes through. See [`Cells`].

use std::ops::Range;

use super::plan::HistogramPlan;
use crate::metrics::snapshot::normalized;

/// Per-cell counts read out of the shards (or a mark, or a merge), kept to be reused.
#[derive(Debug, Default, Clone)]
pub(crate) struct Cells {
    /// The counts of the cells in `range`, from its start: the cells outside it are empty.
    pub(super) counts: Vec<u64>,
    pub(super) range: Range<usize>,
}

impl Cells {
    /// How many values the cells hold.
    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().copied().fold(0, u64::wrapping_add)
    }

    /// The first and last cells holding a value, or `None` when all are empty.
    pub(super) fn occupied(&self) -> Option<(usize, usize)> {
        let first = self.counts.iter().position(|&c| c != 0)?;
        let last = self.counts.iter().rposition(|&c| c != 0)?;
        Some((self.range.start + first, self.range.start + last))
    }

    /// How many values `cell` holds.
    #[cfg(test)]
    pub(super) fn count_at(&self, cell: usize) -> u64 {
        match self.range.contains(&cell) {
            true => self.counts[cell - self.range.start],
            false => 0,
        }
    }

    /// Adds `other`'s counts to these, widening the range as needed.
    pub(crate) fn add(&mut self, other: &Cells) {
        if other.range.is_empty() {
            return;
        }
        if self.range.is_empty() {
            self.counts.clear();
            self.counts.extend_from_slice(&other.counts);
            self.range = other.range.clone();
            return;
        }
        let range = self.range.start.min(other.range.start)..self.range.end.max(other.range.end);
        if range != self.range {
            let mut counts = vec![0; range.len()];
            let at = self.range.start - range.start;
            counts[at..at + self.counts.len()].copy_from_slice(&self.counts);
            self.counts = counts;
            self.range = range.clone();
        }
        let at = other.range.start - range.start;
        for (total, count) in self.counts[at..].iter_mut().zip(&other.counts) {
            *total = total.wrapping_add(*count);
        }
    }

    /// The value at each of `quantiles` (ascending) of the non-empty cells, whose exact
    /// extremes are `min` and `max`: the cell where the running count first reaches
    /// `ceil(q · total)` (at least 1), as hdrhistogram's `value_at_quantiles` walks its cells, reported
    /// as the plan's value for it, kept within the extremes.
    pub(crate) fn quantiles(
        &self,
        plan: &HistogramPlan,
        quantiles: &[f64],
        min: f64,
        max: f64,
    ) -> Vec<f64> {
        let total = self.total();
        let Some((first, last)) = self.occupied() else {
            return vec![0.0; quantiles.len()];
        };
        // A run of cells that leaves the count short of the target holds no answer, so runs
        // of CHUNK cells are skipped on their sum, which the compiler vectorises, and only the
        // last run is walked cell by cell.
        const CHUNK: usize = 16;
        let live = &self.counts[first - self.range.start..=last - self.range.start];
        // `live[..added]` is counted in `running`; the answer so far is `live[cell]`.
        let (mut added, mut running, mut cell) = (0usize, 0u64, 0usize);
        quantiles
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
                plan.value_of(first + cell).clamp(min, max)
            })
            .collect()
    }
}

/// A read-out: cells with the exact sum, minimum and maximum of what they hold.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) cells: Cells,
    pub(crate) sum: f64,
    /// `+inf` while empty.
    pub(crate) min: f64,
    /// `-inf` while empty.
    pub(crate) max: f64,
}

impl Default for Part {
    fn default() -> Self {
        Self {
            cells: Cells::default(),
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(start: usize, counts: &[u64]) -> Cells {
        Cells {
            counts: counts.to_vec(),
            range: start..start + counts.len(),
        }
    }

    #[test]
    fn adding_widens_the_range_either_way() {
        let mut a = cells(5, &[1, 2]);
        a.add(&cells(2, &[4]));
        a.add(&cells(6, &[1, 0, 0, 3]));
        assert_eq!(
            (a.range.clone(), a.counts.clone()),
            (2..10, vec![4, 0, 0, 1, 3, 0, 0, 3])
        );
        let mut empty = Cells::default();
        empty.add(&a);
        assert_eq!(empty.total(), 11);
        assert_eq!(empty.occupied(), Some((2, 9)));
        assert_eq!(empty.count_at(6), 3);
        assert_eq!(empty.count_at(1), 0);
    }
}
