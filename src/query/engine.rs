//! Module implementing the evaluator: one walk over promql-parser's syntax tree, as
//! Prometheus's `promql/engine.go` walks its own. See [`eval_instant`] for details.

use std::time::{Duration, UNIX_EPOCH};

use crate::promql::matchers_of;
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use super::series_desc::STALE_NAN_BITS;
use super::store::Store;
use super::value::{Sample, Value};
use super::QueryError;

/// The reason of the evaluation error a query gives up with once past its deadline, which
/// [`evaluate`](super::evaluate) turns back into a timeout: Prometheus's message.
pub(crate) const TIMED_OUT: &str = "query timed out in expression evaluation";

/// What the query this thread evaluates set for itself: its deadline, for the long loops
/// within one step (subqueries) to check, and its lookback.
#[derive(Clone, Copy)]
struct Context {
    deadline: Option<std::time::Instant>,
    lookback_ms: i64,
}

thread_local! {
    static CONTEXT: std::cell::Cell<Context> = const {
        std::cell::Cell::new(Context {
            deadline: None,
            lookback_ms: LOOKBACK.as_millis() as i64,
        })
    };
}

/// Runs `f` with `deadline` and `lookback` as the thread's query deadline and lookback.
pub(crate) fn with_context<R>(
    deadline: Option<std::time::Instant>,
    lookback: Duration,
    f: impl FnOnce() -> R,
) -> R {
    let lookback_ms = crate::clock::duration_ms(lookback);
    let before = CONTEXT.replace(Context {
        deadline,
        lookback_ms,
    });
    let out = f();
    CONTEXT.set(before);
    out
}

/// Whether the thread's query deadline has passed.
pub(crate) fn timed_out() -> bool {
    CONTEXT
        .get()
        .deadline
        .is_some_and(|d| std::time::Instant::now() >= d)
}

/// How far back an instant selector looks for a sample unless the query says otherwise, as
/// Prometheus's default `--query.lookback-delta`.
pub(crate) const LOOKBACK: Duration = Duration::from_secs(300);

/// Evaluates `expr` (as parsed from `text`) at `ts`, milliseconds since the epoch.
pub(crate) fn eval_instant(
    text: &str,
    expr: &Expr,
    ts: i64,
    store: &Store,
) -> Result<Value, QueryError> {
    let unsupported = |feature: &str| QueryError::Unsupported {
        expr: text.to_owned(),
        feature: feature.to_owned(),
    };
    match expr {
        Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
        Expr::Paren(p) => eval_instant(text, &p.expr, ts, store),
        Expr::Unary(u) => match eval_instant(text, &u.expr, ts, store)? {
            Value::Scalar(v) => Ok(Value::Scalar(-v)),
            // As Prometheus: the metric name goes, and the values are negated.
            Value::Vector(samples) => {
                let out: Vec<Sample> = samples
                    .into_iter()
                    .map(|s| Sample {
                        labels: without_name(s.labels),
                        value: -s.value,
                    })
                    .collect();
                check_unique(text, &out)?;
                Ok(Value::Vector(out))
            }
        },
        Expr::Binary(b) => super::binary::eval_binary(text, b, ts, store),
        Expr::VectorSelector(selector) => Ok(Value::Vector(select(selector, ts, store))),
        Expr::Aggregate(a) => super::aggregate::eval_aggregate(text, a, ts, store),
        Expr::Subquery(_) => Err(unsupported(
            "a range vector result (a subquery outside a function)",
        )),
        Expr::StringLiteral(_) => Err(unsupported("a string result")),
        Expr::MatrixSelector(_) => Err(unsupported("a range vector result")),
        Expr::Call(c) => super::functions::eval_call(text, c, ts, store),
        Expr::Extension(_) => Err(unsupported("an extension node")),
    }
}

/// An instant vector selector: per matching series, its latest sample within
/// the query's lookback ([`LOOKBACK`] unless set) at or before the (offset) time, unless that
/// sample is a stale marker.
/// As in Prometheus 2.x, the lookback window is closed at both ends.
fn select(selector: &VectorSelector, ts: i64, store: &Store) -> Vec<Sample> {
    select_points(selector, ts, store)
        .into_iter()
        .map(|(labels, _, value)| Sample { labels, value })
        .collect()
}

