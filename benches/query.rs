//! PromQL over the history, measured beside a real Prometheus holding the same samples.
//!
//! Run with `cargo bench --bench query` (add `-- --quick` for fewer rounds). Needs Debian's
//! `prometheus` (2.42) on the PATH for its column; without it that column is left empty.
//!
//! The data: an hour of samples every 15 s (240 per series), ending now, for
//! `bench_small_total` (1,000 counter series), `bench_large_total` (10,000) and
//! `bench_latency_seconds_bucket` (100 histograms of 12 buckets: 1,200 series), each counter
//! series labelled with one of ten `op`s and its own `instance`. Ours is loaded into a
//! monitor's history; Prometheus gets the same samples through its remote-write receiver
//! (`--web.enable-remote-write-receiver`, protobuf and snappy as Prometheus sends them).
//!
//! Each query is evaluated at the last sample's time: by us in-process
//! (`HistoryStore::query`), by us over our `/api/v1/query`, and by Prometheus over its own,
//! both through the same plain HTTP client on 127.0.0.1. Figures are medians in
//! milliseconds; each query's results are compared between us and Prometheus (same series,
//! values within 1e-9 relative: the order of a sum may differ).

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kotoba_monitoring::{
    LabelSet, MetricsCollector, MonitoringConfig, PrometheusConfig, PrometheusExporter, QueryValue,
};
use serde_json::Value;
use time::OffsetDateTime;

const STEP_S: i64 = 15;
const POINTS: i64 = 240;
const BUCKETS: [&str; 12] = [
    "0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "+Inf",
];

/// One series: its labels (the name as `__name__`, sorted) and its samples (ms, value).
struct Series {
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
}

/// The data set, ending at `end_ms`.
fn data(end_ms: i64) -> Vec<Series> {
    let times: Vec<i64> = (0..POINTS)
        .map(|i| end_ms - (POINTS - 1 - i) * STEP_S * 1000)
        .collect();
    let mut out = Vec::new();
    for (name, count) in [("bench_small_total", 1_000), ("bench_large_total", 10_000)] {
        for i in 0..count {
            // Counters at rates 1..=50 per second, one reset an hour for a tenth of them.
            let rate = (1 + i % 50) as f64;
            let samples = times
                .iter()
                .enumerate()
                .map(|(k, &t)| {
                    let k = if i % 10 == 0 && k >= 120 { k - 120 } else { k };
                    (t, rate * STEP_S as f64 * k as f64)
                })
                .collect();
            out.push(Series {
                labels: vec![
                    ("__name__".into(), name.into()),
                    ("instance".into(), format!("i{i}")),
                    ("op".into(), format!("op{}", i % 10)),
                ],
                samples,
            });
        }
    }
    for h in 0..100 {
        let per_second = (10 + h) as f64;
        for (b, le) in BUCKETS.iter().enumerate() {
            // The share of observations under each bound, as a latency spread over decades.
            let share = ((b + 1) as f64 / BUCKETS.len() as f64).powf(0.5);
            let samples = times
                .iter()
                .enumerate()
                .map(|(k, &t)| (t, (per_second * share * STEP_S as f64 * k as f64).floor()))
                .collect();
            out.push(Series {
                labels: vec![
                    ("__name__".into(), "bench_latency_seconds_bucket".into()),
                    ("instance".into(), format!("h{h}")),
                    ("le".into(), (*le).into()),
                ],
                samples,
            });
        }
    }
    out
}

/// A monitor's exporter whose history holds `data`.
fn ours(data: &[Series]) -> PrometheusExporter {
    let config = MonitoringConfig {
        retention_period: Duration::from_secs(2 * 3600),
        ..Default::default()
    };
    let collector = Arc::new(MetricsCollector::standalone(config).unwrap());
    for name in [
        "bench_small_total",
        "bench_large_total",
        "bench_latency_seconds_bucket",
    ] {
        load_history(collector.history(), data, name);
    }
    let exporter = PrometheusExporter::new(
        collector,
        PrometheusConfig {
            address: "127.0.0.1".into(),
            port: 0,
            ..Default::default()
        },
    )
    .unwrap();
    exporter.start().unwrap();
    exporter
}

