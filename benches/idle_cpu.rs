//! The monitor's own cost when the database is idle: CPU time of every `kotoba-*` thread over a
//! period with the default configuration (collection every 15 s, health checks every 30 s, the
//! exporter listening), as a percentage of one core.
//!
//! Run with `cargo bench --bench idle_cpu` (system metrics on, the default) and
//! `cargo bench --bench idle_cpu --no-default-features` (off); `-- --seconds N` changes the
//! period from 60 s. Thread CPU time comes from /proc/self/task/*/schedstat (Linux).

use std::time::{Duration, Instant};

use kotoba_monitoring::{Monitor, MonitoringConfig};

mod support;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(60);
    let mut config = MonitoringConfig::default();
    config.prometheus_config.port = 0;
    let monitor = Monitor::new(config).expect("a valid configuration");
    let started = Instant::now();
    monitor.start().expect("the monitor starts");
    std::thread::sleep(Duration::from_secs(seconds));
    // Read before stop(): the threads are gone after it.
    let used = support::monitor_cpu_ns();
    let wall = started.elapsed();
    monitor.stop().expect("the monitor stops");
    println!(
        "idle for {:.1} s, system metrics {}: monitor threads used {:.1} ms of CPU = {:.3}% of one core",
        wall.as_secs_f64(),
        if cfg!(feature = "system") { "on" } else { "off" },
        used as f64 / 1e6,
        used as f64 / wall.as_nanos() as f64 * 100.0
    );
}
