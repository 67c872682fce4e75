//! Module implementing the streaming anomaly detector. See [`AnomalyDetector`] for details.

/// Points in a pattern.
pub(super) const POINTS: usize = 8;
/// Recent nearest-pattern distances kept per scale, whose distribution turns a distance into
/// surprise.
pub(super) const DISTANCES: usize = 128;
/// Distances past the recent largest, in multiples of it, that make full surprise.
const SURPRISE_SPAN: f32 = 2.0;
/// A score this high is an alarm, after which scores are damped for `QUIET` samples: one
/// alarm per episode, whose later samples stay below `ALARM` unless a value leaves the range
/// seen so far (scored 1 even then).
const ALARM: f64 = 0.4;
const QUIET: u32 = 400;
const QUIET_FACTOR: f64 = 0.3;
/// Judgements per block of distances kept (the largest of each).
const BLOCK: usize = 8;
/// Blocks of distances a scale needs before its surprise counts.
const READY: usize = 8;
/// Surprises averaged before their likelihood is judged (HTM's `averagingWindow`).
const AVERAGED: usize = 10;
/// Samples learned from before any score above 0.
const LEARNING: u64 = 300;
/// When a slower scale starts to count after the learning, the likelihood weighs the
/// samples since as if it had learned from `JOIN_WEIGHT` only, so that the level of surprise
/// the new scale brings is learned quickly rather than alarmed at, and scores stay 0 for
/// `JOIN_QUIET` samples meanwhile (a new extreme still scores 1).
const JOIN_WEIGHT: u64 = 50;
const JOIN_QUIET: u32 = 30;
/// How far past the range seen so far, as a fraction of that range, a value is anomalous
/// by itself (HTM's spatial tolerance).
const SPATIAL_TOLERANCE: f64 = 0.05;
/// The scales patterns are taken at: samples per point, samples between judgements, and
/// points remembered. A pattern spans `POINTS` times the first (at 5-minute samples, 40
/// minutes, 4 hours and 16 hours); the memory, the first times the last (4 days, a week and
/// four weeks).
const SCALES: [(usize, usize, usize); 3] = [(1, 3, 1200), (6, 6, 336), (24, 24, 336)];
/// The most samples a point spans.
const RECENT: usize = 24;

/// A streaming anomaly detector for one series: each [`score`](Self::score) takes the next
/// sample and returns how anomalous it is, in [0, 1], from that sample and the ones before it
/// only. It learns as it goes: no threshold per series, no training phase.
///
/// How: patterns are taken at three scales, the last eight values and the means of the last
/// eight runs of six and of twenty-four, every third, sixth and twenty-fourth sample. Each
/// pattern's distance to the nearest earlier pattern of its scale in the same phase (the
/// memory holds four days of values, a week of the first means and four weeks of the
/// second: a daily or weekly cycle is compared with itself) becomes a surprise between 0
/// and 1 by where it falls among recent distances; a scale's surprise holds until its next
/// pattern, and the largest of the three is the sample's surprise. As in Numenta's anomaly
/// likelihood, the mean of the last ten surprises is then compared with the long-run
/// distribution of such means: the score is how unlikely it is, on a log scale (0.5 at one
/// in 10^5, 1 at one in 10^10). When a slow scale starts to count (days into a stream), that
/// distribution is relearned quickly rather than alarmed at. A value beyond the range seen
/// so far by more than 5% of it scores 1 at once. After a score of 0.4 or more the next 400
/// samples are damped below 0.4 (one alarm per episode), except a new extreme.
#[derive(Debug, Clone)]
pub struct AnomalyDetector {
    pub(super) seen: u64,
    pub(super) min: f64,
    pub(super) max: f64,
    /// The last `RECENT` values, oldest first once full.
    pub(super) recent: [f32; RECENT],
    pub(super) scales: [Scale; SCALES.len()],
    pub(super) surprises: [f32; AVERAGED],
    /// Running mean and variance of the averaged surprise.
    pub(super) mean: f64,
    pub(super) variance: f64,
    /// Samples left in which scores are damped after an alarm.
    pub(super) quiet: u32,
    /// Samples the likelihood's mean and variance have learned from (`JOIN_WEIGHT` at most
    /// when a scale starts to count).
    pub(super) learned: u64,
    /// Samples left in which scores stay 0 after a scale started to count.
    pub(super) joining: u32,
}

