//! Module implementing the dashboards: the panels (one PromQL expression each, written once
//! in [`panels`]), the built-in page that draws them from the monitor's own `/api/v1`
//! ([`page`], its files under `web/`), and the Grafana dashboards generated from the same
//! panels ([`grafana`]). See [`Dashboards`].

mod grafana;
mod page;
mod panels;

use std::time::Duration;

use parking_lot::RwLock;

pub use grafana::GrafanaDashboard;
pub(crate) use page::asset;
pub use panels::{DashboardPanel, DashboardView, PanelKind, Unit};

use crate::metrics::FamilyShape;
use crate::{MonitoringError, Registry};

/// The panels of one monitor: the built-in ones for the families its registries hold, one
/// for each of the user's own families, and the custom ones added to it.
#[derive(Debug)]
pub(crate) struct Dashboards {
    registries: Vec<Registry>,
    /// Prefixes of the families the monitor will register once it runs (the database's,
    /// the system's, …), drawn before they are.
    expected: Vec<String>,
    custom: RwLock<Vec<DashboardPanel>>,
    interval: Duration,
    retention: Duration,
    /// For each expression anomaly detection watches (none when it is off): the families it
    /// selects, and the expression of its highest score within an episode.
    anomaly_scores: Vec<(Vec<String>, String)>,
    anomaly_threshold: f64,
}

impl Dashboards {
    /// The dashboards of `registries`, refreshed every `interval` over `retention`, with
    /// panels for the families named by the prefixes `expected` before they are registered.
    pub(crate) fn new(
        registries: Vec<Registry>,
        expected: Vec<String>,
        interval: Duration,
        retention: Duration,
    ) -> Self {
        Self {
            registries,
            expected,
            custom: RwLock::new(Vec::new()),
            interval,
            retention,
            anomaly_scores: Vec::new(),
            anomaly_threshold: 0.0,
        }
    }

    /// The same dashboards with the charts that draw what `watch` measures marked where its
    /// anomaly scores reached `threshold` within `hold` (an episode).
    pub(crate) fn with_anomalies(
        mut self,
        watch: Vec<String>,
        threshold: f64,
        hold: Duration,
    ) -> Self {
        // An episode lasts while a score reached the threshold within the hold: the stretch
        // `Monitor::anomalies` lists it, and no alarm is missed between two steps of a chart.
        self.anomaly_scores = watch
            .iter()
            .map(|expr| {
                let score = format!(
                    "max_over_time(kotoba_anomaly_score{{expr={}}}[{}s])",
                    crate::promql::go_quote(expr),
                    hold.as_secs()
                );
                (families_of(expr), score)
            })
            .collect();
        self.anomaly_threshold = threshold;
        self
    }

    /// `panels` with the anomaly scores of each time-series chart: those of the watched
    /// expressions that select a family the chart's expression selects too.
    fn marked(&self, panels: Vec<DashboardPanel>) -> Vec<DashboardPanel> {
        if self.anomaly_scores.is_empty() {
            return panels;
        }
        panels
            .into_iter()
            .map(|panel| {
                if panel.kind() != PanelKind::TimeSeries {
                    return panel;
                }
                let drawn = families_of(&panel.filled_expr("5m"));
                let scores: Vec<&str> = self
                    .anomaly_scores
                    .iter()
                    .filter(|(families, _)| families.iter().any(|f| drawn.contains(f)))
                    .map(|(_, score)| score.as_str())
                    .collect();
                if scores.is_empty() {
                    panel
                } else {
                    panel.with_anomalies(format!("max({})", scores.join(" or ")))
                }
            })
            .collect()
    }

    /// Adds `panel`, after the generated ones of its view; a panel with the same id (view
    /// and title) is an error.
    pub(crate) fn add(&self, panel: DashboardPanel) -> Result<(), MonitoringError> {
        let mut custom = self.custom.write();
        if custom.iter().any(|p| p.id() == panel.id())
            || self.built_in().iter().any(|p| p.id() == panel.id())
        {
            return Err(MonitoringError::config(
                "dashboard panel",
                format!(
                    "a {} panel titled {:?} is already in the {} view; give it another title",
                    panel.kind().grafana_type(),
                    panel.title(),
                    panel.view().title()
                ),
            ));
        }
        custom.push(panel);
        Ok(())
    }

