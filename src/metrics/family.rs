//! Module implementing metric families: one name, one type, many label sets.
//! See [`Family`] for details.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::histogram::HistogramPlan;
use super::name::MetricName;
use super::{Counter, Gauge, Histogram, HistogramOpts, LabelSet};
use crate::MonitoringError;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// A monotonically increasing total.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution of observed values.
    Histogram,
}

impl MetricType {
    /// The lowercase name Prometheus uses for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One series of a family, whatever its type. Declared `pub` only so that the sealed
/// [`MetricKind`] can name it; the module is private, so users cannot.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub enum Series {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

/// The counters a family reports its refused and clamped input to. They belong to no family
/// when made, so that a family with nothing to report adds no series to the scrape; the
/// registry adds each to its own family (`kotoba_monitoring_values_rejected_total{metric=…}`
/// and so on) once it is non-zero. Recording into them never allocates.
#[derive(Debug)]
pub(crate) struct Accounting {
    /// Values above a histogram's maximum, for histogram families only.
    pub(crate) clamped: Option<Counter>,
    /// Values refused: NaN, negative histogram values, negative counter increments.
    pub(crate) rejected: Counter,
    /// New label sets refused by a cap.
    pub(crate) series_rejected: Counter,
    /// Which of the three the registry has added to its own families, as bits 0, 1, 2.
    pub(crate) published: AtomicU8,
}

impl Accounting {
    /// Counters for the family `name`.
    fn new(name: MetricName, clamps: bool) -> Self {
        Self {
            clamped: clamps.then(|| Counter::new(name)),
            rejected: Counter::new(name),
            series_rejected: Counter::new(name),
            published: AtomicU8::new(0),
        }
    }
}

/// The series a registry may hold in all, shared by its families.
#[derive(Debug)]
pub(crate) struct SeriesBudget {
    pub(crate) held: AtomicUsize,
    pub(crate) limit: usize,
}

/// A family's type, with what building its series needs.
#[derive(Debug, Clone)]
pub(crate) enum FamilyKind {
    Counter,
    Gauge,
    Histogram(Arc<HistogramPlan>),
}

impl FamilyKind {
    /// A histogram family with `opts`, which must have passed [`HistogramOpts::validate`].
    pub(crate) fn histogram(opts: HistogramOpts) -> Self {
        Self::Histogram(Arc::new(HistogramPlan::new(opts)))
    }

    pub(crate) fn metric_type(&self) -> MetricType {
        match self {
            Self::Counter => MetricType::Counter,
            Self::Gauge => MetricType::Gauge,
            Self::Histogram(_) => MetricType::Histogram,
        }
    }
}

/// What a registry holds per metric name.
#[derive(Debug)]
pub(crate) struct FamilyCore {
    pub(crate) name: Arc<str>,
    /// `name` as its counters hold it.
    pub(crate) name_id: MetricName,
    pub(crate) help: String,
    /// Whether `help` holds a `\`, `"` or newline, which OpenMetrics needs escaped: known
    /// once here, so that a scrape does not scan every HELP again.
    pub(crate) help_has_escapes: bool,
    pub(crate) kind: FamilyKind,
    pub(crate) series: RwLock<HashMap<LabelSet, Series>>,
    /// New label sets past this many are refused.
    pub(crate) max_series: usize,
    /// The registry's budget of series in all; `None` for the registry's own families, which
    /// hold one series per family at most.
    pub(crate) budget: Option<Arc<SeriesBudget>>,
    pub(crate) accounting: Accounting,
}

impl FamilyCore {
    /// A family with no series yet, with its accounting counters (a clamped counter for a
    /// histogram family).
    pub(crate) fn new(
        name: &str,
        help: &str,
        kind: FamilyKind,
        max_series: usize,
        budget: Option<Arc<SeriesBudget>>,
    ) -> Self {
        let name_id = MetricName::of(name);
        let clamps = matches!(kind, FamilyKind::Histogram(_));
        Self {
            name: name.into(),
            name_id,
            help: help.to_owned(),
            help_has_escapes: super::labels::escape_count(help) > 0,
            kind,
            series: RwLock::new(HashMap::new()),
            max_series,
            budget,
            accounting: Accounting::new(name_id, clamps),
        }
    }

