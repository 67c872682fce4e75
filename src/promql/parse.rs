//! Module implementing parsing: the `promql-parser` crate's parser, with Prometheus 2.42's
//! error wording and `line:column` positions. See [`parse`] for details.

use super::QueryError;

/// Parses `expr` as PromQL; `origin` says where it came from, for the error
/// (`alerting_config.rules[0].query`).
pub(crate) fn parse(
    expr: &str,
    origin: Option<String>,
) -> Result<promql_parser::parser::Expr, QueryError> {
    register_holt_winters();
    let failed = |reason: String| QueryError::Parse {
        expr: expr.to_owned(),
        origin: origin.clone(),
        reason,
    };
    // Prometheus 2.42's own checks first: they say where and why, in its words, and refuse
    // what it refuses and the crate (following Prometheus 3) takes. Both passes are guarded:
    // should either panic on some input, that input is refused rather than the caller's
    // thread brought down.
    let crashed = || failed("the PromQL parser failed on this expression; rewrite it".to_owned());
    match std::panic::catch_unwind(|| super::check::check(expr)) {
        Ok(Some(diagnosis)) => {
            let (line, column) = position(expr, diagnosis.pos);
            return Err(failed(format!(
                "{line}:{column}: parse error: {}",
                diagnosis.message
            )));
        }
        Ok(None) => {}
        Err(_) => return Err(crashed()),
    }
    match std::panic::catch_unwind(|| promql_parser::parser::parse(expr)) {
        Ok(parsed) => parsed.map_err(failed),
        Err(_) => Err(crashed()),
    }
}

/// Prometheus's `line:column` of byte `pos` in `expr` (its `ParseErr`): lines counted from
/// 1, the column in bytes from 1.
fn position(expr: &str, pos: usize) -> (usize, usize) {
    let before = &expr[..pos.min(expr.len())];
    let line = before.matches('\n').count() + 1;
    let column = pos - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
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
