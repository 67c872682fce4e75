//! Module implementing the arithmetic where Go's `math` package, which Prometheus uses, does
//! not round as Rust's (the platform's libm) does. promtool compares results bit for bit, so
//! PromQL's `^`, `exp`, `ln`, `log2` and `log10` follow Go's algorithms: [`pow`], [`exp`],
//! [`ln`], [`log2`], [`log10`]. Also Go's way of printing a float, which Prometheus's labels,
//! API and promtool's output use: [`format_float`].
//!
//! On x86-64, where Prometheus's release builds run, Go's `Exp` and `Log` are assembly
//! (`exp_amd64.s`, `log_amd64.s`) with their own quirks: `Exp` takes a fused multiply-add
//! path on CPUs with AVX and FMA, `Log` reads a subnormal as if it were normal. [`exp`] and
//! [`ln`] do what that assembly does, on the same CPU test, on every platform, and
//! `tests/rules/gomath.yml` holds them and the others to promtool's digits.

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
/// libm's `pow`, and the fractional part as Go's `exp(yf·ln x)`.
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
        a1 = exp(yf * ln(x));
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

/// Whether Go's `Exp` takes its fused multiply-add path on this CPU (`useFMA`: AVX and FMA).
fn go_uses_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static USE_FMA: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *USE_FMA.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// x86's `CVTSD2SL`: to the nearest `i32`, ties to even; `i32::MIN` for what does not fit
/// (NaN included).
fn cvtsd2sl(x: f64) -> i32 {
    let r = x.round_ties_even();
    if (-2_147_483_648.0..=2_147_483_647.0).contains(&r) {
        r as i32
    } else {
        i32::MIN
    }
}

/// e to the `x`, as Go 1.19's `math.Exp` on x86-64 (`exp_amd64.s`, after Shibata's SLEEF),
/// which Prometheus's amd64 builds run: `x` reduced by the nearest multiple of ln 2 and
/// divided by 16, a Taylor series for `e^r − 1`, squared back four times as
/// `(e^r − 1)(e^r + 1)`, then scaled by the power of two (in two steps into the
/// subnormals). With fused multiply-adds where the CPU has AVX and FMA, as Go decides.
/// +Inf from about 709.09 (where the power of two overflows, before the result would).
pub(crate) fn exp(x: f64) -> f64 {
    exp_on(x, go_uses_fma())
}

/// [`exp`] with or without the fused multiply-add path. The constants are written as Go's
/// source writes them, more digits than an f64 holds.
#[allow(clippy::excessive_precision)]
fn exp_on(x: f64, fma: bool) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2U: f64 = 0.693_147_180_559_662_956_511_601_805_686_950_683_593_75;
    const LN2L: f64 = 0.282_352_905_630_315_771_225_884_481_750_134_360_255_254_120_68e-12;
    const OVERFLOW: f64 = 7.097_827_128_933_84e2;
    // 1/8!, 1/7!, … 1/3!, 1/2!, 1: the Taylor series of (e^r − 1)/r, by Horner's rule.
    const C: [f64; 8] = [
        2.480_158_730_158_730_158_7e-5,
        1.984_126_984_126_984_127e-4,
        1.388_888_888_888_888_888_9e-3,
        8.333_333_333_333_333_333_3e-3,
        4.166_666_666_666_666_666_7e-2,
        1.666_666_666_666_666_666_7e-1,
        0.5,
        1.0,
    ];
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    let k = cvtsd2sl(LOG2E * x);
    let kf = f64::from(k);
    let mut r;
    if fma {
        r = (-LN2U).mul_add(kf, x);
        r = (-LN2L).mul_add(kf, r);
        r *= 0.0625;
        let p = C[1..].iter().fold(C[0], |p, &c| p.mul_add(r, c));
        r *= p;
        for _ in 0..3 {
            r *= r + 2.0;
        }
        r = r.mul_add(r + 2.0, 1.0);
    } else {
        r = x - LN2U * kf;
        r -= LN2L * kf;
        r *= 0.0625;
        let p = C[1..].iter().fold(C[0], |p, &c| p * r + c);
        r *= p;
        for _ in 0..4 {
            r *= r + 2.0;
        }
        r += 1.0;
    }
    let biased = i64::from(k) + 0x3ff;
    if biased >= 0x7ff {
        return f64::INFINITY;
    }
    if biased > 0 {
        return r * f64::from_bits((biased as u64) << 52);
    }
    if biased < -52 {
        return 0.0;
    }
    // Into the subnormals: by 2^(k + 1022) exactly, then by 2^-1022, rounding once.
    r *= f64::from_bits(((biased + 0x3fe) as u64) << 52);
    r * f64::MIN_POSITIVE
}

