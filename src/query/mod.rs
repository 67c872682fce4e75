//! PromQL over the history store. Parsing is the `promql-parser` crate's, never ours.
//!
//! - `value`: what an expression evaluates to; `store`: the samples it reads;
//!   `engine`: the evaluator; `binary`: the binary operators; `aggregate`: the aggregations;
//!   `functions`: the functions; `gomath`: Go's rounding where
//!   it differs from Rust's.
//! - `error`: [`QueryError`], why an expression was refused.
//! - `series_desc`: Prometheus's series descriptions (`0+10x5 _ stale`), the input series of
//!   `promtool test rules` files.

mod aggregate;
mod binary;
mod engine;
mod error;
mod functions;
mod gomath;
mod series_desc;
mod store;
mod value;

pub(crate) use engine::eval_instant;
pub use error::QueryError;
pub(crate) use series_desc::{metric_labels, parse_series_desc, Step};
pub(crate) use store::Store;
pub(crate) use value::{Labels, Value};

/// Parses `expr` as PromQL; `origin` says where it came from, for the error
/// (`alerting_config.rules[0].query`).
pub(crate) fn parse(
    expr: &str,
    origin: Option<String>,
) -> Result<promql_parser::parser::Expr, QueryError> {
    promql_parser::parser::parse(expr).map_err(|reason| QueryError::Parse {
        expr: expr.to_owned(),
        origin,
        reason,
    })
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
