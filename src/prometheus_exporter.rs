//! The Prometheus exporter, [`PrometheusExporter`], and the kotoba-monitoring 0.1.21 API's
//! process-wide recording helpers over [`Registry::global`].
//!
//! # Recording helpers
//!
//! Each call looks its series up by name and labels, so it suits occasional events. On a hot
//! path, take a handle once from a [`Registry`] and record through it instead.
//!
//! Every started [`MetricsCollector`] stores the global registry's
//! series in its history alongside its own.
//!
//! # Examples
//!
//! ```
//! use kotoba_monitoring::prometheus_exporter::*;
//! use kotoba_monitoring::Registry;
//!
//! record_counter("user_registrations_total", 1, &[("region", "us-east")])?;
//! record_gauge("active_users", 150.0, &[("service", "auth")])?;
//! record_histogram("request_duration_seconds", 0.25, &[("endpoint", "/api/users")])?;
//!
//! let users = Registry::global().gauge("active_users", "", &[("service", "auth")])?;
//! assert_eq!(users.get(), 150.0);
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::dashboard::Dashboards;
use crate::http::{
    self, Authorizer, ConnectionMetrics, Exposition, ExpositionFormat, Routes, Server,
};
use crate::{HealthSource, MetricsCollector, MonitoringError, PrometheusConfig, Registry};

