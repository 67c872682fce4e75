//! The dashboards, proven where users see them: the built-in page in a real headless
//! Chromium (every panel draws, the alert shows, a failing query stays in its panel, a phone's
//! width does not scroll sideways), and every Grafana panel's expression answered by the
//! monitor's own `/api/v1` and by a real Prometheus 2.42 that scraped the same monitor.
//!
//! These need Debian's `chromium` and `prometheus` (`.ci/run` installs them). Without them the
//! tests show as ignored, saying so; under `CI` they fail instead.
//!
//! `KOTOBA_SCREENSHOT=path.png cargo test --test dashboard` also writes the page's picture.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{get, query_result, wait_for, PrometheusServer};
use kotoba_monitoring::{
    DashboardPanel, DashboardView, DatabaseMetrics, Monitor, MonitoredDatabase, MonitoringConfig,
    MonitoringError, NotificationConfig, NotificationType, PanelKind, QueryMetrics, StorageMetrics,
};
use serde_json::Value;

fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let tests = vec![
        common::peer_test(
            "the_page_draws_every_panel_in_a_real_browser",
            &["chromium"],
            "apt-get install -y chromium",
            the_page_draws_every_panel_in_a_real_browser,
        ),
        common::peer_test(
            "every_grafana_panel_answers_from_us_and_from_a_real_prometheus",
            &["prometheus"],
            "apt-get install -y prometheus",
            every_grafana_panel_answers_from_us_and_from_a_real_prometheus,
        ),
        common::peer_test(
            "an_anomalous_stretch_is_shaded_on_its_chart",
            &["chromium"],
            "apt-get install -y chromium",
            an_anomalous_stretch_is_shaded_on_its_chart,
        ),
        libtest_mimic::Trial::test("the_page_and_its_files_are_served_from_the_crate", || {
            std::panic::catch_unwind(the_page_and_its_files_are_served_from_the_crate)
                .map_err(|_| "the_page_and_its_files_are_served_from_the_crate failed".into())
        }),
    ];
    libtest_mimic::run(&args, tests).exit_code()
}

/// A database whose storage and connections are steady and whose query counts grow.
struct Db {
    queries: std::sync::atomic::AtomicU64,
}

impl MonitoredDatabase for Db {
    fn get_database_metrics(&self) -> Result<DatabaseMetrics, MonitoringError> {
        Ok(DatabaseMetrics {
            active_connections: 7,
            total_connections: 40 + self.queries.load(Ordering::Relaxed) / 100,
            uptime_seconds: 60,
            version: "1.0.0".into(),
        })
    }
    fn get_query_metrics(&self) -> Result<QueryMetrics, MonitoringError> {
        Err(MonitoringError::Unsupported {
            what: "query metrics (the workload counts its own)",
        })
    }
    fn get_storage_metrics(&self) -> Result<StorageMetrics, MonitoringError> {
        let n = self.queries.fetch_add(50, Ordering::Relaxed);
        Ok(StorageMetrics {
            total_size_bytes: 64 << 20,
            used_size_bytes: (40 << 20) + n,
            read_operations: 1000 + n,
            write_operations: 500 + n / 2,
            read_bytes_per_sec: 4096.0,
            write_bytes_per_sec: 1024.0,
            cache_hit_rate: 0.93,
            io_latency_ms: 0.4,
        })
    }
}

const RULES: &str = r#"groups:
  - name: dashboard-test
    interval: 1s
    rules:
      - alert: QueriesFlowing
        expr: sum(rate(kotoba_db_queries_total[5s])) > 0
        labels:
          severity: warning
        annotations:
          summary: queries are flowing
"#;

/// A running monitor of [`Db`] with a workload, an alert that fires, a notification channel
/// that fails, storage, and a family of the user's own; everything stopped on drop.
struct Running {
    monitor: Monitor,
    stop: Arc<AtomicBool>,
    workload: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(w) = self.workload.take() {
            let _ = w.join();
        }
        let _ = self.monitor.stop();
    }
}

