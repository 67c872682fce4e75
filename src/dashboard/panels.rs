//! Module implementing the panels both dashboards draw: each one expression, written once
//! here, that the built-in page runs through `/api/v1` and the Grafana dashboards run
//! through a Prometheus data source. See [`DashboardPanel`] and [`built_in`].

use serde::Serialize;

use crate::metrics::FamilyShape;
use crate::{MetricType, MonitoringError};

/// One of the four dashboards (a tab of the built-in page, a Grafana dashboard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DashboardView {
    /// Query latency, throughput, errors, connections, and the user's own families.
    Database,
    /// Disk usage, I/O operations, cache hit ratio.
    Storage,
    /// CPU, memory, disk and network of the machine and the process.
    System,
    /// Health checks over time, alerts, rule groups, notification channels.
    Health,
}

impl DashboardView {
    /// Every view, in the order the page and the Grafana dashboards list them.
    pub const ALL: [DashboardView; 4] = [
        DashboardView::Database,
        DashboardView::Storage,
        DashboardView::System,
        DashboardView::Health,
    ];

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            DashboardView::Database => "Database Performance",
            DashboardView::Storage => "Storage Usage",
            DashboardView::System => "System Resources",
            DashboardView::Health => "Health Status",
        }
    }

    /// Its short name: the page's tab anchor and the Grafana dashboard's uid suffix.
    pub fn slug(self) -> &'static str {
        match self {
            DashboardView::Database => "database",
            DashboardView::Storage => "storage",
            DashboardView::System => "system",
            DashboardView::Health => "health",
        }
    }
}

/// How a panel draws its expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PanelKind {
    /// Lines over the picked time range (a range query).
    TimeSeries,
    /// The newest value, large (an instant query).
    Stat,
    /// Each series' state over time, as bands (a range query); for health and alerts.
    StateTimeline,
    /// Rows of the newest values with their labels (an instant query).
    Table,
}

impl PanelKind {
    /// Grafana's panel type.
    pub(crate) fn grafana_type(self) -> &'static str {
        match self {
            PanelKind::TimeSeries => "timeseries",
            PanelKind::Stat => "stat",
            PanelKind::StateTimeline => "state-timeline",
            PanelKind::Table => "table",
        }
    }
}

/// What a panel's values measure, which picks how they are written: seconds as ms or µs,
/// bytes as KiB or MiB, ratios as percentages. Serialized as Grafana's unit id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// Seconds (Grafana `s`).
    #[serde(rename = "s")]
    Seconds,
    /// Bytes (Grafana `bytes`, binary multiples).
    #[serde(rename = "bytes")]
    Bytes,
    /// Bytes per second (Grafana `Bps`).
    #[serde(rename = "Bps")]
    BytesPerSecond,
    /// A ratio from 0 to 1, shown as a percentage (Grafana `percentunit`).
    #[serde(rename = "percentunit")]
    Ratio,
    /// A percentage from 0 to 100 (Grafana `percent`).
    #[serde(rename = "percent")]
    Percent,
    /// Events per second (Grafana `ops`).
    #[serde(rename = "ops")]
    PerSecond,
    /// A plain number (Grafana `short`).
    #[serde(rename = "short")]
    Count,
    /// `health_check_status`: 1 healthy, 0.5 degraded, 0 unhealthy, -1 unknown.
    #[serde(rename = "health")]
    Health,
}

impl Unit {
    /// The unit a family's name implies (its suffix, as Prometheus's naming conventions
    /// have it), for what it measures per sample.
    pub(crate) fn of_name(name: &str) -> Unit {
        let stem = name.strip_suffix("_total").unwrap_or(name);
        // The suffix the exposition declares as the family's UNIT.
        match crate::metrics::split_unit_suffix(stem).1 {
            Some("seconds") => Unit::Seconds,
            Some("bytes") => Unit::Bytes,
            Some("ratio") => Unit::Ratio,
            Some("percent") => Unit::Percent,
            _ => Unit::Count,
        }
    }

