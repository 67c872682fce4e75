//! Memory and time at scale: many counter and histogram series in one monitor, and the
//! history's bytes per sample.
//!
//! Run with `cargo bench --bench scale` (`-- --quick` for a tenth of the series). For each
//! population: the time to register every series (taking its handle and recording once),
//! the heap bytes per series (a counting global allocator, live bytes after minus before),
//! the resident bytes per series (the process's resident set after minus before, from
//! `/proc/self/statm`: what the operating system sees, the allocator's own overhead and the
//! handles kept included; the first population's is the one to read, as later ones reuse
//! pages the earlier ones freed),
//! one OpenMetrics scrape of everything, and one collection tick (the copy of every series
//! into the history, as `kotoba_monitoring_history_tick_seconds` reports it). Then the
//! history alone: bytes per stored sample for 10,000 regular 15 s series of 240 samples.
//!
//! Histogram series are recorded by one thread with values over three decades (1 µs to
//! 1 ms). A population whose histograms would need more than `MEMORY_BUDGET` (from the
//! 10,000-series figure) is skipped, and said so.

mod support;

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kotoba_monitoring::{
    ExpositionFormat, HistoryStore, LabelSet, MetricsCollector, MonitoringConfig, PrometheusConfig,
    PrometheusExporter,
};
use support::LIVE;

#[global_allocator]
static A: support::Counting = support::Counting;

/// The process's resident set, in bytes (0 where `/proc` has none).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The most memory one population may take.
const MEMORY_BUDGET: f64 = 6e9;

/// A stopped collector able to hold `series` series.
fn collector(series: usize) -> Arc<MetricsCollector> {
    let config = MonitoringConfig {
        max_series_per_metric: series + 1,
        max_total_series: series + 1,
        collection_interval: Duration::from_secs(3600),
        // Stopping takes a last tick, which for 100,000 histograms takes seconds.
        shutdown_timeout: Duration::from_secs(600),
        ..MonitoringConfig::default()
    };
    Arc::new(MetricsCollector::standalone(config).unwrap())
}

struct Row {
    what: String,
    series: usize,
    register_s: f64,
    bytes: f64,
    resident: f64,
    scrape_s: f64,
    tick_s: f64,
}

/// Registers `n` series with `make` (given the collector and the series' number), then
/// scrapes and ticks once.
fn population<T>(what: &str, n: usize, make: impl Fn(&MetricsCollector, usize) -> T) -> Row {
    let collector = collector(n);
    let exporter = PrometheusExporter::new(
        collector.clone(),
        PrometheusConfig {
            port: 0,
            ..PrometheusConfig::default()
        },
    )
    .unwrap();
    let before = LIVE.load(Ordering::SeqCst);
    let resident_before = resident_bytes();
    let began = Instant::now();
    let kept: Vec<T> = (0..n).map(|i| make(&collector, i)).collect();
    let register_s = began.elapsed().as_secs_f64();
    let bytes = (LIVE.load(Ordering::SeqCst) - before) as f64 / n as f64;
    let resident = resident_bytes().saturating_sub(resident_before) as f64 / n as f64;
    let began = Instant::now();
    let scraped = exporter
        .encode(ExpositionFormat::OpenMetrics)
        .unwrap()
        .len();
    let scrape_s = began.elapsed().as_secs_f64();
    black_box(scraped);
    // Starting the collector ticks at once; stopping ticks once more.
    collector.start().unwrap();
    let tick = || {
        collector
            .registry()
            .gauge("kotoba_monitoring_history_tick_seconds", "", &[])
            .map(|g| g.get())
            .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while tick() == 0.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let tick_s = tick();
    collector.stop().unwrap();
    drop(black_box(kept));
    Row {
        what: what.to_owned(),
        series: n,
        register_s,
        bytes,
        resident,
        scrape_s,
        tick_s,
    }
}

fn counters(n: usize) -> Row {
    population("counter", n, |c, i| {
        let counter = c
            .registry()
            .counter(
                &format!("scale_{}_total", i % 10),
                "A counter.",
                &[("id", &(i / 10).to_string())],
            )
            .unwrap();
        counter.inc();
        counter
    })
}

/// 1 µs to 1 ms, log-uniform, 64 values.
fn three_decades() -> Vec<f64> {
    (0..64)
        .map(|k| 1e-6 * 1000f64.powf(k as f64 / 63.0))
        .collect()
}

fn histograms(n: usize) -> Row {
    let values = three_decades();
    population("histogram", n, |c, i| {
        let h = c
            .registry()
            .histogram(
                "scale_latency_seconds",
                "A latency.",
                &[("id", &i.to_string())],
            )
            .unwrap();
        for v in &values {
            h.observe(*v);
        }
        h
    })
}

/// Bytes per sample of a history holding `series` regular 15 s series of 240 samples, each a
/// counter going up by a varying whole number.
fn history_bytes_per_sample(series: usize) -> f64 {
    let store = HistoryStore::new(Duration::from_secs(3600), 10_000);
    let labels: Vec<LabelSet> = (0..series)
        .map(|i| LabelSet::new("scale_total", &[("id", &i.to_string())]).unwrap())
        .collect();
    let start = time::OffsetDateTime::now_utc() - Duration::from_secs(3600);
    // The series exist before counting: what is measured is the samples.
    for l in &labels {
        store.append("scale_total", l, start, 0.0);
    }
    let before = LIVE.load(Ordering::SeqCst);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for step in 1..240u64 {
        let at = start + Duration::from_secs(15 * step);
        for (i, l) in labels.iter().enumerate() {
            support::xorshift(&mut x);
            let value = (step * 100 + (x % 50) + i as u64) as f64;
            store.append("scale_total", l, at, value);
        }
    }
    let samples = series * 239;
    (LIVE.load(Ordering::SeqCst) - before) as f64 / samples as f64
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let mut rows = vec![counters(1_000_000 / scale)];
    let h10k = histograms(10_000 / scale);
    let per_histogram = h10k.bytes;
    rows.push(h10k);
    let big = 100_000 / scale;
    if per_histogram * big as f64 <= MEMORY_BUDGET {
        rows.push(histograms(big));
    } else {
        eprintln!(
            "skipped {big} histogram series: they would take {:.1} GB at {:.0} bytes each",
            per_histogram * big as f64 / 1e9,
            per_histogram
        );
    }
    println!(
        "| series | count | register, s | heap bytes per series | resident bytes per series | one scrape, s | one tick, s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.0} | {:.3} | {:.3} |",
            r.what, r.series, r.register_s, r.bytes, r.resident, r.scrape_s, r.tick_s
        );
    }
    let series = 10_000 / scale;
    println!(
        "\nhistory: {:.1} bytes per sample ({series} regular 15 s series of 240 samples)",
        history_bytes_per_sample(series)
    );
}
