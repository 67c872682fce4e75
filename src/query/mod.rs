//! PromQL over the history store: evaluation. Parsing is in [`crate::promql`], below.
//!
//! - `value`: what an expression evaluates to; `store`: the samples it reads;
//!   `engine`: the evaluator; `binary`: the binary operators; `aggregate`: the aggregations;
//!   `functions`: the functions; `gomath`: Go's rounding where
//!   it differs from Rust's.
//! - `result`: what a query returns ([`QueryValue`]).
//! - `series_desc`: Prometheus's series descriptions (`0+10x5 _ stale`), the input series of
//!   `promtool test rules` files.

mod aggregate;
mod binary;
mod duration;
mod engine;
mod functions;
mod gomath;
mod gotime;
mod gotrig;
mod history;
mod result;
mod series_desc;
mod store;
mod value;

pub(crate) use crate::promql::parse;
pub use crate::promql::QueryError;
pub(crate) use duration::{duration_ms, duration_string};
pub(crate) use engine::{eval_instant, prepare, DEFAULT_SUBQUERY_STEP};
pub use result::{QuerySample, QuerySeries, QueryValue};
pub(crate) use series_desc::{metric_labels, parse_series_desc, Step, STALE_NAN_BITS};
pub(crate) use store::Store;
pub(crate) use value::{go_quote, label_value, labels_string, set_label, Labels, Value};

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

