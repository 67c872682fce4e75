//! The seed's process-wide recording helpers, over [`Registry::global`].
//!
//! Each call looks its series up by name and labels, so it suits occasional events. On a hot
//! path, take a handle once from a [`Registry`] and record through it instead.
//!
//! Every started [`MetricsCollector`](crate::MetricsCollector) stores the global registry's
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

use crate::{MonitoringError, Registry};

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
    Registry::global()
        .counter(name, "Recorded with record_counter.", labels)?
        .inc_by(value);
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
    Registry::global()
        .gauge(name, "Recorded with record_gauge.", labels)?
        .set(value);
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
        .histogram(name, "Recorded with record_histogram.", labels)?
        .observe(value);
    Ok(())
}
