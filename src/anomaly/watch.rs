//! Module implementing the `kotoba-anomaly` thread: the watched expressions evaluated over the
//! history at every collection interval, a detector per series they return, and the scores
//! published. See [`AnomalyWatch`] for details.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use time::OffsetDateTime;

use super::{AnomalyDetector, SeasonalForecaster};
use crate::metrics::Labels;
use crate::storage::bytes::{put_bytes, put_uvarint, ByteReader};
use crate::worker::{guarded, stopped_before, Stoppable, Worker};
use crate::{
    AnomalyDetectionConfig, Counter, Family, Gauge, HistoryStore, MonitoringError, QueryValue,
    Registry,
};

/// Ticks a series may be missing from its expression's result before its detector is let go.
const FORGET_AFTER: u32 = 10;

/// The state file the detectors are saved in, under the storage folder's `state/`.
const STATE_FILE: &str = "anomaly";
/// The state file the forecasters are saved in.
const FORECAST_FILE: &str = "forecast";
/// The state files' first byte.
const STATE_FORMAT: u8 = 1;
/// How often the running thread saves the detectors (and at stop).
const SAVE_EVERY: Duration = Duration::from_secs(300);

/// How long a series stays listed after its last score at or above the threshold: an
/// anomaly is an episode, over which the detector damps its scores after an alarm.
const HOLD: time::Duration = time::Duration::seconds(HOLD_SECONDS as i64);
/// [`HOLD`] in seconds.
pub(crate) const HOLD_SECONDS: u64 = 300;

/// An anomaly episode of a watched series: it scored at or above the threshold within the
/// last five minutes. See [`Monitor::anomalies`](crate::Monitor::anomalies).
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// The watched expression that returned the series.
    pub expr: String,
    /// The series' labels (without `__name__`), sorted by name.
    pub labels: Vec<(String, String)>,
    /// The highest score of the episode, in [0, 1].
    pub score: f64,
    /// The value that scored it.
    pub value: f64,
    /// When the episode began: its first score at or above the threshold.
    pub since: OffsetDateTime,
    /// Its latest score at or above the threshold.
    pub last: OffsetDateTime,
}

/// A watched series: the index of its expression in `watch`, and its labels.
type SeriesKey = (usize, Labels);

/// One watched series.
struct Watched {
    detector: AnomalyDetector,
    /// The current episode, if any.
    episode: Option<Episode>,
    /// Ticks since the series was last in its expression's result.
    missing: u32,
}

/// Scores at or above the threshold no more than `HOLD` apart.
struct Episode {
    since: OffsetDateTime,
    last: OffsetDateTime,
    score: f64,
    value: f64,
}

/// The detectors and the thread that feeds them.
pub(crate) struct AnomalyWatch {
    config: AnomalyDetectionConfig,
    interval: Duration,
    history: HistoryStore,
    scores: Family<Gauge>,
    dropped: Counter,
    ticks: Counter,
    failures: Family<Counter>,
    series: Mutex<HashMap<SeriesKey, Watched>>,
    /// The forecasters, by forecast (its index in `forecast`) and labels.
    forecasters: Mutex<HashMap<SeriesKey, SeasonalForecaster>>,
    forecasts: Family<Gauge>,
    worker: Stoppable,
    /// The storage folder, when the detectors are kept across restarts.
    folder: Option<PathBuf>,
    save_failures: Counter,
}

impl std::fmt::Debug for AnomalyWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnomalyWatch")
            .field("watch", &self.config.watch)
            .field("series", &self.series.lock().len())
            .finish_non_exhaustive()
    }
}

