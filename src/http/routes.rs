//! Module implementing the exporter's endpoints: authentication, routing, and the self-metrics
//! of serving them. See [`Routes`] for details.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;

use super::api::Endpoint;
use super::auth::Authorizer;
use super::exposition::{Exposition, ExpositionFormat};
use super::request::Request;
use super::response::Response;
use crate::dashboard::Dashboards;
use crate::health::{HealthReport, HealthSource};
use crate::metrics::Family;
use crate::worker::guarded;
use crate::{Counter, Gauge, Histogram, HistoryStore, MonitoringError, Registry};

/// The fixed endpoints besides the metrics path and the Prometheus API.
const FIXED_PATHS: [&str; 6] = [
    "/health",
    "/livez",
    "/readyz",
    "/alerts",
    "/federate",
    "/dashboard",
];

/// Where the Grafana dashboards are served.
const GRAFANA_PATH: &str = "/api/v1/grafana/dashboards";

/// The Prometheus API's endpoints, as the 404 answer lists them.
const API_PATHS: [&str; 11] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/<name>/values",
    "/api/v1/metadata",
    "/api/v1/status/buildinfo",
    "/api/v1/alerts",
    "/api/v1/rules",
    "/api/v1/query_exemplars",
    "/api/v1/slow_queries",
];

/// Whether a built-in endpoint answers at `path`, so that the metrics cannot be served there.
pub(crate) fn is_builtin_path(path: &str) -> bool {
    FIXED_PATHS.contains(&path)
        || path.starts_with("/dashboard/")
        || path == GRAFANA_PATH
        || Endpoint::of(path).is_some()
}

/// The exporter's own metrics, recorded in the collector's registry.
#[derive(Debug)]
struct ServingMetrics {
    /// `kotoba_monitoring_scrape_duration_seconds`.
    scrape_duration: Histogram,
    /// `kotoba_monitoring_scrapes_total{format}`.
    scrapes_openmetrics: Counter,
    scrapes_text: Counter,
    /// `kotoba_monitoring_exported_series`.
    exported_series: Gauge,
    /// `kotoba_monitoring_encode_errors_total`.
    encode_errors: Counter,
    /// `kotoba_monitoring_http_requests_total{endpoint,code}`.
    requests: Family<Counter>,
}

impl ServingMetrics {
    fn new(registry: &Registry) -> Result<Self, MonitoringError> {
        let scrapes = registry.counter_family(
            "kotoba_monitoring_scrapes_total",
            "Metric scrapes served, by exposition format.",
        )?;
        Ok(Self {
            scrape_duration: registry.histogram(
                "kotoba_monitoring_scrape_duration_seconds",
                "Time to encode one scrape of every series.",
                &[],
            )?,
            scrapes_openmetrics: scrapes.with_labels(&[("format", "openmetrics")])?,
            scrapes_text: scrapes.with_labels(&[("format", "text")])?,
            exported_series: registry.gauge(
                "kotoba_monitoring_exported_series",
                "Series written by the last scrape (a histogram's buckets count as one series, each window quantile as one more).",
                &[],
            )?,
            encode_errors: registry.counter(
                "kotoba_monitoring_encode_errors_total",
                "Scrapes that failed to encode, and series left out because another registry holds the same name with another type, or the same gauge or histogram series.",
                &[],
            )?,
            requests: registry.counter_family(
                "kotoba_monitoring_http_requests_total",
                "HTTP requests answered by the exporter, by endpoint and status code.",
            )?,
        })
    }
}

/// Where `/api/v1/slow_queries` reads the slow-query log.
pub(crate) type SlowQueries = Box<dyn Fn() -> Vec<crate::SlowQuery> + Send + Sync>;

