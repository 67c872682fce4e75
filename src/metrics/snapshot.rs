//! Module implementing the read-out of a histogram. See [`HistogramSnapshot`] for details.

use std::fmt;

use super::histogram::{Cells, HistogramPlan, Part};

/// A histogram read out at one moment: count, exact sum, min, max, mean and quantiles.
///
/// All values are in the family's unit (seconds for latencies). Quantiles are within the
/// histogram's precision (1% with the default two significant figures) of the true sample
/// quantile (or within the resolution, below it), and always between `min` and `max`. An empty snapshot has `count == 0` and every
/// other field `0.0`.
///
/// # Examples
///
/// ```
/// # let registry = kotoba_monitoring::Registry::new();
/// let h = registry.histogram("op_seconds", "Operation time.", &[])?;
/// for i in 1..=1000 {
///     h.observe(i as f64 / 1000.0);
/// }
/// let s = h.snapshot();
/// assert_eq!((s.count, s.min, s.max), (1000, 0.001, 1.0));
/// assert!((s.mean - 0.5005).abs() < 1e-12);
/// assert!((s.p95 - 0.95).abs() <= 0.95 * 0.01);
/// assert!((s.quantile(0.25) - 0.25).abs() <= 0.25 * 0.01);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Clone)]
pub struct HistogramSnapshot {
    /// Values recorded.
    pub count: u64,
    /// Exact sum of the values recorded (clamped values count as the maximum).
    pub sum: f64,
    /// Smallest value recorded, exact.
    pub min: f64,
    /// Largest value recorded, exact.
    pub max: f64,
    /// `sum / count`.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// The cells read out, for other quantiles.
    cells: Cells,
    /// The family's plan, which says what value a cell reports.
    plan: HistogramPlan,
}

/// The quantiles a snapshot reports in its fields.
const FIELDS: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

impl HistogramSnapshot {
    pub(crate) fn new(part: Part, plan: HistogramPlan) -> Self {
        let count = part.cells.total();
        let mut s = Self {
            count,
            sum: if count == 0 { 0.0 } else { part.sum },
            min: if count == 0 { 0.0 } else { part.min },
            max: if count == 0 { 0.0 } else { part.max },
            mean: if count == 0 {
                0.0
            } else {
                part.sum / count as f64
            },
            p50: 0.0,
            p90: 0.0,
            p95: 0.0,
            p99: 0.0,
            p999: 0.0,
            cells: part.cells,
            plan,
        };
        if count > 0 {
            let q = s.cells.quantiles(&s.plan, &FIELDS, s.min, s.max);
            (s.p50, s.p90, s.p95, s.p99, s.p999) = (q[0], q[1], q[2], q[3], q[4]);
        }
        s
    }

    /// The value at quantile `q` (0.0..=1.0, clamped): the smallest recorded value that at least
    /// `q` of all values are less than or equal to, within the histogram's precision.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.cells.quantiles(&self.plan, &[q], self.min, self.max)[0]
    }

    /// The snapshot of every value in `snapshots`, which must come from histograms with the same
    /// options (one family); `None` when there are none.
    pub(crate) fn merge(snapshots: &[HistogramSnapshot]) -> Option<HistogramSnapshot> {
        let first = snapshots.first()?;
        let mut part = Part::default();
        for s in snapshots.iter().filter(|s| s.count > 0) {
            part.cells.add(&s.cells);
            part.sum += s.sum;
            part.min = part.min.min(s.min);
            part.max = part.max.max(s.max);
        }
        Some(HistogramSnapshot::new(part, first.plan.clone()))
    }
}

/// `q` within 0..=1; NaN asks for the median.
pub(crate) fn normalized(q: f64) -> f64 {
    if q.is_nan() {
        0.5
    } else {
        q.clamp(0.0, 1.0)
    }
}

impl fmt::Debug for HistogramSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistogramSnapshot")
            .field("count", &self.count)
            .field("sum", &self.sum)
            .field("min", &self.min)
            .field("max", &self.max)
            .field("mean", &self.mean)
            .field("p50", &self.p50)
            .field("p90", &self.p90)
            .field("p95", &self.p95)
            .field("p99", &self.p99)
            .field("p999", &self.p999)
            .finish()
    }
}
