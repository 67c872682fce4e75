//! Module implementing Prometheus 2.42's template functions (`query`, `first`, `label`,
//! `value`, `humanize*`, `printf`, the comparisons, links and strings), as gtmpl functions in
//! one table. See [`FUNCS`].

use std::collections::HashMap;

use gtmpl::{Func, FuncError, Value};

use super::format::{
    humanize, humanize1024, humanize_duration, humanize_percentage, humanize_timestamp, print,
    printf,
};
use super::{EXTERNAL_URL, QUERY};
use crate::gofmt::format_float;

/// The functions templates can call.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("__print", print as Func),
    ("eq", eq as Func),
    ("ne", ne as Func),
    ("lt", lt as Func),
    ("le", le as Func),
    ("gt", gt as Func),
    ("ge", ge as Func),
    ("printf", printf as Func),
    ("humanize", humanize as Func),
    ("humanize1024", humanize1024 as Func),
    ("humanizePercentage", humanize_percentage as Func),
    ("humanizeDuration", humanize_duration as Func),
    ("humanizeTimestamp", humanize_timestamp as Func),
    ("toUpper", to_upper as Func),
    ("toLower", to_lower as Func),
    ("title", title as Func),
    ("reReplaceAll", re_replace_all as Func),
    ("match", re_match as Func),
    ("stripPort", strip_port as Func),
    ("safeHtml", identity as Func),
    ("query", query as Func),
    ("first", first as Func),
    ("label", label as Func),
    ("value", value as Func),
    ("strvalue", strvalue as Func),
    ("sortByLabel", sort_by_label as Func),
    ("args", args_map as Func),
    ("graphLink", graph_link as Func),
    ("tableLink", table_link as Func),
    ("externalURL", external_url as Func),
    ("pathPrefix", path_prefix as Func),
    ("parseDuration", parse_duration as Func),
    ("toTime", humanize_timestamp as Func),
];

/// `args a b …`: a map of `arg0`, `arg1`, … to the arguments, to pass several values on.
fn args_map(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Map(
        args.iter()
            .enumerate()
            .map(|(i, a)| (format!("arg{i}"), a.clone()))
            .collect(),
    ))
}

/// `graphLink "expr"`: the Prometheus UI's graph of `expr`, as a path.
fn graph_link(args: &[Value]) -> Result<Value, FuncError> {
    let expr = string_arg("graphLink", one("graphLink", args)?)?;
    Ok(Value::String(format!(
        "/graph?g0.expr={}&g0.tab=0",
        query_escape(&expr)
    )))
}

/// `tableLink "expr"`: the Prometheus UI's table of `expr`, as a path.
fn table_link(args: &[Value]) -> Result<Value, FuncError> {
    let expr = string_arg("tableLink", one("tableLink", args)?)?;
    Ok(Value::String(format!(
        "/graph?g0.expr={}&g0.tab=1",
        query_escape(&expr)
    )))
}

/// `text` escaped as Go's `url.QueryEscape`: letters, digits and `-_.~` kept, a space as
/// `+`, every other byte as `%XX`.
pub(crate) fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `externalURL`: the external URL the alert's templates see.
fn external_url(args: &[Value]) -> Result<Value, FuncError> {
    no_args("externalURL", args)?;
    Ok(Value::String(EXTERNAL_URL.with(|u| u.borrow().clone())))
}

/// `pathPrefix`: the external URL's path.
fn path_prefix(args: &[Value]) -> Result<Value, FuncError> {
    no_args("pathPrefix", args)?;
    let url = EXTERNAL_URL.with(|u| u.borrow().clone());
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("", |at| &after_scheme[at..])
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    Ok(Value::String(path.to_owned()))
}

/// `parseDuration "1h30m"`: a Prometheus duration in seconds.
fn parse_duration(args: &[Value]) -> Result<Value, FuncError> {
    let text = string_arg("parseDuration", one("parseDuration", args)?)?;
    let ms = crate::query::duration_ms(&text).map_err(FuncError::Generic)?;
    Ok(Value::String(format_float(ms as f64 / 1000.0, 'g')))
}

fn no_args(name: &str, args: &[Value]) -> Result<(), FuncError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(FuncError::ExactlyXArgs(name.to_owned(), 0))
    }
}

