//! Module implementing query instrumentation: timing each query by operation, counting
//! failures and slow queries, and the [`QueryMetrics`] computed from what was recorded.
//! See [`QueryInstruments`] for details.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::metrics::Family;
use crate::LabelSet;
use crate::{
    Counter, ExemplarConfig, ExemplarSelection, Histogram, HistogramSnapshot, MonitoringError,
    QueryMetrics, Registry, TraceContext,
};

/// The longest statement text the slow-query log keeps, in characters.
pub(crate) const MAX_STATEMENT_CHARS: usize = 256;

/// One query the slow-query log remembers.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowQuery {
    /// Its operation (`"get"`).
    pub operation: String,
    /// How long it took.
    pub duration: Duration,
    /// When it started.
    pub started: time::OffsetDateTime,
    /// The trace it served, when one was current (see [`TraceContext::enter`]) or given.
    pub trace: Option<TraceContext>,
    /// What the database said it was (a statement with its values taken out), at most 256
    /// characters, when it said.
    pub statement: Option<String>,
    /// Whether it failed.
    pub failed: bool,
}

impl SlowQuery {
    /// As `/api/v1/slow_queries` lists it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "operation": self.operation,
            "durationSeconds": self.duration.as_secs_f64(),
            "startedAt": self
                .started
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "traceId": self.trace.map(|t| t.trace_id()),
            "spanId": self.trace.map(|t| t.span_id()),
            "statement": self.statement,
            "failed": self.failed,
        })
    }
}

/// The last slow queries, the newest kept; older ones let go and counted.
#[derive(Debug)]
pub(crate) struct SlowQueryLog {
    entries: parking_lot::Mutex<std::collections::VecDeque<SlowQuery>>,
    capacity: usize,
    /// `kotoba_db_slow_query_log_dropped_total`.
    dropped: Counter,
}

impl SlowQueryLog {
    fn push(&self, query: SlowQuery) {
        if self.capacity == 0 {
            self.dropped.inc();
            return;
        }
        let mut entries = self.entries.lock();
        if entries.len() == self.capacity {
            entries.pop_front();
            self.dropped.inc();
        }
        entries.push_back(query);
    }
}

/// How an operation's queries keep exemplars.
#[derive(Debug, Clone, Copy)]
struct Selection {
    keep: ExemplarSelection,
    /// Of the queries that are not slow, keep one when a counter's hash falls under this.
    below: u64,
}

/// Times queries by operation into `kotoba_db_query_latency_seconds{operation}`, and counts
/// `kotoba_db_queries_total{operation}`, `kotoba_db_query_errors_total{operation}` and
/// `kotoba_db_slow_queries_total{operation}` (queries slower than the slow-query threshold,
/// 100 ms unless set). Each series exists from the moment its operation's handles are taken,
/// and moves with every query.
///
/// For a database that does not compute its own query figures, the collector derives
/// [`QueryMetrics`] from these recordings (see [`query_metrics`](Self::query_metrics)).
///
/// # Examples
///
/// ```
/// # let collector = kotoba_monitoring::MetricsCollector::standalone(Default::default())?;
/// let gets = collector.queries().operation("get")?; // once, when the database opens
///
/// // A guard: records on drop, as a success unless told otherwise.
/// {
///     let timer = gets.start();
///     let found = true; // run the query
///     if !found {
///         timer.fail();
///     }
/// } // recorded here
///
/// // A closure: an `Err` counts as a failure.
/// let value: Result<u32, &str> = gets.time(|| Ok(7));
/// assert_eq!(value, Ok(7));
///
/// let figures = collector.queries().query_metrics();
/// assert_eq!(figures.total_queries, 2);
/// assert_eq!(figures.failed_queries, 0);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
pub struct QueryInstruments {
    latency: Family<Histogram>,
    queries: Family<Counter>,
    errors: Family<Counter>,
    slow: Family<Counter>,
    /// Nanoseconds; shared with every operation's handles.
    slow_threshold: Arc<AtomicU64>,
    operations: RwLock<HashMap<String, QueryOperation>>,
    selection: Selection,
    slow_log: Arc<SlowQueryLog>,
}

impl std::fmt::Debug for QueryInstruments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryInstruments")
            .field(
                "slow_threshold",
                &Duration::from_nanos(self.slow_threshold.load(Ordering::Relaxed)),
            )
            .field("operations", &self.operations.read().len())
            .finish()
    }
}

/// The handles of one operation: take it once, record through it without lookups.
#[derive(Clone, Debug)]
pub struct QueryOperation {
    latency: Histogram,
    queries: Counter,
    errors: Counter,
    slow: Counter,
    /// Nanoseconds, shared with the instruments, so a new threshold reaches existing handles.
    slow_threshold: Arc<AtomicU64>,
    name: Arc<str>,
    selection: Selection,
    slow_log: Arc<SlowQueryLog>,
}

