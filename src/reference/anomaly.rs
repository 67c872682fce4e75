//! Anomaly detection and seasonal forecasts inside the process.
//!
//! Fixed thresholds need tuning per series; the z-score recipe above needs a guess of what is
//! normal. With `[anomaly_detection]` the monitor learns each watched series itself, inside the
//! process: a `kotoba-anomaly` thread evaluates each expression of `watch` every `interval`
//! (default `collection_interval`), gives every series it returns a streaming
//! `AnomalyDetector` of its own (about 9.3 KiB, under 1 µs a sample), and publishes the score of the
//! newest sample, 0 to 1, as `kotoba_anomaly_score{…the series' labels…, expr="…"}` on `/metrics`
//! and in the history. 0.4 and above is an alarm; after one, a detector keeps its scores below
//! 0.4 for 400 samples, so that an episode alarms once, not at each of its samples (a value past
//! the range seen so far still scores 1).
//!
//! ```toml
//! [anomaly_detection]
//! enabled = true
//! # The defaults: each operation's recent p99, queries and errors per second, CPU, memory.
//! watch = [
//!   'kotoba_db_query_latency_window_seconds{q="0.99"}',
//!   "sum by (operation) (rate(kotoba_db_queries_total[1m]))",
//!   "sum by (operation) (rate(kotoba_db_query_errors_total[1m]))",
//!   "system_cpu_usage_percent",
//!   "system_memory_usage_percent",
//! ]
//! threshold = 0.4     # from which monitor.anomalies() lists a series
//! max_series = 1000   # detectors at most
//! ```
//!
//! A rule alerts on it while an episode is open (the recipe `AnomalyEpisode` of
//! [`reference::alerting`](super::alerting), proven under promtool): a detector alarms once per
//! episode and damps the scores that follow, so alert on the highest score of the last five
//! minutes rather than with `for`:
//!
//! ```yaml
//! - alert: AnomalyEpisode
//!   expr: max_over_time(kotoba_anomaly_score[5m]) >= 0.4
//!   annotations:
//!     summary: '{{ $labels.expr }} behaves unlike itself (score {{ printf "%.2f" $value }})'
//! ```
//!
//! The built-in dashboard shades the same stretches on the charts that draw what is watched
//! (the latency chart for the p99, the CPU chart for CPU, …).
//!
//! `monitor.anomalies()` lists the series in an anomaly episode (a score at or above `threshold`
//! within the last five minutes) with the expression, labels, peak score and value, and when it
//! began. A detector scores nothing for its first 300 samples (75 minutes at the 15 s default)
//! while it learns; with `[storage] path` set, the detectors and forecasters are saved there
//! (`state/anomaly`, `state/forecast`, at stop and every five minutes) and taken back at the next
//! start, so a restart does not relearn. The detector alone, for a series of your own (`to_bytes`/`from_bytes` keep it):
//!
//! ```rust
//! use kotoba_monitoring::AnomalyDetector;
//!
//! let mut detector = AnomalyDetector::new();
//! for i in 0..1000 {
//!     let score = detector.score(10.0 + (i % 7) as f64);
//!     assert!((0.0..=1.0).contains(&score));
//! }
//! assert_eq!(detector.score(1e6), 1.0); // far past anything seen
//! ```
//!
//! Predictions a straight line gets wrong, such as a disk that fills by day and is cleaned by
//! night, come from a seasonal forecast: each series of a `forecast` expression gets a
//! `SeasonalForecaster` (Holt's level and trend with the daily profile taken out), and its value
//! `horizon` ahead is published as `kotoba_forecast{…, expr="…", horizon="4h"}` once a whole
//! season has been seen:
//!
//! ```toml
//! [[anomaly_detection.forecast]]
//! expr = "system_disk_usage_percent"
//! horizon = "4h"
//! season = "1d"       # the default
//! ```
//!
//! ```yaml
//! - alert: DiskFullSoon
//!   expr: kotoba_forecast{expr="system_disk_usage_percent", horizon="4h"} > 95
//!   for: 10m
//!   annotations:
//!     summary: '{{ $labels.mount_point }} reaches {{ printf "%.0f" $value }}% within 4 h'
//! ```
//!
//! `cargo run --release --example anomaly -- INPUT.csv OUTPUT.csv` scores a Numenta Anomaly
//! Benchmark file with the same detector; `benches/README.md` has its NAB scores, every score
//! computed in streaming order: 71.2 on NAB's standard profile (Numenta's HTM 70.5, ARTime
//! 74.9 on NAB's scoreboard), 70.4 on the part held out from tuning.