    /// The prefixes of the families a monitor of `config` registers as it runs: the
    /// database's when it has one, the system's and process's with the `system` feature, the
    /// health checks', the storage's, the rules' and the notification channels'.
    pub(crate) fn expected(config: &crate::MonitoringConfig, database: bool) -> Vec<String> {
        let mut out: Vec<&str> = Vec::new();
        if database {
            out.push("kotoba_db_");
        }
        if cfg!(feature = "system") {
            out.extend(["system_", "process_"]);
        }
        if config.enable_health_checks {
            out.push("health_check_");
        }
        if config.storage.path.is_some() {
            out.push("kotoba_monitoring_storage_bytes");
        }
        if config.anomaly_detection.enabled {
            out.push("kotoba_anomaly_");
        }
        if config.alerting_config.enabled {
            out.push("kotoba_monitoring_rule_group_");
            if !config.alerting_config.notifications.is_empty() {
                out.push("kotoba_monitoring_notifications_total");
            }
        }
        out.into_iter().map(str::to_owned).collect()
    }

    fn shapes(&self) -> Vec<FamilyShape> {
        let mut shapes: Vec<FamilyShape> = Vec::new();
        for registry in &self.registries {
            for shape in registry.family_shapes() {
                match shapes.iter_mut().find(|s| s.name == shape.name) {
                    Some(have) => {
                        for label in shape.labels {
                            if !have.labels.contains(&label) {
                                have.labels.push(label);
                            }
                        }
                        have.labels.sort();
                    }
                    None => shapes.push(shape),
                }
            }
        }
        shapes.sort_by(|a, b| a.name.cmp(&b.name));
        shapes
    }

    fn built_in(&self) -> Vec<DashboardPanel> {
        panels::built_in(&self.shapes(), &self.expected, &[])
    }

    /// Every panel, in the order drawn.
    pub(crate) fn panels(&self) -> Vec<DashboardPanel> {
        self.marked(panels::built_in(
            &self.shapes(),
            &self.expected,
            &self.custom.read(),
        ))
    }

    /// The four Grafana dashboards.
    pub(crate) fn grafana(&self) -> Vec<GrafanaDashboard> {
        let shapes = self.shapes();
        let all = panels::built_in(&shapes, &self.expected, &self.custom.read());
        grafana::dashboards(&all, &panels::variable_labels(&shapes))
    }

    /// What the page loads first: the views, the panels, how often to refresh and how far
    /// back the history goes.
    pub(crate) fn page_json(&self) -> serde_json::Value {
        serde_json::json!({
            "interval_seconds": self.interval.as_secs_f64(),
            "retention_seconds": self.retention.as_secs(),
            "anomaly_threshold": self.anomaly_threshold,
            "views": DashboardView::ALL
                .iter()
                .map(|v| serde_json::json!({ "slug": v.slug(), "title": v.title() }))
                .collect::<Vec<_>>(),
            "panels": self.panels(),
        })
    }
}

/// The families `expr` selects, by the name they are registered under: a histogram's
/// `_bucket`, `_sum` and `_count` and its `_window` quantile gauges are its own family, a
/// counter's `_total` is the counter. An expression that does not parse selects none.
fn families_of(expr: &str) -> Vec<String> {
    let Ok(parsed) = crate::query::parse(expr, None) else {
        return Vec::new();
    };
    let names = crate::query::selector_names(&parsed).unwrap_or_default();
    names
        .iter()
        .map(|name| {
            let stem = ["_bucket", "_sum", "_count", "_total"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            // `<stem>_window<_unit>`: the window quantiles of histogram `<stem><_unit>`
            // (the inverse of `metrics::window_family_name`).
            match stem.split_once("_window") {
                Some((base, unit)) if unit.is_empty() || unit.starts_with('_') => {
                    format!("{base}{unit}")
                }
                _ => stem.to_owned(),
            }
        })
        .collect()
}
