//! Module implementing the functions of time: `time`, `timestamp` and the calendar
//! functions, with Go's `time` for the dates. See [`calendar`].

use promql_parser::parser::Expr;

use super::math::map;
use super::{Args, Out};
use crate::query::engine::without_name;
use crate::query::gotime;
use crate::query::value::{Labels, Sample, Value};
use crate::query::QueryError;

pub(super) fn time(a: &Args<'_>) -> Result<Out, QueryError> {
    Ok(Out::Value(Value::Scalar(a.ts as f64 / 1000.0)))
}

pub(super) fn timestamp(a: &Args<'_>) -> Result<Out, QueryError> {
    Ok(Out::Samples(match a.args.first() {
        // Of a selector: the time of each sample it picked, not the evaluation time.
        Some(Expr::VectorSelector(vs)) => crate::query::engine::select_points(vs, a.ts, a.store)
            .into_iter()
            .map(|(labels, t, _)| Sample {
                labels: without_name(labels),
                value: t as f64 / 1000.0,
            })
            .collect(),
        _ => map(a.vector(0)?, |_| a.ts as f64 / 1000.0),
    }))
}

/// `day_of_month`, `day_of_week`, `day_of_year`, `days_in_month`, `hour`, `minute`, `month`
/// and `year`: of the evaluation time without an argument, else of every value as Go's
/// `time.Unix(int64(v), 0)` (NaN and ±Inf included).
pub(super) fn calendar(a: &Args<'_>) -> Result<Out, QueryError> {
    let part = calendar_part(a.name);
    Ok(Out::Samples(if a.args.is_empty() {
        vec![Sample {
            labels: Labels::new(),
            value: part(gotime::civil(gotime::go_int64(a.ts as f64 / 1000.0))),
        }]
    } else {
        a.vector(0)?
            .into_iter()
            .map(|s| Sample {
                labels: without_name(s.labels),
                value: part(gotime::civil(gotime::go_int64(s.value))),
            })
            .collect()
    }))
}

/// What a calendar function reads of a UTC time, as Go's `time` gives it.
fn calendar_part(name: &str) -> fn(gotime::Civil) -> f64 {
    match name {
        "day_of_month" => |t| t.day as f64,
        "day_of_week" => |t| t.weekday as f64,
        "day_of_year" => |t| t.year_day as f64,
        "days_in_month" => |t| gotime::days_in_month(t) as f64,
        "hour" => |t| t.hour as f64,
        "minute" => |t| t.minute as f64,
        "month" => |t| t.month as f64,
        _ => |t| t.year as f64,
    }
}
