//! The anomaly detector's cost: time per sample (median of rounds, one detector per series,
//! series taken in turn as a collector would) and bytes per detector, on a daily cycle with
//! noise at five-minute samples.
//!
//! Run with `cargo bench --bench anomaly` (add `-- --quick` for a short run). NAB's scores
//! come from `benches/nab/run.sh` (see `benches/README.md`).

use std::hint::black_box;
use std::time::Instant;

use kotoba_monitoring::AnomalyDetector;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (samples, rounds) = if quick { (2_000, 3) } else { (10_000, 7) };
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let stream: Vec<f64> = (0..samples + 4_000)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            50.0 + 20.0 * phase.sin() + (x % 1000) as f64 / 500.0
        })
        .collect();
    println!("{:<40} {:>8} {:>12}", "operation", "series", "value");
    for series in [1usize, 100] {
        let mut times = Vec::new();
        for _ in 0..rounds {
            let mut detectors: Vec<AnomalyDetector> =
                (0..series).map(|_| AnomalyDetector::new()).collect();
            // Full memories first: the steady state a running monitor is in.
            for v in &stream[..4_000] {
                for d in &mut detectors {
                    d.score(*v);
                }
            }
            let start = Instant::now();
            for v in &stream[4_000..] {
                for d in &mut detectors {
                    black_box(d.score(black_box(*v)));
                }
            }
            times.push(start.elapsed().as_nanos() as f64 / (samples * series) as f64);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{:<40} {:>8} {:>9.0} ns",
            "AnomalyDetector::score per sample",
            series,
            times[times.len() / 2]
        );
    }
    let mut full = AnomalyDetector::new();
    for v in &stream {
        full.score(*v);
    }
    println!(
        "{:<40} {:>8} {:>9} B",
        "bytes per detector (full)",
        1,
        full.memory_bytes()
    );
}
