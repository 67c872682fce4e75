//! Module implementing the time conversions every layer shares: durations and times as the
//! Unix milliseconds that PromQL, rules and notifications count in. See [`millis`].

use std::time::Duration;

use time::OffsetDateTime;

/// `t` in Unix milliseconds, as PromQL reads time.
pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos().div_euclid(1_000_000)).clamp(i64::MIN as i128, i64::MAX as i128)
        as i64
}

/// Unix milliseconds as a time (the epoch for one out of range).
pub(crate) fn time_of(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `d` in whole milliseconds, `i64::MAX` for one too long to count.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_go_round() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(millis(t), 1_700_000_000_123);
        assert_eq!(millis(time_of(-1_500)), -1_500);
        assert_eq!(duration_ms(Duration::from_secs(90)), 90_000);
        assert_eq!(duration_ms(Duration::MAX), i64::MAX);
    }
}
