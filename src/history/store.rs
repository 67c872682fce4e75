//! Module implementing the time-series store. See [`HistoryStore`] for details.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::{Mutex, RwLock};
use time::OffsetDateTime;

use super::log::LogWriter;
use super::LabelMatcher;
use crate::metrics::validate_metric_name;
use crate::metrics::STALE_NAN_BITS;
use crate::{LabelSet, MonitoringError};

/// One stored sample of one series, as [`MetricsCollector::get_metrics`] returns it.
///
/// [`MetricsCollector::get_metrics`]: crate::MetricsCollector::get_metrics
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// The metric name.
    pub name: String,
    /// The series' labels.
    pub labels: LabelSet,
    /// When the value was recorded (UTC).
    pub timestamp: OffsetDateTime,
    /// The value.
    pub value: f64,
}

/// One sample within a [`SeriesRange`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// When the value was recorded (UTC).
    pub timestamp: OffsetDateTime,
    /// The value.
    pub value: f64,
}

/// The points of one series within a time range, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRange {
    /// The metric name.
    pub name: String,
    /// The series' labels.
    pub labels: LabelSet,
    /// The points, in time order.
    pub points: Vec<Point>,
}

/// An in-memory store of recent samples, per series, in time order.
///
/// Memory is bounded two ways: points older than the retention period are dropped, and each
/// series keeps at most `max_points` points (the oldest go first). With the defaults, one
/// collection every 15 s and one hour kept, a series holds 240 points. Points are compressed
/// as Prometheus compresses them (Gorilla's delta-of-delta timestamps and XOR'd values, and
/// whole-number values as the change of their change): a collected series takes about two
/// bytes a point, an unchanging one under one. A query decodes only the chunks of 120 points
/// it reaches back to.
///
/// `HistoryStore` is a cheap `Clone` handle; clones share the data.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use time::OffsetDateTime;
/// use kotoba_monitoring::{HistoryStore, LabelMatcher, LabelSet};
///
/// let store = HistoryStore::new(Duration::from_secs(3600), 10_000);
/// let now = OffsetDateTime::now_utc();
/// let get = LabelSet::new("qps", &[("op", "get")])?;
/// let put = LabelSet::new("qps", &[("op", "put")])?;
/// store.append("qps", &get, now - Duration::from_secs(30), 10.0);
/// store.append("qps", &get, now, 12.0);
/// store.append("qps", &put, now, 3.0);
///
/// let ranges = store.range("qps", &[LabelMatcher::eq("op", "get")], now - Duration::from_secs(60), now)?;
/// let values: Vec<f64> = ranges[0].points.iter().map(|p| p.value).collect();
/// assert_eq!(values, [10.0, 12.0]);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HistoryStore {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    /// Metric name → label set → points. Appends take the outer lock for reading only.
    pub(super) names: RwLock<HashMap<Arc<str>, SeriesMap>>,
    /// The number the next new series gets, for the write-ahead log to name it by.
    next_id: AtomicU64,
    /// The write-ahead log, once the store was opened on a storage folder (see
    /// [`HistoryStore::open`]). Lock order: the log, then a series.
    pub(super) log: OnceLock<Mutex<LogWriter>>,
    /// The writers that may still append samples as old as a time (Unix nanoseconds), by
    /// token: what [`HistoryStore::horizon`] waits for.
    holds: Mutex<HashMap<u64, i64>>,
    next_hold: AtomicU64,
    /// The series the last self-scrape wrote (see [`HistoryStore::scrape`]): one that is
    /// gone at the next gets a stale marker.
    pub(super) scraped: Mutex<HashSet<(Arc<str>, LabelSet)>>,
    /// The exemplars the self-scrape found.
    pub(super) exemplars: Mutex<super::exemplars::ExemplarRing>,
    /// How far back a PromQL selector looks for a sample, in milliseconds.
    pub(super) lookback_ms: std::sync::atomic::AtomicU64,
    retention: Duration,
    max_points: usize,
}

