//! Module implementing durations written as text in configuration files ("15s", "5m", "1h30m").
//! See [`parse`] for details.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1000),
    ("m", 60 * 1000),
    ("h", 60 * 60 * 1000),
    ("d", 24 * 60 * 60 * 1000),
];

/// Parses `"500ms"`, `"15s"`, `"5m"`, `"1h30m"`, `"2d"`: whole numbers each followed by a unit
/// (`ms`, `s`, `m`, `h`, `d`).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let hint =
        "write durations as a number and a unit, like \"15s\", \"5m\", \"1h30m\" or \"500ms\"";
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration; {hint}"));
    }
    let mut rest = trimmed;
    let mut millis: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number at {rest:?}; {hint}"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                format!("invalid duration {text:?}: the number has no unit; {hint}")
            } else {
                format!("invalid duration {text:?}: unknown unit {unit:?}; {hint}")
            });
        };
        millis = number
            .checked_mul(scale)
            .and_then(|m| millis.checked_add(m))
            .ok_or_else(|| format!("invalid duration {text:?}: too long"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(millis))
}

/// Writes a duration the way [`parse`] reads it: `"1h30m"`, `"15s"`, `"250ms"`.
pub(crate) fn format(d: Duration) -> String {
    let mut millis = d.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, scale) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if millis >= scale {
            out.push_str(&format!("{}{unit}", millis / scale));
            millis %= scale;
        }
    }
    out
}

pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// An optional duration, as text when present.
pub(crate) mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse(" 2d "), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_how_to_write_it() {
        for (bad, why) in [
            ("", "empty"),
            ("15", "no unit"),
            ("15x", "unknown unit \"x\""),
            ("s", "expected a number"),
            ("1.5s", "unknown unit \".\""),
            ("99999999999999999999s", "too large"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(parse("15x").unwrap_err().contains("\"15s\""));
    }

    #[test]
    fn format_round_trips() {
        for text in ["15s", "5m", "1h30m", "250ms", "1d2h3m4s5ms", "0s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
