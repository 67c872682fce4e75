//! Alerting in a running monitor: rule files and the configuration's rules evaluated on the
//! `kotoba-alert` thread over the history, alerts listed in code, on `/alerts` and on
//! `/api/v1/alerts`, recordings written back, failures reported, bad files refused.

mod common;

use std::time::Duration;

use common::{get, wait_for};
use kotoba_monitoring::{
    AlertRule, AlertSeverity, AlertState, AlertThreshold, Monitor, MonitoringConfig,
    MonitoringError, QueryValue,
};

/// A monitor collecting every 50 ms, alerting on, serving on a free port.
fn config(rule_file: Option<&std::path::Path>) -> MonitoringConfig {
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(50),
        ..MonitoringConfig::default()
    };
    config.prometheus_config.address = "127.0.0.1".into();
    config.prometheus_config.port = 0;
    config.alerting_config.enabled = true;
    config.alerting_config.evaluation_interval = Duration::from_millis(100);
    config.alerting_config.external_url = "https://grafana.example/d/db".into();
    config.alerting_config.rule_files = rule_file.into_iter().map(Into::into).collect();
    config
        .prometheus_config
        .global_labels
        .insert("cluster".into(), "east".into());
    config
}

const RULES: &str = r#"
groups:
  - name: queues
    rules:
      - record: queue:depth:max
        expr: max by (queue) (app_queue_depth)
      - alert: QueueBacklog
        expr: queue:depth:max > 10
        labels:
          severity: page
        annotations:
          summary: 'queue {{ $labels.queue }} holds {{ $value }} in {{ $externalLabels.cluster }}, see {{ $externalURL }}' 
      - alert: Broken
        expr: app_queue_depth + on() app_queue_depth
"#;

#[test]
fn a_rule_file_fires_resolves_and_is_listed_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, RULES).unwrap();
    let monitor = Monitor::new(config(Some(&path))).unwrap();
    let depth = monitor
        .registry()
        .gauge_family("app_queue_depth", "Items waiting.")
        .unwrap();
    depth
        .with_labels(&[("queue", "jobs"), ("host", "a")])
        .unwrap()
        .set(12.0);
    depth
        .with_labels(&[("queue", "jobs"), ("host", "b")])
        .unwrap()
        .set(3.0);
    monitor.start().unwrap();

    let alert = wait_for("QueueBacklog to fire", Duration::from_secs(30), || {
        monitor
            .alerts()
            .into_iter()
            .find(|a| a.state == AlertState::Firing)
    });
    assert_eq!(
        alert.labels,
        [
            ("alertname".to_string(), "QueueBacklog".to_string()),
            ("queue".to_string(), "jobs".to_string()),
            ("severity".to_string(), "page".to_string()),
        ]
    );
    assert_eq!(
        alert.annotations,
        [(
            "summary".to_string(),
            "queue jobs holds 12 in east, see https://grafana.example/d/db".to_string()
        )]
    );
    assert_eq!(alert.value, 12.0);

    // The recording is in the history for queries and other rules.
    let now = time::OffsetDateTime::now_utc();
    let QueryValue::Vector(recorded) = monitor.query("queue:depth:max", now).unwrap() else {
        panic!("not a vector")
    };
    assert_eq!(recorded[0].value, 12.0);
    let QueryValue::Vector(alerts) = monitor
        .query("ALERTS{alertname=\"QueueBacklog\"}", now)
        .unwrap()
    else {
        panic!("not a vector")
    };
    assert!(alerts[0]
        .labels
        .contains(&("alertstate".to_string(), "firing".to_string())));

    // Listed as Prometheus lists them.
    let addr = monitor.local_addr().unwrap();
    let page: serde_json::Value = serde_json::from_slice(&get(addr, "/alerts").body).unwrap();
    let listed = page["alerts"].clone();
    assert_eq!(listed[0]["labels"]["alertname"], "QueueBacklog");
    assert_eq!(listed[0]["state"], "firing");
    assert_eq!(listed[0]["value"], "1.2e+01");
    let api: serde_json::Value = serde_json::from_slice(&get(addr, "/api/v1/alerts").body).unwrap();
    assert_eq!(api["status"], "success");
    assert_eq!(api["data"]["alerts"], listed);

    // The groups and rules as Prometheus's /api/v1/rules lists them, with their health.
    let rules: serde_json::Value =
        serde_json::from_slice(&get(addr, "/api/v1/rules").body).unwrap();
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["name"], "queues");
    assert!(group["file"].as_str().unwrap().ends_with("rules.yml"));
    assert_eq!(group["rules"][0]["type"], "recording");
    assert_eq!(group["rules"][0]["health"], "ok");
    assert_eq!(group["rules"][1]["state"], "firing");
    assert_eq!(group["rules"][1]["alerts"][0]["labels"]["queue"], "jobs");
    assert_eq!(group["rules"][2]["health"], "err");
    assert!(group["rules"][2]["lastError"]
        .as_str()
        .unwrap()
        .contains("many-to-many"));
    // And the evaluations counted on /metrics.
    let metrics = get(addr, "/metrics").text();
    let evaluations = metrics
        .lines()
        .find(|l| {
            l.starts_with("kotoba_monitoring_rule_evaluations_total{")
                && l.contains("rule_group=\"queues\"")
        })
        .unwrap_or_else(|| panic!("no evaluation count in {metrics}"));
    assert!(!evaluations.ends_with(" 0"), "{evaluations}");
    let rules_line = metrics
        .lines()
        .find(|l| l.starts_with("kotoba_monitoring_rule_group_rules{"))
        .unwrap_or_else(|| panic!("no rule count in {metrics}"));
    assert!(
        rules_line.contains("rule_group=\"queues\"") && rules_line.ends_with(" 3.0"),
        "{rules_line}"
    );

    // ALERTS and ALERTS_FOR_STATE are on /metrics too, for a Prometheus scraping us.
    let alert_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("ALERTS{") && l.contains("alertname=\"QueueBacklog\""))
            .map(str::to_owned)
            .collect()
    };
    let exposed = alert_lines(&metrics);
    assert_eq!(exposed.len(), 1, "{metrics}");
    assert!(exposed[0].contains("alertstate=\"firing\""), "{exposed:?}");
    assert!(metrics.lines().any(|l| l.starts_with("ALERTS_FOR_STATE{")));

    // A rule that fails is reported, and does not stop the others.
    let errors = monitor.rule_errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("\"Broken\"") && e.contains("many-to-many")),
        "{errors:?}"
    );

    // Below the threshold again: resolved, no longer listed.
    depth
        .with_labels(&[("queue", "jobs"), ("host", "a")])
        .unwrap()
        .set(1.0);
    wait_for("QueueBacklog to resolve", Duration::from_secs(30), || {
        monitor.alerts().is_empty().then_some(())
    });
    assert!(alert_lines(&get(addr, "/metrics").text()).is_empty());
    monitor.stop().unwrap();
}

