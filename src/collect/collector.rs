//! Module implementing the metrics collector. See [`MetricsCollector`] for details.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{select, Receiver, Sender};
use parking_lot::Mutex;
use time::OffsetDateTime;

use super::ingest::{Ingest, Sample};
use super::instrument::QueryInstruments;
use super::sources::Sources;
use super::{ticker, PerformanceMetrics};
use crate::history::{Exposed, HistoryStore, LabelMatcher, MetricPoint, ReplayReport};
use crate::worker::CallWatch;
use crate::worker::{guarded, Worker};
use crate::{
    HistogramOpts, LabelSet, MonitoredDatabase, MonitoringConfig, MonitoringError, QueryValue,
    Registry, RegistryOptions,
};

/// Collects metrics and keeps their history: the registry that handles record into, the
/// `record_metric` queue, and the threads that fill the history store.
///
/// [`start`](Self::start) spawns two named threads: `kotoba-ingest` applies `record_metric`
/// samples, and `kotoba-collect`, each `collection_interval`, polls the monitored database
/// (and with the features the system and the cluster), then copies every series into history
/// (plus the process-wide [`Registry::global`]); it also advances histogram windows.
///
/// The database is called on a third thread, `kotoba-db` (made at the first call), and
/// waited for at most `database_timeout`: a hung call is counted in
/// `kotoba_monitoring_collection_errors_total{source="database"}`, kept as
/// [`last_error`](Self::last_error), shown by the database health check, and the rest of the
/// collection goes on. While it has not returned the database is not called again, so a
/// database that keeps hanging holds that one thread.
/// [`stop`](Self::stop) applies what is still queued, joins both within `shutdown_timeout`, and
/// may be called any number of times; dropping the collector stops it.
///
/// Before `start` (and after `stop`), `record_metric` applies its sample at once on the calling
/// thread, so a collector used without threads still records.
///
/// # About threads
///
/// `MetricsCollector` is `Send + Sync`; share it with `Arc`. Every method takes `&self`.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use std::time::Duration;
/// use time::OffsetDateTime;
/// use kotoba_monitoring::{MetricsCollector, MonitoringConfig};
///
/// let collector = MetricsCollector::standalone(MonitoringConfig::default())?;
/// collector.start()?;
/// let labels = HashMap::from([("region".to_string(), "us-east".to_string())]);
/// collector.record_metric("orders_pending", 150.0, labels)?;
/// collector.flush(Duration::from_secs(5))?; // wait until the ingest thread has it
///
/// let now = OffsetDateTime::now_utc();
/// let points = collector.get_metrics("orders_pending", now - Duration::from_secs(60), now)?;
/// assert_eq!(points.len(), 1);
/// assert_eq!(points[0].value, 150.0);
/// collector.stop()?;
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug)]
pub struct MetricsCollector {
    shared: Arc<Shared>,
    /// The running threads; `None` while stopped.
    running: Mutex<Option<Running>>,
}

/// What the collector's threads share with it.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: MonitoringConfig,
    pub(crate) registry: Registry,
    pub(crate) history: HistoryStore,
    pub(crate) ingest: Ingest,
    /// How often histogram windows advance.
    pub(crate) slice_len: Duration,
    /// What the exposition adds to every series, for the history's self-scrape.
    pub(crate) exposed: Exposed,
    /// Whether `kotoba-ingest` is taking samples; when not, `record_metric` applies them inline.
    ingesting: AtomicBool,
    /// Query timing by operation.
    pub(crate) instruments: QueryInstruments,
    /// The database, system and cluster polled each tick.
    pub(crate) sources: Sources,
    /// `kotoba_monitoring_history_tick_seconds`: how long the last tick's copy into the
    /// history (and its pruning) took.
    pub(crate) tick_seconds: crate::Gauge,
    last_error: Mutex<Option<(OffsetDateTime, String)>>,
    /// What opening `storage.path` found, when it is set.
    replay: Option<ReplayReport>,
}

#[derive(Debug)]
struct Running {
    /// Dropped to tell `kotoba-ingest` to apply what is queued and end.
    stop_ingest: Sender<()>,
    /// Dropped to tell `kotoba-collect` to take a last sample and end.
    stop_collect: Sender<()>,
    ingest: Worker,
    collect: Worker,
}

impl Shared {
    pub(crate) fn report(&self, error: String) {
        *self.last_error.lock() = Some((OffsetDateTime::now_utc(), error));
    }
}

