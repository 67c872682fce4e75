//! The in-memory time-series store that every collection tick and `record_metric` sample lands in.
//!
//! - `store`: [`HistoryStore`], per-series points with retention and a point cap.
//! - `chunk`: a series' samples, Gorilla-compressed.
//! - `log` and `durable`: the write-ahead log of every sample stored, checkpoints, and
//!   reading both back at start (when `storage.path` is set).
//! - `matcher`: [`LabelMatcher`], selecting series by label.
//! - `scrape`: copying a registry's current values into the store at each tick.
//! - `series`: the series and labels the store holds (PromQL over it is `query::history`, above).

mod chunk;
mod durable;
mod exemplars;
mod log;
mod matcher;
mod scrape;
mod series;
pub(crate) use scrape::Exposed;
pub(crate) use store::to_nanos as nanos;
mod store;

pub use durable::ReplayReport;
pub use matcher::LabelMatcher;
pub use store::{HistoryStore, MetricPoint, Point, SeriesRange};
