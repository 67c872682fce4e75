//! PromQL over the history store. Parsing is the `promql-parser` crate's, never ours.
//!
//! - `value`: what an expression evaluates to; `store`: the samples it reads;
//!   `engine`: the evaluator; `binary`: the binary operators; `aggregate`: the aggregations;
//!   `functions`: the functions; `gomath`: Go's rounding where
//!   it differs from Rust's.
//! - `error`: [`QueryError`], why an expression was refused; `result`: what a query returns
//!   ([`QueryValue`]).
//! - `series_desc`: Prometheus's series descriptions (`0+10x5 _ stale`), the input series of
//!   `promtool test rules` files.

mod aggregate;
mod binary;
mod duration;
mod engine;
mod error;
mod functions;
mod gomath;
mod result;
mod series_desc;
mod store;
mod value;

pub(crate) use duration::{duration_ms, duration_string};
pub(crate) use engine::{eval_instant, matchers_of, prepare, DEFAULT_SUBQUERY_STEP};
pub use error::QueryError;
pub(crate) use gomath::format_float;
pub use result::{QuerySample, QuerySeries, QueryValue};
pub(crate) use series_desc::{metric_labels, parse_series_desc, Step, STALE_NAN_BITS};
pub(crate) use store::Store;
pub(crate) use value::{Labels, Value};

/// Parses `expr` as PromQL; `origin` says where it came from, for the error
/// (`alerting_config.rules[0].query`).
pub(crate) fn parse(
    expr: &str,
    origin: Option<String>,
) -> Result<promql_parser::parser::Expr, QueryError> {
    register_holt_winters();
    promql_parser::parser::parse(expr).map_err(|reason| QueryError::Parse {
        expr: expr.to_owned(),
        origin,
        reason,
    })
}

/// Teaches promql-parser Prometheus 2.42's `holt_winters(range, sf, tf)`, which the parser
/// (following Prometheus 3) knows only as `double_exponential_smoothing`. The registration
/// is the parser's, process-wide, and done once.
fn register_holt_winters() {
    use promql_parser::parser::function::{register_extra_functions, Function};
    use promql_parser::parser::value::ValueType;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Refused only if the parser gains the name itself, which is then as good.
        let _ = register_extra_functions(vec![Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        )]);
    });
}

/// The metric names `expr`'s selectors name, or `None` when a selector names none (it may
/// match any series).
pub(crate) fn selector_names(expr: &promql_parser::parser::Expr) -> Option<Vec<String>> {
    use promql_parser::parser::{Expr, VectorSelector};
    fn name_of(vs: &VectorSelector) -> Option<String> {
        vs.name.clone().or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| {
                    m.name == "__name__" && matches!(m.op, promql_parser::label::MatchOp::Equal)
                })
                .map(|m| m.value.clone())
        })
    }
    fn walk(expr: &Expr, out: &mut Vec<String>) -> bool {
        match expr {
            Expr::VectorSelector(vs) => name_of(vs).map(|n| out.push(n)).is_some(),
            Expr::MatrixSelector(ms) => name_of(&ms.vs).map(|n| out.push(n)).is_some(),
            Expr::Aggregate(a) => {
                walk(&a.expr, out) && a.param.as_deref().is_none_or(|p| walk(p, out))
            }
            Expr::Unary(u) => walk(&u.expr, out),
            Expr::Binary(b) => walk(&b.lhs, out) && walk(&b.rhs, out),
            Expr::Paren(p) => walk(&p.expr, out),
            Expr::Subquery(s) => walk(&s.expr, out),
            Expr::Call(c) => c.args.args.iter().all(|a| walk(a, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => true,
        }
    }
    let mut names = Vec::new();
    walk(expr, &mut names).then_some(names)
}

/// Why [`evaluate`] stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    Failed(QueryError),
    TimedOut,
}

/// Evaluates `text` at each time of `times` (milliseconds) over `store`, giving up once
/// `deadline` has passed (checked between times).
pub(crate) fn evaluate(
    text: &str,
    store: &Store,
    times: &[i64],
    deadline: Option<std::time::Instant>,
) -> Result<Vec<(i64, Value)>, Stop> {
    let mut expr = parse(text, None).map_err(Stop::Failed)?;
    if let (Some(&start), Some(&end)) = (times.first(), times.last()) {
        prepare(&mut expr, start, end, DEFAULT_SUBQUERY_STEP);
    }
    let mut out = Vec::with_capacity(times.len());
    for &t in times {
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(Stop::TimedOut);
        }
        out.push((
            t,
            eval_instant(text, &expr, t, store).map_err(Stop::Failed)?,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_promql_parses_and_invalid_says_why_and_where_from() {
        assert!(parse("rate(kotoba_db_queries_total[5m]) > 100", None).is_ok());
        let err = parse("rate(x[5m]", Some("rules[0].query".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid PromQL in rules[0].query, \"rate(x[5m]\": unclosed left parenthesis"
        );
        let err = parse("foo(bar)", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid PromQL \"foo(bar)\": unknown function with name 'foo'"
        );
    }
}
