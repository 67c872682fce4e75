//! Our output against the real peers: `promtool check metrics` on the Prometheus text format,
//! a real Prometheus server scraping us in both formats, and a monitor's history and
//! metadata against what that Prometheus scraped from it.
//!
//! These need Debian's `prometheus` package (`.ci/run` installs it). Without it they show as
//! ignored in the summary, with the reason; with `CI` set they fail instead.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{exporter, get, peer_test, request, wait_for, wait_listening, which};
use kotoba_monitoring::{HistogramOpts, PrometheusExporter};
use serde_json::Value;

const INSTALL: &str = "apt-get install -y prometheus";

fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let tests = vec![
        peer_test(
            "promtool_accepts_the_text_format",
            &["promtool"],
            INSTALL,
            promtool_accepts_the_text_format,
        ),
        peer_test(
            "promtool_queries_our_api",
            &["promtool"],
            INSTALL,
            promtool_queries_our_api,
        ),
        peer_test(
            "a_real_prometheus_scrapes_both_formats_exactly",
            &["prometheus"],
            INSTALL,
            a_real_prometheus_scrapes_both_formats_exactly,
        ),
        peer_test(
            "our_history_and_metadata_are_what_prometheus_scraped",
            &["prometheus", "promtool"],
            INSTALL,
            our_history_and_metadata_are_what_prometheus_scraped,
        ),
    ];
    libtest_mimic::run(&args, tests).exit_code()
}

/// The peer `name`, which [`peer_test`] has checked is installed.
fn require(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| panic!("{name} is not installed"))
}

/// Label values and HELP that must survive: quotes, backslashes, newlines, non-ASCII.
const TRICKY: &str = "say \"hi\" \\ back\\slash\nnew line, 日本語 ü";

/// An exporter holding one of everything, with known values.
fn loaded_exporter() -> PrometheusExporter {
    let e = exporter(|c| {
        c.global_labels
            .insert("cluster".into(), "test \"east\"".into());
    });
    let r = e.collector().registry();
    r.counter("kotoba_db_queries_total", "", &[("op", "get")])
        .unwrap()
        .inc_by(12_345);
    r.counter("kotoba_db_queries_total", "", &[("op", TRICKY)])
        .unwrap()
        .inc_by(7);
    r.counter("interop_big_total", "A counter past 2^32.", &[])
        .unwrap()
        .inc_by(5_000_000_000);
    r.gauge("interop_tricky_help", TRICKY, &[])
        .unwrap()
        .set(-2.5);
    r.gauge("kotoba_db_storage_used_bytes", "", &[])
        .unwrap()
        .set(1_048_576.0);
    let h = r
        .histogram_family_with(
            "kotoba_db_query_latency_seconds",
            "",
            HistogramOpts::latency().buckets([0.001, 0.01, 0.1]),
        )
        .unwrap()
        .with_labels(&[("op", "get")])
        .unwrap();
    for v in [0.0005, 0.002, 0.003, 0.05, 0.5] {
        h.observe(v);
    }
    // Pairs whose second name the first family already writes: each second one is refused,
    // so the scrape keeps one description per name.
    let clashes: [(&str, &str, &str); 7] = [
        ("counter", "clash_one", "clash_one_total"),
        ("counter", "clash_two_total", "clash_two"),
        ("histogram", "clash_three", "clash_three_count"),
        ("histogram", "clash_sixour", "clash_sixour_bucket"),
        ("histogram", "clash_sixive", "clash_sixive_sum"),
        ("histogram", "clash_six_seconds", "clash_six_window_seconds"),
        ("counter", "clash_seven", "clash_seven_created"),
    ];
    for (kind, first, second) in clashes {
        match kind {
            "counter" => r.counter(first, "", &[]).unwrap().inc(),
            _ => r.histogram(first, "", &[]).unwrap().observe(1.0),
        }
        let err = r.gauge(second, "", &[]).unwrap_err();
        assert!(
            matches!(err, kotoba_monitoring::MonitoringError::NameClash { .. }),
            "{second}: {err}"
        );
    }
    e
}

