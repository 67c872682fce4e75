//! Scaling out: remote write to Prometheus, Mimir, Thanos or VictoriaMetrics, and federation.
//!
//! **Remote write** ships every sample of the history to the stores that run at scale, with
//! Prometheus's own `remote_write` settings (`url`, `name`, `remote_timeout`, `headers`,
//! `basic_auth` or `authorization`, `write_relabel_configs` with `keep`, `drop`, `replace`,
//! `labeldrop`, `labelkeep`, `queue_config`, `metadata_config`):
//!
//! ```toml
//! # Prometheus, started with --web.enable-remote-write-receiver
//! [[remote_write]]
//! url = "http://prometheus:9090/api/v1/write"
//!
//! # Grafana Mimir (or Grafana Cloud, with its user and API key)
//! [[remote_write]]
//! url = "https://mimir.example/api/v1/push"
//! headers = { "X-Scope-OrgID" = "db-team" }
//! basic_auth = { username = "db", password = "…" }
//! queue_config = { max_samples_per_send = 2000, batch_send_deadline = "5s" }
//!
//! # VictoriaMetrics
//! [[remote_write]]
//! url = "http://victoria:8428/api/v1/write"
//!
//! [[remote_write.write_relabel_configs]]   # only the database's series and alerts
//! source_labels = ["__name__"]
//! regex = "kotoba_db_.*|ALERTS"
//! action = "keep"
//! ```
//!
//! Each endpoint has a thread of its own that reads the history from its own position (kept
//! under `storage.path`) as Prometheus reads its WAL, so a receiver that is down gets what it
//! missed when it is back, each series in order, nothing lost and nothing sent twice while the
//! history still holds it; what retention dropped first is counted in
//! `kotoba_monitoring_remote_gap_seconds_total`. 5xx and connection errors are retried with
//! backoff (`min_backoff` to `max_backoff`), 429 too with `retry_on_http_429`; other 4xx are
//! dropped and counted. One slow endpoint delays no other, and never the collection. The global
//! labels become external labels. Per `url`: `kotoba_monitoring_remote_samples_total{result}`
//! (`sent`, `failed`, `retried`, `dropped` by relabeling), `_samples_pending`,
//! `_highest_sent_timestamp_seconds` and `_send_duration_seconds`; alert on the lag with
//! `time() - kotoba_monitoring_remote_highest_sent_timestamp_seconds > 120`, or read
//! `monitor.remote_write_status()`. A real Prometheus 2.42 and a VictoriaMetrics 1.79 hold
//! exactly our history after a run during which each was restarted (`tests/remote_write.rs`;
//! VictoriaMetrics keeps 12 significant digits of a fraction).
//!
//! **Federation**: `GET /federate?match[]=…` serves the newest sample of each matching series
//! (within the query lookback) with its timestamp, as Prometheus serves it: every series
//! `untyped`, stale ones left out, the global labels added where a series lacks them (and
//! `instance=""`). A central Prometheus pulls recording-rule results and alerts from each
//! database node:
//!
//! ```yaml
//! scrape_configs:
//!   - job_name: kotoba-federate
//!     honor_labels: true        # keep the nodes' own labels; without it, ours become exported_*
//!     metrics_path: /federate
//!     params:
//!       'match[]':
//!         - '{__name__=~"job:.*"}'   # recording rules
//!         - 'ALERTS'
//!     static_configs:
//!       - targets: ['db-1:9090', 'db-2:9090']
//! ```
