//! Module implementing the functions of each value alone (`abs` … `atanh`, `round`,
//! `clamp*`), as Prometheus's `simpleFunc`s compute them. See [`function`].

use super::{Args, Out};
use crate::query::engine::without_name;
use crate::query::value::Sample;
use crate::query::QueryError;

/// The function of each value called `name`, if it is one.
pub(super) fn function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "sin" => crate::query::gotrig::sin,
        "cos" => crate::query::gotrig::cos,
        "tan" => crate::query::gotrig::tan,
        "asin" => crate::query::gotrig::asin,
        "acos" => crate::query::gotrig::acos,
        "atan" => crate::query::gotrig::atan,
        "sinh" => crate::query::gotrig::sinh,
        "cosh" => crate::query::gotrig::cosh,
        "tanh" => crate::query::gotrig::tanh,
        "asinh" => crate::query::gotrig::asinh,
        "acosh" => crate::query::gotrig::acosh,
        "atanh" => crate::query::gotrig::atanh,
        // Prometheus's `v * 180 / math.Pi` and `v * math.Pi / 180`, in that order.
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "sqrt" => f64::sqrt,
        "exp" => crate::query::gomath::exp,
        "ln" => crate::query::gomath::ln,
        "log2" => crate::query::gomath::log2,
        "log10" => crate::query::gomath::log10,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

pub(super) fn round(a: &Args<'_>) -> Result<Out, QueryError> {
    let to_nearest = if a.args.len() >= 2 { a.scalar(1)? } else { 1.0 };
    // As Prometheus: through the inverse, ties rounded up.
    let inverse = 1.0 / to_nearest;
    Ok(Out::Samples(map(a.vector(0)?, |v| {
        (v * inverse + 0.5).floor() / inverse
    })))
}

pub(super) fn clamp(a: &Args<'_>) -> Result<Out, QueryError> {
    // The vector first, as Prometheus: an error in it is reported even when min is above
    // max and the answer would be empty.
    let v = a.vector(0)?;
    let (min, max) = (a.scalar(1)?, a.scalar(2)?);
    Ok(Out::Samples(if max < min {
        Vec::new()
    } else {
        map(v, |v| go_max(min, go_min(max, v)))
    }))
}

pub(super) fn clamp_min(a: &Args<'_>) -> Result<Out, QueryError> {
    let min = a.scalar(1)?;
    Ok(Out::Samples(map(a.vector(0)?, |v| go_max(min, v))))
}

pub(super) fn clamp_max(a: &Args<'_>) -> Result<Out, QueryError> {
    let max = a.scalar(1)?;
    Ok(Out::Samples(map(a.vector(0)?, |v| go_min(max, v))))
}

/// Applies `f` to every value, dropping the metric name, as Prometheus's `simpleFunc`.
pub(super) fn map(v: Vec<Sample>, f: impl Fn(f64) -> f64) -> Vec<Sample> {
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
