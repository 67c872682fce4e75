//! Module implementing the results of health checks and how they add up to one status.
//! See [`SystemHealth`] for details.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;

use super::report::ProbeStatus;

/// How healthy a check, or the whole system, is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// All systems operational.
    Healthy,
    /// Working, with a problem that needs attention (slow, nearly full).
    Degraded,
    /// Not working.
    Unhealthy,
    /// Cannot be determined: nothing registered, or not run yet.
    Unknown,
}

impl HealthStatus {
    /// The value of `health_check_status{check_name}`: 1 healthy, 0.5 degraded, 0 unhealthy,
    /// -1 unknown. `health_check_status == 0` therefore fires on unhealthy only, `< 1` on
    /// anything short of healthy.
    pub fn gauge_value(self) -> f64 {
        match self {
            Self::Healthy => 1.0,
            Self::Degraded => 0.5,
            Self::Unhealthy => 0.0,
            Self::Unknown => -1.0,
        }
    }

    /// `"healthy"`, `"degraded"`, `"unhealthy"` or `"unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run of one check found.
///
/// The checker keeps at most 4 KiB of `message` and 64 `details` of at most 1 KiB per key and
/// value; longer text is cut and ends with `… [truncated from N bytes]`, and details past 64
/// are replaced by a `truncated` detail saying how many were left out.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckResult {
    /// The check's name, as registered.
    pub name: String,
    /// Its status.
    pub status: HealthStatus,
    /// A short human-readable explanation.
    pub message: String,
    /// How long the check took.
    pub duration: Duration,
    /// Readings behind the status (`used_percent`, `latency_ms`, …).
    pub details: HashMap<String, String>,
}

impl HealthCheckResult {
    /// A result with no details.
    pub fn new(
        name: impl Into<String>,
        status: HealthStatus,
        message: impl Into<String>,
        duration: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            status,
            message: message.into(),
            duration,
            details: HashMap::new(),
        }
    }

    /// Adds a detail.
    pub fn with_detail(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.details.insert(key.into(), value.to_string());
        self
    }

    /// Cuts the message and details to [`MAX_MESSAGE_BYTES`], [`MAX_DETAILS`] entries and
    /// [`MAX_DETAIL_BYTES`] per key and value, saying so in the text, so that one check
    /// returning megabytes cannot make the checker (which keeps a history of results) or
    /// `/health` hold megabytes.
    pub(crate) fn bound(&mut self) {
        truncate(&mut self.message, MAX_MESSAGE_BYTES);
        if self.details.len() > MAX_DETAILS {
            let mut keys: Vec<String> = self.details.keys().cloned().collect();
            keys.sort_unstable();
            let dropped = keys.len() - (MAX_DETAILS - 1);
            for key in &keys[MAX_DETAILS - 1..] {
                self.details.remove(key);
            }
            self.details.insert(
                "truncated".to_owned(),
                format!("{dropped} more details left out"),
            );
        }
        let oversized = self
            .details
            .iter()
            .any(|(k, v)| k.len() > MAX_DETAIL_BYTES || v.len() > MAX_DETAIL_BYTES);
        if oversized {
            self.details = std::mem::take(&mut self.details)
                .into_iter()
                .map(|(mut k, mut v)| {
                    truncate(&mut k, MAX_DETAIL_BYTES);
                    truncate(&mut v, MAX_DETAIL_BYTES);
                    (k, v)
                })
                .collect();
        }
    }
}

/// The longest message a check result keeps, in bytes.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4096;
/// The most details a check result keeps.
pub(crate) const MAX_DETAILS: usize = 64;
/// The longest detail key or value a check result keeps, in bytes.
pub(crate) const MAX_DETAIL_BYTES: usize = 1024;

/// Cuts `text` to at most `max` bytes on a character boundary, ending it with a note of the
/// original length.
fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let note = format!(" … [truncated from {} bytes]", text.len());
    let mut end = max.saturating_sub(note.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&note);
}

/// One check's last result with what the aggregation needs to know about the check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckState {
    /// The last result; `Unknown` until the check has run.
    pub result: HealthCheckResult,
    /// When it ran; `None` until it has.
    pub checked_at: Option<OffsetDateTime>,
    /// Whether an unhealthy result makes the whole system unhealthy.
    pub critical: bool,
    /// Whether `/livez` counts it.
    pub liveness: bool,
    /// Whether `/readyz` counts it.
    pub readiness: bool,
}

/// The health of the whole system at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemHealth {
    /// The aggregate; see [`aggregate`](Self::aggregate).
    pub overall_status: HealthStatus,
    /// Every registered check, in registration order.
    pub checks: Vec<CheckState>,
    /// How long this process has run.
    pub uptime: Duration,
    /// When the checks last ran; `None` if they never have.
    pub last_check: Option<OffsetDateTime>,
}