fn promtool_accepts_the_text_format() {
    let promtool = require("promtool");
    let e = loaded_exporter();
    // With the collector running, the system and process metrics are linted too.
    e.collector().start().unwrap();
    #[cfg(feature = "system")]
    wait_for("the system metrics", Duration::from_secs(30), || {
        e.collector()
            .registry()
            .metric_type("process_resident_memory_bytes")
    });
    let reply = get(e.local_addr().unwrap(), "/metrics");
    assert_eq!(reply.status, 200);
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&reply.body).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool: {said}\n---\n{}",
        reply.text()
    );
    assert!(said.trim().is_empty(), "promtool lint findings: {said}");
    e.collector().stop().unwrap();
}

/// A Prometheus server run for one test, killed and reaped on drop.
struct Prometheus {
    child: Child,
    api: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second, as job `om` (it negotiates
    /// OpenMetrics) and as job `text` (`?format=text`, the 0.0.4 format).
    fn start(binary: &Path, target: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: om
    static_configs: [{{targets: ["{target}"]}}]
  - job_name: text
    params: {{format: [text]}}
    static_configs: [{{targets: ["{target}"]}}]
"#
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut prometheus = Prometheus {
            child,
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
            _dir: dir,
        };
        let port = wait_listening("Prometheus", &mut prometheus.child);
        prometheus.api.set_port(port);
        prometheus
    }

    /// Runs an instant query; the result vector.
    fn query(&self, promql: &str) -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", common::url_encode(promql));
        let reply = get(self.api, &path);
        if reply.status != 200 {
            return Vec::new();
        }
        let v: Value = serde_json::from_slice(&reply.body).unwrap();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of `promql`, once it has one.
    fn value(&self, promql: &str) -> Option<String> {
        let result = self.query(promql);
        match result.as_slice() {
            [one] => one["value"][1].as_str().map(str::to_owned),
            _ => None,
        }
    }
}

fn a_real_prometheus_scrapes_both_formats_exactly() {
    let binary = require("prometheus");
    let e = loaded_exporter();
    let target = e.local_addr().unwrap();
    let prom = Prometheus::start(&binary, target);

    for job in ["om", "text"] {
        let up = wait_for(
            &format!("up{{job={job:?}}} == 1"),
            Duration::from_secs(90),
            || {
                prom.value(&format!("up{{job=\"{job}\"}}"))
                    .filter(|v| v == "1")
            },
        );
        assert_eq!(up, "1");
        let q = |promql: &str| {
            wait_for(promql, Duration::from_secs(30), || {
                prom.value(&promql.replace("JOB", job))
            })
        };
        // Counters exactly, including past 2^32; global labels on every series.
        assert_eq!(
            q("kotoba_db_queries_total{job=\"JOB\",op=\"get\",cluster=\"test \\\"east\\\"\"}"),
            "12345"
        );
        assert_eq!(q("interop_big_total{job=\"JOB\"}"), "5000000000");
        assert_eq!(q("interop_tricky_help{job=\"JOB\"}"), "-2.5");
        assert_eq!(q("kotoba_db_storage_used_bytes{job=\"JOB\"}"), "1048576");
        // Histogram: cumulative buckets, +Inf equal to the count.
        assert_eq!(
            q("kotoba_db_query_latency_seconds_bucket{job=\"JOB\",le=\"0.01\"}"),
            "3"
        );
        assert_eq!(
            q("kotoba_db_query_latency_seconds_bucket{job=\"JOB\",le=\"+Inf\"}"),
            "5"
        );
        assert_eq!(q("kotoba_db_query_latency_seconds_count{job=\"JOB\"}"), "5");
        // The window median of 0.5 ms, 2, 3, 50, 500 ms is 3 ms, within the histogram's 1%.
        let median: f64 = q("kotoba_db_query_latency_window_seconds{job=\"JOB\",q=\"0.5\"}")
            .parse()
            .unwrap();
        assert!((median - 0.003).abs() <= 0.003 * 0.01, "{median}");

        // The tricky label value comes back byte for byte.
        let tricky = prom.query(&format!(
            "kotoba_db_queries_total{{job=\"{job}\",op!=\"get\"}}"
        ));
        assert_eq!(tricky.len(), 1, "{tricky:?}");
        assert_eq!(tricky[0]["metric"]["op"], TRICKY);
        assert_eq!(tricky[0]["value"][1], "7");
    }

    // HELP survives too (Prometheus keeps it as metadata).
    let help = wait_for("metadata", Duration::from_secs(30), || {
        let reply = get(prom.api, "/api/v1/metadata?metric=interop_tricky_help");
        let v: Value = serde_json::from_slice(&reply.body).ok()?;
        let entries = v["data"]["interop_tricky_help"].as_array()?.clone();
        (!entries.is_empty()).then_some(entries)
    });
    assert!(
        help.iter().all(|m| m["help"] == TRICKY),
        "help came back as {help:?}"
    );

    // Both formats were really served.
    let ours = request(target, "GET", "/metrics?format=text", &[]).text();
    for format in ["openmetrics", "text"] {
        let line = ours
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "kotoba_monitoring_scrapes_total{{format=\"{format}\""
                ))
            })
            .unwrap_or_else(|| panic!("no scrape count for {format}"));
        let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(count >= 1.0, "{line}");
    }
    drop(prom);
    e.stop().unwrap();
}

