//! Module implementing the health checker: the registered checks, their runs, the current
//! state and its history, and the health thread. See [`HealthChecker`] for details.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};
use time::OffsetDateTime;

use super::report::{CheckReport, HealthReport, HealthSource, ProbeStatus};
use super::runner::{Pending, Runner};
use super::uptime::process_uptime;
use super::{
    CheckOptions, CheckState, CpuCheck, DatabaseCheck, DiskCheck, HealthCheck, HealthCheckResult,
    HealthStatus, MemoryCheck, SystemHealth, Thresholds,
};
use crate::metrics::Family;
use crate::worker::CallWatch;
use crate::worker::{guarded, Worker};
use crate::{Gauge, MonitoredDatabase, MonitoringConfig, MonitoringError, Registry};

/// Runs health checks, every `health_check_interval` once started or on demand, keeps the
/// last result and a bounded history, and exports `health_check_status{check_name}` and
/// `health_check_duration_seconds{check_name}`.
///
/// Each check runs on a thread of its own (`kotoba-check`, started at its first run) with
/// `health_config.check_timeout`; see [`HealthCheck`] for what happens to one that hangs or
/// panics. The periodic runs happen on `kotoba-health`. How results add up is
/// [`SystemHealth::aggregate`]; nothing is Healthy by default.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use kotoba_monitoring::{HealthCheck, HealthCheckResult, HealthChecker, HealthStatus,
///     MonitoringConfig};
///
/// struct Always(HealthStatus);
/// impl HealthCheck for Always {
///     fn check_health(&self) -> HealthCheckResult {
///         HealthCheckResult::new("always", self.0, "as told", Duration::ZERO)
///     }
/// }
///
/// let checker = HealthChecker::new(MonitoringConfig::default());
/// assert_eq!(checker.current_health().overall_status, HealthStatus::Unknown);
/// checker.register_check("custom", Box::new(Always(HealthStatus::Healthy)))?;
/// let health = checker.check_health()?;
/// assert_eq!(health.overall_status, HealthStatus::Healthy);
/// assert!(checker.is_healthy());
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
pub struct HealthChecker {
    inner: Arc<Inner>,
    running: Mutex<Option<Running>>,
}

struct Inner {
    config: MonitoringConfig,
    registry: Registry,
    database: RwLock<Option<Arc<dyn MonitoredDatabase>>>,
    /// The collector's calls into the database, for the database check.
    database_calls: RwLock<Option<Arc<CallWatch>>>,
    checks: Mutex<Vec<Entry>>,
    /// Serialises runs, so a manual `check_health` and the health thread never interleave.
    run_lock: Mutex<()>,
    /// Shared with readers: `/health` and the history read a round without copying it.
    current: RwLock<Arc<SystemHealth>>,
    history: Mutex<VecDeque<Arc<SystemHealth>>>,
    status_gauges: Family<Gauge>,
    duration_gauges: Family<Gauge>,
}

struct Entry {
    name: String,
    check: Arc<dyn HealthCheck>,
    /// Started at the first run.
    runner: Option<Runner>,
    state: CheckState,
}

struct Running {
    stop: Sender<()>,
    worker: Worker,
}

