//! Remote write against real receivers: how fast an hour of 10,000 series is shipped from
//! the history (a receiver back after an outage, or a new endpoint), and how far behind a
//! live monitor's samples reach the receiver with the default `batch_send_deadline`.
//!
//! Run with `cargo bench --bench remote_write` (`-- --quick` for a tenth of the series and a
//! shorter live run). It needs `prometheus` (Debian's `prometheus`, run with
//! `--web.enable-remote-write-receiver`) and `victoria-metrics` on PATH; a receiver that is
//! missing is skipped, and said so.
//!
//! - Catch-up: a monitor started on a storage folder holding an hour of 15 s samples, not
//!   collecting, with one endpoint; the time until its position passes the newest sample.
//! - Lag: a monitor collecting every second, 1,000 counters rising, for 30 s (10 with
//!   `--quick`); `now - sent_until` read every 100 ms, as `time() -
//!   kotoba_monitoring_remote_highest_sent_timestamp_seconds` would show it.

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kotoba_monitoring::{LabelSet, MetricsCollector, Monitor, MonitoringConfig, RemoteWriteConfig};
use time::OffsetDateTime;

const TICKS: u64 = 240;

/// A receiver run for the bench, killed and its data removed on drop.
struct Receiver {
    name: &'static str,
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    fn start(name: &'static str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        // A free port: taken and given back (a bench, not a test).
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let data = dir.path().join("data");
        let mut command = match name {
            "prometheus" => {
                let config = dir.path().join("prometheus.yml");
                std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
                let mut c = Command::new("prometheus");
                c.arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.tsdb.path={}", data.display()))
                    .arg(format!("--web.listen-address={addr}"))
                    .arg("--web.enable-remote-write-receiver");
                c
            }
            _ => {
                let mut c = Command::new("victoria-metrics");
                c.arg(format!("-storageDataPath={}", data.display()))
                    .arg(format!("-httpListenAddr={addr}"))
                    .arg("-retentionPeriod=1d");
                c
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let receiver = Receiver {
            name,
            child,
            url: format!("http://{addr}/api/v1/write"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(addr).is_ok() {
                std::thread::sleep(Duration::from_millis(500));
                return Some(receiver);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

fn config(folder: &std::path::Path) -> MonitoringConfig {
    let mut config = MonitoringConfig {
        retention_period: Duration::from_secs(7200),
        max_series_per_metric: 1_000_000,
        max_total_series: 1_000_000,
        enable_health_checks: false,
        ..MonitoringConfig::default()
    };
    config.prometheus_config.enabled = false;
    config.storage.path = Some(folder.to_owned());
    config
}

/// Fills `folder` with an hour of `series` counters at 15 s; returns the newest time.
fn hour_of_history(folder: &std::path::Path, series: usize) -> OffsetDateTime {
    let collector = MetricsCollector::standalone(config(folder)).unwrap();
    let labels: Vec<LabelSet> = (0..series)
        .map(|i| LabelSet::new("bench_value_total", &[("id", &i.to_string())]).unwrap())
        .collect();
    // Ending a tick ago, so that the whole hour is behind the history's horizon.
    let start = OffsetDateTime::now_utc() - Duration::from_secs(15 * TICKS);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for step in 0..TICKS {
        let at = start + Duration::from_secs(15 * step);
        for (i, l) in labels.iter().enumerate() {
            support::xorshift(&mut x);
            let value = (step * 100 + (x % 50) + i as u64) as f64;
            collector
                .history()
                .append("bench_value_total", l, at, value);
        }
    }
    collector.sync_storage().unwrap();
    start + Duration::from_secs(15 * (TICKS - 1))
}

/// Seconds to ship the hour in `folder` to `receiver`.
fn catch_up(folder: &std::path::Path, receiver: &Receiver, newest: OffsetDateTime) -> f64 {
    let mut c = config(folder);
    c.enable_metrics = false;
    c.remote_write = vec![RemoteWriteConfig {
        url: receiver.url.clone(),
        name: Some(receiver.name.to_owned()),
        ..RemoteWriteConfig::default()
    }];
    let monitor = Monitor::new(c).unwrap();
    let began = Instant::now();
    monitor.start().unwrap();
    loop {
        let status = &monitor.remote_write_status()[0];
        if status.sent_until.is_some_and(|t| t >= newest) {
            break;
        }
        if began.elapsed() > Duration::from_secs(600) {
            panic!("{} did not catch up: {status:?}", receiver.name);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = began.elapsed().as_secs_f64();
    monitor.stop().unwrap();
    took
}

/// `now - sent_until` over a live run, in seconds: (median, p99, max).
fn lag(receiver: &Receiver, seconds: u64) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.collection_interval = Duration::from_secs(1);
    c.remote_write = vec![RemoteWriteConfig {
        url: receiver.url.clone(),
        name: Some(receiver.name.to_owned()),
        ..RemoteWriteConfig::default()
    }];
    let monitor = Monitor::new(c).unwrap();
    let family = monitor
        .registry()
        .counter_family("bench_queries_total", "Queries.")
        .unwrap();
    let counters: Vec<_> = (0..1000)
        .map(|i| family.with_labels(&[("id", &i.to_string())]).unwrap())
        .collect();
    monitor.start().unwrap();
    let began = Instant::now();
    let mut lags = Vec::new();
    while began.elapsed() < Duration::from_secs(seconds) {
        for (i, c) in counters.iter().enumerate() {
            c.inc_by(i as u64 % 3);
        }
        std::thread::sleep(Duration::from_millis(100));
        // From the second round on, once it has sent something.
        if began.elapsed() < Duration::from_secs(6) {
            continue;
        }
        if let Some(until) = monitor.remote_write_status()[0].sent_until {
            lags.push((OffsetDateTime::now_utc() - until).as_seconds_f64());
        }
    }
    monitor.stop().unwrap();
    lags.sort_by(f64::total_cmp);
    let at = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), at(1.0))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let series = if quick { 1_000 } else { 10_000 };
    let live = if quick { 10 } else { 30 };
    let dir = tempfile::tempdir().unwrap();
    let newest = hour_of_history(dir.path(), series);
    let samples = (series as u64 * TICKS) as f64;
    println!("| receiver | catch-up, {series} series × {TICKS} samples, s | samples/s | lag median, s | lag p99, s | lag max, s |");
    println!("|---|---|---|---|---|---|");
    for name in ["prometheus", "victoria-metrics"] {
        let Some(receiver) = Receiver::start(name) else {
            eprintln!("skipped {name}: not installed or not starting");
            continue;
        };
        let took = catch_up(dir.path(), &receiver, newest);
        let (median, p99, max) = lag(&receiver, live);
        println!(
            "| {name} | {took:.2} | {:.0} | {median:.1} | {p99:.1} | {max:.1} |",
            samples / took
        );
    }
}
