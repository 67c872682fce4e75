//! Configuration from TOML, environment overrides and their precedence, and validation errors.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kotoba_monitoring::{
    AlertSeverity, AlertThreshold, MonitoringConfig, MonitoringError, NotificationType,
};

const FULL: &str = r##"
enable_health_checks = false
collection_interval = "10s"
health_check_interval = "20s"
retention_period = "2h"
max_metrics_points = 50000
latency_window = "5m"
ingest_overflow = "block"

[prometheus_config]
address = "0.0.0.0"
port = 9100
path = "/custom"

[prometheus_config.global_labels]
cluster = "production"
region = "us-east-1"

[alerting_config]
enabled = true

[[alerting_config.rules]]
name = "High CPU Usage"
description = "CPU usage is above 80%"
query = "system_cpu_usage_percent > 80"
threshold = { greater_than = 80.0 }
evaluation_interval = "1m"
severity = "warning"
labels = { team = "infrastructure" }

[[alerting_config.rules]]
name = "Database Down"
description = "Database health check is failing"
query = 'health_check_status{check_name="database"} == 0'
threshold = { equal = 0.0 }
evaluation_interval = "30s"
severity = "critical"

[[alerting_config.notifications]]
notification_type = "slack"
config = { webhook_url = "https://hooks.example/T000", channel = "#alerts" }
"##;

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("kotoba-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_full_file_reads_every_field() {
    let c = MonitoringConfig::from_toml_str(FULL).unwrap();
    assert!(c.enable_metrics, "unset fields keep their defaults");
    assert!(!c.enable_health_checks);
    assert_eq!(c.collection_interval, Duration::from_secs(10));
    assert_eq!(c.health_check_interval, Duration::from_secs(20));
    assert_eq!(c.retention_period, Duration::from_secs(7200));
    assert_eq!(c.max_metrics_points, 50_000);
    assert_eq!(c.latency_window, Duration::from_secs(300));
    assert_eq!(c.ingest_overflow, kotoba_monitoring::OverflowPolicy::Block);
    let p = &c.prometheus_config;
    assert_eq!(
        (p.address.as_str(), p.port, p.path.as_str()),
        ("0.0.0.0", 9100, "/custom")
    );
    assert_eq!(p.global_labels["region"], "us-east-1");
    let a = &c.alerting_config;
    assert!(a.enabled);
    assert_eq!(a.rules.len(), 2);
    assert_eq!(a.rules[0].threshold, AlertThreshold::GreaterThan(80.0));
    assert_eq!(a.rules[0].evaluation_interval, Duration::from_secs(60));
    assert_eq!(a.rules[0].labels["team"], "infrastructure");
    assert_eq!(a.rules[1].severity, AlertSeverity::Critical);
    assert_eq!(
        a.rules[1].query,
        r#"health_check_status{check_name="database"} == 0"#
    );
    assert_eq!(
        a.notifications[0].notification_type,
        NotificationType::Slack
    );
}

#[test]
fn serialized_config_reads_back_equal() {
    let c = MonitoringConfig::from_toml_str(FULL).unwrap();
    let text = toml::to_string(&c).unwrap();
    assert_eq!(MonitoringConfig::from_toml_str(&text).unwrap(), c);
}

#[test]
fn parse_errors_name_the_file_and_position() {
    let file = TempFile::new("bad.toml", "collection_interval = \"15 seconds\"\n");
    let err = MonitoringConfig::from_toml_file(&file.0).unwrap_err();
    let text = err.to_string();
    assert!(matches!(
        err,
        MonitoringError::ConfigParse { path: Some(_), .. }
    ));
    assert!(text.contains("bad.toml"), "{text}");
    assert!(text.contains("line 1"), "{text}");
    assert!(
        text.contains("\"15s\""),
        "the message shows how to write it: {text}"
    );
}

#[test]
fn unknown_fields_are_errors() {
    let err = MonitoringConfig::from_toml_str("colection_interval = \"15s\"").unwrap_err();
    assert!(err.to_string().contains("colection_interval"), "{err}");
    let err = MonitoringConfig::from_toml_str("[prometheus_config]\nprot = 1").unwrap_err();
    assert!(err.to_string().contains("prot"), "{err}");
}

