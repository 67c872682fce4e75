//! Module implementing the one-call facade. See [`Monitor`] for details.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::alert::{load_rule_file, seed_rule_group, GroupRun, RuleEngine, TemplateContext};
use crate::anomaly::{Anomaly, AnomalyWatch};
use crate::dashboard::{DashboardPanel, Dashboards, GrafanaDashboard};
use crate::notify::{ChannelStatus, Notifier};
use crate::remote::RemoteWriter;
use crate::{
    ActiveAlert, AlertingConfig, HealthChecker, MetricsCollector, MonitoredDatabase,
    MonitoringConfig, MonitoringError, PerformanceMetrics, PrometheusExporter, Registry,
};

/// The whole monitoring system behind one value: build it from a configuration, `start()` it,
/// record through handles from its [`registry`](Self::registry), read snapshots and history,
/// `stop()` it (or drop it).
///
/// It runs the [`MetricsCollector`] (when `enable_metrics` is set), the [`HealthChecker`] with
/// the default checks (when `enable_health_checks` is set; its gauges go to the monitor's
/// registry and its results to `/health`, `/livez`, `/readyz`) and the [`PrometheusExporter`]
/// (when `prometheus_config.enabled` is set), and, when `alerting_config.enabled` is set, the
/// `kotoba-alert` thread evaluating `alerting_config.rules` and `rule_files` over the history
/// (see [`alerts`](Self::alerts)), all under the same `start`/`stop`.
///
/// # About threads
///
/// `Monitor` is `Send + Sync`; every method takes `&self`, so it can sit in an `Arc` shared by
/// the database's threads. Handles taken from its registry stay valid after `stop()`; they only
/// stop being copied into history.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::{Monitor, MonitoringConfig};
///
/// let mut config = MonitoringConfig::default();
/// config.prometheus_config.port = 0; // any free port
/// let monitor = Monitor::new(config)?;
/// monitor.start()?;
/// println!("metrics at {}", monitor.exporter().unwrap().metrics_url().unwrap());
///
/// let latency = monitor.registry().histogram(
///     "kotoba_db_query_latency_seconds",
///     "Time to execute a query.",
///     &[("op", "get")],
/// )?;
/// latency.observe(0.002);
/// latency.observe(0.004);
/// let recent = latency.window_snapshot();
/// assert_eq!(recent.count, 2);
/// println!("p99 over the last minute: {:.3} ms", recent.p99 * 1e3);
///
/// monitor.stop()?;
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug)]
pub struct Monitor {
    collector: Arc<MetricsCollector>,
    health: Option<Arc<HealthChecker>>,
    exporter: Option<PrometheusExporter>,
    /// The rules of `alerting_config`, when it is enabled.
    alerting: Option<Arc<RuleEngine>>,
    /// Its notification channels, when alerting is enabled and there are any.
    notifier: Option<Arc<Notifier>>,
    /// The `remote_write` endpoints, when there are any.
    remote: Option<RemoteWriter>,
    /// The detectors of `anomaly_detection`, when it is enabled.
    anomalies: Option<Arc<AnomalyWatch>>,
    /// The panels of the built-in page and the Grafana dashboards.
    dashboards: Arc<Dashboards>,
    /// Serialises `start` and `stop` and remembers which one came last.
    started: Mutex<bool>,
}

impl Monitor {
    /// A stopped monitor for `config`.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] when `config` does not validate.
    pub fn new(config: MonitoringConfig) -> Result<Self, MonitoringError> {
        Self::build(None, config)
    }