    /// The unit of a counter's rate: per second of what it counts.
    pub(crate) fn rate_of(name: &str) -> Unit {
        match Unit::of_name(name) {
            Unit::Bytes => Unit::BytesPerSecond,
            // Seconds per second: a share of one second, shown as a percentage.
            Unit::Seconds => Unit::Ratio,
            _ => Unit::PerSecond,
        }
    }

    /// Grafana's unit id.
    pub(crate) fn grafana(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Bytes => "bytes",
            Unit::BytesPerSecond => "Bps",
            Unit::Ratio => "percentunit",
            Unit::Percent => "percent",
            Unit::PerSecond => "ops",
            Unit::Count => "short",
            Unit::Health => "none",
        }
    }
}

/// Where the built-in page reads a table from, besides the panel's expression: the monitor's
/// own JSON, which has what a Prometheus series cannot carry (annotations, errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PageSource {
    /// `/api/v1/alerts`: the pending and firing alerts with labels, annotations, since when.
    Alerts,
    /// `/api/v1/rules`: the rule groups with their last evaluation and error.
    Rules,
    /// `/alerts`: each notification channel's deliveries and last error.
    Channels,
}

/// One panel: a PromQL expression and how to draw it. The built-in page and the Grafana
/// dashboards draw the same panels, each running the same expression.
///
/// An expression may use Grafana's variables: `$operation`, `$instance`, a variable per label
/// name of the user's own families (`$op` for `app_queries_total{op}`), and
/// `$__rate_interval`. The page fills each label variable with `.*` and `$__rate_interval`
/// with four collection intervals (or the step, when longer).
///
/// ```
/// use kotoba_monitoring::{DashboardPanel, DashboardView, PanelKind, Unit};
///
/// let panel = DashboardPanel::new(
///     DashboardView::Database,
///     PanelKind::TimeSeries,
///     "Cache evictions per second",
///     "rate(app_cache_evictions_total[$__rate_interval])",
/// )?
/// .with_unit(Unit::PerSecond)
/// .with_legend("{{cache}}");
/// assert_eq!(panel.title(), "Cache evictions per second");
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardPanel {
    id: String,
    view: DashboardView,
    kind: PanelKind,
    title: String,
    expr: String,
    unit: Unit,
    legend: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<PageSource>,
    /// Whether the chart shows the exemplars of the series its expression selects.
    exemplars: bool,
    /// The anomaly scores of the watched expressions that measure what the chart draws: the
    /// page shades the stretches where they reach the alarm threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    anomalies: Option<String>,
}

impl DashboardPanel {
    /// A panel drawing `expr` in `view`; the expression is checked now (with its variables
    /// filled in), and a bad one is an error naming where it is wrong.
    pub fn new(
        view: DashboardView,
        kind: PanelKind,
        title: impl Into<String>,
        expr: impl Into<String>,
    ) -> Result<Self, MonitoringError> {
        let title = title.into();
        let expr = expr.into();
        if title.trim().is_empty() {
            return Err(MonitoringError::InvalidConfig {
                field: "dashboard panel title".into(),
                reason: "is empty; give the panel a title".into(),
            });
        }
        let filled = fill_variables(&expr, "5m");
        if let Err(e) = crate::query::parse(&filled, None) {
            return Err(MonitoringError::InvalidConfig {
                field: format!("dashboard panel {title:?}"),
                reason: format!("expression {expr:?} is not PromQL: {e}"),
            });
        }
        Ok(Self::built(
            view,
            kind,
            title,
            expr,
            Unit::Count,
            String::new(),
        ))
    }

    fn built(
        view: DashboardView,
        kind: PanelKind,
        title: String,
        expr: String,
        unit: Unit,
        legend: String,
    ) -> Self {
        Self {
            id: slug(view, kind, &title),
            view,
            kind,
            title,
            expr,
            unit,
            legend,
            source: None,
            exemplars: false,
            anomalies: None,
        }
    }

