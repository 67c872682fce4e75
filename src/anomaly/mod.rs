//! Anomaly detection inside the process: a streaming detector per watched series.
//!
//! - `detector`: [`AnomalyDetector`], a sample in, a score in [0, 1] out.

mod detector;

pub use detector::AnomalyDetector;