    /// A stopped monitor of `db`: the collector polls it every `collection_interval`
    /// (publishing the `kotoba_db_*` metrics), and the `database` health check pings it.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_database(
        db: Arc<dyn MonitoredDatabase>,
        config: MonitoringConfig,
    ) -> Result<Self, MonitoringError> {
        Self::build(Some(db), config)
    }

    fn build(
        db: Option<Arc<dyn MonitoredDatabase>>,
        config: MonitoringConfig,
    ) -> Result<Self, MonitoringError> {
        let prometheus = config.prometheus_config.clone();
        let alerting = config.alerting_config.clone();
        let has_database = db.is_some();
        let health = if config.enable_health_checks {
            Some(config.clone())
        } else {
            None
        };
        let collector = Arc::new(match &db {
            Some(db) => MetricsCollector::new(db.clone(), config)?,
            None => MetricsCollector::standalone(config)?,
        });
        let health = match health {
            Some(config) => {
                let checker = HealthChecker::with_registry(config, collector.registry().clone());
                if let Some(db) = db {
                    checker.set_database(db);
                    checker.watch_database_calls(collector.database_watch());
                }
                checker.add_default_checks()?;
                Some(Arc::new(checker))
            }
            None => None,
        };
        let (alerting, notifier) = if alerting.enabled {
            let context =
                TemplateContext::new(&prometheus.global_labels, alerting.external_url.clone());
            let mut engine = rule_engine(&alerting, &collector, &context)?;
            if let Some(folder) = &collector.config().storage.path {
                let ms = crate::clock::duration_ms;
                engine.keep_state(crate::alert::Durability {
                    folder: folder.clone(),
                    for_restore: crate::alert::ForRestore {
                        outage_tolerance_ms: ms(alerting.for_outage_tolerance),
                        grace_period_ms: ms(alerting.for_grace_period),
                    },
                })?;
            }
            let notifier = Notifier::new(
                &alerting,
                collector.registry(),
                collector.config().storage.path.clone(),
            )?
            .map(Arc::new);
            if let Some(notifier) = &notifier {
                engine.notify_to(notifier.sink(), alerting.resend_delay);
            }
            (Some(Arc::new(engine)), notifier)
        } else {
            (None, None)
        };
        let anomalies = if collector.config().anomaly_detection.enabled {
            Some(Arc::new(AnomalyWatch::new(
                collector.config().anomaly_detection.clone(),
                collector
                    .config()
                    .anomaly_detection
                    .interval
                    .unwrap_or(collector.config().collection_interval),
                collector.history().clone(),
                collector.registry(),
                collector.config().storage.path.clone(),
            )?))
        } else {
            None
        };
        let remote = RemoteWriter::new(
            collector.config(),
            collector.history(),
            vec![collector.registry().clone(), Registry::global().clone()],
            collector.registry(),
        )?;
        let dashboards = Arc::new(
            Dashboards::new(
                vec![collector.registry().clone(), Registry::global().clone()],
                Dashboards::expected(collector.config(), has_database),
                collector.config().collection_interval,
                collector.config().retention_period,
            )
            .with_anomalies(
                match &collector.config().anomaly_detection {
                    a if a.enabled => a.watch.clone(),
                    _ => Vec::new(),
                },
                collector.config().anomaly_detection.threshold,
                std::time::Duration::from_secs(crate::anomaly::HOLD_SECONDS),
            ),
        );
        let exporter = if prometheus.enabled {
            let exporter = PrometheusExporter::new(collector.clone(), prometheus)?;
            exporter.set_dashboards(dashboards.clone());
            if let Some(health) = &health {
                exporter.set_health_source(health.clone());
            }
            if let Some(engine) = &alerting {
                exporter.set_alert_source(engine.clone());
            }
            if let Some(notifier) = &notifier {
                exporter.set_notification_source(notifier.clone());
            }
            Some(exporter)
        } else {
            None
        };
        Ok(Self {
            collector,
            health,
            exporter,
            alerting,
            notifier,
            remote,
            anomalies,
            dashboards,
            started: Mutex::new(false),
        })
    }

    /// The four dashboards (Database Performance, Storage Usage, System Resources,
    /// Health Status) as Grafana dashboard JSON, drawn from the families registered now (the
    /// database's appear at the first collection) and the panels added with
    /// [`add_dashboard_panel`](Self::add_dashboard_panel). Each reads a `${datasource}`
    /// variable: a Prometheus that scrapes this monitor, or the monitor's own `/api/v1`.
    /// The same JSON is served at `/api/v1/grafana/dashboards`.
    ///
    /// ```
    /// # use kotoba_monitoring::{Monitor, MonitoringConfig};
    /// let monitor = Monitor::new(MonitoringConfig::default())?;
    /// for dashboard in monitor.grafana_dashboards() {
    ///     assert!(dashboard.file_name().starts_with("kotoba-"));
    ///     assert!(dashboard.json()["panels"].is_array());
    /// }
    /// # Ok::<(), kotoba_monitoring::MonitoringError>(())
    /// ```
    pub fn grafana_dashboards(&self) -> Vec<GrafanaDashboard> {
        self.dashboards.grafana()
    }

    /// Every panel the built-in page (at `/` and `/dashboard`) and the Grafana dashboards
    /// draw, in order.
    pub fn dashboard_panels(&self) -> Vec<DashboardPanel> {
        self.dashboards.panels()
    }

    /// Adds `panel` to its view, on the built-in page and in the Grafana dashboards.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] when the view already has a panel with its title.
    pub fn add_dashboard_panel(&self, panel: DashboardPanel) -> Result<(), MonitoringError> {
        self.dashboards.add(panel)
    }

    /// Every pending and firing alert of the configured rules (`alerting_config.rules` and
    /// `rule_files`), by rule; empty while alerting is off.
    pub fn alerts(&self) -> Vec<ActiveAlert> {
        self.alerting
            .as_ref()
            .map(|engine| engine.alerts())
            .unwrap_or_default()
    }

    /// The alerts' state changes as the rules' evaluations see them: new (pending, or firing
    /// at once), firing, resolved. They queue (up to 4,096) until read; past that they are
    /// dropped and counted in `kotoba_monitoring_alert_transitions_dropped_total`, so that
    /// evaluation never waits on the reader. Each transition goes to one reader. `None`
    /// while alerting is off.
    pub fn alert_transitions(&self) -> Option<crossbeam_channel::Receiver<crate::AlertTransition>> {
        self.alerting.as_ref().map(|engine| engine.transitions())
    }

    /// Each notification channel's deliveries: how many succeeded, failed and were held, how
    /// many wait, and the last error (secrets never in it). Empty while alerting is off or
    /// no channel is configured.
    pub fn notification_channels(&self) -> Vec<ChannelStatus> {
        self.notifier
            .as_ref()
            .map(|n| n.status())
            .unwrap_or_default()
    }

    /// The rules that failed at their group's last evaluation, each as `group "g", rule "r":
    /// reason` (a failed rule writes nothing and keeps its alerts as they were).
    pub fn rule_errors(&self) -> Vec<String> {
        self.alerting
            .as_ref()
            .map(|engine| engine.failures())
            .unwrap_or_default()
    }

    /// Starts every enabled component.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::AlreadyStarted`] when running; otherwise the first component's start
    /// error, after stopping the components already started.
    pub fn start(&self) -> Result<(), MonitoringError> {
        let mut started = self.started.lock();
        if *started {
            return Err(MonitoringError::AlreadyStarted {
                component: "monitor",
            });
        }
        if self.collector.config().enable_metrics {
            self.collector.start()?;
        }
        if let Some(health) = &self.health {
            if let Err(e) = health.start() {
                let _ = self.collector.stop();
                return Err(e);
            }
        }
        if let Some(exporter) = &self.exporter {
            if let Err(e) = exporter.start() {
                if let Some(health) = &self.health {
                    let _ = health.stop();
                }
                let _ = self.collector.stop();
                return Err(e);
            }
        }
        if let Some(notifier) = &self.notifier {
            if let Err(e) = notifier.start() {
                let _ = self.stop_components();
                return Err(e);
            }
        }
        if let Some(engine) = &self.alerting {
            if let Err(e) = engine.start() {
                let _ = self.stop_components();
                return Err(e);
            }
        }
        if let Some(remote) = &self.remote {
            if let Err(e) = remote.start() {
                let _ = self.stop_components();
                return Err(e);
            }
        }
        if let Some(anomalies) = &self.anomalies {
            if let Err(e) = anomalies.start() {
                let _ = self.stop_components();
                return Err(e);
            }
        }
        *started = true;
        Ok(())
    }

    /// Stops every component and joins their threads; does nothing when stopped.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ShutdownTimeout`] when a thread did not end within
    /// `shutdown_timeout`, or [`MonitoringError::Multiple`] listing each one when several did
    /// not; every component is stopped either way.
    pub fn stop(&self) -> Result<(), MonitoringError> {
        let mut started = self.started.lock();
        *started = false;
        self.stop_components()
    }

    fn stop_components(&self) -> Result<(), MonitoringError> {
        let anomalies = match &self.anomalies {
            Some(watch) => watch.stop(self.collector.config().shutdown_timeout),
            None => Ok(()),
        };
        let remote = match &self.remote {
            Some(remote) => remote.stop(self.collector.config().shutdown_timeout),
            None => Ok(()),
        };
        let alerting = match &self.alerting {
            Some(engine) => engine.stop(self.collector.config().shutdown_timeout),
            None => Ok(()),
        };
        let notifier = match &self.notifier {
            Some(notifier) => notifier.stop(self.collector.config().shutdown_timeout),
            None => Ok(()),
        };
        let exporter = match &self.exporter {
            Some(exporter) => exporter.stop(),
            None => Ok(()),
        };
        let health = match &self.health {
            Some(health) => health.stop(),
            None => Ok(()),
        };
        let collector = self.collector.stop();
        MonitoringError::all([
            anomalies, remote, alerting, notifier, exporter, health, collector,
        ])
    }

    /// Where each `remote_write` endpoint stands: how far it has sent the history and its
    /// last failure (credentials never in it). Empty when none is configured.
    pub fn remote_write_status(&self) -> Vec<crate::RemoteWriteStatus> {
        self.remote
            .as_ref()
            .map(RemoteWriter::status)
            .unwrap_or_default()
    }

    /// The watched series (`anomaly_detection.watch`) in an anomaly episode: a score at or
    /// above `anomaly_detection.threshold` within the last five minutes, the most anomalous
    /// first; empty while anomaly detection is off. Each has its own streaming [`AnomalyDetector`](crate::AnomalyDetector), which
    /// learns the series as it goes: no threshold per series, no training to run. The same
    /// scores are on `/metrics` and in the history as `kotoba_anomaly_score`, for rules such
    /// as `max_over_time(kotoba_anomaly_score[5m]) >= 0.4` (a detector alarms once per
    /// episode, so a rule with `for` would not hold).
    pub fn anomalies(&self) -> Vec<Anomaly> {
        self.anomalies
            .as_ref()
            .map(|watch| watch.anomalies(time::OffsetDateTime::now_utc()))
            .unwrap_or_default()
    }

    /// Whether the monitor is started.
    pub fn is_running(&self) -> bool {
        *self.started.lock()
    }

    /// The registry to take counter, gauge and histogram handles from.
    pub fn registry(&self) -> &Registry {
        self.collector.registry()
    }

    /// The metrics collector: `record_metric`, `get_metrics`, history.
    pub fn collector(&self) -> &MetricsCollector {
        &self.collector
    }

    /// The database's, the queries' and the system's figures now; see
    /// [`MetricsCollector::get_performance_metrics`].
    ///
    /// # Errors
    ///
    /// As that method.
    pub fn performance_metrics(&self) -> Result<PerformanceMetrics, MonitoringError> {
        self.collector.get_performance_metrics()
    }

    /// Evaluates the PromQL expression `expr` at `at` over the history; see
    /// [`HistoryStore::query`](crate::HistoryStore::query).
    ///
    /// # Errors
    ///
    /// As that method.
    pub fn query(
        &self,
        expr: &str,
        at: time::OffsetDateTime,
    ) -> Result<crate::QueryValue, MonitoringError> {
        self.collector.query(expr, at)
    }

    /// Evaluates `expr` over `[start, end]` every `step`; see
    /// [`HistoryStore::query_range`](crate::HistoryStore::query_range).
    ///
    /// # Errors
    ///
    /// As that method.
    pub fn query_range(
        &self,
        expr: &str,
        start: time::OffsetDateTime,
        end: time::OffsetDateTime,
        step: std::time::Duration,
    ) -> Result<crate::QueryValue, MonitoringError> {
        self.collector.query_range(expr, start, end, step)
    }

    /// The health checker, unless `enable_health_checks` is false: register your own checks on
    /// it, read [`current_health`](HealthChecker::current_health).
    pub fn health(&self) -> Option<&HealthChecker> {
        self.health.as_deref()
    }

    /// The Prometheus exporter, unless `prometheus_config.enabled` is false.
    pub fn exporter(&self) -> Option<&PrometheusExporter> {
        self.exporter.as_ref()
    }

    /// The address the exporter listens on while running (with the real port when port 0 was
    /// configured).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.exporter
            .as_ref()
            .and_then(PrometheusExporter::local_addr)
    }

    /// The configuration in force.
    pub fn config(&self) -> &MonitoringConfig {
        self.collector.config()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Gives each alerting rule named in `recovery_expressions` its recovery expression; a
/// name no rule has, or a configured rule with a `recovery` threshold too, is an error.
fn apply_recovery_expressions(
    config: &AlertingConfig,
    groups: &mut [crate::alert::RuleGroup],
) -> Result<(), MonitoringError> {
    for (name, expr) in &config.recovery_expressions {
        let field = format!("alerting_config.recovery_expressions.{name}");
        let parsed = crate::query::parse(expr, Some(field.clone()))?;
        let mut found = false;
        for rule in groups.iter_mut().flat_map(|g| g.rules.iter_mut()) {
            let crate::alert::Rule::Alerting(alerting) = rule else {
                continue;
            };
            if alerting.name() != name {
                continue;
            }
            if alerting.recovery.is_some() {
                return Err(MonitoringError::config(
                    field,
                    "the rule of this name has a recovery threshold already; give it one or the other",
                ));
            }
            alerting.recovery = Some((expr.clone(), parsed.clone()));
            found = true;
        }
        if !found {
            return Err(MonitoringError::config(
                field,
                format!("no alerting rule is named {name:?}; name an alert of rule_files or rules"),
            ));
        }
    }
    Ok(())
}

/// The engine of `config`'s rules over `collector`'s history (its self-metrics in its
/// registry): each rule file's groups (at their own
/// interval, or `evaluation_interval`) and one group per configured rule, their templates
/// seeing `context` (the global labels as Prometheus's external labels).
fn rule_engine(
    config: &AlertingConfig,
    collector: &MetricsCollector,
    context: &TemplateContext,
) -> Result<RuleEngine, MonitoringError> {
    let default_ms = crate::clock::duration_ms(config.evaluation_interval);
    let mut groups = Vec::new();
    for path in &config.rule_files {
        let loaded = load_rule_file(path).map_err(|problems| MonitoringError::ConfigParse {
            path: Some(path.clone()),
            message: problems.join("\n"),
        })?;
        groups.extend(loaded);
    }
    for (i, rule) in config.rules.iter().enumerate() {
        groups.push(seed_rule_group(rule).map_err(|reason| {
            MonitoringError::config(format!("alerting_config.rules[{i}].query"), reason)
        })?);
    }
    apply_recovery_expressions(config, &mut groups)?;
    if let Some(flap) = config.flap_detection {
        for group in &mut groups {
            for rule in &mut group.rules {
                if let crate::alert::Rule::Alerting(alerting) = rule {
                    alerting.flap_detection = Some(crate::alert::FlapDetectionRule {
                        start_percent: flap.start_percent,
                        stop_percent: flap.stop_percent,
                    });
                }
            }
        }
    }
    let scheduled = groups
        .into_iter()
        .map(|group| {
            let ms = group.interval_ms.unwrap_or(default_ms).max(1);
            (
                GroupRun::new(group, context.clone()),
                std::time::Duration::from_millis(ms as u64),
            )
        })
        .collect();
    RuleEngine::new(scheduled, collector.history().clone(), collector.registry())
}