/// Serves the collector's series (and the global registry's) to Prometheus, with health and
/// probe endpoints, on a small HTTP server of its own threads.
///
/// # Endpoints
///
/// - `GET <path>` (default `/metrics`): every series, in OpenMetrics 1.0 when the scraper's
///   `Accept` header asks for it (Prometheus does), Prometheus text 0.0.4 otherwise; gzipped
///   when the scraper accepts gzip. Written by prometheus-client's encoders. `?format=text` or
///   `?format=openmetrics` overrides the `Accept` header (for a scrape job's `params`).
/// - `GET /health`: `application/health+json` per the IETF health-check draft; `200` for
///   `pass` and `warn`, `503` for `fail`.
/// - `GET /livez`, `GET /readyz`: `200 ok` or `503`; `?verbose` lists each check as
///   `[+]name ok` / `[-]name failed: reason`; `?exclude=name` leaves a check out.
/// - `GET /alerts`: the pending and firing alerts as a JSON list, as Prometheus's
///   `/api/v1/alerts` lists them (empty unless a [`Monitor`](crate::Monitor) with alerting
///   serves them).
/// - `GET`/`POST /api/v1/query` and `/api/v1/query_range`: PromQL over the collector's
///   history, in the Prometheus HTTP API's JSON, byte for byte; a form-encoded `POST` body is
///   read as Prometheus does. A query loads at most 5,000,000 samples and stops at its
///   `timeout` (default 2 minutes), checked between steps and within subqueries.
/// - The rest of the Prometheus API: `GET`/`POST /api/v1/series` and `/api/v1/labels`;
///   `GET /api/v1/label/<name>/values`, `/api/v1/metadata`, `/api/v1/status/buildinfo`,
///   `/api/v1/alerts` and `/api/v1/rules`.
///
/// Any other path gets `404`, a method the endpoint does not take `405`. With
/// [`PrometheusConfig::auth`] set, every request without the credentials gets `401`.
///
/// # What the exposition holds
///
/// - Every family of the collector's registry and of [`Registry::global`], sorted by name, with
///   [`PrometheusConfig::global_labels`] on every series. A name in both is one family: the
///   collector's type wins; counters with the same labels are added up (so the two
///   registries' own `kotoba_monitoring_*` counters read as one); other repeats are left out
///   and counted in `kotoba_monitoring_encode_errors_total`.
/// - Counters end in `_total` (added when the name lacks it). A name ending in a base unit
///   (`_seconds`, `_bytes`, `_ratio`, `_percent`, …) declares that UNIT in OpenMetrics.
/// - Histograms as cumulative `_bucket{le}`, `_sum`, `_count`, with the family's
///   [bucket bounds](crate::HistogramOpts::buckets) over the exact values, and `+Inf` equal to
///   `_count`.
/// - Each histogram's recent-window quantiles as a gauge family `<name>_window<_unit>` with a
///   `q` label (`0.5`, `0.9`, `0.95`, `0.99`, `0.999`), `NaN` while the window is empty.
///   prometheus-client has no summary type to write them with, and Prometheus forbids a
///   `quantile` label outside one; the gauge keeps them queryable without `histogram_quantile`
///   and passes `promtool check metrics`.
/// - Its own: `kotoba_monitoring_scrape_duration_seconds`, `kotoba_monitoring_scrapes_total`,
///   `kotoba_monitoring_exported_series`, `kotoba_monitoring_encode_errors_total`,
///   `kotoba_monitoring_http_requests_total`.
///
/// # Limits
///
/// No client can hold a thread. One event-loop thread (`kotoba-http-io`) does every socket
/// read and write without blocking; four workers (`kotoba-http-0` to `kotoba-http-3`) answer
/// only complete requests, so a scrape never waits behind a slow client.
///
/// - A request (head and body) must arrive within 5 s of its first byte (else `408`); its head
///   must fit in 16 KiB and 64 lines (`431`), its body in 64 KiB (`413`, sent before the body
///   when the client sends `Expect: 100-continue`).
/// - A response must be read within 10 s in all, else the connection is closed.
/// - A connection may idle 30 s between requests. At most 1,024 connections are open: a new
///   one past that closes the one idle longest, or gets `503` when none is idle.
/// - Responses waiting for slow readers hold at most 64 MiB: a new response that does not fit
///   closes the connections that have been writing longest.
///
/// Each refusal is counted in `kotoba_monitoring_http_refusals_total{reason}`, and
/// `kotoba_monitoring_http_connections` shows the connections open.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use kotoba_monitoring::{ExpositionFormat, MetricsCollector, MonitoringConfig,
///     PrometheusConfig, PrometheusExporter};
///
/// let collector = Arc::new(MetricsCollector::standalone(MonitoringConfig::default())?);
/// let prometheus_config = PrometheusConfig { port: 0, ..Default::default() };
/// let exporter = PrometheusExporter::new(Arc::clone(&collector), prometheus_config)?;
/// exporter.start()?;
/// println!("scrape {}", exporter.metrics_url().unwrap());
///
/// collector.registry().counter("kotoba_db_queries_total", "", &[("op", "get")])?.inc_by(3);
/// let text = exporter.encode(ExpositionFormat::PrometheusText)?;
/// assert!(text.contains("# HELP kotoba_db_queries_total Queries the database has executed since it started.\n"));
/// assert!(text.contains("\nkotoba_db_queries_total{op=\"get\"} 3\n"));
///
/// exporter.stop()?;
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
pub struct PrometheusExporter {
    collector: Arc<MetricsCollector>,
    config: PrometheusConfig,
    routes: Arc<Routes>,
    connection_metrics: ConnectionMetrics,
    server: Mutex<Option<Server>>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for PrometheusExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusExporter")
            .field("config", &self.config)
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl PrometheusExporter {
    /// A stopped exporter of `collector`'s series with `config`.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] when `config` does not validate, or its path is one of
    /// the built-in endpoints (`/health`, `/livez`, `/readyz`, `/alerts`, the `/api/v1/` ones).
    pub fn new(
        collector: Arc<MetricsCollector>,
        config: PrometheusConfig,
    ) -> Result<Self, MonitoringError> {
        config.validate()?;
        if http::is_builtin_path(&config.path) {
            return Err(MonitoringError::config(
                "prometheus_config.path",
                format!(
                    "{:?} is taken by a built-in endpoint; use another path such as \"/metrics\"",
                    config.path
                ),
            ));
        }
        let global_labels: Vec<(String, String)> = config
            .global_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let registry = collector.registry().clone();
        let registries = vec![registry.clone(), Registry::global().clone()];
        let dashboards = Arc::new(Dashboards::new(
            registries.clone(),
            Dashboards::expected(collector.config(), false),
            collector.config().collection_interval,
            collector.config().retention_period,
        ));
        let exposition = Exposition::new(registries, &global_labels, config.window_quantiles);
        let routes = Routes::new(
            config.path.clone(),
            exposition,
            Authorizer::new(config.auth.as_ref()),
            collector.history().clone(),
            global_labels,
            &registry,
            dashboards,
        )?
        .with_slow_queries({
            let collector = collector.clone();
            Box::new(move || collector.slow_queries())
        });
        let connection_metrics = ConnectionMetrics::new(&registry)?;
        Ok(Self {
            connection_metrics,
            shutdown_timeout: collector.config().shutdown_timeout,
            collector,
            config,
            routes: Arc::new(routes),
            server: Mutex::new(None),
        })
    }

    /// Binds the configured address and serves; does nothing when
    /// [`PrometheusConfig::enabled`] is false.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Bind`] when the address cannot be listened on (the port is in use,
    /// the address is not this machine's); [`MonitoringError::AlreadyStarted`] when serving.
    pub fn start(&self) -> Result<(), MonitoringError> {
        let mut server = self.server.lock();
        if server.is_some() {
            return Err(MonitoringError::AlreadyStarted {
                component: "Prometheus exporter",
            });
        }
        if !self.config.enabled {
            return Ok(());
        }
        let listener = http::bind(self.config.address.trim(), self.config.port)?;
        let routes = self.routes.clone();
        *server = Some(Server::start(
            listener,
            Arc::new(move |request| routes.handle(request)),
            http::Limits::default(),
            self.connection_metrics.clone(),
        )?);
        Ok(())
    }

    /// Stops serving and joins the server's threads; does nothing when stopped. A response
    /// being written is finished first.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ShutdownTimeout`] when a thread did not end within the collector's
    /// `shutdown_timeout`.
    pub fn stop(&self) -> Result<(), MonitoringError> {
        match self.server.lock().take() {
            Some(server) => server.stop(self.shutdown_timeout),
            None => Ok(()),
        }
    }

    /// Whether the server is running.
    pub fn is_running(&self) -> bool {
        self.server.lock().is_some()
    }

    /// The address the server listens on, with the real port when port 0 was configured; `None`
    /// while stopped.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.lock().as_ref().map(Server::local_addr)
    }

