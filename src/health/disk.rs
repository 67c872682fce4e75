//! Module implementing the built-in disk check. See [`DiskCheck`] for details.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sysinfo::Disks;

use super::{HealthCheck, HealthCheckResult, HealthStatus, Thresholds};

/// Space in use on the disk that holds the database's data directory, as a percentage of the
/// disk's size. Defaults: Degraded at 85%, Unhealthy at 95% (`health_config.disk_*_percent`).
/// A data directory that does not exist is Unhealthy.
#[derive(Debug, Clone)]
pub struct DiskCheck {
    path: PathBuf,
    thresholds: Thresholds,
}

impl DiskCheck {
    /// A disk check of the disk holding `path`.
    pub fn new(path: impl Into<PathBuf>, thresholds: Thresholds) -> Self {
        Self {
            path: path.into(),
            thresholds,
        }
    }
}

/// The mount point among `mounts` that holds `path`: the longest one that is a prefix of it.
fn holding<'a>(path: &Path, mounts: impl Iterator<Item = &'a Path>) -> Option<&'a Path> {
    mounts
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
}

impl HealthCheck for DiskCheck {
    fn check_health(&self) -> HealthCheckResult {
        let started = Instant::now();
        let result = |status, message: String| {
            HealthCheckResult::new("disk", status, message, started.elapsed())
                .with_detail("path", self.path.display())
        };
        let path = match self.path.canonicalize() {
            Ok(p) => p,
            Err(e) => {
                return result(
                    HealthStatus::Unhealthy,
                    format!("data path {} is not usable: {e}", self.path.display()),
                )
            }
        };
        let disks = match Disks::new_with_refreshed_list() {
            Ok(d) => d,
            Err(e) => {
                return result(
                    HealthStatus::Unknown,
                    format!("cannot list disks on this platform: {e}"),
                )
            }
        };
        let Some(mount) = holding(&path, disks.iter().map(|d| d.mount_point())) else {
            return result(
                HealthStatus::Unknown,
                format!("no mounted disk holds {}", path.display()),
            );
        };
        let Some(disk) = disks
            .iter()
            .filter(|d| d.mount_point() == mount)
            .max_by_key(|d| d.total_space())
        else {
            return result(HealthStatus::Unknown, "the disk vanished".into());
        };
        let total = disk.total_space();
        if total == 0 {
            return result(
                HealthStatus::Unknown,
                format!("{} reports a size of 0", mount.display()),
            );
        }
        let used = total.saturating_sub(disk.available_space());
        let percent = used as f64 * 100.0 / total as f64;
        result(
            self.thresholds.status(percent),
            format!(
                "{percent:.1}% of {} in use ({} of {} MiB)",
                mount.display(),
                used >> 20,
                total >> 20
            ),
        )
        .with_detail("mount_point", mount.display())
        .with_detail("used_bytes", used)
        .with_detail("total_bytes", total)
        .with_detail("used_percent", format!("{percent:.2}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_mount_prefix_holds_the_path() {
        let mounts = [Path::new("/"), Path::new("/var"), Path::new("/var/lib/db")];
        let m = |p: &str| holding(Path::new(p), mounts.iter().copied());
        assert_eq!(m("/var/lib/db/x"), Some(Path::new("/var/lib/db")));
        assert_eq!(m("/var/log"), Some(Path::new("/var")));
        // "/variant" is not under "/var": components, not characters.
        assert_eq!(m("/variant"), Some(Path::new("/")));
    }
}
