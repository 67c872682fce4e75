//! Module implementing Prometheus's series descriptions: the `input_series` of a
//! `promtool test rules` file, such as `http_requests{job="api"}  0+10x5 _ stale`. See
//! [`parse_series_desc`] for details.
//!
//! The notation is Prometheus's own (its PromQL grammar's `series_description`, used only by
//! tests), reproduced here rule for rule, since promtool compares floats exactly and the
//! values must carry Prometheus's digits.

use super::QueryError;

pub(crate) use crate::metrics::STALE_NAN_BITS;

/// The value of one step of a series description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Step {
    /// No sample at this step (`_`).
    Omitted,
    /// A sample; [`STALE_NAN_BITS`] for `stale`.
    Value(f64),
}

/// A parsed series description: its labels (with `__name__` when it has a name), sorted by
/// name, and one [`Step`] per interval from time zero.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesDesc {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) steps: Vec<Step>,
}

/// Parses a series description as Prometheus 2.42 does:
///
/// - `a` is one sample, `_` one step without a sample, `stale` a stale marker;
/// - `axN` is `a` N+1 times, and `_xN` N steps without samples;
/// - `a+bxN` and `a-bxN` are N+1 samples from `a`, each the last plus `b` (added step by step
///   in floating point, as Prometheus does, not `a + i*b`);
/// - numbers are decimal, with an optional fraction and exponent, `Inf` or `NaN`; a number
///   that Go's `ParseInt(s, 0, 64)` reads (so `010` is octal, 8) is that integer.
pub(crate) fn parse_series_desc(text: &str) -> Result<SeriesDesc, QueryError> {
    let fail = |reason: String| QueryError::Parse {
        expr: text.to_owned(),
        origin: None,
        reason,
    };
    let (metric, values) = split_metric(text).map_err(&fail)?;
    let labels = metric_labels(metric).map_err(&fail)?;
    let steps = parse_values(values).map_err(&fail)?;
    Ok(SeriesDesc { labels, steps })
}

/// The metric (a name, a `{…}` label set, or both) and the values after it.
fn split_metric(text: &str) -> Result<(&str, &str), String> {
    let text = text.trim_start();
    let end = match text.find('{') {
        Some(open) if !text[..open].contains(char::is_whitespace) => {
            // Find the closing brace outside quoted label values.
            let mut quote = None;
            let mut escaped = false;
            let mut close = None;
            for (i, c) in text[open..].char_indices() {
                match (quote, c) {
                    (Some(_), _) if escaped => escaped = false,
                    (Some(_), '\\') => escaped = true,
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '"' | '\'' | '`') => quote = Some(c),
                    (None, '}') => {
                        close = Some(open + i + 1);
                        break;
                    }
                    (None, _) => {}
                }
            }
            close.ok_or("unclosed label set: a '}' is missing")?
        }
        _ => text.find(char::is_whitespace).unwrap_or(text.len()),
    };
    if end == 0 {
        return Err("a series needs a metric name or a label set".to_owned());
    }
    Ok((&text[..end], &text[end..]))
}

/// The labels of `metric`, read by promql-parser as a vector selector whose matchers must all
/// be equalities.
pub(crate) fn metric_labels(metric: &str) -> Result<Vec<(String, String)>, String> {
    use promql_parser::label::MatchOp;
    use promql_parser::parser::Expr;
    // No labels at all, as a scalar result has (Prometheus's ParseMetric takes both).
    if matches!(metric.trim(), "" | "{}") {
        return Ok(Vec::new());
    }
    let expr = promql_parser::parser::parse(metric)
        .map_err(|e| format!("invalid metric {metric:?}: {e}"))?;
    let Expr::VectorSelector(selector) = expr else {
        return Err(format!("{metric:?} is not a metric with labels"));
    };
    let mut labels = Vec::new();
    if let Some(name) = selector.name {
        labels.push(("__name__".to_owned(), name));
    }
    for m in &selector.matchers.matchers {
        if !matches!(m.op, MatchOp::Equal) {
            return Err(format!(
                "label {:?} must be given with =, as a series has values, not patterns",
                m.name
            ));
        }
        if m.name == "__name__" && labels.iter().any(|(n, _)| n == "__name__") {
            return Err("the metric name is given twice".to_owned());
        }
        labels.push((m.name.clone(), m.value.clone()));
    }
    labels.sort();
    if labels.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(format!("{metric:?} gives a label twice"));
    }
    Ok(labels)
}

