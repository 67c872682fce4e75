//! One remote-write endpoint's thread: it reads the history from its own position, as
//! Prometheus's `storage/remote/watcher.go` reads the WAL, and posts what it read in order,
//! retrying as `queue_manager.go` does. See [`Endpoint::run`].
//!
//! A round reads every series' samples after the position up to the history's horizon (the
//! time before which no writer may still append), five minutes at a time, holding at most
//! about `capacity` samples before it sends them in requests of at most
//! `max_samples_per_send`, and moves the position on once all were taken or refused. So a receiver that is down gets, when it is back, everything
//! since, in order; the position is kept under `storage.path`, so a restart of the monitor
//! neither loses nor repeats what was sent (only a round cut short by a crash is sent again).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use prost::Message;
use time::OffsetDateTime;

use super::proto::{Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
use super::relabel::Relabeler;
use crate::config::RemoteWriteConfig;
use crate::metrics::{Counter, Histogram, MetricType};
use crate::query::Labels;
use crate::{Gauge, HistogramOpts, HistoryStore, LabelSet, MonitoringError, Registry};

/// The most metadata entries in one request (Prometheus's `metadata_config`
/// `max_samples_per_send`).
const METADATA_PER_SEND: usize = 500;

/// The longest stretch of time one pass over the series covers: a position is kept at the
/// end of each, so a crash sends at most this much again, and a catch-up passes over the
/// series a dozen times an hour.
const MAX_SPAN_NS: i64 = 300_000_000_000;

/// Where a remote-write endpoint stands, as
/// [`Monitor::remote_write_status`](crate::Monitor::remote_write_status) tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteStatus {
    /// The endpoint's name (`name`, or the hash of its URL).
    pub name: String,
    /// Its URL, without credentials.
    pub url: String,
    /// Every sample of the history up to this time has been sent (or refused by the
    /// receiver, and counted); `None` before the first round.
    pub sent_until: Option<OffsetDateTime>,
    /// Its last failure: a receiver down, slow or refusing. Credentials never appear in it.
    pub last_error: Option<String>,
}

/// An exemplar as remote write sends it.
fn exemplar_of(e: &crate::Exemplar) -> super::proto::Exemplar {
    super::proto::Exemplar {
        labels: e
            .labels()
            .map(|(name, value)| Label {
                name: name.to_owned(),
                value: value.to_owned(),
            })
            .collect(),
        value: e.value(),
        timestamp: e.timestamp_ms(),
    }
}

/// The last nanosecond of the millisecond before the one `t` (Unix nanoseconds) falls in.
fn before_millisecond(t: i64) -> i64 {
    t.div_euclid(1_000_000)
        .saturating_mul(1_000_000)
        .saturating_sub(1)
}

/// Why a round ended before its end.
#[derive(Debug, PartialEq)]
pub(crate) struct Stopped;

/// An endpoint's self-metrics, by its URL (without credentials).
#[derive(Debug)]
struct EndpointMetrics {
    sent: Counter,
    failed: Counter,
    retried: Counter,
    dropped: Counter,
    pending: Gauge,
    highest_sent: Gauge,
    duration: Histogram,
    gap: Counter,
    metadata_sent: Counter,
    metadata_failed: Counter,
}

