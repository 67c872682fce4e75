//! Module implementing the self-scrape: copying a registry's current values into the history
//! store at a collection tick. See [`HistoryStore::scrape`] for details.

use time::OffsetDateTime;

use super::HistoryStore;
use crate::metrics::Series;
use crate::{LabelSet, Registry};

/// The quantiles a histogram series stores at every tick, from its recent window.
const QUANTILES: [(f64, &str); 5] = [
    (0.5, "0.5"),
    (0.9, "0.9"),
    (0.95, "0.95"),
    (0.99, "0.99"),
    (0.999, "0.999"),
];

impl HistoryStore {
    /// Stores the current value of every series of `registry` at `at`, and returns how many
    /// points it stored.
    ///
    /// Counters and gauges store their value under their own name. A histogram `h` stores what
    /// Prometheus would scrape of it, `h_count` and `h_sum` since start, plus
    /// `h{quantile="0.5"|"0.9"|"0.95"|"0.99"|"0.999"}` over its recent window (no quantile
    /// points while the window is empty).
    ///
    /// A series that received a point after `since` (a `record_metric` sample since the last
    /// tick) is skipped, so each sample is stored once.
    pub(crate) fn scrape(
        &self,
        registry: &Registry,
        at: OffsetDateTime,
        since: OffsetDateTime,
    ) -> usize {
        let mut stored = 0;
        for family in registry.families() {
            let series: Vec<(LabelSet, Series)> = family
                .series
                .read()
                .iter()
                .map(|(l, s)| (l.clone(), s.clone()))
                .collect();
            let name = &*family.name;
            for (labels, series) in series {
                let mut store = |name: &str, labels: &LabelSet, value: f64| {
                    stored +=
                        usize::from(self.append_unless_newer(name, labels, at, value, Some(since)));
                };
                match series {
                    Series::Counter(c) => store(name, &labels, c.get()),
                    Series::Gauge(g) => store(name, &labels, g.get()),
                    Series::Histogram(h) => {
                        let total = h.snapshot();
                        store(&format!("{name}_count"), &labels, total.count as f64);
                        store(&format!("{name}_sum"), &labels, total.sum);
                        let window = h.window_snapshot();
                        if window.count > 0 {
                            for (q, text) in QUANTILES {
                                store(
                                    name,
                                    &labels.with_label("quantile", text),
                                    window.quantile(q),
                                );
                            }
                        }
                    }
                }
            }
        }
        stored
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::LabelMatcher;

    #[test]
    fn histograms_store_count_sum_and_window_quantiles() {
        let registry = Registry::new();
        let h = registry
            .histogram("q_seconds", "", &[("op", "get")])
            .unwrap();
        for i in 1..=100 {
            h.observe(i as f64 / 1000.0);
        }
        let store = HistoryStore::new(Duration::from_secs(3600), 100);
        let now = OffsetDateTime::now_utc();
        store.scrape(&registry, now, now - Duration::from_secs(1));
        let one = |name: &str, matchers: &[LabelMatcher]| {
            let points = store.points(name, matchers, now, now).unwrap();
            assert_eq!(points.len(), 1, "{name} {matchers:?}");
            points[0].value
        };
        assert_eq!(one("q_seconds_count", &[]), 100.0);
        assert!((one("q_seconds_sum", &[]) - 5.05).abs() < 1e-9);
        let p99 = one("q_seconds", &[LabelMatcher::eq("quantile", "0.99")]);
        assert!((p99 - 0.099).abs() <= 0.099 * 0.01, "{p99}");
    }
}
