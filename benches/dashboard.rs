//! What the built-in page costs: the bytes a first load transfers (compressed, as Chromium
//! receives them), the time to its first chart, and the monitor's CPU while one page
//! refreshes every 5 s against the same minute without a page. Needs Debian's `chromium`.
//!
//! Run with `cargo bench --bench dashboard` (`-- --seconds N` changes each CPU period from
//! 60 s, `-- --runs N` the first-load runs from 5). The monitor collects every 5 s (so the
//! page refreshes every 5 s) over a light query workload; its threads' CPU time comes from
//! /proc/self/task/*/schedstat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kotoba_monitoring::{Monitor, MonitoringConfig};

#[path = "../tests/common/browser.rs"]
mod browser;
mod support;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::process::Command::new("chromium")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("dashboard bench: chromium is not installed (apt-get install -y chromium)");
        return;
    }
    let seconds = arg("--seconds", 60);
    let runs = arg("--runs", 5);
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_secs(5),
        ..MonitoringConfig::default()
    };
    config.prometheus_config.address = "127.0.0.1".into();
    config.prometheus_config.port = 0;
    let monitor = Monitor::new(config).unwrap();
    monitor.start().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workload = {
        let stop = stop.clone();
        let queries = monitor.collector().queries();
        let ops = [
            queries.operation("get").unwrap(),
            queries.operation("put").unwrap(),
            queries.operation("scan").unwrap(),
        ];
        std::thread::spawn(move || {
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                ops[(i % 3) as usize].record(Duration::from_micros(50 + i % 400), true);
                std::thread::sleep(Duration::from_micros(500));
            }
        })
    };
    // A minute of history, so that the first load draws something.
    std::thread::sleep(Duration::from_secs(12));
    let url = format!("http://{}/", monitor.local_addr().unwrap());

    // First loads: bytes and time to the first chart, each in a fresh browser.
    let mut bytes = Vec::new();
    let mut first_chart = Vec::new();
    for _ in 0..runs {
        let mut b = browser::Browser::launch(1280, 1000);
        b.navigate(&url);
        b.wait_until(
            "the first chart",
            "!!document.body && !!document.body.dataset.firstChart && Number(document.body.dataset.refreshes || 0) >= 1",
            Duration::from_secs(60),
        );
        b.pump(Duration::from_millis(500));
        first_chart.push(
            b.eval("Number(document.body.dataset.firstChart)")
                .as_f64()
                .unwrap(),
        );
        bytes.push(b.transferred as f64);
    }

    // CPU: a period with no page, then one with a page refreshing every 5 s.
    let cpu_over = |period: Duration| {
        let before = support::monitor_cpu_ns();
        let began = Instant::now();
        std::thread::sleep(period);
        (support::monitor_cpu_ns() - before) as f64 / began.elapsed().as_secs_f64() / 1e6
    };
    let idle = cpu_over(Duration::from_secs(seconds));
    let mut b = browser::Browser::launch(1280, 1000);
    b.navigate(&url);
    b.wait_until(
        "a refresh",
        "!!document.body && Number(document.body.dataset.refreshes || 0) >= 1",
        Duration::from_secs(60),
    );
    let before = b
        .eval("Number(document.body.dataset.refreshes)")
        .as_u64()
        .unwrap();
    let watched = cpu_over(Duration::from_secs(seconds));
    let after = b
        .eval("Number(document.body.dataset.refreshes)")
        .as_u64()
        .unwrap();
    drop(b);
    stop.store(true, Ordering::Relaxed);
    workload.join().unwrap();
    monitor.stop().unwrap();

    println!("dashboard: first load over {runs} runs (median), CPU over {seconds} s each");
    println!(
        "  first load transferred   {:>8.1} KB  (gzip, every file of the page and its first queries)",
        median(bytes) / 1024.0
    );
    println!("  time to first chart      {:>8.0} ms", median(first_chart));
    println!("  monitor CPU, no page     {idle:>8.2} ms/s");
    println!(
        "  monitor CPU, one page    {watched:>8.2} ms/s  ({} refreshes of the Database view)",
        after - before
    );
}
