//! Module mapping values to hdrhistogram's cells. See [`Layout`] for details.

use super::histogram::Hdr;

/// Where an `hdrhistogram::Histogram::new_with_bounds(1, high, figures)` puts a value: the
/// index of its cell in the histogram's counts, and back.
///
/// hdrhistogram keeps this private, and its counters are plain integers behind `&mut`. Our
/// shards count in arrays of atomics instead, so that a thread records with no lock; with the
/// same layout, each cell's count moves into an `Hdr` with `record_n` at [`value_at`], losing
/// nothing, and every quantile is still computed by hdrhistogram. The unit tests check the
/// layout against hdrhistogram's own `lowest_equivalent` for every cell.
///
/// [`value_at`]: Self::value_at
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// log2 of half the cells per power of two.
    half_magnitude: u32,
    /// Half the cells per power of two.
    half_count: u64,
    /// Values below this many steps all land in the first power of two, one step per cell.
    sub_bucket_mask: u64,
    /// 64 minus log2 of the cells per power of two.
    leading_zero_base: u32,
    /// The number of cells, as `Hdr::distinct_values` reports it.
    len: usize,
}

impl Layout {
    /// The layout of `hist`, which must have been made with a lowest discernible value of 1.
    pub(crate) fn of(hist: &Hdr) -> Self {
        // As in hdrhistogram's `new_with_bounds`: one step per cell up to 2 * 10^figures,
        // rounded up to a power of two.
        let largest_exact = 2 * 10u32.pow(u32::from(hist.sigfig()));
        let magnitude = f64::from(largest_exact).log2().ceil() as u32;
        Self {
            half_magnitude: magnitude - 1,
            half_count: 1 << (magnitude - 1),
            sub_bucket_mask: (1 << magnitude) - 1,
            leading_zero_base: 64 - magnitude,
            len: hist.distinct_values(),
        }
    }

    /// The number of cells.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The cell of `steps`, which must be within the histogram's highest trackable value.
    #[inline]
    pub(crate) fn index_of(&self, steps: u64) -> usize {
        let bucket = self.leading_zero_base - (steps | self.sub_bucket_mask).leading_zeros();
        let sub_bucket = steps >> bucket;
        (((u64::from(bucket) + 1) << self.half_magnitude) + sub_bucket - self.half_count) as usize
    }

    /// The lowest value in steps that lands in cell `index`.
    pub(crate) fn value_at(&self, index: usize) -> u64 {
        let index = index as u64;
        let bucket = (index >> self.half_magnitude).saturating_sub(1);
        let mut sub_bucket = (index & (self.half_count - 1)) + self.half_count;
        if index < self.half_count {
            sub_bucket -= self.half_count;
        }
        sub_bucket << bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(high: u64, figures: u8) {
        let hist = Hdr::new_with_bounds(1, high, figures).unwrap();
        let layout = Layout::of(&hist);
        assert_eq!(layout.len(), hist.distinct_values());
        let mut cells_seen = 0;
        let mut previous = None;
        for index in 0..layout.len() {
            let low = layout.value_at(index);
            if low > high {
                break; // cells past the highest trackable value are never written
            }
            cells_seen += 1;
            assert_eq!(
                hist.lowest_equivalent(low),
                low,
                "cell {index} starts at {low}"
            );
            assert_eq!(layout.index_of(low), index, "value {low}");
            let top = hist.highest_equivalent(low).min(high);
            assert_eq!(layout.index_of(top), index, "value {top}, cell {index}");
            if let Some(p) = previous {
                assert!(low > p, "cells ascend: {p} then {low}");
            }
            previous = Some(low);
        }
        assert!(cells_seen > 0);
        assert!(
            layout.index_of(high) < layout.len(),
            "the highest value has a cell"
        );
        // Counts moved in at a cell's lowest value land back in that cell.
        let mut moved = Hdr::new_from(&hist);
        moved.record_n(layout.value_at(5), 3).unwrap();
        assert_eq!(moved.count_at(layout.value_at(5)), 3);
    }

    #[test]
    fn matches_hdrhistogram_for_the_latency_and_values_defaults() {
        check(3_600_000_000_000, 2); // 1 ns steps up to 1 h
        check(1_000_000_000_000_000, 2); // 0.001 steps up to 1e12
    }

    #[test]
    fn matches_hdrhistogram_for_every_precision() {
        for figures in 1..=5 {
            check(1 << 40, figures);
        }
        check(2, 2);
        check((1 << 62) + 1, 3);
    }
}
