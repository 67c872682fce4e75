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
    check_tokens(expr).map_err(failed)?;
    // The parser is another crate's; should it panic on some input, that input is refused
    // rather than the caller's thread brought down.
    let parse = |text: &str| std::panic::catch_unwind(|| promql_parser::parser::parse(text));
    match parse(expr) {
        Ok(parsed) => parsed.map_err(|reason| failed(at_end_of_input(expr, reason, &parse))),
        Err(_) => Err(failed(
            "the PromQL parser failed on this expression; rewrite it".to_owned(),
        )),
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

/// The parser's `reason` as Prometheus 2.42 words it, with its position, for the errors
/// found at the end of the input (an unclosed parenthesis, bracket or brace, an expression
/// that stops short); other reasons unchanged.
fn at_end_of_input(
    expr: &str,
    reason: String,
    parse: &dyn Fn(&str) -> std::thread::Result<Result<promql_parser::parser::Expr, String>>,
) -> String {
    let said = match reason.as_str() {
        "unclosed left parenthesis" | "unexpected end of input inside braces" => reason.clone(),
        "unexpected end of input inside brackets" => "unclosed left bracket".to_owned(),
        // Had the input gone on with an operand, it would have parsed: it stopped short.
        "invalid promql query" if matches!(parse(&format!("{expr} 0")), Ok(Ok(_))) => {
            "unexpected end of input".to_owned()
        }
        _ => return reason,
    };
    let (line, column) = position(expr, expr.len());
    format!("{line}:{column}: parse error: {said}")
}

/// What Prometheus 2.42 refuses that promql-parser (following Prometheus 3) takes: a plain
/// number where a duration belongs (`x[5]`, `offset 5`, `[5m:5]`), which can also make the
/// parser panic, and an `@` time beyond what Prometheus can hold. Messages as Prometheus's,
/// with its `line:column` of the number.
fn check_tokens(expr: &str) -> Result<(), String> {
    use lrpar::{Lexeme, Lexer, NonStreamingLexer};
    use promql_parser::parser::token::{T_AT, T_COLON, T_LEFT_BRACKET, T_NUMBER, T_OFFSET};
    // A text the lexer refuses, the parser refuses with the lexer's reason.
    let Ok(lexer) = promql_parser::parser::lexer(expr) else {
        return Ok(());
    };
    let mut previous = None;
    for lexeme in lexer.iter() {
        let Ok(lexeme) = lexeme else { continue };
        let id = lexeme.tok_id();
        if id == T_NUMBER {
            let text = lexer.span_str(lexeme.span());
            let start = lexeme.span().start();
            let (line, column) = position(expr, start);
            let at = format!("{line}:{column}: parse error: ");
            match previous {
                Some(T_LEFT_BRACKET) => {
                    return Err(format!("{at}missing unit character in duration"))
                }
                Some(T_OFFSET) => {
                    return Err(format!(
                        "{at}unexpected number {text:?} in offset, expected duration"
                    ))
                }
                Some(T_COLON) => {
                    return Err(format!(
                        "{at}unexpected number {text:?} in subquery selector, expected duration or \"]\""
                    ))
                }
                Some(T_AT) => {
                    let seconds = text.parse::<f64>().unwrap_or(0.0);
                    if seconds.abs() >= i64::MAX as f64 {
                        return Err(format!(
                            "{at}timestamp out of bounds for @ modifier: {seconds:.6}"
                        ));
                    }
                }
                _ => {}
            }
        }
        previous = Some(id);
    }
    Ok(())
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
