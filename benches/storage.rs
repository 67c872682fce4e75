//! What durability costs: an hour of 10,000 series at 15 s ticks stored with and without
//! `storage.path`, side by side in one run.
//!
//! Run with `cargo bench --bench storage` (`-- --quick` for a tenth of the series). For
//! each population it reports:
//!
//! - the time per stored sample without storage and with it (the log written and synced
//!   after every tick, as the collector does, checkpoints included);
//! - bytes on disk per sample held at the end (checkpoint plus log), beside the history's
//!   own bytes per sample in memory;
//! - bytes written per sample over the hour, and the write amplification (bytes written
//!   divided by bytes on disk at the end);
//! - the time a start takes to read the hour back (checkpoint plus log).
//!
//! Populations: counters rising by a varying whole number (what the history's 1.9 bytes per
//! sample was measured on), and a mix as a database's self-scrape gives it (40% counters,
//! 20% histogram bucket counts, 20% gauges of any float, 20% gauges that do not change).

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kotoba_monitoring::{HistoryStore, LabelSet, MetricsCollector, MonitoringConfig};
use support::LIVE;

#[global_allocator]
static A: support::Counting = support::Counting;

const TICKS: u64 = 240;

/// How series of one population change from tick to tick.
#[derive(Clone, Copy)]
enum Population {
    Counters,
    Mixed,
}

impl Population {
    fn name(self) -> &'static str {
        match self {
            Population::Counters => "counters",
            Population::Mixed => "mixed",
        }
    }

    /// Series `i`'s value at `step`, `x` a running random number.
    fn value(self, i: usize, step: u64, x: u64) -> f64 {
        let kind = match self {
            Population::Counters => 0,
            Population::Mixed => i % 5,
        };
        match kind {
            0 | 1 => (step * 100 + (x % 50) + i as u64) as f64,
            2 => (step * (i as u64 % 7 + 1) + x % 3) as f64,
            3 => f64::from_bits(0x3ff0_0000_0000_0000 | (x >> 12)) * 100.0,
            _ => 42.0,
        }
    }
}

fn config(folder: Option<&std::path::Path>) -> MonitoringConfig {
    let mut config = MonitoringConfig {
        retention_period: Duration::from_secs(3600),
        max_series_per_metric: 1_000_000,
        max_total_series: 1_000_000,
        ..MonitoringConfig::default()
    };
    config.storage.path = folder.map(|f| f.to_owned());
    config
}

/// Appends an hour of `series` series to `store`, calling `tick` after each tick's
/// samples; returns the seconds it took.
fn fill(
    store: &HistoryStore,
    series: usize,
    population: Population,
    mut tick: impl FnMut(),
) -> f64 {
    let labels: Vec<LabelSet> = (0..series)
        .map(|i| LabelSet::new("bench_value", &[("id", &i.to_string())]).unwrap())
        .collect();
    let start = time::OffsetDateTime::now_utc() - Duration::from_secs(15 * (TICKS - 1));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let began = Instant::now();
    for step in 0..TICKS {
        let at = start + Duration::from_secs(15 * step);
        for (i, l) in labels.iter().enumerate() {
            support::xorshift(&mut x);
            store.append("bench_value", l, at, population.value(i, step, x));
        }
        tick();
    }
    began.elapsed().as_secs_f64()
}

fn folder_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            total += folder_bytes(&entry.path());
        } else {
            total += meta.len();
        }
    }
    total
}

struct Row {
    population: &'static str,
    series: usize,
    ns_memory: f64,
    ns_durable: f64,
    memory_bytes: f64,
    disk_bytes: f64,
    written_bytes: f64,
    amplification: f64,
    replay_s: f64,
}

fn run(series: usize, population: Population) -> Row {
    let samples = (series as u64 * TICKS) as f64;
    // In memory only: the time, and the history's bytes per sample.
    let memory = MetricsCollector::standalone(config(None)).unwrap();
    let before = LIVE.load(Ordering::SeqCst);
    let memory_s = fill(memory.history(), series, population, || {});
    let memory_bytes = (LIVE.load(Ordering::SeqCst) - before) as f64 / samples;
    drop(memory);
    // With storage: the log synced after each tick, as the collector's ticks do.
    let dir = tempfile::tempdir().unwrap();
    let durable = MetricsCollector::standalone(config(Some(dir.path()))).unwrap();
    let durable_s = fill(durable.history(), series, population, || {
        durable.sync_storage().unwrap()
    });
    let written: f64 = ["wal", "checkpoint"]
        .iter()
        .map(|file| {
            durable
                .registry()
                .counter(
                    "kotoba_monitoring_storage_written_bytes_total",
                    "",
                    &[("file", file)],
                )
                .unwrap()
                .get()
        })
        .sum();
    let held = durable.history().point_count() as f64;
    drop(durable);
    let disk = folder_bytes(dir.path()) as f64;
    let began = Instant::now();
    let reopened = MetricsCollector::standalone(config(Some(dir.path()))).unwrap();
    let replay_s = began.elapsed().as_secs_f64();
    assert_eq!(reopened.history().point_count() as f64, held);
    Row {
        population: population.name(),
        series,
        ns_memory: memory_s * 1e9 / samples,
        ns_durable: durable_s * 1e9 / samples,
        memory_bytes,
        disk_bytes: disk / held,
        written_bytes: written / samples,
        amplification: written / disk,
        replay_s,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let series = if quick { 1_000 } else { 10_000 };
    let rows = [
        run(series, Population::Counters),
        run(series, Population::Mixed),
    ];
    println!("an hour of 15 s ticks ({TICKS} samples a series), the log synced after each tick\n");
    println!("| population | series | ns a sample, memory | ns a sample, storage | bytes a sample in memory | bytes a sample on disk | bytes written a sample | write amplification | replay, s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} |",
            r.population,
            r.series,
            r.ns_memory,
            r.ns_durable,
            r.memory_bytes,
            r.disk_bytes,
            r.written_bytes,
            r.amplification,
            r.replay_s
        );
    }
}