/// ln 2 split in two, `LN2_HI` exact in multiples up to 2000 (FreeBSD's `ln2_hi`, `ln2_lo`),
/// as Go's `Log` and `Log1p` use it.
#[allow(clippy::excessive_precision)]
pub(crate) const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
#[allow(clippy::excessive_precision)]
pub(crate) const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;

/// The coefficients of FreeBSD's polynomial for `log(1+f)`, Go's `L1`…`L7` and `Lp1`…`Lp7`.
#[allow(clippy::excessive_precision)]
pub(crate) const LOG_POLY: [f64; 7] = [
    6.666_666_666_666_735_130e-1,
    3.999_999_999_940_941_908e-1,
    2.857_142_874_366_239_149e-1,
    2.222_219_843_214_978_396e-1,
    1.818_357_216_161_805_012e-1,
    1.531_383_769_920_937_332e-1,
    1.479_819_860_511_658_591e-1,
];

/// The natural logarithm, as Go's `math.Log` on x86-64 (`log_amd64.s`, FreeBSD's `e_log.c`
/// in assembly): its own frexp that takes the exponent bits as they are (so subnormals are
/// read as if normal), the fraction doubled when at most √2/2, then the series in
/// `s = f/(2+f)`.
#[allow(clippy::excessive_precision)]
pub(crate) fn ln(x: f64) -> f64 {
    const HSQRT2: f64 = std::f64::consts::FRAC_1_SQRT_2;
    const L: [f64; 7] = LOG_POLY;
    let bits = x.to_bits();
    if bits & !(1 << 63) == 0 {
        return f64::NEG_INFINITY;
    }
    if (bits as i64) < 0 {
        return f64::NAN;
    }
    if bits >= f64::INFINITY.to_bits() {
        return x;
    }
    let mut f1 = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3fe0_0000_0000_0000);
    let mut k = f64::from(((bits >> 52) & 0x7ff) as i32 - 0x3fe);
    if f1 <= HSQRT2 {
        k -= 1.0;
        f1 *= 2.0;
    }
    let f = f1 - 1.0;
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (L[0] + s4 * (L[2] + s4 * (L[4] + s4 * L[6])));
    let t2 = s4 * (L[1] + s4 * (L[3] + s4 * L[5]));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// The base-2 logarithm, as Go's `math.Log2`: exact for powers of two, else
/// `ln(frac)·(1/ln 2) + exp`.
pub(crate) fn log2(x: f64) -> f64 {
    let (frac, e) = frexp(x);
    if frac == 0.5 {
        return f64::from(e - 1);
    }
    ln(frac) * std::f64::consts::LOG2_E + f64::from(e)
}

/// The base-10 logarithm, as Go's `math.Log10`: `ln(x)·(1/ln 10)`, the constant rounded once
/// (Go works it out exactly at compile time).
pub(crate) fn log10(x: f64) -> f64 {
    ln(x) * std::f64::consts::LOG10_E
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
    fn exp_takes_go_s_path_for_the_cpu() {
        // (x, with FMA, without): promtool 2.42's `exp` on one CPU, as it runs and with
        // GODEBUG=cpu.fma=off; tests/rules/gomath.yml has these x among its inputs.
        for (x, fused, plain) in [
            (4.740790094569842, 114.52465124866161, 114.5246512486616),
            (
                -5.406712841196629,
                0.004486363388287419,
                0.004486363388287418,
            ),
            (
                -9.320887118035465,
                8.953444753852958e-05,
                8.953444753852956e-05,
            ),
            (
                185.559650827851,
                3.868409297581607e+80,
                3.8684092975816063e+80,
            ),
        ] {
            assert_eq!(exp_on(x, true), fused, "{x} with FMA");
            assert_eq!(exp_on(x, false), plain, "{x} without");
        }
        // The edges: +Inf once the power of two overflows, subnormals, then 0.
        for fma in [true, false] {
            assert_eq!(exp_on(709.7, fma), f64::INFINITY);
            assert_eq!(exp_on(-745.1, fma), 5e-324);
            assert_eq!(exp_on(-746.0, fma), 0.0);
            assert_eq!(exp_on(0.0, fma), 1.0);
        }
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