    /// `http://<address>/<path>` of the metrics endpoint while running.
    pub fn metrics_url(&self) -> Option<String> {
        self.local_addr()
            .map(|addr| format!("http://{addr}{}", self.config.path))
    }

    /// One scrape in `format`, without HTTP: exactly the text the endpoint serves.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Encode`] if the encoder fails.
    pub fn encode(&self, format: ExpositionFormat) -> Result<String, MonitoringError> {
        self.routes.scrape(format)
    }

    /// Makes `/health`, `/livez` and `/readyz` answer from `source`. Until one is set, `/health`
    /// reports `warn` ("no health checks are attached") and the probes `ok`.
    pub fn set_health_source(&self, source: Arc<dyn HealthSource>) {
        self.routes.set_health_source(Some(source));
    }

    /// Serves `engine`'s alerts on `/alerts` and `/api/v1/alerts`.
    pub(crate) fn set_alert_source(&self, engine: Arc<crate::alert::RuleEngine>) {
        self.routes.set_alert_source(Some(engine));
    }

    /// Serves `notifier`'s channels' deliveries on `/alerts`.
    pub(crate) fn set_notification_source(&self, notifier: Arc<crate::notify::Notifier>) {
        self.routes.set_notification_source(Some(notifier));
    }

    /// Serves `dashboards` on the built-in page and `/api/v1/grafana/dashboards`.
    pub(crate) fn set_dashboards(&self, dashboards: Arc<Dashboards>) {
        self.routes.set_dashboards(dashboards);
    }

    /// The collector whose series are served.
    pub fn collector(&self) -> &Arc<MetricsCollector> {
        &self.collector
    }

    /// The configuration in force.
    pub fn config(&self) -> &PrometheusConfig {
        &self.config
    }
}

impl Drop for PrometheusExporter {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Adds `value` to the counter `name{labels}` of the global registry, creating it if needed.
///
/// # Errors
///
/// Bad names or labels, a name registered as another type, a full family.
pub fn record_counter(
    name: &str,
    value: u64,
    labels: &[(&str, &str)],
) -> Result<(), MonitoringError> {
    Registry::global().counter(name, "", labels)?.inc_by(value);
    Ok(())
}

/// Sets the gauge `name{labels}` of the global registry to `value`, creating it if needed.
///
/// # Errors
///
/// As [`record_counter`].
pub fn record_gauge(
    name: &str,
    value: f64,
    labels: &[(&str, &str)],
) -> Result<(), MonitoringError> {
    Registry::global().gauge(name, "", labels)?.set(value);
    Ok(())
}

/// Observes `value` in the histogram `name{labels}` of the global registry, creating it with
/// default options if needed.
///
/// # Errors
///
/// As [`record_counter`], and [`MonitoringError::InvalidValue`] for a negative or NaN value.
pub fn record_histogram(
    name: &str,
    value: f64,
    labels: &[(&str, &str)],
) -> Result<(), MonitoringError> {
    if value.is_nan() || value < 0.0 {
        return Err(MonitoringError::InvalidValue {
            metric: name.to_owned(),
            value,
            reason: "a histogram only takes non-negative values",
        });
    }
    Registry::global()
        .histogram(name, "", labels)?
        .observe(value);
    Ok(())
}
