//! The Prometheus endpoint: every path the monitor serves, what Prometheus sees, and the limits that keep clients from stalling it.
//!
//! `PrometheusExporter` (started by `Monitor`, or on its own with
//! `PrometheusExporter::new(collector, prometheus_config)`) serves, on its own threads:
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /metrics` (the configured path) | every series, OpenMetrics 1.0 when `Accept` asks for it (Prometheus does), Prometheus text 0.0.4 otherwise; `?format=text` / `?format=openmetrics` override; gzip when accepted |
//! | `GET /health` | `application/health+json` (IETF health-check draft): `pass`/`warn` → 200, `fail` → 503 |
//! | `GET /livez`, `GET /readyz` | `ok` or 503; `?verbose` lists `[+]name ok` / `[-]name failed: reason`; `?exclude=name` |
//! | `GET`/`POST /api/v1/query`, `/api/v1/query_range` | PromQL over the history in Prometheus's JSON (`query`, `time`, `start`, `end`, `step`, `timeout`; errors as `bad_data` 400, `execution` 422, `timeout` 503), so `promtool query` and Grafana's Prometheus data source can point at the database |
//! | `GET`/`POST /api/v1/series`, `/api/v1/labels`; `GET /api/v1/label/<name>/values` | The series, label names and label values the history holds (`match[]`, `start`, `end`), for Grafana's metric browser and variables |
//! | `GET /api/v1/metadata`, `/api/v1/status/buildinfo` | Each family's type, help and unit exactly as a Prometheus scraping us records them (`metric`, `limit`); the Prometheus version whose semantics we answer with (2.42.0) and ours |
//! | `GET /alerts`, `GET /api/v1/alerts`, `GET /api/v1/rules` | `alerts`: the pending and firing alerts, as Prometheus's `/api/v1/alerts` lists them (labels, annotations, state, `activeAt`, value), and `notifications`: each channel's deliveries, failures, held and queued notifications and last error; the second the alerts in Prometheus's envelope; the rule groups and rules with their state, health, last error and evaluation time, as `/api/v1/rules` |
//! | `GET /`, `/dashboard` | The built-in dashboard (see [Dashboards](super::dashboards)); its files under `/dashboard/`, its panels at `/dashboard/panels.json`. `/` is the metrics when the metrics path is `/` |
//! | `GET`/`POST /api/v1/query_exemplars`; `GET /api/v1/slow_queries` | The exemplars of the series a query's selectors select (`query`, `start`, `end`), as Prometheus answers; the slow-query log, newest first (see [Exemplars](super::exemplars)) |
//! | `GET /api/v1/grafana/dashboards` | The four Grafana dashboards, as a JSON array (`Monitor::grafana_dashboards`) |
//! | anything else | 404 (unknown path), 405 (a method other than GET/HEAD, or than those above for `/api/v1/*`), 401 without the configured credentials |
//!
//! What Prometheus sees: the collector's registry and `Registry::global()`, with `global_labels` on
//! every series (a series' own label of the same name wins); a real HELP for every family (the
//! metric names of the kotoba-monitoring 0.1.21 API have descriptions built in); a UNIT where the
//! name ends in one; counters ending in `_total`; histograms as cumulative `_bucket{le}`, `_sum`,
//! `_count` with `+Inf` equal to the count, with bounds chosen per family
//! (`HistogramOpts::buckets`; latency families default to 100 µs – 10 s). The recent-window
//! quantiles that the histograms give to within 1% are exported as a gauge family beside each
//! histogram, `<name>_window<_unit>{q="0.5|0.9|0.95|0.99|0.999"}`: prometheus-client has no summary
//! type, and Prometheus forbids the `quantile` label outside a summary; `window_quantiles = false`
//! in `[prometheus_config]` leaves them out. The exporter counts itself in
//! `kotoba_monitoring_scrape_duration_seconds`, `kotoba_monitoring_scrapes_total{format}`,
//! `kotoba_monitoring_exported_series`, `kotoba_monitoring_encode_errors_total` and
//! `kotoba_monitoring_http_requests_total{endpoint,code}`.
//!
//! No client can stall a scrape: one event-loop thread reads and writes every socket without
//! blocking, and the four workers see only complete requests. A request must arrive within 5 s of
//! its first byte and fit in 16 KiB of head (else 408 / 431) and 64 KiB of body (413); a response
//! must be read within 10 s; at most 1,024 connections (a new one past that closes the one idle
//! longest, or gets 503); at most 64 MiB of responses waiting for slow readers. Refusals are
//! counted in `kotoba_monitoring_http_refusals_total{reason}`. Optional bearer or basic auth (`PrometheusConfig::auth`, or
//! `KOTOBA_METRICS_BEARER_TOKEN`) guards every endpoint; the secret never appears in `Debug`
//! output or responses. A matching `prometheus.yml`:
//!
//! ```yaml
//! scrape_configs:
//!   - job_name: kotoba
//!     static_configs: [{ targets: ["127.0.0.1:9090"] }]
//!     authorization: { credentials: "the token" }   # only with auth = { bearer = ... }
//! ```