/// A Prometheus server with the remote-write receiver, stopped and its data removed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
        // A free port: taken and given back (a bench, not a test).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--query.max-samples=100000000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let prometheus = Prometheus {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if http(prometheus.addr, "GET", "/-/ready", &[], &[]).is_some_and(|(s, _)| s == 200) {
                return Some(prometheus);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Sends `data` through remote write, 200 series a request.
    fn load(&self, data: &[Series]) {
        for chunk in data.chunks(200) {
            let body = snap::raw::Encoder::new()
                .compress_vec(&write_request(chunk))
                .unwrap();
            let headers = [
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ];
            let (status, reply) =
                http(self.addr, "POST", "/api/v1/write", &headers, &body).expect("remote write");
            assert!(
                status == 204 || status == 200,
                "remote write: {status} {}",
                String::from_utf8_lossy(&reply)
            );
        }
    }
}

/// Protobuf varint.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field `field` holding `bytes`.
fn field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// `prometheus.WriteRequest` of `series` (labels sorted by name, as Prometheus wants them).
fn write_request(series: &[Series]) -> Vec<u8> {
    let mut request = Vec::new();
    for s in series {
        let mut ts = Vec::new();
        for (name, value) in &s.labels {
            let mut label = Vec::new();
            field(&mut label, 1, name.as_bytes());
            field(&mut label, 2, value.as_bytes());
            field(&mut ts, 1, &label);
        }
        for &(t, v) in &s.samples {
            let mut sample = Vec::new();
            varint(&mut sample, 1 << 3 | 1);
            sample.extend_from_slice(&v.to_le_bytes());
            varint(&mut sample, 2 << 3);
            varint(&mut sample, t as u64);
            field(&mut ts, 2, &sample);
        }
        field(&mut request, 1, &ts);
    }
    request
}

/// One HTTP/1.1 exchange with `Connection: close`: the status and the (unchunked) body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let mut rest = &raw[end + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return Some((status, rest.to_vec()));
    }
    let mut body = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..eol]).ok()?.trim(), 16).ok()?;
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 4 + size..];
    }
    Some((status, body))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query over HTTP at `at_s`: the result as label set → value.
fn query_http(addr: SocketAddr, expr: &str, at_s: f64) -> BTreeMap<String, f64> {
    let path = format!("/api/v1/query?query={}&time={at_s}", encode(expr));
    let (status, body) = http(addr, "GET", &path, &[], &[]).expect("query");
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(status, 200, "{expr}: {v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let value: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
            (s["metric"].to_string(), value)
        })
        .collect()
}

/// The median of `rounds` runs of `f`, in milliseconds.
fn median_ms(rounds: usize, mut f: impl FnMut()) -> f64 {
    support::median_us(rounds, || {
        f();
        0
    }) / 1000.0
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 3 } else { 9 };
    let now_ms = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let end_ms = now_ms - now_ms % (STEP_S * 1000);
    let data = data(end_ms);
    let samples: usize = data.iter().map(|s| s.samples.len()).sum();
    eprintln!("loading {} series, {samples} samples", data.len());
    let exporter = ours(&data);
    let our_addr = exporter.local_addr().unwrap();
    let prometheus = Prometheus::start();
    match &prometheus {
        Some(p) => p.load(&data),
        None => eprintln!("prometheus not found or not ready: its column stays empty"),
    }
    let history = exporter.collector().history().clone();
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(end_ms) * 1_000_000).unwrap();
    let at_s = end_ms as f64 / 1000.0;

    println!("| query | series read | ours in-process (ms) | ours over HTTP (ms) | Prometheus 2.42 over HTTP (ms) | same result |");
    println!("|---|---|---|---|---|---|");
    for (expr, read) in [
        ("rate(bench_small_total[5m])", "1,000"),
        ("sum by (op) (rate(bench_small_total[5m]))", "1,000"),
        ("rate(bench_large_total[5m])", "10,000"),
        ("sum by (op) (rate(bench_large_total[5m]))", "10,000"),
        (
            "histogram_quantile(0.99, sum by (le) (rate(bench_latency_seconds_bucket[5m])))",
            "1,200 (100 histograms)",
        ),
    ] {
        let in_process = median_ms(rounds, || {
            let QueryValue::Vector(v) = history.query(expr, at).unwrap() else {
                panic!("{expr}: not a vector")
            };
            assert!(!v.is_empty(), "{expr}: empty");
        });
        let over_http = median_ms(rounds, || {
            query_http(our_addr, expr, at_s);
        });
        let (theirs, same) = match &prometheus {
            Some(p) => {
                let ms = median_ms(rounds, || {
                    query_http(p.addr, expr, at_s);
                });
                let a = query_http(our_addr, expr, at_s);
                let b = query_http(p.addr, expr, at_s);
                let same = a.len() == b.len()
                    && a.iter().zip(&b).all(|((la, va), (lb, vb))| {
                        la == lb && (va - vb).abs() <= 1e-9 * va.abs().max(vb.abs())
                    });
                (format!("{ms:.1}"), if same { "yes" } else { "NO" })
            }
            None => (String::new(), ""),
        };
        println!("| `{expr}` | {read} | {in_process:.1} | {over_http:.1} | {theirs} | {same} |");
    }
    drop(prometheus);
    exporter.stop().unwrap();
    rule_costs(&data, rounds);
}

