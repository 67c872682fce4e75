//! Module implementing the templates of alert labels and annotations, expanded as Prometheus
//! 2.42 expands them: Go's text/template (the `gtmpl` crate) with `$labels`, `$value`,
//! `$externalLabels`, `$externalURL` and Prometheus's functions. See [`expand`] for details.

use std::collections::HashMap;

use std::cell::RefCell;
use std::rc::Rc;

use gtmpl::{Context, Func, FuncError, Template, Value};

use crate::query::{format_float, Labels};

/// What a rule's templates see of one alert.
#[derive(Debug, Clone)]
pub(crate) struct TemplateData<'a> {
    pub(crate) labels: &'a Labels,
    pub(crate) external_labels: &'a Labels,
    pub(crate) external_url: &'a str,
    pub(crate) value: f64,
}

/// What the `query` template function asks: an instant query at the alert's evaluation
/// time, its samples or the reason it failed.
pub(crate) type TemplateQuery = Rc<dyn Fn(&str) -> Result<Vec<(Labels, f64)>, String>>;

thread_local! {
    /// The `query` of the expansion this thread runs (gtmpl's functions are plain `fn`s).
    static QUERY: RefCell<Option<TemplateQuery>> = const { RefCell::new(None) };
    /// The external URL of the expansion this thread runs, for `externalURL` and
    /// `pathPrefix`.
    static EXTERNAL_URL: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with `query` as what templates' `query` function asks.
pub(crate) fn with_query<R>(query: Option<TemplateQuery>, f: impl FnOnce() -> R) -> R {
    let before = QUERY.with(|q| q.replace(query));
    let out = f();
    QUERY.with(|q| *q.borrow_mut() = before);
    out
}

/// Prometheus's definitions before every alert template.
const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// `text` expanded for `data`, or, as Prometheus writes it, `<error expanding template: …>`.
/// A text without `{{` is itself.
pub(crate) fn expand(name: &str, text: &str, data: &TemplateData<'_>) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    match try_expand(name, text, data) {
        Ok(out) => out,
        Err(reason) => format!("<error expanding template: {reason}>"),
    }
}

/// Whether `text` parses as a template, for checking rule files on load.
pub(crate) fn check(name: &str, text: &str) -> Result<(), String> {
    if !text.contains("{{") {
        return Ok(());
    }
    parsed(name, text).map(drop)
}

/// `text` parsed as the template `name`, after Prometheus's definitions and with every
/// printing action passed through `__print`.
fn parsed(name: &str, text: &str) -> Result<Template, String> {
    let mut template = Template::with_name(name);
    template.add_funcs(FUNCS);
    template
        .parse(format!("{DEFS}{}", printed(text)))
        .map_err(|e| format!("template: {name}: {e}"))?;
    Ok(template)
}