impl std::fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .inner
            .checks
            .lock()
            .iter()
            .map(|e| e.name.clone())
            .collect();
        f.debug_struct("HealthChecker")
            .field("checks", &names)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl HealthChecker {
    /// A checker with no checks, exporting its gauges to [`Registry::global`].
    pub fn new(config: MonitoringConfig) -> Self {
        Self::with_registry(config, Registry::global().clone())
    }

    /// A checker with no checks, exporting its gauges to `registry`.
    pub fn with_registry(config: MonitoringConfig, registry: Registry) -> Self {
        // Both names are valid and the families new or of the right type in a fresh registry;
        // a clash with a user's family of another type falls back to a private registry.
        let families = |r: &Registry| -> Result<(Family<Gauge>, Family<Gauge>), MonitoringError> {
            Ok((
                r.gauge_family(
                    "health_check_status",
                    "Last result of each health check: 1 healthy, 0.5 degraded, 0 unhealthy, -1 unknown.",
                )?,
                r.gauge_family(
                    "health_check_duration_seconds",
                    "How long each health check's last run took.",
                )?,
            ))
        };
        let (status_gauges, duration_gauges) = families(&registry)
            .or_else(|_| families(&Registry::new()))
            .unwrap_or_else(|_| unreachable!("a fresh registry takes both gauge families"));
        Self {
            inner: Arc::new(Inner {
                current: RwLock::new(Arc::new(SystemHealth {
                    overall_status: HealthStatus::Unknown,
                    checks: Vec::new(),
                    uptime: Duration::ZERO,
                    last_check: None,
                })),
                history: Mutex::new(VecDeque::new()),
                config,
                registry,
                database: RwLock::new(None),
                database_calls: RwLock::new(None),
                checks: Mutex::new(Vec::new()),
                run_lock: Mutex::new(()),
                status_gauges,
                duration_gauges,
            }),
            running: Mutex::new(None),
        }
    }

    /// Attaches the database the `database` default check pings.
    pub fn set_database(&self, db: Arc<dyn MonitoredDatabase>) {
        *self.inner.database.write() = Some(db);
    }

    /// Lets the database check report the collector's database calls that hang.
    pub(crate) fn watch_database_calls(&self, calls: Option<Arc<CallWatch>>) {
        *self.inner.database_calls.write() = calls;
    }

    /// Registers `check` as `name`, critical and counting for both probes.
    ///
    /// # Errors
    ///
    /// As [`register_check_with`](Self::register_check_with).
    pub fn register_check(
        &self,
        name: impl Into<String>,
        check: Box<dyn HealthCheck>,
    ) -> Result<(), MonitoringError> {
        self.register_check_with(name, check, CheckOptions::default())
    }

    /// Registers `check` as `name` with `options`. It runs from the next round on.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidCheck`] when `name` is empty, has control characters, or is
    /// registered already.
    pub fn register_check_with(
        &self,
        name: impl Into<String>,
        check: Box<dyn HealthCheck>,
        options: CheckOptions,
    ) -> Result<(), MonitoringError> {
        let name = name.into();
        let invalid = |reason: &str| MonitoringError::InvalidCheck {
            name: name.clone(),
            reason: reason.to_owned(),
        };
        if name.trim().is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("the name has control characters"));
        }
        let mut checks = self.inner.checks.lock();
        if checks.iter().any(|e| e.name == name) {
            return Err(invalid(
                "a check of this name is registered; unregister it first or choose another name",
            ));
        }
        checks.push(Entry {
            state: CheckState {
                result: HealthCheckResult::new(
                    &name,
                    HealthStatus::Unknown,
                    "not run yet",
                    Duration::ZERO,
                ),
                checked_at: None,
                critical: options.critical,
                liveness: options.liveness,
                readiness: options.readiness,
            },
            name,
            check: Arc::from(check),
            runner: None,
        });
        drop(checks);
        self.inner.publish(None);
        Ok(())
    }

    /// Removes the check `name`; its `health_check_status` gauge reads -1 (unknown) from then
    /// on. Returns whether it was registered. A run in progress is left to finish on its own.
    pub fn unregister_check(&self, name: &str) -> bool {
        let removed = {
            let mut checks = self.inner.checks.lock();
            let before = checks.len();
            checks.retain(|e| e.name != name);
            before != checks.len()
        };
        if removed {
            if let Ok(g) = self
                .inner
                .status_gauges
                .with_labels(&[("check_name", name)])
            {
                g.set(HealthStatus::Unknown.gauge_value());
            }
            self.inner.publish(None);
        }
        removed
    }

    /// Registers the built-in checks not registered yet, with thresholds from
    /// `health_config`: `memory` and `disk` (critical), `cpu` (non-critical), `database` when a
    /// database is [attached](Self::set_database) (critical, readiness only), and with feature
    /// `cluster`, `network` when `health_config.peers` is set (non-critical, readiness only).
    ///
    /// # Errors
    ///
    /// None in practice; the signature leaves room for checks that can fail to build.
    pub fn add_default_checks(&self) -> Result<(), MonitoringError> {
        let h = &self.inner.config.health_config;
        let mut defaults: Vec<(&str, Box<dyn HealthCheck>, CheckOptions)> = vec![
            (
                "memory",
                Box::new(MemoryCheck::new(Thresholds {
                    degraded: h.memory_degraded_percent,
                    unhealthy: h.memory_unhealthy_percent,
                })),
                CheckOptions::default(),
            ),
            (
                "disk",
                Box::new(DiskCheck::new(
                    h.data_path.clone(),
                    Thresholds {
                        degraded: h.disk_degraded_percent,
                        unhealthy: h.disk_unhealthy_percent,
                    },
                )),
                CheckOptions::default(),
            ),
            (
                "cpu",
                Box::new(CpuCheck::new(Thresholds {
                    degraded: h.cpu_degraded_percent,
                    unhealthy: h.cpu_unhealthy_percent,
                })),
                CheckOptions::non_critical(),
            ),
        ];
        if let Some(db) = self.inner.database.read().clone() {
            defaults.push((
                "database",
                Box::new(
                    DatabaseCheck::new(db, h.database_degraded_latency)
                        .watching(self.inner.database_calls.read().clone()),
                ),
                CheckOptions::readiness_only(),
            ));
        }
        #[cfg(feature = "cluster")]
        if !h.peers.is_empty() {
            defaults.push((
                "network",
                Box::new(super::NetworkCheck::new(h.peers.clone(), h.peer_timeout)),
                CheckOptions {
                    critical: false,
                    liveness: false,
                    readiness: true,
                },
            ));
        }
        for (name, check, options) in defaults {
            let known = self.inner.checks.lock().iter().any(|e| e.name == name);
            if !known {
                self.register_check_with(name, check, options)?;
            }
        }
        Ok(())
    }

    /// Runs every check now, in parallel, each within `check_timeout`, and returns the result
    /// (also kept as [`current_health`](Self::current_health) and in the history).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ThreadSpawn`] when a check's thread cannot be started; the other
    /// checks' results are kept.
    pub fn check_health(&self) -> Result<SystemHealth, MonitoringError> {
        self.inner.run()
    }

    /// The last result, without running anything (with the uptime as of now).
    pub fn current_health(&self) -> SystemHealth {
        let mut health = SystemHealth::clone(&self.inner.current.read());
        health.uptime = process_uptime();
        health
    }

    /// Whether the last overall status is Healthy.
    pub fn is_healthy(&self) -> bool {
        self.inner.current.read().overall_status == HealthStatus::Healthy
    }

    /// The past results, oldest first, at most `health_config.history_size`.
    pub fn history(&self) -> Vec<SystemHealth> {
        self.inner
            .history
            .lock()
            .iter()
            .map(|h| SystemHealth::clone(h))
            .collect()
    }

    /// Starts `kotoba-health`, which runs the checks at once and then every
    /// `health_check_interval`.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] for a configuration that does not validate,
    /// [`MonitoringError::AlreadyStarted`] when running, [`MonitoringError::ThreadSpawn`].
    pub fn start(&self) -> Result<(), MonitoringError> {
        self.inner.config.validate()?;
        let mut running = self.running.lock();
        if running.is_some() {
            return Err(MonitoringError::AlreadyStarted {
                component: "health checker",
            });
        }
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let inner = self.inner.clone();
        let interval = inner.config.health_check_interval;
        let worker = Worker::spawn("kotoba-health", move || loop {
            // A failure to start one check's thread is already in that check's result.
            let _ = guarded("a health round", || inner.run());
            match stopped.recv_timeout(interval) {
                Err(RecvTimeoutError::Timeout) => continue,
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        })?;
        *running = Some(Running { stop, worker });
        Ok(())
    }

    /// Stops `kotoba-health` and every check's thread, waiting for a round in progress.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::ShutdownTimeout`] naming a thread that did not end in time (a check
    /// that hangs); it is left detached.
    pub fn stop(&self) -> Result<(), MonitoringError> {
        let config = &self.inner.config;
        let wait = config.shutdown_timeout + config.health_config.check_timeout;
        let mut result = Ok(());
        if let Some(running) = self.running.lock().take() {
            let _ = running.stop.send(());
            result = running.worker.join(wait);
        }
        let runners: Vec<Runner> = self
            .inner
            .checks
            .lock()
            .iter_mut()
            .filter_map(|e| e.runner.take())
            .collect();
        let mut results = vec![result];
        for runner in runners {
            results.push(runner.stop(config.shutdown_timeout));
        }
        MonitoringError::all(results)
    }

    /// Whether `kotoba-health` is running.
    pub fn is_running(&self) -> bool {
        self.running.lock().is_some()
    }

    /// The registry the gauges go to.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }
}

