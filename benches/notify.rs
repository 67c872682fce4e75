//! Notification latency: from an alert's state change (the evaluation that saw it) to the
//! receiver, for our webhook channel and, in the same run, for the same alert pushed to a
//! real Alertmanager 0.25 that delivers its own webhook.
//!
//! Run with `cargo bench --bench notify` (`-- --quick` for fewer cycles). Needs Debian's
//! `prometheus-alertmanager` on the PATH for the Alertmanager column; without it that column
//! is left empty.
//!
//! A monitor evaluates `app_cpu_percent > 80` every 70 ms; each cycle sets a new series
//! (`cycle="n"`) above, waits for the firing notification at both receivers, sets it below
//! and waits for the resolved one. Both route by alert name and cycle, so each cycle is a new
//! group, with `group_wait` 0 s and `group_interval` 100 ms: a firing notification has no
//! wait configured in, a resolved one waits for its group's next look (up to 100 ms; with
//! evaluations every 70 ms, each cycle resolves at a different phase of it). The state change's
//! time is the one `Monitor::alert_transitions` gives; the receipt is when the local
//! receiver has read the whole request. Medians and 90th percentiles, in milliseconds.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{wait_for, Alertmanager, HookServer};
use kotoba_monitoring::{
    AlertState, Monitor, MonitoringConfig, NotificationConfig, NotificationType,
};

const RULES: &str = "groups:\n  - name: cpu\n    interval: 70ms\n    rules:\n      - alert: HighCpu\n        expr: app_cpu_percent > 80\n";

/// The receipt time of the first request to `hook` after `seen` requests whose payload's
/// status is `status`.
fn receipt(hook: &HookServer, seen: usize, status: &str) -> Option<Instant> {
    hook.requests()
        .iter()
        .skip(seen)
        .find(|r| r.json()["status"] == status)
        .map(|r| r.at)
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let cycles = if quick { 5 } else { 30 };
    let ours = HookServer::ok();
    let theirs = HookServer::ok();
    let am = common::which("prometheus-alertmanager").map(|_| {
        Alertmanager::start(
            &format!(
                "route:\n  receiver: hook\n  group_by: [alertname, cycle]\n  group_wait: 0s\n  group_interval: 100ms\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n        send_resolved: true\n",
                theirs.url("/hook")
            ),
            "http://bench.example",
        )
    });
    if am.is_none() {
        eprintln!("prometheus-alertmanager is not installed: its column stays empty");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, RULES).unwrap();
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(50),
        ..MonitoringConfig::default()
    };
    config.prometheus_config.enabled = false;
    config.enable_health_checks = false;
    let alerting = &mut config.alerting_config;
    alerting.enabled = true;
    alerting.rule_files = vec![path];
    alerting.notifications.push(NotificationConfig::new(
        NotificationType::Webhook,
        &[("url", &ours.url("/hook"))],
    ));
    if let Some(am) = &am {
        alerting.notifications.push(NotificationConfig::new(
            NotificationType::Alertmanager,
            &[("url", &am.url())],
        ));
    }
    alerting.route.group_by = Some(vec!["alertname".into(), "cycle".into()]);
    alerting.route.group_wait = Some(Duration::ZERO);
    alerting.route.group_interval = Some(Duration::from_millis(100));
    let monitor = Monitor::new(config).unwrap();
    let transitions = monitor.alert_transitions().unwrap();
    let family = monitor
        .registry()
        .gauge_family("app_cpu_percent", "CPU in use.")
        .unwrap();
    monitor.start().unwrap();

    let mut lat: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
    for n in 0..cycles {
        let cpu = family.with_labels(&[("cycle", &n.to_string())]).unwrap();
        for (value, status, state) in [
            (95.0, "firing", AlertState::Firing),
            (10.0, "resolved", AlertState::Inactive),
        ] {
            let (seen_ours, seen_theirs) = (ours.requests().len(), theirs.requests().len());
            cpu.set(value);
            let changed = wait_for("the state change", Duration::from_secs(30), || {
                transitions
                    .try_iter()
                    .find(|t| t.alert.state == state && t.from != state)
            });
            // The change's time on the receivers' clock.
            let ago = time::OffsetDateTime::now_utc() - changed.at;
            let at = Instant::now() - Duration::try_from(ago).unwrap_or_default();
            let got = wait_for("our notification", Duration::from_secs(30), || {
                receipt(&ours, seen_ours, status)
            });
            lat.entry(("ours", status))
                .or_default()
                .push(got.duration_since(at).as_secs_f64() * 1e3);
            if am.is_some() {
                let got = wait_for(
                    "Alertmanager's notification",
                    Duration::from_secs(30),
                    || receipt(&theirs, seen_theirs, status),
                );
                lat.entry(("alertmanager", status))
                    .or_default()
                    .push(got.duration_since(at).as_secs_f64() * 1e3);
            }
        }
    }
    monitor.stop().unwrap();

    println!("| state change to receiver, ms ({cycles} cycles) | ours: webhook channel | Prometheus-style push to Alertmanager 0.25, its webhook |");
    println!("|---|---|---|");
    for status in ["firing", "resolved"] {
        let mut cell = |who| match lat.get_mut(&(who, status)) {
            Some(samples) => format!(
                "median {:.1}, p90 {:.1}",
                percentile(samples, 0.5),
                percentile(samples, 0.9)
            ),
            None => "–".to_owned(),
        };
        let (a, b) = (cell("ours"), cell("alertmanager"));
        println!("| {status} | {a} | {b} |");
    }
}
