//! Module implementing the self-scrape: copying a registry's current values into the history
//! store at a collection tick. See [`HistoryStore::scrape`] for details.

use std::collections::HashSet;
use std::sync::Arc;

use time::OffsetDateTime;

use super::HistoryStore;
use crate::metrics::Series;
use crate::metrics::STALE_NAN_BITS;
use crate::{LabelSet, Registry};

/// What the exposition adds to every series, so that the history holds exactly the series
/// `/metrics` exposes: the global labels (a series' own label of the same name wins), and
/// whether histograms expose their window-quantile gauges.
#[derive(Debug, Clone, Default)]
pub(crate) struct Exposed {
    pub(crate) global_labels: Vec<(String, String)>,
    pub(crate) window_quantiles: bool,
}

impl HistoryStore {
    /// Stores the current value of every series of `registry` at `at`, under the names and
    /// labels `/metrics` exposes it with, and returns how many points it stored:
    ///
    /// - a counter under its `_total` name;
    /// - a gauge under its name;
    /// - a histogram `h` as `h_bucket{le}` (cumulative, `le` written as the OpenMetrics
    ///   exposition writes it, `+Inf` last), `h_sum` and `h_count`, and, when exposed, its
    ///   window gauges `<stem>_window<_unit>{q}` (`NaN` while the window is empty).
    ///
    /// A series that received a point after `since` (a `record_metric` sample since the last
    /// tick) is skipped, so each sample is stored once.
    ///
    /// A series the last scrape wrote that is gone from `registries` now (removed from its
    /// family) gets Prometheus's stale marker at `at`, as a series gone from a target's
    /// scrape does in Prometheus: PromQL stops finding it at once instead of five minutes
    /// later, and `range`/`points` show no point there.
    pub(crate) fn scrape(
        &self,
        registries: &[&Registry],
        exposed: &Exposed,
        at: OffsetDateTime,
        since: OffsetDateTime,
    ) -> usize {
        let mut stored = 0;
        let mut per_bucket = Vec::new();
        let mut seen: HashSet<(Arc<str>, LabelSet)> = HashSet::new();
        for family in registries.iter().flat_map(|r| r.families()) {
            let series: Vec<(LabelSet, Series)> = family
                .series
                .read()
                .iter()
                .map(|(l, s)| (l.clone(), s.clone()))
                .collect();
            let name = &*family.name;
            for (labels, series) in series {
                let labels = with_globals(labels, &exposed.global_labels);
                let mut store = |name: &str, labels: &LabelSet, value: f64| {
                    stored +=
                        usize::from(self.append_unless_newer(name, labels, at, value, Some(since)));
                    seen.insert((Arc::from(name), labels.clone()));
                };
                match series {
                    Series::Counter(c) => {
                        let stem = name.strip_suffix("_total").unwrap_or(name);
                        let total = format!("{stem}_total");
                        store(&total, &labels, c.get());
                        if let Some(exemplar) = c.exemplar() {
                            self.inner
                                .exemplars
                                .lock()
                                .offer(&total, &labels, &exemplar);
                        }
                    }
                    Series::Gauge(g) => store(name, &labels, g.get()),
                    Series::Histogram(h) => {
                        per_bucket.clear();
                        let sum = h.export_buckets(&mut per_bucket);
                        let bounds = h.bucket_bounds();
                        let bucket = format!("{name}_bucket");
                        let mut cumulative = 0u64;
                        let series_of = |i: usize| {
                            let le = match bounds.get(i) {
                                Some(bound) => dtoa::Buffer::new().format(*bound).to_owned(),
                                None => "+Inf".to_owned(),
                            };
                            labels.with_label("le", &le)
                        };
                        for (i, count) in per_bucket.iter().enumerate() {
                            cumulative += count;
                            store(&bucket, &series_of(i), cumulative as f64);
                        }
                        h.each_exemplar(|i, exemplar| {
                            let series = series_of(i);
                            self.inner
                                .exemplars
                                .lock()
                                .offer(&bucket, &series, exemplar);
                        });
                        store(&format!("{name}_sum"), &labels, sum);
                        store(&format!("{name}_count"), &labels, cumulative as f64);
                        if exposed.window_quantiles {
                            let window = h.window_snapshot();
                            let gauge = crate::metrics::window_family_name(name);
                            for (q, text) in crate::metrics::WINDOW_QUANTILES {
                                let value = if window.count > 0 {
                                    window.quantile(q)
                                } else {
                                    f64::NAN
                                };
                                store(&gauge, &labels.with_label("q", text), value);
                            }
                        }
                    }
                }
            }
        }
        let gone: Vec<(Arc<str>, LabelSet)> = {
            let mut last = self.inner.scraped.lock();
            let gone = last.difference(&seen).cloned().collect();
            *last = seen;
            gone
        };
        let stale = f64::from_bits(STALE_NAN_BITS);
        for (name, labels) in gone {
            stored += usize::from(self.append_unless_newer(&name, &labels, at, stale, Some(since)));
        }
        stored
    }
}

