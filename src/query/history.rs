//! Module implementing PromQL queries over the history store. See [`HistoryStore::query`] for
//! details.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::clock::{duration_ms, millis, time_of};
use crate::query::{self, QuerySample, QuerySeries, QueryValue, Store, Value};
use crate::HistoryStore;
use crate::MonitoringError;

use crate::metrics::Labels;

/// The most samples one query may load, so that a query cannot exhaust memory.
const MAX_SAMPLES: usize = 5_000_000;

/// The most steps a range query may have, as Prometheus allows.
const MAX_STEPS: u128 = 11_000;

impl HistoryStore {
    /// Evaluates the PromQL expression `expr` at `at` over the stored samples, with
    /// Prometheus 2.42's semantics (`reference::promql` lists what is evaluated): a
    /// scalar, a vector, a matrix for a range vector (`x[5m]`, `x[5m:1m]`: each series'
    /// samples in the range) or a string literal.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Query`] for an expression that does not parse, uses something not
    /// evaluated yet, or fails as it would in Prometheus (many-to-many matching and the like).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use time::OffsetDateTime;
    /// use kotoba_monitoring::{HistoryStore, LabelSet, QueryValue};
    ///
    /// let store = HistoryStore::new(Duration::from_secs(3600), 10_000);
    /// let now = OffsetDateTime::now_utc();
    /// let get = LabelSet::new("kotoba_db_queries_total", &[("op", "get")])?;
    /// store.append("kotoba_db_queries_total", &get, now - Duration::from_secs(60), 100.0);
    /// store.append("kotoba_db_queries_total", &get, now, 160.0);
    ///
    /// let QueryValue::Vector(v) = store.query("increase(kotoba_db_queries_total[1m])", now)? else {
    ///     unreachable!()
    /// };
    /// assert_eq!(v[0].labels, [("op".to_string(), "get".to_string())]);
    /// assert_eq!(v[0].value, 60.0);
    /// # Ok::<(), kotoba_monitoring::MonitoringError>(())
    /// ```
    pub fn query(&self, expr: &str, at: OffsetDateTime) -> Result<QueryValue, MonitoringError> {
        self.query_until(expr, at, None)
    }

    /// [`query`](Self::query), giving up with [`MonitoringError::Timeout`] once `deadline`
    /// has passed.
    pub(crate) fn query_until(
        &self,
        expr: &str,
        at: OffsetDateTime,
        deadline: Option<Instant>,
    ) -> Result<QueryValue, MonitoringError> {
        let store = self.query_store(expr, millis(at))?;
        match query::evaluate_other(expr, &store, millis(at), self.query_lookback())? {
            Some(query::Other::String(s)) => return Ok(QueryValue::String(s)),
            Some(query::Other::Range(series)) => {
                return Ok(QueryValue::Matrix(
                    series
                        .into_iter()
                        .map(|(labels, points)| QuerySeries {
                            labels,
                            points: points.into_iter().map(|(t, v)| (time_of(t), v)).collect(),
                        })
                        .collect(),
                ))
            }
            None => {}
        }
        let began = Instant::now();
        let mut results =
            query::evaluate(expr, &store, &[millis(at)], deadline, self.query_lookback()).map_err(
                |e| match e {
                    query::Stop::Failed(e) => MonitoringError::Query(e),
                    query::Stop::TimedOut => MonitoringError::Timeout {
                        operation: "evaluating a query",
                        waited: began.elapsed(),
                    },
                },
            )?;
        Ok(match results.pop().map(|(_, v)| v) {
            Some(Value::Scalar(v)) => QueryValue::Scalar(v),
            Some(Value::Vector(samples)) => QueryValue::Vector(
                samples
                    .into_iter()
                    .map(|s| QuerySample {
                        labels: s.labels,
                        value: s.value,
                    })
                    .collect(),
            ),
            None => QueryValue::Vector(Vec::new()),
        })
    }

    /// Evaluates `expr` at `start`, `start + step`, … up to `end`, as a Prometheus range
    /// query: one series per label set, with the steps at which it had a value (a scalar
    /// expression gives one series without labels).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidTimeRange`] when `end` is before `start`, `step` is zero, or
    /// the range holds more than 11,000 steps (Prometheus's limit); otherwise as
    /// [`query`](Self::query).
    pub fn query_range(
        &self,
        expr: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        step: Duration,
    ) -> Result<QueryValue, MonitoringError> {
        self.query_range_until(expr, start, end, step, None)
    }

