//! Module implementing the store's catalog: which series, label names and label values it
//! holds, as Prometheus's `/api/v1/series`, `/api/v1/labels` and
//! `/api/v1/label/<name>/values` list them. See [`HistoryStore::series`] for details.

use std::collections::BTreeSet;

use promql_parser::label::Matcher;
use promql_parser::parser::Expr;
use time::OffsetDateTime;

use super::store::to_nanos;
use super::HistoryStore;
use crate::promql::{self, QueryError};
use crate::MonitoringError;

use crate::metrics::Labels;

impl HistoryStore {
    /// The exemplars the self-scrape kept (the newest 10,000) observed from `start` to
    /// `end`, of the series any of `selectors` matches, grouped by series (labels with
    /// `__name__`), each series' oldest first: what `/api/v1/query_exemplars` lists.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Query`] when a selector is not one.
    pub fn exemplars(
        &self,
        selectors: &[&str],
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<Vec<(Labels, Vec<crate::Exemplar>)>, MonitoringError> {
        let matchers = selector_matchers(selectors)?;
        let millis = crate::clock::millis;
        let kept =
            self.inner
                .exemplars
                .lock()
                .between(millis(start), millis(end), |name, labels| {
                    let pairs = named(name, labels);
                    matchers.iter().any(|m| promql::matches_all(m, &pairs))
                });
        // Grouped by series in the order each first appears.
        let mut out: Vec<(Labels, Vec<crate::Exemplar>)> = Vec::new();
        let mut index: std::collections::HashMap<Labels, usize> = Default::default();
        for k in kept {
            let pairs = named(&k.name, &k.labels);
            let at = *index.entry(pairs.clone()).or_insert_with(|| {
                out.push((pairs, Vec::new()));
                out.len() - 1
            });
            out[at].1.push(k.exemplar);
        }
        Ok(out)
    }

    /// The label sets of the series that match any of `selectors` (series selectors such as
    /// `kotoba_db_queries_total{op="get"}`; none matches every series) and hold a sample
    /// between `start` and `end` (inclusive; `None` leaves that end open). Each label set
    /// carries the metric name as `__name__` and is sorted by label name; the list is sorted
    /// as Prometheus sorts it.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Query`] when a selector is not valid PromQL or not a series selector.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use time::OffsetDateTime;
    /// use kotoba_monitoring::{HistoryStore, LabelSet};
    ///
    /// let store = HistoryStore::new(Duration::from_secs(3600), 10_000);
    /// let get = LabelSet::new("kotoba_db_queries_total", &[("op", "get")])?;
    /// store.append("kotoba_db_queries_total", &get, OffsetDateTime::now_utc(), 1.0);
    /// let series = store.series(&[r#"kotoba_db_queries_total{op=~"g.*"}"#], None, None)?;
    /// assert_eq!(series[0][0], ("__name__".to_string(), "kotoba_db_queries_total".to_string()));
    /// assert_eq!(series[0][1], ("op".to_string(), "get".to_string()));
    /// # Ok::<(), kotoba_monitoring::MonitoringError>(())
    /// ```
    pub fn series(
        &self,
        selectors: &[&str],
        start: Option<OffsetDateTime>,
        end: Option<OffsetDateTime>,
    ) -> Result<Vec<Labels>, MonitoringError> {
        let matchers = selector_matchers(selectors)?;
        let (from, to) = (start.map(to_nanos), end.map(to_nanos));
        let names = self.inner.names.read();
        let mut out = Vec::new();
        for (name, series) in names.iter() {
            for (labels, points) in series {
                let pairs = named(name, labels);
                let chosen =
                    matchers.is_empty() || matchers.iter().any(|m| promql::matches_all(m, &pairs));
                if !chosen {
                    continue;
                }
                let mut first = None;
                points.lock().each_from(from.unwrap_or(i64::MIN), |t, _| {
                    first = Some(t);
                    false
                });
                let in_range = first.is_some_and(|t| to.is_none_or(|to| t <= to));
                if in_range {
                    out.push(pairs);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The label names (`__name__` among them) of the series [`series`](Self::series) lists
    /// for the same arguments, sorted.
    ///
    /// # Errors
    ///
    /// As [`series`](Self::series).
    pub fn label_names(
        &self,
        selectors: &[&str],
        start: Option<OffsetDateTime>,
        end: Option<OffsetDateTime>,
    ) -> Result<Vec<String>, MonitoringError> {
        let names: BTreeSet<String> = self
            .series(selectors, start, end)?
            .into_iter()
            .flat_map(|labels| labels.into_iter().map(|(n, _)| n))
            .collect();
        Ok(names.into_iter().collect())
    }

    /// The values label `name` takes (`__name__` for the metric names) in the series
    /// [`series`](Self::series) lists for the same arguments, sorted; a series without the
    /// label adds nothing.
    ///
    /// # Errors
    ///
    /// As [`series`](Self::series).
    pub fn label_values(
        &self,
        name: &str,
        selectors: &[&str],
        start: Option<OffsetDateTime>,
        end: Option<OffsetDateTime>,
    ) -> Result<Vec<String>, MonitoringError> {
        let values: BTreeSet<String> = self
            .series(selectors, start, end)?
            .into_iter()
            .filter_map(|labels| labels.into_iter().find(|(n, _)| n == name).map(|(_, v)| v))
            .collect();
        Ok(values.into_iter().collect())
    }

    /// The newest sample of each series that matches any of `selectors` (none matches
    /// nothing), taken within the query lookback before `at` and not a stale marker: what
    /// Prometheus's `/federate` serves. Each label set carries `__name__` and is sorted by
    /// name; times are Unix milliseconds; the list is sorted by metric name, then labels.
    ///
    /// # Errors
    ///
    /// As [`series`](Self::series).
    pub(crate) fn latest(
        &self,
        selectors: &[&str],
        at: OffsetDateTime,
    ) -> Result<Vec<(Labels, i64, f64)>, MonitoringError> {
        let matchers = selector_matchers(selectors)?;
        if matchers.is_empty() {
            return Ok(Vec::new());
        }
        let to = to_nanos(at);
        let lookback = i64::try_from(self.query_lookback().as_nanos()).unwrap_or(i64::MAX);
        let from = to.saturating_sub(lookback);
        let names = self.inner.names.read();
        let mut out = Vec::new();
        for (name, series) in names.iter() {
            for (labels, points) in series {
                let pairs = named(name, labels);
                if !matchers.iter().any(|m| promql::matches_all(m, &pairs)) {
                    continue;
                }
                let mut last = None;
                points.lock().each_from(from, |t, v| {
                    if t > to {
                        return false;
                    }
                    last = Some((t, v));
                    true
                });
                match last {
                    Some((t, v)) if v.to_bits() != crate::metrics::STALE_NAN_BITS => {
                        out.push((pairs, t.div_euclid(1_000_000), v));
                    }
                    _ => {}
                }
            }
        }
        out.sort_by(|a, b| {
            let name = |l: &Labels| {
                l.iter()
                    .find(|(n, _)| n == "__name__")
                    .map(|(_, v)| v.clone())
            };
            name(&a.0).cmp(&name(&b.0)).then_with(|| a.0.cmp(&b.0))
        });
        Ok(out)
    }
}

/// `labels` with the metric `name` as `__name__`, sorted by name.
fn named(name: &str, labels: &crate::LabelSet) -> Labels {
    let mut pairs: Labels = labels
        .iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    pairs.push(("__name__".to_owned(), name.to_owned()));
    pairs.sort();
    pairs
}

/// Each selector's matchers, its metric name among them.
fn selector_matchers(selectors: &[&str]) -> Result<Vec<Vec<Matcher>>, MonitoringError> {
    selectors
        .iter()
        .map(|text| match promql::parse(text, None)? {
            Expr::VectorSelector(vs) => Ok(promql::matchers_of(&vs)),
            _ => Err(MonitoringError::Query(QueryError::Parse {
                expr: (*text).to_owned(),
                origin: None,
                reason:
                    "not a series selector; give one such as kotoba_db_queries_total{op=\"get\"}"
                        .to_owned(),
            })),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::LabelSet;

    fn store() -> (HistoryStore, OffsetDateTime) {
        let store = HistoryStore::new(Duration::from_secs(3600), 100);
        let now = OffsetDateTime::now_utc();
        let add = |name: &str, labels: &[(&str, &str)], at: OffsetDateTime| {
            store.append(name, &LabelSet::new(name, labels).unwrap(), at, 1.0);
        };
        add("q_total", &[("op", "get")], now - Duration::from_secs(600));
        add("q_total", &[("op", "put")], now);
        add("up", &[], now);
        add("Z", &[("A", "x")], now);
        (store, now)
    }

    fn names(series: &[Labels]) -> Vec<String> {
        series
            .iter()
            .map(|l| {
                l.iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    }

    #[test]
    fn series_are_chosen_by_any_selector_and_by_time() {
        let (store, now) = store();
        let all = store.series(&[], None, None).unwrap();
        // Sorted as Prometheus sorts label sets: byte order, "A" before "__name__".
        assert_eq!(
            names(&all),
            [
                "A=x,__name__=Z",
                "__name__=q_total,op=get",
                "__name__=q_total,op=put",
                "__name__=up"
            ]
        );
        let recent = store
            .series(
                &["q_total", "up"],
                Some(now - Duration::from_secs(60)),
                None,
            )
            .unwrap();
        assert_eq!(names(&recent), ["__name__=q_total,op=put", "__name__=up"]);
        let old = store
            .series(
                &[r#"{op=~"g.."}"#],
                None,
                Some(now - Duration::from_secs(60)),
            )
            .unwrap();
        assert_eq!(names(&old), ["__name__=q_total,op=get"]);
    }

    #[test]
    fn label_names_and_values_come_from_the_chosen_series() {
        let (store, _) = store();
        assert_eq!(
            store.label_names(&[], None, None).unwrap(),
            ["A", "__name__", "op"]
        );
        assert_eq!(
            store.label_values("op", &["q_total"], None, None).unwrap(),
            ["get", "put"]
        );
        assert_eq!(
            store.label_values("__name__", &[], None, None).unwrap(),
            ["Z", "q_total", "up"]
        );
    }

    #[test]
    fn a_selector_that_is_not_one_is_refused_by_name() {
        let (store, _) = store();
        let err = store.series(&["sum(up)"], None, None).unwrap_err();
        assert!(err.to_string().contains("not a series selector"), "{err}");
        let err = store.series(&["up{"], None, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("1:4: parse error: unexpected end of input inside braces"),
            "{err}"
        );
    }
}