    /// The same panel with values in `unit`.
    pub fn with_unit(mut self, unit: Unit) -> Self {
        self.unit = unit;
        self
    }

    /// The same panel with series named by `legend`, a Grafana legend format
    /// (`{{operation}} p99`); empty names each series by its labels.
    pub fn with_legend(mut self, legend: impl Into<String>) -> Self {
        self.legend = legend.into();
        self
    }

    /// The same panel drawing, as points on its chart, the exemplars of the series its
    /// expression selects (a trace id each; see [`Histogram::observe_with_exemplar`](crate::Histogram::observe_with_exemplar)).
    pub fn with_exemplars(mut self) -> Self {
        self.exemplars = true;
        self
    }

    /// Whether it draws exemplars.
    pub fn exemplars(&self) -> bool {
        self.exemplars
    }

    /// The expression whose values mark anomalous stretches on its chart: the highest
    /// `kotoba_anomaly_score` within the last five minutes (an episode) of the watched
    /// expressions (`[anomaly_detection] watch`) that select a family the panel draws, when
    /// anomaly detection is on and one does.
    pub fn anomalies(&self) -> Option<&str> {
        self.anomalies.as_deref()
    }

    /// The same panel, its chart marked where `scores` reach the alarm threshold.
    pub(crate) fn with_anomalies(mut self, scores: String) -> Self {
        self.anomalies = Some(scores);
        self
    }

    /// Its id: the view, the kind and the title, lowercase, words joined by `-`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The view it belongs to.
    pub fn view(&self) -> DashboardView {
        self.view
    }

    /// How it draws.
    pub fn kind(&self) -> PanelKind {
        self.kind
    }

    /// Its title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Its PromQL expression, with Grafana's variables.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The unit of its values.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// Its legend format.
    pub fn legend(&self) -> &str {
        &self.legend
    }

    /// Its expression with every label variable matching anything and `$__rate_interval`
    /// (and `$__interval`, `$__range`) as `rate_interval`: what the page and the tests run.
    pub fn filled_expr(&self, rate_interval: &str) -> String {
        fill_variables(&self.expr, rate_interval)
    }
}

/// `expr` with `$__rate_interval`, `$__interval` and `$__range` as `interval` and every other
/// `$name` (a label variable) as `.*`.
pub(crate) fn fill_variables(expr: &str, interval: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let braced = after.starts_with('{');
        let name_from = usize::from(braced);
        let len = after[name_from..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len() - name_from);
        let name = &after[name_from..name_from + len];
        let mut end = name_from + len;
        if braced && after[end..].starts_with('}') {
            end += 1;
        }
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(match name {
            "__rate_interval" | "__interval" | "__range" => interval,
            _ => ".*",
        });
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn slug(view: DashboardView, kind: PanelKind, title: &str) -> String {
    let mut out = format!("{}-{}", view.slug(), kind.grafana_type());
    let mut gap = true;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            if gap {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
            gap = false;
        } else {
            gap = true;
        }
    }
    out
}

/// One built-in panel: the families it draws (kept when any is registered, or always when
/// none is named) and the panel.
struct Spec {
    view: DashboardView,
    kind: PanelKind,
    title: &'static str,
    unit: Unit,
    legend: &'static str,
    needs: &'static [&'static str],
    source: Option<PageSource>,
    expr: &'static str,
}

/// The matchers every database panel selects with: Grafana's instance variable.
const I: &str = r#"instance=~"$instance""#;

