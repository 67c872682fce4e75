//! Exemplars and the slow-query log, from a query served under a trace to the trace id where
//! a user looks for it: our OpenMetrics exposition (checked by the Python `prometheus_client`
//! OpenMetrics parser, Debian's `python3-prometheus-client`), our `/api/v1/query_exemplars`,
//! and a real Prometheus 2.42 run with `--enable-feature=exemplar-storage` that scraped us.
//! Those peers are installed by `.ci/run`; without them their tests show as ignored, and fail
//! under `CI`.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{get, wait_for, PrometheusServer};
use kotoba_monitoring::{
    ExemplarSelection, Monitor, MonitoringConfig, QueryOperation, TraceContext,
};
use serde_json::Value;

fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let python_parser = Command::new("/usr/bin/python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let local = |name: &'static str, body: fn()| {
        libtest_mimic::Trial::test(name, move || {
            std::panic::catch_unwind(body).map_err(|_| format!("{name} failed").into())
        })
    };
    let tests = vec![
        local(
            "slow_queries_keep_their_trace_as_exemplar_and_in_the_log",
            slow_queries_keep_their_trace_as_exemplar_and_in_the_log,
        ),
        common::peer_test_missing(
            "the_openmetrics_parser_takes_every_exemplar",
            if python_parser {
                Vec::new()
            } else {
                vec!["python3-prometheus-client".to_owned()]
            },
            "apt-get install -y python3-prometheus-client",
            the_openmetrics_parser_takes_every_exemplar,
        ),
        common::peer_test(
            "remote_write_sends_every_exemplar_the_history_kept",
            &["prometheus"],
            "apt-get install -y prometheus",
            remote_write_sends_every_exemplar_the_history_kept,
        ),
        common::peer_test(
            "a_real_prometheus_returns_our_exemplars_trace_ids_intact",
            &["prometheus"],
            "apt-get install -y prometheus",
            a_real_prometheus_returns_our_exemplars_trace_ids_intact,
        ),
    ];
    libtest_mimic::run(&args, tests).exit_code()
}

/// A scrape in OpenMetrics, as Prometheus asks for it.
fn openmetrics(addr: std::net::SocketAddr) -> String {
    common::request(
        addr,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    )
    .text()
}

fn config() -> MonitoringConfig {
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(200),
        ..MonitoringConfig::default()
    };
    config.prometheus_config.address = "127.0.0.1".into();
    config.prometheus_config.port = 0;
    config
}

/// A trace id of our own: 16 bytes from a counter and the process id, never all zeros.
fn trace(n: u64) -> TraceContext {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(n + 1).to_be_bytes());
    id[8..12].copy_from_slice(&std::process::id().to_be_bytes());
    TraceContext::new(id, (n + 7).to_be_bytes(), true).unwrap()
}