fn try_expand(name: &str, text: &str, data: &TemplateData<'_>) -> Result<String, String> {
    let template = parsed(name, text)?;
    let map = |labels: &Labels| -> Value {
        Value::Map(
            labels
                .iter()
                .map(|(n, v)| (n.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    let mut root = HashMap::new();
    root.insert("Labels".to_owned(), map(data.labels));
    root.insert("ExternalLabels".to_owned(), map(data.external_labels));
    root.insert(
        "ExternalURL".to_owned(),
        Value::String(data.external_url.to_owned()),
    );
    // As Go's `%v` text: gtmpl would turn a whole float into an integer (and one past 2^64
    // into its maximum). The functions below read it back as a number.
    root.insert("Value".to_owned(), Value::String(go_g(data.value, None)));
    let before = EXTERNAL_URL.with(|u| u.replace(data.external_url.to_owned()));
    let out = template
        .render(&Context::from(Value::Map(root)))
        .map_err(|e| format!("template: {name}: {e}"));
    EXTERNAL_URL.with(|u| *u.borrow_mut() = before);
    out
}

/// `text` with every printing action's pipeline passed through `__print`, which writes a
/// number as Go's `%v` does (gtmpl would write Rust's digits): `{{ $value }}` becomes
/// `{{ $value | __print }}`. Declarations, control actions and comments are left alone.
fn printed(text: &str) -> String {
    const CONTROL: [&str; 10] = [
        "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    ];
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = action_end(after) else {
            // Unclosed: the parser says so.
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after[..close];
        let (lead, body, trail) = trim_markers(inner);
        let word = body.split_whitespace().next().unwrap_or("");
        let declares = {
            let t = body.trim_start();
            t.starts_with('$')
                && t.split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w == ":=" || w == "=")
        };
        let plain = body.trim().is_empty()
            || body.trim_start().starts_with("/*")
            || CONTROL.contains(&word)
            || declares;
        out.push_str("{{");
        if plain {
            out.push_str(inner);
        } else {
            out.push_str(lead);
            out.push_str(body.trim_end());
            out.push_str(" | __print");
            // gtmpl reads " -}}" as a trim marker only right after the last word.
            out.push_str(if trail.is_empty() { " " } else { trail });
        }
        out.push_str("}}");
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Where the `}}` closing an action is, outside its quoted strings.
fn action_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None if b == b'"' || b == b'`' || b == b'\'' => quote = Some(b),
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

/// An action's text split into its `- ` trim marker, its pipeline and its ` -` marker.
fn trim_markers(inner: &str) -> (&str, &str, &str) {
    let lead = if inner.starts_with("- ") { "- " } else { "" };
    let inner = &inner[lead.len()..];
    let trail = if inner.ends_with(" -") { " -" } else { "" };
    (lead, &inner[..inner.len() - trail.len()], trail)
}

/// The functions templates can call.
const FUNCS: &[(&str, Func)] = &[
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
    Ok(Value::String(go_g(ms as f64 / 1000.0, None)))
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
                sample.insert("Value".to_owned(), Value::String(go_g(value, None)));
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

fn one<'a>(name: &str, args: &'a [Value]) -> Result<&'a Value, FuncError> {
    match args {
        [one] => Ok(one),
        _ => Err(FuncError::ExactlyXArgs(name.to_owned(), 1)),
    }
}

fn string_arg(name: &str, v: &Value) -> Result<String, FuncError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(FuncError::Generic(format!(
            "{name}: expected a string, got {other}"
        ))),
    }
}

/// Prometheus's `convertToFloat`: a number, or a string that parses as one.
fn float_arg(v: &Value) -> Result<f64, FuncError> {
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

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %F %e %E %g %G %q %x %%`
/// with flags `-`, `+`, `0`, a width and a precision. A numeric string (`$value`) is a
/// number to the number verbs.
fn printf(args: &[Value]) -> Result<Value, FuncError> {
    let Some((format, mut rest)) = args.split_first() else {
        return Err(FuncError::AtLeastXArgs("printf".to_owned(), 1));
    };
    let format = string_arg("printf", format)?;
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut plus, mut zero) = (false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '+' => plus = true,
                '0' => zero = true,
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some((arg, others)) = rest.split_first() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        rest = others;
        let number = float_arg(arg).ok();
        let mut text = match (verb, number) {
            ('f' | 'F', Some(v)) => format!("{:.*}", precision.unwrap_or(6), v),
            ('e', Some(v)) => go_exp(v, precision.unwrap_or(6)),
            ('E', Some(v)) => go_exp(v, precision.unwrap_or(6)).to_uppercase(),
            ('g', Some(v)) => go_g(v, precision),
            ('G', Some(v)) => go_g(v, precision).to_uppercase(),
            ('d', Some(v)) if v.fract() == 0.0 => format!("{}", v as i64),
            ('x', Some(v)) if v.fract() == 0.0 => format!("{:x}", v as i64),
            ('q', _) => crate::query::go_quote(&string_of(arg)),
            ('v' | 's', _) => match (arg, number) {
                (Value::Number(_), Some(v)) if verb == 'v' => go_g(v, None),
                _ => string_of(arg),
            },
            _ => format!("%!{verb}({})", string_of(arg)),
        };
        if plus && number.is_some_and(|v| v >= 0.0) && "fFeEgGd".contains(verb) {
            text.insert(0, '+');
        }
        let width: usize = width.parse().unwrap_or(0);
        let pad = width.saturating_sub(text.chars().count());
        if left {
            text.push_str(&" ".repeat(pad));
        } else if zero && number.is_some() {
            let sign = usize::from(text.starts_with(['-', '+']));
            text.insert_str(sign, &"0".repeat(pad));
        } else {
            text.insert_str(0, &" ".repeat(pad));
        }
        out.push_str(&text);
    }
    for extra in rest {
        out.push_str(&format!("%!(EXTRA {})", string_of(extra)));
    }
    Ok(Value::String(out))
}

/// Go's `%.{precision}e`: `1.50e+03`.
fn go_exp(v: f64, precision: usize) -> String {
    if !v.is_finite() {
        return go_g(v, None);
    }
    let text = format!("{v:.precision$e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// A value as `%s` and `%v` print it.
fn string_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) => go_g(f, None),
            None => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A number as Go's `%v` writes it; anything else as it is.
fn print(args: &[Value]) -> Result<Value, FuncError> {
    Ok(match one("__print", args)? {
        // A float (integers print the same in Go and Rust).
        Value::Number(n) => match n.as_f64() {
            Some(v) => Value::String(go_g(v, None)),
            None => Value::String(n.to_string()),
        },
        // Prometheus expands with missingkey=zero: a missing label is "".
        Value::NoValue => Value::String(String::new()),
        other => other.clone(),
    })
}

/// Go's `%g` of `v` with `precision` significant digits, or the shortest (`%v`) for `None`.
pub(crate) fn go_g(v: f64, precision: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    // The digits and the power of ten of the first, rounded as Go rounds them.
    let e_text = match precision {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
        None => format_float(v.abs(), 'e'),
    };
    let (mantissa, exp) = e_text.split_once('e').unwrap_or((&e_text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let eprec = match precision {
        None => 6,
        Some(p) => {
            let p = p.max(1) as i32;
            if p > nd && nd >= dp {
                nd
            } else {
                p
            }
        }
    };
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs());
    }
    let text = if dp <= 0 {
        format!("0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp >= nd {
        format!("{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        let (int, frac) = digits.split_at(dp as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{text}")
}

/// Prometheus's `humanize`: SI prefixes, four significant digits.
fn humanize(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = float_arg(one("humanize", args)?)?;
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return Ok(Value::String(go_g(v, Some(4))));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    Ok(Value::String(format!("{}{prefix}", go_g(v, Some(4)))))
}

/// Prometheus's `humanize1024`: binary prefixes.
fn humanize1024(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = float_arg(one("humanize1024", args)?)?;
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return Ok(Value::String(go_g(v, Some(4))));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(Value::String(format!("{}{prefix}", go_g(v, Some(4)))))
}

/// Prometheus's `humanizePercentage`: the ratio times 100, four significant digits, `%`.
fn humanize_percentage(args: &[Value]) -> Result<Value, FuncError> {
    let v = float_arg(one("humanizePercentage", args)?)?;
    Ok(Value::String(format!("{}%", go_g(v * 100.0, Some(4)))))
}

/// Prometheus's `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with SI prefixes below 1 s.
fn humanize_duration(args: &[Value]) -> Result<Value, FuncError> {
    let v = float_arg(one("humanizeDuration", args)?)?;
    if v.is_nan() || v.is_infinite() {
        return Ok(Value::String(go_g(v, Some(4))));
    }
    if v == 0.0 {
        return Ok(Value::String(format!("{}s", go_g(v, Some(4)))));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let seconds = (v as i64) % 60;
        let minutes = (v as i64 / 60) % 60;
        let hours = (v as i64 / 3600) % 24;
        let days = v as i64 / 86400;
        return Ok(Value::String(if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            // Go's %.4g of the whole seconds with their fraction.
            format!("{sign}{}s", go_g(v, Some(4)))
        }));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    Ok(Value::String(format!("{}{prefix}s", go_g(v, Some(4)))))
}

/// Prometheus's `humanizeTimestamp`: Unix seconds as Go's `time.Time.String()` in UTC.
fn humanize_timestamp(args: &[Value]) -> Result<Value, FuncError> {
    let v = float_arg(one("humanizeTimestamp", args)?)?;
    if v.is_nan() || v.is_infinite() {
        return Ok(Value::String(go_g(v, Some(4))));
    }
    let nanos = (v * 1e9) as i128;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|e| FuncError::Generic(e.to_string()))?;
    let fraction = if t.nanosecond() == 0 {
        String::new()
    } else {
        format!(".{:09}", t.nanosecond())
            .trim_end_matches('0')
            .to_owned()
    };
    Ok(Value::String(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{fraction} +0000 UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_with(text: &str, value: f64) -> String {
        let labels = vec![
            ("instance".to_string(), "db-1:9100".to_string()),
            ("job".to_string(), "kotoba".to_string()),
        ];
        let external = vec![("cluster".to_string(), "east".to_string())];
        expand(
            "__alert_Test",
            text,
            &TemplateData {
                labels: &labels,
                external_labels: &external,
                external_url: "http://prom:9090",
                value,
            },
        )
    }

    #[test]
    fn labels_values_and_externals_expand() {
        assert_eq!(
            expand_with("{{ $labels.instance }} of {{ .Labels.job }} in {{ $externalLabels.cluster }} at {{ $externalURL }}", 1.0),
            "db-1:9100 of kotoba in east at http://prom:9090"
        );
        assert_eq!(expand_with("plain", 1.0), "plain");
    }

    #[test]
    fn the_external_url_and_its_path_are_functions_too() {
        let labels = Labels::new();
        let data = |url| TemplateData {
            labels: &labels,
            external_labels: &labels,
            external_url: url,
            value: 0.0,
        };
        let text = "{{ externalURL }}|{{ pathPrefix }}";
        let cases = [
            (
                "http://prom:9090/prom/x?q=1",
                "http://prom:9090/prom/x?q=1|/prom/x",
            ),
            ("http://prom:9090", "http://prom:9090|"),
            ("", "|"),
        ];
        for (url, expanded) in cases {
            assert_eq!(expand("t", text, &data(url)), expanded, "{url}");
        }
        assert!(expand("t", "{{ pathPrefix 1 }}", &data("")).starts_with("<error expanding"));
    }

    #[test]
    fn values_print_as_go_s_v() {
        assert_eq!(expand_with("{{ $value }}", 12.0), "12");
        assert_eq!(expand_with("{{ $value }}", 0.25), "0.25");
        assert_eq!(expand_with("{{ $value }}", 1234567.0), "1.234567e+06");
        assert_eq!(expand_with("{{ $value }}", 0.00001), "1e-05");
        assert_eq!(expand_with("{{ $value }}", f64::INFINITY), "+Inf");
        assert_eq!(expand_with("{{- $value -}} s", 3.5), "3.5s");
        assert_eq!(
            expand_with("{{ if gt $value 10.0 }}high{{ else }}low{{ end }}", 12.0),
            "high"
        );
        assert_eq!(expand_with("{{ if lt $value 10.0 }}low{{ end }}", 1e21), "");
        assert_eq!(
            expand_with("{{ printf \"%.2f\" $value }}", 1234567.0),
            "1234567.00"
        );
        assert_eq!(
            expand_with(
                "{{ printf \"%.1e|%5.1f|%-4d|%s\" $value $value 7 $labels.job }}",
                1500.0
            ),
            "1.5e+03|1500.0|7   |kotoba"
        );
        assert_eq!(
            expand_with("{{ if eq $labels.job \"kotoba\" }}yes{{ end }}", 1.0),
            "yes"
        );
        assert_eq!(expand_with("[{{ $labels.nothing }}]", 1.0), "[]");
        assert_eq!(
            expand_with("{{ if eq $labels.nothing \"\" }}empty{{ end }}", 1.0),
            "empty"
        );
    }

    #[test]
    fn the_humanize_family_matches_prometheus() {
        for (text, v, want) in [
            ("{{ humanize $value }}", 1234567.0, "1.235M"),
            ("{{ humanize $value }}", 0.001234, "1.234m"),
            ("{{ humanize $value }}", 0.0, "0"),
            ("{{ humanize $value }}", 12.0, "12"),
            ("{{ humanize1024 $value }}", 1048576.0, "1Mi"),
            ("{{ humanizePercentage $value }}", 0.12345, "12.35%"),
            ("{{ humanizeDuration $value }}", 90061.0, "1d 1h 1m 1s"),
            ("{{ humanizeDuration $value }}", 1.5, "1.5s"),
            ("{{ humanizeDuration $value }}", 0.0012, "1.2ms"),
            (
                "{{ humanizeTimestamp $value }}",
                1435065584.128,
                "2015-06-23 13:19:44.128 +0000 UTC",
            ),
            ("{{ $labels.job | toUpper }}", 0.0, "KOTOBA"),
            (
                "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}",
                0.0,
                "db-1",
            ),
            ("{{ $labels.instance | stripPort }}", 0.0, "db-1"),
            ("{{ title \"hello world\" }}", 0.0, "Hello World"),
        ] {
            assert_eq!(expand_with(text, v), want, "{text}");
        }
    }

    #[test]
    fn a_bad_template_says_so_in_the_text() {
        let out = expand_with("{{ $labels.x", 1.0);
        assert!(out.starts_with("<error expanding template: "), "{out}");
        assert!(check("t", "{{ nosuchfunc }}").is_err());
        assert!(check("t", "{{ $value | humanize }}").is_ok());
    }

    #[test]
    fn go_g_rounds_and_trims_as_go() {
        assert_eq!(go_g(1234.5, Some(4)), "1234");
        assert_eq!(go_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(go_g(2.5, Some(4)), "2.5");
        assert_eq!(go_g(0.0001234, Some(4)), "0.0001234");
        assert_eq!(go_g(100000.0, None), "100000");
        assert_eq!(go_g(-1e21, None), "-1e+21");
    }
}
