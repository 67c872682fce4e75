//! Health checks: the [`HealthCheck`] trait, the built-in checks, and the [`HealthChecker`]
//! that runs them in isolation and adds their results up.
//!
//! - `status`: [`HealthStatus`], [`HealthCheckResult`], [`SystemHealth`] and the aggregation.
//! - `check`: [`HealthCheck`] and [`CheckOptions`]; `runner`: a check's own thread and timeout.
//! - `checker`: [`HealthChecker`]; `uptime`: the process's real uptime.
//! - `thresholds`, `database`, `memory`, `disk`, `cpu`, `network`: the built-in checks;
//!   `system_handle`: the sysinfo handle the memory and CPU checks keep between runs.

mod check;
mod checker;
mod cpu;
mod database;
mod disk;
mod memory;
#[cfg(feature = "cluster")]
mod network;
mod report;
mod runner;
mod status;
mod system_handle;
mod thresholds;
mod uptime;

pub use check::{CheckOptions, HealthCheck};
pub use checker::HealthChecker;
pub use cpu::CpuCheck;
pub use database::DatabaseCheck;
pub use disk::DiskCheck;
pub use memory::MemoryCheck;
#[cfg(feature = "cluster")]
pub use network::NetworkCheck;
pub use report::{CheckReport, HealthReport, HealthSource, ProbeStatus};
pub use status::{CheckState, HealthCheckResult, HealthStatus, SystemHealth};
pub use thresholds::Thresholds;
