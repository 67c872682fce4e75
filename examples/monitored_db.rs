//! A real embedded database (redb) under a mixed read/write/scan workload on a few threads,
//! monitored: every query is timed by operation, the database reports its own figures through
//! `MonitoredDatabase`, the monitor collects system metrics and runs the health checks, and
//! `/metrics`, `/health`, `/livez`, `/readyz` are served. Every two seconds it prints the live
//! p50/p99 per operation over the recent window, the query rate and the health (with the
//! reason for any check that is not healthy), in lines that fit 80 columns.
//!
//! ```text
//! cargo run --release --example monitored_db -- [--seconds N] [--port P] [--config FILE] [--rules FILE]
//!     [--alertmanager URL] [--webhook URL] [--data-dir DIR] [--remote-write URL]...
//! ```
//!
//! `--seconds N` exits cleanly after N seconds (0, the default, runs until Ctrl-C); `--port P`
//! serves the endpoints on port P (0 picks a free port; the default is the configuration's,
//! 9090); `--config FILE` reads a TOML configuration; `--rules FILE` evaluates a Prometheus
//! rule file instead of the demo's own (`examples/rules/monitored_db.yml`: database
//! unhealthy, slow queries, query errors), printing each alert's state change as it happens.
//! `--alertmanager URL` pushes the alerts to that Alertmanager (`http://host:9093`) as
//! Prometheus would; `--webhook URL` posts Alertmanager's webhook payload there for each
//! group of alerts (grouped by alert name, after 10 s). Every 2 s the report then also shows
//! each channel's deliveries and last error.
//! `--data-dir DIR` keeps the monitor's history, alert state and notification log in DIR
//! (`storage.path`): stopped and started again on it, the demo shows how much history it
//! read back and the alerts come back as they were. Without it they go to a folder of their
//! own beside the database. `--remote-write URL` (repeatable) ships every sample to a
//! Prometheus remote-write receiver (`http://host:9090/api/v1/write`, VictoriaMetrics'
//! `http://host:8428/api/v1/write`); the report then shows how far each has got.
//! The database lives in a temporary directory that is removed at exit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kotoba_monitoring::{
    DatabaseMetrics, Monitor, MonitoredDatabase, MonitoringConfig, MonitoringError, QueryMetrics,
    StorageMetrics, TraceContext,
};

/// Queries slower than this count as slow: they keep their trace as an exemplar and go into
/// the slow-query log.
const SLOW_QUERY: Duration = Duration::from_millis(3);
use parking_lot::Mutex;
use redb::{Database, Durability, ReadableDatabase, TableDefinition};

const WORKERS: usize = 3;
const KEYS: u64 = 100_000;
const REPORT_EVERY: Duration = Duration::from_secs(2);
const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("kv");

