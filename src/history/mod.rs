//! The in-memory time-series store that every collection tick and `record_metric` sample lands in.
//!
//! - `store`: [`HistoryStore`], per-series points with retention and a point cap.
//! - `chunk`: a series' samples, Gorilla-compressed.
//! - `log` and `durable`: the write-ahead log of every sample stored, checkpoints, and
//!   reading both back at start (when `storage.path` is set).
//! - `matcher`: [`LabelMatcher`], selecting series by label.
//! - `scrape`: copying a registry's current values into the store at each tick.
//! - `query` and `series`: PromQL over the store, and the series and labels it holds.

mod chunk;
mod durable;
mod exemplars;
mod log;
mod matcher;
mod query;
mod scrape;
mod series;
pub(crate) use scrape::Exposed;
pub(crate) use store::to_nanos as nanos;
mod store;

pub use durable::ReplayReport;
pub use matcher::LabelMatcher;
pub use store::{HistoryStore, MetricPoint, Point, SeriesRange};
