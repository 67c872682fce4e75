//! Module implementing the functions of range vectors: the range selectors and subqueries
//! they read, and each function over one series' points (`rate` … `deriv`,
//! `predict_linear`, `holt_winters`), as Prometheus 2.42 computes them. See [`range_arg`].

use std::time::Duration;

use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr};

use super::{Args, Out};
use crate::promql::matchers_of;
use crate::query::engine::{
    at_time, eval_instant, offset_ms, offset_of, reference_time, without_name,
};
use crate::query::series_desc::STALE_NAN_BITS;
use crate::query::store::Store;
use crate::query::value::{Labels, RangeSeries, Sample, Value};
use crate::query::QueryError;

/// The `*_over_time`, rate and change functions: each series of the range argument (the
/// second for `quantile_over_time`, whose first is φ) through its [`RangeFn`].
pub(super) fn over_range(a: &Args<'_>, range: RangeFn) -> Result<Out, QueryError> {
    let name = a.name;
    let (param, matrix_arg) = if name == "quantile_over_time" {
        (a.scalar(0)?, 1)
    } else {
        (0.0, 0)
    };
    let Some(window) = a.range(matrix_arg)? else {
        return Err(QueryError::evaluation(
            a.text,
            format!("{name} takes a range vector, such as x[5m] or x[5m:1m]"),
        ));
    };
    let mut out = Vec::new();
    let bounds = (window.start, window.end);
    for (labels, points) in window.series {
        if let Some(value) = range(&points, bounds, param) {
            let labels = if name == "last_over_time" {
                labels
            } else {
                without_name(labels)
            };
            out.push(Sample { labels, value });
        }
    }
    Ok(Out::Samples(out))
}

pub(super) fn predict_linear(a: &Args<'_>) -> Result<Out, QueryError> {
    let Some(window) = a.range(0)? else {
        return Err(a.unsupported());
    };
    let duration = a.scalar(1)?;
    Ok(Out::Samples(
        window
            .series
            .into_iter()
            .filter(|(_, points)| points.len() >= 2)
            .map(|(labels, points)| {
                let (slope, intercept) = linear_regression(&points, a.ts);
                Sample {
                    labels: without_name(labels),
                    value: slope * duration + intercept,
                }
            })
            .collect(),
    ))
}

pub(super) fn holt_winters_function(a: &Args<'_>) -> Result<Out, QueryError> {
    let Some(window) = a.range(0)? else {
        return Err(a.unsupported());
    };
    let (sf, tf) = (a.scalar(1)?, a.scalar(2)?);
    // Prometheus's messages, its `%f` included.
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::evaluation(
            a.text,
            format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"),
        ));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::evaluation(
            a.text,
            format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"),
        ));
    }
    Ok(Out::Samples(
        window
            .series
            .into_iter()
            .filter_map(|(labels, points)| {
                holt_winters(&points, sf, tf).map(|value| Sample {
                    labels: without_name(labels),
                    value,
                })
            })
            .collect(),
    ))
}

/// A function over one series' points in a range: the points, the range's first and last
/// time, and a parameter (`quantile_over_time`'s φ).
pub(super) type RangeFn = fn(&[(i64, f64)], (i64, i64), f64) -> Option<f64>;

