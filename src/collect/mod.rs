//! Collection: the [`MetricsCollector`] and its threads, which keep the history store filled.
//!
//! - `collector`: [`MetricsCollector`], `record_metric`, history queries, start and stop.
//! - `ticker`: the collector thread's loop: a self-scrape every `collection_interval`, histogram
//!   windows advanced every slice.

mod collector;
mod ticker;

pub use collector::MetricsCollector;
