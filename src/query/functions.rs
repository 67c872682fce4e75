//! Module implementing the PromQL functions evaluated so far, each as Prometheus 2.42's
//! `promql/functions.go` computes it, in the same order of floating-point operations. See
//! [`eval_call`] for details.
//!
//! `exp`, `ln`, `log2` and `log10` follow Go's algorithms (see `gomath`). The trigonometric
//! functions are not here yet: Go computes those with its own algorithms too, which can round
//! differently from Rust's, and promtool compares bit for bit.

use crate::promql::matchers_of;
use std::time::Duration;

use promql_parser::parser::{Call, Expr, MatrixSelector, SubqueryExpr};

use super::engine::{
    at_time, check_unique, eval_instant, offset_ms, offset_of, reference_time, unparen,
    without_name,
};
use super::series_desc::STALE_NAN_BITS;
use super::store::Store;
use super::value::{label_value, Labels, RangeSeries, Sample, Value};
use super::QueryError;
use crate::metrics::name::is_label_name;

/// Evaluates the call `c` at `ts`.
pub(crate) fn eval_call(text: &str, c: &Call, ts: i64, store: &Store) -> Result<Value, QueryError> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| unparen(a)).collect();
    let unsupported = || QueryError::Unsupported {
        expr: text.to_owned(),
        feature: format!("function {name}"),
    };
    let scalar = |i: usize| -> Result<f64, QueryError> {
        match args
            .get(i)
            .map(|a| eval_instant(text, a, ts, store))
            .transpose()?
        {
            Some(Value::Scalar(v)) => Ok(v),
            _ => Err(QueryError::evaluation(
                text,
                format!("argument {} of {name} must be a scalar", i + 1),
            )),
        }
    };
    let vector = |i: usize| -> Result<Vec<Sample>, QueryError> {
        match args
            .get(i)
            .map(|a| eval_instant(text, a, ts, store))
            .transpose()?
        {
            Some(Value::Vector(v)) => Ok(v),
            _ => Err(QueryError::evaluation(
                text,
                format!("argument {} of {name} must be an instant vector", i + 1),
            )),
        }
    };
    let out = match name {
        "time" => return Ok(Value::Scalar(ts as f64 / 1000.0)),
        "vector" => vec![Sample {
            labels: Labels::new(),
            value: scalar(0)?,
        }],
        "scalar" => {
            let v = vector(0)?;
            return Ok(Value::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }));
        }
        "pi" => return Ok(Value::Scalar(std::f64::consts::PI)),
        "sin" => map(vector(0)?, super::gotrig::sin),
        "cos" => map(vector(0)?, super::gotrig::cos),
        "tan" => map(vector(0)?, super::gotrig::tan),
        "asin" => map(vector(0)?, super::gotrig::asin),
        "acos" => map(vector(0)?, super::gotrig::acos),
        "atan" => map(vector(0)?, super::gotrig::atan),
        "sinh" => map(vector(0)?, super::gotrig::sinh),
        "cosh" => map(vector(0)?, super::gotrig::cosh),
        "tanh" => map(vector(0)?, super::gotrig::tanh),
        "asinh" => map(vector(0)?, super::gotrig::asinh),
        "acosh" => map(vector(0)?, super::gotrig::acosh),
        "atanh" => map(vector(0)?, super::gotrig::atanh),
        // Prometheus's `v * 180 / math.Pi` and `v * math.Pi / 180`, in that order.
        "deg" => map(vector(0)?, |v| v * 180.0 / std::f64::consts::PI),
        "rad" => map(vector(0)?, |v| v * std::f64::consts::PI / 180.0),
        "abs" => map(vector(0)?, f64::abs),
        "ceil" => map(vector(0)?, f64::ceil),
        "floor" => map(vector(0)?, f64::floor),
        "sqrt" => map(vector(0)?, f64::sqrt),
        "exp" => map(vector(0)?, super::gomath::exp),
        "ln" => map(vector(0)?, super::gomath::ln),
        "log2" => map(vector(0)?, super::gomath::log2),
        "log10" => map(vector(0)?, super::gomath::log10),
        "sgn" => map(vector(0)?, |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        }),
        "round" => {
            let to_nearest = if args.len() >= 2 { scalar(1)? } else { 1.0 };
            // As Prometheus: through the inverse, ties rounded up.
            let inverse = 1.0 / to_nearest;
            map(vector(0)?, |v| (v * inverse + 0.5).floor() / inverse)
        }
        "clamp" => {
            // The vector first, as Prometheus: an error in it is reported even when min is
            // above max and the answer would be empty.
            let v = vector(0)?;
            let (min, max) = (scalar(1)?, scalar(2)?);
            if max < min {
                Vec::new()
            } else {
                map(v, |v| go_max(min, go_min(max, v)))
            }
        }
        "clamp_min" => {
            let min = scalar(1)?;
            map(vector(0)?, |v| go_max(min, v))
        }
        "clamp_max" => {
            let max = scalar(1)?;
            map(vector(0)?, |v| go_min(max, v))
        }
        "timestamp" => match args.first() {
            // Of a selector: the time of each sample it picked, not the evaluation time.
            Some(Expr::VectorSelector(vs)) => super::engine::select_points(vs, ts, store)
                .into_iter()
                .map(|(labels, t, _)| Sample {
                    labels: without_name(labels),
                    value: t as f64 / 1000.0,
                })
                .collect(),
            _ => map(vector(0)?, |_| ts as f64 / 1000.0),
        },
        "histogram_quantile" => histogram_quantile(scalar(0)?, vector(1)?),
        "absent" => {
            if vector(0)?.is_empty() {
                vec![Sample {
                    labels: absent_labels(args[0]),
                    value: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "absent_over_time" => {
            let Some(window) = range_arg(text, args.first().copied(), ts, store)? else {
                return Err(unsupported());
            };
            if window.series.is_empty() {
                vec![Sample {
                    labels: absent_labels(args[0]),
                    value: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "label_replace" => {
            let text_arg = |i: usize| string_arg(text, name, &args, i);
            let (dst, replacement, src, pattern) =
                (text_arg(1)?, text_arg(2)?, text_arg(3)?, text_arg(4)?);
            let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|_| {
                QueryError::evaluation(
                    text,
                    format!("invalid regular expression in label_replace(): {pattern}"),
                )
            })?;
            if !is_label_name(&dst) {
                return Err(QueryError::evaluation(
                    text,
                    format!("invalid destination label name in label_replace(): {dst}"),
                ));
            }
            vector(0)?
                .into_iter()
                .map(|s| {
                    let value = label_value(&s.labels, &src);
                    let labels = match re.captures(value) {
                        None => s.labels,
                        Some(caps) => {
                            let mut out = String::new();
                            caps.expand(&replacement, &mut out);
                            set_label(s.labels, &dst, &out)
                        }
                    };
                    Sample {
                        labels,
                        value: s.value,
                    }
                })
                .collect()
        }
        "label_join" => {
            let dst = string_arg(text, name, &args, 1)?;
            let separator = string_arg(text, name, &args, 2)?;
            let sources: Vec<String> = (3..args.len())
                .map(|i| string_arg(text, name, &args, i))
                .collect::<Result<_, _>>()?;
            if let Some(bad) = std::iter::once(&dst)
                .chain(&sources)
                .find(|l| !is_label_name(l))
            {
                return Err(QueryError::evaluation(
                    text,
                    format!("invalid label name in label_join(): {bad}"),
                ));
            }
            vector(0)?
                .into_iter()
                .map(|s| {
                    let joined: Vec<&str> =
                        sources.iter().map(|l| label_value(&s.labels, l)).collect();
                    let joined = joined.join(&separator);
                    Sample {
                        labels: set_label(s.labels.clone(), &dst, &joined),
                        value: s.value,
                    }
                })
                .collect()
        }
        "sort" | "sort_desc" => {
            let mut v = vector(0)?;
            // NaN last in either order, as Prometheus's sorters leave it.
            v.sort_by(|a, b| {
                let order = match (a.value.is_nan(), b.value.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => return std::cmp::Ordering::Greater,
                    (false, true) => return std::cmp::Ordering::Less,
                    _ => a
                        .value
                        .partial_cmp(&b.value)
                        .unwrap_or(std::cmp::Ordering::Equal),
                };
                if name == "sort" {
                    order
                } else {
                    order.reverse()
                }
            });
            return Ok(Value::Vector(v));
        }
        "predict_linear" => {
            let Some(window) = range_arg(text, args.first().copied(), ts, store)? else {
                return Err(unsupported());
            };
            let duration = scalar(1)?;
            window
                .series
                .into_iter()
                .filter(|(_, points)| points.len() >= 2)
                .map(|(labels, points)| {
                    let (slope, intercept) = linear_regression(&points, ts);
                    Sample {
                        labels: without_name(labels),
                        value: slope * duration + intercept,
                    }
                })
                .collect()
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let part = calendar_part(name);
            if args.is_empty() {
                // Of the evaluation time itself.
                vec![Sample {
                    labels: Labels::new(),
                    value: part(super::gotime::civil(super::gotime::go_int64(
                        ts as f64 / 1000.0,
                    ))),
                }]
            } else {
                // Go's `time.Unix(int64(v), 0)` of every value, NaN and ±Inf included.
                vector(0)?
                    .into_iter()
                    .map(|s| Sample {
                        labels: without_name(s.labels),
                        value: part(super::gotime::civil(super::gotime::go_int64(s.value))),
                    })
                    .collect()
            }
        }
        "holt_winters" => {
            let Some(window) = range_arg(text, args.first().copied(), ts, store)? else {
                return Err(unsupported());
            };
            let (sf, tf) = (scalar(1)?, scalar(2)?);
            // Prometheus's messages, its `%f` included.
            if sf <= 0.0 || sf >= 1.0 {
                return Err(QueryError::evaluation(
                    text,
                    format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"),
                ));
            }
            if tf <= 0.0 || tf >= 1.0 {
                return Err(QueryError::evaluation(
                    text,
                    format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"),
                ));
            }
            window
                .series
                .into_iter()
                .filter_map(|(labels, points)| {
                    holt_winters(&points, sf, tf).map(|value| Sample {
                        labels: without_name(labels),
                        value,
                    })
                })
                .collect()
        }
        _ => {
            let Some(range) = range_function(name) else {
                return Err(unsupported());
            };
            let (param, matrix_arg) = if name == "quantile_over_time" {
                (scalar(0)?, 1)
            } else {
                (0.0, 0)
            };
            let Some(window) = range_arg(text, args.get(matrix_arg).copied(), ts, store)? else {
                return Err(QueryError::evaluation(
                    text,
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
            out
        }
    };
    check_unique(text, &out)?;
    Ok(Value::Vector(out))
}

/// Applies `f` to every value, dropping the metric name, as Prometheus's `simpleFunc`.
fn map(v: Vec<Sample>, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    v.into_iter()
        .map(|s| Sample {
            labels: without_name(s.labels),
            value: f(s.value),
        })
        .collect()
}

/// Go's `math.Max`: NaN wins, and +0 is above -0.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins, and -0 is below +0.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// A function over one series' points in a range: the points, the range's first and last
/// time, and a parameter (`quantile_over_time`'s φ).
type RangeFn = fn(&[(i64, f64)], (i64, i64), f64) -> Option<f64>;

fn range_function(name: &str) -> Option<RangeFn> {
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
struct Window {
    start: i64,
    end: i64,
    /// Series with at least one point, sorted by labels.
    series: RangeSeries,
}

/// The most steps one evaluation of a subquery may take, so that `x[1y:1s]` fails instead
/// of running for hours.
const MAX_SUBQUERY_STEPS: i64 = 1_000_000;

/// The most samples one evaluation of a subquery may hold, so that a fine step over many
/// series fails instead of exhausting memory.
const MAX_SUBQUERY_SAMPLES: usize = 5_000_000;

/// `expr`'s series and their samples when it is a range vector (a range selector or a
/// subquery), as an instant query of one returns them; `None` for any other expression.
pub(crate) fn range_vector(
    text: &str,
    expr: &Expr,
    ts: i64,
    store: &Store,
) -> Result<Option<RangeSeries>, QueryError> {
    Ok(range_arg(text, Some(unparen(expr)), ts, store)?.map(|w| w.series))
}

/// The range-vector argument `arg` at `ts`: a range selector's samples, or a subquery's
/// results at its steps; `None` when `arg` is neither.
fn range_arg(
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
        .unwrap_or(super::engine::DEFAULT_SUBQUERY_STEP)
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
        if i % 64 == 0 && super::engine::timed_out() {
            return Err(QueryError::evaluation(text, super::engine::TIMED_OUT));
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

/// What a calendar function reads of a UTC time, as Go's `time` gives it.
fn calendar_part(name: &str) -> fn(super::gotime::Civil) -> f64 {
    match name {
        "day_of_month" => |t| t.day as f64,
        "day_of_week" => |t| t.weekday as f64,
        "day_of_year" => |t| t.year_day as f64,
        "days_in_month" => |t| super::gotime::days_in_month(t) as f64,
        "hour" => |t| t.hour as f64,
        "minute" => |t| t.minute as f64,
        "month" => |t| t.month as f64,
        _ => |t| t.year as f64,
    }
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
    super::aggregate::quantile(q, samples)
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

/// Prometheus's `histogram_quantile` over classic buckets: the `_bucket{le}` samples grouped
/// by their other labels, and `bucketQuantile` over each group.
fn histogram_quantile(q: f64, input: Vec<Sample>) -> Vec<Sample> {
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    for s in input {
        // Go's ParseFloat of the le label; a sample without a readable one is skipped.
        let Some(bound) = s
            .labels
            .iter()
            .find(|(n, _)| n == "le")
            .and_then(|(_, v)| v.parse::<f64>().ok())
        else {
            continue;
        };
        let key: Labels = s
            .labels
            .iter()
            .filter(|(n, _)| n != "le")
            .cloned()
            .collect();
        let at = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((
                key.into_iter().filter(|(n, _)| n != "__name__").collect(),
                Vec::new(),
            ));
            groups.len() - 1
        });
        groups[at].1.push((bound, s.value));
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| Sample {
            labels,
            value: bucket_quantile(q, buckets),
        })
        .collect()
}

/// Prometheus's `bucketQuantile`: buckets sorted by bound, equal bounds merged, counts made
/// monotonic, then linear interpolation within the bucket the rank falls in.
fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (bound, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    let mut max = merged[0].1;
    for b in merged.iter_mut().skip(1) {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].partition_point(|b| b.1 < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// The labels `absent` gives: the selector's equality matchers but the name (a label matched
/// twice, or otherwise, is left out).
fn absent_labels(arg: &Expr) -> Labels {
    let matchers = match arg {
        Expr::VectorSelector(vs) => matchers_of(vs),
        Expr::MatrixSelector(ms) => matchers_of(&ms.vs),
        _ => return Labels::new(),
    };
    let mut labels = Labels::new();
    let mut seen = std::collections::HashSet::new();
    for m in &matchers {
        if m.name == "__name__" {
            continue;
        }
        let first = seen.insert(m.name.clone());
        labels.retain(|(n, _)| *n != m.name);
        if first && matches!(m.op, promql_parser::label::MatchOp::Equal) {
            labels.push((m.name.clone(), m.value.clone()));
        }
    }
    labels.sort();
    labels
}

fn string_arg(text: &str, name: &str, args: &[&Expr], i: usize) -> Result<String, QueryError> {
    match args.get(i) {
        Some(Expr::StringLiteral(s)) => Ok(s.val.clone()),
        _ => Err(QueryError::evaluation(
            text,
            format!("argument {} of {name} must be a string", i + 1),
        )),
    }
}

/// `labels` with `name` set to `value`, or removed when `value` is empty.
fn set_label(mut labels: Labels, name: &str, value: &str) -> Labels {
    labels.retain(|(n, _)| n != name);
    if !value.is_empty() {
        labels.push((name.to_owned(), value.to_owned()));
        labels.sort();
    }
    labels
}