/// What one scale remembers: the means of runs of `step` samples, oldest first, eight
/// consecutive ones making a pattern.
#[derive(Debug, Clone)]
pub(super) struct Scale {
    /// Samples per point (and between points remembered).
    pub(super) step: usize,
    /// Samples between judgements, a multiple of `step`; patterns are compared with those
    /// that ended a multiple of it before, in the same phase.
    pub(super) every: usize,
    /// The means, oldest first, `kept` at most.
    pub(super) means: Vec<f32>,
    pub(super) kept: usize,
    /// The largest nearest-pattern distance of each recent block of `BLOCK` judgements.
    pub(super) distances: Vec<f32>,
    pub(super) next_distance: usize,
    pub(super) block_max: f32,
    pub(super) block_len: usize,
    /// The surprise of the latest judgement, which holds until the next.
    pub(super) last: f32,
    /// Whether the scale has judged with `READY` blocks of distances behind it, from when
    /// its surprise counts.
    pub(super) counts: bool,
}

impl Scale {
    fn new((step, every, kept): (usize, usize, usize)) -> Self {
        Self {
            step,
            every,
            means: Vec::with_capacity(kept),
            kept,
            distances: Vec::with_capacity(DISTANCES),
            next_distance: 0,
            block_max: 0.0,
            block_len: 0,
            last: 0.0,
            counts: false,
        }
    }

    /// Takes the sample `seen` (the newest of `recent`): every `step` samples, remembers the
    /// mean of the last `step`; every `every`, judges the pattern ending there.
    fn observe(&mut self, recent: &[f32; RECENT], seen: u64, range: f32) -> f32 {
        if !seen.is_multiple_of(self.step as u64) {
            return self.last;
        }
        let mean = recent[RECENT - self.step..].iter().sum::<f32>() / self.step as f32;
        if self.means.len() == self.kept {
            self.means.copy_within(1.., 0);
            self.means.pop();
        }
        self.means.push(mean);
        if seen.is_multiple_of(self.every as u64) {
            self.last = self.judge(range);
        }
        self.last
    }

    /// How unusual the newest pattern is: where its distance to the nearest earlier pattern
    /// that does not overlap it falls among recent such distances, from 0 (nearer than all)
    /// to 1 (farther than all).
    fn judge(&mut self, range: f32) -> f32 {
        // Earlier patterns end a multiple of `phase` points before the newest, past its
        // points; the first such must be remembered whole.
        let phase = self.every / self.step;
        let first_end = POINTS.next_multiple_of(phase);
        let len = self.means.len();
        if len < first_end + POINTS {
            return 0.0;
        }
        let pattern = &self.means[len - POINTS..];
        let mut nearest = f32::INFINITY;
        for end in (first_end..=len - POINTS).step_by(phase) {
            let earlier = &self.means[len - end - POINTS..len - end];
            let sum: f32 = pattern
                .iter()
                .zip(earlier)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            nearest = nearest.min(sum);
        }
        let distance = (nearest / POINTS as f32).sqrt() / range;
        // Surprise grows with the distance past the largest that recent patterns came
        // within of their nearest (the second largest of the blocks' largest, so that one
        // anomaly does not blind the detector), or a thousandth of the range.
        let surprise = if self.distances.len() < READY {
            0.0
        } else {
            self.counts = true;
            let (mut first, mut second) = (0.0f32, 0.0f32);
            for &d in &self.distances {
                if d > first {
                    second = first;
                    first = d;
                } else if d > second {
                    second = d;
                }
            }
            (distance / second.max(1e-3) / SURPRISE_SPAN).min(1.0)
        };
        self.block_max = self.block_max.max(distance);
        self.block_len += 1;
        if self.block_len >= BLOCK {
            if self.distances.len() < DISTANCES {
                self.distances.push(self.block_max);
            } else {
                self.distances[self.next_distance] = self.block_max;
                self.next_distance = (self.next_distance + 1) % DISTANCES;
            }
            self.block_max = 0.0;
            self.block_len = 0;
        }
        surprise
    }
}

