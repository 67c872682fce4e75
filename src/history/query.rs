//! Module implementing PromQL queries over the history store. See [`HistoryStore::query`] for
//! details.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::HistoryStore;
use crate::query::{self, QuerySample, QuerySeries, QueryValue, Store, Value};
use crate::MonitoringError;

/// A series' labels, sorted by name.
type Labels = Vec<(String, String)>;

/// The most samples one query may load, so that a query cannot exhaust memory.
const MAX_SAMPLES: usize = 5_000_000;

/// The most steps a range query may have, as Prometheus allows.
const MAX_STEPS: u128 = 11_000;

/// `t` in Unix milliseconds, as PromQL reads time.
pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos().div_euclid(1_000_000)).clamp(i64::MIN as i128, i64::MAX as i128)
        as i64
}

/// Unix milliseconds as a time (the epoch for one out of range).
pub(crate) fn time_of(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl HistoryStore {
    /// Evaluates the PromQL expression `expr` at `at` over the stored samples, with
    /// Prometheus 2.42's semantics (see the crate's README for what is evaluated so far): a
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
        let store = self.query_store(expr)?;
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
        let store = self.query_store(expr)?;
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

    /// The stored samples of the series `expr` may read, for the evaluator: the metric names
    /// its selectors name, or every series when a selector names none.
    fn query_store(&self, expr: &str) -> Result<Store, MonitoringError> {
        let parsed = query::parse(expr, None)?;
        let names = query::selector_names(&parsed);
        let all = self.inner.names.read();
        let chosen: Vec<(&std::sync::Arc<str>, &super::store::SeriesMap)> = match &names {
            Some(names) => all
                .iter()
                .filter(|(name, _)| names.iter().any(|n| n.as_str() == &***name))
                .collect(),
            None => all.iter().collect(),
        };
        let mut loaded = 0usize;
        let mut store = Vec::new();
        for (name, series) in chosen {
            for (labels, points) in series {
                let points = points.lock();
                loaded += points.len();
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
                pairs.push(("__name__".to_owned(), name.to_string()));
                pairs.sort();
                let samples: Vec<(i64, f64)> = points
                    .iter()
                    .map(|&(ns, v)| (ns.div_euclid(1_000_000), v))
                    .collect();
                store.push((pairs, samples));
            }
        }
        Ok(Store::from_series(store))
    }
}
