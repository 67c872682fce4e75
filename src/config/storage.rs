//! The `[storage]` section: where the history, alert state and the notification log are kept
//! across restarts. See [`StorageConfig`] for details.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::MonitoringError;

/// Where the monitor keeps what it knows across restarts: a write-ahead log of every sample
/// the history takes, checkpoints of the compressed history, the alerts' state, the
/// notification log and each remote-write endpoint's position. Unset, everything stays in
/// memory, as before.
///
/// A folder holds one monitor (a second one opening it gets an error). A process killed at
/// any moment loses at most the samples since the log was last written: each collection tick,
/// or every `fsync_interval`. A clean `stop()` loses nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use kotoba_monitoring::MonitoringConfig;
///
/// let config = MonitoringConfig::from_toml_str(r#"
///     [storage]
///     path = "/var/lib/kotoba/monitoring"
///     fsync_interval = "1s"
/// "#)?;
/// assert_eq!(config.storage.fsync_interval, Some(Duration::from_secs(1)));
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The folder, made when missing. Defaults to none: nothing is kept across restarts.
    pub path: Option<PathBuf>,
    /// How often the log is written out and synced to disk, at most what a crash loses.
    /// Defaults to none: after each collection tick.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub fsync_interval: Option<Duration>,
}

impl StorageConfig {
    /// Checks that the fields can work.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] for an empty path or a zero interval.
    pub fn validate(&self) -> Result<(), MonitoringError> {
        if self.path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(MonitoringError::config(
                "storage.path",
                "is empty; name a folder, or leave it out to keep everything in memory",
            ));
        }
        if self.fsync_interval.is_some_and(|d| d.is_zero()) {
            return Err(MonitoringError::config(
                "storage.fsync_interval",
                "must be longer than zero, for example \"1s\"; leave it out to sync after each collection tick",
            ));
        }
        Ok(())
    }
}