#[test]
fn a_configured_rule_filters_its_query_by_its_threshold() {
    let mut config = config(None);
    config.alerting_config.rules.push(AlertRule {
        name: "High CPU Usage".into(),
        description: "CPU usage is above 80%".into(),
        query: "app_cpu_percent".into(),
        threshold: AlertThreshold::GreaterThan(80.0),
        evaluation_interval: Duration::from_millis(100),
        severity: AlertSeverity::Warning,
        labels: [("team".to_string(), "db".to_string())].into(),
        recovery: Some(AlertThreshold::LessThan(70.0)),
    });
    let monitor = Monitor::new(config).unwrap();
    let cpu = monitor
        .registry()
        .gauge_family("app_cpu_percent", "CPU in use.")
        .unwrap();
    cpu.with_labels(&[("core", "0")]).unwrap().set(95.0);
    cpu.with_labels(&[("core", "1")]).unwrap().set(20.0);
    monitor.start().unwrap();
    let alerts = wait_for("the rule to fire", Duration::from_secs(30), || {
        let alerts = monitor.alerts();
        (!alerts.is_empty()).then_some(alerts)
    });
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].labels,
        [
            ("alertname".to_string(), "High CPU Usage".to_string()),
            // The global labels are on every series the history holds, as on /metrics.
            ("cluster".to_string(), "east".to_string()),
            ("core".to_string(), "0".to_string()),
            ("severity".to_string(), "warning".to_string()),
            ("team".to_string(), "db".to_string()),
        ]
    );
    assert_eq!(alerts[0].state, AlertState::Firing);
    assert_eq!(
        alerts[0].annotations,
        [(
            "description".to_string(),
            "CPU usage is above 80%".to_string()
        )]
    );

    hysteresis_holds_between_75_and_70(&monitor, &cpu.with_labels(&[("core", "0")]).unwrap());
    monitor.stop().unwrap();
}