impl Running {
    fn start(extra: impl FnOnce(&Monitor)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.yml");
        std::fs::write(&rules, RULES).unwrap();
        let mut config = MonitoringConfig {
            collection_interval: Duration::from_millis(200),
            ..MonitoringConfig::default()
        };
        config.prometheus_config.address = "127.0.0.1".into();
        config.prometheus_config.port = 0;
        config.health_config.data_path = dir.path().to_owned();
        config.storage.path = Some(dir.path().join("monitor"));
        config.alerting_config.enabled = true;
        config.alerting_config.rule_files = vec![rules];
        // Nothing listens on port 1: the channel's last error shows on the page.
        config
            .alerting_config
            .notifications
            .push(NotificationConfig::new(
                NotificationType::Webhook,
                &[
                    ("url", "http://127.0.0.1:1/hook"),
                    ("retry_budget", "200ms"),
                ],
            ));
        config.alerting_config.route.group_wait = Some(Duration::from_millis(100));
        let db = Arc::new(Db {
            queries: std::sync::atomic::AtomicU64::new(0),
        });
        let monitor = Monitor::with_database(db, config).unwrap();
        let jobs = monitor
            .registry()
            .counter("app_jobs_total", "Jobs done.", &[("queue", "email")])
            .unwrap();
        extra(&monitor);
        monitor.start().unwrap();
        let queries = monitor.collector().queries();
        queries.set_slow_threshold(Duration::from_micros(900));
        let ops = [
            queries.operation("get").unwrap(),
            queries.operation("put").unwrap(),
        ];
        let stop = Arc::new(AtomicBool::new(false));
        let running = stop.clone();
        let workload = std::thread::spawn(move || {
            let mut i: u64 = 0;
            while !running.load(Ordering::SeqCst) {
                i += 1;
                let op = &ops[(i % 2) as usize];
                let took = Duration::from_micros(100 + (i * 37) % 1000);
                // Each query under a sampled trace: the slow ones become exemplars.
                let trace = kotoba_monitoring::TraceContext::new(
                    (u128::from(i) << 64 | 0xfeed).to_be_bytes(),
                    (i | 1).to_be_bytes(),
                    true,
                )
                .unwrap();
                let _serving = trace.enter();
                op.record(took, !i.is_multiple_of(17));
                jobs.inc();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Running {
            monitor,
            stop,
            workload: Some(workload),
            _dir: dir,
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.monitor.local_addr().unwrap()
    }
}

/// What the page shows for each panel of the view on screen: id, state, points, error.
const PANELS_JS: &str = r#"JSON.stringify([...document.querySelectorAll('[data-panel]')].map(p => ({
  id: p.dataset.panel,
  state: p.dataset.state,
  points: Number(p.dataset.points || 0),
  canvas: !!p.querySelector('canvas'),
  error: (p.querySelector('.error') || {}).textContent || '',
  text: p.textContent,
})))"#;

const BROKEN: &str = "Broken on purpose";

