//! Module implementing the options of a histogram family. See [`HistogramOpts`] for details.

use std::time::Duration;

use crate::MonitoringError;

/// How a histogram family stores its values: range, precision, the recent window, and the
/// bucket bounds it is exported with.
///
/// Values are counted in cells of equal ratio above `resolution` (and one cell below it). With
/// the default two significant figures a power of two has 35 cells, and the value a cell
/// reports is within 1% of every value in it, so a reported quantile is within 1% of the true
/// sample quantile (within `resolution` below it). Values above `max` are recorded as `max` and
/// counted in `kotoba_monitoring_values_clamped_total`.
///
/// # Memory
///
/// Cells count in 15 bits of a 16-bit word, with a high half made for a page the first time one
/// of its counts passes 2^15 (and a spill made the first time a count passes 2^31), and are
/// kept in pages of 35, each made at the first value any of its cells gets, so a series pays
/// for the range its values span: 80 bytes per power of two at two significant figures, 152
/// once a count in it has passed 2^15 (80 per eight powers of two at one figure, 800 per power
/// of two at three). The [`latency`](Self::latency) defaults span 1 ns to one hour, 42 powers
/// of two, 3.3 KiB whole (6.2 KiB once every count has passed 2^15). Each thread slot that
/// records into a series (owned slots: the core count rounded up to a power of two, at most 8;
/// and one shared) makes, at its first value, its page table (8 bytes a page) and a count for
/// each exported bucket a cell holding a bound reaches (the other buckets are read off the
/// cells).
///
/// Recording therefore allocates twice per slot and series (at the slot's first value: its
/// page table and its bound cells' counts) and once or twice per page (at the first value in
/// it, and at its first count past 2^15), and never after. A latency series one thread
/// records over three decades takes about 2.7 KB, and 1.9 KB with one value.
///
/// The recent window keeps, for the cells between the smallest and largest values seen, the
/// 32-bit totals at the last slice's end (4 bytes a cell), and for each slice still in the
/// window what it added, as varints over the cells between the first and last it added to (a
/// byte a cell, two for a cell given 128 values or more in the slice): a series whose window
/// holds 1,024 values over four decades takes about 4.2 KB in all. The worst case, values over
/// the whole latency range in every slice from 8 threads on 8 cores, is 8 shards of 4 KB
/// (6.9 KB once every count has passed 2^15), 5.9 KB of totals and 1.5 KB a slice: about
/// 44 KiB (66 KiB; a byte more per cell and slice where cells get 128 values a slice or
/// more). The `hot_path` and `scale` benchmarks print the
/// measured figures.
///
/// # Exported buckets
///
/// The cells keep every value, so the `_bucket{le}` bounds Prometheus sees are only a
/// view, chosen per family with [`buckets`](Self::buckets) and changeable without losing data.
/// [`latency`](Self::latency) families default to [`LATENCY_BUCKETS`] (100 µs to 10 s, the
/// range of database queries); other families to one bucket per power of ten from the
/// resolution to the maximum. Each value is compared with the bounds exactly.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use kotoba_monitoring::HistogramOpts;
///
/// // Sizes in bytes, 1 byte to 1 TiB, to within 1%, with a 5-minute window.
/// let opts = HistogramOpts::new(1.0, (1u64 << 40) as f64).window(Duration::from_secs(300));
/// assert_eq!(opts.max_value(), 1_099_511_627_776.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramOpts {
    resolution: f64,
    max: f64,
    significant_figures: u8,
    window: Duration,
    window_slices: u32,
    buckets: Vec<f64>,
}

/// The default exported bucket bounds of latency histograms, in seconds: 100 µs to 10 s in
/// 1-2.5-5 steps, which resolves both a cached point read and a slow scan.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The most significant figures a histogram may keep.
const MAX_FIGURES: u8 = 3;

/// The most slices a histogram's window may be kept in.
const MAX_WINDOW_SLICES: u32 = 64;

/// The most exported bucket bounds a histogram family may have.
const MAX_BUCKETS: usize = 1000;

impl HistogramOpts {
    /// Values from `resolution` up to `max`, in the metric's unit, exported with one bucket per
    /// power of ten between them.
    pub fn new(resolution: f64, max: f64) -> Self {
        Self {
            resolution,
            max,
            buckets: decades(resolution, max),
            ..Self::latency()
        }
    }

    /// Latencies in seconds: 1 ns resolution up to one hour. Families whose name ends in
    /// `_seconds` get these by default.
    pub fn latency() -> Self {
        Self {
            resolution: 1e-9,
            max: 3600.0,
            significant_figures: 2,
            window: Duration::from_secs(60),
            window_slices: 4,
            buckets: LATENCY_BUCKETS.to_vec(),
        }
    }