impl MetricsCollector {
    /// A stopped collector of `db`, with its own registry and history store, configured by
    /// `config`. Use [`standalone`](Self::standalone) without a database.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] when `config` does not [`validate`].
    ///
    /// [`validate`]: MonitoringConfig::validate
    pub fn new(
        db: Arc<dyn MonitoredDatabase>,
        config: MonitoringConfig,
    ) -> Result<Self, MonitoringError> {
        Self::build(Some(db), config)
    }

    /// A stopped collector with no database: the registry, history, `record_metric`, query
    /// instrumentation, and (with the features) system and cluster metrics.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn standalone(config: MonitoringConfig) -> Result<Self, MonitoringError> {
        Self::build(None, config)
    }

    fn build(
        db: Option<Arc<dyn MonitoredDatabase>>,
        config: MonitoringConfig,
    ) -> Result<Self, MonitoringError> {
        config.validate()?;
        let registry = Registry::with_options(
            RegistryOptions::default()
                .max_series_per_metric(config.max_series_per_metric)
                .max_families(config.max_metric_families)
                .max_series(config.max_total_series)
                .histogram_window(config.latency_window),
        );
        let (history, replay) = match &config.storage.path {
            Some(folder) => {
                let (history, report) = HistoryStore::open(
                    config.retention_period,
                    config.max_metrics_points,
                    folder,
                    &registry,
                )?;
                (history, Some(report))
            }
            None => (
                HistoryStore::new(config.retention_period, config.max_metrics_points),
                None,
            ),
        };
        let history = history.with_query_lookback(config.query_lookback);
        let exposed = Exposed {
            global_labels: config
                .prometheus_config
                .global_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            window_quantiles: config.prometheus_config.window_quantiles,
        };
        let ingest = Ingest::new(
            config.ingest_queue_capacity,
            config.ingest_overflow,
            registry.clone(),
            history.clone(),
        );
        let slice_len = HistogramOpts::latency()
            .window(config.latency_window)
            .slice_len();
        let instruments = QueryInstruments::new(&registry, &config.exemplars)?;
        let tick_seconds = registry.gauge(
            "kotoba_monitoring_history_tick_seconds",
            "How long the last collection tick took to copy every series into the history and prune it.",
            &[],
        )?;
        let sources = Sources::new(
            &registry,
            db,
            config.database_timeout,
            &config.health_config.data_path,
        )?;
        Ok(Self {
            shared: Arc::new(Shared {
                instruments,
                tick_seconds,
                sources,
                config,
                registry,
                history,
                ingest,
                slice_len,
                exposed,
                ingesting: AtomicBool::new(false),
                last_error: Mutex::new(replay.as_ref().and_then(|r| {
                    let damage = r.damage.join("; ");
                    (!damage.is_empty()).then(|| {
                        (
                            OffsetDateTime::now_utc(),
                            format!("storage repaired at start: {damage}"),
                        )
                    })
                })),
                replay,
            }),
            running: Mutex::new(None),
        })
    }

    /// The registry this collector's series live in: get counter, gauge and histogram handles
    /// from it.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// Query timing by operation: take an operation's handles once, time each query with them.
    pub fn queries(&self) -> &QueryInstruments {
        &self.shared.instruments
    }

    /// The slow queries the instrumentation remembered (`[exemplars] slow_query_log`, 100
    /// by default), the newest first, each with its operation, duration, start, trace and
    /// statement: what `/api/v1/slow_queries` lists.
    pub fn slow_queries(&self) -> Vec<crate::SlowQuery> {
        self.shared.instruments.slow_queries()
    }

    /// The monitored database, if the collector has one.
    pub fn database(&self) -> Option<&Arc<dyn MonitoredDatabase>> {
        self.shared
            .sources
            .database
            .as_ref()
            .map(|calls| calls.database())
    }

    /// What the database thread is doing, for the database health check.
    pub(crate) fn database_watch(&self) -> Option<Arc<CallWatch>> {
        let calls = self.shared.sources.database.as_ref()?;
        Some(calls.watch().clone())
    }

    /// Attaches the source of the cluster metrics, read every `collection_interval`.
    #[cfg(feature = "cluster")]
    pub fn set_cluster_source(&self, source: Arc<dyn super::ClusterSource>) {
        *self.shared.sources.cluster.write() = Some(source);
    }

    /// The database's figures now (asked on `kotoba-db`, waiting at most
    /// `database_timeout`), its query figures completed
    /// from the instrumentation where it has none (see [`QueryInstruments`]), and the system as
    /// last sampled (feature `system`). Without a database, the database and storage parts
    /// are zero and the query part is the instrumentation's.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Source`] when the database fails or panics in one of its methods
    /// (other than answering [`MonitoringError::Unsupported`]); [`MonitoringError::Timeout`]
    /// when it does not answer within `database_timeout`, or an earlier call still hangs.
    pub fn get_performance_metrics(&self) -> Result<PerformanceMetrics, MonitoringError> {
        let shared = &self.shared;
        let reading = shared.sources.read_database(&shared.instruments);
        if reading.as_ref().is_some_and(|r| r.timed_out) {
            return Err(MonitoringError::Timeout {
                operation: "reading the database's metrics",
                waited: shared.config.database_timeout,
            });
        }
        if let Some(e) = reading.as_ref().and_then(|r| r.errors.first()) {
            return Err(MonitoringError::Source {
                source_name: "database",
                message: e.clone(),
            });
        }
        let (database, query, storage) = match reading {
            Some(r) => (r.database, r.query, r.storage),
            None => (None, Some(shared.instruments.query_metrics()), None),
        };
        Ok(PerformanceMetrics {
            timestamp: OffsetDateTime::now_utc(),
            database_metrics: database.unwrap_or_default(),
            query_metrics: query.unwrap_or_else(|| shared.instruments.query_metrics()),
            storage_metrics: storage.unwrap_or_default(),
            system_metrics: shared.sources.last_system.read().clone(),
        })
    }

    /// Evaluates the PromQL expression `expr` at `at` over the history; see
    /// [`HistoryStore::query`].
    ///
    /// # Errors
    ///
    /// As [`HistoryStore::query`].
    pub fn query(&self, expr: &str, at: OffsetDateTime) -> Result<QueryValue, MonitoringError> {
        self.shared.history.query(expr, at)
    }

    /// Evaluates `expr` over `[start, end]` every `step` over the history; see
    /// [`HistoryStore::query_range`].
    ///
    /// # Errors
    ///
    /// As [`HistoryStore::query_range`].
    pub fn query_range(
        &self,
        expr: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        step: Duration,
    ) -> Result<QueryValue, MonitoringError> {
        self.shared.history.query_range(expr, start, end, step)
    }

    /// The history store.
    pub fn history(&self) -> &HistoryStore {
        &self.shared.history
    }

    /// Writes everything the history took since the last tick to the log now, and syncs it
    /// to disk: a crash after this call loses none of it. Ticks do this by themselves (see
    /// [`StorageConfig`](crate::StorageConfig)); call it where a moment must not be lost.
    /// Does nothing without storage.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when the log cannot be written (the samples stay in
    /// memory, and the next checkpoint makes them durable).
    pub fn sync_storage(&self) -> Result<(), MonitoringError> {
        match self.shared.history.persist(true) {
            None => Ok(()),
            Some(reason) => Err(MonitoringError::Storage {
                path: self.shared.config.storage.path.clone().unwrap_or_default(),
                reason,
                source: None,
            }),
        }
    }

    /// What the start found in `storage.path`: the samples read back, and any damage cut
    /// off. `None` without storage.
    pub fn replay_report(&self) -> Option<&ReplayReport> {
        self.shared.replay.as_ref()
    }

    /// The configuration the collector was built with.
    pub fn config(&self) -> &MonitoringConfig {
        &self.shared.config
    }

    /// Spawns the `kotoba-ingest` and `kotoba-collect` threads. The first collection runs at
    /// once.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::AlreadyStarted`] when running (no second set of threads is made);
    /// [`MonitoringError::ThreadSpawn`] when the system refuses a thread, in which case nothing
    /// is left running.
    pub fn start(&self) -> Result<(), MonitoringError> {
        let mut running = self.running.lock();
        if running.is_some() {
            return Err(MonitoringError::AlreadyStarted {
                component: "metrics collector",
            });
        }
        let started = OffsetDateTime::now_utc();
        let (stop_ingest, stop) = crossbeam_channel::bounded::<()>(0);
        let shared = self.shared.clone();
        self.shared.ingesting.store(true, Ordering::SeqCst);
        let ingest = Worker::spawn("kotoba-ingest", move || ingest_loop(&shared, &stop));
        let ingest = match ingest {
            Ok(worker) => worker,
            Err(e) => {
                self.shared.ingesting.store(false, Ordering::SeqCst);
                return Err(e);
            }
        };
        let shared = self.shared.clone();
        let (stop_collect, stop) = crossbeam_channel::bounded::<()>(0);
        let collect =
            match Worker::spawn("kotoba-collect", move || ticker::run(shared, stop, started)) {
                Ok(worker) => worker,
                Err(e) => {
                    drop(stop_ingest);
                    let _ = ingest.join(self.shared.config.shutdown_timeout);
                    self.shared.ingesting.store(false, Ordering::SeqCst);
                    return Err(e);
                }
            };
        *running = Some(Running {
            stop_ingest,
            stop_collect,
            ingest,
            collect,
        });
        Ok(())
    }

    /// Stops the threads: applies every queued sample, takes a last sample of every series into
    /// history, and joins both threads, waiting up to `shutdown_timeout` for each. Calling it
    /// when stopped does nothing.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ShutdownTimeout`] when a thread did not end in time; it is left
    /// detached and the collector counts as stopped.
    pub fn stop(&self) -> Result<(), MonitoringError> {
        let threads = self.stop_threads();
        // The database thread may run without the others, for `get_performance_metrics`.
        let database = match &self.shared.sources.database {
            Some(calls) => calls.stop(self.shared.config.shutdown_timeout),
            None => Ok(()),
        };
        MonitoringError::all([threads, database])
    }

    fn stop_threads(&self) -> Result<(), MonitoringError> {
        let Some(running) = self.running.lock().take() else {
            return Ok(());
        };
        let Running {
            stop_ingest,
            stop_collect,
            ingest,
            collect,
        } = running;
        let timeout = self.shared.config.shutdown_timeout;
        drop(stop_ingest);
        let ingest_result = ingest.join(timeout);
        // From here record_metric applies inline; pick up anything sent in between.
        self.shared.ingesting.store(false, Ordering::SeqCst);
        self.drain_inline();
        // Everything is applied: the collector's last sample sees it all.
        drop(stop_collect);
        let collect_result = collect.join(timeout);
        // Whatever was stored since the last tick reaches the log too.
        if let Some(e) = self.shared.history.persist(true) {
            self.shared.report(e);
        }
        MonitoringError::all([ingest_result, collect_result])
    }

    /// Whether the threads are running.
    pub fn is_running(&self) -> bool {
        self.running.lock().is_some()
    }

    /// Records one sample of `name` from any thread, without waiting for it to be stored.
    ///
    /// If `name` is a registered counter the value is added, a gauge takes it, a histogram
    /// observes it. A name not registered yet takes the type the library knows for it
    /// (`kotoba_db_queries_total` becomes a counter, `kotoba_db_query_latency_seconds` a
    /// histogram), or else becomes a gauge. Counter and gauge samples are stored in history
    /// once, at the time of this call.
    ///
    /// While the collector runs, the sample goes over a bounded queue to `kotoba-ingest`. When
    /// the queue is full it is dropped and counted in `kotoba_monitoring_samples_dropped_total`
    /// (or, with [`OverflowPolicy::Block`](crate::OverflowPolicy::Block), the call waits).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidMetricName`], [`MonitoringError::InvalidLabelName`] or
    /// [`MonitoringError::DuplicateLabel`] for bad names; [`MonitoringError::InvalidValue`] for
    /// a negative or non-finite counter increment or a negative or NaN histogram value. While
    /// stopped, also the errors of creating the series (type conflict, cardinality limit).
    pub fn record_metric(
        &self,
        name: &str,
        value: f64,
        labels: HashMap<String, String>,
    ) -> Result<(), MonitoringError> {
        let sample = Sample {
            name: name.to_owned(),
            labels: LabelSet::from_map(name, &labels)?,
            value,
            at: OffsetDateTime::now_utc(),
        };
        self.record_sample(sample)
    }

    /// As [`record_metric`](Self::record_metric), with labels as pairs.
    ///
    /// # Errors
    ///
    /// As [`record_metric`](Self::record_metric).
    pub fn record(
        &self,
        name: &str,
        value: f64,
        labels: &[(&str, &str)],
    ) -> Result<(), MonitoringError> {
        let sample = Sample {
            name: name.to_owned(),
            labels: LabelSet::new(name, labels)?,
            value,
            at: OffsetDateTime::now_utc(),
        };
        self.record_sample(sample)
    }

    fn record_sample(&self, sample: Sample) -> Result<(), MonitoringError> {
        let ingest = &self.shared.ingest;
        ingest.check(&sample)?;
        if self.shared.ingesting.load(Ordering::SeqCst) {
            ingest.submit(sample);
            Ok(())
        } else {
            ingest.apply(sample)
        }
    }

    /// Waits until every sample recorded before this call is in the registry and history.
    /// Returns at once when the collector is stopped (samples are applied inline then).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Timeout`] when the ingest thread has not caught up within `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), MonitoringError> {
        if self.shared.ingesting.load(Ordering::SeqCst) {
            self.shared.ingest.flush(timeout)
        } else {
            self.drain_inline();
            Ok(())
        }
    }

    /// Every stored point of every series of `name` from `from` to `to` inclusive, in time
    /// order. An unknown name gives an empty list.
    ///
    /// The history holds the series `/metrics` exposes, under the same names and labels
    /// (global labels included): a counter under its `_total` name, a histogram `h` as
    /// `h_bucket{le}`, `h_sum`, `h_count` and its window gauges `<stem>_window<_unit>{q}`.
    /// See [`HistoryStore::range`] for per-series reads.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidMetricName`] for a name that cannot exist,
    /// [`MonitoringError::InvalidTimeRange`] when `from` is after `to`.
    pub fn get_metrics(
        &self,
        name: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<MetricPoint>, MonitoringError> {
        self.shared.history.points(name, &[], from, to)
    }

    /// As [`get_metrics`](Self::get_metrics), keeping only series that match every matcher.
    ///
    /// # Errors
    ///
    /// As [`get_metrics`](Self::get_metrics).
    pub fn get_metrics_matching(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<MetricPoint>, MonitoringError> {
        self.shared.history.points(name, matchers, from, to)
    }

    /// The last error a background thread met (a sample that could not be applied, a panic
    /// caught in a tick), with when it happened.
    pub fn last_error(&self) -> Option<(OffsetDateTime, String)> {
        self.shared.last_error.lock().clone()
    }

    fn drain_inline(&self) {
        for e in self.shared.ingest.drain() {
            self.shared.report(e.to_string());
        }
    }
}

impl Drop for MetricsCollector {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `kotoba-ingest`: applies samples until told to stop, then applies what is queued and ends.
fn ingest_loop(shared: &Shared, stop: &Receiver<()>) {
    let samples = shared.ingest.receiver();
    let handle = |message| match guarded("applying a sample", || shared.ingest.handle(message)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => shared.report(e.to_string()),
        Err(panic) => shared.report(panic),
    };
    // While samples wait in the queue, readers of the history wait for them: every queued
    // sample was stamped after the queue was last seen empty.
    let mut empty_since = OffsetDateTime::now_utc();
    let mut hold = None;
    loop {
        select! {
            recv(samples) -> message => match message {
                Ok(message) => {
                    hold.get_or_insert_with(|| shared.history.hold(empty_since));
                    handle(message);
                    if samples.is_empty() {
                        empty_since = OffsetDateTime::now_utc();
                        hold = None;
                    }
                }
                Err(_) => return,
            },
            recv(stop) -> _ => {
                while let Ok(message) = samples.try_recv() {
                    handle(message);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MonitoringConfig {
        MonitoringConfig {
            collection_interval: Duration::from_millis(20),
            ..MonitoringConfig::default()
        }
    }

    #[test]
    fn second_start_is_an_error_and_stop_is_idempotent() {
        let c = MetricsCollector::standalone(config()).unwrap();
        c.start().unwrap();
        assert!(matches!(
            c.start(),
            Err(MonitoringError::AlreadyStarted { .. })
        ));
        c.stop().unwrap();
        c.stop().unwrap();
        assert!(!c.is_running());
        // And it can run again.
        c.start().unwrap();
        c.stop().unwrap();
    }

    #[test]
    fn invalid_config_is_refused() {
        let bad = MonitoringConfig {
            max_metrics_points: 0,
            ..MonitoringConfig::default()
        };
        assert!(MetricsCollector::standalone(bad).is_err());
    }

    #[test]
    fn stopped_collector_applies_inline() {
        let c = MetricsCollector::standalone(config()).unwrap();
        c.record("inline_gauge", 4.0, &[("k", "v")]).unwrap();
        assert_eq!(
            c.registry()
                .gauge("inline_gauge", "", &[("k", "v")])
                .unwrap()
                .get(),
            4.0
        );
    }

    #[test]
    fn errors_on_the_ingest_thread_are_reported() {
        // A cap the system metrics stay under (one series per disk or interface), so that
        // the only error is ours.
        let c = MetricsCollector::standalone(MonitoringConfig {
            max_series_per_metric: 100,
            ..config()
        })
        .unwrap();
        c.start().unwrap();
        for id in 0..=100 {
            c.record("capped", 1.0, &[("id", &id.to_string())]).unwrap();
        }
        c.flush(Duration::from_secs(5)).unwrap();
        let (_, message) = c.last_error().expect("the 101st series was refused");
        assert!(message.contains("capped"), "{message}");
        c.stop().unwrap();
    }
}
