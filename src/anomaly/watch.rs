//! Module implementing the `kotoba-anomaly` thread: the watched expressions evaluated over the
//! history at every collection interval, a detector per series they return, and the scores
//! published. See [`AnomalyWatch`] for details.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;
use time::OffsetDateTime;

use super::{AnomalyDetector, SeasonalForecaster};
use crate::storage::bytes::{put_bytes, put_uvarint, ByteReader};
use crate::worker::Worker;
use crate::{
    AnomalyDetectionConfig, Counter, Family, Gauge, HistoryStore, MonitoringError, QueryValue,
    Registry,
};

/// Ticks a series may be missing from its expression's result before its detector is let go.
const FORGET_AFTER: u32 = 10;

/// The state file the detectors are saved in, under the storage folder's `state/`.
const STATE_FILE: &str = "anomaly";
/// The state file's first byte.
const STATE_FORMAT: u8 = 1;
/// How often the running thread saves the detectors (and at stop).
const SAVE_EVERY: Duration = Duration::from_secs(300);

/// How long a series stays listed after its last score at or above the threshold: an
/// anomaly is an episode, and the detector raises one alarm per episode.
const HOLD: time::Duration = time::Duration::minutes(5);

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
type SeriesKey = (usize, Vec<(String, String)>);

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
    worker: Mutex<Option<(Worker, Sender<()>)>>,
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
        let series = match &folder {
            Some(folder) => load(folder, &config)?,
            None => HashMap::new(),
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
            forecasters: Mutex::new(HashMap::new()),
            worker: Mutex::new(None),
            folder,
        })
    }

    /// Saves the detectors in the storage folder, if there is one; a failure is counted in
    /// `kotoba_anomaly_state_save_failures_total` and returned.
    pub(crate) fn save(&self) -> Result<(), MonitoringError> {
        let Some(folder) = &self.folder else {
            return Ok(());
        };
        let mut out = vec![STATE_FORMAT];
        {
            let series = self.series.lock();
            put_uvarint(&mut out, series.len() as u64);
            for ((index, labels), watched) in series.iter() {
                put_bytes(&mut out, self.config.watch[*index].as_bytes());
                put_uvarint(&mut out, labels.len() as u64);
                for (name, value) in labels {
                    put_bytes(&mut out, name.as_bytes());
                    put_bytes(&mut out, value.as_bytes());
                }
                put_bytes(&mut out, &watched.detector.to_bytes());
            }
        }
        crate::storage::write_state(folder, STATE_FILE, &out).inspect_err(|_| {
            self.save_failures.inc();
        })
    }

    /// Starts the `kotoba-anomaly` thread.
    pub(crate) fn start(self: &Arc<Self>) -> Result<(), MonitoringError> {
        let mut worker = self.worker.lock();
        if worker.is_some() {
            return Err(MonitoringError::AlreadyStarted {
                component: "anomaly detection",
            });
        }
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let watch = Arc::clone(self);
        let thread = Worker::spawn("kotoba-anomaly", move || {
            let mut next_save = Instant::now() + SAVE_EVERY;
            loop {
                let wake = Instant::now() + watch.interval;
                // A panic in one evaluation is contained: the next tick runs as usual.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    watch.tick(OffsetDateTime::now_utc());
                }));
                if Instant::now() >= next_save {
                    // Counted when it fails; the next save tries again.
                    let _ = watch.save();
                    next_save = Instant::now() + SAVE_EVERY;
                }
                match stop.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
        *worker = Some((thread, stop_tx));
        Ok(())
    }

    /// Stops the thread, waiting up to `timeout`, and saves the detectors.
    pub(crate) fn stop(&self, timeout: Duration) -> Result<(), MonitoringError> {
        match self.worker.lock().take() {
            Some((worker, stop)) => {
                let _ = stop.send(());
                let joined = worker.join(timeout);
                MonitoringError::all([joined, self.save()])
            }
            None => Ok(()),
        }
    }

    /// Evaluates every watched expression at `at`, scores each series' value and publishes
    /// the scores.
    pub(crate) fn tick(&self, at: OffsetDateTime) {
        let mut series = self.series.lock();
        for watched in series.values_mut() {
            watched.missing += 1;
        }
        for (index, expr) in self.config.watch.iter().enumerate() {
            let samples = match self.history.query(expr, at) {
                Ok(QueryValue::Vector(samples)) => samples
                    .into_iter()
                    .map(|s| (s.labels, s.value))
                    .collect::<Vec<_>>(),
                Ok(QueryValue::Scalar(value)) => vec![(Vec::new(), value)],
                Ok(_) | Err(_) => {
                    if let Ok(failed) = self.failures.with_labels(&[("expr", expr)]) {
                        failed.inc();
                    }
                    continue;
                }
            };
            for (mut labels, value) in samples {
                labels.retain(|(name, _)| name != "__name__" && name != "expr");
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
                let mut pairs: Vec<(&str, &str)> = key
                    .1
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                pairs.push(("expr", expr));
                if let Ok(gauge) = self.scores.with_labels(&pairs) {
                    gauge.set(score);
                }
            }
        }
        // Series gone from their expression's result: their score goes from /metrics at
        // once, their detector after `FORGET_AFTER` ticks.
        series.retain(|(index, labels), watched| {
            if watched.missing == 1 {
                let mut pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                pairs.push(("expr", &self.config.watch[*index]));
                let _ = self.scores.remove(&pairs);
            }
            watched.missing < FORGET_AFTER
        });
        drop(series);
        self.forecast(at);
        self.ticks.inc();
    }

    /// Feeds each forecast's series their value at `at` and publishes their forecasts.
    fn forecast(&self, at: OffsetDateTime) {
        let mut forecasters = self.forecasters.lock();
        let seconds = (at - OffsetDateTime::UNIX_EPOCH).as_seconds_f64();
        for (index, forecast) in self.config.forecast.iter().enumerate() {
            let samples = match self.history.query(&forecast.expr, at) {
                Ok(QueryValue::Vector(samples)) => samples
                    .into_iter()
                    .map(|s| (s.labels, s.value))
                    .collect::<Vec<_>>(),
                Ok(QueryValue::Scalar(value)) => vec![(Vec::new(), value)],
                Ok(_) | Err(_) => {
                    if let Ok(failed) = self.failures.with_labels(&[("expr", &forecast.expr)]) {
                        failed.inc();
                    }
                    continue;
                }
            };
            let horizon =
                crate::query::duration_string(crate::clock::duration_ms(forecast.horizon));
            for (mut labels, value) in samples {
                labels.retain(|(n, _)| !matches!(n.as_str(), "__name__" | "expr" | "horizon"));
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
                let mut pairs: Vec<(&str, &str)> = key
                    .1
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                pairs.push(("expr", &forecast.expr));
                pairs.push(("horizon", &horizon));
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

/// The detectors a previous run saved in `folder`, of the expressions `config` still watches.
fn load(
    folder: &std::path::Path,
    config: &AnomalyDetectionConfig,
) -> Result<HashMap<SeriesKey, Watched>, MonitoringError> {
    let Some(bytes) = crate::storage::read_state(folder, STATE_FILE)? else {
        return Ok(HashMap::new());
    };
    let damaged = || {
        crate::storage::error(
            &folder.join("state").join(STATE_FILE),
            "is not anomaly detectors this monitor saved; remove it to start the detectors afresh",
            None,
        )
    };
    let mut r = ByteReader::new(&bytes);
    if r.u8() != Some(STATE_FORMAT) {
        return Err(damaged());
    }
    let count = r.count(usize::MAX).ok_or_else(damaged)?;
    let mut series = HashMap::new();
    for _ in 0..count {
        let expr = r.str().ok_or_else(damaged)?;
        let pairs = r.count(1_000).ok_or_else(damaged)?;
        let mut labels = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            let name = r.str().ok_or_else(damaged)?;
            let value = r.str().ok_or_else(damaged)?;
            labels.push((name.to_owned(), value.to_owned()));
        }
        let detector =
            AnomalyDetector::from_bytes(r.bytes().ok_or_else(damaged)?).map_err(|_| damaged())?;
        let Some(index) = config.watch.iter().position(|w| w == expr) else {
            continue;
        };
        if series.len() < config.max_series {
            series.insert(
                (index, labels),
                Watched {
                    detector,
                    episode: None,
                    missing: 0,
                },
            );
        }
    }
    if !r.is_empty() {
        return Err(damaged());
    }
    Ok(series)
}