    /// Any other non-negative value: resolution 0.001 up to 10¹². Families whose name does not
    /// end in `_seconds` get these by default.
    pub fn values() -> Self {
        Self::new(1e-3, 1e12)
    }

    /// Significant decimal figures kept for every value, 1 to 3 (0 is taken as 1): a reported
    /// value is within 10%, 1% or 0.1% of the values it stands for. Each one multiplies a
    /// histogram's memory by about ten (140 bytes per power of two a series' values span at 2,
    /// 1.4 KiB at 3), so more than 3 is refused when the family is registered. Defaults to `2`
    /// (1%).
    pub fn significant_figures(mut self, figures: u8) -> Self {
        self.significant_figures = figures.max(1);
        self
    }

    /// The length of the recent window that [`Histogram::window_snapshot`] covers.
    /// Defaults to 60 seconds.
    ///
    /// [`Histogram::window_snapshot`]: crate::Histogram::window_snapshot
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How many slices the window is kept in, at least 1. The window moves a slice at a time, so
    /// a snapshot covers between `window` and `window + window / slices` (plus the moment a
    /// slice waits to be closed: at most a sixteenth of a slice while a collector runs). Each slice keeps
    /// what it added to the cells between the smallest and largest values recorded (see the
    /// type's memory notes), so more than 64 is refused when the family is registered. Defaults to
    /// `4`.
    pub fn window_slices(mut self, slices: u32) -> Self {
        self.window_slices = slices.max(1);
        self
    }

    /// The upper bounds of the exported `_bucket{le}` series, strictly increasing, at most
    /// 1,000; `+Inf` is always added and may be left out here. Checked when the family is
    /// registered.
    ///
    /// # Examples
    ///
    /// ```
    /// # let registry = kotoba_monitoring::Registry::new();
    /// use kotoba_monitoring::HistogramOpts;
    ///
    /// let opts = HistogramOpts::latency().buckets([0.001, 0.01, 0.1, 1.0]);
    /// let scans = registry.histogram_family_with("scan_seconds", "Scan time.", opts)?;
    /// assert!(registry
    ///     .histogram_family_with("bad_seconds", "x", HistogramOpts::latency().buckets([1.0, 0.5]))
    ///     .is_err());
    /// # Ok::<(), kotoba_monitoring::MonitoringError>(())
    /// ```
    pub fn buckets(mut self, bounds: impl Into<Vec<f64>>) -> Self {
        let mut bounds = bounds.into();
        if bounds.last() == Some(&f64::INFINITY) {
            bounds.pop();
        }
        self.buckets = bounds;
        self
    }

    /// The exported bucket bounds, without `+Inf`.
    pub fn bucket_bounds(&self) -> &[f64] {
        &self.buckets
    }

    /// The smallest step between recorded values.
    pub fn resolution(&self) -> f64 {
        self.resolution
    }

    /// The largest value recorded as itself.
    pub fn max_value(&self) -> f64 {
        self.max
    }

    /// The significant figures kept.
    pub fn figures(&self) -> u8 {
        self.significant_figures
    }

    /// The recent window.
    pub fn window_len(&self) -> Duration {
        self.window
    }

    /// The number of window slices.
    pub fn slices(&self) -> u32 {
        self.window_slices
    }

    /// The length of one window slice.
    pub(crate) fn slice_len(&self) -> Duration {
        self.window / self.window_slices
    }

