//! A monitor stopped and started again on the same `storage.path`: its history is there,
//! a firing alert fires on from its original `activeAt` without paging anyone again, and
//! its resolution still reaches the receiver.

mod common;

use std::time::Duration;

use common::{wait_for, Answer, HookServer};
use kotoba_monitoring::{
    AlertState, Gauge, Monitor, MonitoringConfig, NotificationConfig, NotificationType,
};

const RULES: &str = r#"
groups:
  - name: cpu
    interval: 100ms
    rules:
      - alert: HighCpu
        expr: app_cpu_percent > 80
        for: 2s
        labels:
          severity: warning
"#;

fn config(folder: &std::path::Path, hook: &HookServer) -> MonitoringConfig {
    let rules = folder.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(50),
        ..MonitoringConfig::default()
    };
    config.prometheus_config.enabled = false;
    config.storage.path = Some(folder.join("data"));
    let alerting = &mut config.alerting_config;
    alerting.enabled = true;
    alerting.rule_files = vec![rules];
    alerting.resend_delay = Duration::from_secs(1);
    // `for: 2s` is restored: the grace period is shorter.
    alerting.for_grace_period = Duration::from_secs(1);
    alerting.notifications = vec![NotificationConfig::new(
        NotificationType::Webhook,
        &[("url", hook.url("/hook").as_str())],
    )];
    alerting.route.group_wait = Some(Duration::from_millis(500));
    alerting.route.group_interval = Some(Duration::from_millis(500));
    alerting.route.repeat_interval = Some(Duration::from_secs(3600));
    config
}

fn started_hot(config: MonitoringConfig) -> (Monitor, Gauge) {
    let monitor = Monitor::new(config).unwrap();
    let cpu = monitor
        .registry()
        .gauge("app_cpu_percent", "CPU in use.", &[("core", "0")])
        .unwrap();
    cpu.set(95.0);
    monitor.start().unwrap();
    (monitor, cpu)
}

fn statuses(hook: &HookServer) -> Vec<String> {
    hook.requests()
        .iter()
        .map(|r| r.json()["status"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_restart_keeps_history_alert_state_and_the_notification_log() {
    let dir = tempfile::tempdir().unwrap();
    // The first notification is answered late, so that the monitor is stopped while it is
    // under way: the delivery still goes in the notification log saved at the stop.
    let hook = HookServer::start(|n, _| match n {
        0 => Answer::Slow(Duration::from_millis(400), 200, "ok".into()),
        _ => Answer::Status(200, Vec::new(), "ok".into()),
    });
    let (first, _cpu) = started_hot(config(dir.path(), &hook));
    let fired = wait_for("HighCpu to fire", Duration::from_secs(30), || {
        first
            .alerts()
            .into_iter()
            .find(|a| a.state == AlertState::Firing)
    });
    wait_for("the firing notification", Duration::from_secs(30), || {
        (statuses(&hook) == ["firing"]).then_some(())
    });
    first.stop().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let history_before = first
        .collector()
        .get_metrics("app_cpu_percent", now - Duration::from_secs(600), now)
        .unwrap();
    drop(first);

    let (second, cpu) = started_hot(config(dir.path(), &hook));
    // The history from before the restart is there from the start.
    let history_after = second
        .collector()
        .get_metrics("app_cpu_percent", now - Duration::from_secs(600), now)
        .unwrap();
    assert_eq!(history_after, history_before);
    assert!(history_before.len() >= 10, "{}", history_before.len());
    // Firing again with the activeAt it had (Prometheus keeps it to the second).
    let again = wait_for("HighCpu to fire again", Duration::from_secs(30), || {
        second
            .alerts()
            .into_iter()
            .find(|a| a.state == AlertState::Firing)
    });
    assert_eq!(
        again.active_at.unix_timestamp(),
        fired.active_at.unix_timestamp()
    );
    // Two group intervals go by with it firing: no notification is sent again.
    let settled = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < settled {
        assert_eq!(statuses(&hook), ["firing"], "paged again after the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Cooled: the resolution still goes out.
    cpu.set(10.0);
    wait_for("the resolved notification", Duration::from_secs(30), || {
        (statuses(&hook) == ["firing", "resolved"]).then_some(())
    });
    second.stop().unwrap();
}