    /// [`query_range`](Self::query_range), giving up with [`MonitoringError::Timeout`] once
    /// `deadline` has passed (checked between steps).
    pub(crate) fn query_range_until(
        &self,
        expr: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        step: Duration,
        deadline: impl Into<Option<Instant>>,
    ) -> Result<QueryValue, MonitoringError> {
        let deadline = deadline.into();
        if end < start {
            return Err(MonitoringError::InvalidTimeRange {
                reason: format!("end ({end}) is before start ({start}); swap them"),
            });
        }
        let step_ms = step.as_millis();
        if step_ms == 0 {
            return Err(MonitoringError::InvalidTimeRange {
                reason: "the step must be at least 1 ms, for example 15 s".to_owned(),
            });
        }
        let (from, to) = (millis(start), millis(end));
        let steps = (to - from) as u128 / step_ms + 1;
        if steps > MAX_STEPS {
            return Err(MonitoringError::InvalidTimeRange {
                reason: format!(
                    "{steps} steps exceed the maximum of {MAX_STEPS} per series; use a larger step"
                ),
            });
        }
        if let Some(kind) = query::is_range_or_string(&query::parse(expr, None)?) {
            return Err(MonitoringError::Query(query::QueryError::Parse {
                expr: expr.to_owned(),
                origin: None,
                reason: format!(
                    "invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"
                ),
            }));
        }
        let times: Vec<i64> = (0..steps as i64)
            .map(|i| from + i * step_ms as i64)
            .collect();
        let store = self.query_store(expr, from)?;
        let mut series: BTreeMap<Labels, Vec<(OffsetDateTime, f64)>> = BTreeMap::new();
        let began = Instant::now();
        for (t, value) in query::evaluate(expr, &store, &times, deadline, self.query_lookback())
            .map_err(|e| match e {
                query::Stop::TimedOut => MonitoringError::Timeout {
                    operation: "evaluating a range query",
                    waited: began.elapsed(),
                },
                query::Stop::Failed(e) => MonitoringError::Query(e),
            })?
        {
            match value {
                Value::Scalar(v) => series.entry(Vec::new()).or_default().push((time_of(t), v)),
                Value::Vector(samples) => {
                    for s in samples {
                        series
                            .entry(s.labels)
                            .or_default()
                            .push((time_of(t), s.value));
                    }
                }
            }
        }
        Ok(QueryValue::Matrix(
            series
                .into_iter()
                .map(|(labels, points)| QuerySeries { labels, points })
                .collect(),
        ))
    }

    /// The stored samples `expr` may read when evaluated from `first_ms` on, for the
    /// evaluator: those of the metric names its selectors name (every series when a selector
    /// names none), from as far back as it reaches (everything when it cannot say).
    fn query_store(&self, expr: &str, first_ms: i64) -> Result<Store, MonitoringError> {
        let parsed = query::parse(expr, None)?;
        let names = query::selector_names(&parsed);
        let lookback = duration_ms(self.query_lookback());
        // In nanoseconds, as stored; a millisecond early, for the rounding down below.
        let from_ns = query::reach_ms(&parsed, lookback).map_or(i64::MIN, |reach| {
            first_ms
                .saturating_sub(reach)
                .saturating_sub(1)
                .saturating_mul(1_000_000)
        });
        let mut loaded = 0usize;
        let mut store = Vec::new();
        self.visit_series(names.as_deref(), from_ns, |name, labels, samples| {
            loaded += samples.len();
            if loaded > MAX_SAMPLES {
                let reason = format!(
                    "query processing would load more than {MAX_SAMPLES} samples into memory; select fewer series"
                );
                return Err(MonitoringError::Query(query::QueryError::evaluation(
                    expr, reason,
                )));
            }
            let mut pairs: Vec<(String, String)> = labels
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            pairs.push(("__name__".to_owned(), name.to_owned()));
            pairs.sort();
            store.push((pairs, samples));
            Ok(())
        })?;
        Ok(Store::from_series(store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LabelSet;

    /// Whether `store` answers `expr` at `at` as the evaluator does over every stored sample.
    fn as_over_everything(store: &HistoryStore, expr: &str, at: OffsetDateTime) {
        let windowed = store.query(expr, at).unwrap();
        let everything = store.query_store(expr, i64::MIN / 4_000_000).unwrap();
        let lookback = store.query_lookback();
        let full = query::evaluate(expr, &everything, &[millis(at)], None, lookback)
            .unwrap_or_else(|_| panic!("{expr}"));
        let full = match full.into_iter().next().map(|(_, v)| v) {
            Some(Value::Vector(samples)) => {
                samples.into_iter().map(|s| (s.labels, s.value)).collect()
            }
            Some(Value::Scalar(v)) => vec![(Labels::new(), v)],
            _ => Vec::new(),
        };
        let windowed: Vec<(Labels, f64)> = match windowed {
            QueryValue::Vector(samples) => {
                samples.into_iter().map(|s| (s.labels, s.value)).collect()
            }
            QueryValue::Scalar(v) => vec![(Labels::new(), v)],
            other => panic!("{expr}: {other:?}"),
        };
        let bits = |v: &[(Labels, f64)]| -> Vec<(Labels, u64)> {
            let mut v: Vec<_> = v.iter().map(|(l, x)| (l.clone(), x.to_bits())).collect();
            v.sort();
            v
        };
        assert_eq!(bits(&windowed), bits(&full), "{expr}");
        assert!(!full.is_empty(), "{expr} selects something");
    }

    #[test]
    fn reading_only_the_reach_of_an_expression_answers_as_reading_everything() {
        let store = HistoryStore::new(Duration::from_secs(6 * 3600), 100_000);
        let end = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        for s in 0..3 {
            let labels = LabelSet::new("x_total", &[("s", &s.to_string())]).unwrap();
            for i in 0..(4 * 240) {
                let at = end - Duration::from_secs(15 * (4 * 240 - i));
                store.append("x_total", &labels, at, (i * (s + 1)) as f64);
            }
        }
        let at = end - Duration::from_secs(60);
        for expr in [
            "x_total",
            "x_total offset 1h",
            "rate(x_total[5m])",
            "rate(x_total[5m] offset 2h)",
            "max_over_time(x_total[10m:1m])",
            "max_over_time(rate(x_total[5m])[30m:5m] offset 30m)",
            "x_total @ 1699996400",
            "sum(x_total) - sum(x_total offset 3h)",
            "timestamp(x_total offset 90m)",
        ] {
            as_over_everything(&store, expr, at);
        }
        assert_eq!(
            query::reach_ms(&query::parse("x @ 5", None).unwrap(), 300_000),
            None
        );
        assert_eq!(
            query::reach_ms(
                &query::parse("rate(x[5m] offset 1h) + y", None).unwrap(),
                300_000
            ),
            Some(3_900_000)
        );
    }
}