    /// Checks the options for `metric`.
    pub(crate) fn validate(&self, metric: &str) -> Result<(), MonitoringError> {
        let field = |name: &str| format!("histogram options of {metric}: {name}");
        if !(self.resolution.is_finite() && self.resolution > 0.0) {
            return Err(MonitoringError::config(
                field("resolution"),
                format!("{} is not a positive finite number", self.resolution),
            ));
        }
        if !(self.max.is_finite() && self.max >= 2.0 * self.resolution) {
            return Err(MonitoringError::config(
                field("max"),
                format!(
                    "{} must be finite and at least twice the resolution {}",
                    self.max, self.resolution
                ),
            ));
        }
        if self.max / self.resolution > (1u64 << 62) as f64 {
            return Err(MonitoringError::config(
                field("max"),
                "max / resolution exceeds 2^62 steps; raise the resolution or lower max",
            ));
        }
        if self.significant_figures > MAX_FIGURES {
            return Err(MonitoringError::config(
                field("significant_figures"),
                format!(
                    "{} is more than the {MAX_FIGURES} allowed; each figure multiplies the memory of every series by ten (2 keeps values within 1%)",
                    self.significant_figures
                ),
            ));
        }
        if self.window_slices > MAX_WINDOW_SLICES {
            return Err(MonitoringError::config(
                field("window_slices"),
                format!(
                    "{} is more than the {MAX_WINDOW_SLICES} allowed; every slice keeps what it added to the counts, and 4 already keep the window within a quarter of its length",
                    self.window_slices
                ),
            ));
        }
        if self.window.is_zero() {
            return Err(MonitoringError::config(
                field("window"),
                "the recent window must be longer than zero, for example 60s",
            ));
        }
        if self.buckets.is_empty() {
            return Err(MonitoringError::config(
                field("buckets"),
                "give at least one finite upper bound; +Inf is added by itself",
            ));
        }
        if self.buckets.len() > MAX_BUCKETS {
            return Err(MonitoringError::config(
                field("buckets"),
                format!(
                    "{} bounds is more than the {MAX_BUCKETS} allowed; every bound is a series in every scrape, so keep a few dozen",
                    self.buckets.len()
                ),
            ));
        }
        if let Some(bad) = self.buckets.iter().find(|b| !b.is_finite()) {
            return Err(MonitoringError::config(
                field("buckets"),
                format!("{bad} is not a finite bound; +Inf is added by itself, only last"),
            ));
        }
        if let Some(pair) = self.buckets.windows(2).find(|w| w[0] >= w[1]) {
            return Err(MonitoringError::config(
                field("buckets"),
                format!(
                    "bounds must strictly increase, but {} is followed by {}",
                    pair[0], pair[1]
                ),
            ));
        }
        Ok(())
    }
}

impl Default for HistogramOpts {
    /// The [`latency`](Self::latency) options.
    fn default() -> Self {
        Self::latency()
    }
}

/// One bound per power of ten from `resolution` (rounded up) to `max`.
fn decades(resolution: f64, max: f64) -> Vec<f64> {
    if !(resolution.is_finite() && resolution > 0.0 && max.is_finite() && max > resolution) {
        // `validate` reports the range itself; keep a bound so that only one error shows.
        return vec![1.0];
    }
    let first = resolution.log10().ceil() as i32;
    let last = max.log10().floor() as i32;
    (first..=last.max(first)).map(|e| 10f64.powi(e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_figures_and_slices_mean_one() {
        let o = HistogramOpts::latency()
            .significant_figures(0)
            .window_slices(0);
        assert_eq!((o.figures(), o.slices()), (1, 1));
        assert!(o.validate("m").is_ok());
    }

    #[test]
    fn nonsense_is_refused_with_the_field() {
        let cases = [
            (HistogramOpts::new(0.0, 1.0), "resolution"),
            (HistogramOpts::new(f64::NAN, 1.0), "resolution"),
            (HistogramOpts::new(1.0, 1.5), "max"),
            (HistogramOpts::new(1e-12, 1e12), "max"),
            (HistogramOpts::latency().window(Duration::ZERO), "window"),
            (
                HistogramOpts::latency().significant_figures(4),
                "significant_figures",
            ),
            (
                HistogramOpts::latency().window_slices(u32::MAX),
                "window_slices",
            ),
            (HistogramOpts::latency().buckets([]), "buckets"),
            (HistogramOpts::latency().buckets([0.1, f64::NAN]), "buckets"),
            (HistogramOpts::latency().buckets([0.1, 0.1]), "buckets"),
            (
                HistogramOpts::latency().buckets((1..=1001).map(f64::from).collect::<Vec<_>>()),
                "buckets",
            ),
        ];
        for (opts, field) in cases {
            let err = opts.validate("m").unwrap_err();
            assert!(err.field().unwrap().ends_with(field), "{err}");
        }
        assert!(HistogramOpts::latency().validate("m").is_ok());
        let most = HistogramOpts::latency()
            .significant_figures(3)
            .window_slices(64);
        assert!(most.validate("m").is_ok());
        assert!(HistogramOpts::values().validate("m").is_ok());
    }

    #[test]
    fn default_buckets() {
        assert_eq!(HistogramOpts::latency().bucket_bounds(), LATENCY_BUCKETS);
        let values = HistogramOpts::values();
        assert_eq!(values.bucket_bounds().len(), 16);
        assert_eq!(values.bucket_bounds()[0], 0.001);
        assert_eq!(*values.bucket_bounds().last().unwrap(), 1e12);
        let trimmed = HistogramOpts::latency().buckets([1.0, f64::INFINITY]);
        assert_eq!(trimmed.bucket_bounds(), [1.0]);
    }
}
