//! Encoding a scrape, measured: our exporter beside prometheus-client encoding the same content
//! with its own metric types, at 1,000 and 10,000 series, in OpenMetrics text.
//!
//! Run with `cargo bench --bench encode` (add `-- --quick` for a short run). Each figure is the
//! median of several scrapes; compare figures within one run, not across machines.
//!
//! The content: `series` counters and gauges, half each, spread over 10 families of each type
//! with one `id` label; then `series / 10` latency histograms with 16 buckets (each histogram
//! counted as one series) in one family, every one holding 100 observations. Histograms are
//! measured twice: with only the buckets, `_sum` and `_count` (the same content as
//! prometheus-client's), and with our recent-window quantile gauges as well (the default).
//! Our scrape also carries our own series; the first line shows what they cost alone.
//!
//! Each content is timed twice: each encoder scraping again and again (its data stays in the
//! caches), and the two taking turns (each finds the caches holding the other's data, as a
//! real scrape every few seconds finds them holding the database's).

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use kotoba_monitoring::{
    ExpositionFormat, MetricsCollector, MonitoringConfig, PrometheusConfig, PrometheusExporter,
    LATENCY_BUCKETS,
};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use support::median_us;

type Labels = Vec<(String, String)>;

fn ours(series: usize, histograms: usize, window_quantiles: bool) -> PrometheusExporter {
    let config = MonitoringConfig {
        max_series_per_metric: (series.max(histograms) + 1)
            .max(MonitoringConfig::default().max_series_per_metric),
        ..Default::default()
    };
    let collector = Arc::new(MetricsCollector::standalone(config).unwrap());
    let r = collector.registry();
    for i in 0..series {
        let id = (i / 20).to_string();
        if i % 2 == 0 {
            r.counter(
                &format!("bench_counter_{}_total", i % 20 / 2),
                "A counter.",
                &[("id", &id)],
            )
            .unwrap()
            .inc_by(i as u64);
        } else {
            r.gauge(
                &format!("bench_gauge_{}", i % 20 / 2),
                "A gauge.",
                &[("id", &id)],
            )
            .unwrap()
            .set(i as f64 * 0.5);
        }
    }
    let family = r
        .histogram_family("bench_latency_seconds", "A histogram.")
        .unwrap();
    for i in 0..histograms {
        let h = family.with_labels(&[("id", &i.to_string())]).unwrap();
        for k in 0..100 {
            h.observe(1e-5 * (1 + (k * 37 + i) % 1000) as f64);
        }
    }
    PrometheusExporter::new(
        collector,
        PrometheusConfig {
            enabled: false,
            window_quantiles,
            ..Default::default()
        },
    )
    .unwrap()
}

fn theirs(series: usize, histograms: usize) -> Registry {
    let mut registry = Registry::default();
    let counters: Vec<Family<Labels, Counter>> = (0..10).map(|_| Family::default()).collect();
    let gauges: Vec<Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>> =
        (0..10).map(|_| Family::default()).collect();
    for i in 0..series {
        let labels = vec![("id".to_owned(), (i / 20).to_string())];
        if i % 2 == 0 {
            counters[i % 20 / 2].get_or_create(&labels).inc_by(i as u64);
        } else {
            gauges[i % 20 / 2]
                .get_or_create(&labels)
                .set(i as f64 * 0.5);
        }
    }
    for (k, f) in counters.into_iter().enumerate() {
        registry.register(format!("bench_counter_{k}"), "A counter.", f);
    }
    for (k, f) in gauges.into_iter().enumerate() {
        registry.register(format!("bench_gauge_{k}"), "A gauge.", f);
    }
    let family: Family<Labels, Histogram> =
        Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
    for i in 0..histograms {
        let h = family.get_or_create(&vec![("id".to_owned(), i.to_string())]);
        for k in 0..100 {
            h.observe(1e-5 * (1 + (k * 37 + i) % 1000) as f64);
        }
    }
    // With its unit, as ours declares it from the name: the same `# UNIT` line and names.
    registry.register_with_unit(
        "bench_latency",
        "A histogram.",
        prometheus_client::registry::Unit::Seconds,
        family,
    );
    registry
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 5 } else { 31 };
    println!("encode one OpenMetrics scrape; median of {rounds} scrapes, µs per scrape");
    // Our scrape always carries the exporter's and the registry's own series (scrape duration,
    // scrapes, series refused per family...): an empty registry's scrape shows what they cost.
    let empty = ours(0, 0, true);
    let empty_us = median_us(rounds, || {
        empty.encode(ExpositionFormat::OpenMetrics).unwrap().len()
    });
    let empty_bytes = empty.encode(ExpositionFormat::OpenMetrics).unwrap().len();
    println!("our own series alone (empty registry): {empty_us:.0} µs, {empty_bytes} bytes");
    println!(
        "{:<34} {:>12} {:>12} {:>8} {:>10} {:>12} {:>8}",
        "", "one after", "another", "", "taking", "turns", ""
    );
    println!(
        "{:<34} {:>12} {:>12} {:>8} {:>10} {:>12} {:>8}",
        "content", "kotoba", "prom-client", "ratio", "kotoba", "prom-client", "ratio"
    );
    for (series, histograms, window) in [
        (1_000, 0, false),
        (10_000, 0, false),
        (0, 100, false),
        (0, 100, true),
        (0, 1_000, false),
        (0, 1_000, true),
    ] {
        let exporter = ours(series, histograms, window);
        let registry = theirs(series, histograms);
        let scrape_ours = || {
            exporter
                .encode(ExpositionFormat::OpenMetrics)
                .unwrap()
                .len()
        };
        let scrape_theirs = || {
            let mut out = String::new();
            encode(&mut out, &registry).unwrap();
            out.len()
        };
        let (b_ours, b_theirs) = (scrape_ours(), scrape_theirs());
        let us_ours = median_us(rounds, scrape_ours);
        let us_theirs = median_us(rounds, scrape_theirs);
        // A real scrape comes every few seconds, to caches the database has filled since. Taking
        // turns, each encoder finds the caches holding the other's data.
        let (mut cold_ours, mut cold_theirs) = (Vec::new(), Vec::new());
        let time = |f: &dyn Fn() -> usize| {
            let started = Instant::now();
            black_box(f());
            started.elapsed().as_secs_f64() * 1e6
        };
        for _ in 0..rounds {
            cold_ours.push(time(&scrape_ours));
            cold_theirs.push(time(&scrape_theirs));
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (cold_ours, cold_theirs) = (median(cold_ours), median(cold_theirs));
        let content = if histograms == 0 {
            format!("{series} counters+gauges")
        } else if window {
            format!("{histograms} histograms + window gauges")
        } else {
            format!("{histograms} histograms")
        };
        println!(
            "{content:<34} {us_ours:>12.0} {us_theirs:>12.0} {:>7.2}x {cold_ours:>10.0} {cold_theirs:>12.0} {:>7.2}x   ({b_ours} / {b_theirs} bytes)",
            us_ours / us_theirs,
            cold_ours / cold_theirs
        );
    }
}