/// Everything a request needs: the exposition, the credentials, the health source.
pub(crate) struct Routes {
    metrics_path: String,
    exposition: Exposition,
    auth: Authorizer,
    health: RwLock<Option<Arc<dyn HealthSource>>>,
    /// What `/alerts` and `/api/v1/alerts` list.
    alerts: RwLock<Option<Arc<crate::alert::RuleEngine>>>,
    notifications: RwLock<Option<Arc<crate::notify::Notifier>>>,
    /// What `/api/v1/query` and `/api/v1/query_range` read.
    history: HistoryStore,
    /// The global labels, which `/federate` adds as Prometheus adds its external labels.
    global_labels: Vec<(String, String)>,
    /// What the built-in page and `/api/v1/grafana/dashboards` draw.
    dashboards: RwLock<Arc<Dashboards>>,
    /// The slow-query log, for `/api/v1/slow_queries`.
    slow_queries: SlowQueries,
    metrics: ServingMetrics,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("metrics_path", &self.metrics_path)
            .field("auth", &self.auth)
            .field("health_source", &self.health.read().is_some())
            .finish_non_exhaustive()
    }
}

impl Routes {
    pub(crate) fn new(
        metrics_path: String,
        exposition: Exposition,
        auth: Authorizer,
        history: HistoryStore,
        global_labels: Vec<(String, String)>,
        self_registry: &Registry,
        dashboards: Arc<Dashboards>,
    ) -> Result<Self, MonitoringError> {
        Ok(Self {
            metrics_path,
            exposition,
            auth,
            history,
            global_labels,
            dashboards: RwLock::new(dashboards),
            slow_queries: Box::new(Vec::new),
            health: RwLock::new(None),
            alerts: RwLock::new(None),
            notifications: RwLock::new(None),
            metrics: ServingMetrics::new(self_registry)?,
        })
    }

    pub(crate) fn set_health_source(&self, source: Option<Arc<dyn HealthSource>>) {
        *self.health.write() = source;
    }

    pub(crate) fn set_alert_source(&self, source: Option<Arc<crate::alert::RuleEngine>>) {
        *self.alerts.write() = source;
    }

    /// The routes reading the slow-query log from `source`.
    pub(crate) fn with_slow_queries(mut self, source: SlowQueries) -> Self {
        self.slow_queries = source;
        self
    }

    pub(crate) fn set_dashboards(&self, dashboards: Arc<Dashboards>) {
        *self.dashboards.write() = dashboards;
    }

    pub(crate) fn set_notification_source(&self, source: Option<Arc<crate::notify::Notifier>>) {
        *self.notifications.write() = source;
    }

    /// `/alerts`: the pending and firing alerts, as Prometheus's `/api/v1/alerts` lists them,
    /// and each notification channel's deliveries and last error.
    fn alerts_page(&self) -> serde_json::Value {
        let channels = match self.notifications.read().as_ref() {
            Some(notifier) => notifier.status(),
            None => Vec::new(),
        };
        serde_json::json!({
            "alerts": self.alerts_json(),
            "notifications": channels.iter().map(crate::ChannelStatus::json).collect::<Vec<_>>(),
        })
    }

    /// The pending and firing alerts as JSON objects, as Prometheus's `/api/v1/alerts` lists
    /// them.
    fn alerts_json(&self) -> serde_json::Value {
        let alerts = match self.alerts.read().as_ref() {
            Some(engine) => engine.alerts(),
            None => Vec::new(),
        };
        serde_json::Value::Array(
            alerts
                .iter()
                .map(crate::ActiveAlert::prometheus_json)
                .collect(),
        )
    }