impl Inner {
    /// One round: start every check, wait for each within the timeout, record the results.
    fn run(&self) -> Result<SystemHealth, MonitoringError> {
        let _round = self.run_lock.lock();
        let timeout = self.config.health_config.check_timeout;
        let mut spawn_error = None;
        let started: Vec<_> = {
            let mut checks = self.checks.lock();
            checks
                .iter_mut()
                .map(|entry| {
                    if entry.runner.is_none() {
                        match Runner::spawn(&entry.name, entry.check.clone()) {
                            Ok(r) => entry.runner = Some(r),
                            Err(e) => {
                                let message = e.to_string();
                                spawn_error.get_or_insert(e);
                                let failed = HealthCheckResult::new(
                                    &entry.name,
                                    HealthStatus::Unhealthy,
                                    message,
                                    Duration::ZERO,
                                );
                                return (entry.name.clone(), Pending::Done(failed));
                            }
                        }
                    }
                    let pending = match &entry.runner {
                        Some(runner) => runner.start(),
                        None => Pending::Done(HealthCheckResult::new(
                            &entry.name,
                            HealthStatus::Unknown,
                            "its thread is not running",
                            Duration::ZERO,
                        )),
                    };
                    (entry.name.clone(), pending)
                })
                .collect()
        };
        let deadline = Instant::now() + timeout;
        let results: Vec<(String, HealthCheckResult)> = started
            .into_iter()
            .map(|(name, pending)| (name, pending.wait(deadline, timeout)))
            .collect();
        let now = OffsetDateTime::now_utc();
        {
            let mut checks = self.checks.lock();
            for (name, mut result) in results {
                result.bound();
                // A check unregistered during the round is gone; skip its result.
                if let Some(entry) = checks.iter_mut().find(|e| e.name == name) {
                    if let Ok(g) = self.status_gauges.with_labels(&[("check_name", &name)]) {
                        g.set(result.status.gauge_value());
                    }
                    if let Ok(g) = self.duration_gauges.with_labels(&[("check_name", &name)]) {
                        g.set(result.duration.as_secs_f64());
                    }
                    entry.state.result = result;
                    entry.state.checked_at = Some(now);
                }
            }
        }
        let health = self.publish(Some(now));
        match spawn_error {
            Some(e) => Err(e),
            None => Ok(health),
        }
    }