impl EndpointMetrics {
    fn new(registry: &Registry, url: &str) -> Result<Self, MonitoringError> {
        let samples = registry.counter_family(
            "kotoba_monitoring_remote_samples_total",
            "Samples read for each remote-write endpoint, by result: sent, failed (refused by the receiver, not retried), retried (in requests sent again), dropped (by write_relabel_configs).",
        )?;
        let metadata = registry.counter_family(
            "kotoba_monitoring_remote_metadata_total",
            "Metadata entries sent to each remote-write endpoint, by result.",
        )?;
        let result = |family: &crate::Family<Counter>, result: &str| {
            family.with_labels(&[("url", url), ("result", result)])
        };
        let url_only = [("url", url)];
        Ok(Self {
            sent: result(&samples, "sent")?,
            failed: result(&samples, "failed")?,
            retried: result(&samples, "retried")?,
            dropped: result(&samples, "dropped")?,
            pending: registry.gauge(
                "kotoba_monitoring_remote_samples_pending",
                "Samples read from the history for each remote-write endpoint and not yet sent.",
                &url_only,
            )?,
            highest_sent: registry.gauge(
                "kotoba_monitoring_remote_highest_sent_timestamp_seconds",
                "The newest sample time each remote-write endpoint took, in Unix seconds: time() minus it is the endpoint's lag.",
                &url_only,
            )?,
            duration: registry
                .histogram_family_with(
                    "kotoba_monitoring_remote_send_duration_seconds",
                    "How long each remote-write request took, to its answer.",
                    HistogramOpts::latency(),
                )?
                .with_labels(&url_only)?,
            gap: registry.counter(
                "kotoba_monitoring_remote_gap_seconds_total",
                "Seconds of history each remote-write endpoint never got because retention dropped them before it was sent.",
                &url_only,
            )?,
            metadata_sent: result(&metadata, "sent")?,
            metadata_failed: result(&metadata, "failed")?,
        })
    }
}

/// A receiver's refusal or a failed request.
#[derive(Debug)]
struct Failure {
    message: String,
    retry: bool,
    retry_after: Option<Duration>,
}

/// One endpoint: its settings, what it reads, where it keeps its position.
#[derive(Debug)]
pub(crate) struct Endpoint {
    config: RemoteWriteConfig,
    pub(crate) name: String,
    /// The URL without credentials, for errors and labels.
    shown: String,
    relabel: Relabeler,
    /// The global labels, added to each series that lacks them (Prometheus's external
    /// labels), sorted.
    external: Labels,
    history: HistoryStore,
    /// Where the metrics' metadata comes from.
    registries: Vec<Registry>,
    /// The storage folder, where the position is kept.
    state_folder: Option<PathBuf>,
    /// How far back the history keeps samples.
    retention: Duration,
    metrics: EndpointMetrics,
    agent: ureq::Agent,
    /// The last failure, for whoever reports errors.
    last_error: parking_lot::Mutex<Option<String>>,
    /// Everything up to this time (Unix nanoseconds) was taken or refused; `i64::MIN`
    /// before the first round.
    sent_until: std::sync::atomic::AtomicI64,
}

/// The position file's contents.
#[derive(serde::Serialize, serde::Deserialize)]
struct Position {
    url: String,
    /// Every sample up to this time (Unix nanoseconds) was taken or refused.
    sent_until: i64,
}

impl Endpoint {
    #[allow(clippy::too_many_arguments)] // each is the endpoint's own
    pub(crate) fn new(
        config: RemoteWriteConfig,
        external: Labels,
        history: HistoryStore,
        registries: Vec<Registry>,
        state_folder: Option<PathBuf>,
        retention: Duration,
        registry: &Registry,
    ) -> Result<Self, MonitoringError> {
        let shown = crate::config::without_userinfo(&config.url);
        Ok(Self {
            name: config.resolved_name(),
            relabel: Relabeler::new(&config.write_relabel_configs),
            metrics: EndpointMetrics::new(registry, &shown)?,
            agent: crate::net::agent(config.remote_timeout),
            shown,
            config,
            external,
            history,
            registries,
            state_folder,
            retention,
            last_error: parking_lot::Mutex::new(None),
            sent_until: std::sync::atomic::AtomicI64::new(i64::MIN),
        })
    }

    /// Where it stands: its name, URL (without credentials), how far it has sent, its last
    /// failure.
    pub(crate) fn status(&self) -> RemoteWriteStatus {
        let until = self.sent_until.load(std::sync::atomic::Ordering::Relaxed);
        RemoteWriteStatus {
            name: self.name.clone(),
            url: self.shown.clone(),
            sent_until: (until != i64::MIN)
                .then(|| OffsetDateTime::from_unix_timestamp_nanos(i128::from(until)).ok())
                .flatten(),
            last_error: self.last_error.lock().clone(),
        }
    }

    fn position_file(&self) -> String {
        format!("remote-{}.json", self.name)
    }