macro_rules! sel {
    ($name:literal) => {
        concat!($name, r#"{instance=~"$instance"}"#)
    };
    ($name:literal, op) => {
        concat!($name, r#"{operation=~"$operation",instance=~"$instance"}"#)
    };
}

/// Two gauges summed on one chart, told apart by `label`:
/// `label_replace(sum(A), "label", "a", "", "") or label_replace(sum(B), "label", "b", "", "")`.
macro_rules! sum_pair {
    ($label:literal, $a:literal => $av:literal, $b:literal => $bv:literal) => {
        concat!(
            r#"label_replace(sum("#,
            sel!($a),
            r#"), ""#,
            $label,
            r#"", ""#,
            $av,
            r#"", "", "")"#,
            r#" or label_replace(sum("#,
            sel!($b),
            r#"), ""#,
            $label,
            r#"", ""#,
            $bv,
            r#"", "", "")"#
        )
    };
}

/// The four dashboards' panels, in the order they are drawn.
fn specs() -> Vec<Spec> {
    use DashboardView::{Database, Health, Storage, System};
    use PanelKind::{Stat, StateTimeline, Table, TimeSeries};
    let spec = |view, kind, title, unit, legend, needs, expr| Spec {
        view,
        kind,
        title,
        unit,
        legend,
        needs,
        source: None,
        expr,
    };
    vec![
        spec(
            Database,
            Stat,
            "Queries per second",
            Unit::PerSecond,
            "",
            &["kotoba_db_queries_total"],
            concat!(
                "sum(rate(",
                sel!("kotoba_db_queries_total", op),
                "[$__rate_interval]))"
            ),
        ),
        spec(
            Database,
            Stat,
            "p99 latency",
            Unit::Seconds,
            "",
            &["kotoba_db_query_latency_seconds"],
            concat!(
                "histogram_quantile(0.99, sum by (le) (rate(",
                sel!("kotoba_db_query_latency_seconds_bucket", op),
                "[$__rate_interval])))"
            ),
        ),
        spec(
            Database,
            Stat,
            "Connections",
            Unit::Count,
            "",
            &["kotoba_db_connections_active"],
            concat!("sum(", sel!("kotoba_db_connections_active"), ")"),
        ),
        spec(
            Database,
            TimeSeries,
            "Query latency p50, p95, p99",
            Unit::Seconds,
            "{{operation}} {{quantile}}",
            &["kotoba_db_query_latency_seconds"],
            LATENCY_QUANTILES,
        ),
        spec(
            Database,
            TimeSeries,
            "Queries per second by operation",
            Unit::PerSecond,
            "{{operation}}",
            &["kotoba_db_queries_total"],
            concat!(
                "sum by (operation) (rate(",
                sel!("kotoba_db_queries_total", op),
                "[$__rate_interval]))"
            ),
        ),
        spec(
            Database,
            TimeSeries,
            "Errors and slow queries per second",
            Unit::PerSecond,
            "{{operation}} {{kind}}",
            &[
                "kotoba_db_query_errors_total",
                "kotoba_db_slow_queries_total",
            ],
            concat!(
                r#"label_replace(sum by (operation) (rate("#,
                sel!("kotoba_db_query_errors_total", op),
                r#"[$__rate_interval])), "kind", "errors", "", "")"#,
                r#" or label_replace(sum by (operation) (rate("#,
                sel!("kotoba_db_slow_queries_total", op),
                r#"[$__rate_interval])), "kind", "slow", "", "")"#
            ),
        ),
        spec(
            Database,
            TimeSeries,
            "Connections",
            Unit::Count,
            "{{kind}}",
            &["kotoba_db_connections_active"],
            concat!(
                r#"label_replace(sum("#,
                sel!("kotoba_db_connections_active"),
                r#"), "kind", "open", "", "")"#,
                r#" or label_replace(sum(rate("#,
                sel!("kotoba_db_connections_total"),
                r#"[$__rate_interval])), "kind", "opened per second", "", "")"#
            ),
        ),
        spec(
            Storage,
            Stat,
            "Storage used",
            Unit::Bytes,
            "",
            &["kotoba_db_storage_used_bytes"],
            concat!("sum(", sel!("kotoba_db_storage_used_bytes"), ")"),
        ),
        spec(
            Storage,
            Stat,
            "Cache hit ratio",
            Unit::Ratio,
            "",
            &["kotoba_db_cache_hit_ratio"],
            concat!("avg(", sel!("kotoba_db_cache_hit_ratio"), ")"),
        ),
        spec(
            Storage,
            TimeSeries,
            "Storage size",
            Unit::Bytes,
            "{{kind}}",
            &[
                "kotoba_db_storage_size_bytes",
                "kotoba_db_storage_used_bytes",
            ],
            sum_pair!("kind", "kotoba_db_storage_size_bytes" => "allocated", "kotoba_db_storage_used_bytes" => "used"),
        ),
        spec(
            Storage,
            TimeSeries,
            "Storage operations per second",
            Unit::PerSecond,
            "{{kind}}",
            &["kotoba_db_storage_operations_total"],
            concat!(
                "sum by (kind) (rate(",
                sel!("kotoba_db_storage_operations_total"),
                "[$__rate_interval]))"
            ),
        ),
        spec(
            Storage,
            TimeSeries,
            "Storage throughput",
            Unit::BytesPerSecond,
            "{{kind}}",
            &["kotoba_db_storage_throughput_bytes_per_second"],
            concat!(
                "sum by (kind) (",
                sel!("kotoba_db_storage_throughput_bytes_per_second"),
                ")"
            ),
        ),
        spec(
            Storage,
            TimeSeries,
            "Cache hit ratio",
            Unit::Ratio,
            "hit ratio",
            &["kotoba_db_cache_hit_ratio"],
            concat!("avg(", sel!("kotoba_db_cache_hit_ratio"), ")"),
        ),
        spec(
            Storage,
            TimeSeries,
            "Storage I/O latency",
            Unit::Seconds,
            "mean",
            &["kotoba_db_io_latency_seconds"],
            concat!("avg(", sel!("kotoba_db_io_latency_seconds"), ")"),
        ),
        spec(
            Storage,
            TimeSeries,
            "Monitoring history on disk",
            Unit::Bytes,
            "history",
            &["kotoba_monitoring_storage_bytes"],
            concat!("sum(", sel!("kotoba_monitoring_storage_bytes"), ")"),
        ),
        spec(
            System,
            Stat,
            "CPU",
            Unit::Percent,
            "",
            &["system_cpu_usage_percent"],
            concat!("avg(", sel!("system_cpu_usage_percent"), ")"),
        ),
        spec(
            System,
            Stat,
            "Memory",
            Unit::Percent,
            "",
            &["system_memory_usage_percent"],
            concat!("avg(", sel!("system_memory_usage_percent"), ")"),
        ),
        spec(
            System,
            TimeSeries,
            "Machine CPU",
            Unit::Percent,
            "all cores",
            &["system_cpu_usage_percent"],
            concat!("avg(", sel!("system_cpu_usage_percent"), ")"),
        ),
        spec(
            System,
            TimeSeries,
            "Process CPU",
            Unit::Ratio,
            "of one core",
            &["process_cpu_seconds_total"],
            concat!(
                "sum(rate(",
                sel!("process_cpu_seconds_total"),
                "[$__rate_interval]))"
            ),
        ),
        spec(
            System,
            TimeSeries,
            "Memory",
            Unit::Bytes,
            "{{of}}",
            &["system_memory_usage_bytes", "process_resident_memory_bytes"],
            sum_pair!("of", "system_memory_usage_bytes" => "machine", "process_resident_memory_bytes" => "process"),
        ),
        spec(
            System,
            TimeSeries,
            "Disk used",
            Unit::Percent,
            "{{mount_point}}",
            &["system_disk_usage_percent"],
            concat!(
                "max by (mount_point) (",
                sel!("system_disk_usage_percent"),
                ")"
            ),
        ),
        spec(
            System,
            TimeSeries,
            "Network",
            Unit::BytesPerSecond,
            "{{interface}} {{direction}}",
            &[
                "system_network_receive_bytes_total",
                "system_network_transmit_bytes_total",
            ],
            concat!(
                r#"label_replace(sum by (interface) (rate("#,
                sel!("system_network_receive_bytes_total"),
                r#"[$__rate_interval])), "direction", "in", "", "")"#,
                r#" or label_replace(sum by (interface) (rate("#,
                sel!("system_network_transmit_bytes_total"),
                r#"[$__rate_interval])), "direction", "out", "", "")"#
            ),
        ),
        spec(
            System,
            TimeSeries,
            "Threads and open files",
            Unit::Count,
            "{{of}}",
            &["process_threads", "process_open_fds"],
            sum_pair!("of", "process_threads" => "threads", "process_open_fds" => "open files"),
        ),
        spec(
            Health,
            Stat,
            "Health",
            Unit::Health,
            "",
            &["health_check_status"],
            concat!("min(", sel!("health_check_status"), ")"),
        ),
        spec(
            Health,
            Stat,
            "Firing alerts",
            Unit::Count,
            "",
            &[],
            r#"count(ALERTS{alertstate="firing",instance=~"$instance"}) or vector(0)"#,
        ),
        spec(
            Health,
            StateTimeline,
            "Health checks",
            Unit::Health,
            "{{check_name}}",
            &["health_check_status"],
            concat!("max by (check_name) (", sel!("health_check_status"), ")"),
        ),
        spec(
            Health,
            TimeSeries,
            "Anomaly scores",
            Unit::Count,
            "{{expr}}",
            &["kotoba_anomaly_score"],
            concat!("max by (expr) (", sel!("kotoba_anomaly_score"), ")"),
        ),
        spec(
            Health,
            StateTimeline,
            "Alerts",
            Unit::Count,
            "{{alertname}} {{alertstate}}",
            &[],
            concat!("max by (alertname, alertstate) (", sel!("ALERTS"), ")"),
        ),
        Spec {
            source: Some(PageSource::Alerts),
            ..spec(
                Health,
                Table,
                "Pending and firing alerts",
                Unit::Seconds,
                "",
                &[],
                concat!("time() - ", sel!("ALERTS_FOR_STATE")),
            )
        },
        Spec {
            source: Some(PageSource::Rules),
            ..spec(
                Health,
                Table,
                "Rule groups",
                Unit::Seconds,
                "",
                &["kotoba_monitoring_rule_group_last_evaluation_timestamp_seconds"],
                concat!(
                    "time() - ",
                    sel!("kotoba_monitoring_rule_group_last_evaluation_timestamp_seconds")
                ),
            )
        },
        Spec {
            source: Some(PageSource::Channels),
            ..spec(
                Health,
                Table,
                "Notification channels",
                Unit::Count,
                "",
                &["kotoba_monitoring_notifications_total"],
                concat!(
                    "sum by (channel, result) (",
                    sel!("kotoba_monitoring_notifications_total"),
                    ")"
                ),
            )
        },
    ]
}

/// p50, p95 and p99 per operation in one expression, each labelled `quantile`.
const LATENCY_QUANTILES: &str = concat!(
    r#"label_replace(histogram_quantile(0.5, sum by (operation, le) (rate("#,
    sel!("kotoba_db_query_latency_seconds_bucket", op),
    r#"[$__rate_interval]))), "quantile", "p50", "", "")"#,
    r#" or label_replace(histogram_quantile(0.95, sum by (operation, le) (rate("#,
    sel!("kotoba_db_query_latency_seconds_bucket", op),
    r#"[$__rate_interval]))), "quantile", "p95", "", "")"#,
    r#" or label_replace(histogram_quantile(0.99, sum by (operation, le) (rate("#,
    sel!("kotoba_db_query_latency_seconds_bucket", op),
    r#"[$__rate_interval]))), "quantile", "p99", "", "")"#
);

/// The families the built-in panels draw, or that are the monitor's own bookkeeping: a
/// generated panel is made for every other family.
fn drawn_elsewhere(name: &str) -> bool {
    name.starts_with("kotoba_monitoring_")
        || name.starts_with("kotoba_anomaly_")
        || name.starts_with("kotoba_db_")
        || name.starts_with("kotoba_cluster_")
        || name.starts_with("system_")
        || name.starts_with("process_")
        || name.starts_with("health_check_")
        || name == "ALERTS"
        || name == "ALERTS_FOR_STATE"
}

/// The label names a generated panel's matchers and the dashboards' variables use: every
/// label of the user's families but the histogram's `le` and the ones the built-in
/// variables already cover.
pub(crate) fn variable_labels(shapes: &[FamilyShape]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for shape in shapes.iter().filter(|s| !drawn_elsewhere(&s.name)) {
        for label in &shape.labels {
            let reserved = matches!(
                label.as_str(),
                "le" | "quantile" | "instance" | "operation" | "datasource"
            ) || label.starts_with("__");
            if !reserved && !out.contains(label) {
                out.push(label.clone());
            }
        }
    }
    out.sort();
    out
}

/// The panels for the registered families `shapes` and those the monitor will register
/// (names starting with one of `expected`): the built-in ones whose families are there (or
/// that need none), then one for each of the user's own families, in the Database view (a
/// counter's rate, a gauge's value, a histogram's p99), then `custom`.
pub(crate) fn built_in(
    shapes: &[FamilyShape],
    expected: &[String],
    custom: &[DashboardPanel],
) -> Vec<DashboardPanel> {
    let registered = |name: &str| {
        shapes.iter().any(|s| s.name == name) || expected.iter().any(|e| name.starts_with(e))
    };
    let mut out: Vec<DashboardPanel> = specs()
        .into_iter()
        .filter(|s| s.needs.is_empty() || s.needs.iter().any(|n| registered(n)))
        .map(|s| {
            let mut panel = DashboardPanel::built(
                s.view,
                s.kind,
                s.title.to_owned(),
                s.expr.to_owned(),
                s.unit,
                s.legend.to_owned(),
            );
            panel.source = s.source;
            // Latency charts show the traces of slow queries.
            panel.exemplars = s.expr.contains("_seconds_bucket") && s.kind == PanelKind::TimeSeries;
            panel
        })
        .collect();
    for shape in shapes.iter().filter(|s| !drawn_elsewhere(&s.name)) {
        out.push(family_panel(shape));
    }
    out.extend(custom.iter().cloned());
    out
}

/// The generated panel for one of the user's families.
fn family_panel(shape: &FamilyShape) -> DashboardPanel {
    let labels: Vec<&String> = shape
        .labels
        .iter()
        .filter(|l| !matches!(l.as_str(), "le" | "quantile") && !l.starts_with("__"))
        .collect();
    let matchers: Vec<String> = labels
        .iter()
        .map(|l| format!("{l}=~\"${l}\""))
        .chain(std::iter::once(I.to_owned()))
        .collect();
    let matchers = matchers.join(",");
    let by: Vec<&str> = labels.iter().map(|l| l.as_str()).collect();
    let legend = by
        .iter()
        .map(|l| format!("{{{{{l}}}}}"))
        .collect::<Vec<_>>()
        .join(" ");
    let name = &shape.name;
    let (title, expr, unit) = match shape.kind {
        MetricType::Counter => (
            format!("{name} per second"),
            format!(
                "sum by ({}) (rate({name}{{{matchers}}}[$__rate_interval]))",
                by.join(", ")
            ),
            Unit::rate_of(name),
        ),
        MetricType::Gauge => (
            name.clone(),
            format!("sum by ({}) ({name}{{{matchers}}})", by.join(", ")),
            Unit::of_name(name),
        ),
        MetricType::Histogram => {
            let mut with_le = by.clone();
            with_le.push("le");
            (
                format!("{name} p99"),
                format!(
                    "histogram_quantile(0.99, sum by ({}) (rate({name}_bucket{{{matchers}}}[$__rate_interval])))",
                    with_le.join(", ")
                ),
                Unit::of_name(name),
            )
        }
    };
    let histogram = shape.kind == MetricType::Histogram;
    let mut panel = DashboardPanel::built(
        DashboardView::Database,
        PanelKind::TimeSeries,
        title,
        expr,
        unit,
        legend,
    );
    panel.exemplars = histogram;
    panel
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(name: &str, kind: MetricType, labels: &[&str]) -> FamilyShape {
        FamilyShape {
            name: name.into(),
            kind,
            labels: labels.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn every_built_in_expression_parses_with_its_variables_filled() {
        for spec in specs() {
            let filled = fill_variables(spec.expr, "1m");
            assert!(!filled.contains('$'), "{filled}");
            crate::query::parse(&filled, None)
                .unwrap_or_else(|e| panic!("{}: {filled}: {e}", spec.title));
        }
    }

    #[test]
    fn variables_are_filled_and_a_lone_dollar_is_kept() {
        assert_eq!(
            fill_variables(
                r#"rate(x{op=~"$op",a=~"${a}"}[$__rate_interval]) + $"#,
                "2m"
            ),
            r#"rate(x{op=~".*",a=~".*"}[2m]) + $"#
        );
    }

    #[test]
    fn panels_follow_the_registered_families() {
        let shapes = vec![
            shape(
                "kotoba_db_queries_total",
                MetricType::Counter,
                &["operation"],
            ),
            shape("app_cache_bytes", MetricType::Gauge, &["cache"]),
            shape("app_jobs_total", MetricType::Counter, &["queue", "state"]),
            shape("app_job_seconds", MetricType::Histogram, &["queue", "le"]),
        ];
        let panels = built_in(&shapes, &[], &[]);
        let titles: Vec<&str> = panels.iter().map(|p| p.title()).collect();
        assert!(titles.contains(&"Queries per second by operation"));
        assert!(!titles.contains(&"Storage size"), "{titles:?}");
        assert!(titles.contains(&"Firing alerts"));
        let jobs = panels
            .iter()
            .find(|p| p.title() == "app_jobs_total per second")
            .unwrap();
        assert_eq!(
            jobs.expr(),
            r#"sum by (queue, state) (rate(app_jobs_total{queue=~"$queue",state=~"$state",instance=~"$instance"}[$__rate_interval]))"#
        );
        assert_eq!(jobs.legend(), "{{queue}} {{state}}");
        assert_eq!(jobs.unit(), Unit::PerSecond);
        let seconds = panels
            .iter()
            .find(|p| p.title() == "app_job_seconds p99")
            .unwrap();
        assert!(seconds.expr().contains("sum by (queue, le)"));
        assert_eq!(seconds.unit(), Unit::Seconds);
        let cache = panels
            .iter()
            .find(|p| p.title() == "app_cache_bytes")
            .unwrap();
        assert_eq!(cache.unit(), Unit::Bytes);
        for panel in &panels {
            crate::query::parse(&panel.filled_expr("1m"), None).unwrap();
        }
        assert_eq!(variable_labels(&shapes), ["cache", "queue", "state"]);
    }

    #[test]
    fn a_bad_custom_expression_is_refused_with_the_reason() {
        let e = DashboardPanel::new(
            DashboardView::Database,
            PanelKind::TimeSeries,
            "Broken",
            "rate(x[5m]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Broken") && e.contains("rate(x[5m]"), "{e}");
        let ok = DashboardPanel::new(
            DashboardView::Storage,
            PanelKind::Stat,
            "Free pages",
            "sum(app_free_pages{instance=~\"$instance\"})",
        )
        .unwrap();
        assert_eq!(ok.id(), "storage-stat-free-pages");
    }
}