impl AnomalyWatch {
    /// The watch of `config` over `history`, publishing into `registry`, every `interval`.
    ///
    /// With a storage `folder`, the detectors saved there by the last run are taken back
    /// (those of expressions still watched), so that they need not learn again.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when the saved detectors cannot be read or understood.
    pub(crate) fn new(
        config: AnomalyDetectionConfig,
        interval: Duration,
        history: HistoryStore,
        registry: &Registry,
        folder: Option<PathBuf>,
    ) -> Result<Self, MonitoringError> {
        let (series, forecasters) = match &folder {
            Some(folder) => (
                load(
                    folder,
                    STATE_FILE,
                    config.max_series,
                    |expr| config.watch.iter().position(|w| w == expr),
                    |state| {
                        Some(Watched {
                            detector: AnomalyDetector::from_bytes(state).ok()?,
                            episode: None,
                            missing: 0,
                        })
                    },
                )?,
                load(
                    folder,
                    FORECAST_FILE,
                    config.max_series,
                    |expr| config.forecast.iter().position(|f| f.expr == expr),
                    |state| SeasonalForecaster::from_bytes(state).ok(),
                )?,
            ),
            None => (HashMap::new(), HashMap::new()),
        };
        Ok(Self {
            save_failures: registry.counter(
                "kotoba_anomaly_state_save_failures_total",
                "Times the detectors could not be saved to the storage folder.",
                &[],
            )?,
            scores: registry.gauge_family(
                "kotoba_anomaly_score",
                "How anomalous the newest sample of a watched series is, 0 to 1 (0.4 and above: an alarm).",
            )?,
            dropped: registry.counter(
                "kotoba_anomaly_series_dropped_total",
                "Series returned by a watched expression that got no detector: anomaly_detection.max_series were watched already.",
                &[],
            )?,
            ticks: registry.counter(
                "kotoba_anomaly_evaluations_total",
                "Rounds of evaluating the watched expressions and scoring their series.",
                &[],
            )?,
            failures: registry.counter_family(
                "kotoba_anomaly_evaluation_failures_total",
                "Evaluations of a watched expression that failed.",
            )?,
            forecasts: registry.gauge_family(
                "kotoba_forecast",
                "A watched series' value expected `horizon` ahead, its season (the daily cycle) taken into account.",
            )?,
            config,
            interval,
            history,
            series: Mutex::new(series),
            forecasters: Mutex::new(forecasters),
            worker: Stoppable::default(),
            folder,
        })
    }

    /// Saves the detectors in the storage folder, if there is one; a failure is counted in
    /// `kotoba_anomaly_state_save_failures_total` and returned.
    pub(crate) fn save(&self) -> Result<(), MonitoringError> {
        let Some(folder) = &self.folder else {
            return Ok(());
        };
        let detectors = encode(self.series.lock().iter().map(|((index, labels), watched)| {
            (
                self.config.watch[*index].as_str(),
                labels,
                watched.detector.to_bytes(),
            )
        }));
        let forecasters = encode(self.forecasters.lock().iter().map(|((index, labels), f)| {
            (
                self.config.forecast[*index].expr.as_str(),
                labels,
                f.to_bytes(),
            )
        }));
        let written = crate::storage::write_state(folder, STATE_FILE, &detectors)
            .and_then(|()| crate::storage::write_state(folder, FORECAST_FILE, &forecasters));
        written.inspect_err(|_| {
            self.save_failures.inc();
        })
    }

    /// Starts the `kotoba-anomaly` thread.
    pub(crate) fn start(self: &Arc<Self>) -> Result<(), MonitoringError> {
        self.worker.start("anomaly detection", |stop, workers| {
            let stop = stop.clone();
            let watch = Arc::clone(self);
            let thread = Worker::spawn("kotoba-anomaly", move || {
                let mut next_save = Instant::now() + SAVE_EVERY;
                loop {
                    let wake = Instant::now() + watch.interval;
                    // A panic in one evaluation is contained: the next tick runs as usual.
                    let _ = guarded("an anomaly evaluation", || {
                        watch.tick(OffsetDateTime::now_utc())
                    });
                    if Instant::now() >= next_save {
                        // Counted when it fails; the next save tries again.
                        let _ = watch.save();
                        next_save = Instant::now() + SAVE_EVERY;
                    }
                    if stopped_before(&stop, wake) {
                        return;
                    }
                }
            })?;
            workers.push(thread);
            Ok(())
        })
    }

    /// Stops the thread, waiting up to `timeout`, and saves the detectors.
    pub(crate) fn stop(&self, timeout: Duration) -> Result<(), MonitoringError> {
        if !self.worker.is_running() {
            // Never started (or stopped already): nothing learned to save over what is kept.
            return Ok(());
        }
        let joined = self.worker.stop(timeout);
        MonitoringError::all([joined, self.save()])
    }