pub(super) fn range_function(name: &str) -> Option<RangeFn> {
    Some(match name {
        "rate" => |p, range, _| extrapolated_rate(p, range, true, true),
        "increase" => |p, range, _| extrapolated_rate(p, range, true, false),
        "delta" => |p, range, _| extrapolated_rate(p, range, false, false),
        "irate" => |p, _, _| instant_value(p, true),
        "idelta" => |p, _, _| instant_value(p, false),
        "sum_over_time" => |p, _, _| Some(sum_over_time(p)),
        "avg_over_time" => |p, _, _| Some(avg_over_time(p)),
        "count_over_time" => |p, _, _| Some(p.len() as f64),
        "min_over_time" => |p, _, _| {
            Some(
                p.iter()
                    .fold(p[0].1, |m, &(_, v)| if v < m || m.is_nan() { v } else { m }),
            )
        },
        "max_over_time" => |p, _, _| {
            Some(
                p.iter()
                    .fold(p[0].1, |m, &(_, v)| if v > m || m.is_nan() { v } else { m }),
            )
        },
        "last_over_time" => |p, _, _| p.last().map(|&(_, v)| v),
        "present_over_time" => |_, _, _| Some(1.0),
        "stddev_over_time" => |p, _, _| Some(variance_over_time(p).sqrt()),
        "stdvar_over_time" => |p, _, _| Some(variance_over_time(p)),
        "quantile_over_time" => |p, _, q| Some(quantile_over_time(q, p)),
        "changes" => |p, _, _| {
            let changes = p
                .windows(2)
                .filter(|w| w[1].1 != w[0].1 && !(w[1].1.is_nan() && w[0].1.is_nan()))
                .count();
            Some(changes as f64)
        },
        "resets" => |p, _, _| Some(p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64),
        "deriv" => |p, _, _| (p.len() >= 2).then(|| linear_regression(p, p[0].0).0),
        _ => return None,
    })
}

/// A range-vector argument at one time: each series' points in `[start, end]`.
pub(super) struct Window {
    pub(super) start: i64,
    pub(super) end: i64,
    /// Series with at least one point, sorted by labels.
    pub(super) series: RangeSeries,
}

/// The most steps one evaluation of a subquery may take, so that `x[1y:1s]` fails instead
/// of running for hours.
const MAX_SUBQUERY_STEPS: i64 = 1_000_000;

/// The most samples one evaluation of a subquery may hold, so that a fine step over many
/// series fails instead of exhausting memory.
const MAX_SUBQUERY_SAMPLES: usize = 5_000_000;

/// The range-vector argument `arg` at `ts`: a range selector's samples, or a subquery's
/// results at its steps; `None` when `arg` is neither.
pub(super) fn range_arg(
    text: &str,
    arg: Option<&Expr>,
    ts: i64,
    store: &Store,
) -> Result<Option<Window>, QueryError> {
    match arg {
        Some(Expr::MatrixSelector(ms)) => Ok(Some(select_range(ms, ts, store))),
        Some(Expr::Subquery(sq)) => subquery(text, sq, ts, store).map(Some),
        _ => Ok(None),
    }
}

/// Each matching series' samples in `[end − range, end]` (closed at both ends, as in
/// Prometheus 2.x), where `end` is the query time less the offset; stale markers left out,
/// series with no sample left out.
fn select_range(ms: &MatrixSelector, ts: i64, store: &Store) -> Window {
    let end = reference_time(&ms.vs, ts) - offset_ms(&ms.vs);
    let start = end - ms.range.as_millis() as i64;
    let matchers = matchers_of(&ms.vs);
    let series = store
        .select(&matchers)
        .filter_map(|(labels, samples)| {
            let from = samples.partition_point(|(t, _)| *t < start);
            let to = samples.partition_point(|(t, _)| *t <= end);
            let points: Vec<(i64, f64)> = samples[from..to]
                .iter()
                .copied()
                .filter(|(_, v)| v.to_bits() != STALE_NAN_BITS)
                .collect();
            (!points.is_empty()).then(|| (labels.clone(), points))
        })
        .collect();
    Window { start, end, series }
}

