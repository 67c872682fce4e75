//! Module implementing the health report the probes answer from: each check's status in the
//! IETF health-check draft's words, and the source that gives the report. See
//! [`HealthReport`] for details.

use std::time::Duration;

use time::OffsetDateTime;

/// A check's or the whole service's status, in the words of the IETF health-check response
/// draft (`draft-inadarei-api-health-check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeStatus {
    /// Healthy.
    Pass,
    /// Healthy, with a concern (degraded, or not known yet). Probes still succeed.
    Warn,
    /// Unhealthy. Probes fail with `503`.
    Fail,
}

impl ProbeStatus {
    /// `"pass"`, `"warn"` or `"fail"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// One check's last result, as the endpoints show it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The check's name (`database`), used by `?exclude=`.
    pub name: String,
    /// Its status.
    pub status: ProbeStatus,
    /// Why it is not passing, or any other short message.
    pub output: Option<String>,
    /// When it last ran.
    pub time: Option<OffsetDateTime>,
    /// How long it took.
    pub duration: Option<Duration>,
    /// Whether `/livez` counts it (a restart would fix it).
    pub liveness: bool,
    /// Whether `/readyz` counts it (traffic should wait until it passes).
    pub readiness: bool,
}

/// The whole service's health: an overall status and every check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// The overall status `/health` reports (the source aggregates it).
    pub status: ProbeStatus,
    /// A short explanation of the overall status.
    pub output: Option<String>,
    /// Every check.
    pub checks: Vec<CheckReport>,
}

/// What the exporter's `/health`, `/livez` and `/readyz` answer from; attach one with
/// [`PrometheusExporter::set_health_source`](crate::PrometheusExporter::set_health_source).
///
/// It is called on an HTTP worker thread for every probe, so it should return the last results
/// rather than run checks. A panic is caught and answered with `503`.
pub trait HealthSource: Send + Sync {
    /// The current report.
    fn health_report(&self) -> HealthReport;
}