    /// Encodes a scrape in `format`, recording the self-metrics.
    pub(crate) fn scrape(&self, format: ExpositionFormat) -> Result<String, MonitoringError> {
        let started = Instant::now();
        let encoded = self.exposition.encode(format);
        let stats = self.exposition.stats();
        self.metrics
            .encode_errors
            .inc_by(stats.duplicates.load(Ordering::Relaxed));
        match encoded {
            Ok(text) => {
                self.metrics
                    .exported_series
                    .set(stats.series.load(Ordering::Relaxed) as f64);
                match format {
                    ExpositionFormat::OpenMetrics => self.metrics.scrapes_openmetrics.inc(),
                    ExpositionFormat::PrometheusText => self.metrics.scrapes_text.inc(),
                }
                self.metrics
                    .scrape_duration
                    .observe_duration(started.elapsed());
                Ok(text)
            }
            Err(_) => {
                self.metrics.encode_errors.inc();
                Err(MonitoringError::Encode {
                    format: match format {
                        ExpositionFormat::OpenMetrics => "OpenMetrics",
                        ExpositionFormat::PrometheusText => "Prometheus text",
                    },
                })
            }
        }
    }

    /// Answers one request.
    pub(crate) fn handle(&self, request: &Request) -> Response {
        let (endpoint, response) = self.route(request);
        let code = response.status.to_string();
        if let Ok(counter) = self
            .metrics
            .requests
            .with_labels(&[("endpoint", endpoint), ("code", &code)])
        {
            counter.inc();
        }
        response
    }

    fn route(&self, request: &Request) -> (&'static str, Response) {
        if !self.auth.allows(request.header("authorization")) {
            let mut r = Response::text(401, "unauthorized: send the configured credentials\n");
            if let Some(challenge) = self.auth.challenge() {
                r = r.with_header("WWW-Authenticate", challenge);
            }
            return ("unauthorized", r);
        }
        let path = request.path.as_str();
        if path == GRAFANA_PATH
            || path == "/dashboard"
            || path.starts_with("/dashboard/")
            || (path == "/" && self.metrics_path != "/")
        {
            let allowed = &["GET", "HEAD"];
            if !allowed.contains(&request.method.as_str()) {
                return ("dashboard", method_not_allowed(&request.method, allowed));
            }
            if path == GRAFANA_PATH {
                return ("grafana", self.grafana_response());
            }
            return ("dashboard", self.dashboard_response(request, path));
        }
        if let Some(api) = Endpoint::of(path) {
            let allowed = api.methods();
            if !allowed.contains(&request.method.as_str()) {
                return (api.name(), method_not_allowed(&request.method, allowed));
            }
            let alerts = || self.alerts_json();
            let rules = || match self.alerts.read().as_ref() {
                Some(engine) => engine.rules_json(),
                None => serde_json::json!({ "groups": [] }),
            };
            let slow_queries = || {
                serde_json::Value::Array(
                    (self.slow_queries)()
                        .iter()
                        .map(crate::SlowQuery::json)
                        .collect(),
                )
            };
            let response = super::api::api(
                request,
                api,
                &self.history,
                &self.exposition,
                &alerts,
                &rules,
                &slow_queries,
            );
            return (api.name(), response);
        }
        let endpoint = if path == self.metrics_path {
            "metrics"
        } else {
            match FIXED_PATHS.iter().find(|p| **p == path) {
                Some(p) => &p[1..],
                None => {
                    let mut known = vec![self.metrics_path.as_str()];
                    known.extend(FIXED_PATHS);
                    known.extend(API_PATHS);
                    return (
                        "unknown",
                        Response::text(
                            404,
                            format!("not found: {path}; try {}\n", known.join(", ")),
                        ),
                    );
                }
            }
        };
        let allowed = &["GET", "HEAD"];
        if !allowed.contains(&request.method.as_str()) {
            return (endpoint, method_not_allowed(&request.method, allowed));
        }
        let response = match endpoint {
            "metrics" => self.metrics_response(request),
            "health" => self.health_report().to_health_response(),
            "livez" | "readyz" => self
                .health_report()
                .to_probe_response(endpoint, &request.query_params()),
            "federate" => self.federate_response(request),
            // `/alerts`: `/dashboard`, the other fixed path, was answered above.
            _ => Response::json(200, "application/json", &self.alerts_page()),
        };
        (endpoint, response)
    }

