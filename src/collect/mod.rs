//! Collection: the [`MetricsCollector`] and its threads, which keep the history store filled.
//!
//! - `collector`: [`MetricsCollector`], `record_metric`, history queries, start and stop.
//! - `database`: [`MonitoredDatabase`], what a database tells the library about itself.
//! - `instrument`: [`QueryInstruments`], timing queries by operation.
//! - `sources`: polling the database, the system and the cluster, and publishing them.
//! - `system` (feature `system`), `cluster` (feature `cluster`): those two sources.
//! - `performance`: [`PerformanceMetrics`] and [`SystemMetrics`].
//! - `ticker`: the collector thread's loop: a self-scrape every `collection_interval`, histogram
//!   windows advanced every slice.

#[cfg(feature = "cluster")]
mod calls;
pub(crate) use calls::CallWatch;
mod cluster;
mod collector;
mod database;
mod instrument;
mod performance;
mod sources;
#[cfg(feature = "system")]
mod system;
mod ticker;

#[cfg(feature = "cluster")]
pub use cluster::{ClusterMetrics, ClusterSource};
pub use collector::MetricsCollector;
pub use database::{DatabaseMetrics, MonitoredDatabase, QueryMetrics, StorageMetrics};
pub use instrument::{QueryInstruments, QueryOperation, QueryTimer};
pub use performance::{PerformanceMetrics, SystemMetrics};