/// Rules evaluated by a monitor's `kotoba-alert` thread over the 10,000 series, each alone
/// in a group evaluated every 200 ms: the median of its group's evaluation times, as
/// `kotoba_monitoring_rule_group_last_duration_seconds` reports them.
fn rule_costs(data: &[Series], rounds: usize) {
    println!();
    println!("| rule over 10,000 series | output | ms per evaluation |");
    println!("|---|---|---|");
    for (kind, expr, output) in [
        (
            "record",
            "sum by (op) (rate(bench_large_total[5m]))",
            "10 series",
        ),
        (
            "alert",
            "sum by (op) (rate(bench_large_total[5m])) > 0",
            "10 alerts",
        ),
        ("alert", "rate(bench_large_total[5m]) > 0", "10,000 alerts"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.yml");
        std::fs::write(
            &path,
            format!(
                "groups:\n  - name: bench\n    interval: 200ms\n    rules:\n      - {kind}: bench_rule\n        expr: '{expr}'\n"
            ),
        )
        .unwrap();
        let mut config = MonitoringConfig {
            enable_health_checks: false,
            collection_interval: Duration::from_secs(3600),
            retention_period: Duration::from_secs(2 * 3600),
            ..Default::default()
        };
        config.prometheus_config.enabled = false;
        config.alerting_config.enabled = true;
        config.alerting_config.rule_files = vec![path];
        let monitor = kotoba_monitoring::Monitor::new(config).unwrap();
        load_history(monitor.collector().history(), data, "bench_large_total");
        let labels = [("rule_group", "bench")];
        let registry = monitor.registry();
        let took = registry
            .gauge(
                "kotoba_monitoring_rule_group_last_duration_seconds",
                "",
                &labels,
            )
            .unwrap();
        let evaluations = registry
            .counter("kotoba_monitoring_rule_evaluations_total", "", &labels)
            .unwrap();
        monitor.start().unwrap();
        let mut times = Vec::new();
        let mut seen = evaluations.get();
        let deadline = Instant::now() + Duration::from_secs(120);
        while times.len() < rounds + 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            let now = evaluations.get();
            if now > seen {
                seen = now;
                times.push(took.get() * 1000.0);
            }
        }
        monitor.stop().unwrap();
        assert!(
            monitor.rule_errors().is_empty(),
            "{:?}",
            monitor.rule_errors()
        );
        // The first evaluation warms up; the median of the rest.
        let mut rest = times.split_off(1.min(times.len()));
        rest.sort_by(f64::total_cmp);
        let median = rest.get(rest.len() / 2).copied().unwrap_or(f64::NAN);
        println!("| `{kind}: {expr}` | {output} | {median:.1} |");
    }
}

/// Appends the samples of the series named `name` in `data` to `history`.
fn load_history(history: &kotoba_monitoring::HistoryStore, data: &[Series], name: &str) {
    for series in data.iter().filter(|s| s.labels[0].1 == name) {
        let pairs: Vec<(&str, &str)> = series.labels[1..]
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let labels = LabelSet::new(name, &pairs).unwrap();
        for &(t, v) in &series.samples {
            let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000_000).unwrap();
            history.append(name, &labels, at, v);
        }
    }
}