    /// The built-in page (at `/` and `/dashboard`), its files, and its list of panels.
    fn dashboard_response(&self, request: &Request, path: &str) -> Response {
        if path == "/dashboard/panels.json" {
            let json = self.dashboards.read().page_json();
            return Response::json(200, "application/json", &json)
                .with_header("Cache-Control", "no-store");
        }
        if path == "/dashboard/" {
            // The page's links are relative to where it is served: send it home.
            return Response::text(308, "the dashboard is at /dashboard\n")
                .with_header("Location", "../dashboard");
        }
        let page = if path == "/" { "/dashboard" } else { path };
        let Some(asset) = crate::dashboard::asset(page) else {
            return Response::text(
                404,
                format!("not found: {path}; the dashboard is at /dashboard\n"),
            );
        };
        let etag = asset.etag;
        let response = if request.header("if-none-match") == Some(etag) {
            Response::new(304, asset.content_type, Vec::new())
        } else {
            Response::new(200, asset.content_type, asset.body.to_vec())
        };
        response
            .with_header("ETag", etag)
            .with_header("Cache-Control", "no-cache")
            .with_header("X-Content-Type-Options", "nosniff")
            .with_header("Content-Security-Policy", PAGE_POLICY)
    }

    /// `/api/v1/grafana/dashboards`: the four Grafana dashboards, as a JSON array.
    fn grafana_response(&self) -> Response {
        let dashboards: Vec<serde_json::Value> = self
            .dashboards
            .read()
            .grafana()
            .iter()
            .map(|d| d.json().clone())
            .collect();
        Response::json(
            200,
            "application/json",
            &serde_json::Value::Array(dashboards),
        )
    }

    fn metrics_response(&self, request: &Request) -> Response {
        // `?format=text` or `?format=openmetrics` overrides the Accept header, for scrape
        // jobs (Prometheus `params:`) and people with curl.
        let asked = request
            .query_params()
            .into_iter()
            .find(|(k, _)| k == "format")
            .map(|(_, v)| v);
        let format = match asked.as_deref() {
            None => ExpositionFormat::negotiate(request.header("accept")),
            Some("text") => ExpositionFormat::PrometheusText,
            Some("openmetrics") => ExpositionFormat::OpenMetrics,
            Some(other) => {
                return Response::text(
                    400,
                    format!("unknown format {other:?}; use format=text or format=openmetrics\n"),
                )
            }
        };
        match self.scrape(format) {
            Ok(text) => Response::new(200, format.content_type(), text.into_bytes()),
            Err(e) => Response::text(500, format!("{e}\n")),
        }
    }

    /// `/federate?match[]=…`: the newest sample of each matching series, as Prometheus
    /// serves it; a selector that is not one is a `400` naming it.
    fn federate_response(&self, request: &Request) -> Response {
        let params = request.query_params();
        let selectors: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == "match[]")
            .map(|(_, v)| v.as_str())
            .collect();
        let now = time::OffsetDateTime::now_utc();
        match crate::remote::federate(&self.history, &selectors, &self.global_labels, now) {
            Ok(text) => Response::new(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                text.into_bytes(),
            ),
            Err(e) => Response::text(400, format!("{e}\n")),
        }
    }

    fn health_report(&self) -> HealthReport {
        let source = self.health.read().clone();
        match source {
            None => HealthReport::unchecked(),
            Some(source) => {
                guarded("the health source", || source.health_report()).unwrap_or_else(|message| {
                    HealthReport {
                        status: crate::health::ProbeStatus::Fail,
                        output: Some(message),
                        checks: Vec::new(),
                    }
                })
            }
        }
    }
}

/// What the page may load: its own files and its own API, nothing from elsewhere (uPlot
/// sizes its elements with inline styles).
const PAGE_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// 405, naming the methods `allowed`.
fn method_not_allowed(method: &str, allowed: &[&str]) -> Response {
    let reason = format!(
        "method {method} not allowed; use {}\n",
        allowed.join(" or ")
    );
    Response::text(405, reason).with_header("Allow", allowed.join(", "))
}
