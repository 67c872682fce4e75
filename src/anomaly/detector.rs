//! Module implementing the streaming anomaly detector. See [`AnomalyDetector`] for details.

/// Points in a pattern.
pub(super) const POINTS: usize = 8;
/// Past patterns kept per scale.
const MEMORY: usize = 128;
/// Recent nearest-pattern distances kept per scale, whose distribution turns a distance into
/// surprise.
const DISTANCES: usize = 128;
/// Distances past the recent largest, in multiples of it, that make full surprise.
const SURPRISE_SPAN: f32 = 2.0;
/// A score this high is an alarm, after which scores are damped for `QUIET` samples: one
/// alarm per episode, whose later samples stay below `ALARM` unless a value leaves the range
/// seen so far (scored 1 even then).
const ALARM: f64 = 0.4;
const QUIET: u32 = 400;
const QUIET_FACTOR: f64 = 0.3;
/// Samples per block of distances kept (the largest of each).
const BLOCK: usize = 8;
/// Surprises averaged before their likelihood is judged (HTM's `averagingWindow`).
const AVERAGED: usize = 10;
/// Samples learned from before any score above 0.
const LEARNING: u64 = 300;
/// How far past the range seen so far, as a fraction of that range, a value is anomalous
/// by itself (HTM's spatial tolerance).
const SPATIAL_TOLERANCE: f64 = 0.05;
/// The scales patterns are taken at: samples per point, and samples between patterns
/// remembered. A pattern spans `POINTS` times the first (at 5-minute samples, 40 minutes,
/// 5 hours and 21 hours); the memory, `MEMORY` times the second (21 hours, 3.5 days and two
/// weeks).
const SCALES: [(usize, usize); 3] = [(1, 2), (8, 8), (32, 32)];
/// The most samples a pattern spans.
const SPAN: usize = POINTS * 32;

/// A streaming anomaly detector for one series: each [`score`](Self::score) takes the next
/// sample and returns how anomalous it is, in [0, 1], from that sample and the ones before it
/// only. It learns as it goes: no threshold per series, no training phase.
///
/// How: each sample closes a pattern at three scales, the last eight values and the means of
/// the last eight runs of eight and of thirty-two; each pattern's distance to the nearest of a few hundred past
/// patterns of its scale (scaled by the range the series has spanned) becomes a surprise
/// between 0 and 1 by where it falls among recent distances, and the largest is the
/// sample's surprise. As in Numenta's anomaly likelihood, the mean of the last ten
/// surprises is then compared with the long-run distribution of such means: the score is how
/// unlikely it is, on a log scale (0.5 at one in 10^5, 1 at one in 10^10). A value beyond the
/// range seen so far by more than 5% of it scores 1 at once. After a score of 0.4 or more the
/// next 400 samples are damped below 0.4 (one alarm per episode), except a new extreme.
#[derive(Debug, Clone)]
pub struct AnomalyDetector {
    pub(super) seen: u64,
    pub(super) min: f64,
    pub(super) max: f64,
    /// The last `SPAN` values, oldest first once full.
    pub(super) recent: [f32; SPAN],
    pub(super) scales: [Scale; SCALES.len()],
    pub(super) surprises: [f32; AVERAGED],
    /// Running mean and variance of the averaged surprise.
    pub(super) mean: f64,
    pub(super) variance: f64,
    /// Samples left in which scores are damped after an alarm.
    pub(super) quiet: u32,
}

/// What one scale remembers.
#[derive(Debug, Clone)]
pub(super) struct Scale {
    /// Samples per point.
    pub(super) step: usize,
    /// Samples between patterns remembered.
    pub(super) stride: usize,
    /// Past patterns, written round-robin.
    pub(super) memory: Vec<[f32; POINTS]>,
    pub(super) next_memory: usize,
    /// Patterns too recent to compare with (they overlap the current one), oldest first.
    pub(super) pending: std::collections::VecDeque<[f32; POINTS]>,
    /// The largest nearest-pattern distance of each recent block of `BLOCK` samples.
    pub(super) distances: Vec<f32>,
    pub(super) next_distance: usize,
    pub(super) block_max: f32,
    pub(super) block_len: usize,
}