    /// Where the last run left off, if it was this URL's.
    fn saved_position(&self) -> Option<i64> {
        let folder = self.state_folder.as_ref()?;
        let bytes = crate::storage::read_state(folder, &self.position_file()).ok()??;
        let position: Position = serde_json::from_slice(&bytes).ok()?;
        (position.url == self.shown).then_some(position.sent_until)
    }

    fn save_position(&self, sent_until: i64) {
        self.sent_until
            .store(sent_until, std::sync::atomic::Ordering::Relaxed);
        let Some(folder) = &self.state_folder else {
            return;
        };
        let position = Position {
            url: self.shown.clone(),
            sent_until,
        };
        let bytes = serde_json::to_vec(&position).unwrap_or_default();
        if let Err(e) = crate::storage::write_state(folder, &self.position_file(), &bytes) {
            self.fail(e.to_string());
        }
    }

    fn fail(&self, message: String) {
        log::warn!("kotoba-monitoring remote write {}: {message}", self.name);
        *self.last_error.lock() = Some(message);
    }

    /// The thread's loop: a round every `batch_send_deadline`, metadata every
    /// `send_interval`, until `stop` says so.
    pub(crate) fn run(&self, stop: &Receiver<()>) {
        let mut position = self.saved_position();
        let mut next_metadata = Instant::now();
        loop {
            let metadata = &self.config.metadata_config;
            if metadata.send && Instant::now() >= next_metadata {
                if self.send_metadata(stop).is_err() {
                    return;
                }
                next_metadata = Instant::now() + metadata.send_interval;
            }
            if self.round(&mut position, stop).is_err() {
                return;
            }
            match stop.recv_timeout(self.config.queue_config.batch_send_deadline) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Sends everything after `position` up to the history's horizon, a stretch of at most
    /// [`MAX_SPAN_NS`] at a time, moving `position` on after each.
    fn round(&self, position: &mut Option<i64>, stop: &Receiver<()>) -> Result<(), Stopped> {
        let now = OffsetDateTime::now_utc();
        // Positions fall on whole milliseconds, the receivers' resolution: the samples of
        // one millisecond go in one round, where the later of two in a series is kept.
        let horizon = before_millisecond(self.history.horizon(now));
        let Some(mut from) = position.or_else(|| self.history.oldest().map(before_millisecond))
        else {
            return Ok(());
        };
        // What retention dropped before it was sent is gone: counted, not hidden.
        let kept_from = before_millisecond(
            crate::history::nanos(now)
                .saturating_sub(i64::try_from(self.retention.as_nanos()).unwrap_or(i64::MAX)),
        );
        if position.is_some() && from < kept_from {
            self.metrics
                .gap
                .inc_by_f64((kept_from - from) as f64 / 1e9)
                .ok();
            from = kept_from;
        }
        while from < horizon {
            let until = horizon.min(from.saturating_add(MAX_SPAN_NS));
            self.send_between(from, until, stop)?;
            from = until;
            *position = Some(from);
            self.save_position(from);
        }
        if position.is_none() {
            *position = Some(from);
        }
        Ok(())
    }

    /// Sends every series' samples in `(from, until]`, holding at most about `capacity`
    /// samples read and not yet sent.
    fn send_between(&self, from: i64, until: i64, stop: &Receiver<()>) -> Result<(), Stopped> {
        let capacity = self.config.queue_config.capacity;
        let mut pending: Vec<TimeSeries> = Vec::new();
        let mut held = 0;
        let mut stopped = false;
        let exemplars = if self.config.send_exemplars {
            self.history.exemplars_between(from, until)
        } else {
            Default::default()
        };
        self.history
            .each_series_between(from, until, |name, labels, samples| {
                let Some(mut series) = self.to_send(name, labels, samples) else {
                    return true;
                };
                if !exemplars.is_empty() {
                    if let Some(list) = exemplars.get(name).and_then(|by| by.get(labels)) {
                        series.exemplars = list.iter().map(exemplar_of).collect();
                    }
                }
                held += series.samples.len();
                pending.push(series);
                self.metrics.pending.set(held as f64);
                if held >= capacity {
                    if self
                        .send_series(std::mem::take(&mut pending), stop)
                        .is_err()
                    {
                        stopped = true;
                        return false;
                    }
                    held = 0;
                }
                true
            });
        if stopped {
            return Err(Stopped);
        }
        self.send_series(pending, stop)?;
        self.metrics.pending.set(0.0);
        Ok(())
    }

    /// A series' samples as sent: labels relabeled (`None` when a rule drops it, counted),
    /// the external labels added, times in milliseconds (of two samples in one millisecond,
    /// the later).
    fn to_send(&self, name: &str, labels: &LabelSet, samples: &[(i64, f64)]) -> Option<TimeSeries> {
        let mut pairs: Labels = labels
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        pairs.push(("__name__".to_owned(), name.to_owned()));
        for (n, v) in &self.external {
            if !pairs.iter().any(|(have, _)| have == n) {
                pairs.push((n.clone(), v.clone()));
            }
        }
        pairs.sort();
        let Some(pairs) = self.relabel.apply(pairs) else {
            self.metrics.dropped.inc_by(samples.len() as u64);
            return None;
        };
        let mut kept: Vec<Sample> = Vec::with_capacity(samples.len());
        for &(t, value) in samples {
            let timestamp = t.div_euclid(1_000_000);
            match kept.last_mut() {
                Some(last) if last.timestamp == timestamp => last.value = value,
                _ => kept.push(Sample { value, timestamp }),
            }
        }
        Some(TimeSeries {
            labels: pairs
                .into_iter()
                .map(|(name, value)| Label { name, value })
                .collect(),
            samples: kept,
            exemplars: Vec::new(),
        })
    }

    /// Sends `series` in requests of at most `max_samples_per_send` samples, a series split
    /// across requests in order when it has more.
    fn send_series(&self, series: Vec<TimeSeries>, stop: &Receiver<()>) -> Result<(), Stopped> {
        let most = self.config.queue_config.max_samples_per_send;
        let mut batch: Vec<TimeSeries> = Vec::new();
        let mut in_batch = 0;
        for mut one in series {
            while !one.samples.is_empty() {
                let room = most - in_batch;
                let rest = if one.samples.len() > room {
                    one.samples.split_off(room)
                } else {
                    Vec::new()
                };
                in_batch += one.samples.len();
                let labels = one.labels.clone();
                batch.push(one);
                // A series' exemplars go with its first part.
                one = TimeSeries {
                    labels,
                    samples: rest,
                    exemplars: Vec::new(),
                };
                if in_batch == most {
                    self.send_batch(std::mem::take(&mut batch), in_batch, stop)?;
                    in_batch = 0;
                }
            }
        }
        if in_batch > 0 {
            self.send_batch(batch, in_batch, stop)?;
        }
        Ok(())
    }

    fn send_batch(
        &self,
        timeseries: Vec<TimeSeries>,
        samples: usize,
        stop: &Receiver<()>,
    ) -> Result<(), Stopped> {
        let newest = timeseries
            .iter()
            .filter_map(|s| s.samples.last())
            .map(|s| s.timestamp)
            .max();
        let request = WriteRequest {
            timeseries,
            metadata: Vec::new(),
        };
        let sent = self.send(&request, stop)?;
        let samples = samples as u64;
        match sent {
            Ok(()) => {
                self.metrics.sent.inc_by(samples);
                if let Some(newest) = newest {
                    let seconds = newest as f64 / 1000.0;
                    if seconds > self.metrics.highest_sent.get() {
                        self.metrics.highest_sent.set(seconds);
                    }
                }
            }
            Err(()) => self.metrics.failed.inc_by(samples),
        }
        Ok(())
    }

    /// Sends the metadata of every metric family the registries hold.
    fn send_metadata(&self, stop: &Receiver<()>) -> Result<(), Stopped> {
        let mut all = Vec::new();
        for registry in &self.registries {
            for family in registry.families() {
                let kind = family.kind.metric_type();
                let name = match kind {
                    MetricType::Counter => family
                        .name
                        .strip_suffix("_total")
                        .unwrap_or(&family.name)
                        .to_owned(),
                    _ => family.name.to_string(),
                };
                all.push(MetricMetadata {
                    kind: match kind {
                        MetricType::Counter => 1,
                        MetricType::Gauge => 2,
                        MetricType::Histogram => 3,
                    },
                    metric_family_name: name,
                    help: family.help.clone(),
                    unit: String::new(),
                });
            }
        }
        all.sort_by(|a, b| a.metric_family_name.cmp(&b.metric_family_name));
        all.dedup_by(|a, b| a.metric_family_name == b.metric_family_name);
        for chunk in all.chunks(METADATA_PER_SEND) {
            let request = WriteRequest {
                timeseries: Vec::new(),
                metadata: chunk.to_vec(),
            };
            let counter = match self.send(&request, stop)? {
                Ok(()) => &self.metrics.metadata_sent,
                Err(()) => &self.metrics.metadata_failed,
            };
            counter.inc_by(chunk.len() as u64);
        }
        Ok(())
    }

    /// Posts `request` until it is taken (`Ok(Ok)`) or refused for good (`Ok(Err)`),
    /// waiting between tries from `min_backoff` doubling to `max_backoff` (or as a 429's
    /// `Retry-After` says); `Err` when `stop` came first.
    fn send(&self, request: &WriteRequest, stop: &Receiver<()>) -> Result<Result<(), ()>, Stopped> {
        let samples: u64 = request
            .timeseries
            .iter()
            .map(|s| s.samples.len() as u64)
            .sum();
        let body = match snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()) {
            Ok(body) => body,
            Err(e) => {
                self.fail(format!("snappy refused the request: {e}"));
                return Ok(Err(()));
            }
        };
        let queue = &self.config.queue_config;
        let mut backoff = queue.min_backoff;
        loop {
            // Stopping waits for a request under way, not for the rest of a round.
            if !matches!(stop.try_recv(), Err(crossbeam_channel::TryRecvError::Empty)) {
                return Err(Stopped);
            }
            let began = Instant::now();
            let failure = match self.post(&body) {
                Ok(()) => {
                    self.metrics.duration.observe(began.elapsed().as_secs_f64());
                    return Ok(Ok(()));
                }
                Err(failure) => failure,
            };
            self.metrics.duration.observe(began.elapsed().as_secs_f64());
            self.fail(failure.message);
            if !failure.retry {
                return Ok(Err(()));
            }
            self.metrics.retried.inc_by(samples);
            let wait = failure.retry_after.unwrap_or(backoff);
            match stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return Err(Stopped),
            }
            backoff = (backoff * 2).min(queue.max_backoff);
        }
    }