    /// Recomputes the current state from the checks; with `at`, a round ended then and the
    /// state joins the history.
    fn publish(&self, at: Option<OffsetDateTime>) -> SystemHealth {
        let states: Vec<CheckState> = self.checks.lock().iter().map(|e| e.state.clone()).collect();
        let mut current = self.current.write();
        let health = Arc::new(SystemHealth {
            overall_status: SystemHealth::aggregate(&states),
            checks: states,
            uptime: process_uptime(),
            last_check: at.or(current.last_check),
        });
        *current = health.clone();
        drop(current);
        if at.is_some() {
            let mut history = self.history.lock();
            history.push_back(health.clone());
            while history.len() > self.config.health_config.history_size {
                history.pop_front();
            }
        }
        SystemHealth::clone(&health)
    }
}

impl HealthSource for HealthChecker {
    fn health_report(&self) -> HealthReport {
        let health = self.inner.current.read().clone();
        let status = match health.overall_status {
            HealthStatus::Healthy => ProbeStatus::Pass,
            HealthStatus::Degraded | HealthStatus::Unknown => ProbeStatus::Warn,
            HealthStatus::Unhealthy => ProbeStatus::Fail,
        };
        let output = match health.overall_status {
            HealthStatus::Unknown if health.checks.is_empty() => {
                Some("no health checks are registered".to_owned())
            }
            HealthStatus::Unknown => Some("the health checks have not all run yet".to_owned()),
            HealthStatus::Healthy => None,
            // Say why: each check that is not healthy, with its message.
            other => {
                let reasons: Vec<String> = health
                    .checks
                    .iter()
                    .filter(|c| c.result.status != HealthStatus::Healthy)
                    .map(|c| {
                        format!(
                            "{} is {}: {}",
                            c.result.name, c.result.status, c.result.message
                        )
                    })
                    .collect();
                Some(format!("{other}: {}", reasons.join("; ")))
            }
        };
        let checks = health
            .checks
            .iter()
            .map(|c| CheckReport {
                name: c.result.name.clone(),
                status: SystemHealth::probe_status(c),
                output: (c.result.status != HealthStatus::Healthy)
                    .then(|| format!("{}: {}", c.result.status, c.result.message)),
                time: c.checked_at,
                duration: c.checked_at.map(|_| c.result.duration),
                liveness: c.liveness,
                readiness: c.readiness,
            })
            .collect();
        HealthReport {
            status,
            output,
            checks,
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