/// One token of the value sequence, as Prometheus's lexer makes them in series mode.
#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Space,
    Add,
    Sub,
    Times,
    Blank,
    Number(&'a str),
    Identifier(&'a str),
}

fn tokens(values: &str) -> Result<Vec<Token<'_>>, String> {
    let bytes = values.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                    i += 1;
                }
                out.push(Token::Space);
                continue;
            }
            b'+' => out.push(Token::Add),
            b'-' => out.push(Token::Sub),
            b'x' => out.push(Token::Times),
            b'_' => out.push(Token::Blank),
            b'0'..=b'9' | b'.' if c != b'.' || bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'.') {
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                if matches!(bytes.get(i), Some(b'e' | b'E')) {
                    i += 1;
                    if matches!(bytes.get(i), Some(b'+' | b'-')) {
                        i += 1;
                    }
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                // A number ends before anything alphanumeric but the repetition's `x`.
                if let Some(&next) = bytes.get(i) {
                    if next != b'x' && (next.is_ascii_alphanumeric() || next == b'_') {
                        return Err(format!("bad number syntax: {:?}", &values[start..=i]));
                    }
                }
                out.push(Token::Number(&values[start..i]));
                continue;
            }
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b':'))
                {
                    i += 1;
                }
                let word = &values[start..i];
                if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("nan") {
                    out.push(Token::Number(word));
                } else {
                    out.push(Token::Identifier(word));
                }
                continue;
            }
            _ => {
                let c = values[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected character in series sequence: {c:?}"));
            }
        }
        i += 1;
    }
    Ok(out)
}

/// A number as Prometheus's parser reads it: `strconv.ParseInt(s, 0, 64)` first (so a leading
/// zero means octal), else `strconv.ParseFloat(s, 64)`.
fn number(text: &str) -> Result<f64, String> {
    let digits = text.bytes().all(|b| b.is_ascii_digit());
    if digits {
        let parsed = if text.len() > 1 && text.starts_with('0') {
            i64::from_str_radix(&text[1..], 8).ok()
        } else {
            text.parse::<i64>().ok()
        };
        if let Some(n) = parsed {
            return Ok(n as f64);
        }
    }
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "inf" => Ok(f64::INFINITY),
        // Go's math.NaN().
        "nan" => Ok(f64::from_bits(0x7ff8_0000_0000_0001)),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("error parsing number: {text:?}")),
    }
}

fn parse_values(values: &str) -> Result<Vec<Step>, String> {
    let tokens = tokens(values)?;
    let mut steps = Vec::new();
    let mut at = 0;
    let expected = "expected a number, \"stale\", \"_\" or a repetition like 1+2x3";
    while at < tokens.len() {
        // Every item follows a space, as in `metric SPACE item SPACE item`.
        if tokens[at] != Token::Space {
            return Err(format!(
                "unexpected {:?} in series values; {expected}",
                tokens[at]
            ));
        }
        at += 1;
        if at == tokens.len() {
            break;
        }
        let item_end = tokens[at..]
            .iter()
            .position(|t| *t == Token::Space)
            .map_or(tokens.len(), |p| at + p);
        steps.extend(item(&tokens[at..item_end]).map_err(|e| format!("{e}; {expected}"))?);
        at = item_end;
    }
    Ok(steps)
}

