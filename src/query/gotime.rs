//! Module implementing the calendar of Go 1.19's `time` package as Prometheus's calendar
//! functions meet it: `time.Unix(int64(v), 0).UTC()` for any float `v`, NaN and infinities
//! included, with Go's conversion and its wrapping 64-bit arithmetic, so that `day_of_year(+Inf)`
//! is the 339 Prometheus answers. See [`civil`].

const SECONDS_PER_DAY: u64 = 86_400;
const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
const DAYS_PER_100_YEARS: u64 = 365 * 100 + 24;
const DAYS_PER_4_YEARS: u64 = 365 * 4 + 1;

/// Go's `absoluteZeroYear`: the year the unsigned absolute time counts from.
const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;

/// Go's `(absoluteZeroYear - internalYear) * 365.2425 * secondsPerDay`, exactly.
const ABSOLUTE_TO_INTERNAL: i64 = -9_223_371_966_579_724_800;

/// Go's `(1969*365 + 1969/4 - 1969/100 + 1969/400) * secondsPerDay`.
const UNIX_TO_INTERNAL: i64 = 62_135_596_800;

/// Days before each month of a year that is not leap, and the year's 365 at the end.
const DAYS_BEFORE: [u64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

/// A UTC time as Go's `time.Time` methods read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    /// 1 to 12.
    pub(crate) month: u64,
    /// 1 to 31.
    pub(crate) day: u64,
    /// 1 to 366.
    pub(crate) year_day: u64,
    /// 0 (Sunday) to 6.
    pub(crate) weekday: u64,
    pub(crate) hour: u64,
    pub(crate) minute: u64,
}

/// Go's `int64(v)` on x86-64 (`CVTTSD2SQ`): toward zero, and the "integer indefinite"
/// `i64::MIN` for NaN, the infinities and anything out of range.
pub(crate) fn go_int64(v: f64) -> i64 {
    // 2^63 as f64; every finite value in [-2^63, 2^63) truncates into range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Go's `Time.abs` of `time.Unix(sec, 0).UTC()`.
fn absolute(sec: i64) -> u64 {
    let internal = sec.wrapping_add(UNIX_TO_INTERNAL);
    let unix = internal.wrapping_sub(UNIX_TO_INTERNAL);
    unix.wrapping_add(UNIX_TO_INTERNAL.wrapping_sub(ABSOLUTE_TO_INTERNAL)) as u64
}

/// Go's `absDate`: the year, month, day and day of the year of an absolute time.
fn abs_date(abs: u64) -> (i64, u64, u64, u64) {
    let mut d = abs / SECONDS_PER_DAY;
    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;
    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;
    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    let year = (y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR);
    let year_day = d;
    let mut day = year_day;
    if is_leap(year) {
        if day > 31 + 29 - 1 {
            day -= 1;
        } else if day == 31 + 29 - 1 {
            return (year, 2, 29, year_day + 1);
        }
    }
    let mut month = day / 31;
    let end = DAYS_BEFORE[month as usize + 1];
    let begin = if day >= end {
        month += 1;
        end
    } else {
        DAYS_BEFORE[month as usize]
    };
    (year, month + 1, day - begin + 1, year_day + 1)
}

/// `time.Unix(sec, 0).UTC()` as Go reads it.
pub(crate) fn civil(sec: i64) -> Civil {
    let abs = absolute(sec);
    let (year, month, day, year_day) = abs_date(abs);
    // January 1 of the absolute year was a Monday.
    let weekday = (abs.wrapping_add(SECONDS_PER_DAY) % (7 * SECONDS_PER_DAY)) / SECONDS_PER_DAY;
    let in_day = abs % SECONDS_PER_DAY;
    Civil {
        year,
        month,
        day,
        year_day,
        weekday,
        hour: in_day / 3600,
        minute: in_day % 3600 / 60,
    }
}

/// Go's `daysSinceEpoch`: days from the absolute zero year to January 1 of `year`.
fn days_since_epoch(year: i64) -> u64 {
    let mut y = year.wrapping_sub(ABSOLUTE_ZERO_YEAR) as u64;
    let mut n = y / 400;
    y -= 400 * n;
    let mut d = DAYS_PER_400_YEARS.wrapping_mul(n);
    n = y / 100;
    y -= 100 * n;
    d = d.wrapping_add(DAYS_PER_100_YEARS * n);
    n = y / 4;
    y -= 4 * n;
    d = d.wrapping_add(DAYS_PER_4_YEARS * n);
    d.wrapping_add(365 * y)
}

/// Prometheus's `days_in_month`: `32 - time.Date(year, month, 32, 0, 0, 0, 0, UTC).Day()`,
/// with Go's wrapping arithmetic.
pub(crate) fn days_in_month(t: Civil) -> u64 {
    let mut d = days_since_epoch(t.year).wrapping_add(DAYS_BEFORE[t.month as usize - 1]);
    if is_leap(t.year) && t.month >= 3 {
        d = d.wrapping_add(1);
    }
    d = d.wrapping_add(31);
    let abs = d.wrapping_mul(SECONDS_PER_DAY);
    // Through Unix seconds and back, as Go's `Date` then `Day` go.
    let unix = (abs as i64).wrapping_add(ABSOLUTE_TO_INTERNAL.wrapping_sub(UNIX_TO_INTERNAL));
    let (_, _, day, _) = abs_date(absolute(unix));
    32 - day
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_times_read_as_everyone_reads_them() {
        for sec in [
            0_i64,
            1_700_000_000,
            -86_400,
            951_782_400,
            4_102_444_800,
            -62_135_596_800,
        ] {
            let go = civil(sec);
            let t = time::OffsetDateTime::from_unix_timestamp(sec).unwrap();
            assert_eq!(go.year, i64::from(t.year()), "{sec}");
            assert_eq!(go.month, u64::from(u8::from(t.month())));
            assert_eq!(go.day, u64::from(t.day()));
            assert_eq!(go.year_day, u64::from(t.ordinal()));
            assert_eq!(go.weekday, u64::from(t.weekday().number_days_from_sunday()));
            assert_eq!(go.hour, u64::from(t.hour()));
            assert_eq!(go.minute, u64::from(t.minute()));
            assert_eq!(
                days_in_month(go),
                u64::from(t.month().length(t.year())),
                "{sec}"
            );
        }
    }

    #[test]
    fn nan_and_infinities_read_as_go_reads_them() {
        assert_eq!(go_int64(f64::NAN), i64::MIN);
        assert_eq!(go_int64(f64::INFINITY), i64::MIN);
        assert_eq!(go_int64(-1e30), i64::MIN);
        assert_eq!(go_int64(-2.9), -2);
        // Prometheus 2.42: day_of_year(+Inf) is 339.
        assert_eq!(civil(i64::MIN).year_day, 339);
    }
}