/// A subquery `expr[range:step]` at `ts`, as Prometheus evaluates it: the inner expression
/// at every multiple of the step in `[end − range, end]`, where `end` is the query time (or
/// the `@` time) less the offset.
fn subquery(text: &str, sq: &SubqueryExpr, ts: i64, store: &Store) -> Result<Window, QueryError> {
    let reference = match &sq.at {
        Some(at) => at_time(at, ts),
        None => ts,
    };
    let end = reference - offset_of(sq.offset.as_ref());
    let start = end - sq.range.as_millis() as i64;
    let step = sq
        .step
        .unwrap_or(crate::query::engine::DEFAULT_SUBQUERY_STEP)
        .as_millis() as i64;
    if step <= 0 {
        return Err(QueryError::evaluation(
            text,
            "a subquery's step must be positive",
        ));
    }
    // The first multiple of the step at or after the start.
    let mut first = start.div_euclid(step) * step;
    if first < start {
        first += step;
    }
    let steps = if end < first {
        0
    } else {
        (end - first) / step + 1
    };
    if steps > MAX_SUBQUERY_STEPS {
        return Err(QueryError::evaluation(
            text,
            format!(
                "a subquery would take {steps} steps, more than {MAX_SUBQUERY_STEPS}; give it a larger step"
            ),
        ));
    }
    let mut series: std::collections::BTreeMap<Labels, Vec<(i64, f64)>> = Default::default();
    let mut held = 0usize;
    for i in 0..steps {
        if i % 64 == 0 && crate::query::engine::timed_out() {
            return Err(QueryError::evaluation(
                text,
                crate::query::engine::TIMED_OUT,
            ));
        }
        let t = first + i * step;
        match eval_instant(text, &sq.expr, t, store)? {
            Value::Vector(samples) => {
                held += samples.len();
                if held > MAX_SUBQUERY_SAMPLES {
                    return Err(QueryError::evaluation(
                        text,
                        format!(
                            "a subquery would hold more than {MAX_SUBQUERY_SAMPLES} samples; give it a larger step or a shorter range"
                        ),
                    ));
                }
                for s in samples {
                    series.entry(s.labels).or_default().push((t, s.value));
                }
            }
            Value::Scalar(_) => {
                return Err(QueryError::evaluation(
                    text,
                    "a subquery is only allowed on an instant vector",
                ))
            }
        }
    }
    Ok(Window {
        start,
        end,
        series: series.into_iter().collect(),
    })
}

/// Prometheus's `extrapolatedRate`: the increase over the sampled interval (counter resets
/// added back for counters), extrapolated to the range edges where the first and last
/// samples are close to them, and not below zero for counters.
fn extrapolated_rate(
    points: &[(i64, f64)],
    (range_start, range_end): (i64, i64),
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let range = range_end - range_start;
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in &points[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let average = sampled / (points.len() - 1) as f64;
    if is_counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average / 2.0
    };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= Duration::from_millis(range as u64).as_secs_f64();
    }
    Some(result * factor)
}

/// Prometheus's `funcHoltWinters`: double exponential smoothing with smoothing factor `sf`
/// and trend factor `tf`; `None` below two points.
fn holt_winters(points: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, points[0].1);
    let mut b = points[1].1 - points[0].1;
    for (i, &(_, v)) in points.iter().enumerate().skip(1) {
        let x = sf * v;
        // Prometheus's calcTrendValue: the first trend is the initial one.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

/// Prometheus's `instantValue`: from the last two samples.
fn instant_value(points: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (last_t, last_v) = points[points.len() - 1];
    let (prev_t, prev_v) = points[points.len() - 2];
    let mut result = if is_rate && last_v < prev_v {
        last_v
    } else {
        last_v - prev_v
    };
    let interval = last_t - prev_t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Prometheus's `kahanSumInc`: Kahan summation with Neumaier's improvement.
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn sum_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for &(_, v) in points {
        (sum, c) = kahan_inc(v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

fn avg_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        if mean.is_infinite()
            && ((v.is_infinite() && (mean > 0.0) == (v > 0.0)) || (!v.is_infinite() && !v.is_nan()))
        {
            continue;
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

/// Prometheus's `stdvar_over_time`: Welford's method with compensated sums.
fn variance_over_time(points: &[(i64, f64)]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn quantile_over_time(q: f64, points: &[(i64, f64)]) -> f64 {
    let samples: Vec<Sample> = points
        .iter()
        .map(|&(_, value)| Sample {
            labels: Labels::new(),
            value,
        })
        .collect();
    crate::query::aggregate::quantile(q, samples)
}

/// Prometheus's `linearRegression`: least squares over the points, times in seconds from
/// `intercept_time`, with compensated sums; a constant series has slope 0.
fn linear_regression(points: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    let first = points[0].1;
    let mut constant = true;
    for (i, &(t, v)) in points.iter().enumerate() {
        if constant && i > 0 && v != first {
            constant = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if constant {
        if first.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, first);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}