/// `promtool query instant` and `query range`, Prometheus's own API client, pointed at our
/// `/api/v1/query` and `/api/v1/query_range`.
fn promtool_queries_our_api() {
    let promtool = require("promtool");
    let e = exporter(|_| {});
    let t0 = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    for (op, values) in [("get", [1.0, 4.0]), ("put", [10.0, 70.0])] {
        let labels = kotoba_monitoring::LabelSet::new("interop_jobs_total", &[("op", op)]).unwrap();
        for (i, v) in values.iter().enumerate() {
            e.collector().history().append(
                "interop_jobs_total",
                &labels,
                t0 + Duration::from_secs(60 * i as u64),
                *v,
            );
        }
    }
    let url = format!("http://{}", e.local_addr().unwrap());
    let run = |args: &[&str]| {
        let out = Command::new(&promtool)
            .arg("query")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool query {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Prometheus's extrapolated rates (promtool test rules gives the same over the same
    // samples), read back through Prometheus's own API client.
    let instant = run(&[
        "instant",
        "--time=1700000060",
        &url,
        "sum by (op) (rate(interop_jobs_total[2m]))",
    ]);
    assert_eq!(
        instant,
        "{op=\"get\"} => 0.033333333333333326 @[1700000060]\n{op=\"put\"} => 0.5833333333333334 @[1700000060]\n"
    );
    let range = run(&[
        "range",
        "--start=1700000000",
        "--end=1700000060",
        "--step=30s",
        &url,
        "sum(interop_jobs_total)",
    ]);
    assert_eq!(
        range,
        "{} =>\n11 @[1700000000]\n11 @[1700000030]\n74 @[1700000060]\n"
    );
    e.stop().unwrap();
}

/// The label sets (`job` and `instance` left out) of the series `api` lists for `selector`
/// with a sample in the last `seconds`, or `None` while it cannot answer.
fn series_set(
    api: SocketAddr,
    selector: &str,
    seconds: u64,
) -> Option<std::collections::BTreeSet<Vec<(String, String)>>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let path = format!(
        "/api/v1/series?match[]={}&start={}&end={}",
        common::url_encode(selector),
        now - seconds,
        now + 1
    );
    let reply = get(api, &path);
    if reply.status != 200 {
        return None;
    }
    let v: Value = serde_json::from_slice(&reply.body).ok()?;
    let mut set = std::collections::BTreeSet::new();
    for series in v["data"].as_array()? {
        let mut labels: Vec<(String, String)> = series
            .as_object()?
            .iter()
            .filter(|(k, _)| *k != "job" && *k != "instance")
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        labels.sort();
        set.insert(labels);
    }
    Some(set)
}

/// `/api/v1/metadata`'s data from `api`, or `None` while it cannot answer.
fn metadata(api: SocketAddr) -> Option<Value> {
    let reply = get(api, "/api/v1/metadata");
    let v: Value = serde_json::from_slice(&reply.body).ok()?;
    (reply.status == 200).then(|| v["data"].clone())
}

/// Prometheus's metadata of job `job`'s target, in `/api/v1/metadata`'s shape.
fn target_metadata(api: SocketAddr, job: &str) -> Option<Value> {
    let selector = common::url_encode(&format!("{{job=\"{job}\"}}"));
    let reply = get(
        api,
        &format!("/api/v1/targets/metadata?match_target={selector}"),
    );
    let v: Value = serde_json::from_slice(&reply.body).ok()?;
    let mut out = serde_json::Map::new();
    for entry in v["data"].as_array()? {
        let one = serde_json::json!({
            "type": entry["type"],
            "help": entry["help"],
            "unit": entry["unit"],
        });
        out.insert(
            entry["metric"].as_str()?.to_owned(),
            Value::Array(vec![one]),
        );
    }
    (reply.status == 200 && !out.is_empty()).then_some(Value::Object(out))
}

/// A monitor with a workload, scraped by a real Prometheus: the series its history holds
/// are the series Prometheus scraped, name for name and label for label, and its
/// `/api/v1/metadata` is Prometheus's; `promtool query instant` reads our API.
fn our_history_and_metadata_are_what_prometheus_scraped() {
    let binary = require("prometheus");
    let mut config = kotoba_monitoring::MonitoringConfig {
        collection_interval: Duration::from_millis(250),
        ..Default::default()
    };
    config.prometheus_config.address = "127.0.0.1".into();
    config.prometheus_config.port = 0;
    config
        .prometheus_config
        .global_labels
        .insert("cluster".into(), "east".into());
    let monitor = kotoba_monitoring::Monitor::new(config).unwrap();
    let c = monitor.collector();
    for (op, ms) in [("get", 2), ("put", 9), ("scan", 40)] {
        let timer = c.queries().operation(op).unwrap();
        for i in 1..=20 {
            timer.record(Duration::from_millis(ms * i), i % 7 != 0);
        }
    }
    let tables = c
        .registry()
        .gauge_family("app_table_rows", "Rows per table.")
        .unwrap();
    tables.with_labels(&[("table", "users")]).unwrap().set(42.0);
    tables.with_labels(&[("table", "orders")]).unwrap().set(7.0);
    c.registry()
        .counter(
            "app_evictions_total",
            "Cache evictions.",
            &[("cache", "pages")],
        )
        .unwrap()
        .inc_by(3);
    monitor.start().unwrap();
    let target = monitor.local_addr().unwrap();
    let prom = Prometheus::start(&binary, target);
    wait_for("up{job=\"om\"} == 1", Duration::from_secs(90), || {
        prom.value("up{job=\"om\"}").filter(|v| v == "1")
    });

    // The series sets over the last few seconds, once both have settled (a series our own
    // serving creates, such as a request counter, appears in both a scrape later).
    let scrape_series = ["up", "scrape_duration_seconds", "scrape_samples_scraped"];
    let mut last = (Default::default(), Default::default());
    let agreed = common::poll(Duration::from_secs(60), || {
        let theirs = series_set(prom.api, "{job=\"om\"}", 3)?;
        let ours = series_set(target, "{__name__=~\".+\"}", 3)?;
        let theirs: std::collections::BTreeSet<_> = theirs
            .into_iter()
            .filter(|labels| {
                let name = labels.iter().find(|(k, _)| k == "__name__").map(|(_, v)| v);
                !name.is_some_and(|n| {
                    scrape_series.contains(&n.as_str()) || n.starts_with("scrape_")
                })
            })
            .collect();
        let same = theirs == ours && ours.len() > 50;
        last = (theirs, ours);
        same.then_some(())
    });
    if agreed.is_none() {
        let (theirs, ours) = &last;
        panic!(
            "only Prometheus has {:?}\nonly we have {:?}\nboth have {}",
            theirs.difference(ours).collect::<Vec<_>>(),
            ours.difference(theirs).collect::<Vec<_>>(),
            ours.len()
        );
    }
    let (_, ours) = &last;
    assert!(ours
        .iter()
        .any(|l| l.contains(&("le".into(), "+Inf".into()))
            && l.contains(&("operation".into(), "scan".into()))));

    // Metadata: every family's type, help and unit as Prometheus recorded them from the
    // OpenMetrics job (its own /api/v1/metadata merges both jobs' names).
    let mut both = (Value::Null, Value::Null);
    let same = common::poll(Duration::from_secs(30), || {
        both = (target_metadata(prom.api, "om")?, metadata(target)?);
        (both.0 == both.1).then_some(())
    });
    assert!(same.is_some(), "Prometheus: {}\nours: {}", both.0, both.1);
    assert_eq!(both.1["app_evictions"][0]["type"], "counter");

    // promtool, Prometheus's own API client, reads the monitor's history.
    let out = Command::new(require("promtool"))
        .args(["query", "instant", &format!("http://{target}")])
        .arg("sum by (operation) (kotoba_db_queries_total)")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("{operation=\"scan\"} => 20"), "{text}");
    drop(prom);
    monitor.stop().unwrap();
}
