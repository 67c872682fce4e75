//! Notifications from a running monitor, proven against real receivers: a real Alertmanager
//! 0.25 (Debian's `prometheus-alertmanager`) takes our pushes and delivers its own webhooks,
//! which ours must equal field by field; local receivers check Slack's and PagerDuty's
//! documented schemas and misbehave on purpose; a real SMTP server (Debian's
//! `python3-aiosmtpd`) takes our mail over STARTTLS with AUTH.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{peer_test, wait_for, Alertmanager, HookServer, Received};
use kotoba_monitoring::{Monitor, MonitoringConfig, NotificationConfig, NotificationType};
use libtest_mimic::Arguments;
use serde_json::Value;

const EXTERNAL_URL: &str = "http://kotoba.example:9093";

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let tests = vec![peer_test(
        "alertmanager_takes_our_alerts_and_its_webhook_equals_ours",
        &["prometheus-alertmanager"],
        "apt-get install -y prometheus-alertmanager",
        alertmanager_takes_our_alerts_and_its_webhook_equals_ours,
    )];
    libtest_mimic::run(&args, tests).exit_code()
}

/// A monitor evaluating `rules` every 100 ms, notifying `channels` with a route that groups
/// by alert name, waits 1 s and looks again every second.
fn monitor(rules: &str, channels: Vec<NotificationConfig>) -> (Monitor, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, rules).unwrap();
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(50),
        ..MonitoringConfig::default()
    };
    config.prometheus_config.address = "127.0.0.1".into();
    config.prometheus_config.port = 0;
    config
        .prometheus_config
        .global_labels
        .insert("cluster".into(), "east".into());
    let alerting = &mut config.alerting_config;
    alerting.enabled = true;
    alerting.evaluation_interval = Duration::from_millis(100);
    alerting.external_url = EXTERNAL_URL.into();
    alerting.rule_files = vec![path];
    alerting.resend_delay = Duration::from_secs(1);
    alerting.notifications = channels;
    alerting.route.group_by = Some(vec!["alertname".into()]);
    alerting.route.group_wait = Some(Duration::from_secs(1));
    alerting.route.group_interval = Some(Duration::from_secs(1));
    alerting.route.repeat_interval = Some(Duration::from_secs(3600));
    (Monitor::new(config).unwrap(), dir)
}

fn channel(kind: NotificationType, pairs: &[(&str, &str)]) -> NotificationConfig {
    NotificationConfig {
        notification_type: kind,
        config: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    }
}

const CPU_RULES: &str = r#"
groups:
  - name: cpu
    interval: 100ms
    rules:
      - alert: HighCpu
        expr: app_cpu_percent > 80
        labels:
          severity: warning
        annotations:
          summary: 'core {{ $labels.core }} at {{ $value }}%'
"#;

/// The first payload `hook` received whose `status` is `status`.
fn payload(hook: &HookServer, status: &str) -> Option<Value> {
    hook.requests()
        .iter()
        .map(Received::json)
        .find(|p| p["status"] == status)
}

fn alertmanager_takes_our_alerts_and_its_webhook_equals_ours() {
    let am_hook = HookServer::ok();
    let our_hook = HookServer::ok();
    let am = Alertmanager::start(
        &format!(
            r#"
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {}
        send_resolved: true
"#,
            am_hook.url("/hook")
        ),
        EXTERNAL_URL,
    );
    let (monitor, _dir) = monitor(
        CPU_RULES,
        vec![
            channel(NotificationType::Alertmanager, &[("url", &am.url())]),
            channel(
                NotificationType::Webhook,
                &[("url", &our_hook.url("/hook")), ("name", "hook")],
            ),
        ],
    );
    let cpu = monitor
        .registry()
        .gauge_family("app_cpu_percent", "CPU in use.")
        .unwrap()
        .with_labels(&[("core", "0")])
        .unwrap();
    cpu.set(95.0);
    monitor.start().unwrap();

    // Alertmanager holds our alert, with our labels and our fingerprint.
    let held = wait_for(
        "Alertmanager to hold the alert",
        Duration::from_secs(30),
        || {
            am.alerts()
                .into_iter()
                .find(|a| a["labels"]["alertname"] == "HighCpu")
        },
    );
    let expected_labels = serde_json::json!({
        "alertname": "HighCpu", "cluster": "east", "core": "0", "severity": "warning"
    });
    assert_eq!(held["labels"], expected_labels, "{held:#}");
    assert_eq!(held["annotations"]["summary"], "core 0 at 95%");
    assert!(
        held["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{EXTERNAL_URL}/graph?g0.expr=app_cpu_percent")),
        "{held:#}"
    );

    // Its webhook and ours say the same, field by field.
    let theirs = wait_for(
        "Alertmanager's firing webhook",
        Duration::from_secs(30),
        || payload(&am_hook, "firing"),
    );
    let ours = wait_for("our firing webhook", Duration::from_secs(30), || {
        payload(&our_hook, "firing")
    });
    assert_same_payload(&theirs, &ours);
    assert_eq!(ours["alerts"][0]["fingerprint"], held["fingerprint"]);

    // Resolved: gone from Alertmanager's list, and both webhooks say so alike.
    cpu.set(10.0);
    wait_for(
        "Alertmanager to resolve it",
        Duration::from_secs(30),
        || {
            am.alerts()
                .iter()
                .all(|a| a["labels"]["alertname"] != "HighCpu")
                .then_some(())
        },
    );
    let theirs = wait_for(
        "Alertmanager's resolved webhook",
        Duration::from_secs(30),
        || payload(&am_hook, "resolved"),
    );
    let ours = wait_for("our resolved webhook", Duration::from_secs(30), || {
        payload(&our_hook, "resolved")
    });
    assert_same_payload(&theirs, &ours);
    let status = monitor.notification_channels();
    assert!(
        status
            .iter()
            .all(|c| c.delivered >= 1 && c.last_error.is_none()),
        "{status:?}"
    );
    monitor.stop().unwrap();
}

/// Every field of Alertmanager's webhook payload equals ours.
fn assert_same_payload(theirs: &Value, ours: &Value) {
    let fields = [
        "version",
        "status",
        "receiver",
        "groupKey",
        "truncatedAlerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
    ];
    for field in fields {
        assert_eq!(
            theirs[field], ours[field],
            "{field}: theirs {theirs:#} ours {ours:#}"
        );
    }
    let (a, b) = (
        theirs["alerts"].as_array().unwrap(),
        ours["alerts"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "theirs {theirs:#} ours {ours:#}");
    for (x, y) in a.iter().zip(b) {
        for field in [
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        ] {
            assert_eq!(
                x[field], y[field],
                "alerts[].{field}: theirs {x:#} ours {y:#}"
            );
        }
    }
    let mut keys: Vec<&String> = theirs.as_object().unwrap().keys().collect();
    let mut our_keys: Vec<&String> = ours.as_object().unwrap().keys().collect();
    keys.sort();
    our_keys.sort();
    assert_eq!(keys, our_keys);
}
