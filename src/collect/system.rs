//! Module implementing the system and process readings (feature `system`). See
//! [`SystemSampler`] for details.

use std::path::{Path, PathBuf};

use sysinfo::{
    DiskRefreshKind, Disks, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System,
};

use super::SystemMetrics;

/// Owns the sysinfo handles, so that each tick refreshes only what it reads: memory, global CPU
/// usage, the disks' space, the network totals, and this one process.
pub(crate) struct SystemSampler {
    system: System,
    disks: Disks,
    networks: Networks,
    pid: Option<Pid>,
    data_path: PathBuf,
}

/// One disk's figures, published with a `mount_point` label.
#[derive(Debug, Clone)]
pub(crate) struct DiskReading {
    pub(crate) mount_point: String,
    pub(crate) used_bytes: u64,
    pub(crate) used_percent: f64,
}

/// One interface's totals since boot.
#[derive(Debug, Clone)]
pub(crate) struct NetworkReading {
    pub(crate) interface: String,
    pub(crate) received: u64,
    pub(crate) transmitted: u64,
}

/// Everything one tick read.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    pub(crate) metrics: SystemMetrics,
    pub(crate) disks: Vec<DiskReading>,
    pub(crate) networks: Vec<NetworkReading>,
}

impl std::fmt::Debug for SystemSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemSampler")
            .field("pid", &self.pid)
            .field("data_path", &self.data_path)
            .finish_non_exhaustive()
    }
}

impl SystemSampler {
    /// Handles with nothing loaded yet; the first CPU reading is a difference from this one.
    pub(crate) fn new(data_path: &Path) -> Result<Self, String> {
        let mut system = System::new().map_err(|e| format!("sysinfo is not available: {e}"))?;
        system.refresh_cpu_usage();
        Ok(Self {
            system,
            disks: Disks::new().map_err(|e| format!("cannot list disks: {e}"))?,
            networks: Networks::new().map_err(|e| format!("cannot list networks: {e}"))?,
            pid: sysinfo::get_current_pid().ok(),
            data_path: data_path
                .canonicalize()
                .unwrap_or_else(|_| data_path.to_owned()),
        })
    }

    /// Refreshes what is read and reads it.
    pub(crate) fn sample(&mut self) -> Reading {
        let system = &mut self.system;
        system.refresh_memory();
        system.refresh_cpu_usage();
        let total = system.total_memory();
        let used = total.saturating_sub(system.available_memory());
        let mut metrics = SystemMetrics {
            cpu_usage_percent: f64::from(system.global_cpu_usage()),
            memory_usage_bytes: used,
            memory_usage_percent: percent(used, total),
            ..SystemMetrics::default()
        };

        self.disks
            .refresh_specifics(true, DiskRefreshKind::nothing().with_storage());
        let mut disks = Vec::new();
        let mut holding: Option<(usize, u64, f64)> = None;
        for disk in self.disks.iter() {
            let total = disk.total_space();
            if total == 0 {
                continue;
            }
            let used = total.saturating_sub(disk.available_space());
            let mount = disk.mount_point();
            if self.data_path.starts_with(mount) {
                let depth = mount.as_os_str().len();
                if holding.is_none_or(|(d, ..)| depth > d) {
                    holding = Some((depth, used, percent(used, total)));
                }
            }
            disks.push(DiskReading {
                mount_point: mount.display().to_string(),
                used_bytes: used,
                used_percent: percent(used, total),
            });
        }
        if let Some((_, used, pct)) = holding {
            metrics.disk_usage_bytes = used;
            metrics.disk_usage_percent = pct;
        }

        self.networks.refresh(true);
        let mut networks = Vec::new();
        for (name, data) in self.networks.iter() {
            metrics.network_receive_bytes += data.total_received();
            metrics.network_transmit_bytes += data.total_transmitted();
            networks.push(NetworkReading {
                interface: name.to_string_lossy().into_owned(),
                received: data.total_received(),
                transmitted: data.total_transmitted(),
            });
        }

        if let Some(pid) = self.pid {
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing()
                    .with_cpu()
                    .with_memory()
                    .with_tasks(),
            );
            if let Some(p) = self.system.process(pid) {
                metrics.process_cpu_seconds = p.accumulated_cpu_time() as f64 / 1e3;
                metrics.process_resident_memory_bytes = p.memory();
                metrics.process_threads = p.tasks().map_or(0, |t| t.len() as u64);
                metrics.process_open_fds = p.open_files().unwrap_or(0) as u64;
                metrics.process_start_time_seconds = p.start_time();
            }
        }
        Reading {
            metrics,
            disks,
            networks,
        }
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