/// `(unix nanoseconds, value)`, oldest first, compressed.
pub(super) use super::chunk::Points;

/// How long after its time a sample is taken to have reached the store, at most, when no
/// writer says otherwise (see [`HistoryStore::hold`]).
const SETTLE_NANOS: i64 = 1_000_000_000;

/// A writer's promise to append nothing older than a time, kept until dropped; see
/// [`HistoryStore::hold`].
#[derive(Debug)]
pub(crate) struct Hold {
    inner: Arc<Inner>,
    token: u64,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.inner.holds.lock().remove(&self.token);
    }
}

/// One series' samples, and the number the write-ahead log knows it by.
#[derive(Debug)]
pub(super) struct Series {
    pub(super) id: u64,
    points: Mutex<Points>,
}

impl Series {
    /// Its samples, locked.
    pub(super) fn lock(&self) -> parking_lot::MutexGuard<'_, Points> {
        self.points.lock()
    }
}

/// The series of one metric name, by label set.
pub(super) type SeriesMap = HashMap<LabelSet, Arc<Series>>;

pub(crate) fn to_nanos(t: OffsetDateTime) -> i64 {
    t.unix_timestamp_nanos()
        .clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn from_nanos(nanos: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(nanos as i128).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl HistoryStore {
    /// An empty store keeping `retention` of history and at most `max_points` points per series
    /// (at least 1).
    pub fn new(retention: Duration, max_points: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                names: RwLock::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                log: OnceLock::new(),
                holds: Mutex::new(HashMap::new()),
                next_hold: AtomicU64::new(0),
                scraped: Mutex::new(HashSet::new()),
                exemplars: Mutex::new(Default::default()),
                lookback_ms: std::sync::atomic::AtomicU64::new(300_000),
                retention,
                max_points: max_points.max(1),
            }),
        }
    }

    /// This store, its PromQL selectors looking back `lookback` for a sample (Prometheus's
    /// `--query.lookback-delta`; 5 minutes unless set, at least 1 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = kotoba_monitoring::HistoryStore::new(Duration::from_secs(3600), 1000)
    ///     .with_query_lookback(Duration::from_secs(60));
    /// assert_eq!(store.query_lookback(), Duration::from_secs(60));
    /// ```
    pub fn with_query_lookback(self, lookback: Duration) -> Self {
        let ms = u64::try_from(lookback.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.inner
            .lookback_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// How far back PromQL selectors look for a sample.
    pub fn query_lookback(&self) -> Duration {
        Duration::from_millis(
            self.inner
                .lookback_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Stores `value` for series `name{labels}` at `at`, keeping the series in time order.
    pub fn append(&self, name: &str, labels: &LabelSet, at: OffsetDateTime, value: f64) {
        self.append_unless_newer(name, labels, at, value, None);
    }

    /// Stores the point unless the series already has one later than `since`: a collection tick
    /// uses this so that a `record_metric` sample written since the last tick is not followed by
    /// a copy of itself. Returns whether it stored the point.
    pub(crate) fn append_unless_newer(
        &self,
        name: &str,
        labels: &LabelSet,
        at: OffsetDateTime,
        value: f64,
        since: Option<OffsetDateTime>,
    ) -> bool {
        let series = self.series_of(name, labels);
        // The log first: samples reach it in the order they reach their series.
        let mut log = self.inner.log.get().map(|log| log.lock());
        let mut points = series.lock();
        let at = to_nanos(at);
        if let (Some(since), Some((last, _))) = (since, points.last()) {
            if last > to_nanos(since) {
                return false;
            }
        }
        self.put(&mut points, at, value);
        if let Some(log) = log.as_mut() {
            log.sample(&series, name, labels, at, value);
        }
        true
    }

    /// Stores `(at, value)` in `points` and trims them, as every append does (a replay of
    /// the log too, so that it ends where the appends did).
    pub(super) fn put(&self, points: &mut Points, at: i64, value: f64) {
        // Samples usually arrive in order; one sent just before a tick may land just after it.
        points.insert(at, value);
        let newest = points.last().map_or(at, |(t, _)| t);
        self.trim(points, newest);
    }

    /// Drops points older than the retention period before `now`, and series left empty.
    pub fn prune(&self, now: OffsetDateTime) {
        let now = to_nanos(now);
        let mut names = self.inner.names.write();
        names.retain(|_, series| {
            series.retain(|_, points| {
                let mut points = points.lock();
                self.trim(&mut points, now);
                !points.is_empty()
            });
            !series.is_empty()
        });
    }

    /// The points of every series of `name` matching all `matchers`, from `from` to `to`
    /// inclusive, each series oldest first. Series are ordered by their labels.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidMetricName`] for a name that cannot exist,
    /// [`MonitoringError::InvalidTimeRange`] when `from` is after `to`.
    pub fn range(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<SeriesRange>, MonitoringError> {
        validate_metric_name(name)?;
        if from > to {
            return Err(MonitoringError::InvalidTimeRange {
                reason: format!("from ({from}) is after to ({to}); swap them"),
            });
        }
        let (from, to) = (to_nanos(from), to_nanos(to));
        let selected: Vec<(LabelSet, Arc<Series>)> = match self.inner.names.read().get(name) {
            Some(series) => series
                .iter()
                .filter(|(labels, _)| matchers.iter().all(|m| m.matches(labels)))
                .map(|(l, p)| (l.clone(), p.clone()))
                .collect(),
            None => Vec::new(),
        };
        let mut ranges: Vec<SeriesRange> = selected
            .into_iter()
            .filter_map(|(labels, points)| {
                let points = points.lock().range(from, to);
                // Stale markers are for PromQL; here a series simply has no point then.
                let points: Vec<Point> = points
                    .into_iter()
                    .filter(|&(_, value)| value.to_bits() != STALE_NAN_BITS)
                    .map(|(t, value)| Point {
                        timestamp: from_nanos(t),
                        value,
                    })
                    .collect();
                (!points.is_empty()).then(|| SeriesRange {
                    name: name.to_owned(),
                    labels,
                    points,
                })
            })
            .collect();
        ranges.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(ranges)
    }

    /// Every point of every series of `name` matching `matchers` in `[from, to]`, merged into
    /// one list in time order (series order breaks ties).
    ///
    /// # Errors
    ///
    /// As [`range`](Self::range).
    pub fn points(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<MetricPoint>, MonitoringError> {
        let mut points: Vec<MetricPoint> = self
            .range(name, matchers, from, to)?
            .into_iter()
            .flat_map(|range| {
                let SeriesRange {
                    name,
                    labels,
                    points,
                } = range;
                points.into_iter().map(move |p| MetricPoint {
                    name: name.clone(),
                    labels: labels.clone(),
                    timestamp: p.timestamp,
                    value: p.value,
                })
            })
            .collect();
        // Stable: equal timestamps keep series order.
        points.sort_by_key(|p| p.timestamp);
        Ok(points)
    }

    /// The last sample of series `name{labels}` (exactly those labels) between `from` and
    /// `to` (Unix milliseconds, inclusive), stale markers included: what restoring alert
    /// state after a restart reads, as Prometheus reads `ALERTS_FOR_STATE`.
    pub(crate) fn last_sample_ms(
        &self,
        name: &str,
        labels: &LabelSet,
        from: i64,
        to: i64,
    ) -> Option<(i64, f64)> {
        let series = self.inner.names.read().get(name)?.get(labels)?.clone();
        let (from, to) = (
            from.saturating_mul(1_000_000),
            to.saturating_mul(1_000_000).saturating_add(999_999),
        );
        let mut last = None;
        series.lock().each_from(from, |t, v| {
            if t > to {
                return false;
            }
            last = Some((t.div_euclid(1_000_000), v));
            true
        });
        last
    }

    /// Says that the caller may append samples as old as `from` until the returned guard
    /// is dropped (or moved on), so that readers of everything stored so far
    /// ([`horizon`](Self::horizon)) wait for them: a collection tick holds its time, a rule
    /// evaluation its own, the ingest thread the time its queue was last empty.
    pub(crate) fn hold(&self, from: OffsetDateTime) -> Hold {
        let token = self.inner.next_hold.fetch_add(1, Ordering::Relaxed);
        self.inner.holds.lock().insert(token, to_nanos(from));
        Hold {
            inner: self.inner.clone(),
            token,
        }
    }

    /// The exemplars kept for each series, observed in `(after, upto]` (Unix nanoseconds):
    /// what remote write sends with the series' samples of that stretch.
    pub(crate) fn exemplars_between(
        &self,
        after: i64,
        upto: i64,
    ) -> super::exemplars::ExemplarsBySeries {
        // A millisecond is in the stretch when its first nanosecond is.
        let ms = |t: i64| t.div_euclid(1_000_000);
        self.inner.exemplars.lock().by_series(ms(after), ms(upto))
    }

    /// The newest time (Unix nanoseconds) before which no more samples are expected: a
    /// second before `now` (for a sample stamped just before it reached its writer), or
    /// earlier while a writer holds an older time. Remote write reads up to it, so it sends
    /// each series' samples in order and misses none.
    pub(crate) fn horizon(&self, now: OffsetDateTime) -> i64 {
        let settled = to_nanos(now).saturating_sub(SETTLE_NANOS);
        let held = self.inner.holds.lock().values().copied().min();
        held.map_or(settled, |held| settled.min(held.saturating_sub(1)))
    }

    /// Calls `f` with each series' samples in `(after, upto]` (Unix nanoseconds), stale
    /// markers included, series that have none skipped, until `f` says stop. Holds one
    /// series' lock at a time, and none while `f` runs.
    pub(crate) fn each_series_between(
        &self,
        after: i64,
        upto: i64,
        mut f: impl FnMut(&str, &LabelSet, &[(i64, f64)]) -> bool,
    ) {
        let all: Vec<(Arc<str>, LabelSet, Arc<Series>)> = self
            .inner
            .names
            .read()
            .iter()
            .flat_map(|(name, series)| {
                series
                    .iter()
                    .map(move |(labels, s)| (name.clone(), labels.clone(), s.clone()))
            })
            .collect();
        let mut samples = Vec::new();
        for (name, labels, series) in all {
            samples.clear();
            series.lock().each_from(after.saturating_add(1), |t, v| {
                if t > upto {
                    return false;
                }
                samples.push((t, v));
                true
            });
            if !samples.is_empty() && !f(&name, &labels, &samples) {
                return;
            }
        }
    }

    /// The time (Unix nanoseconds) of the oldest sample held, if any.
    pub(crate) fn oldest(&self) -> Option<i64> {
        self.inner
            .names
            .read()
            .values()
            .flat_map(HashMap::values)
            .filter_map(|s| s.lock().front())
            .min()
    }

    /// The number of series held.
    pub fn series_count(&self) -> usize {
        self.inner.names.read().values().map(HashMap::len).sum()
    }

    /// The number of points held, over all series.
    pub fn point_count(&self) -> usize {
        self.inner
            .names
            .read()
            .values()
            .flat_map(HashMap::values)
            .map(|p| p.lock().len())
            .sum()
    }

    /// The series `name{labels}`, made empty when it is new.
    pub(super) fn series_of(&self, name: &str, labels: &LabelSet) -> Arc<Series> {
        if let Some(series) = self
            .inner
            .names
            .read()
            .get(name)
            .and_then(|series| series.get(labels))
        {
            return series.clone();
        }
        self.inner
            .names
            .write()
            .entry(name.into())
            .or_default()
            .entry(labels.clone())
            .or_insert_with(|| {
                Arc::new(Series {
                    id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
                    points: Mutex::new(Points::default()),
                })
            })
            .clone()
    }

    fn trim(&self, points: &mut Points, newest: i64) {
        let retention = i64::try_from(self.inner.retention.as_nanos()).unwrap_or(i64::MAX);
        points.trim(newest.saturating_sub(retention), self.inner.max_points);
    }
}

impl HistoryStore {
    /// Visits each stored series of the metric names `names` (every series when `None`) that
    /// has samples from `from_ns` (nanoseconds) on, with its name, labels and those samples
    /// (milliseconds, value), stopping at the first error `visit` returns. What the query
    /// layer reads the history by.
    pub(crate) fn visit_series<E>(
        &self,
        names: Option<&[String]>,
        from_ns: i64,
        mut visit: impl FnMut(&str, &LabelSet, Vec<(i64, f64)>) -> Result<(), E>,
    ) -> Result<(), E> {
        let all = self.inner.names.read();
        let chosen = all.iter().filter(|(name, _)| {
            names.is_none_or(|names| names.iter().any(|n| n.as_str() == &***name))
        });
        for (name, series) in chosen {
            for (labels, points) in series {
                let points = points.lock();
                let mut samples = Vec::new();
                points.each_from(from_ns, |ns, v| {
                    samples.push((ns.div_euclid(1_000_000), v));
                    true
                });
                drop(points);
                if !samples.is_empty() {
                    visit(name, labels, samples)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + secs).unwrap()
    }

    fn labels() -> LabelSet {
        LabelSet::default()
    }

    #[test]
    fn out_of_order_appends_come_back_in_time_order() {
        let store = HistoryStore::new(Duration::from_secs(3600), 100);
        for s in [5, 1, 3, 2, 4] {
            store.append("m", &labels(), t(s), s as f64);
        }
        let values: Vec<f64> = store
            .points("m", &[], t(0), t(10))
            .unwrap()
            .iter()
            .map(|p| p.value)
            .collect();
        assert_eq!(values, [1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn range_bounds_are_inclusive() {
        let store = HistoryStore::new(Duration::from_secs(3600), 100);
        for s in 0..10 {
            store.append("m", &labels(), t(s), s as f64);
        }
        let got = store.points("m", &[], t(3), t(6)).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].timestamp, t(3));
    }

    #[test]
    fn point_cap_drops_the_oldest() {
        let store = HistoryStore::new(Duration::from_secs(3600), 3);
        for s in 0..10 {
            store.append("m", &labels(), t(s), s as f64);
        }
        let values: Vec<f64> = store
            .points("m", &[], t(0), t(10))
            .unwrap()
            .iter()
            .map(|p| p.value)
            .collect();
        assert_eq!(values, [7.0, 8.0, 9.0]);
    }

    #[test]
    fn retention_drops_old_points_and_empty_series() {
        let store = HistoryStore::new(Duration::from_secs(60), 1000);
        store.append("old", &labels(), t(0), 1.0);
        store.append("m", &labels(), t(0), 1.0);
        store.append("m", &labels(), t(100), 2.0);
        // Appending at t=100 already dropped m's point at t=0.
        assert_eq!(store.point_count(), 2);
        store.prune(t(100));
        assert_eq!(store.series_count(), 1);
        assert_eq!(store.point_count(), 1);
    }

    #[test]
    fn tick_does_not_copy_a_fresh_sample() {
        let store = HistoryStore::new(Duration::from_secs(3600), 100);
        store.append("m", &labels(), t(5), 1.0);
        assert!(!store.append_unless_newer("m", &labels(), t(15), 1.0, Some(t(0))));
        assert!(store.append_unless_newer("m", &labels(), t(30), 1.0, Some(t(15))));
        assert_eq!(store.point_count(), 2);
    }

    #[test]
    fn bad_queries_are_errors() {
        let store = HistoryStore::new(Duration::from_secs(60), 10);
        assert!(matches!(
            store.range("m", &[], t(10), t(0)),
            Err(MonitoringError::InvalidTimeRange { .. })
        ));
        assert!(matches!(
            store.range("bad name", &[], t(0), t(10)),
            Err(MonitoringError::InvalidMetricName { .. })
        ));
        assert!(store.range("unknown", &[], t(0), t(10)).unwrap().is_empty());
    }
}
