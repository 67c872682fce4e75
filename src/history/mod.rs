//! The in-memory time-series store that every collection tick and `record_metric` sample lands in.
//!
//! - `store`: [`HistoryStore`], per-series points with retention and a point cap.
//! - `matcher`: [`LabelMatcher`], selecting series by label.
//! - `scrape`: copying a registry's current values into the store at each tick.
//! - `query` and `series`: PromQL over the store, and the series and labels it holds.

mod chunk;
mod matcher;
mod query;
pub(crate) use query::{millis, time_of};
mod scrape;
mod series;
pub(crate) use scrape::Exposed;
mod store;

pub use matcher::LabelMatcher;
pub use store::{HistoryStore, MetricPoint, Point, SeriesRange};
