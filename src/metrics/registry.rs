//! Module implementing the registry of metric families. See [`Registry`] for details.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use super::catalog;
use super::family::{FamilyCore, FamilyKind, Series, SeriesBudget};
use super::name::validate_metric_name;
use super::LabelSet;
use super::{Counter, Family, Gauge, Histogram, HistogramOpts, MetricType};
use crate::MonitoringError;

/// Limits and defaults that a [`Registry`] applies to the families it creates.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use kotoba_monitoring::{Registry, RegistryOptions};
///
/// let registry = Registry::with_options(
///     RegistryOptions::default()
///         .max_series_per_metric(2)
///         .histogram_window(Duration::from_secs(300)),
/// );
/// let hits = registry.counter_family("cache_hits_total", "Cache hits.")?;
/// hits.with_labels(&[("shard", "0")])?;
/// hits.with_labels(&[("shard", "1")])?;
/// assert!(hits.with_labels(&[("shard", "2")]).is_err());
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    max_series_per_metric: usize,
    max_families: usize,
    max_series: usize,
    histogram_window: Duration,
}

impl RegistryOptions {
    /// The most metric families (names) the registry may hold besides the library's own, at
    /// least 1.
    /// A name past it is refused and counted in `kotoba_monitoring_families_rejected_total`.
    /// Defaults to `2000`.
    pub fn max_families(mut self, max: usize) -> Self {
        self.max_families = max.max(1);
        self
    }

    /// The most series (label sets) all families together may hold besides the library's own,
    /// at least 1. A series past it is refused and counted in
    /// `kotoba_monitoring_series_rejected_total{metric}`.
    /// Defaults to `100000`.
    pub fn max_series(mut self, max: usize) -> Self {
        self.max_series = max.max(1);
        self
    }

    /// The most label sets one family may hold, at least 1. Defaults to `2000`.
    pub fn max_series_per_metric(mut self, max: usize) -> Self {
        self.max_series_per_metric = max.max(1);
        self
    }

    /// The recent window of histograms created with default options. Defaults to 60 seconds.
    pub fn histogram_window(mut self, window: Duration) -> Self {
        self.histogram_window = window;
        self
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            max_series_per_metric: 2000,
            max_families: 2000,
            max_series: 100_000,
            histogram_window: Duration::from_secs(60),
        }
    }
}

/// The registry's reports about its own health, exported like any other metric.
#[derive(Debug)]
pub(crate) struct SelfMetrics {
    /// `kotoba_monitoring_series_rejected_total{metric}`: new label sets refused by a cap.
    series_rejected: Arc<FamilyCore>,
    /// `kotoba_monitoring_values_clamped_total{metric}`: values above a histogram's maximum.
    values_clamped: Arc<FamilyCore>,
    /// `kotoba_monitoring_values_rejected_total{metric}`: NaN, negative latencies, negative
    /// counter increments.
    values_rejected: Arc<FamilyCore>,
    /// `kotoba_monitoring_samples_dropped_total`: `record_metric` samples dropped on a full queue.
    pub(crate) samples_dropped: Counter,
    /// `kotoba_monitoring_families_rejected_total`: new names refused by the family cap.
    families_rejected: Counter,
}