/// At 75 (below the threshold of 80, above the recovery of 70) the firing alert stays
/// firing through several evaluations; at 65 it resolves.
fn hysteresis_holds_between_75_and_70(monitor: &Monitor, series: &kotoba_monitoring::Gauge) {
    series.set(75.0);
    let evaluations = || {
        let text = get(monitor.local_addr().unwrap(), "/metrics").text();
        text.lines()
            .filter(|l| l.starts_with("kotoba_monitoring_rule_evaluations_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    wait_for("75 in the history", Duration::from_secs(30), || {
        let now = time::OffsetDateTime::now_utc();
        match monitor.query("app_cpu_percent{core=\"0\"}", now).ok()? {
            QueryValue::Vector(v) if v.first()?.value == 75.0 => Some(()),
            _ => None,
        }
    });
    let seen = evaluations();
    wait_for("three evaluations at 75", Duration::from_secs(30), || {
        (evaluations() >= seen + 3.0).then_some(())
    });
    assert_eq!(monitor.alerts()[0].state, AlertState::Firing);
    series.set(65.0);
    wait_for(
        "the alert to resolve below 70",
        Duration::from_secs(30),
        || monitor.alerts().is_empty().then_some(()),
    );
}

#[test]
fn a_recovery_expression_holds_a_rule_file_s_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cpu.yml");
    std::fs::write(
        &path,
        "groups:\n  - name: cpu\n    interval: 100ms\n    rules:\n      - alert: CpuHigh\n        expr: app_cpu_percent > 80\n",
    )
    .unwrap();
    let mut config = config(Some(&path));
    config
        .alerting_config
        .recovery_expressions
        .insert("CpuHigh".into(), "app_cpu_percent < 70".into());
    let monitor = Monitor::new(config).unwrap();
    let cpu = monitor
        .registry()
        .gauge_family("app_cpu_percent", "CPU in use.")
        .unwrap();
    let core0 = cpu.with_labels(&[("core", "0")]).unwrap();
    core0.set(95.0);
    monitor.start().unwrap();
    wait_for("the rule to fire", Duration::from_secs(30), || {
        let alerts = monitor.alerts();
        alerts
            .first()
            .filter(|a| a.state == AlertState::Firing)
            .map(drop)
    });
    hysteresis_holds_between_75_and_70(&monitor, &core0);
    monitor.stop().unwrap();
}

#[test]
fn a_recovery_expression_must_name_a_rule_and_parse() {
    let mut config = config(None);
    config
        .alerting_config
        .recovery_expressions
        .insert("Nothing".into(), "up < 1".into());
    let err = Monitor::new(config.clone()).unwrap_err().to_string();
    assert!(
        err.contains("recovery_expressions.Nothing") && err.contains("no alerting rule is named"),
        "{err}"
    );
    config
        .alerting_config
        .recovery_expressions
        .insert("Nothing".into(), "up <".into());
    let err = Monitor::new(config).unwrap_err().to_string();
    assert!(err.contains("recovery_expressions.Nothing"), "{err}");
}

#[test]
fn flap_detection_thresholds_are_checked() {
    let mut config = config(None);
    config.alerting_config.flap_detection = Some(kotoba_monitoring::FlapDetection {
        start_percent: 5.0,
        stop_percent: 20.0,
    });
    let err = Monitor::new(config).unwrap_err();
    assert_eq!(err.field(), Some("alerting_config.flap_detection"), "{err}");
}

#[test]
fn a_bad_rule_file_is_refused_naming_the_file_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n",
    )
    .unwrap();
    let err = Monitor::new(config(Some(&path))).unwrap_err();
    assert!(
        matches!(err, MonitoringError::ConfigParse { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("bad.yml"), "{text}");
    assert!(
        text.contains("5:15: group \"g\", rule 1, \"A\": could not parse expression"),
        "{text}"
    );
    let missing = Monitor::new(config(Some(&dir.path().join("none.yml")))).unwrap_err();
    assert!(missing.to_string().contains("none.yml"), "{missing}");
}

#[test]
fn the_documented_recipes_are_the_tested_rule_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let docs = std::fs::read_to_string(format!("{root}/src/reference/alerting.rs")).unwrap();
    let docs: String = docs
        .lines()
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.trim_start_matches("//!"))
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    let rules =
        std::fs::read_to_string(format!("{root}/tests/rules/rule_files/recipes.yml")).unwrap();
    let body = &rules[rules.find("groups:").unwrap()..];
    assert!(
        docs.contains(body),
        "reference::alerting's recipes differ from tests/rules/rule_files/recipes.yml"
    );
}
