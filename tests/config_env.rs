//! `MonitoringConfig::load` with the real process environment: defaults < file < environment.
//!
//! This file holds one test, because it sets process environment variables.

use std::time::Duration;

use kotoba_monitoring::MonitoringConfig;

#[test]
fn load_layers_defaults_file_and_environment() {
    let path = std::env::temp_dir().join(format!("kotoba-load-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "collection_interval = \"5s\"\n[prometheus_config]\nport = 9100\npath = \"/from-file\"\n",
    )
    .unwrap();

    std::env::remove_var("KOTOBA_METRICS_PATH");
    std::env::set_var("KOTOBA_METRICS_PORT", "9300");
    let loaded = MonitoringConfig::load(Some(&path));
    let defaults_and_env = MonitoringConfig::load(None);
    std::env::remove_var("KOTOBA_METRICS_PORT");
    let _ = std::fs::remove_file(&path);

    let c = loaded.unwrap();
    assert_eq!(
        c.collection_interval,
        Duration::from_secs(5),
        "from the file"
    );
    assert_eq!(c.health_check_interval, Duration::from_secs(30), "default");
    assert_eq!(
        c.prometheus_config.port, 9300,
        "the environment beats the file"
    );
    assert_eq!(
        c.prometheus_config.path, "/from-file",
        "the file beats the default"
    );
    let d = defaults_and_env.unwrap();
    assert_eq!(d.prometheus_config.port, 9300);
    assert_eq!(d.prometheus_config.path, "/metrics");
}