impl Default for AnomalyDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl AnomalyDetector {
    /// A detector that has seen nothing yet.
    pub fn new() -> Self {
        Self {
            seen: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            recent: [0.0; RECENT],
            scales: SCALES.map(Scale::new),
            surprises: [0.0; AVERAGED],
            mean: 0.0,
            variance: 0.0,
            quiet: 0,
            learned: 0,
            joining: 0,
        }
    }

    /// How many samples the detector has learned from.
    pub fn samples(&self) -> u64 {
        self.seen
    }

    /// The bytes the detector holds, itself and what it allocated (at most about 9.3 KiB,
    /// reached once its memory of patterns is full).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .scales
                .iter()
                .map(|s| (s.means.capacity() + s.distances.capacity()) * std::mem::size_of::<f32>())
                .sum::<usize>()
    }

    /// Takes the next sample and returns its anomaly score in [0, 1]. A value that is not a
    /// number scores 0 and is not learned from.
    pub fn score(&mut self, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let range = self.max - self.min;
        let spatial = self.seen >= LEARNING
            && range > 0.0
            && (value > self.max + SPATIAL_TOLERANCE * range
                || value < self.min - SPATIAL_TOLERANCE * range);
        if self.seen == 0 {
            // The first value fills the history, so that early patterns are level.
            self.recent = [value as f32; RECENT];
        }
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.recent.rotate_left(1);
        self.recent[RECENT - 1] = value as f32;
        self.seen += 1;
        let range = ((self.max - self.min) as f32).max(f32::MIN_POSITIVE);
        let mut surprise: f64 = 0.0;
        for scale in &mut self.scales {
            let counted = scale.counts;
            surprise = surprise.max(f64::from(scale.observe(&self.recent, self.seen, range)));
            if !counted && scale.counts && self.seen > LEARNING {
                self.learned = self.learned.min(JOIN_WEIGHT);
                self.joining = JOIN_QUIET;
            }
        }
        self.learned += 1;
        let averaged = self.average(surprise);
        let likelihood = self.likelihood(averaged);
        if self.seen < LEARNING {
            return 0.0;
        }
        if self.joining > 0 {
            self.joining -= 1;
            if !spatial {
                return 0.0;
            }
        }
        // On a log scale, as Numenta's detector reports it: 0.5 at 1 - 10^-5.
        let mut score = if spatial {
            1.0
        } else {
            ((1.000_000_000_1 - likelihood).ln() / (1.0 - 0.999_999_999_9f64).ln()).clamp(0.0, 1.0)
        };
        // After an alarm, scores are damped below the alarm for a while, so that one episode
        // alarms once (its following samples are as surprising as its first); a new extreme
        // still alarms.
        if self.quiet > 0 {
            self.quiet -= 1;
            if !spatial {
                score *= QUIET_FACTOR;
            }
        } else if score >= ALARM {
            self.quiet = QUIET;
        }
        score
    }

    fn average(&mut self, surprise: f64) -> f64 {
        self.surprises.rotate_left(1);
        self.surprises[AVERAGED - 1] = surprise as f32;
        let n = (self.seen as usize).min(AVERAGED);
        self.surprises[AVERAGED - n..]
            .iter()
            .map(|s| f64::from(*s))
            .sum::<f64>()
            / n as f64
    }

    /// How unlikely `averaged` is under the running distribution of averaged surprises (a
    /// normal one, as Numenta's likelihood takes it), then learns from it.
    fn likelihood(&mut self, averaged: f64) -> f64 {
        let n = self.learned as f64;
        // A running mean and variance that weigh the last thousand or so samples.
        let alpha = (1.0 / n).max(1.0 / 1000.0);
        let std = self.variance.sqrt().max(0.03);
        let z = (averaged - self.mean) / std;
        let delta = averaged - self.mean;
        self.mean += alpha * delta;
        self.variance = (1.0 - alpha) * (self.variance + alpha * delta * delta);
        if z <= 0.0 {
            0.0
        } else {
            1.0 - 0.5 * erfc(z / std::f64::consts::SQRT_2)
        }
    }
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative error below
/// 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}
