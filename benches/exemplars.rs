//! What exemplars cost: one thread's `observe` with and without an exemplar, ours beside
//! prometheus-client's `Histogram` and `HistogramWithExemplars`; the heap bytes a histogram
//! series takes before and after its buckets hold exemplars; and one OpenMetrics scrape of
//! 10,000 histogram series without and with an exemplar on each.
//!
//! Run with `cargo bench --bench exemplars` (`-- --quick` for fewer rounds). Medians of the
//! rounds; compare ratios within one run.

use std::hint::black_box;

use kotoba_monitoring::{
    ExpositionFormat, MetricsCollector, MonitoringConfig, PrometheusConfig, PrometheusExporter,
    Registry, TraceContext,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::histogram::Histogram as TheirHistogram;

mod support;

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Trace {
    trace_id: String,
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn live() -> isize {
    support::LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (iters, rounds) = if quick { (200_000, 3) } else { (2_000_000, 7) };
    // A scrape of 10,000 series, without and with an exemplar on each; the one without
    // first, before any exemplar exists in the process, as a monitor that never records one.
    let scrape = |with_exemplars: bool| {
        let collector = std::sync::Arc::new(
            MetricsCollector::standalone(MonitoringConfig {
                max_series_per_metric: 10_001,
                ..Default::default()
            })
            .unwrap(),
        );
        let family = collector
            .registry()
            .histogram_family("scrape_seconds", "Latency.")
            .unwrap();
        for i in 0..10_000 {
            let h = family.with_labels(&[("id", &i.to_string())]).unwrap();
            for k in 0..20 {
                h.observe(1e-4 * (1 + (k * 37 + i) % 1000) as f64);
            }
            if with_exemplars {
                h.observe_with_exemplar(0.0123, &[("trace_id", TRACE_ID)])
                    .unwrap();
            }
        }
        let exporter = PrometheusExporter::new(
            collector,
            PrometheusConfig {
                enabled: false,
                window_quantiles: false,
                ..Default::default()
            },
        )
        .unwrap();
        let bytes = exporter
            .encode(ExpositionFormat::OpenMetrics)
            .unwrap()
            .len();
        let us = support::median_us(if quick { 3 } else { 11 }, || {
            black_box(exporter.encode(ExpositionFormat::OpenMetrics).unwrap()).len()
        });
        (bytes, us)
    };
    let (bytes_without, us_without) = scrape(false);

    let values = support::latencies();
    let n = values.len();
    let value = |i: usize| values[i % n];

    // One thread, one series.
    let registry = Registry::new();
    let ours = registry
        .histogram("bench_seconds", "Latency.", &[])
        .unwrap();
    let plain = support::measure(1, iters, rounds, |_, i| ours.observe(value(i)));
    let with = support::measure(1, iters, rounds, |_, i| {
        let _ = ours.observe_with_exemplar(value(i), &[("trace_id", TRACE_ID)]);
    });
    let trace = TraceContext::parse(&format!("00-{TRACE_ID}-00f067aa0ba902b7-01")).unwrap();
    // On this thread, where the trace is entered.
    let here = |f: &dyn Fn(usize)| {
        let mut samples: Vec<f64> = (0..rounds)
            .map(|_| {
                let started = std::time::Instant::now();
                for i in 0..iters {
                    f(i);
                }
                started.elapsed().as_nanos() as f64 / iters as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let traced_none = here(&|i| ours.observe_traced(value(i)));
    let traced = {
        let _serving = trace.enter();
        here(&|i| ours.observe_traced(value(i)))
    };
    let theirs = TheirHistogram::new(kotoba_monitoring::LATENCY_BUCKETS.iter().copied());
    let their_plain = support::measure(1, iters, rounds, |_, i| theirs.observe(value(i)));
    let theirs_ex: HistogramWithExemplars<Trace> =
        HistogramWithExemplars::new(kotoba_monitoring::LATENCY_BUCKETS.iter().copied());
    let their_none = support::measure(1, iters, rounds, |_, i| {
        theirs_ex.observe(value(i), None, None)
    });
    let their_with = support::measure(1, iters, rounds, |_, i| {
        theirs_ex.observe(
            value(i),
            Some(Trace {
                trace_id: TRACE_ID.to_owned(),
            }),
            None,
        )
    });
    // The query instrumentation's record of a fast query, no trace entered: what every
    // instrumented query pays.
    let collector = MetricsCollector::standalone(MonitoringConfig::default()).unwrap();
    let get = collector.queries().operation("get").unwrap();
    let fast = std::time::Duration::from_micros(40);
    let record = here(&|_| get.record(fast, true));
    println!("observe, one thread, one series: ns/op (median of {rounds} rounds of {iters})");
    println!("  {:<46} {:>8} {:>14}", "", "kotoba", "prom-client");
    println!(
        "  {:<46} {plain:>8.1} {their_plain:>14.1}",
        "plain histogram"
    );
    println!(
        "  {:<46} {traced_none:>8.1} {their_none:>14.1}",
        "traced, no trace current / with-exemplars, none"
    );
    println!(
        "  {:<46} {traced:>8.1} {:>14}",
        "traced, a sampled trace current", ""
    );
    println!(
        "  {:<46} {with:>8.1} {their_with:>14.1}",
        "with an exemplar (trace_id) every time"
    );
    println!(
        "  {:<46} {record:>8.1}",
        "QueryOperation::record, fast, no trace"
    );

    // Memory: series with values over three decades, then an exemplar in every bucket.
    let series = 1_000;
    let registry = Registry::new();
    let family = registry
        .histogram_family("mem_seconds", "Latency.")
        .unwrap();
    let before = live();
    let handles: Vec<_> = (0..series)
        .map(|i| {
            let h = family.with_labels(&[("id", &i.to_string())]).unwrap();
            for k in 0..1000 {
                h.observe(1e-4 * (1.0 + (k * 37 % 1000) as f64));
            }
            h
        })
        .collect();
    let without = (live() - before) as f64 / series as f64;
    let before = live();
    for h in &handles {
        for bound in kotoba_monitoring::LATENCY_BUCKETS.iter().chain([&100.0]) {
            h.observe_with_exemplar(
                bound * 0.9,
                &[("trace_id", TRACE_ID), ("span_id", "00f067aa0ba902b7")],
            )
            .unwrap();
        }
    }
    let exemplars = (live() - before) as f64 / series as f64;
    println!(
        "memory per histogram series (values over three decades): {without:.0} bytes; every bucket's exemplar adds {exemplars:.0} bytes"
    );

    let (bytes_with, us_with) = scrape(true);
    println!("one OpenMetrics scrape of 10,000 histogram series (median):");
    println!(
        "  without exemplars   {:>10} bytes {:>10.0} µs",
        bytes_without, us_without
    );
    println!(
        "  one on each series  {:>10} bytes {:>10.0} µs",
        bytes_with, us_with
    );
}