/// One item between spaces.
fn item(tokens: &[Token<'_>]) -> Result<Vec<Step>, String> {
    let repeat = |t: &Token<'_>| match t {
        Token::Number(n) => n
            .parse::<u64>()
            .map_err(|e| format!("invalid repetition in series values: {e}")),
        other => Err(format!("unexpected {other:?} as a repetition count")),
    };
    let value = |tokens: &[Token<'_>]| -> Result<(f64, usize), String> {
        match tokens {
            [Token::Identifier(w), ..] if *w == "stale" => Ok((f64::from_bits(STALE_NAN_BITS), 1)),
            [Token::Number(n), ..] => Ok((number(n)?, 1)),
            [Token::Add, Token::Number(n), ..] => Ok((number(n)?, 2)),
            [Token::Sub, Token::Number(n), ..] => Ok((-number(n)?, 2)),
            [other, ..] => Err(format!("unexpected {other:?}")),
            [] => Err("an empty item".to_owned()),
        }
    };
    match tokens {
        [Token::Blank] => Ok(vec![Step::Omitted]),
        [Token::Blank, Token::Times, n] => Ok(vec![Step::Omitted; repeat(n)? as usize]),
        _ => {
            let (first, used) = value(tokens)?;
            match &tokens[used..] {
                [] => Ok(vec![Step::Value(first)]),
                [Token::Times, n] => Ok(vec![Step::Value(first); repeat(n)? as usize + 1]),
                rest @ [Token::Add | Token::Sub, Token::Number(_), Token::Times, n] => {
                    let (step, _) = value(rest)?;
                    let times = repeat(n)?;
                    let mut current = first;
                    let mut out = Vec::with_capacity(times as usize + 1);
                    for _ in 0..=times {
                        out.push(Step::Value(current));
                        current += step;
                    }
                    Ok(out)
                }
                [other, ..] => Err(format!("unexpected {other:?}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<Step> {
        parse_series_desc(text).unwrap().steps
    }

    fn v(x: f64) -> Step {
        Step::Value(x)
    }

    #[test]
    fn the_expanding_notation() {
        assert_eq!(values("m 1 2 3"), [v(1.0), v(2.0), v(3.0)]);
        assert_eq!(values("m 0+10x3"), [v(0.0), v(10.0), v(20.0), v(30.0)]);
        assert_eq!(values("m 5-1x2"), [v(5.0), v(4.0), v(3.0)]);
        assert_eq!(values("m -1-1x2"), [v(-1.0), v(-2.0), v(-3.0)]);
        assert_eq!(values("m 7x2"), [v(7.0); 3]);
        assert_eq!(
            values("m _ _x3 1"),
            [
                Step::Omitted,
                Step::Omitted,
                Step::Omitted,
                Step::Omitted,
                v(1.0)
            ]
        );
        assert_eq!(values("m 1e3 .5 +2"), [v(1000.0), v(0.5), v(2.0)]);
        assert_eq!(values("m 010 09 0x1"), [v(8.0), v(9.0), v(0.0), v(0.0)]);
        assert_eq!(values("m   1   "), [v(1.0)]);
        assert!(values("m").is_empty());
        let stale = values("m stale");
        assert!(matches!(stale[0], Step::Value(x) if x.to_bits() == STALE_NAN_BITS));
        let inf = values("m Inf -inf NaN");
        assert_eq!(&inf[..2], [v(f64::INFINITY), v(f64::NEG_INFINITY)]);
        assert!(matches!(inf[2], Step::Value(x) if x.is_nan()));
    }

    #[test]
    fn steps_add_up_in_floating_point_as_prometheus_does() {
        let steps = values("m 0.1+0.1x10");
        // 0.1 added ten times, not 0.1 + 10 * 0.1.
        let mut sum = 0.1;
        for _ in 0..10 {
            sum += 0.1;
        }
        assert_eq!(steps[10], v(sum));
        assert_ne!(sum, 0.1 + 10.0 * 0.1);
    }

    #[test]
    fn labels_are_read_and_sorted() {
        let d = parse_series_desc(r#"http_requests{job="api", code="2\"00"} 1"#).unwrap();
        assert_eq!(
            d.labels,
            [
                ("__name__".to_owned(), "http_requests".to_owned()),
                ("code".to_owned(), "2\"00".to_owned()),
                ("job".to_owned(), "api".to_owned()),
            ]
        );
        let d = parse_series_desc(r#"{__name__="up", a="x y}"} 1"#).unwrap();
        assert_eq!(d.labels[1], ("a".to_owned(), "x y}".to_owned()));
        assert_eq!(d.steps, [v(1.0)]);
    }

    #[test]
    fn bad_descriptions_are_errors() {
        for bad in [
            "m 1+2",
            "m 1x",
            "m 1x1.5",
            "m 1a",
            "m stalex2",
            "m foo",
            "m 1 $",
            "m{a=~\"x\"} 1",
            "m{a=\"1\",a=\"2\"} 1",
            "{a=\"1\" 1",
            " ",
            "m 1+_x2",
        ] {
            assert!(parse_series_desc(bad).is_err(), "{bad:?}");
        }
    }
}