/// `query "expr"`: the samples of an instant query at the alert's evaluation time, each
/// with `.Labels` and `.Value`, as Prometheus's template `query`.
fn query(args: &[Value]) -> Result<Value, FuncError> {
    let text = string_arg("query", one("query", args)?)?;
    let run = QUERY.with(|q| q.borrow().clone());
    let Some(run) = run else {
        return Err(FuncError::Generic("query is not available here".to_owned()));
    };
    let samples = run(&text).map_err(FuncError::Generic)?;
    Ok(Value::Array(
        samples
            .into_iter()
            .map(|(labels, value)| {
                let mut sample = HashMap::new();
                sample.insert(
                    "Labels".to_owned(),
                    Value::Map(
                        labels
                            .into_iter()
                            .map(|(n, v)| (n, Value::String(v)))
                            .collect(),
                    ),
                );
                sample.insert("Value".to_owned(), Value::String(format_float(value, 'g')));
                Value::Map(sample)
            })
            .collect(),
    ))
}

fn samples_arg(name: &str, v: &Value) -> Result<Vec<Value>, FuncError> {
    match v {
        Value::Array(items) => Ok(items.clone()),
        other => Err(FuncError::Generic(format!(
            "{name}: expected a query result, got {other}"
        ))),
    }
}

/// A sample's field (`Labels` or `Value`); `None` for anything but a sample.
fn field<'a>(sample: &'a Value, name: &str) -> Option<&'a Value> {
    match sample {
        Value::Map(m) => m.get(name),
        _ => None,
    }
}

/// `first`: the first sample of a query result.
fn first(args: &[Value]) -> Result<Value, FuncError> {
    samples_arg("first", one("first", args)?)?
        .into_iter()
        .next()
        .ok_or_else(|| FuncError::Generic("first() called on vector with no elements".to_owned()))
}

/// `label "name" sample`: the sample's label, or "".
fn label(args: &[Value]) -> Result<Value, FuncError> {
    let [name, sample] = args else {
        return Err(FuncError::ExactlyXArgs("label".to_owned(), 2));
    };
    let name = string_arg("label", name)?;
    Ok(match field(sample, "Labels") {
        Some(Value::Map(labels)) => labels
            .get(&name)
            .cloned()
            .unwrap_or_else(|| Value::String(String::new())),
        _ => Value::String(String::new()),
    })
}

/// `value sample`: the sample's value (0 for none).
fn value(args: &[Value]) -> Result<Value, FuncError> {
    Ok(field(one("value", args)?, "Value")
        .cloned()
        .unwrap_or_else(|| Value::String("0".to_owned())))
}

/// `strvalue sample`: its `__value__` label, or "".
fn strvalue(args: &[Value]) -> Result<Value, FuncError> {
    label(&[
        Value::String("__value__".to_owned()),
        one("strvalue", args)?.clone(),
    ])
}

/// `sortByLabel "name" result`: the samples in order of that label, stably.
fn sort_by_label(args: &[Value]) -> Result<Value, FuncError> {
    let [name, result] = args else {
        return Err(FuncError::ExactlyXArgs("sortByLabel".to_owned(), 2));
    };
    let name = string_arg("sortByLabel", name)?;
    let mut samples = samples_arg("sortByLabel", result)?;
    let key = |s: &Value| match label(&[Value::String(name.clone()), s.clone()]) {
        Ok(Value::String(v)) => v,
        _ => String::new(),
    };
    samples.sort_by_key(key);
    Ok(Value::Array(samples))
}

pub(super) fn one<'a>(name: &str, args: &'a [Value]) -> Result<&'a Value, FuncError> {
    match args {
        [one] => Ok(one),
        _ => Err(FuncError::ExactlyXArgs(name.to_owned(), 1)),
    }
}

pub(super) fn string_arg(name: &str, v: &Value) -> Result<String, FuncError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(FuncError::Generic(format!(
            "{name}: expected a string, got {other}"
        ))),
    }
}

/// Prometheus's `convertToFloat`: a number, or a string that parses as one.
pub(super) fn float_arg(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .or_else(|| n.as_i64().map(|i| i as f64))
            .or_else(|| n.as_u64().map(|u| u as f64))
            .ok_or_else(|| FuncError::Generic("not a number".to_owned())),
        Value::String(s) => s
            .parse::<f64>()
            .map_err(|e| FuncError::Generic(format!("strconv.ParseFloat: parsing {s:?}: {e}"))),
        other => Err(FuncError::Generic(format!(
            "can't convert {other} to float"
        ))),
    }
}