/// The series selectors of `expr`, as text without their offsets and `@` (what
/// `/api/v1/query_exemplars` selects series by, as Prometheus's `ExtractSelectors`).
pub(crate) fn selector_texts(expr: &promql_parser::parser::Expr) -> Vec<String> {
    use promql_parser::parser::{Expr, VectorSelector};
    fn plain(vs: &VectorSelector) -> String {
        let mut vs = vs.clone();
        vs.offset = None;
        vs.at = None;
        vs.to_string()
    }
    fn walk(expr: &Expr, out: &mut Vec<String>) {
        match expr {
            Expr::VectorSelector(vs) => out.push(plain(vs)),
            Expr::MatrixSelector(ms) => out.push(plain(&ms.vs)),
            Expr::Aggregate(a) => {
                walk(&a.expr, out);
                if let Some(p) = a.param.as_deref() {
                    walk(p, out);
                }
            }
            Expr::Unary(u) => walk(&u.expr, out),
            Expr::Binary(b) => {
                walk(&b.lhs, out);
                walk(&b.rhs, out);
            }
            Expr::Paren(p) => walk(&p.expr, out),
            Expr::Subquery(s) => walk(&s.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(expr, &mut out);
    out
}

/// How far before its evaluation time `expr` may read a sample, in milliseconds, when
/// instant selectors look back `lookback_ms`: the longest of its selectors' lookbacks and
/// ranges, with their offsets, and subqueries' ranges on top of what they evaluate. `None`
/// when it cannot say: an `@` modifier reads at a fixed time.
pub(crate) fn reach_ms(expr: &promql_parser::parser::Expr, lookback_ms: i64) -> Option<i64> {
    use promql_parser::parser::{Expr, Offset};
    let ms = |d: &std::time::Duration| crate::clock::duration_ms(*d);
    let back = |offset: &Option<Offset>| match offset {
        Some(Offset::Pos(d)) => ms(d),
        _ => 0,
    };
    let both = |a: Option<i64>, b: Option<i64>| Some(a?.max(b?));
    match expr {
        Expr::VectorSelector(vs) => vs
            .at
            .is_none()
            .then(|| lookback_ms.saturating_add(back(&vs.offset))),
        Expr::MatrixSelector(m) => {
            m.vs.at
                .is_none()
                .then(|| ms(&m.range).saturating_add(back(&m.vs.offset)))
        }
        Expr::Subquery(sq) => {
            if sq.at.is_some() {
                return None;
            }
            // Steps align to multiples of the step, the first up to one step earlier; a
            // subquery without its own step uses one the caller chooses, an hour at most here.
            let step = sq.step.as_ref().map_or(3_600_000, ms);
            let inner = reach_ms(&sq.expr, lookback_ms)?;
            Some(
                ms(&sq.range)
                    .saturating_add(back(&sq.offset))
                    .saturating_add(step)
                    .saturating_add(inner),
            )
        }
        Expr::Aggregate(a) => both(
            reach_ms(&a.expr, lookback_ms),
            a.param
                .as_deref()
                .map_or(Some(0), |p| reach_ms(p, lookback_ms)),
        ),
        Expr::Unary(u) => reach_ms(&u.expr, lookback_ms),
        Expr::Paren(p) => reach_ms(&p.expr, lookback_ms),
        Expr::Binary(b) => both(reach_ms(&b.lhs, lookback_ms), reach_ms(&b.rhs, lookback_ms)),
        Expr::Call(c) => c
            .args
            .args
            .iter()
            .try_fold(0i64, |acc, a| Some(acc.max(reach_ms(a, lookback_ms)?))),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Some(0),
        Expr::Extension(_) => None,
    }
}

/// What an instant query gives besides a scalar or a vector: a range vector's samples (a
/// range selector or a subquery), or a string.
#[derive(Debug)]
pub(crate) enum Other {
    Range(value::RangeSeries),
    String(String),
}

/// `text` at `t` when it is a range vector or a string literal, which only an instant query
/// may return; `None` for any other expression (see [`evaluate`]).
pub(crate) fn evaluate_other(
    text: &str,
    store: &Store,
    t: i64,
    lookback: std::time::Duration,
) -> Result<Option<Other>, QueryError> {
    let mut expr = parse(text, None)?;
    prepare(&mut expr, t, t, DEFAULT_SUBQUERY_STEP);
    if let promql_parser::parser::Expr::StringLiteral(s) = engine::unparen(&expr) {
        return Ok(Some(Other::String(s.val.clone())));
    }
    engine::with_context(None, lookback, || {
        Ok(functions::range_vector(text, &expr, t, store)?.map(Other::Range))
    })
}

/// Whether `expr` is a range vector or a string, which a range query refuses.
pub(crate) fn is_range_or_string(expr: &promql_parser::parser::Expr) -> Option<&'static str> {
    use promql_parser::parser::Expr;
    match engine::unparen(expr) {
        Expr::MatrixSelector(_) | Expr::Subquery(_) => Some("range vector"),
        Expr::StringLiteral(_) => Some("string"),
        _ => None,
    }
}

/// Why [`evaluate`] stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    Failed(QueryError),
    TimedOut,
}

/// Evaluates `text` at each time of `times` (milliseconds) over `store`, selectors looking
/// back `lookback`, giving up once `deadline` has passed (checked between times, and within
/// a subquery's steps).
pub(crate) fn evaluate(
    text: &str,
    store: &Store,
    times: &[i64],
    deadline: Option<std::time::Instant>,
    lookback: std::time::Duration,
) -> Result<Vec<(i64, Value)>, Stop> {
    let mut expr = parse(text, None).map_err(Stop::Failed)?;
    if let (Some(&start), Some(&end)) = (times.first(), times.last()) {
        prepare(&mut expr, start, end, DEFAULT_SUBQUERY_STEP);
    }
    let mut out = Vec::with_capacity(times.len());
    engine::with_context(deadline, lookback, || {
        for &t in times {
            if engine::timed_out() {
                return Err(Stop::TimedOut);
            }
            match eval_instant(text, &expr, t, store) {
                Ok(value) => out.push((t, value)),
                Err(QueryError::Evaluation { reason, .. }) if reason == engine::TIMED_OUT => {
                    return Err(Stop::TimedOut)
                }
                Err(e) => return Err(Stop::Failed(e)),
            }
        }
        Ok(())
    })?;
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
            "invalid PromQL in rules[0].query, \"rate(x[5m]\": 1:11: parse error: unclosed left parenthesis"
        );
        // Without a place it came from, Prometheus's own words, as its API answers.
        for (text, says) in [
            ("rate(x[5m]", "1:11: parse error: unclosed left parenthesis"),
            ("x[5m", "1:5: parse error: unclosed left bracket"),
            (
                "x{a=\"1\",",
                "1:9: parse error: unexpected end of input inside braces",
            ),
            ("x +", "1:4: parse error: unexpected end of input"),
            (
                "sum(x)\n by (a",
                "2:7: parse error: unclosed left parenthesis",
            ),
        ] {
            assert_eq!(parse(text, None).unwrap_err().to_string(), says, "{text}");
        }
        for (text, says) in [
            (
                "rate(x[5])",
                "1:8: parse error: missing unit character in duration",
            ),
            (
                "x offset 5",
                "unexpected number \"5\" in offset, expected duration",
            ),
            (
                "max_over_time(x[5m:5])",
                "1:20: parse error: unexpected number \"5\" in subquery",
            ),
            ("rate(x[1e308])", "missing unit character"),
            (
                "x @ 1e19",
                "timestamp out of bounds for @ modifier: 10000000000000000000.000000",
            ),
        ] {
            let err = parse(text, None).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        assert!(parse("x @ 1e18", None).is_ok());
        let err = parse("foo(bar)", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "1:1: parse error: unknown function with name \"foo\""
        );
    }
}
