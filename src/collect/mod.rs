//! Collection: the [`MetricsCollector`] and its threads, which keep the history store filled.
//!
//! - `collector`: [`MetricsCollector`], `record_metric`, history queries, start and stop.
//! - `database`: [`MonitoredDatabase`], what a database tells the library about itself.
//! - `ticker`: the collector thread's loop: a self-scrape every `collection_interval`, histogram
//!   windows advanced every slice.

mod collector;
mod database;
mod ticker;

pub use collector::MetricsCollector;
pub use database::{DatabaseMetrics, MonitoredDatabase, QueryMetrics, StorageMetrics};