/// [`select`], with the time of each sample picked.
pub(crate) fn select_points(
    selector: &VectorSelector,
    ts: i64,
    store: &Store,
) -> Vec<(super::value::Labels, i64, f64)> {
    let reference = reference_time(selector, ts) - offset_ms(selector);
    let earliest = reference.saturating_sub(CONTEXT.get().lookback_ms);
    let matchers = matchers_of(selector);
    let mut out = Vec::new();
    for (labels, samples) in store.select(&matchers) {
        let upto = samples.partition_point(|(t, _)| *t <= reference);
        let Some(&(t, v)) = upto.checked_sub(1).map(|i| &samples[i]) else {
            continue;
        };
        if t < earliest || v.to_bits() == STALE_NAN_BITS {
            continue;
        }
        out.push((labels.clone(), t, v));
    }
    out
}

/// The step of a subquery that gives none (`x[5m:]`) when the query does not say
/// otherwise: Prometheus's default global evaluation interval.
pub(crate) const DEFAULT_SUBQUERY_STEP: Duration = Duration::from_secs(60);

/// The time a selector reads at: the query time, or its `@` time.
pub(crate) fn reference_time(selector: &VectorSelector, ts: i64) -> i64 {
    selector.at.as_ref().map_or(ts, |at| at_time(at, ts))
}

/// The time an `@` modifier names, in milliseconds. [`prepare`] has made `start()` and
/// `end()` times already; any left read as `ts` (an instant query's one time).
pub(crate) fn at_time(at: &AtModifier, ts: i64) -> i64 {
    match at {
        AtModifier::Start | AtModifier::End => ts,
        AtModifier::At(time) => match time.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_millis() as i64,
            Err(before) => -(before.duration().as_millis() as i64),
        },
    }
}

/// A selector's `offset` in milliseconds, negative for `offset -d`.
pub(crate) fn offset_ms(selector: &VectorSelector) -> i64 {
    offset_of(selector.offset.as_ref())
}

/// An `offset` in milliseconds, negative for `offset -d`; 0 for none.
pub(crate) fn offset_of(offset: Option<&Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

/// Readies a parsed expression for a query from `start` to `end` (milliseconds), as
/// Prometheus's `PreprocessExpr` and its engine do: `@ start()` and `@ end()` become those
/// times, and a subquery without a step takes `default_step` (the evaluation interval).
pub(crate) fn prepare(expr: &mut Expr, start: i64, end: i64, default_step: Duration) {
    let fix = |at: &mut Option<AtModifier>| {
        let ms = match at {
            Some(AtModifier::Start) => start,
            Some(AtModifier::End) => end,
            _ => return,
        };
        let from_epoch = Duration::from_millis(ms.unsigned_abs());
        *at = Some(AtModifier::At(if ms >= 0 {
            UNIX_EPOCH + from_epoch
        } else {
            UNIX_EPOCH - from_epoch
        }));
    };
    match expr {
        Expr::VectorSelector(vs) => fix(&mut vs.at),
        Expr::MatrixSelector(ms) => fix(&mut ms.vs.at),
        Expr::Subquery(sq) => {
            fix(&mut sq.at);
            sq.step.get_or_insert(default_step);
            prepare(&mut sq.expr, start, end, default_step);
        }
        Expr::Aggregate(a) => {
            prepare(&mut a.expr, start, end, default_step);
            if let Some(param) = a.param.as_deref_mut() {
                prepare(param, start, end, default_step);
            }
        }
        Expr::Unary(u) => prepare(&mut u.expr, start, end, default_step),
        Expr::Binary(b) => {
            prepare(&mut b.lhs, start, end, default_step);
            prepare(&mut b.rhs, start, end, default_step);
        }
        Expr::Paren(p) => prepare(&mut p.expr, start, end, default_step),
        Expr::Call(c) => {
            for arg in &mut c.args.args {
                prepare(arg, start, end, default_step);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Prometheus's check after each step: no two samples of a vector may have one label set.
pub(crate) fn check_unique(text: &str, samples: &[Sample]) -> Result<(), QueryError> {
    let mut seen = std::collections::HashSet::with_capacity(samples.len());
    if samples.iter().all(|s| seen.insert(&s.labels)) {
        Ok(())
    } else {
        Err(QueryError::evaluation(
            text,
            "vector cannot contain metrics with the same labelset",
        ))
    }
}

/// `expr` without the parentheses around it.
pub(crate) fn unparen(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

/// `labels` without `__name__`.
pub(crate) fn without_name(mut labels: super::value::Labels) -> super::value::Labels {
    labels.retain(|(n, _)| n != "__name__");
    labels
}
