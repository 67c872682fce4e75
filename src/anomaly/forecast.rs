//! Module implementing a seasonal forecast of one series. See [`SeasonalForecaster`].

use std::time::Duration;

/// Time-of-day slots (or slots of whatever season) the seasonal profile is learned in.
const SLOTS: usize = 96;
/// The level's time constant, in seasons: it follows the series with its season taken out
/// over about this long, whatever the sample rate.
const LEVEL_SEASONS: f64 = 0.25;
/// The trend's time constant, in seasons.
const TREND_SEASONS: f64 = 1.0;
/// A slot of the profile's time constant, in seasons of that slot's own samples.
const PROFILE_SEASONS: f64 = 1.0;

/// A seasonal forecast of one series, for predictions a straight line gets wrong ("the disk
/// is full within 4 hours", when it fills by day and is cleaned by night): Holt's level and
/// trend, learned on the series with its seasonal profile taken out, and the profile itself
/// learned per slot of the season (96 slots: a quarter of an hour of a day). Samples may come
/// at any times; `forecast` answers once a whole season has been seen.
///
/// ```
/// use std::time::Duration;
/// use kotoba_monitoring::SeasonalForecaster;
///
/// let day = 86_400.0;
/// let mut disk = SeasonalForecaster::new(Duration::from_secs(86_400));
/// // Three days at 15 s: +20 points from 8:00 to 20:00, cleaned at night, +1 point a day.
/// let usage = |t: f64| {
///     let hour = (t % day) / 3600.0;
///     let daily = if hour < 8.0 { 0.0 } else if hour < 20.0 { (hour - 8.0) / 12.0 * 20.0 } else { 20.0 * (24.0 - hour) / 4.0 };
///     50.0 + t / day + daily
/// };
/// let mut t = 0.0;
/// while t < 3.0 * day + 6.0 * 3600.0 {
///     disk.update(t, usage(t));
///     t += 15.0;
/// }
/// // At 6:00, four hours ahead is 10:00, when the day's growth has begun.
/// let ahead = disk.forecast(Duration::from_secs(4 * 3600)).unwrap();
/// assert!((ahead - usage(t + 4.0 * 3600.0)).abs() < 2.0, "{ahead}");
/// ```
#[derive(Debug, Clone)]
pub struct SeasonalForecaster {
    season: f64,
    /// The series' mean offset in each slot of the season from its level.
    profile: [f64; SLOTS],
    level: f64,
    /// Per second.
    trend: f64,
    first: Option<f64>,
    last: Option<f64>,
    /// The first season's sums and counts per slot, which the profile starts from; `None`
    /// once it has.
    warmup: Option<Box<([f64; SLOTS], [u32; SLOTS])>>,
}

/// The saved layout's first byte.
const FORMAT: u8 = 1;

impl SeasonalForecaster {
    /// The forecaster's whole state as bytes, for [`from_bytes`](Self::from_bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        let mut put = |v: f64| out.extend_from_slice(&v.to_bits().to_le_bytes());
        put(self.season);
        self.profile.iter().for_each(|v| put(*v));
        put(self.level);
        put(self.trend);
        // NaN stands for "none yet": no real time is NaN.
        put(self.first.unwrap_or(f64::NAN));
        put(self.last.unwrap_or(f64::NAN));
        if let Some(warmup) = &self.warmup {
            out.push(1);
            for (sum, count) in warmup.0.iter().zip(&warmup.1) {
                out.extend_from_slice(&sum.to_bits().to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
            }
        } else {
            out.push(0);
        }
        out
    }

