//! Module implementing the template functions that format numbers as Go and Prometheus do:
//! `printf` (Go's `fmt` verbs), `print`, and the `humanize` family. See [`printf`].

use gtmpl::{FuncError, Value};

use super::funcs::{float_arg, one, string_arg};
use crate::gofmt::{format_e, format_float, format_g};

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %F %e %E %g %G %q %x %%`
/// with flags `-`, `+`, `0`, a width and a precision. A numeric string (`$value`) is a
/// number to the number verbs.
pub(super) fn printf(args: &[Value]) -> Result<Value, FuncError> {
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
            ('e', Some(v)) => format_e(v, precision.unwrap_or(6)),
            ('E', Some(v)) => format_e(v, precision.unwrap_or(6)).to_uppercase(),
            ('g', Some(v)) => g(v, precision),
            ('G', Some(v)) => g(v, precision).to_uppercase(),
            ('d', Some(v)) if v.fract() == 0.0 => format!("{}", v as i64),
            ('x', Some(v)) if v.fract() == 0.0 => format!("{:x}", v as i64),
            ('q', _) => crate::query::go_quote(&string_of(arg)),
            ('v' | 's', _) => match (arg, number) {
                (Value::Number(_), Some(v)) if verb == 'v' => format_float(v, 'g'),
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

/// Go's `%g`, with a precision or the shortest.
fn g(v: f64, precision: Option<usize>) -> String {
    match precision {
        Some(p) => format_g(v, p),
        None => format_float(v, 'g'),
    }
}

/// A value as `%s` and `%v` print it.
fn string_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) => format_float(f, 'g'),
            None => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A number as Go's `%v` writes it; anything else as it is.
pub(super) fn print(args: &[Value]) -> Result<Value, FuncError> {
    Ok(match one("__print", args)? {
        // A float (integers print the same in Go and Rust).
        Value::Number(n) => match n.as_f64() {
            Some(v) => Value::String(format_float(v, 'g')),
            None => Value::String(n.to_string()),
        },
        // Prometheus expands with missingkey=zero: a missing label is "".
        Value::NoValue => Value::String(String::new()),
        other => other.clone(),
    })
}

/// Prometheus's `humanize`: SI prefixes, four significant digits.
pub(super) fn humanize(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = float_arg(one("humanize", args)?)?;
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return Ok(Value::String(format_g(v, 4)));
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
    Ok(Value::String(format!("{}{prefix}", format_g(v, 4))))
}

/// Prometheus's `humanize1024`: binary prefixes.
pub(super) fn humanize1024(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = float_arg(one("humanize1024", args)?)?;
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return Ok(Value::String(format_g(v, 4)));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(Value::String(format!("{}{prefix}", format_g(v, 4))))
}

/// Prometheus's `humanizePercentage`: the ratio times 100, four significant digits, `%`.
pub(super) fn humanize_percentage(args: &[Value]) -> Result<Value, FuncError> {
    let v = float_arg(one("humanizePercentage", args)?)?;
    Ok(Value::String(format!("{}%", format_g(v * 100.0, 4))))
}

/// Prometheus's `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with SI prefixes below 1 s.
pub(super) fn humanize_duration(args: &[Value]) -> Result<Value, FuncError> {
    let v = float_arg(one("humanizeDuration", args)?)?;
    if v.is_nan() || v.is_infinite() {
        return Ok(Value::String(format_g(v, 4)));
    }
    if v == 0.0 {
        return Ok(Value::String(format!("{}s", format_g(v, 4))));
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
            format!("{sign}{}s", format_g(v, 4))
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
    Ok(Value::String(format!("{}{prefix}s", format_g(v, 4))))
}

/// Prometheus's `humanizeTimestamp`: Unix seconds as Go's `time.Time.String()` in UTC.
pub(super) fn humanize_timestamp(args: &[Value]) -> Result<Value, FuncError> {
    let v = float_arg(one("humanizeTimestamp", args)?)?;
    if v.is_nan() || v.is_infinite() {
        return Ok(Value::String(format_g(v, 4)));
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
