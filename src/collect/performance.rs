//! Module implementing the performance read-out: [`PerformanceMetrics`] and
//! [`SystemMetrics`].

use time::OffsetDateTime;

use crate::{DatabaseMetrics, QueryMetrics, StorageMetrics};

/// Everything known about the database's performance at one moment; see
/// [`MetricsCollector::get_performance_metrics`](crate::MetricsCollector::get_performance_metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceMetrics {
    /// When it was read.
    pub timestamp: OffsetDateTime,
    /// From the database.
    pub database_metrics: DatabaseMetrics,
    /// From the database, completed from the library's instrumentation where it had none.
    pub query_metrics: QueryMetrics,
    /// From the database.
    pub storage_metrics: StorageMetrics,
    /// The machine and this process, as last sampled by the collector thread (feature
    /// `system`); `None` without the feature or before the first sample.
    pub system_metrics: Option<SystemMetrics>,
}

/// The machine and this process, read with sysinfo on the collector thread (feature
/// `system`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SystemMetrics {
    /// CPU usage of the machine, in percent of all cores.
    pub cpu_usage_percent: f64,
    /// Memory in use (total minus available), in bytes.
    pub memory_usage_bytes: u64,
    /// Memory in use, in percent of the total.
    pub memory_usage_percent: f64,
    /// Space in use on the disk holding `health_config.data_path`, in bytes.
    pub disk_usage_bytes: u64,
    /// That disk's space in use, in percent of its size.
    pub disk_usage_percent: f64,
    /// Bytes received over every network interface since boot.
    pub network_receive_bytes: u64,
    /// Bytes sent over every network interface since boot.
    pub network_transmit_bytes: u64,
    /// CPU time this process has used, in seconds.
    pub process_cpu_seconds: f64,
    /// This process's resident memory, in bytes.
    pub process_resident_memory_bytes: u64,
    /// This process's threads.
    pub process_threads: u64,
    /// This process's open file descriptors.
    pub process_open_fds: u64,
    /// When this process started, in seconds since the Unix epoch.
    pub process_start_time_seconds: u64,
}