#[test]
fn invalid_values_in_a_file_are_refused_by_validate() {
    let err =
        MonitoringConfig::from_toml_str("[prometheus_config]\npath = \"metrics\"").unwrap_err();
    assert_eq!(err.field(), Some("prometheus_config.path"));
    let err = MonitoringConfig::from_toml_str("collection_interval = \"0s\"").unwrap_err();
    assert_eq!(err.field(), Some("collection_interval"));
}

#[test]
fn missing_file_is_an_io_error_with_the_path() {
    let err = MonitoringConfig::from_toml_file("/nonexistent/kotoba.toml").unwrap_err();
    assert!(matches!(err, MonitoringError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/kotoba.toml"));
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn environment_overrides_the_file() {
    let mut c = MonitoringConfig::from_toml_str(FULL).unwrap();
    c.apply_env_from(env(&[
        ("KOTOBA_METRICS_PORT", "9200"),
        ("KOTOBA_METRICS_PATH", "/prom"),
        ("KOTOBA_ALERT_SLACK_WEBHOOK", "https://hooks.example/NEW"),
        ("KOTOBA_ALERT_EMAIL_SMTP", "smtp.example:587"),
    ]))
    .unwrap();
    assert_eq!(c.prometheus_config.port, 9200);
    assert_eq!(c.prometheus_config.path, "/prom");
    let slack: Vec<_> = c
        .alerting_config
        .notifications
        .iter()
        .filter(|n| n.notification_type == NotificationType::Slack)
        .collect();
    assert_eq!(
        slack.len(),
        1,
        "the existing Slack channel is updated, not duplicated"
    );
    assert_eq!(slack[0].config["webhook_url"], "https://hooks.example/NEW");
    assert_eq!(slack[0].config["channel"], "#alerts", "other settings stay");
    let email = c
        .alerting_config
        .notifications
        .iter()
        .find(|n| n.notification_type == NotificationType::Email)
        .expect("an email channel is added");
    assert_eq!(email.config["smtp_server"], "smtp.example:587");
    // An email channel still needs its sender and recipients.
    let err = c.validate().unwrap_err();
    assert_eq!(
        err.field(),
        Some("alerting_config.notifications[1].config.from")
    );
}

#[test]
fn unset_or_empty_variables_change_nothing() {
    let mut c = MonitoringConfig::from_toml_str(FULL).unwrap();
    let before = c.clone();
    c.apply_env_from(env(&[("KOTOBA_METRICS_PORT", " ")]))
        .unwrap();
    assert_eq!(c, before);
}

#[test]
fn a_bad_port_variable_is_refused_and_changes_nothing() {
    let mut c = MonitoringConfig::default();
    let before = c.clone();
    for bad in ["http", "70000", "-1"] {
        let err = c
            .apply_env_from(env(&[
                ("KOTOBA_METRICS_PORT", bad),
                ("KOTOBA_METRICS_PATH", "/changed"),
            ]))
            .unwrap_err();
        assert_eq!(err.field(), Some("KOTOBA_METRICS_PORT"));
        assert!(err.to_string().contains("0 to 65535"), "{err}");
        assert_eq!(c, before);
    }
}

#[test]
fn port_zero_is_accepted() {
    let c = MonitoringConfig::from_toml_str("[prometheus_config]\nport = 0").unwrap();
    assert_eq!(c.prometheus_config.port, 0);
}

#[test]
fn sizes_that_would_exhaust_memory_are_refused_before_anything_is_built() {
    for capacity in [1usize << 40, 1 << 62, usize::MAX] {
        let config = MonitoringConfig {
            ingest_queue_capacity: capacity,
            ..MonitoringConfig::default()
        };
        let err = kotoba_monitoring::Monitor::new(config).unwrap_err();
        assert_eq!(err.field(), Some("ingest_queue_capacity"), "{err}");
        assert!(err.to_string().contains("1048576"), "{err}");
    }
    let registry = kotoba_monitoring::Registry::new();
    let opts = kotoba_monitoring::HistogramOpts::latency();
    for (opts, field) in [
        (opts.clone().window_slices(u32::MAX), "window_slices"),
        (opts.clone().significant_figures(5), "significant_figures"),
    ] {
        let err = registry
            .histogram_family_with("big_seconds", "x", opts)
            .unwrap_err();
        assert!(err.field().unwrap().ends_with(field), "{err}");
    }
    assert!(!registry.metric_names().iter().any(|n| n == "big_seconds"));
}

#[test]
fn parse_errors_never_show_a_secret() {
    let token = "s3cr3t-t0ken-value";
    let texts = [
        // A typo on the auth line: toml's own message quotes the whole line.
        format!("[prometheus_config]\nauth = {{ bearer = {{ token = \"{token}\" }}\nport = 1\n"),
        format!("[prometheus_config]\nauth = {{ bearer = {{ token = \"{token}\" }} ]\n"),
        // The wrong type: serde quotes the value it refused.
        format!("[prometheus_config]\nauth = \"Bearer {token}\"\n"),
        format!("[prometheus_config]\nauth = {{ bearer = {{ token = {token} }} }}\n"),
        format!("[[alerting_config.notifications]]\nnotification_type = \"slack\"\nconfig = {{ webhook_url = \"https://hooks.example/{token}\" \n"),
    ];
    for text in &texts {
        let err = MonitoringConfig::from_toml_str(text).unwrap_err();
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(token), "{shown}");
            assert!(shown.contains("line "), "{shown}");
        }
    }
}

#[test]
fn debug_output_never_shows_a_notification_secret() {
    let secret = "https://hooks.slack.com/services/T000/B000/s3cr3t";
    let mut config = MonitoringConfig::default();
    config
        .apply_env_from(env(&[("KOTOBA_ALERT_SLACK_WEBHOOK", secret)]))
        .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("webhook_url"), "{shown}");
}