fn the_page_draws_every_panel_in_a_real_browser() {
    // Two series on each side of `on()`: many-to-many, an error only when evaluated.
    let running = Running::start(|monitor| {
        monitor
            .add_dashboard_panel(
                DashboardPanel::new(
                    DashboardView::Database,
                    PanelKind::TimeSeries,
                    BROKEN,
                    "kotoba_db_queries_total + on() kotoba_db_queries_total",
                )
                .unwrap(),
            )
            .unwrap();
    });
    let base = format!("http://{}/", running.addr());
    // The alert fires and the history holds a few seconds before the page opens.
    wait_for("the alert to fire", Duration::from_secs(60), || {
        running
            .monitor
            .alerts()
            .iter()
            .any(|a| a.state == kotoba_monitoring::AlertState::Firing)
            .then_some(())
    });
    wait_for("the channel to fail", Duration::from_secs(60), || {
        running.monitor.notification_channels()[0]
            .last_error
            .is_some()
            .then_some(())
    });
    let mut browser = browser::Browser::launch(1280, 1000);
    browser.navigate(&base);
    browser.wait_until(
        "two refreshes",
        "Number(document.body.dataset.refreshes || 0) >= 2",
        Duration::from_secs(60),
    );
    let views = ["database", "storage", "system", "health"];
    for view in views {
        browser.eval(&format!("location.hash = '#{view}'"));
        // Every panel of the view has drawn data (or, for the broken one, its error).
        let ready = format!(
            "document.body.dataset.view === '{view}' && [...document.querySelectorAll('[data-panel]')].every(p => \
             p.querySelector('h2').textContent === '{BROKEN}' ? p.dataset.state === 'error' \
             : p.dataset.state === 'ok' && Number(p.dataset.points) > 0)"
        );
        let within = Duration::from_secs(60);
        let deadline = std::time::Instant::now() + within;
        while browser.try_eval(&ready) != Ok(Value::Bool(true))
            && std::time::Instant::now() < deadline
        {
            browser.pump(Duration::from_millis(200));
        }
        let panels: Vec<Value> =
            serde_json::from_str(browser.eval(PANELS_JS).as_str().unwrap()).unwrap();
        assert!(panels.len() >= 3, "{view}: {panels:?}");
        for p in &panels {
            let title_broken = p["text"].as_str().unwrap().starts_with(BROKEN);
            if title_broken {
                assert_eq!(p["state"], "error", "{p}");
                let error = p["error"].as_str().unwrap();
                assert!(error.contains("many-to-many"), "{error}");
            } else {
                assert_eq!(p["state"], "ok", "{view}: {p}");
                assert!(p["points"].as_u64().unwrap() > 0, "{view}: {p}");
                assert!(p["error"].as_str().unwrap().is_empty(), "{view}: {p}");
                let id = p["id"].as_str().unwrap();
                if id.contains("-timeseries-") {
                    assert!(p["canvas"].as_bool().unwrap(), "{view}: {p}");
                }
            }
        }
        if view == "database" {
            // The latency chart draws the slow queries' traces.
            let exemplars = browser.eval(
                "Number(document.querySelector('[data-panel=\"database-timeseries-query-latency-p50-p95-p99\"]').dataset.exemplars || 0)",
            );
            assert!(exemplars.as_u64().unwrap() > 0, "no exemplars drawn");
            assert!(
                panels.iter().any(|p| p["text"]
                    .as_str()
                    .unwrap()
                    .starts_with("app_jobs_total per second")),
                "the user's own family has a panel"
            );
        }
        if view == "health" {
            let text: String = panels.iter().map(|p| p["text"].as_str().unwrap()).collect();
            assert!(
                text.contains("QueriesFlowing"),
                "the firing alert is listed"
            );
            assert!(text.contains("queries are flowing"), "with its summary");
            assert!(text.contains("dashboard-test"), "the rule group is listed");
            assert!(
                text.contains("connection refused")
                    || text.contains("Connection refused")
                    || text.contains("127.0.0.1:1"),
                "the channel's last error is shown: {text}"
            );
        }
    }
    if let Ok(path) = std::env::var("KOTOBA_SCREENSHOT") {
        browser.eval("location.hash = '#database'");
        browser.wait_until(
            "the database view",
            "document.body.dataset.view === 'database'",
            Duration::from_secs(30),
        );
        browser.pump(Duration::from_secs(3));
        std::fs::write(path, browser.screenshot()).unwrap();
    }
    // Only the broken panel's query failed; nothing else went wrong on the page.
    let unexpected: Vec<&browser::Problem> = browser
        .problems
        .iter()
        .filter(|p| !(p.text.contains("api/v1/query") && p.text.contains("on%28%29")))
        .filter(|p| !(p.kind == "log error" && p.text.contains("422")))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    assert!(
        browser.problems.iter().any(|p| p.kind == "error response"),
        "the broken panel's query was answered with an error"
    );
    // A phone's width: one column, nothing wider than the screen.
    browser.problems.clear();
    browser.set_viewport(375, 800);
    browser.navigate(&format!("{base}#database"));
    browser.wait_until(
        "a refresh at 375 px",
        "Number(document.body.dataset.refreshes || 0) >= 1",
        Duration::from_secs(60),
    );
    browser.pump(Duration::from_millis(500));
    let widths = browser.eval("[document.documentElement.scrollWidth, window.innerWidth]");
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "the page scrolls sideways at 375 px: {widths}"
    );
}

