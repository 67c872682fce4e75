//! The exporter's endpoints over real sockets on 127.0.0.1: formats, status codes, auth,
//! health and probes, and the limits that keep one client from hurting the others.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::{exporter, get, request, wait_for};
use kotoba_monitoring::{
    CheckReport, ExpositionFormat, HealthReport, HealthSource, HttpAuth, MetricsCollector,
    MonitoringConfig, MonitoringError, ProbeStatus, PrometheusConfig, PrometheusExporter,
};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[test]
fn metrics_negotiates_the_format() {
    let e = exporter(|_| {});
    e.collector()
        .registry()
        .counter("requests_total", "Requests.", &[("code", "200")])
        .unwrap()
        .inc_by(7);
    let addr = e.local_addr().unwrap();

    let plain = get(addr, "/metrics");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-type"), Some(TEXT));
    assert!(plain.text().contains("\nrequests_total{code=\"200\"} 7\n"));
    assert!(!plain.text().contains("# EOF"));

    let accept =
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let om = request(addr, "GET", "/metrics", &[("Accept", accept)]);
    assert_eq!(om.header("content-type"), Some(OPENMETRICS));
    assert!(om.text().ends_with("# EOF\n"));
    assert!(om.text().contains("# TYPE requests counter\n"));

    let forced = request(addr, "GET", "/metrics?format=text", &[("Accept", accept)]);
    assert_eq!(forced.header("content-type"), Some(TEXT));
    assert_eq!(get(addr, "/metrics?format=xml").status, 400);

    // HEAD: same head, no body.
    let head = request(addr, "HEAD", "/metrics", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    e.stop().unwrap();
}

#[test]
fn metrics_are_gzipped_when_accepted() {
    let e = exporter(|_| {});
    let family = e
        .collector()
        .registry()
        .gauge_family("table_rows", "Rows per table.")
        .unwrap();
    for i in 0..200 {
        family
            .with_labels(&[("table", &format!("t{i}"))])
            .unwrap()
            .set(i as f64);
    }
    let addr = e.local_addr().unwrap();
    let zipped = request(addr, "GET", "/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(
        text.contains("table_rows{table=\"t199\"} 199.0\n"),
        "{text}"
    );
    let plain = get(addr, "/metrics");
    assert_eq!(plain.header("content-encoding"), None);
    assert!(zipped.body.len() * 3 < plain.body.len());
}

#[test]
fn unknown_paths_and_methods() {
    let e = exporter(|c| c.path = "/prom".into());
    let addr = e.local_addr().unwrap();
    assert_eq!(get(addr, "/prom").status, 200);
    let missing = get(addr, "/metrics");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("not found: /metrics; try /prom"));
    let post = request(addr, "POST", "/prom", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert!(post.text().contains("method POST not allowed"));
    let alerts: serde_json::Value = serde_json::from_slice(&get(addr, "/alerts").body).unwrap();
    assert_eq!(
        alerts,
        serde_json::json!({"alerts": [], "notifications": []})
    );
}

#[test]
fn port_zero_reads_back_and_a_taken_port_is_a_clear_error() {
    let first = exporter(|_| {});
    let addr = first.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(
        first.metrics_url().unwrap(),
        format!("http://127.0.0.1:{}/metrics", addr.port())
    );
    let collector = Arc::new(MetricsCollector::standalone(MonitoringConfig::default()).unwrap());
    let second = PrometheusExporter::new(
        collector,
        PrometheusConfig {
            port: addr.port(),
            ..Default::default()
        },
    )
    .unwrap();
    let err = second.start().unwrap_err();
    assert!(matches!(err, MonitoringError::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains("already in use"), "{err}");
    assert!(!second.is_running());
    // The first still serves.
    assert_eq!(get(addr, "/metrics").status, 200);
    assert!(matches!(
        first.start(),
        Err(MonitoringError::AlreadyStarted { .. })
    ));
}

#[test]
fn the_path_cannot_shadow_a_builtin_endpoint() {
    let collector = Arc::new(MetricsCollector::standalone(MonitoringConfig::default()).unwrap());
    let err = PrometheusExporter::new(
        collector,
        PrometheusConfig {
            path: "/health".into(),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.field(), Some("prometheus_config.path"));
}

#[test]
fn bearer_auth_guards_every_endpoint_and_never_leaks() {
    let e = exporter(|c| c.auth = Some(HttpAuth::bearer("k0toba-secret")));
    let addr = e.local_addr().unwrap();
    for path in [
        "/metrics", "/health", "/livez", "/readyz", "/alerts", "/nope",
    ] {
        let r = get(addr, path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        assert!(!r.text().contains("k0toba"));
    }
    let wrong = request(addr, "GET", "/metrics", &[("Authorization", "Bearer nope")]);
    assert_eq!(wrong.status, 401);
    let right = request(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer k0toba-secret")],
    );
    assert_eq!(right.status, 200);
    assert!(!right.text().contains("k0toba-secret"));
    assert!(!format!("{e:?}").contains("k0toba-secret"));
    assert!(right.text().contains(
        "kotoba_monitoring_http_requests_total{code=\"401\",endpoint=\"unauthorized\"} 7"
    ));
}

#[test]
fn basic_auth() {
    let e = exporter(|c| c.auth = Some(HttpAuth::basic("prometheus", "pw")));
    let addr = e.local_addr().unwrap();
    assert_eq!(get(addr, "/metrics").status, 401);
    // base64("prometheus:pw")
    let ok = request(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", "Basic cHJvbWV0aGV1czpwdw==")],
    );
    assert_eq!(ok.status, 200);
}

/// A health source whose report the test sets.
struct Fixed(parking_lot::Mutex<HealthReport>);

impl HealthSource for Fixed {
    fn health_report(&self) -> HealthReport {
        self.0.lock().clone()
    }
}

struct Panicking;

impl HealthSource for Panicking {
    fn health_report(&self) -> HealthReport {
        panic!("the checker is broken")
    }
}

fn check(name: &str, status: ProbeStatus, liveness: bool) -> CheckReport {
    CheckReport {
        name: name.into(),
        status,
        output: (status != ProbeStatus::Pass).then(|| format!("{name} says no")),
        time: Some(time::OffsetDateTime::now_utc()),
        duration: Some(Duration::from_millis(2)),
        liveness,
        readiness: true,
    }
}

#[test]
fn health_and_probes_answer_from_the_source() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();

    // No source yet: nothing is checked, which is not "pass".
    let unchecked = get(addr, "/health");
    assert_eq!(unchecked.status, 200);
    assert_eq!(
        unchecked.header("content-type"),
        Some("application/health+json")
    );
    let json: serde_json::Value = serde_json::from_slice(&unchecked.body).unwrap();
    assert_eq!(json["status"], "warn");
    assert_eq!(get(addr, "/livez").text(), "ok\n");

    let source = Arc::new(Fixed(parking_lot::Mutex::new(HealthReport {
        status: ProbeStatus::Pass,
        output: None,
        checks: vec![
            check("memory", ProbeStatus::Pass, true),
            check("database", ProbeStatus::Pass, false),
        ],
    })));
    e.set_health_source(source.clone());
    let pass = get(addr, "/health");
    assert_eq!(pass.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&pass.body).unwrap();
    assert_eq!(json["status"], "pass");
    assert_eq!(json["checks"]["database"][0]["status"], "pass");
    assert_eq!(
        get(addr, "/readyz?verbose").text(),
        "[+]memory ok\n[+]database ok\nreadyz check passed\n"
    );

    // The database fails: readiness fails, liveness (which it does not count for) does not.
    *source.0.lock() = HealthReport {
        status: ProbeStatus::Fail,
        output: Some("database down".into()),
        checks: vec![
            check("memory", ProbeStatus::Warn, true),
            check("database", ProbeStatus::Fail, false),
        ],
    };
    let fail = get(addr, "/health");
    assert_eq!(fail.status, 503);
    let json: serde_json::Value = serde_json::from_slice(&fail.body).unwrap();
    assert_eq!(json["checks"]["database"][0]["output"], "database says no");
    let ready = get(addr, "/readyz");
    assert_eq!(ready.status, 503);
    assert!(ready
        .text()
        .contains("[-]database failed: database says no\n"));
    assert!(ready.text().ends_with("readyz check failed\n"));
    let live = get(addr, "/livez?verbose");
    assert_eq!(live.status, 200);
    assert!(live
        .text()
        .contains("[+]memory passes with a warning: memory says no"));
    let excluded = get(addr, "/readyz?exclude=database");
    assert_eq!(excluded.status, 200);

    // A panicking source is a failure, not a dead worker.
    e.set_health_source(Arc::new(Panicking));
    let broken = get(addr, "/health");
    assert_eq!(broken.status, 503);
    assert!(broken.text().contains("the checker is broken"));
    assert_eq!(get(addr, "/metrics").status, 200);
}

#[test]
fn a_stalled_client_does_not_stop_scrapes() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    // More stalled connections than workers: each sends half a request and waits.
    let stalled: Vec<TcpStream> = (0..6)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // Scrapes still get through once a worker frees itself from a stalled client (bounded
    // request time), well inside the deadline.
    let reply = wait_for(
        "a scrape past stalled clients",
        Duration::from_secs(60),
        || Some(get(addr, "/metrics")),
    );
    assert_eq!(reply.status, 200);
    // A stalled client is answered 408 and closed.
    let mut first = stalled.into_iter().next().unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = Vec::new();
    first.read_to_end(&mut raw).unwrap();
    assert_eq!(common::parse_reply(&raw).status, 408);
}

#[test]
fn oversized_heads_and_bodies_are_refused() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    let huge = "x".repeat(20 * 1024);
    let r = request(addr, "GET", "/metrics", &[("X-Filler", &huge)]);
    assert_eq!(r.status, 431);
    let many: Vec<(String, String)> = (0..70).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(request(addr, "GET", "/metrics", &many).status, 431);
    let body = request(addr, "GET", "/metrics", &[("Content-Length", "10000000")]);
    assert_eq!(body.status, 413);
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage.write_all(b"\x16\x03\x01 not http\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    garbage.read_to_end(&mut raw).unwrap();
    assert_eq!(common::parse_reply(&raw).status, 400);
    // The server is unharmed.
    assert_eq!(get(addr, "/metrics").status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // Two pipelined requests, the second closing.
    s.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\nGET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(text.contains("Connection: close"));
}

#[test]
fn stop_closes_the_port_and_joins() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    // An idle keep-alive connection must not hold stop() up.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).unwrap();
    assert!(n > 0);
    e.stop().unwrap();
    assert!(e.local_addr().is_none());
    assert!(TcpStream::connect(addr).is_err());
    e.stop().unwrap();
    e.start().unwrap();
    assert_eq!(get(e.local_addr().unwrap(), "/livez").status, 200);
}

#[test]
fn the_global_registry_merges_into_the_scrape() {
    let e = exporter(|_| {});
    let registry = e.collector().registry();
    registry
        .counter("merged_events_total", "Events.", &[("from", "both")])
        .unwrap()
        .inc_by(2);
    kotoba_monitoring::prometheus_exporter::record_counter(
        "merged_events_total",
        3,
        &[("from", "both")],
    )
    .unwrap();
    registry
        .gauge("merged_level", "Level.", &[])
        .unwrap()
        .set(1.0);
    kotoba_monitoring::prometheus_exporter::record_gauge("merged_level", 9.0, &[]).unwrap();

    let addr = e.local_addr().unwrap();
    let first = get(addr, "/metrics").text();
    let second = get(addr, "/metrics").text();
    // Counters add up; the collector's gauge wins; each family is written once.
    assert!(
        second.contains("\nmerged_events_total{from=\"both\"} 5\n"),
        "{second}"
    );
    assert!(second.contains("\nmerged_level 1.0\n"));
    assert_eq!(
        second.matches("# TYPE merged_events_total counter").count(),
        1
    );
    assert_eq!(
        second
            .matches("# TYPE kotoba_monitoring_samples_dropped_total counter")
            .count(),
        1
    );
    // Only the repeated gauge is an error, once per scrape; a scrape shows the errors of the
    // scrapes before it.
    assert!(
        first.contains("\nkotoba_monitoring_encode_errors_total 0\n"),
        "{first}"
    );
    assert!(
        second.contains("\nkotoba_monitoring_encode_errors_total 1\n"),
        "{second}"
    );
}

#[test]
fn window_quantile_gauges_can_be_left_out() {
    let scrape = |window_quantiles: bool| {
        let collector =
            Arc::new(MetricsCollector::standalone(MonitoringConfig::default()).unwrap());
        let h = collector
            .registry()
            .histogram("op_seconds", "Op time.", &[("op", "get")])
            .unwrap();
        h.observe(0.003);
        let exporter = PrometheusExporter::new(
            collector,
            PrometheusConfig {
                enabled: false,
                window_quantiles,
                ..Default::default()
            },
        )
        .unwrap();
        exporter.encode(ExpositionFormat::OpenMetrics).unwrap()
    };
    let with = scrape(true);
    assert!(
        with.contains("op_window_seconds{op=\"get\",q=\"0.99\"} 0.003"),
        "{with}"
    );
    let without = scrape(false);
    assert!(!without.contains("op_window"), "{without}");
    assert!(
        without.contains("op_seconds_bucket{le=\"0.005\",op=\"get\"} 1"),
        "{without}"
    );
    assert!(
        without.contains("op_seconds_count{op=\"get\"} 1"),
        "{without}"
    );
}

#[test]
fn series_labels_and_global_labels_are_written_exactly() {
    let collector = Arc::new(MetricsCollector::standalone(MonitoringConfig::default()).unwrap());
    let registry = collector.registry();
    registry
        .counter("lines_total", "", &[("region", "us"), ("op", "a\"b\\c\nd")])
        .unwrap()
        .inc_by(9_007_199_254_740_993); // 2^53 + 1: no f64 holds it
    registry
        .counter("lines_total", "", &[("op", "put")])
        .unwrap()
        .inc_by_f64(1.5)
        .unwrap();
    registry.gauge("lines_level", "", &[]).unwrap().set(2.0);
    let h = registry
        .histogram_family_with(
            "lines_seconds",
            "",
            kotoba_monitoring::HistogramOpts::latency().buckets([0.01]),
        )
        .unwrap()
        .with_labels(&[("region", "us")])
        .unwrap();
    h.observe(0.002);
    let exporter = encoder_of(collector, [("region".to_owned(), "eu".to_owned())].into());
    for format in [
        ExpositionFormat::OpenMetrics,
        ExpositionFormat::PrometheusText,
    ] {
        let text = exporter.encode(format).unwrap();
        // Each encoder puts `le` on its own side of the series' labels.
        let bucket = match format {
            ExpositionFormat::OpenMetrics => "lines_seconds_bucket{le=\"0.01\",region=\"us\"} 1\n",
            ExpositionFormat::PrometheusText => {
                "lines_seconds_bucket{region=\"us\",le=\"0.01\"} 1\n"
            }
        };
        // A series' own label wins over the global one of the same name; the global one
        // fills in where the series has none.
        for line in [
            "lines_total{op=\"a\\\"b\\\\c\\nd\",region=\"us\"} 9007199254740993\n",
            "lines_total{op=\"put\",region=\"eu\"} 1.5\n",
            "lines_level{region=\"eu\"} 2.0\n",
            bucket,
            "lines_seconds_count{region=\"us\"} 1\n",
            "lines_window_seconds{region=\"us\",q=\"0.5\"} 0.002",
        ] {
            assert!(
                text.contains(&format!("\n{line}")),
                "{format:?} lacks {line:?}:\n{text}"
            );
        }
    }
}

#[test]
fn a_clash_across_registries_keeps_the_collectors_family() {
    let collector = Arc::new(MetricsCollector::standalone(MonitoringConfig::default()).unwrap());
    collector
        .registry()
        .counter("crossreg_hits", "Ours.", &[])
        .unwrap()
        .inc_by(3);
    // The global registry cannot know of the collector's family: it accepts the name.
    kotoba_monitoring::Registry::global()
        .gauge("crossreg_hits_total", "Theirs.", &[])
        .unwrap()
        .set(9.0);
    let exporter = encoder_of(collector, Default::default());
    for format in [
        ExpositionFormat::OpenMetrics,
        ExpositionFormat::PrometheusText,
    ] {
        let text = exporter.encode(format).unwrap();
        assert_eq!(text.matches("# HELP crossreg_hits").count(), 1, "{text}");
        assert!(text.contains("\ncrossreg_hits_total 3\n"), "{text}");
        assert!(!text.contains("Theirs."), "{text}");
    }
    let left_out = exporter
        .collector()
        .registry()
        .counter("kotoba_monitoring_encode_errors_total", "", &[])
        .unwrap()
        .get();
    assert!(left_out >= 1.0, "{left_out}");
}

/// An exporter that serves nothing, for encoding `collector`'s series with `global_labels`.
fn encoder_of(
    collector: Arc<MetricsCollector>,
    global_labels: std::collections::HashMap<String, String>,
) -> PrometheusExporter {
    PrometheusExporter::new(
        collector,
        PrometheusConfig {
            enabled: false,
            global_labels,
            ..Default::default()
        },
    )
    .unwrap()
}