/// `labels` with each global label it does not have itself.
fn with_globals(labels: LabelSet, globals: &[(String, String)]) -> LabelSet {
    globals.iter().fold(labels, |labels, (name, value)| {
        if labels.get(name).is_some() {
            labels
        } else {
            labels.with_label(name, value)
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::LabelMatcher;

    #[test]
    fn histograms_store_what_the_exposition_writes() {
        let registry = Registry::new();
        let h = registry
            .histogram_family_with(
                "q_seconds",
                "",
                crate::HistogramOpts::latency().buckets([0.01, 0.05, 1.0]),
            )
            .unwrap()
            .with_labels(&[("op", "get")])
            .unwrap();
        for i in 1..=100 {
            h.observe(i as f64 / 1000.0);
        }
        registry.counter("hits", "", &[]).unwrap().inc_by(3);
        let store = HistoryStore::new(Duration::from_secs(3600), 100);
        let now = OffsetDateTime::now_utc();
        let exposed = Exposed {
            global_labels: vec![("region".into(), "eu".into()), ("op".into(), "x".into())],
            window_quantiles: true,
        };
        store.scrape(&[&registry], &exposed, now, now - Duration::from_secs(1));
        let one = |name: &str, matchers: &[LabelMatcher]| {
            let points = store.points(name, matchers, now, now).unwrap();
            assert_eq!(points.len(), 1, "{name} {matchers:?}");
            points[0].value
        };
        assert_eq!(one("q_seconds_count", &[]), 100.0);
        assert!((one("q_seconds_sum", &[]) - 5.05).abs() < 1e-9);
        let bucket = |le: &str| one("q_seconds_bucket", &[LabelMatcher::eq("le", le)]);
        assert_eq!(
            [
                bucket("0.01"),
                bucket("0.05"),
                bucket("1.0"),
                bucket("+Inf")
            ],
            [10.0, 50.0, 100.0, 100.0]
        );
        let p99 = one("q_window_seconds", &[LabelMatcher::eq("q", "0.99")]);
        assert!((p99 - 0.099).abs() <= 0.099 * 0.01, "{p99}");
        // A counter under its _total name; global labels added where the series has none.
        assert_eq!(one("hits_total", &[LabelMatcher::eq("region", "eu")]), 3.0);
        assert_eq!(
            one("q_seconds_count", &[LabelMatcher::eq("op", "get")]),
            100.0
        );
    }

    #[test]
    fn a_series_gone_from_the_registry_is_marked_stale() {
        let registry = Registry::new();
        let rows = registry.gauge_family("rows", "").unwrap();
        rows.with_labels(&[("t", "a")]).unwrap().set(1.0);
        rows.with_labels(&[("t", "b")]).unwrap().set(2.0);
        let store = HistoryStore::new(Duration::from_secs(3600), 100);
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let t1 = t0 + Duration::from_secs(15);
        let exposed = Exposed::default();
        store.scrape(&[&registry], &exposed, t0, t0 - Duration::from_secs(15));
        assert!(rows.remove(&[("t", "b")]).unwrap());
        store.scrape(&[&registry], &exposed, t1, t0);
        let count = |at| match store.query("count(rows)", at).unwrap() {
            crate::QueryValue::Vector(v) => v.first().map_or(0.0, |s| s.value),
            other => panic!("{other:?}"),
        };
        // Before the removal both; from the next tick on only `a`, not five minutes later.
        assert_eq!(count(t0), 2.0);
        assert_eq!(count(t1), 1.0);
        assert_eq!(count(t1 + Duration::from_secs(60)), 1.0);
        // The marker is PromQL's: the history's own reads show no point for it.
        let b = store
            .range("rows", &[LabelMatcher::eq("t", "b")], t0, t1)
            .unwrap();
        assert_eq!(b[0].points.len(), 1);
        // A third tick marks nothing again, and a series that comes back is live again.
        store.scrape(&[&registry], &exposed, t1 + Duration::from_secs(15), t1);
        rows.with_labels(&[("t", "b")]).unwrap().set(3.0);
        let t3 = t1 + Duration::from_secs(30);
        store.scrape(&[&registry], &exposed, t3, t1 + Duration::from_secs(15));
        assert_eq!(count(t3), 2.0);
        let points = |t: &str| {
            let r = store
                .range("rows", &[LabelMatcher::eq("t", t)], t0, t3)
                .unwrap();
            r[0].points.len()
        };
        assert_eq!((points("a"), points("b")), (4, 2));
    }
}