/// Every panel's expression with its variables filled in, as Grafana would send it with
/// each variable at "All" and `$__rate_interval` at 5 s.
fn grafana_expressions(dashboards: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in dashboards {
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                let mut filled = expr.replace("$__rate_interval", "5s");
                for name in ["operation", "instance", "queue"] {
                    filled = filled.replace(&format!("${name}"), ".*");
                }
                assert!(!filled.contains('$'), "a variable left: {filled}");
                out.push((p["title"].as_str().unwrap().to_owned(), filled));
            }
        }
    }
    out
}

fn every_grafana_panel_answers_from_us_and_from_a_real_prometheus() {
    let running = Running::start(|_| {});
    let addr = running.addr();
    let prometheus = PrometheusServer::start(&format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: kotoba\n    static_configs: [{{targets: [\"{addr}\"]}}]\n"
    ));
    // Six seconds of scrapes, the alert firing in both.
    wait_for(
        "Prometheus to hold the alert",
        Duration::from_secs(90),
        || {
            let ready = !prometheus
                .query("count_over_time(kotoba_db_queries_total[10s]) >= 6")
                .is_empty()
                && !prometheus.query("ALERTS{alertstate=\"firing\"}").is_empty()
                && !prometheus
                    .query("kotoba_monitoring_notifications_total")
                    .is_empty();
            ready.then_some(())
        },
    );
    let reply = get(addr, "/api/v1/grafana/dashboards");
    assert_eq!(reply.status, 200);
    let served: Vec<Value> = serde_json::from_slice(&reply.body).unwrap();
    let generated: Vec<Value> = running
        .monitor
        .grafana_dashboards()
        .iter()
        .map(|d| d.json().clone())
        .collect();
    assert_eq!(served, generated);
    assert_eq!(served.len(), 4);
    let mut missing = Vec::new();
    for (title, expr) in grafana_expressions(&served) {
        let ours = query_result(addr, &expr);
        let theirs = prometheus.query(&expr);
        if ours.is_empty() {
            missing.push(format!("ours: {title}: {expr}"));
        }
        if theirs.is_empty() {
            missing.push(format!("Prometheus: {title}: {expr}"));
        }
    }
    assert!(missing.is_empty(), "no data:\n{}", missing.join("\n"));
    // The variables list values on both: operations, the user's label, Prometheus's instance.
    for (name, on_ours) in [("operation", true), ("queue", true), ("instance", false)] {
        let values = |a| -> Vec<Value> {
            let reply = get(a, &format!("/api/v1/label/{name}/values"));
            let v: Value = serde_json::from_slice(&reply.body).unwrap();
            v["data"].as_array().cloned().unwrap_or_default()
        };
        assert!(!values(prometheus.addr).is_empty(), "Prometheus: {name}");
        if on_ours {
            assert!(!values(addr).is_empty(), "ours: {name}");
        }
    }
}

fn the_page_and_its_files_are_served_from_the_crate() {
    let running = Running::start(|_| {});
    let addr = running.addr();
    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"));
    let html = page.text();
    assert_eq!(get(addr, "/dashboard").body, page.body);
    // Everything it loads is served here, under the same page.
    for file in [
        "dashboard/uPlot.min.css",
        "dashboard/dashboard.css",
        "dashboard/uPlot.iife.min.js",
        "dashboard/dashboard.js",
    ] {
        assert!(html.contains(&format!("\"{file}\"")), "{file}");
        let reply = get(addr, &format!("/{file}"));
        assert_eq!(reply.status, 200, "{file}");
        let etag = reply.header("etag").unwrap().to_owned();
        let again = common::request(
            addr,
            "GET",
            &format!("/{file}"),
            &[("If-None-Match", &etag)],
        );
        assert_eq!(again.status, 304, "{file}");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    let panels = get(addr, "/dashboard/panels.json");
    let panels: Value = serde_json::from_slice(&panels.body).unwrap();
    assert_eq!(panels["interval_seconds"], 0.2);
    assert_eq!(panels["views"].as_array().unwrap().len(), 4);
    let titles: Vec<&str> = panels["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"Query latency p50, p95, p99"),
        "{titles:?}"
    );
    assert_eq!(get(addr, "/dashboard/nothing.js").status, 404);
    let post = common::request(addr, "POST", "/dashboard", &[]);
    assert_eq!(post.status, 405);
}

/// A watched series that jumps is shaded where it was anomalous, on the chart that draws it
/// (the generated panel of the user's family), and only there.
fn an_anomalous_stretch_is_shaded_on_its_chart() {
    let mut config = MonitoringConfig::from_toml_str(
        r#"
        # Scores reach the history at each collection; the detector scores at that pace too.
        collection_interval = "20ms"
        [anomaly_detection]
        enabled = true
        watch = ["probe_value"]
        "#,
    )
    .unwrap();
    config.prometheus_config.address = "127.0.0.1".into();
    config.prometheus_config.port = 0;
    config.enable_health_checks = false;
    let monitor = Monitor::new(config).unwrap();
    monitor.start().unwrap();
    let collector = monitor.collector();
    let labels = || [("db".to_owned(), "main".to_owned())].into_iter().collect();
    let rounds = monitor
        .registry()
        .counter(
            "kotoba_anomaly_evaluations_total",
            "Rounds of evaluating the watched expressions and scoring their series.",
            &[],
        )
        .unwrap();
    // Steady values while the detector learns, then a jump far past them.
    let mut i = 0u32;
    wait_for("400 rounds of learning", Duration::from_secs(60), || {
        i += 1;
        let value = 10.0 + f64::from(i % 5) * 0.1;
        collector
            .record_metric("probe_value", value, labels())
            .ok()?;
        (rounds.get() >= 400.0).then_some(())
    });
    collector
        .record_metric("probe_value", 500.0, labels())
        .unwrap();
    wait_for("the jump found", Duration::from_secs(20), || {
        monitor.anomalies().into_iter().next()
    });
    let panel = monitor
        .dashboard_panels()
        .into_iter()
        .find(|p| p.expr().contains("probe_value") && p.anomalies().is_some())
        .expect("the probe's chart carries its scores");
    let mut browser = browser::Browser::launch(1280, 1000);
    browser.navigate(&format!(
        "http://{}/#database",
        monitor.local_addr().unwrap()
    ));
    let marked = format!(
        "Number((document.querySelector('[data-panel=\"{}\"]') || {{dataset: {{}}}}).dataset.anomalies || 0)",
        panel.id()
    );
    browser.wait_until(
        "the anomalous stretch shaded",
        &format!("{marked} >= 1"),
        Duration::from_secs(60),
    );
    let note = browser.eval(&format!(
        "document.querySelector('[data-panel=\"{}\"] .anomaly').textContent",
        panel.id()
    ));
    assert!(
        note.as_str().unwrap().contains("anomalous"),
        "the chart says what the shading means: {note}"
    );
    // Charts of what is not watched have nothing to shade.
    let others = browser.eval(
        "[...document.querySelectorAll('[data-panel]')].filter(p => Number(p.dataset.anomalies || 0) > 0).length",
    );
    assert_eq!(others.as_u64(), Some(1), "only the probe's chart is shaded");
    assert!(browser.problems.is_empty(), "{:?}", browser.problems);
    drop(browser);
    monitor.stop().unwrap();
}