    /// Adds `series` under `labels` unless the label set is there already.
    pub(crate) fn adopt(&self, labels: LabelSet, series: Series) {
        self.series.write().entry(labels).or_insert(series);
    }

    /// Drops the series of `labels`, returning its place to the budget; whether there was one.
    pub(crate) fn remove(&self, labels: &LabelSet) -> bool {
        let removed = self.series.write().remove(labels).is_some();
        if removed {
            if let Some(budget) = &self.budget {
                budget.held.fetch_sub(1, Ordering::Relaxed);
            }
        }
        removed
    }

    /// The series for `labels`, created if the family has room.
    pub(crate) fn get_or_create(&self, labels: LabelSet) -> Result<Series, MonitoringError> {
        if let Some(series) = self.series.read().get(&labels) {
            return Ok(series.clone());
        }
        if let FamilyKind::Histogram(_) = self.kind {
            if let Some(reserved) = ["le", "quantile", "q"]
                .into_iter()
                .find(|r| labels.get(r).is_some())
            {
                return Err(MonitoringError::InvalidLabelName {
                    metric: self.name.to_string(),
                    label: reserved.to_owned(),
                    reason: "histograms export it themselves (le for buckets, q for the recent-window quantiles; quantile is reserved for summaries)".to_owned(),
                });
            }
        }
        let mut map = self.series.write();
        if let Some(series) = map.get(&labels) {
            return Ok(series.clone());
        }
        if map.len() >= self.max_series {
            self.accounting.series_rejected.inc();
            return Err(MonitoringError::CardinalityLimit {
                metric: self.name.to_string(),
                limit: self.max_series,
            });
        }
        if let Some(budget) = &self.budget {
            if budget.held.fetch_add(1, Ordering::Relaxed) >= budget.limit {
                budget.held.fetch_sub(1, Ordering::Relaxed);
                self.accounting.series_rejected.inc();
                return Err(MonitoringError::RegistryFull {
                    metric: self.name.to_string(),
                    what: "series",
                    limit: budget.limit,
                });
            }
        }
        let series = match &self.kind {
            FamilyKind::Counter => Series::Counter(Counter::new(self.name_id)),
            FamilyKind::Gauge => Series::Gauge(Gauge::new()),
            FamilyKind::Histogram(plan) => Series::Histogram(Histogram::new(
                plan,
                // Registration gives every histogram family its clamped counter.
                self.accounting
                    .clamped
                    .clone()
                    .unwrap_or_else(|| Counter::new(self.name_id)),
                self.accounting.rejected.clone(),
            )),
        };
        map.insert(labels, series.clone());
        Ok(series)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Counter {}
    impl Sealed for super::Gauge {}
    impl Sealed for super::Histogram {}
}

/// The handle types a [`Family`] hands out: [`Counter`], [`Gauge`] and [`Histogram`].
///
/// Sealed: the registry only knows these three.
pub trait MetricKind: sealed::Sealed + Sized {
    /// The family type this handle belongs to.
    const TYPE: MetricType;
    #[doc(hidden)]
    fn from_series(series: Series) -> Option<Self>;
}

impl MetricKind for Counter {
    const TYPE: MetricType = MetricType::Counter;
    fn from_series(series: Series) -> Option<Self> {
        match series {
            Series::Counter(c) => Some(c),
            _ => None,
        }
    }
}

impl MetricKind for Gauge {
    const TYPE: MetricType = MetricType::Gauge;
    fn from_series(series: Series) -> Option<Self> {
        match series {
            Series::Gauge(g) => Some(g),
            _ => None,
        }
    }
}

impl MetricKind for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
    fn from_series(series: Series) -> Option<Self> {
        match series {
            Series::Histogram(h) => Some(h),
            _ => None,
        }
    }
}

/// A metric name with its type and help, handing out one handle per label set.
///
/// Get a family once from a [`Registry`](crate::Registry), then a handle per label set with
/// [`with_labels`](Self::with_labels); keep the handle and record through it. Looking a label set
/// up allocates; recording through the handle does not.
///
/// A family holds at most `max_series_per_metric` label sets: past that, new label sets are
/// refused with [`MonitoringError::CardinalityLimit`] and counted in
/// `kotoba_monitoring_series_rejected_total`, and the existing series go on unchanged.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::{Counter, Registry};
///
/// let registry = Registry::new();
/// let queries = registry.counter_family("kotoba_db_queries_total", "Queries executed.")?;
/// let gets: Counter = queries.with_labels(&[("op", "get")])?;
/// let puts = queries.with_labels(&[("op", "put")])?;
/// gets.inc();
/// puts.inc_by(2);
/// assert_eq!(queries.with_labels(&[("op", "put")])?.get(), 2.0);
/// assert_eq!(queries.len(), 2);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
pub struct Family<M> {
    core: Arc<FamilyCore>,
    _kind: PhantomData<fn() -> M>,
}

impl<M: MetricKind> Family<M> {
    pub(crate) fn new(core: Arc<FamilyCore>) -> Self {
        Self {
            core,
            _kind: PhantomData,
        }
    }