    /// One POST of a snappy-compressed `WriteRequest`, as Prometheus sends it.
    fn post(&self, body: &[u8]) -> Result<(), Failure> {
        let mut request = self
            .agent
            .post(&self.config.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        if let Some(auth) = &self.config.basic_auth {
            use base64::Engine;
            let pair = format!("{}:{}", auth.username, auth.password.expose());
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            request = request.header("Authorization", format!("Basic {encoded}"));
        }
        if let Some(auth) = &self.config.authorization {
            request = request.header(
                "Authorization",
                format!("{} {}", auth.kind, auth.credentials.expose()),
            );
        }
        for (name, value) in &self.config.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.send(body).map_err(|e| Failure {
            message: format!("{}: {}", self.shown, crate::net::transport_error(&e)),
            retry: true,
            retry_after: None,
        })?;
        let reply = crate::net::Reply::read(&mut response);
        if reply.is_success() {
            return Ok(());
        }
        let (status, detail) = (reply.status, reply.detail());
        Err(Failure {
            message: format!(
                "{}: server returned HTTP status {status}: {detail}",
                self.shown
            ),
            retry: status >= 500 || (status == 429 && self.config.queue_config.retry_on_http_429),
            retry_after: (status == 429).then_some(reply.retry_after).flatten(),
        })
    }
}
