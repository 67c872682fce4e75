//! Configuration: the fields and defaults, the TOML file, the environment.
//!
//! `MonitoringConfig` has the kotoba-monitoring 0.1.21 API's fields and defaults: collection every
//! 15 s, health checks every 30 s, 3600 s of history, at most 10 000 points per series, the
//! endpoint on `127.0.0.1:9090/metrics`, alerting off. `validate()` refuses values that cannot work
//! and names the field and the fix.
//!
//! `MonitoringConfig::load(Some(path))` layers, lowest first: the defaults, a TOML file, then the
//! environment (`KOTOBA_METRICS_PORT`, `KOTOBA_METRICS_PATH`, `KOTOBA_METRICS_BEARER_TOKEN`,
//! `KOTOBA_ALERT_SLACK_WEBHOOK`, `KOTOBA_ALERT_EMAIL_SMTP`). Durations are written with a unit.
//! `PrometheusConfig` has the kotoba-monitoring 0.1.21 API's five fields plus `auth`; build it with
//! `..Default::default()`:
//!
//! ```toml
//! collection_interval = "10s"
//! retention_period = "2h"
//! latency_window = "1m"
//! query_lookback = "5m"         # how far back a PromQL selector looks (Prometheus's default)
//! max_series_per_metric = 2000
//! max_metric_families = 2000    # names; record_metric with ever-new names is refused past it
//! max_total_series = 100000
//!
//! [prometheus_config]
//! port = 0          # any free port
//! auth = { bearer = { token = "s3cret" } }   # or { basic = { username = "…", password = "…" } }
//!
//! [prometheus_config.global_labels]
//! cluster = "production"
//!
//! [exemplars]
//! keep = "slow"        # which traced queries keep an exemplar: off, slow, sampled, all
//! slow_query_log = 100
//!
//! [health_config]
//! check_timeout = "5s"
//! data_path = "/var/lib/kotoba"
//! disk_degraded_percent = 80.0
//!
//! [alerting_config]
//! enabled = true
//! rule_files = ["/etc/kotoba/rules.yml"]   # Prometheus rule files, unchanged
//! evaluation_interval = "1m"               # for their groups without an interval
//!
//! [[alerting_config.rules]]
//! name = "High CPU Usage"
//! description = "CPU usage is above 80%"
//! query = "system_cpu_usage_percent > 80"
//! threshold = { greater_than = 80.0 }
//! recovery = { less_than = 70.0 }          # optional: resolve only below 70
//! evaluation_interval = "1m"
//! severity = "warning"
//! ```