/// Times one query; records when dropped (a success unless [`fail`](Self::fail) was called).
#[derive(Debug)]
#[must_use = "the query is timed until the guard is dropped"]
pub struct QueryTimer<'a> {
    operation: &'a QueryOperation,
    started: Instant,
    failed: bool,
    trace: Option<TraceContext>,
    statement: Option<std::borrow::Cow<'static, str>>,
}

impl QueryInstruments {
    pub(crate) fn new(
        registry: &Registry,
        exemplars: &ExemplarConfig,
    ) -> Result<Self, MonitoringError> {
        let below = (exemplars.sample_ratio.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
        Ok(Self {
            selection: Selection {
                keep: exemplars.keep,
                below,
            },
            slow_log: Arc::new(SlowQueryLog {
                entries: parking_lot::Mutex::new(std::collections::VecDeque::new()),
                capacity: exemplars.slow_query_log,
                dropped: registry.counter(
                    "kotoba_db_slow_query_log_dropped_total",
                    "Slow queries let go from the slow-query log, full with newer ones.",
                    &[],
                )?,
            }),
            latency: registry.histogram_family("kotoba_db_query_latency_seconds", "")?,
            queries: registry.counter_family("kotoba_db_queries_total", "")?,
            errors: registry.counter_family(
                "kotoba_db_query_errors_total",
                "Queries that failed, by operation.",
            )?,
            slow: registry.counter_family(
                "kotoba_db_slow_queries_total",
                "Queries slower than the slow-query threshold, by operation.",
            )?,
            slow_threshold: Arc::new(AtomicU64::new(100_000_000)),
            operations: RwLock::new(HashMap::new()),
        })
    }

    /// The handles for `operation` (`"get"`, `"put"`, `"scan"`), created on first use.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::CardinalityLimit`] past `max_series_per_metric` operations.
    pub fn operation(&self, operation: &str) -> Result<QueryOperation, MonitoringError> {
        if let Some(op) = self.operations.read().get(operation) {
            return Ok(op.clone());
        }
        let labels = [("operation", operation)];
        let op = QueryOperation {
            latency: self.latency.with_labels(&labels)?,
            queries: self.queries.with_labels(&labels)?,
            errors: self.errors.with_labels(&labels)?,
            slow: self.slow.with_labels(&labels)?,
            slow_threshold: self.slow_threshold.clone(),
            name: Arc::from(operation),
            selection: self.selection,
            slow_log: self.slow_log.clone(),
        };
        let mut operations = self.operations.write();
        if operations.is_empty() {
            // Collections before now may have published the database's own total without
            // labels; from here on the operations count, and the two would not add up.
            self.queries.remove_label_set(&LabelSet::default());
        }
        Ok(operations.entry(operation.to_owned()).or_insert(op).clone())
    }

    /// Queries slower than `threshold` count as slow from now on. Defaults to 100 ms.
    pub fn set_slow_threshold(&self, threshold: Duration) {
        let nanos = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
        self.slow_threshold.store(nanos, Ordering::Relaxed);
    }

    /// The figures of what was recorded: totals since start, and over the recent window
    /// (`latency_window`) the rate, mean, p95 and p99 across all operations.
    pub fn query_metrics(&self) -> QueryMetrics {
        let ops: Vec<QueryOperation> = self.operations.read().values().cloned().collect();
        let window: Vec<HistogramSnapshot> =
            ops.iter().map(|o| o.latency.window_snapshot()).collect();
        let total: u64 = ops.iter().map(|o| o.latency.count()).sum();
        let merged = HistogramSnapshot::merge(&window);
        let (recent, mean, p95, p99) = merged
            .map(|m| (m.count, m.mean, m.p95, m.p99))
            .unwrap_or_default();
        // Over the longest span: an operation made later had no queries before it was made,
        // so every recent query falls within the oldest operation's window.
        let span = ops
            .iter()
            .map(|o| o.latency.window_span())
            .max()
            .unwrap_or(Duration::ZERO);
        let queries_per_second = if span.is_zero() {
            0.0
        } else {
            recent as f64 / span.as_secs_f64()
        };
        QueryMetrics {
            total_queries: total,
            queries_per_second,
            avg_query_latency_ms: mean * 1e3,
            p95_query_latency_ms: p95 * 1e3,
            p99_query_latency_ms: p99 * 1e3,
            slow_queries: ops.iter().map(|o| o.slow.get() as u64).sum(),
            failed_queries: ops.iter().map(|o| o.errors.get() as u64).sum(),
        }
    }

    /// Runs `publish` unless an operation's handles were taken (`kotoba_db_queries_total`
    /// is then counted here, by operation), holding off [`operation`](Self::operation)
    /// meanwhile: an operation taken during a collection would otherwise remove the
    /// database's unlabelled total before the collection wrote it, leaving both.
    pub(crate) fn unless_counting_queries<R>(&self, publish: impl FnOnce() -> R) -> Option<R> {
        let operations = self.operations.read();
        operations.is_empty().then(publish)
    }

    /// The slow queries remembered, the newest first.
    pub fn slow_queries(&self) -> Vec<SlowQuery> {
        self.slow_log.entries.lock().iter().rev().cloned().collect()
    }

    /// Whether any query has been recorded.
    pub(crate) fn has_data(&self) -> bool {
        self.operations
            .read()
            .values()
            .any(|o| o.latency.count() > 0)
    }
}

impl QueryOperation {
    /// Starts timing one query, under the current thread's trace if one is entered.
    pub fn start(&self) -> QueryTimer<'_> {
        QueryTimer {
            operation: self,
            started: Instant::now(),
            failed: false,
            trace: TraceContext::current(),
            statement: None,
        }
    }