/// Serves queries on a thread until dropped, each under a trace of its own: one slow (over
/// the 1 ms threshold) every `slow_every`, the others fast.
struct Workload {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Workload {
    fn start(ops: Vec<QueryOperation>, slow_every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let running = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            let mut last_slow = std::time::Instant::now();
            while !running.load(Ordering::SeqCst) {
                n += 1;
                let _serving = trace(n).enter();
                let op = &ops[(n % ops.len() as u64) as usize];
                let took = if last_slow.elapsed() >= slow_every {
                    last_slow = std::time::Instant::now();
                    Duration::from_micros(1500 + (n % 7) * 400)
                } else {
                    Duration::from_micros(100)
                };
                op.record(took, true);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        Workload {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn slow_queries_keep_their_trace_as_exemplar_and_in_the_log() {
    let monitor = Monitor::new(config()).unwrap();
    let queries = monitor.collector().queries();
    queries.set_slow_threshold(Duration::from_millis(1));
    let get_op = queries.operation("get").unwrap();
    monitor.start().unwrap();
    let slow = trace(1000);
    {
        let _serving = slow.enter();
        let mut timer = get_op.start();
        timer.set_statement("SELECT v FROM kv WHERE k = ?");
        std::thread::sleep(Duration::from_millis(3));
    }
    {
        // Fast: no exemplar under the default selection, no log entry.
        let _serving = trace(2000).enter();
        get_op.record(Duration::from_micros(10), true);
    }
    // A trace that is not sampled keeps no exemplar, but the slow query is logged with it.
    let unsampled = TraceContext::new([5; 16], [6; 8], false).unwrap();
    get_op.record_traced(Duration::from_millis(2), false, Some(unsampled), None);
    let log = monitor.collector().slow_queries();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].trace, Some(unsampled));
    assert!(log[0].failed);
    assert_eq!(log[1].trace, Some(slow));
    assert_eq!(
        log[1].statement.as_deref(),
        Some("SELECT v FROM kv WHERE k = ?")
    );
    assert!(log[1].duration >= Duration::from_millis(3));
    let addr = monitor.local_addr().unwrap();
    let served: Value = serde_json::from_slice(&get(addr, "/api/v1/slow_queries").body).unwrap();
    assert_eq!(served["data"][1]["traceId"], slow.trace_id());
    assert_eq!(served["data"][1]["operation"], "get");
    // The exposition carries the slow one's exemplar, OpenMetrics only.
    let om = openmetrics(addr);
    let lines: Vec<&str> = om.lines().filter(|l| l.contains(" # {")).collect();
    assert_eq!(lines.len(), 1, "{om}");
    assert!(lines[0].starts_with("kotoba_db_query_latency_seconds_bucket{"));
    assert!(lines[0].contains(&format!("trace_id=\"{}\"", slow.trace_id())));
    let text = get(addr, "/metrics?format=text").text();
    assert!(!text.contains("trace_id"));
    // The history keeps it too: our /api/v1/query_exemplars finds it by the series.
    let found = wait_for(
        "the exemplar in the history",
        Duration::from_secs(30),
        || {
            let reply = get(
            addr,
            "/api/v1/query_exemplars?query=histogram_quantile(0.99,rate(kotoba_db_query_latency_seconds_bucket[1m]))",
        );
            let v: Value = serde_json::from_slice(&reply.body).unwrap();
            let data = v["data"].as_array().cloned().unwrap_or_default();
            (!data.is_empty()).then_some(data)
        },
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0]["seriesLabels"]["__name__"],
        "kotoba_db_query_latency_seconds_bucket"
    );
    assert_eq!(found[0]["seriesLabels"]["operation"], "get");
    assert_eq!(
        found[0]["exemplars"][0]["labels"]["trace_id"],
        slow.trace_id()
    );
    let bad = get(addr, "/api/v1/query_exemplars?query=rate(x[5m]");
    assert_eq!(bad.status, 400);
    monitor.stop().unwrap();
}

fn the_openmetrics_parser_takes_every_exemplar() {
    let mut c = config();
    c.exemplars.keep = ExemplarSelection::All;
    let monitor = Monitor::new(c).unwrap();
    let queries = monitor.collector().queries();
    queries.set_slow_threshold(Duration::from_millis(1));
    let ops = ["get", "put", "scan"]
        .iter()
        .map(|o| queries.operation(o).unwrap())
        .collect();
    // Exemplars on a histogram of the user's own, with labels the parser must take.
    let h = monitor
        .registry()
        .histogram(
            "app_rpc_seconds",
            "RPC latency.",
            &[("method", "Get\"Value")],
        )
        .unwrap();
    h.observe_with_exemplar(0.25, &[("trace_id", "a\"b\\c"), ("user", "ünï")])
        .unwrap();
    monitor.start().unwrap();
    let workload = Workload::start(ops, Duration::ZERO);
    let addr = monitor.local_addr().unwrap();
    let om = wait_for("exemplars in the scrape", Duration::from_secs(30), || {
        let om = openmetrics(addr);
        (om.matches(" # {").count() >= 6).then_some(om)
    });
    drop(workload);
    monitor.stop().unwrap();
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
n = 0
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        if sample.exemplar is not None:
            n += 1
print(n)
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(om.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the scrape: {}\n{om}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(parsed, om.matches(" # {").count());
}

/// Each exemplar of a `/api/v1/query_exemplars` answer as one line: its series' labels (but
/// the `job` and `instance` a scrape adds), trace, span, value and time.
fn flatten(data: &[Value]) -> BTreeSet<String> {
    let key = |series: &Value, e: &Value| {
        let mut labels: Vec<String> = series
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "job" && *k != "instance")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        labels.sort();
        format!(
            "{} {} {} {} {}",
            labels.join(","),
            e["labels"]["trace_id"],
            e["labels"]["span_id"],
            e["value"],
            e["timestamp"]
        )
    };
    data.iter()
        .flat_map(|s| {
            s["exemplars"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| key(&s["seriesLabels"], e))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn exemplars_at(addr: std::net::SocketAddr, query: &str) -> Vec<Value> {
    let reply = get(addr, query);
    let v: Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    v["data"].as_array().cloned().unwrap_or_default()
}

fn remote_write_sends_every_exemplar_the_history_kept() {
    let prometheus = PrometheusServer::start_with(
        "global:\n  scrape_interval: 1m\n",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
        ],
    );
    let mut c = config();
    c.exemplars.keep = ExemplarSelection::All;
    c.remote_write.push(kotoba_monitoring::RemoteWriteConfig {
        url: format!("http://{}/api/v1/write", prometheus.addr),
        send_exemplars: true,
        queue_config: kotoba_monitoring::QueueConfig {
            batch_send_deadline: Duration::from_millis(200),
            ..Default::default()
        },
        ..Default::default()
    });
    let monitor = Monitor::new(c).unwrap();
    let queries = monitor.collector().queries();
    let ops = vec![queries.operation("get").unwrap()];
    monitor.start().unwrap();
    let workload = Workload::start(ops, Duration::from_millis(50));
    std::thread::sleep(Duration::from_secs(3));
    drop(workload);
    let stopped = time::OffsetDateTime::now_utc();
    wait_for("everything sent", Duration::from_secs(60), || {
        monitor.remote_write_status()[0]
            .sent_until
            .filter(|&t| t > stopped + Duration::from_millis(500))
    });
    let query = "/api/v1/query_exemplars?query=kotoba_db_query_latency_seconds_bucket";
    let ours = flatten(&exemplars_at(monitor.local_addr().unwrap(), query));
    monitor.stop().unwrap();
    let theirs = flatten(&exemplars_at(prometheus.addr, query));
    assert!(ours.len() >= 5, "{ours:#?}");
    assert_eq!(theirs, ours);
}

fn a_real_prometheus_returns_our_exemplars_trace_ids_intact() {
    let monitor = Monitor::new(config()).unwrap();
    let queries = monitor.collector().queries();
    queries.set_slow_threshold(Duration::from_millis(1));
    let ops = ["get", "put"]
        .iter()
        .map(|o| queries.operation(o).unwrap())
        .collect();
    monitor.start().unwrap();
    // Each exemplar stays its bucket's newest for longer than a scrape interval, so that
    // Prometheus's scrapes (every second) and our collection ticks (every 200 ms), each of
    // which keeps the exemplars it finds, both see every one.
    let workload = Workload::start(ops, Duration::from_millis(1300));
    let addr = monitor.local_addr().unwrap();
    let prometheus = PrometheusServer::start_with(
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: kotoba\n    static_configs: [{{targets: [\"{addr}\"]}}]\n"
        ),
        &["--enable-feature=exemplar-storage"],
    );
    let query = "/api/v1/query_exemplars?query=kotoba_db_query_latency_seconds_bucket";
    let theirs = wait_for(
        "Prometheus to hold exemplars",
        Duration::from_secs(60),
        || {
            let reply = get(prometheus.addr, query);
            let v: Value = serde_json::from_slice(&reply.body).ok()?;
            let data = v["data"].as_array().cloned().unwrap_or_default();
            let count: usize = data
                .iter()
                .map(|s| s["exemplars"].as_array().map_or(0, Vec::len))
                .sum();
            (count >= 3).then_some(data)
        },
    );
    drop(workload);
    // Ours, after the last tick: every exemplar Prometheus returns is one we hold, the
    // same trace, span, value and time, on the same series (Prometheus adds job, instance).
    std::thread::sleep(Duration::from_millis(500));
    let ours: Value = serde_json::from_slice(&get(addr, query).body).unwrap();
    monitor.stop().unwrap();
    let trace_ids: BTreeSet<String> = theirs
        .iter()
        .flat_map(|s| s["exemplars"].as_array().unwrap().clone())
        .map(|e| e["labels"]["trace_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        trace_ids
            .iter()
            .all(|t| t.len() == 32 && t.ends_with("00000000")),
        "{trace_ids:?}"
    );
    let theirs = flatten(&theirs);
    let ours = flatten(ours["data"].as_array().unwrap());
    for exemplar in &theirs {
        assert!(
            ours.contains(exemplar),
            "{exemplar} is not ours:\n{ours:#?}"
        );
    }
}
