//! Module implementing the PromQL functions, each as Prometheus 2.42's
//! `promql/functions.go` computes it, in the same order of floating-point operations: a
//! table from each name to a small function of its arguments. See [`eval_call`] for details.
//!
//! - `math`: the functions of each value alone, with Go's `math` where it rounds otherwise.
//! - `time`: `time`, `timestamp` and the calendar functions.
//! - `labels`: `label_replace`, `label_join`, `absent`, `absent_over_time`.
//! - `histogram`: `histogram_quantile`.
//! - `range`: the range selectors and subqueries, and the functions over them.

mod histogram;
mod labels;
mod math;
mod range;
mod time;

use promql_parser::parser::{Call, Expr};

use super::engine::{check_unique, eval_instant, unparen};
use super::store::Store;
use super::value::{Labels, RangeSeries, Sample, Value};
use super::QueryError;
use range::Window;

/// What a function gives: samples, whose label sets must differ (checked as Prometheus
/// checks every step), or a value as it is.
enum Out {
    Samples(Vec<Sample>),
    Value(Value),
}

/// A function of the arguments of its call.
type Function = fn(&Args<'_>) -> Result<Out, QueryError>;

/// One call's arguments, evaluated when a function asks for them.
struct Args<'a> {
    /// The whole expression, for errors.
    text: &'a str,
    name: &'a str,
    args: Vec<&'a Expr>,
    ts: i64,
    store: &'a Store,
}

impl Args<'_> {
    fn unsupported(&self) -> QueryError {
        QueryError::Unsupported {
            expr: self.text.to_owned(),
            feature: format!("function {}", self.name),
        }
    }

    fn evaluated(&self, i: usize) -> Result<Option<Value>, QueryError> {
        self.args
            .get(i)
            .map(|a| eval_instant(self.text, a, self.ts, self.store))
            .transpose()
    }

    /// Argument `i`, which must be a scalar.
    fn scalar(&self, i: usize) -> Result<f64, QueryError> {
        match self.evaluated(i)? {
            Some(Value::Scalar(v)) => Ok(v),
            _ => Err(QueryError::evaluation(
                self.text,
                format!("argument {} of {} must be a scalar", i + 1, self.name),
            )),
        }
    }

    /// Argument `i`, which must be an instant vector.
    fn vector(&self, i: usize) -> Result<Vec<Sample>, QueryError> {
        match self.evaluated(i)? {
            Some(Value::Vector(v)) => Ok(v),
            _ => Err(QueryError::evaluation(
                self.text,
                format!(
                    "argument {} of {} must be an instant vector",
                    i + 1,
                    self.name
                ),
            )),
        }
    }

    /// Argument `i`, which must be a string literal.
    fn string(&self, i: usize) -> Result<String, QueryError> {
        match self.args.get(i) {
            Some(Expr::StringLiteral(s)) => Ok(s.val.clone()),
            _ => Err(QueryError::evaluation(
                self.text,
                format!("argument {} of {} must be a string", i + 1, self.name),
            )),
        }
    }

    /// Argument `i` as a range vector (a range selector or a subquery), `None` when it is
    /// neither.
    fn range(&self, i: usize) -> Result<Option<Window>, QueryError> {
        range::range_arg(self.text, self.args.get(i).copied(), self.ts, self.store)
    }
}

/// The function called `name`, if Prometheus 2.42 has it (the native-histogram ones aside).
fn function(name: &str) -> Option<Function> {
    Some(match name {
        "time" => time::time,
        "timestamp" => time::timestamp,
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => time::calendar,
        "vector" => vector,
        "scalar" => scalar,
        "pi" => |_| Ok(Out::Value(Value::Scalar(std::f64::consts::PI))),
        "round" => math::round,
        "clamp" => math::clamp,
        "clamp_min" => math::clamp_min,
        "clamp_max" => math::clamp_max,
        "sort" | "sort_desc" => sort,
        "histogram_quantile" => histogram::function,
        "absent" => labels::absent,
        "absent_over_time" => labels::absent_over_time,
        "label_replace" => labels::label_replace,
        "label_join" => labels::label_join,
        "predict_linear" => range::predict_linear,
        "holt_winters" => range::holt_winters_function,
        _ => return None,
    })
}

/// Evaluates the call `c` at `ts`.
pub(crate) fn eval_call(text: &str, c: &Call, ts: i64, store: &Store) -> Result<Value, QueryError> {
    let name = c.func.name;
    let a = Args {
        text,
        name,
        args: c.args.args.iter().map(|a| unparen(a)).collect(),
        ts,
        store,
    };
    let out = if let Some(f) = math::function(name) {
        Out::Samples(math::map(a.vector(0)?, f))
    } else if let Some(f) = function(name) {
        f(&a)?
    } else if let Some(f) = range::range_function(name) {
        range::over_range(&a, f)?
    } else {
        return Err(a.unsupported());
    };
    match out {
        Out::Samples(samples) => {
            check_unique(text, &samples)?;
            Ok(Value::Vector(samples))
        }
        Out::Value(value) => Ok(value),
    }
}

/// `expr`'s series and their samples when it is a range vector (a range selector or a
/// subquery), as an instant query of one returns them; `None` for any other expression.
pub(crate) fn range_vector(
    text: &str,
    expr: &Expr,
    ts: i64,
    store: &Store,
) -> Result<Option<RangeSeries>, QueryError> {
    Ok(range::range_arg(text, Some(unparen(expr)), ts, store)?.map(|w| w.series))
}

fn vector(a: &Args<'_>) -> Result<Out, QueryError> {
    Ok(Out::Samples(vec![Sample {
        labels: Labels::new(),
        value: a.scalar(0)?,
    }]))
}

fn scalar(a: &Args<'_>) -> Result<Out, QueryError> {
    let v = a.vector(0)?;
    Ok(Out::Value(Value::Scalar(if v.len() == 1 {
        v[0].value
    } else {
        f64::NAN
    })))
}

fn sort(a: &Args<'_>) -> Result<Out, QueryError> {
    let mut v = a.vector(0)?;
    let ascending = a.name == "sort";
    // NaN last in either order, as Prometheus's sorters leave it.
    v.sort_by(|x, y| {
        let order = match (x.value.is_nan(), y.value.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => return std::cmp::Ordering::Greater,
            (false, true) => return std::cmp::Ordering::Less,
            _ => x
                .value
                .partial_cmp(&y.value)
                .unwrap_or(std::cmp::Ordering::Equal),
        };
        if ascending {
            order
        } else {
            order.reverse()
        }
    });
    Ok(Out::Value(Value::Vector(v)))
}