impl SystemHealth {
    /// The overall status of `checks`:
    ///
    /// | checks | overall |
    /// |---|---|
    /// | none registered, or none has run | Unknown |
    /// | a critical check Unhealthy | Unhealthy |
    /// | else a check Degraded, or a non-critical check Unhealthy or Unknown | Degraded |
    /// | else a critical check Unknown | Unknown |
    /// | else (every check Healthy) | Healthy |
    pub fn aggregate(checks: &[CheckState]) -> HealthStatus {
        if checks.iter().all(|c| c.checked_at.is_none()) {
            return HealthStatus::Unknown;
        }
        let any = |f: &dyn Fn(&CheckState) -> bool| checks.iter().any(f);
        use HealthStatus::*;
        if any(&|c| c.critical && c.result.status == Unhealthy) {
            Unhealthy
        } else if any(&|c| {
            c.result.status == Degraded
                || (!c.critical && matches!(c.result.status, Unhealthy | Unknown))
        }) {
            Degraded
        } else if any(&|c| c.result.status == Unknown) {
            Unknown
        } else {
            Healthy
        }
    }

    /// The status the probe endpoints give one check: pass when healthy, fail when a critical
    /// check is unhealthy, warn otherwise.
    pub(crate) fn probe_status(check: &CheckState) -> ProbeStatus {
        match check.result.status {
            HealthStatus::Healthy => ProbeStatus::Pass,
            HealthStatus::Unhealthy if check.critical => ProbeStatus::Fail,
            _ => ProbeStatus::Warn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatus::*;

    fn state(status: HealthStatus, critical: bool) -> CheckState {
        CheckState {
            result: HealthCheckResult::new("c", status, "", Duration::ZERO),
            checked_at: (status != Unknown).then(OffsetDateTime::now_utc),
            critical,
            liveness: true,
            readiness: true,
        }
    }

    #[test]
    fn the_aggregation_table() {
        let cases: &[(&[(HealthStatus, bool)], HealthStatus)] = &[
            (&[], Unknown),
            (&[(Unknown, true)], Unknown),
            (&[(Healthy, true)], Healthy),
            (&[(Healthy, false), (Healthy, true)], Healthy),
            (&[(Unhealthy, true), (Degraded, false)], Unhealthy),
            (&[(Unhealthy, false), (Healthy, true)], Degraded),
            (&[(Degraded, true), (Healthy, true)], Degraded),
            (&[(Unknown, false), (Healthy, true)], Degraded),
            (&[(Unknown, true), (Healthy, true)], Unknown),
            (&[(Unknown, true), (Degraded, false)], Degraded),
            (&[(Unknown, true), (Unhealthy, true)], Unhealthy),
        ];
        for (checks, expected) in cases {
            let states: Vec<CheckState> = checks.iter().map(|(s, c)| state(*s, *c)).collect();
            assert_eq!(SystemHealth::aggregate(&states), *expected, "{checks:?}");
        }
    }

    #[test]
    fn huge_results_are_cut_and_say_so() {
        let mut r = HealthCheckResult::new("big", Degraded, "é".repeat(1 << 20), Duration::ZERO);
        for i in 0..1000 {
            r.details.insert(format!("k{i:04}"), "v".repeat(10_000));
        }
        r.details.insert("k".repeat(5000), "small".into());
        r.bound();
        assert!(r.message.len() <= MAX_MESSAGE_BYTES, "{}", r.message.len());
        assert!(
            r.message.ends_with("[truncated from 2097152 bytes]"),
            "{}",
            &r.message[4000..]
        );
        assert_eq!(r.details.len(), MAX_DETAILS);
        assert_eq!(r.details["truncated"], "938 more details left out");
        assert!(r
            .details
            .iter()
            .all(|(k, v)| k.len() <= MAX_DETAIL_BYTES && v.len() <= MAX_DETAIL_BYTES));
        // A small result is left as it is.
        let mut small = HealthCheckResult::new("s", Healthy, "fine", Duration::ZERO)
            .with_detail("used_percent", 42);
        let before = small.clone();
        small.bound();
        assert_eq!(small, before);
    }

    #[test]
    fn gauge_values_order_the_statuses() {
        assert_eq!(Healthy.gauge_value(), 1.0);
        assert_eq!(Unhealthy.gauge_value(), 0.0);
        assert!(Degraded.gauge_value() > Unhealthy.gauge_value());
        assert!(Unknown.gauge_value() < 0.0);
    }
}