/// The set of metric families, by name: where handles come from and what exporters read.
///
/// `Registry` is a cheap `Clone` handle over shared state; clones see the same families. Each
/// name has one type: asking for it as another type is an error. Names and label names are
/// checked against the Prometheus rules when a family or series is created, so handles never
/// fail afterwards.
///
/// Besides the families it is given, every registry holds its own counters:
/// `kotoba_monitoring_samples_dropped_total` and `kotoba_monitoring_families_rejected_total`,
/// and, for each family once it has something to report, `{metric="…"}` series of
/// `kotoba_monitoring_series_rejected_total`, `kotoba_monitoring_values_clamped_total` and
/// `kotoba_monitoring_values_rejected_total`.
///
/// # Names and limits
///
/// A family reserves every name it writes into a scrape: a counter `x` or `x_total` writes
/// `x`, `x_total` and `x_created`; a histogram `h` writes `h`, `h_bucket`, `h_sum`, `h_count`,
/// `h_created` and its window gauges (`h_window`, or `<stem>_window_seconds` for
/// `<stem>_seconds`). A new family that would write a name another one writes is refused with
/// [`MonitoringError::NameClash`], so every scrape stays valid. At most
/// [`max_families`](RegistryOptions::max_families) families and
/// [`max_series`](RegistryOptions::max_series) series in all are held: past them,
/// [`MonitoringError::RegistryFull`].
///
/// # About threads
///
/// All methods take `&self` and may be called from any thread. Creating families and series
/// takes a write lock briefly; handles never touch the registry's locks.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::{MetricType, MonitoringError, Registry};
///
/// let registry = Registry::new();
/// let active = registry.gauge("kotoba_db_connections_active", "Open connections.", &[])?;
/// active.set(3.0);
/// assert_eq!(registry.metric_type("kotoba_db_connections_active"), Some(MetricType::Gauge));
///
/// // One name, one type.
/// let err = registry.counter("kotoba_db_connections_active", "…", &[]).unwrap_err();
/// assert!(matches!(err, MonitoringError::TypeConflict { registered: "gauge", .. }));
/// # Ok::<(), MonitoringError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Sorted by name, so every reader sees one stable order.
    families: RwLock<BTreeMap<Arc<str>, Arc<FamilyCore>>>,
    /// Each name a family writes into a scrape, with the family writing it. Changed only
    /// under the `families` write lock.
    reserved: parking_lot::Mutex<HashMap<String, Arc<str>>>,
    budget: Arc<SeriesBudget>,
    /// Families not of the library's own (see [`catalog::is_library_family`]): what the
    /// family cap counts. Changed only under the `families` write lock.
    user_families: AtomicUsize,
    options: RegistryOptions,
    self_metrics: SelfMetrics,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry with default options.
    pub fn new() -> Self {
        Self::with_options(RegistryOptions::default())
    }

    /// An empty registry with `options`.
    pub fn with_options(options: RegistryOptions) -> Self {
        let mut families = BTreeMap::new();
        let mut reserved = HashMap::new();
        let mut own = |name: &str, help: &str| {
            let core = Arc::new(FamilyCore::new(
                name,
                help,
                FamilyKind::Counter,
                // One series per metric name at most: bounded by the families, not by input.
                usize::MAX,
                None,
            ));
            for exported in exported_names(name, MetricType::Counter) {
                reserved.insert(exported, core.name.clone());
            }
            families.insert(core.name.clone(), core.clone());
            core
        };
        let series_rejected = own(
            "kotoba_monitoring_series_rejected_total",
            "New series refused because their metric reached max_series_per_metric, or the registry max_total_series.",
        );
        let values_clamped = own(
            "kotoba_monitoring_values_clamped_total",
            "Histogram values above the histogram's maximum, recorded as the maximum.",
        );
        let values_rejected = own(
            "kotoba_monitoring_values_rejected_total",
            "Values refused: NaN or negative histogram values, negative counter increments.",
        );
        // A family with no labels and no cap always yields its one series.
        let single = |core: Arc<FamilyCore>| match core.get_or_create(LabelSet::default()) {
            Ok(Series::Counter(c)) => c,
            _ => Counter::new(core.name_id),
        };
        let samples_dropped = single(own(
            "kotoba_monitoring_samples_dropped_total",
            "record_metric samples dropped because the ingest queue was full.",
        ));
        let families_rejected = single(own(
            "kotoba_monitoring_families_rejected_total",
            "New metric names refused because the registry holds max_metric_families families.",
        ));
        Self {
            inner: Arc::new(Inner {
                families: RwLock::new(families),
                reserved: parking_lot::Mutex::new(reserved),
                user_families: AtomicUsize::new(0),
                budget: Arc::new(SeriesBudget {
                    held: AtomicUsize::new(0),
                    limit: options.max_series,
                }),
                options,
                self_metrics: SelfMetrics {
                    series_rejected,
                    values_clamped,
                    values_rejected,
                    samples_dropped,
                    families_rejected,
                },
            }),
        }
    }

    /// The process-wide registry that the [`prometheus_exporter`](crate::prometheus_exporter)
    /// helpers record into. Every [`MetricsCollector`](crate::MetricsCollector) also stores its
    /// series in history.
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(Registry::new)
    }

    /// The counter family `name`, registered with `help` on first use.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidMetricName`] for a bad name, [`MonitoringError::TypeConflict`]
    /// when `name` is registered as another type.
    pub fn counter_family(
        &self,
        name: &str,
        help: &str,
    ) -> Result<Family<Counter>, MonitoringError> {
        self.register(name, help, MetricType::Counter, || FamilyKind::Counter)
            .map(Family::new)
    }

    /// The gauge family `name`, registered with `help` on first use.
    ///
    /// # Errors
    ///
    /// As [`counter_family`](Self::counter_family).
    pub fn gauge_family(&self, name: &str, help: &str) -> Result<Family<Gauge>, MonitoringError> {
        self.register(name, help, MetricType::Gauge, || FamilyKind::Gauge)
            .map(Family::new)
    }

    /// The histogram family `name` with default options: [`HistogramOpts::latency`] when the
    /// name ends in `_seconds`, [`HistogramOpts::values`] otherwise, with the registry's window.
    ///
    /// # Errors
    ///
    /// As [`counter_family`](Self::counter_family).
    pub fn histogram_family(
        &self,
        name: &str,
        help: &str,
    ) -> Result<Family<Histogram>, MonitoringError> {
        self.histogram_family_with(name, help, self.default_histogram_opts(name))
    }

    /// The histogram family `name` with `opts`. When the family exists already, its options
    /// stay as first registered.
    ///
    /// # Errors
    ///
    /// As [`counter_family`](Self::counter_family), and [`MonitoringError::InvalidConfig`] for
    /// options that cannot work.
    pub fn histogram_family_with(
        &self,
        name: &str,
        help: &str,
        opts: HistogramOpts,
    ) -> Result<Family<Histogram>, MonitoringError> {
        opts.validate(name)?;
        self.register(name, help, MetricType::Histogram, || {
            FamilyKind::histogram(opts)
        })
        .map(Family::new)
    }

    /// The counter `name` with `labels`: [`counter_family`](Self::counter_family) then
    /// [`Family::with_labels`].
    ///
    /// # Errors
    ///
    /// As those two.
    pub fn counter(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Counter, MonitoringError> {
        self.counter_family(name, help)?.with_labels(labels)
    }

    /// The gauge `name` with `labels`.
    ///
    /// # Errors
    ///
    /// As [`counter`](Self::counter).
    pub fn gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Gauge, MonitoringError> {
        self.gauge_family(name, help)?.with_labels(labels)
    }

    /// The histogram `name` with `labels`, default options.
    ///
    /// # Errors
    ///
    /// As [`counter`](Self::counter).
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Histogram, MonitoringError> {
        self.histogram_family(name, help)?.with_labels(labels)
    }

    /// The type `name` is registered as, if it is.
    pub fn metric_type(&self, name: &str) -> Option<MetricType> {
        self.family(name).map(|f| f.kind.metric_type())
    }

    /// The registered names, sorted.
    pub fn metric_names(&self) -> Vec<String> {
        self.inner
            .families
            .read()
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    pub(crate) fn family(&self, name: &str) -> Option<Arc<FamilyCore>> {
        self.inner.families.read().get(name).cloned()
    }

    /// The type `name` has, or would take from [`family_or_known`](Self::family_or_known) if
    /// it were recorded now.
    pub(crate) fn type_or_known(&self, name: &str) -> MetricType {
        self.metric_type(name)
            .unwrap_or_else(|| catalog::known(name).map_or(MetricType::Gauge, |k| k.kind))
    }

    /// The family `name`; if it does not exist, registered with the type and description the
    /// catalog knows for it, or as a gauge without a description.
    pub(crate) fn family_or_known(&self, name: &str) -> Result<Arc<FamilyCore>, MonitoringError> {
        if let Some(family) = self.family(name) {
            return Ok(family);
        }
        let metric_type = self.type_or_known(name);
        self.register(name, "", metric_type, || match metric_type {
            MetricType::Counter => FamilyKind::Counter,
            MetricType::Histogram => FamilyKind::histogram(self.default_histogram_opts(name)),
            MetricType::Gauge => FamilyKind::Gauge,
        })
    }

    /// [`HistogramOpts::latency`] for `_seconds` names, [`HistogramOpts::values`] otherwise,
    /// with the registry's window.
    fn default_histogram_opts(&self, name: &str) -> HistogramOpts {
        let opts = if name.ends_with("_seconds") {
            HistogramOpts::latency()
        } else {
            HistogramOpts::values()
        };
        opts.window(self.inner.options.histogram_window)
    }

    /// Each family's name, type and the label names its series carry, sorted by name: what
    /// generated dashboards draw.
    pub(crate) fn family_shapes(&self) -> Vec<FamilyShape> {
        let mut shapes: Vec<FamilyShape> = self
            .inner
            .families
            .read()
            .values()
            .map(|family| {
                let mut labels: Vec<String> = Vec::new();
                for set in family.series.read().keys() {
                    for (name, _) in set.iter() {
                        if !labels.iter().any(|l| l == name) {
                            labels.push(name.to_owned());
                        }
                    }
                }
                labels.sort();
                FamilyShape {
                    name: family.name.to_string(),
                    kind: family.kind.metric_type(),
                    labels,
                }
            })
            .collect();
        shapes.sort_by(|a, b| a.name.cmp(&b.name));
        shapes
    }

    /// Every family, sorted by name, with each family's non-zero accounting counters added
    /// to the registry's own families first.
    pub(crate) fn families(&self) -> Vec<Arc<FamilyCore>> {
        let families: Vec<Arc<FamilyCore>> = self.inner.families.read().values().cloned().collect();
        // Publishing adds series to the registry's own families, never a family, so the
        // list stays whole.
        for family in &families {
            self.publish_accounting(family);
        }
        families
    }

    /// Adds each of `family`'s accounting counters that has counted something to the
    /// registry's own family for it, once.
    fn publish_accounting(&self, family: &FamilyCore) {
        let own = &self.inner.self_metrics;
        let a = &family.accounting;
        let counters = [
            (Some(&a.rejected), &own.values_rejected),
            (Some(&a.series_rejected), &own.series_rejected),
            (a.clamped.as_ref(), &own.values_clamped),
        ];
        for (bit, (counter, into)) in counters.into_iter().enumerate() {
            let Some(counter) = counter else { continue };
            let flag = 1u8 << bit;
            if a.published.load(Ordering::Relaxed) & flag != 0 || counter.get() == 0.0 {
                continue;
            }
            if let Ok(labels) = LabelSet::new(&into.name, &[("metric", &family.name)]) {
                into.adopt(labels, Series::Counter(counter.clone()));
                a.published.fetch_or(flag, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn self_metrics(&self) -> &SelfMetrics {
        &self.inner.self_metrics
    }

    /// Closes the window slice of every histogram series whose slice has run its length.
    pub(crate) fn rotate_windows(&self, now: Instant) {
        for family in self.families() {
            if let FamilyKind::Histogram(_) = family.kind {
                let series: Vec<Series> = family.series.read().values().cloned().collect();
                for s in series {
                    if let Series::Histogram(h) = s {
                        h.rotate_if_due(now);
                    }
                }
            }
        }
    }

    /// The family `name`, or a new one of `kind()` registered with `help`: `kind` runs only
    /// when no family has the name, since planning a histogram family builds a table per
    /// cell. `metric_type` is the type `kind()` makes, to check an existing family against.
    fn register(
        &self,
        name: &str,
        help: &str,
        metric_type: MetricType,
        kind: impl FnOnce() -> FamilyKind,
    ) -> Result<Arc<FamilyCore>, MonitoringError> {
        validate_metric_name(name)?;
        let conflict = |existing: &FamilyCore| MonitoringError::TypeConflict {
            metric: name.to_owned(),
            registered: existing.kind.metric_type().as_str(),
            requested: metric_type.as_str(),
        };
        if let Some(existing) = self.family(name) {
            return if existing.kind.metric_type() == metric_type {
                Ok(existing)
            } else {
                Err(conflict(&existing))
            };
        }
        // Made before the write lock is taken, so that planning holds up no reader.
        let kind = kind();
        let mut families = self.inner.families.write();
        if let Some(existing) = families.get(name) {
            return if existing.kind.metric_type() == metric_type {
                Ok(existing.clone())
            } else {
                Err(conflict(existing))
            };
        }
        let mut reserved = self.inner.reserved.lock();
        let exported = exported_names(name, metric_type);
        if let Some((clash, owner)) = exported
            .iter()
            .find_map(|e| reserved.get(e).map(|owner| (e, owner)))
        {
            return Err(MonitoringError::NameClash {
                metric: name.to_owned(),
                exported: clash.clone(),
                owner: owner.to_string(),
            });
        }
        let limit = self.inner.options.max_families;
        let library = catalog::is_library_family(name);
        if !library && self.inner.user_families.load(Ordering::Relaxed) >= limit {
            self.inner.self_metrics.families_rejected.inc();
            return Err(MonitoringError::RegistryFull {
                metric: name.to_owned(),
                what: "metric families",
                limit,
            });
        }
        if !library {
            self.inner.user_families.fetch_add(1, Ordering::Relaxed);
        }
        let core = Arc::new(FamilyCore::new(
            name,
            catalog::help_for(name, help),
            kind,
            self.inner.options.max_series_per_metric,
            // The library's families are bounded per family; the budget is the user's.
            (!library).then(|| self.inner.budget.clone()),
        ));
        for e in exported {
            reserved.insert(e, core.name.clone());
        }
        families.insert(core.name.clone(), core.clone());
        Ok(core)
    }
}

/// Every name a family of `name` and `metric_type` writes into a scrape, as the exposition
/// writes them (see [`Registry`]'s "Names and limits").
pub(crate) fn exported_names(name: &str, metric_type: MetricType) -> Vec<String> {
    match metric_type {
        MetricType::Gauge => vec![name.to_owned()],
        MetricType::Counter => {
            let stem = name.strip_suffix("_total").unwrap_or(name);
            vec![
                stem.to_owned(),
                format!("{stem}_total"),
                format!("{stem}_created"),
            ]
        }
        MetricType::Histogram => {
            let mut names: Vec<String> = ["", "_bucket", "_sum", "_count", "_created"]
                .iter()
                .map(|suffix| format!("{name}{suffix}"))
                .collect();
            names.push(super::window_family_name(name));
            names
        }
    }
}

/// A family as a dashboard sees it: its name, type and the label names of its series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FamilyShape {
    pub(crate) name: String,
    pub(crate) kind: MetricType,
    pub(crate) labels: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_may_not_write_a_name_another_writes() {
        type Make = fn(&Registry, &str) -> Result<(), MonitoringError>;
        let counter: Make = |r, n| r.counter_family(n, "").map(drop);
        let gauge: Make = |r, n| r.gauge_family(n, "").map(drop);
        let histogram: Make = |r, n| r.histogram_family(n, "").map(drop);
        let pairs: [(Make, &str, Make, &str, &str); 9] = [
            (counter, "x", gauge, "x_total", "x_total"),
            (counter, "x", counter, "x_total", "x"),
            (counter, "x_total", gauge, "x", "x"),
            (counter, "x", gauge, "x_created", "x_created"),
            (histogram, "h", gauge, "h_count", "h_count"),
            (histogram, "h", counter, "h_bucket", "h_bucket"),
            (
                histogram,
                "h_seconds",
                gauge,
                "h_window_seconds",
                "h_window_seconds",
            ),
            (gauge, "h_sum", histogram, "h", "h_sum"),
            (gauge, "h_window", histogram, "h", "h_window"),
        ];
        for (first, a, second, b, shared) in pairs {
            let r = Registry::new();
            first(&r, a).unwrap();
            let err = second(&r, b).unwrap_err();
            match &err {
                MonitoringError::NameClash {
                    metric,
                    exported,
                    owner,
                } => assert_eq!(
                    (metric.as_str(), exported.as_str(), owner.as_str()),
                    (b, shared, a)
                ),
                other => panic!("{a} then {b}: {other}"),
            }
            assert!(err.to_string().contains(a) && err.to_string().contains(b));
            assert_eq!(r.metric_type(b), None, "nothing of {b} was registered");
        }
        // Names that only look alike stay apart.
        let r = Registry::new();
        r.counter_family("x", "").unwrap();
        r.gauge_family("x_totals", "").unwrap();
        r.histogram_family("h_seconds", "").unwrap();
        r.gauge_family("h_window", "").unwrap();
        r.counter_family("kotoba_monitoring_samples_dropped", "")
            .unwrap_err();
    }

    #[test]
    fn bookkeeping_series_appear_only_when_they_count_something() {
        let r = Registry::new();
        for i in 0..10 {
            r.histogram(&format!("h{i}_seconds"), "", &[]).unwrap();
            r.counter(&format!("c{i}_total"), "", &[]).unwrap();
        }
        let own_series = |r: &Registry| -> usize {
            r.families()
                .iter()
                .filter(|f| f.name.starts_with("kotoba_monitoring_"))
                .map(|f| f.series.read().len())
                .sum()
        };
        // The two single counters only.
        assert_eq!(own_series(&r), 2);
        let h = r.histogram("h3_seconds", "", &[]).unwrap();
        h.observe(f64::NAN);
        h.observe(1e9);
        assert_eq!(own_series(&r), 4);
        let rejected = r
            .counter(
                "kotoba_monitoring_values_rejected_total",
                "",
                &[("metric", "h3_seconds")],
            )
            .unwrap();
        assert_eq!(rejected.get(), 1.0);
        let clamped = r
            .counter(
                "kotoba_monitoring_values_clamped_total",
                "",
                &[("metric", "h3_seconds")],
            )
            .unwrap();
        assert_eq!(clamped.get(), 1.0);
        // Published once; later counts reach the same series.
        h.observe(-1.0);
        assert_eq!(own_series(&r), 4);
        assert_eq!(rejected.get(), 2.0);
    }

    #[test]
    fn families_and_series_in_all_are_capped_and_counted() {
        let r = Registry::with_options(RegistryOptions::default().max_families(3).max_series(5));
        for name in ["a", "b", "c"] {
            r.gauge_family(name, "").unwrap();
        }
        let err = r.gauge_family("d", "").unwrap_err();
        assert!(matches!(
            err,
            MonitoringError::RegistryFull {
                what: "metric families",
                limit: 3,
                ..
            }
        ));
        assert!(err.to_string().contains("max_metric_families"), "{err}");
        let refused = r
            .counter("kotoba_monitoring_families_rejected_total", "", &[])
            .unwrap();
        assert_eq!(refused.get(), 1.0);
        // An existing family is still handed out.
        assert!(r.gauge_family("a", "").is_ok());
        for i in 0..5 {
            r.gauge("a", "", &[("i", &i.to_string())]).unwrap();
        }
        let err = r.gauge("b", "", &[("i", "0")]).unwrap_err();
        assert!(matches!(
            err,
            MonitoringError::RegistryFull { what: "series", .. }
        ));
        assert!(err.to_string().contains("max_total_series"), "{err}");
        // A removed series frees its place.
        Family::<Gauge>::new(r.family("a").unwrap())
            .remove_label_set(&LabelSet::new("a", &[("i", "0")]).unwrap());
        r.gauge("b", "", &[("i", "0")]).unwrap();
    }

    #[test]
    fn same_name_same_type_is_the_same_family() {
        let r = Registry::new();
        let a = r.counter("hits_total", "Hits.", &[("k", "v")]).unwrap();
        let b = r
            .counter("hits_total", "Other help.", &[("k", "v")])
            .unwrap();
        a.inc();
        assert_eq!(b.get(), 1.0);
        assert_eq!(r.family("hits_total").unwrap().help, "Hits.");
    }

    #[test]
    fn every_pair_of_types_conflicts() {
        let r = Registry::new();
        r.counter("c", "", &[]).unwrap();
        r.gauge("g", "", &[]).unwrap();
        r.histogram("h", "", &[]).unwrap();
        assert!(r.gauge("c", "", &[]).is_err());
        assert!(r.histogram("c", "", &[]).is_err());
        assert!(r.counter("g", "", &[]).is_err());
        assert!(r.histogram("g", "", &[]).is_err());
        assert!(r.counter("h", "", &[]).is_err());
        assert!(r.gauge("h", "", &[]).is_err());
    }

    #[test]
    fn cardinality_cap_refuses_new_series_and_counts_them() {
        let r = Registry::with_options(RegistryOptions::default().max_series_per_metric(3));
        let fam = r.counter_family("req_total", "Requests.").unwrap();
        let kept: Vec<Counter> = (0..3)
            .map(|i| fam.with_labels(&[("id", &i.to_string())]).unwrap())
            .collect();
        kept[0].inc_by(7);
        for i in 3..5 {
            let err = fam.with_labels(&[("id", &i.to_string())]).unwrap_err();
            assert!(matches!(
                err,
                MonitoringError::CardinalityLimit { limit: 3, .. }
            ));
        }
        // Existing series still resolve and keep their values.
        assert_eq!(fam.with_labels(&[("id", "0")]).unwrap().get(), 7.0);
        assert_eq!(fam.len(), 3);
        r.families(); // publishes the non-zero bookkeeping
        let rejected = r
            .counter(
                "kotoba_monitoring_series_rejected_total",
                "",
                &[("metric", "req_total")],
            )
            .unwrap();
        assert_eq!(rejected.get(), 2.0);
    }

    #[test]
    fn histograms_reserve_le_and_quantile() {
        let r = Registry::new();
        for label in ["le", "quantile"] {
            let err = r.histogram("x_seconds", "", &[(label, "1")]).unwrap_err();
            assert!(
                matches!(err, MonitoringError::InvalidLabelName { .. }),
                "{err}"
            );
        }
        assert!(r.counter("y_total", "", &[("le", "1")]).is_ok());
    }

    #[test]
    fn default_histogram_options_follow_the_unit() {
        let r = Registry::new();
        let latency = r.histogram("q_seconds", "", &[]).unwrap();
        latency.observe(0.000_000_5);
        assert!((latency.snapshot().max - 0.000_000_5).abs() < 1e-15);
        let sizes = r.histogram("row_bytes", "", &[]).unwrap();
        sizes.observe(5e9);
        assert_eq!(sizes.snapshot().max, 5e9);
    }

    #[test]
    fn only_histogram_families_get_a_clamped_series() {
        let r = Registry::new();
        r.counter("hits_total", "", &[]).unwrap().inc_by(u64::MAX);
        r.histogram("op_seconds", "", &[]).unwrap().observe(1e9);
        assert!(r.family("hits_total").unwrap().accounting.clamped.is_none());
        r.families();
        let clamped = r.family("kotoba_monitoring_values_clamped_total").unwrap();
        let metrics: Vec<String> = clamped
            .series
            .read()
            .keys()
            .filter_map(|labels| labels.get("metric").map(str::to_owned))
            .collect();
        assert!(metrics.contains(&"op_seconds".to_owned()), "{metrics:?}");
        assert!(!metrics.contains(&"hits_total".to_owned()), "{metrics:?}");
    }

    #[test]
    fn self_metrics_are_listed() {
        let names = Registry::new().metric_names();
        for own in [
            "kotoba_monitoring_samples_dropped_total",
            "kotoba_monitoring_series_rejected_total",
            "kotoba_monitoring_values_clamped_total",
            "kotoba_monitoring_values_rejected_total",
        ] {
            assert!(
                names.iter().any(|n| n == own),
                "{own} missing from {names:?}"
            );
        }
    }
}
