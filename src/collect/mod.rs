//! Collection: the [`MetricsCollector`] and its threads, which keep the history store filled.
//!
//! - `collector`: [`MetricsCollector`], `record_metric`, history queries, start and stop.
//! - `database`: [`MonitoredDatabase`], what a database tells the library about itself.
//! - `instrument`: [`QueryInstruments`], timing queries by operation.
//! - `sources`: polling the database, the system and the cluster, and publishing them.
//! - `system` (feature `system`), `cluster` (feature `cluster`): those two sources.
//! - `performance`: [`PerformanceMetrics`] and [`SystemMetrics`].
//! - `ingest`: the bounded queue and thread behind `record_metric`.
//! - `calls`: the `kotoba-db` thread the database is called on, with a timeout.
//! - `ticker`: the collector thread's loop: a self-scrape every `collection_interval`, histogram
//!   window slices closed within a sixteenth of a slice of their end.

mod calls;
#[cfg(feature = "cluster")]
mod cluster;
mod collector;
mod database;
mod ingest;
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
pub use instrument::{QueryInstruments, QueryOperation, QueryTimer, SlowQuery};
pub use performance::{PerformanceMetrics, SystemMetrics};