    /// Evaluates every watched expression at `at`, scores each series' value and publishes
    /// the scores.
    pub(crate) fn tick(&self, at: OffsetDateTime) {
        let mut series = self.series.lock();
        for watched in series.values_mut() {
            watched.missing += 1;
        }
        for (index, expr) in self.config.watch.iter().enumerate() {
            let Some(samples) = self.evaluate(expr, at, &["expr"]) else {
                continue;
            };
            for (labels, value) in samples {
                let key = (index, labels);
                let full = series.len() >= self.config.max_series;
                let watched = match series.get_mut(&key) {
                    Some(watched) => watched,
                    None if full => {
                        self.dropped.inc();
                        continue;
                    }
                    None => series.entry(key.clone()).or_insert(Watched {
                        detector: AnomalyDetector::new(),
                        episode: None,
                        missing: 0,
                    }),
                };
                let score = watched.detector.score(value);
                watched.missing = 0;
                if watched.episode.as_ref().is_some_and(|e| at - e.last > HOLD) {
                    watched.episode = None;
                }
                if score >= self.config.threshold {
                    let episode = watched.episode.get_or_insert(Episode {
                        since: at,
                        last: at,
                        score,
                        value,
                    });
                    episode.last = at;
                    if score >= episode.score {
                        episode.score = score;
                        episode.value = value;
                    }
                }
                if let Ok(gauge) = self
                    .scores
                    .with_labels(&published(&key.1, &[("expr", expr)]))
                {
                    gauge.set(score);
                }
            }
        }
        // Series gone from their expression's result: their score goes from /metrics at
        // once, their detector after `FORGET_AFTER` ticks.
        series.retain(|(index, labels), watched| {
            if watched.missing == 1 {
                let expr = self.config.watch[*index].as_str();
                let _ = self.scores.remove(&published(labels, &[("expr", expr)]));
            }
            watched.missing < FORGET_AFTER
        });
        drop(series);
        self.forecast(at);
        self.ticks.inc();
    }

    /// `expr`'s series and values at `at`, without `__name__` and the labels the published
    /// series set themselves (`reserved`); a scalar is one series without labels. A failure,
    /// or a result that is neither, is counted in `kotoba_anomaly_evaluation_failures_total`.
    fn evaluate(
        &self,
        expr: &str,
        at: OffsetDateTime,
        reserved: &[&str],
    ) -> Option<Vec<(Labels, f64)>> {
        let samples = match self.history.query(expr, at) {
            Ok(QueryValue::Vector(samples)) => {
                samples.into_iter().map(|s| (s.labels, s.value)).collect()
            }
            Ok(QueryValue::Scalar(value)) => vec![(Vec::new(), value)],
            Ok(_) | Err(_) => {
                if let Ok(failed) = self.failures.with_labels(&[("expr", expr)]) {
                    failed.inc();
                }
                return None;
            }
        };
        Some(
            samples
                .into_iter()
                .map(|(mut labels, value)| {
                    labels.retain(|(n, _)| n != "__name__" && !reserved.contains(&n.as_str()));
                    (labels, value)
                })
                .collect(),
        )
    }

    /// Feeds each forecast's series their value at `at` and publishes their forecasts.
    fn forecast(&self, at: OffsetDateTime) {
        let mut forecasters = self.forecasters.lock();
        let seconds = (at - OffsetDateTime::UNIX_EPOCH).as_seconds_f64();
        for (index, forecast) in self.config.forecast.iter().enumerate() {
            let Some(samples) = self.evaluate(&forecast.expr, at, &["expr", "horizon"]) else {
                continue;
            };
            let horizon =
                crate::query::duration_string(crate::clock::duration_ms(forecast.horizon));
            for (labels, value) in samples {
                let key = (index, labels);
                if !forecasters.contains_key(&key) && forecasters.len() >= self.config.max_series {
                    self.dropped.inc();
                    continue;
                }
                let forecaster = forecasters
                    .entry(key.clone())
                    .or_insert_with(|| SeasonalForecaster::new(forecast.season));
                forecaster.update(seconds, value);
                let Some(ahead) = forecaster.forecast(forecast.horizon) else {
                    continue;
                };
                let pairs = published(&key.1, &[("expr", &forecast.expr), ("horizon", &horizon)]);
                if let Ok(gauge) = self.forecasts.with_labels(&pairs) {
                    gauge.set(ahead);
                }
            }
        }
    }

    /// The series in an anomaly episode at `now`, the highest score first.
    pub(crate) fn anomalies(&self, now: OffsetDateTime) -> Vec<Anomaly> {
        let series = self.series.lock();
        let mut out: Vec<Anomaly> = series
            .iter()
            .filter_map(|((index, labels), w)| {
                let episode = w.episode.as_ref().filter(|e| now - e.last <= HOLD)?;
                Some(Anomaly {
                    expr: self.config.watch[*index].clone(),
                    labels: labels.clone(),
                    score: episode.score,
                    value: episode.value,
                    since: episode.since,
                    last: episode.last,
                })
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }
}

/// A published series' labels: the watched series' own, then `extra`.
fn published<'a>(labels: &'a Labels, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    labels
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain(extra.iter().copied())
        .collect()
}

/// Saved series: the expression that returned each, its labels and its state.
fn encode<'a>(entries: impl Iterator<Item = (&'a str, &'a Labels, Vec<u8>)>) -> Vec<u8> {
    let entries: Vec<_> = entries.collect();
    let mut out = vec![STATE_FORMAT];
    put_uvarint(&mut out, entries.len() as u64);
    for (expr, labels, state) in entries {
        put_bytes(&mut out, expr.as_bytes());
        put_uvarint(&mut out, labels.len() as u64);
        for (name, value) in labels {
            put_bytes(&mut out, name.as_bytes());
            put_bytes(&mut out, value.as_bytes());
        }
        put_bytes(&mut out, &state);
    }
    out
}