#[test]
fn the_documented_toml_examples_load_and_validate() {
    let root = env!("CARGO_MANIFEST_DIR");
    // The README's examples, and the reference pages' (doc comments, their prefix taken off).
    let mut texts = vec![std::fs::read_to_string(format!("{root}/README.md")).unwrap()];
    for entry in std::fs::read_dir(format!("{root}/src/reference")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        texts.push(
            source
                .lines()
                .map(|l| {
                    l.strip_prefix("//! ")
                        .unwrap_or(l.trim_start_matches("//!"))
                })
                .flat_map(|l| [l, "\n"])
                .collect(),
        );
    }
    let mut blocks = 0;
    for text in &texts {
        for block in text.split("```toml\n").skip(1) {
            let text = block.split("```").next().unwrap();
            if text.starts_with("[dependencies]") {
                // Cargo's manifest, not a configuration.
                continue;
            }
            let config = MonitoringConfig::from_toml_str(text)
                .unwrap_or_else(|e| panic!("documented TOML does not load: {e}\n{text}"));
            // Paths in the examples need not exist; everything else must work.
            config
                .validate()
                .unwrap_or_else(|e| panic!("documented TOML does not validate: {e}\n{text}"));
            blocks += 1;
        }
    }
    assert!(blocks >= 8, "{blocks} TOML blocks");
}

#[test]
fn remote_write_credentials_stay_out_of_debug_and_bad_endpoints_are_named() {
    let config = MonitoringConfig::from_toml_str(
        r#"
        [[remote_write]]
        url = "https://user:urlpass@mimir.example/api/v1/push"
        headers = { "X-Api-Key" = "headerkey" }
        basic_auth = { username = "db", password = "basicpass" }
        [[remote_write]]
        url = "http://victoria:8428/api/v1/write"
        authorization = { credentials = "bearertoken" }
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(
        config.remote_write[1].authorization.as_ref().unwrap().kind,
        "Bearer"
    );
    let shown = format!("{config:?}");
    for secret in ["urlpass", "headerkey", "basicpass", "bearertoken"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    let bad = |toml: &str| {
        MonitoringConfig::from_toml_str(toml)
            .and_then(|c| c.validate())
            .unwrap_err()
    };
    let e = bad("[[remote_write]]\nurl = \"victoria:8428\"\n");
    assert_eq!(e.field(), Some("remote_write[0].url"), "{e}");
    let e = bad("[[remote_write]]\nurl = \"http://a/w\"\n[[remote_write.write_relabel_configs]]\nregex = \"(\"\naction = \"keep\"\nsource_labels = [\"__name__\"]\n");
    assert_eq!(
        e.field(),
        Some("remote_write[0].write_relabel_configs[0].regex"),
        "{e}"
    );
    let e = bad("[[remote_write]]\nurl = \"http://a/w\"\n[[remote_write]]\nurl = \"http://a/w\"\n");
    assert_eq!(e.field(), Some("remote_write[1].name"), "{e}");
    let e = bad("[storage]\nfsync_interval = \"0s\"\n");
    assert_eq!(e.field(), Some("storage.fsync_interval"), "{e}");
}
