//! Module implementing the template functions that format numbers as Go and Prometheus do:
//! `printf` (Go's `fmt` verbs), `print`, and the `humanize` family. See [`printf`].

use gtmpl::{FuncError, Value};

use super::funcs::{float_arg, one, string_arg};
use crate::query::format_float;

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
pub(super) fn print(args: &[Value]) -> Result<Value, FuncError> {
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
pub(super) fn humanize(args: &[Value]) -> Result<Value, FuncError> {
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
pub(super) fn humanize1024(args: &[Value]) -> Result<Value, FuncError> {
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
pub(super) fn humanize_percentage(args: &[Value]) -> Result<Value, FuncError> {
    let v = float_arg(one("humanizePercentage", args)?)?;
    Ok(Value::String(format!("{}%", go_g(v * 100.0, Some(4)))))
}

/// Prometheus's `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with SI prefixes below 1 s.
pub(super) fn humanize_duration(args: &[Value]) -> Result<Value, FuncError> {
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
pub(super) fn humanize_timestamp(args: &[Value]) -> Result<Value, FuncError> {
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