    /// The forecaster [`to_bytes`](Self::to_bytes) saved.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidState`](crate::MonitoringError::InvalidState) when `bytes`
    /// are not a forecaster this version of the crate saved.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::MonitoringError> {
        Self::read(bytes).ok_or_else(|| crate::MonitoringError::InvalidState {
            reason: "these bytes are not a seasonal forecaster's state saved by this version of kotoba-monitoring; start a new forecaster".to_owned(),
        })
    }

    fn read(bytes: &[u8]) -> Option<Self> {
        let mut r = crate::storage::bytes::ByteReader::new(bytes);
        if r.u8()? != FORMAT {
            return None;
        }
        let mut float = || r.u64_le().map(f64::from_bits);
        let season = float().filter(|s| s.is_finite() && *s > 0.0)?;
        let mut profile = [0.0; SLOTS];
        for p in &mut profile {
            *p = float()?;
        }
        let (level, trend, first, last) = (float()?, float()?, float()?, float()?);
        let warmup = match r.u8()? {
            0 => None,
            1 => {
                let mut sums = [0.0; SLOTS];
                let mut counts = [0u32; SLOTS];
                for (sum, count) in sums.iter_mut().zip(&mut counts) {
                    *sum = f64::from_bits(r.u64_le()?);
                    *count = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
                }
                Some(Box::new((sums, counts)))
            }
            _ => return None,
        };
        r.is_empty().then_some(Self {
            season,
            profile,
            level,
            trend,
            first: (!first.is_nan()).then_some(first),
            last: (!last.is_nan()).then_some(last),
            warmup,
        })
    }

    /// A forecaster for a series that repeats every `season` (a day for most).
    pub fn new(season: Duration) -> Self {
        Self {
            season: season.as_secs_f64().max(1e-3),
            profile: [0.0; SLOTS],
            level: 0.0,
            trend: 0.0,
            first: None,
            last: None,
            warmup: Some(Box::new(([0.0; SLOTS], [0; SLOTS]))),
        }
    }

    fn slot(&self, at: f64) -> usize {
        let phase = at.rem_euclid(self.season) / self.season;
        ((phase * SLOTS as f64) as usize).min(SLOTS - 1)
    }

    /// Learns `value` at `at` (seconds on any clock, increasing). A value that is not a
    /// number, or one not later than the last, is left out.
    pub fn update(&mut self, at: f64, value: f64) {
        if !value.is_finite() || !at.is_finite() || self.last.is_some_and(|last| at <= last) {
            return;
        }
        let slot = self.slot(at);
        let first = *self.first.get_or_insert(at);
        if let Some(warmup) = &mut self.warmup {
            // The first season only gathers: each slot's mean less the season's mean
            // starts the profile, the season's mean the level.
            if at - first < self.season {
                warmup.0[slot] += value;
                warmup.1[slot] += 1;
                self.last = Some(at);
                return;
            }
            let (sums, counts) = &**warmup;
            let total: f64 = sums.iter().sum();
            let n: u32 = counts.iter().sum();
            let mean = total / f64::from(n.max(1));
            for (p, (sum, count)) in self.profile.iter_mut().zip(sums.iter().zip(counts)) {
                *p = if *count > 0 {
                    sum / f64::from(*count) - mean
                } else {
                    0.0
                };
            }
            self.level = mean;
            self.warmup = None;
        }
        let without_season = value - self.profile[slot];
        if let Some(last) = self.last {
            let dt = at - last;
            let alpha = 1.0 - (-dt / (LEVEL_SEASONS * self.season)).exp();
            let beta = 1.0 - (-dt / (TREND_SEASONS * self.season)).exp();
            let expected = self.level + self.trend * dt;
            let level = alpha * without_season + (1.0 - alpha) * expected;
            self.trend = beta * (level - self.level) / dt + (1.0 - beta) * self.trend;
            self.level = level;
            // A slot sees a season's worth of `dt` once every `SLOTS` seasons' worth.
            let gamma = 1.0 - (-dt * SLOTS as f64 / (PROFILE_SEASONS * self.season)).exp();
            self.profile[slot] += gamma * (value - self.level - self.profile[slot]);
        }
        self.last = Some(at);
    }

    /// The value expected `ahead` of the last sample, or `None` until a whole season has
    /// been seen.
    pub fn forecast(&self, ahead: Duration) -> Option<f64> {
        let last = self.last?;
        if self.warmup.is_some() {
            return None;
        }
        let ahead = ahead.as_secs_f64();
        Some(self.level + self.trend * ahead + self.profile[self.slot(last + ahead)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: f64 = 86_400.0;

    /// A disk that fills by 20 points from 8:00 to 20:00, is cleaned from 20:00 to 24:00,
    /// and gains a point a day.
    fn usage(t: f64) -> f64 {
        let hour = (t % DAY) / 3600.0;
        let daily = if hour < 8.0 {
            0.0
        } else if hour < 20.0 {
            (hour - 8.0) / 12.0 * 20.0
        } else {
            20.0 * (24.0 - hour) / 4.0
        };
        50.0 + t / DAY + daily
    }

    #[test]
    fn four_hours_ahead_the_seasonal_forecast_beats_a_straight_line() {
        let mut f = SeasonalForecaster::new(Duration::from_secs(86_400));
        let ahead = 4.0 * 3600.0;
        let (mut seasonal, mut straight) = (0.0f64, 0.0f64);
        let mut t = 0.0;
        while t < 6.0 * DAY {
            f.update(t, usage(t));
            // Every hour from the second day on: the forecast against what comes, and
            // against the last hour's slope carried on (what predict_linear does).
            if t >= 2.0 * DAY && t % 3600.0 == 0.0 {
                let truth = usage(t + ahead);
                let forecast = f.forecast(Duration::from_secs(4 * 3600)).unwrap();
                seasonal = seasonal.max((forecast - truth).abs());
                let slope = (usage(t) - usage(t - 3600.0)) / 3600.0;
                straight = straight.max((usage(t) + slope * ahead - truth).abs());
            }
            t += 15.0;
        }
        assert!(seasonal < 1.5, "seasonal forecast off by up to {seasonal}");
        assert!(
            straight > 10.0,
            "the straight line is off by up to {straight}"
        );
    }

    #[test]
    fn a_restored_forecaster_forecasts_as_the_original() {
        for days in [0.5, 3.0] {
            let mut a = SeasonalForecaster::new(Duration::from_secs(86_400));
            let mut t = 0.0;
            while t < days * DAY {
                a.update(t, usage(t));
                t += 15.0;
            }
            let mut b = SeasonalForecaster::from_bytes(&a.to_bytes()).unwrap();
            for _ in 0..10_000 {
                a.update(t, usage(t));
                b.update(t, usage(t));
                t += 15.0;
            }
            let ahead = Duration::from_secs(4 * 3600);
            assert_eq!(
                a.forecast(ahead).map(f64::to_bits),
                b.forecast(ahead).map(f64::to_bits)
            );
            assert_eq!(a.to_bytes(), b.to_bytes());
        }
        let bytes = SeasonalForecaster::new(Duration::from_secs(60)).to_bytes();
        assert!(SeasonalForecaster::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(SeasonalForecaster::from_bytes(&[9]).is_err());
    }

    #[test]
    fn nothing_is_forecast_before_a_whole_season_nor_learned_from_bad_samples() {
        let mut f = SeasonalForecaster::new(Duration::from_secs(100));
        for t in 0..100 {
            f.update(f64::from(t), 1.0);
            assert_eq!(f.forecast(Duration::from_secs(10)), None);
        }
        f.update(100.0, 1.0);
        assert_eq!(f.forecast(Duration::from_secs(10)), Some(1.0));
        f.update(101.0, f64::NAN);
        f.update(50.0, 99.0);
        assert_eq!(f.forecast(Duration::from_secs(10)), Some(1.0));
    }
}
