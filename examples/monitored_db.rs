//! A key-value store under a mixed read/write/scan workload, monitored: every operation is timed
//! into a latency histogram, the live p50/p95/p99 over the recent window and the query rate
//! are printed every two seconds, and `/metrics`, `/health`, `/livez`, `/readyz` are served.
//!
//! ```text
//! cargo run --release --example monitored_db -- [--seconds N] [--port P] [--config FILE]
//! ```
//!
//! `--seconds N` exits cleanly after N seconds (0, the default, runs until Ctrl-C); `--port P`
//! serves the endpoints on port P of 127.0.0.1 (0 picks a free port; the default is the
//! configuration's, 9090); `--config FILE` reads a TOML configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kotoba_monitoring::{Counter, Histogram, Monitor, MonitoringConfig, MonitoringError};
use parking_lot::RwLock;
use time::OffsetDateTime;

const WORKERS: usize = 3;
const KEYS: u64 = 100_000;
const REPORT_EVERY: Duration = Duration::from_secs(2);

struct Args {
    seconds: u64,
    port: Option<u16>,
    config: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 0,
        port: None,
        config: None,
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
            "--help" | "-h" => {
                return Err("usage: monitored_db [--seconds N] [--port P] [--config FILE]".into())
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(args)
}

/// The store: an ordered map of keys to values behind a reader-writer lock.
type Store = RwLock<BTreeMap<u64, Vec<u8>>>;

/// One operation's handles, taken once when the worker starts.
struct Op {
    latency: Histogram,
    done: Counter,
}

fn op(monitor: &Monitor, name: &str) -> Result<Op, MonitoringError> {
    let registry = monitor.registry();
    Ok(Op {
        latency: registry.histogram(
            "kotoba_db_query_latency_seconds",
            "Time to execute one query.",
            &[("op", name)],
        )?,
        done: registry.counter(
            "kotoba_db_queries_total",
            "Queries executed.",
            &[("op", name)],
        )?,
    })
}

fn worker(
    id: u64,
    store: &Store,
    monitor: &Monitor,
    running: &AtomicBool,
) -> Result<(), MonitoringError> {
    let (get, put, scan) = (
        op(monitor, "get")?,
        op(monitor, "put")?,
        op(monitor, "scan")?,
    );
    let mut x = 0x9e37_79b9_7f4a_7c15 ^ id;
    let mut found = 0u64;
    while running.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = x % KEYS;
        match x % 100 {
            0..=79 => {
                let _timer = get.latency.start_timer();
                found += u64::from(store.read().get(&key).is_some());
                get.done.inc();
            }
            80..=97 => {
                let _timer = put.latency.start_timer();
                store.write().insert(key, key.to_le_bytes().repeat(8));
                put.done.inc();
            }
            _ => {
                let _timer = scan.latency.start_timer();
                found += store.read().range(key..).take(100).count() as u64;
                scan.done.inc();
            }
        }
    }
    std::hint::black_box(found);
    Ok(())
}

fn report(
    monitor: &Monitor,
    elapsed: Duration,
    last_total: &mut f64,
) -> Result<(), MonitoringError> {
    let registry = monitor.registry();
    let mut line = format!("[{:>4}s]", elapsed.as_secs());
    let mut total = 0.0;
    for name in ["get", "put", "scan"] {
        total += registry
            .counter("kotoba_db_queries_total", "", &[("op", name)])?
            .get();
        let s = registry
            .histogram("kotoba_db_query_latency_seconds", "", &[("op", name)])?
            .window_snapshot();
        line += &format!(
            " | {name:<4} p50 {:>7.2}µs p95 {:>7.2}µs p99 {:>7.2}µs",
            s.p50 * 1e6,
            s.p95 * 1e6,
            s.p99 * 1e6
        );
    }
    let qps = (total - *last_total) / REPORT_EVERY.as_secs_f64();
    *last_total = total;
    println!("{line} | {qps:>9.0} queries/s");
    Ok(())
}

fn run(args: Args) -> Result<(), MonitoringError> {
    let mut config = MonitoringConfig::load(args.config.as_deref())?;
    if let Some(port) = args.port {
        config.prometheus_config.port = port;
        config.validate()?;
    }
    let monitor = Arc::new(Monitor::new(config)?);
    monitor.start()?;
    if let Some(exporter) = monitor.exporter() {
        let addr = exporter
            .local_addr()
            .expect("a started exporter has an address");
        println!(
            "serving {} and http://{addr}/health, /livez, /readyz",
            exporter.metrics_url().unwrap_or_default()
        );
    }
    let keys = monitor
        .registry()
        .gauge("kotoba_db_keys", "Keys in the store.", &[])?;

    let store: Arc<Store> = Arc::new(RwLock::new(
        (0..KEYS / 2)
            .map(|k| (k * 2, k.to_le_bytes().repeat(8)))
            .collect(),
    ));
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
        "monitored_db: {WORKERS} workers on a {KEYS}-key store; {} (Ctrl-C stops)",
        match args.seconds {
            0 => "running until interrupted".to_owned(),
            n => format!("running for {n} s"),
        }
    );
    let started = Instant::now();
    let mut last_total = 0.0;
    let mut next_report = started + REPORT_EVERY;
    while running.load(Ordering::Relaxed) {
        if args.seconds > 0 && started.elapsed() >= Duration::from_secs(args.seconds) {
            running.store(false, Ordering::Relaxed);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if Instant::now() >= next_report {
            keys.set(store.read().len() as f64);
            report(&monitor, started.elapsed(), &mut last_total)?;
            next_report += REPORT_EVERY;
        }
    }
    for w in workers {
        match w.join() {
            Ok(result) => result?,
            Err(_) => eprintln!("a worker panicked"),
        }
    }
    monitor.stop()?;

    let history = monitor.collector().history();
    let now = OffsetDateTime::now_utc();
    let gets = monitor.collector().get_metrics(
        "kotoba_db_query_latency_seconds_count",
        now - Duration::from_secs(3600),
        now,
    )?;
    println!(
        "stopped cleanly; history holds {} points in {} series ({} latency-count points)",
        history.point_count(),
        history.series_count(),
        gets.len()
    );
    Ok(())
}

fn main() -> ExitCode {
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
