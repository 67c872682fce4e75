//! Module implementing Prometheus's durations (`1h30m`, `5m`, `10s`, `0`), as its
//! `model.ParseDuration` reads them and `model.Duration.String()` writes them. See
//! [`duration_ms`] for details.

/// The units of a Prometheus duration, largest first, in milliseconds.
const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// A Prometheus duration (`1h30m`, `10s`, `0`), as `model.ParseDuration` reads it: units in
/// order from `y` to `ms`, each at most once.
pub(crate) fn duration_ms(text: &str) -> Result<i64, String> {
    let bad = || format!("not a valid duration string: {text:?}");
    if text == "0" {
        return Ok(0);
    }
    let mut rest = text;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        // `ms` before `m`, so that `5ms` is not five minutes and an `s`.
        let unit = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())
            .ok_or_else(bad)?;
        let (index, (name, ms)) = unit;
        rest = &rest[name.len()..];
        total = n
            .checked_mul(*ms)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
        next_unit = index + 1;
    }
    Ok(total)
}

/// A duration as Prometheus's `model.Duration.String()` writes it: `1h40m`, `0s`.
pub(crate) fn duration_string(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut left = ms;
    let mut out = String::new();
    for (name, unit) in UNITS {
        // As Prometheus: years and weeks only when nothing is left after them (90d, not
        // 12w6d).
        if matches!(name, "y" | "w") && left % unit != 0 {
            continue;
        }
        let n = left / unit;
        if n > 0 {
            out.push_str(&format!("{n}{name}"));
            left -= n * unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print_as_prometheus_does() {
        for (text, ms) in [
            ("0", 0),
            ("0s", 0),
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            ("5ms", 5),
            ("1m500ms", 60_500),
            ("2d", 172_800_000),
        ] {
            assert_eq!(duration_ms(text), Ok(ms), "{text}");
        }
        for bad in ["", "5", "1x", "1s1h", "m", "-1s"] {
            assert!(duration_ms(bad).is_err(), "{bad:?}");
        }
        assert_eq!(duration_string(6_000_000), "1h40m");
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(90_500), "1m30s500ms");
        let day = 86_400_000;
        assert_eq!(duration_string(14 * day), "2w");
        assert_eq!(duration_string(365 * day), "1y");
        assert_eq!(duration_string(90 * day), "90d");
        assert_eq!(duration_string(1000 * day + 11_040_000), "1000d3h4m");
    }
}