struct Args {
    seconds: u64,
    port: Option<u16>,
    config: Option<PathBuf>,
    rules: Option<PathBuf>,
    alertmanager: Option<String>,
    webhook: Option<String>,
    data_dir: Option<PathBuf>,
    remote_write: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 0,
        port: None,
        config: None,
        rules: None,
        alertmanager: None,
        webhook: None,
        data_dir: None,
        remote_write: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => {
                let v = value()?;
                args.seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds {v:?}: not a number"))?;
            }
            "--port" => {
                let v = value()?;
                args.port = Some(
                    v.parse()
                        .map_err(|_| format!("--port {v:?}: not a port number"))?,
                );
            }
            "--config" => args.config = Some(PathBuf::from(value()?)),
            "--rules" => args.rules = Some(PathBuf::from(value()?)),
            "--alertmanager" => args.alertmanager = Some(value()?),
            "--webhook" => args.webhook = Some(value()?),
            "--data-dir" => args.data_dir = Some(PathBuf::from(value()?)),
            "--remote-write" => args.remote_write.push(value()?),
            "--help" | "-h" => {
                return Err(
                    "usage: monitored_db [--seconds N] [--port P] [--config FILE] [--rules FILE] [--alertmanager URL] [--webhook URL] [--data-dir DIR] [--remote-write URL]..."
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(args)
}

/// The database and the figures it keeps about itself, all measured.
struct Store {
    db: Database,
    file: PathBuf,
    opened: Instant,
    /// Transactions open now, and ever.
    open_txns: AtomicU64,
    txns: AtomicU64,
    reads: AtomicU64,
    writes: AtomicU64,
    read_bytes: AtomicU64,
    written_bytes: AtomicU64,
    commit_nanos: AtomicU64,
    commits: AtomicU64,
    /// The byte counters at the last storage reading, for the rates.
    last_rates: Mutex<(Instant, u64, u64)>,
}

fn db_error(e: impl std::fmt::Display) -> MonitoringError {
    MonitoringError::Source {
        source_name: "database",
        message: e.to_string(),
    }
}

/// Counts a transaction as open while it lives.
struct Txn<'a>(&'a Store);

impl<'a> Txn<'a> {
    fn open(store: &'a Store) -> Self {
        store.open_txns.fetch_add(1, Ordering::Relaxed);
        store.txns.fetch_add(1, Ordering::Relaxed);
        Txn(store)
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        self.0.open_txns.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Store {
    fn open(dir: &Path) -> Result<Self, redb::Error> {
        let file = dir.join("demo.redb");
        let db = Database::create(&file)?;
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(TABLE)?;
            for k in (0..KEYS).step_by(2) {
                table.insert(k, k.to_le_bytes().repeat(8).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(Self {
            db,
            file,
            opened: Instant::now(),
            open_txns: AtomicU64::new(0),
            txns: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            read_bytes: AtomicU64::new(0),
            written_bytes: AtomicU64::new(0),
            commit_nanos: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            last_rates: Mutex::new((Instant::now(), 0, 0)),
        })
    }

    fn get(&self, key: u64) -> Result<bool, redb::Error> {
        let _txn = Txn::open(self);
        let read = self.db.begin_read()?;
        let table = read.open_table(TABLE)?;
        let value = table.get(key)?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        let len = value.as_ref().map_or(0, |v| v.value().len());
        self.read_bytes.fetch_add(len as u64, Ordering::Relaxed);
        Ok(value.is_some())
    }

    fn scan(&self, from: u64) -> Result<usize, redb::Error> {
        let _txn = Txn::open(self);
        let read = self.db.begin_read()?;
        let table = read.open_table(TABLE)?;
        let mut n = 0;
        for entry in table.range(from..)?.take(100) {
            let (_, v) = entry?;
            n += 1;
            self.read_bytes
                .fetch_add(v.value().len() as u64, Ordering::Relaxed);
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        Ok(n)
    }

    fn put(&self, key: u64) -> Result<(), redb::Error> {
        let _txn = Txn::open(self);
        let mut write = self.db.begin_write()?;
        // Most commits skip the fsync, like a database that groups its syncs.
        if !key.is_multiple_of(50) {
            write.set_durability(Durability::None)?;
        }
        let value = key.wrapping_mul(31).to_le_bytes().repeat(8);
        {
            let mut table = write.open_table(TABLE)?;
            table.insert(key, value.as_slice())?;
        }
        let started = Instant::now();
        write.commit()?;
        self.commit_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.written_bytes
            .fetch_add(value.len() as u64 + 8, Ordering::Relaxed);
        Ok(())
    }
}

impl MonitoredDatabase for Store {
    fn get_database_metrics(&self) -> Result<DatabaseMetrics, MonitoringError> {
        Ok(DatabaseMetrics {
            active_connections: self.open_txns.load(Ordering::Relaxed),
            total_connections: self.txns.load(Ordering::Relaxed),
            uptime_seconds: self.opened.elapsed().as_secs(),
            version: "redb 4".into(),
        })
    }

    /// redb does not time queries; the monitor's instrumentation does.
    fn get_query_metrics(&self) -> Result<QueryMetrics, MonitoringError> {
        Err(MonitoringError::Unsupported {
            what: "query metrics",
        })
    }

    fn get_storage_metrics(&self) -> Result<StorageMetrics, MonitoringError> {
        let total = std::fs::metadata(&self.file).map_err(db_error)?.len();
        let stats = {
            let write = self.db.begin_write().map_err(db_error)?;
            let stats = write.stats().map_err(db_error)?;
            write.abort().map_err(db_error)?;
            stats
        };
        let cache = self.db.cache_stats();
        let lookups = cache.read_hits() + cache.read_misses();
        let (read, written) = (
            self.read_bytes.load(Ordering::Relaxed),
            self.written_bytes.load(Ordering::Relaxed),
        );
        let mut last = self.last_rates.lock();
        let secs = last.0.elapsed().as_secs_f64().max(1e-3);
        let rates = (
            (read - last.1) as f64 / secs,
            (written - last.2) as f64 / secs,
        );
        *last = (Instant::now(), read, written);
        let commits = self.commits.load(Ordering::Relaxed).max(1);
        Ok(StorageMetrics {
            total_size_bytes: total,
            used_size_bytes: stats.stored_bytes() + stats.metadata_bytes(),
            read_operations: self.reads.load(Ordering::Relaxed),
            write_operations: self.writes.load(Ordering::Relaxed),
            read_bytes_per_sec: rates.0,
            write_bytes_per_sec: rates.1,
            cache_hit_rate: if lookups == 0 {
                0.0
            } else {
                cache.read_hits() as f64 / lookups as f64
            },
            io_latency_ms: self.commit_nanos.load(Ordering::Relaxed) as f64 / commits as f64 / 1e6,
        })
    }

    /// A point read: proves the storage answers.
    fn ping(&self) -> Result<Duration, MonitoringError> {
        let started = Instant::now();
        self.get(0).map_err(db_error)?;
        Ok(started.elapsed())
    }
}

fn worker(
    id: u64,
    store: &Store,
    monitor: &Monitor,
    running: &AtomicBool,
) -> Result<(), MonitoringError> {
    let queries = monitor.collector().queries();
    let (get, put, scan) = (
        queries.operation("get")?,
        queries.operation("put")?,
        queries.operation("scan")?,
    );
    let mut x = 0x9e37_79b9_7f4a_7c15 ^ id;
    let mut found = 0u64;
    while running.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = x % KEYS;
        // Each query serves a request of its own, as a server would take its `traceparent`
        // header: one trace in ten sampled. Slow queries keep theirs as an exemplar.
        let trace = TraceContext::new(
            (u128::from(x) << 64 | u128::from(x.rotate_left(29) ^ id)).to_be_bytes(),
            (x | 1).to_be_bytes(),
            x.is_multiple_of(10),
        )?;
        let _serving = trace.enter();
        // A failed query is counted by the instrumentation; the workload goes on.
        let (op, statement) = match x % 100 {
            0..=79 => (&get, "GET value WHERE key = ?"),
            80..=97 => (&put, "PUT value WHERE key = ?"),
            _ => (&scan, "SCAN 100 FROM key = ?"),
        };
        let mut timer = op.start();
        timer.set_statement(statement);
        let result = match x % 100 {
            0..=79 => store.get(key).map(u64::from),
            80..=97 => store.put(key).map(|()| 1),
            _ => store.scan(key).map(|n| n as u64),
        };
        match result {
            Ok(n) => found += n,
            Err(_) => timer.fail(),
        }
    }
    std::hint::black_box(found);
    Ok(())
}

/// The operations the workload runs, in the order the report shows them.
const OPERATIONS: [&str; 3] = ["get", "put", "scan"];

/// A latency in seconds to three significant figures with its unit: `1.30µs`, `547µs`.
fn short(seconds: f64) -> String {
    let (value, unit) = match seconds {
        s if s < 1e-6 => (s * 1e9, "ns"),
        s if s < 1e-3 => (s * 1e6, "µs"),
        s if s < 1.0 => (s * 1e3, "ms"),
        s => (s, "s"),
    };
    match value {
        v if v < 10.0 => format!("{v:.2}{unit}"),
        v if v < 100.0 => format!("{v:.1}{unit}"),
        v => format!("{v:.0}{unit}"),
    }
}

/// A count with thousands separators: `1,597,871`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What each report line holds; printed once, above the first.
fn report_header(monitor: &Monitor) {
    println!(
        "every {} s: p50/p99 per operation over the last {} s, queries per second, health",
        REPORT_EVERY.as_secs(),
        monitor.config().latency_window.as_secs()
    );
    println!(
        "{:<7} {:<13} {:<13} {:<13} {:>9} {:>6} health",
        "time", OPERATIONS[0], OPERATIONS[1], OPERATIONS[2], "q/s", "failed"
    );
}

/// One report line, at most 80 columns, and a line for each check that is not healthy.
fn report(monitor: &Monitor, elapsed: Duration) -> Result<(), MonitoringError> {
    let queries = monitor.collector().queries();
    let mut line = format!("[{:>4}s]", elapsed.as_secs());
    for name in OPERATIONS {
        let s = monitor
            .registry()
            .histogram(
                "kotoba_db_query_latency_seconds",
                "",
                &[("operation", name)],
            )?
            .window_snapshot();
        let both = format!("{}/{}", short(s.p50), short(s.p99));
        line += &format!(" {both:<13}");
    }
    let q = queries.query_metrics();
    let health = monitor.health().map(|h| h.current_health());
    let status = health
        .as_ref()
        .map_or("off".to_owned(), |h| h.overall_status.to_string());
    println!(
        "{line} {:>9} {:>6} {status}",
        grouped(q.queries_per_second.round() as u64),
        q.failed_queries
    );
    for check in health.iter().flat_map(|h| &h.checks) {
        let result = &check.result;
        if result.status != kotoba_monitoring::HealthStatus::Healthy {
            let why = format!("{} {}: {}", result.name, result.status, result.message);
            println!("       {}", why.chars().take(73).collect::<String>());
        }
    }
    Ok(())
}

/// What the start found in the storage folder: how much history came back, and any damage
/// it cut off.
fn report_storage(monitor: &Monitor) {
    let Some(replay) = monitor.collector().replay_report() else {
        return;
    };
    let history = monitor.collector().history();
    let read = replay.checkpoint_samples + replay.log_samples;
    let since = history
        .points(
            "kotoba_db_queries_total",
            &[],
            time::OffsetDateTime::UNIX_EPOCH,
            time::OffsetDateTime::now_utc(),
        )
        .ok()
        .and_then(|p| p.first().map(|p| p.timestamp));
    println!(
        "storage {}: {} samples read back in {} ms, {} series{}",
        replay.path.display(),
        grouped(read),
        replay.took.as_millis(),
        history.series_count(),
        match since {
            Some(t) => format!(", queries since {}", t.time()),
            None => String::new(),
        }
    );
    for damage in &replay.damage {
        println!(
            "  repaired: {}",
            damage.chars().take(70).collect::<String>()
        );
    }
}

/// Storage repairs and failures, as the library logs them, on stderr.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{}: {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// One alert's state change: `[  12s] ALERT firing SlowQueries{operation="scan"}: …`.
fn print_transition(change: &kotoba_monitoring::AlertTransition, elapsed: Duration) {
    let alert = &change.alert;
    let name = alert
        .labels
        .iter()
        .find(|(n, _)| n == "alertname")
        .map_or("", |(_, v)| v.as_str());
    let labels: Vec<String> = alert
        .labels
        .iter()
        .filter(|(n, _)| n != "alertname" && n != "severity")
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    let state = match alert.state {
        kotoba_monitoring::AlertState::Inactive => "resolved",
        other => other.as_str(),
    };
    let summary = alert
        .annotations
        .iter()
        .find(|(n, _)| n == "summary")
        .map_or("", |(_, v)| v.as_str());
    println!(
        "[{:>4}s] ALERT {state} {name}{{{}}}: {summary}",
        elapsed.as_secs(),
        labels.join(",")
    );
}

fn run(args: Args) -> Result<(), MonitoringError> {
    let mut config = MonitoringConfig::load(args.config.as_deref())?;
    if let Some(port) = args.port {
        config.prometheus_config.port = port;
    }
    let dir = std::env::temp_dir().join(format!("kotoba-monitored-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| MonitoringError::Io {
        path: dir.clone(),
        source,
    })?;
    // The disk check watches the disk the database lives on.
    config.health_config.data_path = dir.clone();
    // The demo's rules, or the file given.
    config.alerting_config.enabled = true;
    config.alerting_config.rule_files = vec![args.rules.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules/monitored_db.yml")
    })];
    // Where what fires goes.
    use kotoba_monitoring::{NotificationConfig, NotificationType};
    if let Some(url) = &args.alertmanager {
        let am = NotificationConfig::new(NotificationType::Alertmanager, &[("url", url)]);
        config.alerting_config.notifications.push(am);
    }
    if let Some(url) = &args.webhook {
        let hook = NotificationConfig::new(NotificationType::Webhook, &[("url", url)]);
        config.alerting_config.notifications.push(hook);
        let route = &mut config.alerting_config.route;
        route
            .group_by
            .get_or_insert_with(|| vec!["alertname".into()]);
        route.group_wait.get_or_insert(Duration::from_secs(10));
    }
    // Each operation's p99, throughput, errors, CPU and memory watched for anomalies.
    config.anomaly_detection.enabled = true;
    // What the monitor keeps across restarts, and where it ships samples.
    config.storage.path = Some(args.data_dir.clone().unwrap_or_else(|| dir.join("monitor")));
    for url in &args.remote_write {
        config
            .remote_write
            .push(kotoba_monitoring::RemoteWriteConfig {
                url: url.clone(),
                ..Default::default()
            });
    }
    config.validate()?;
    let result = (|| {
        let store = Arc::new(Store::open(&dir).map_err(db_error)?);
        serve(args, config, store)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn serve(args: Args, config: MonitoringConfig, store: Arc<Store>) -> Result<(), MonitoringError> {
    let monitor = Arc::new(Monitor::with_database(store.clone(), config)?);
    monitor.collector().queries().set_slow_threshold(SLOW_QUERY);
    monitor.start()?;
    if let Some(exporter) = monitor.exporter() {
        let addr = exporter
            .local_addr()
            .expect("a started exporter has an address");
        println!("dashboard: http://{addr}/");
        println!(
            "serving {} and /health, /livez, /readyz, /api/v1 at http://{addr}",
            exporter.config().path
        );
    }
    report_storage(&monitor);
    let running = Arc::new(AtomicBool::new(true));
    {
        let running = running.clone();
        if let Err(e) = ctrlc::set_handler(move || running.store(false, Ordering::Relaxed)) {
            eprintln!("cannot catch Ctrl-C ({e}); stop with --seconds instead");
        }
    }
    let workers: Vec<_> = (0..WORKERS as u64)
        .map(|id| {
            let (store, monitor, running) = (store.clone(), monitor.clone(), running.clone());
            std::thread::spawn(move || worker(id, &store, &monitor, &running))
        })
        .collect();

    println!(
        "{WORKERS} workers on a {}-key redb database, {} (Ctrl-C stops)",
        grouped(KEYS / 2),
        match args.seconds {
            0 => "until interrupted".to_owned(),
            n => format!("for {n} s"),
        }
    );
    report_header(&monitor);
    let transitions = monitor.alert_transitions();
    let started = Instant::now();
    let mut next_report = started + REPORT_EVERY;
    while running.load(Ordering::Relaxed) {
        if args.seconds > 0 && started.elapsed() >= Duration::from_secs(args.seconds) {
            running.store(false, Ordering::Relaxed);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        for change in transitions.iter().flat_map(|t| t.try_iter()) {
            print_transition(&change, started.elapsed());
        }
        if Instant::now() >= next_report {
            report(&monitor, started.elapsed())?;
            for r in monitor.remote_write_status() {
                let behind = r
                    .sent_until
                    .map(|t| {
                        format!(
                            "{:.1} s behind",
                            (time::OffsetDateTime::now_utc() - t).as_seconds_f64()
                        )
                    })
                    .unwrap_or_else(|| "nothing sent yet".to_owned());
                let error = r.last_error.unwrap_or_default();
                let line = format!("  remote {} {}: {behind} {error}", r.name, r.url);
                println!("{}", line.chars().take(80).collect::<String>());
            }
            for a in monitor.anomalies() {
                let labels: Vec<String> =
                    a.labels.iter().map(|(n, v)| format!("{n}={v}")).collect();
                let line = format!(
                    "  anomaly {:.2} {} {{{}}} = {:.4}",
                    a.score,
                    a.expr,
                    labels.join(","),
                    a.value
                );
                println!("{}", line.chars().take(80).collect::<String>());
            }
            for c in monitor.notification_channels() {
                let error = c.last_error.map(|(_, e)| e).unwrap_or_default();
                let line = format!(
                    "  notify {} ({}): {} sent, {} failed {}",
                    c.name, c.kind, c.delivered, c.failed, error
                );
                println!("{}", line.chars().take(80).collect::<String>());
            }
            next_report += REPORT_EVERY;
        }
    }
    for w in workers {
        match w.join() {
            Ok(result) => result?,
            Err(_) => eprintln!("a worker panicked"),
        }
    }
    let perf = monitor.performance_metrics()?;
    let window = monitor.config().latency_window.as_secs();
    monitor.stop()?;
    let q = &perf.query_metrics;
    println!(
        "stopped cleanly after {} s",
        started.elapsed().as_secs_f64().round()
    );
    println!(
        "  queries   {} in all ({} failed, {} slow)",
        grouped(q.total_queries),
        q.failed_queries,
        q.slow_queries
    );
    println!(
        "            {}, last {window} s: mean {}, p99 {}",
        OPERATIONS.join(", "),
        short(q.avg_query_latency_ms / 1e3),
        short(q.p99_query_latency_ms / 1e3)
    );
    // The slowest queries the log kept, with the trace each served.
    let mut slowest = monitor.collector().slow_queries();
    slowest.sort_by_key(|q| std::cmp::Reverse(q.duration));
    for q in slowest.iter().take(5) {
        let trace = q.trace.map_or("no trace".to_owned(), |t| {
            let sampled = if t.sampled() { "" } else { " (not sampled)" };
            format!("trace {}{sampled}", t.trace_id())
        });
        println!(
            "  slow      {:<4} {:>8}  {trace}",
            q.operation,
            short(q.duration.as_secs_f64())
        );
    }
    println!(
        "  database  file {} KiB, cache hit rate {:.1}%",
        grouped(perf.storage_metrics.total_size_bytes >> 10),
        perf.storage_metrics.cache_hit_rate * 100.0
    );
    println!(
        "  history   {} points in {} series",
        grouped(monitor.collector().history().point_count() as u64),
        monitor.collector().history().series_count()
    );
    Ok(())
}

fn main() -> ExitCode {
    if log::set_logger(&StderrLog).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("monitored_db: {e}");
            ExitCode::FAILURE
        }
    }
}
