//! Anomaly detection inside the process: a streaming detector per watched series.
//!
//! - `detector`: [`AnomalyDetector`], a sample in, a score in [0, 1] out.
//! - `forecast`: [`SeasonalForecaster`], a forecast that knows the daily cycle.
//! - `saved`: a detector's state as bytes, across restarts.
//! - `watch`: the `kotoba-anomaly` thread, a detector per series of the watched expressions.

mod detector;
mod forecast;
mod saved;
mod watch;

pub use detector::AnomalyDetector;
pub use forecast::SeasonalForecaster;
pub use watch::Anomaly;
pub(crate) use watch::{AnomalyWatch, HOLD_SECONDS};