/// gtmpl's own function `name`, a missing label read as "" (Prometheus's missingkey=zero).
fn builtin(name: &str, args: &[Value]) -> Result<Value, FuncError> {
    let args: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::NoValue => Value::String(String::new()),
            other => other.clone(),
        })
        .collect();
    match gtmpl::funcs::BUILTINS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => f(&args),
        None => Err(FuncError::Generic(format!("no function {name}"))),
    }
}

/// The arguments as numbers when one is a number and the others are numbers or numeric
/// strings (`$value` is one), so that `gt $value 10.0` compares numbers as in Prometheus.
fn numbers(args: &[Value]) -> Option<Vec<f64>> {
    if !args.iter().any(|a| matches!(a, Value::Number(_))) {
        return None;
    }
    args.iter().map(|a| float_arg(a).ok()).collect()
}

fn compare(name: &str, args: &[Value], test: fn(f64, f64) -> bool) -> Result<Value, FuncError> {
    match (numbers(args), args.len()) {
        (Some(n), 2) => Ok(Value::Bool(test(n[0], n[1]))),
        _ => builtin(name, args),
    }
}

fn eq(args: &[Value]) -> Result<Value, FuncError> {
    match numbers(args) {
        Some(n) if n.len() >= 2 => Ok(Value::Bool(n[1..].iter().any(|&v| v == n[0]))),
        _ => builtin("eq", args),
    }
}

fn ne(args: &[Value]) -> Result<Value, FuncError> {
    compare("ne", args, |a, b| a != b)
}

fn lt(args: &[Value]) -> Result<Value, FuncError> {
    compare("lt", args, |a, b| a < b)
}

fn le(args: &[Value]) -> Result<Value, FuncError> {
    compare("le", args, |a, b| a <= b)
}

fn gt(args: &[Value]) -> Result<Value, FuncError> {
    compare("gt", args, |a, b| a > b)
}

fn ge(args: &[Value]) -> Result<Value, FuncError> {
    compare("ge", args, |a, b| a >= b)
}

fn to_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        string_arg("toUpper", one("toUpper", args)?)?.to_uppercase(),
    ))
}

fn to_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        string_arg("toLower", one("toLower", args)?)?.to_lowercase(),
    ))
}

/// Go's `strings.Title`: the first letter of each word upper-cased.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let text = string_arg("title", one("title", args)?)?;
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    Ok(Value::String(out))
}

/// `reReplaceAll pattern replacement text`, Go's `$1` expansion.
fn re_replace_all(args: &[Value]) -> Result<Value, FuncError> {
    let [pattern, replacement, text] = args else {
        return Err(FuncError::ExactlyXArgs("reReplaceAll".to_owned(), 3));
    };
    let re = regex::Regex::new(&string_arg("reReplaceAll", pattern)?)
        .map_err(|e| FuncError::Generic(e.to_string()))?;
    let replacement = string_arg("reReplaceAll", replacement)?;
    Ok(Value::String(
        re.replace_all(&string_arg("reReplaceAll", text)?, replacement.as_str())
            .into_owned(),
    ))
}

/// `match pattern text`: whether the unanchored pattern matches.
fn re_match(args: &[Value]) -> Result<Value, FuncError> {
    let [pattern, text] = args else {
        return Err(FuncError::ExactlyXArgs("match".to_owned(), 2));
    };
    let re = regex::Regex::new(&string_arg("match", pattern)?)
        .map_err(|e| FuncError::Generic(e.to_string()))?;
    Ok(Value::Bool(re.is_match(&string_arg("match", text)?)))
}

/// `stripPort "host:port"`: the host.
fn strip_port(args: &[Value]) -> Result<Value, FuncError> {
    let text = string_arg("stripPort", one("stripPort", args)?)?;
    let host = match text.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            host.trim_start_matches('[').trim_end_matches(']')
        }
        _ => text.as_str(),
    };
    Ok(Value::String(host.to_owned()))
}

fn identity(args: &[Value]) -> Result<Value, FuncError> {
    Ok(one("safeHtml", args)?.clone())
}
