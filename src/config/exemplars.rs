//! The `[exemplars]` section: which instrumented queries keep their trace as an exemplar, and
//! how many slow queries are remembered. See [`ExemplarConfig`] for details.

use serde::{Deserialize, Serialize};

use crate::MonitoringError;

/// Which observations of the query instrumentation keep an exemplar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemplarSelection {
    /// None.
    Off,
    /// Every query served under a sampled trace: each latency bucket keeps the newest.
    All,
    /// Only queries over the slow-query threshold: the ones worth a trace (the default).
    #[default]
    Slow,
    /// Slow queries, and a `sample_ratio` share of the others.
    Sampled,
}

/// Exemplars and the slow-query log of the query instrumentation
/// ([`QueryInstruments`](crate::QueryInstruments)): a query timed while a sampled
/// [`TraceContext`](crate::TraceContext) is current keeps it, as the exemplar of the
/// latency bucket it falls in, when `keep` says so; a slow query goes into the slow-query log
/// either way.
///
/// ```
/// use kotoba_monitoring::{ExemplarSelection, MonitoringConfig};
///
/// let config = MonitoringConfig::from_toml_str(r#"
///     [exemplars]
///     keep = "sampled"
///     sample_ratio = 0.01
///     slow_query_log = 500
/// "#)?;
/// assert_eq!(config.exemplars.keep, ExemplarSelection::Sampled);
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExemplarConfig {
    /// Which queries keep an exemplar. Defaults to `slow`.
    pub keep: ExemplarSelection,
    /// With `sampled`, the share of the other queries that keep one, 0 to 1. Defaults to 0.01.
    pub sample_ratio: f64,
    /// How many slow queries the log keeps, the newest; older ones are let go and counted.
    /// Defaults to 100.
    pub slow_query_log: usize,
}

impl Default for ExemplarConfig {
    fn default() -> Self {
        Self {
            keep: ExemplarSelection::Slow,
            sample_ratio: 0.01,
            slow_query_log: 100,
        }
    }
}

impl ExemplarConfig {
    /// Checks that the fields can work.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] for a ratio outside 0 to 1.
    pub fn validate(&self) -> Result<(), MonitoringError> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(MonitoringError::config(
                "exemplars.sample_ratio",
                format!(
                    "{} is not a share; give a number from 0 to 1 (0.01 keeps one query in a hundred)",
                    self.sample_ratio
                ),
            ));
        }
        Ok(())
    }
}