    /// The handle for one label set, creating the series on first use.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidLabelName`] or [`MonitoringError::DuplicateLabel`] for bad
    /// labels (and, on histograms, the reserved `le` and `quantile`);
    /// [`MonitoringError::CardinalityLimit`] when the family is full.
    pub fn with_labels(&self, labels: &[(&str, &str)]) -> Result<M, MonitoringError> {
        let labels = LabelSet::new(&self.core.name, labels)?;
        self.with_label_set(labels)
    }

    /// As [`with_labels`](Self::with_labels), for a label set already built.
    ///
    /// # Errors
    ///
    /// As [`with_labels`](Self::with_labels).
    pub fn with_label_set(&self, labels: LabelSet) -> Result<M, MonitoringError> {
        let series = self.core.get_or_create(labels)?;
        // The registry only hands out `Family<M>` for cores of type `M::TYPE`.
        M::from_series(series).ok_or_else(|| MonitoringError::TypeConflict {
            metric: self.core.name.to_string(),
            registered: self.core.kind.metric_type().as_str(),
            requested: M::TYPE.as_str(),
        })
    }

    /// Drops the series of `labels` (a table dropped, a node gone), returning whether there
    /// was one: it leaves the scrape and frees its place under the cardinality limits, and at
    /// the next collection tick the history gives it a stale marker, so that PromQL stops
    /// finding it at once, as Prometheus does for a series gone from a scrape. Handles to it
    /// keep working but record into nothing exported; `with_labels` makes a new series.
    ///
    /// # Errors
    ///
    /// As [`with_labels`](Self::with_labels), for labels that could not name a series.
    ///
    /// # Examples
    ///
    /// ```
    /// let registry = kotoba_monitoring::Registry::new();
    /// let rows = registry.gauge_family("table_rows", "Rows per table.")?;
    /// rows.with_labels(&[("table", "users")])?.set(10.0);
    /// assert!(rows.remove(&[("table", "users")])?);
    /// assert!(!rows.remove(&[("table", "users")])?);
    /// # Ok::<(), kotoba_monitoring::MonitoringError>(())
    /// ```
    pub fn remove(&self, labels: &[(&str, &str)]) -> Result<bool, MonitoringError> {
        Ok(self.remove_label_set(&LabelSet::new(&self.core.name, labels)?))
    }

    /// As [`remove`](Self::remove), for a label set already built.
    pub fn remove_label_set(&self, labels: &LabelSet) -> bool {
        self.core.remove(labels)
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The help text.
    pub fn help(&self) -> &str {
        &self.core.help
    }

    /// The number of label sets (series) in the family.
    pub fn len(&self) -> usize {
        self.core.series.read().len()
    }

    /// Whether the family has no series yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<M> Clone for Family<M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            _kind: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.core.name)
            .field("type", &self.core.kind.metric_type())
            .field("series", &self.core.series.read().len())
            .finish()
    }
}
