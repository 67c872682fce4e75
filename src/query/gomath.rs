//! Module implementing the arithmetic where Go's `math` package, which Prometheus uses, does
//! not round as Rust's (the platform's libm) does. promtool compares results bit for bit, so
//! PromQL's `^` follows Go's algorithm. See [`pow`] for details. Also Go's way of printing a
//! float, which Prometheus's labels, API and promtool's output use: [`format_float`].

/// `x` as a fraction in [0.5, 1) and a power of two, as Go's `math.Frexp`: ±0, ±Inf and NaN
/// come back unchanged with exponent 0.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || x.is_infinite() || x.is_nan() {
        return (x, 0);
    }
    // Subnormals are scaled into the normal range first.
    let (x, mut exp) = if x.abs() < f64::MIN_POSITIVE {
        (x * (1u64 << 52) as f64, -52)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// `frac × 2^exp`, as Go's `math.Ldexp`: correctly rounded into the subnormal range, ±0 on
/// underflow, ±Inf on overflow.
fn ldexp(frac: f64, exp: i32) -> f64 {
    if frac == 0.0 || frac.is_infinite() || frac.is_nan() {
        return frac;
    }
    let (frac, e) = frexp(frac);
    let exp = exp.saturating_add(e);
    // `frac` is in [0.5, 1): its biased exponent is 1022.
    let total = exp - 1;
    if total < -1075 {
        return 0.0f64.copysign(frac);
    }
    if total > 1023 {
        return f64::INFINITY.copysign(frac);
    }
    let mantissa = frac.to_bits() & !(0x7ff << 52);
    if total < -1022 {
        // Build the value 2^53 times too large, then scale down once, rounding once.
        let bits = mantissa | (((total + 53 + 1023) as u64) << 52);
        return f64::from_bits(bits) * (1.0 / (1u64 << 53) as f64);
    }
    f64::from_bits(mantissa | (((total + 1023) as u64) << 52))
}

/// Whether `x` is an odd integer.
fn is_odd_int(x: f64) -> bool {
    x.fract() == 0.0 && (x.trunc() as i64) & 1 == 1
}

/// `x` to an exponent too large for any finite result: 1 for -1, else 0 or +Inf.
fn beyond_range(x: f64, y: f64) -> f64 {
    if x == -1.0 {
        1.0
    } else if (x.abs() < 1.0) == (y > 0.0) {
        0.0
    } else {
        f64::INFINITY
    }
}

/// `x` to the power `y` as Go 1.19's `math.Pow` computes it (the Go that built Debian's
/// Prometheus 2.42): the special cases of IEEE 754, then the integer part of `y` by repeated
/// squaring of `x`'s mantissa with the exponent kept apart, which rounds differently from
/// libm's `pow`. The fractional part of `y` uses `exp(yf·ln x)` as Go does, but with Rust's
/// `exp` and `ln`, which may differ from Go's in the last bit.
pub(crate) fn pow(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        return match y {
            y if y < 0.0 && is_odd_int(y) => f64::INFINITY.copysign(x),
            y if y < 0.0 => f64::INFINITY,
            y if is_odd_int(y) => x,
            _ => 0.0,
        };
    }
    if y.is_infinite() {
        return beyond_range(x, y);
    }
    if x.is_infinite() {
        if x < 0.0 {
            return pow(1.0 / x, -y);
        }
        return if y < 0.0 { 0.0 } else { f64::INFINITY };
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }
    let mut yi = y.abs().trunc();
    let mut yf = y.abs().fract();
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= 9_223_372_036_854_775_808.0 {
        // An even integer this large: the result is as for an infinite exponent.
        return beyond_range(x, y);
    }
    let mut a1 = 1.0;
    let mut ae: i32 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = (yf * x.ln()).exp();
    }
    let (mut x1, mut xe) = frexp(x);
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            // The exponent overflows whatever comes: Ldexp gives 0 or Inf.
            ae = ae.saturating_add(xe);
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// Go's `strconv.FormatFloat(v, fmt, -1, 64)` for `fmt` `'f'` (never an exponent), `'e'` or
/// `'E'` (the shortest digits, an exponent of at least two digits with its sign); NaN and
/// infinities as Prometheus writes them, `NaN`, `+Inf`, `-Inf`.
pub(crate) fn format_float(v: f64, fmt: char) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if fmt == 'f' {
        // Rust's `Display` for f64 is the shortest round-tripping digits without an exponent.
        return format!("{v}");
    }
    let text = format!("{v:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}{fmt}{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_and_ldexp_round_trip_every_range() {
        for x in [
            1.0,
            0.75,
            -3.5,
            1e300,
            5e-324,
            2.2250738585072014e-308,
            1.5e-310,
            f64::MAX,
        ] {
            let (f, e) = frexp(x);
            assert!(f.abs() >= 0.5 && f.abs() < 1.0, "{x}: {f}");
            assert_eq!(ldexp(f, e), x, "{x}");
        }
        assert_eq!(ldexp(0.5, 1025), f64::INFINITY);
        assert_eq!(ldexp(0.5, -1080), 0.0);
        // Rounded once into the subnormals: 0.75 × 2^-1073 is 1.5 subnormal steps, a tie,
        // rounded to the even 2 steps.
        assert_eq!(ldexp(0.75, -1073), f64::from_bits(2));
    }

    #[test]
    fn special_cases_follow_go() {
        assert_eq!(pow(f64::NAN, 0.0), 1.0);
        assert_eq!(pow(1.0, f64::NAN), 1.0);
        assert!(pow(-2.0, 0.5).is_nan());
        assert_eq!(pow(-0.0, -3.0), f64::NEG_INFINITY);
        assert_eq!(pow(0.0, -2.0), f64::INFINITY);
        assert_eq!(pow(-1.0, f64::INFINITY), 1.0);
        assert_eq!(pow(0.5, f64::INFINITY), 0.0);
        assert_eq!(pow(f64::NEG_INFINITY, 3.0), f64::NEG_INFINITY);
        assert_eq!(pow(4.0, 0.5), 2.0);
        assert_eq!(pow(4.0, -0.5), 0.5);
    }

    #[test]
    fn integer_powers_are_exact_where_they_can_be() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(3.0, 3.0), 27.0);
        assert_eq!(pow(10.0, -2.0), 1.0 / 100.0);
        assert_eq!(pow(-2.0, 3.0), -8.0);
        assert_eq!(pow(2.0, 1100.0), f64::INFINITY);
        assert_eq!(pow(2.0, -1100.0), 0.0);
    }
}
