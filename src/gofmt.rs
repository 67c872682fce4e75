//! Module implementing Go's formatting of floats, as Prometheus writes numbers in the
//! exposition, the API, rule tests and templates: `strconv.FormatFloat`'s shortest forms and
//! `fmt`'s `%e` and `%g` with a precision. See [`format_float`].

/// Go's `strconv.FormatFloat(v, fmt, -1, 64)` for `fmt` `'f'` (never an exponent), `'e'` or
/// `'E'` (the shortest digits, an exponent of at least two digits with its sign) or `'g'`
/// (`'e'` for an exponent below -4 or from 6 up, else `'f'`); NaN and infinities as
/// Prometheus writes them, `NaN`, `+Inf`, `-Inf`.
pub(crate) fn format_float(v: f64, fmt: char) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let (negative, digits, exponent) = shortest_digits(v);
    let fmt = match fmt {
        'g' if (-4..6).contains(&exponent) => 'f',
        'g' => 'e',
        other => other,
    };
    lay_out(negative, &digits, exponent, fmt)
}

/// `digits`, the first of them at 10^`exponent`, as Go writes them: for `fmt` `'f'` without an
/// exponent, else as one digit, a point and the rest, then `fmt` as the exponent's letter and
/// the exponent with its sign and at least two digits.
fn lay_out(negative: bool, digits: &str, exponent: i32, fmt: char) -> String {
    let sign = if negative { "-" } else { "" };
    if fmt == 'f' {
        let point = exponent + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}", "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        return format!("{sign}{text}");
    }
    let mantissa = match digits.split_at(1) {
        (first, "") => first.to_owned(),
        (first, rest) => format!("{first}.{rest}"),
    };
    let exp_sign = if exponent < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}{fmt}{exp_sign}{:02}", exponent.abs())
}

/// Rust's `{:e}` text of a number as its digits, without the point, and the power of ten of
/// the first.
fn digits_of(e_text: &str) -> (String, i32) {
    let (mantissa, exponent) = e_text.split_once('e').unwrap_or((e_text, "0"));
    (mantissa.replace('.', ""), exponent.parse().unwrap_or(0))
}

/// The shortest decimal digits that read back as finite `v`, the closest to it when several
/// of that length do and the even one on a tie, as Go and Python choose; with the sign and
/// the power of ten of the first digit. Rust's shortest formatting finds the length but
/// rounds a tie up (`728446592290685.25` to `…853`): the digits of that length are taken
/// from Rust's exact formatting (ties to even) whenever those read back as `v` too.
fn shortest_digits(v: f64) -> (bool, String, i32) {
    let negative = v.is_sign_negative();
    let v = v.abs();
    let (digits, exponent) = digits_of(&format!("{v:e}"));
    let precision = digits.len() - 1;
    let rounded = format!("{v:.precision$e}");
    if rounded.parse::<f64>() == Ok(v) {
        let (even, even_exponent) = digits_of(&rounded);
        return (negative, even, even_exponent);
    }
    (negative, digits, exponent)
}

/// Go's `%.{precision}g`: `precision` significant digits (at least one), trailing zeros
/// dropped, an exponent from `precision` digits up or below -4. The shortest `%g` (`%v`) is
/// `format_float(v, 'g')`.
pub(crate) fn format_g(v: f64, precision: usize) -> String {
    if !v.is_finite() {
        return format_float(v, 'g');
    }
    let precision = precision.max(1);
    // The digits and the power of ten of the first, rounded as Go rounds them.
    let (digits, exponent) = digits_of(&format!("{:.*e}", precision - 1, v.abs()));
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let nd = digits.len() as i32;
    let p = precision as i32;
    let eprec = if p > nd && nd > exponent { nd } else { p };
    let fmt = if exponent < -4 || exponent >= eprec {
        'e'
    } else {
        'f'
    };
    lay_out(v.is_sign_negative(), digits, exponent, fmt)
}

/// Go's `%.{precision}e`: `1.50e+03`.
pub(crate) fn format_e(v: f64, precision: usize) -> String {
    if !v.is_finite() {
        return format_float(v, 'g');
    }
    let (digits, exponent) = digits_of(&format!("{:.precision$e}", v.abs()));
    lay_out(v.is_sign_negative(), &digits, exponent, 'e')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_is_gos_shortest_g() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.1 + 0.2, "0.30000000000000004"),
            // 728446592290685.25: a tie at the shortest length goes to the even digit.
            (1.4568931845813705e15 / 2.0, "7.284465922906852e+14"),
        ];
        for (v, text) in cases {
            assert_eq!(format_float(v, 'g'), text, "{v}");
        }
    }

    #[test]
    fn floats_print_the_digits_go_prints() {
        // Exactly halfway between ...312 and ...313 at 17 digits: Go keeps the even one.
        assert_eq!(
            format_float(1.0000076293945312, 'E'),
            "1.0000076293945312E+00"
        );
        assert_eq!(format_float(1.0000076293945312, 'f'), "1.0000076293945312");
        assert_eq!(format_float(-0.1, 'e'), "-1e-01");
        assert_eq!(format_float(0.0, 'e'), "0e+00");
        assert_eq!(format_float(-0.0, 'f'), "-0");
        assert_eq!(format_float(123456789.5, 'f'), "123456789.5");
        assert_eq!(format_float(1.5e21, 'f'), "1500000000000000000000");
        assert_eq!(format_float(1e-7, 'f'), "0.0000001");
        assert_eq!(format_float(5e-324, 'E'), "5E-324");
        assert_eq!(format_float(f64::MAX, 'e'), "1.7976931348623157e+308");
    }

    #[test]
    fn g_rounds_and_trims_as_go() {
        assert_eq!(format_g(1234.5, 4), "1234");
        assert_eq!(format_g(12345.0, 4), "1.234e+04");
        assert_eq!(format_g(2.5, 4), "2.5");
        assert_eq!(format_g(0.0001234, 4), "0.0001234");
        assert_eq!(format_float(100000.0, 'g'), "100000");
        assert_eq!(format_float(-1e21, 'g'), "-1e+21");
    }

    #[test]
    fn g_with_a_precision_is_gos() {
        let cases = [
            (1234.5678, 4, "1235"),
            (1.5, 4, "1.5"),
            (0.000012345, 3, "1.23e-05"),
            (123456789.0, 4, "1.235e+08"),
            (-0.5, 1, "-0.5"),
            (100.0, 2, "1e+02"),
        ];
        for (v, p, text) in cases {
            assert_eq!(format_g(v, p), text, "%.{p}g of {v}");
        }
        assert_eq!(format_e(1500.0, 2), "1.50e+03");
        assert_eq!(format_e(f64::NEG_INFINITY, 2), "-Inf");
    }
}