    /// Times `query`; an `Err` counts as a failure.
    ///
    /// # Errors
    ///
    /// `query`'s own error, unchanged.
    pub fn time<T, E>(&self, query: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let timer = self.start();
        let result = query();
        if result.is_err() {
            timer.fail();
        }
        result
    }

    /// Records a query that took `elapsed`, and whether it succeeded, under the current
    /// thread's trace if one is entered.
    pub fn record(&self, elapsed: Duration, succeeded: bool) {
        self.record_query(elapsed, succeeded, TraceContext::current, None);
    }

    /// Records a query served for `trace`, which took `elapsed`; `statement` (the query with
    /// its values taken out) goes to the slow-query log if it was slow.
    pub fn record_traced(
        &self,
        elapsed: Duration,
        succeeded: bool,
        trace: Option<TraceContext>,
        statement: Option<&str>,
    ) {
        self.record_query(
            elapsed,
            succeeded,
            || trace,
            statement.map(|s| std::borrow::Cow::Owned(s.to_owned())),
        );
    }

    fn record_query(
        &self,
        elapsed: Duration,
        succeeded: bool,
        trace: impl FnOnce() -> Option<TraceContext>,
        statement: Option<std::borrow::Cow<'static, str>>,
    ) {
        let slow = elapsed.as_nanos() > u128::from(self.slow_threshold.load(Ordering::Relaxed));
        let seconds = elapsed.as_secs_f64();
        // The trace is looked for only when the query may keep it: the common fast query
        // under `slow` (the default) or `off` skips the thread-local read.
        let wanted = slow
            || matches!(
                self.selection.keep,
                ExemplarSelection::All | ExemplarSelection::Sampled
            );
        let trace = if wanted { trace() } else { None };
        match trace.filter(|t| t.sampled() && self.keeps_exemplar(slow, t)) {
            Some(trace) => self.latency.observe_with_trace(seconds, &trace),
            None => self.latency.observe(seconds),
        }
        self.queries.inc();
        if !succeeded {
            self.errors.inc();
        }
        if slow {
            self.slow.inc();
            let now = time::OffsetDateTime::now_utc();
            self.slow_log.push(SlowQuery {
                operation: self.name.to_string(),
                duration: elapsed,
                started: now - elapsed,
                trace,
                statement: statement.map(|s| s.chars().take(MAX_STATEMENT_CHARS).collect()),
                failed: !succeeded,
            });
        }
    }

    /// Whether a query under `trace` keeps it as an exemplar: by the configured selection,
    /// a sampled share decided by the trace id (so one trace is kept or not everywhere).
    fn keeps_exemplar(&self, slow: bool, trace: &TraceContext) -> bool {
        match self.selection.keep {
            ExemplarSelection::Off => false,
            ExemplarSelection::All => true,
            ExemplarSelection::Slow => slow,
            ExemplarSelection::Sampled => slow || trace.id_hash() < self.selection.below,
        }
    }
}

impl QueryTimer<'_> {
    /// Records the query as failed.
    pub fn fail(mut self) {
        self.failed = true;
    }

    /// Says what the query was, for the slow-query log: a statement with its values taken
    /// out (`SELECT * FROM t WHERE id = ?`), kept (its first 256 characters) only if the
    /// query turns out slow. A `&'static str` costs nothing more.
    pub fn set_statement(&mut self, statement: impl Into<std::borrow::Cow<'static, str>>) {
        self.statement = Some(statement.into());
    }

    /// Serves the query for `trace` rather than the thread's current one.
    pub fn set_trace(&mut self, trace: TraceContext) {
        self.trace = Some(trace);
    }
}

impl Drop for QueryTimer<'_> {
    fn drop(&mut self) {
        let trace = self.trace;
        self.operation.record_query(
            self.started.elapsed(),
            !self.failed,
            || trace,
            self.statement.take(),
        );
    }
}