/// What [`encode`] wrote, or `None` when it is not that.
fn decode(bytes: &[u8]) -> Option<Vec<(String, Labels, Vec<u8>)>> {
    let mut r = ByteReader::new(bytes);
    if r.u8()? != STATE_FORMAT {
        return None;
    }
    let count = r.count(usize::MAX)?;
    let mut out = Vec::new();
    for _ in 0..count {
        let expr = r.str()?.to_owned();
        let pairs = r.count(1_000)?;
        let mut labels = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            labels.push((r.str()?.to_owned(), r.str()?.to_owned()));
        }
        out.push((expr, labels, r.bytes()?.to_vec()));
    }
    r.is_empty().then_some(out)
}

/// The series state file `name` in `folder` holds, each made into a `T` by `restore` and kept
/// under the index `index_of` gives its expression (series of expressions no longer
/// configured are let go), at most `max` of them.
fn load<T>(
    folder: &std::path::Path,
    name: &str,
    max: usize,
    index_of: impl Fn(&str) -> Option<usize>,
    restore: impl Fn(&[u8]) -> Option<T>,
) -> Result<HashMap<SeriesKey, T>, MonitoringError> {
    let Some(bytes) = crate::storage::read_state(folder, name)? else {
        return Ok(HashMap::new());
    };
    let damaged = || {
        crate::storage::error(
            &folder.join("state").join(name),
            "is not anomaly detectors or forecasters this monitor saved; remove it to start them afresh",
            None,
        )
    };
    let mut out = HashMap::new();
    for (expr, labels, state) in decode(&bytes).ok_or_else(damaged)? {
        let value = restore(&state).ok_or_else(damaged)?;
        if let Some(index) = index_of(&expr) {
            if out.len() < max {
                out.insert((index, labels), value);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ForecastConfig, LabelSet};

    /// A watch of `probe` (detector and a one-minute-season forecast) over `history`, saving
    /// in `folder`.
    fn watch(history: &HistoryStore, folder: &std::path::Path) -> AnomalyWatch {
        let config = AnomalyDetectionConfig {
            enabled: true,
            watch: vec!["probe".to_owned()],
            forecast: vec![ForecastConfig {
                expr: "probe".to_owned(),
                horizon: Duration::from_secs(30),
                season: Duration::from_secs(60),
            }],
            ..AnomalyDetectionConfig::default()
        };
        AnomalyWatch::new(
            config,
            Duration::from_secs(1),
            history.clone(),
            &Registry::new(),
            Some(folder.to_owned()),
        )
        .unwrap()
    }

    #[test]
    fn detectors_and_forecasters_come_back_as_they_were_saved() {
        let folder = tempfile::tempdir().unwrap();
        let history = HistoryStore::new(Duration::from_secs(3600), 100_000);
        let labels = LabelSet::new("probe", &[("db", "main")]).unwrap();
        let t0 = OffsetDateTime::now_utc() - time::Duration::minutes(30);
        let first = watch(&history, folder.path());
        // Twenty minutes at one sample a second: both learn.
        for s in 0..1200 {
            let at = t0 + time::Duration::seconds(s);
            history.append("probe", &labels, at, (s % 60) as f64);
            first.tick(at);
        }
        first.save().unwrap();
        let second = watch(&history, folder.path());
        let key = (0, vec![("db".to_owned(), "main".to_owned())]);
        assert_eq!(
            first.series.lock()[&key].detector.to_bytes(),
            second.series.lock()[&key].detector.to_bytes()
        );
        assert_eq!(
            first.forecasters.lock()[&key].to_bytes(),
            second.forecasters.lock()[&key].to_bytes()
        );
        // The restored forecaster answers at once: no season to wait for.
        let at = t0 + time::Duration::seconds(1200);
        history.append("probe", &labels, at, 0.0);
        second.tick(at);
        let expected = second.forecasters.lock()[&key]
            .forecast(Duration::from_secs(30))
            .unwrap();
        assert!(expected > 1.0, "{expected}");
        let pairs = [("db", "main"), ("expr", "probe"), ("horizon", "30s")];
        assert_eq!(
            second.forecasts.with_labels(&pairs).unwrap().get(),
            expected
        );
    }
}