impl Scale {
    fn new((step, stride): (usize, usize)) -> Self {
        Self {
            step,
            stride,
            memory: Vec::with_capacity(MEMORY),
            next_memory: 0,
            // The patterns that overlap the newest one, and the one about to leave.
            pending: std::collections::VecDeque::with_capacity(POINTS * step / stride + 1),
            distances: Vec::with_capacity(DISTANCES),
            next_distance: 0,
            block_max: 0.0,
            block_len: 0,
        }
    }

    /// The pattern ending at the newest of `recent`: `POINTS` means of `step` values each.
    fn pattern(&self, recent: &[f32; SPAN]) -> [f32; POINTS] {
        let mut pattern = [0.0; POINTS];
        let first = SPAN - POINTS * self.step;
        for (i, point) in pattern.iter_mut().enumerate() {
            let run = &recent[first + i * self.step..first + (i + 1) * self.step];
            *point = run.iter().sum::<f32>() / self.step as f32;
        }
        pattern
    }

    /// How unusual `pattern` is: where its distance to the nearest remembered pattern falls
    /// among recent such distances, from 0 (nearer than all) to 1 (farther than all).
    fn surprise(&mut self, pattern: &[f32; POINTS], range: f32) -> f64 {
        let nearest = self
            .memory
            .iter()
            .map(|old| {
                pattern
                    .iter()
                    .zip(old)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
            })
            .fold(f32::INFINITY, f32::min);
        let distance = if nearest.is_finite() {
            (nearest / POINTS as f32).sqrt() / range
        } else {
            0.0
        };
        // Surprise grows with the distance past the largest that recent patterns came
        // within of their nearest (the second largest of the blocks' largest, so that one
        // anomaly does not blind the detector), or a thousandth of the range.
        let surprise = if self.distances.len() < 8 {
            0.0
        } else {
            let (mut first, mut second) = (0.0f32, 0.0f32);
            for &d in &self.distances {
                if d > first {
                    second = first;
                    first = d;
                } else if d > second {
                    second = d;
                }
            }
            f64::from((distance / second.max(1e-3) / SURPRISE_SPAN).min(1.0))
        };
        self.block_max = self.block_max.max(distance);
        self.block_len += 1;
        if self.block_len == BLOCK {
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

    /// Keeps `pattern` (the one ending at sample `seen`) to compare later ones with, once it
    /// no longer overlaps them; a pattern every `step` samples.
    fn remember(&mut self, pattern: [f32; POINTS], seen: u64) {
        if !seen.is_multiple_of(self.stride as u64) {
            return;
        }
        self.pending.push_back(pattern);
        if self.pending.len() * self.stride <= POINTS * self.step {
            return;
        }
        let Some(old) = self.pending.pop_front() else {
            return;
        };
        if self.memory.len() < MEMORY {
            self.memory.push(old);
        } else {
            self.memory[self.next_memory] = old;
            self.next_memory = (self.next_memory + 1) % MEMORY;
        }
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
            recent: [0.0; SPAN],
            scales: SCALES.map(Scale::new),
            surprises: [0.0; AVERAGED],
            mean: 0.0,
            variance: 0.0,
            quiet: 0,
        }
    }

    /// How many samples the detector has learned from.
    pub fn samples(&self) -> u64 {
        self.seen
    }

    /// The bytes the detector holds, itself and what it allocated (at most about 16 KiB,
    /// reached once its memory of patterns is full).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .scales
                .iter()
                .map(|s| {
                    s.memory.capacity() * std::mem::size_of::<[f32; POINTS]>()
                        + s.pending.capacity() * std::mem::size_of::<[f32; POINTS]>()
                        + s.distances.capacity() * std::mem::size_of::<f32>()
                })
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
            self.recent = [value as f32; SPAN];
        }
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.recent.rotate_left(1);
        self.recent[SPAN - 1] = value as f32;
        self.seen += 1;
        let range = (self.max - self.min).max(f64::MIN_POSITIVE) as f32;
        let mut surprise: f64 = 0.0;
        for scale in &mut self.scales {
            let pattern = scale.pattern(&self.recent);
            surprise = surprise.max(scale.surprise(&pattern, range));
            scale.remember(pattern, self.seen);
        }
        let averaged = self.average(surprise);
        let likelihood = self.likelihood(averaged);
        if self.seen < LEARNING {
            return 0.0;
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
        let n = self.seen as f64;
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
