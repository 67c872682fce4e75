//! The same work done by kotoba-monitoring and by the crates a database team would otherwise
//! use, measured in one process run: `prometheus-client` 0.26, `prometheus` 0.14, `metrics`
//! 0.24 with `metrics-exporter-prometheus` (recorder built and installed as the local
//! recorder, no HTTP listener), and bare `hdrhistogram` as the floor for histograms.
//!
//! ```text
//! cargo bench --bench peers                      # a readable table
//! cargo bench --bench peers -- --json            # one JSON object per line
//! cargo bench --bench peers -- --quick --json    # a shorter run
//! ```
//!
//! Every contender does the same work in the same order: series are picked with a mask, and
//! created interleaved across families, as traffic creates them.
//!
//! Rows: counter increment and latency-histogram record at 1 and 2 threads on one shared series
//! and on 16 label sets (ns per operation per thread, median of several rounds); encoding one
//! scrape of 1,000 and 10,000 counter series (µs, median); bytes per histogram series and per
//! counter series (a counting global allocator); relative error of p50, p99 and p999 of
//! 1,000,000 log-normal latencies against the exact values, for ours (cells of 1%) and for a
//! prometheus-client histogram with the Prometheus default buckets (linear interpolation inside
//! the bucket, as PromQL's `histogram_quantile` does).

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use kotoba_monitoring::{
    ExpositionFormat, HistogramOpts, MetricsCollector, MonitoringConfig, PrometheusConfig,
    PrometheusExporter, Registry,
};

mod support;

use support::{latencies, measure, median_us, LIVE};

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

/// The five contenders, by the names the JSON rows use.
const KOTOBA: &str = "kotoba";
const PC: &str = "prometheus_client";
const PROM: &str = "prometheus";
const METRICS: &str = "metrics";
const HDR: &str = "hdrhistogram";

/// Prometheus' default buckets, for the peers that need bounds.
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

struct Out {
    json: bool,
}

impl Out {
    fn row(&self, bench: &str, threads: usize, series: usize, imp: &str, key: &str, value: f64) {
        if self.json {
            println!(
                "{{\"bench\":\"{bench}\",\"threads\":{threads},\"series\":{series},\"impl\":\"{imp}\",\"{key}\":{value:.4}}}"
            );
        } else {
            println!("{bench:<18} {threads:>7} {series:>7}  {imp:<18} {value:>14.3} {key}");
        }
    }
}

/// Bytes allocated by `make` per series, with `n` series built and kept alive.
fn bytes_per_series<T>(n: usize, make: impl FnOnce(usize) -> T) -> f64 {
    let before = LIVE.load(Ordering::SeqCst);
    let kept = make(n);
    let after = LIVE.load(Ordering::SeqCst);
    drop(black_box(kept));
    (after - before) as f64 / n as f64
}

fn metrics_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder()
}

fn hot_path(out: &Out, iters: usize, rounds: usize) {
    let values = latencies();
    let v = |i: usize| values[i & 1023];
    for series in [1usize, 16] {
        // Series are picked with a mask rather than `%`: a division per operation would cost
        // every contender but the floor (which picks a series per batch) a few nanoseconds.
        let mask = series - 1;
        assert!(series.is_power_of_two());
        for threads in [1usize, 2] {
            // Counters.
            let registry = Registry::new();
            let family = registry.counter_family("bench_total", "Bench.").unwrap();
            let ours: Vec<_> = (0..series)
                .map(|s| family.with_labels(&[("s", &s.to_string())]).unwrap())
                .collect();
            let ns = measure(threads, iters, rounds, |_, i| ours[i & mask].inc());
            out.row("counter_inc", threads, series, KOTOBA, "ns_per_op", ns);

            let pc: Vec<prometheus_client::metrics::counter::Counter> =
                (0..series).map(|_| Default::default()).collect();
            let ns = measure(threads, iters, rounds, |_, i| {
                pc[i & mask].inc();
            });
            out.row("counter_inc", threads, series, PC, "ns_per_op", ns);

            let prom =
                prometheus::IntCounterVec::new(prometheus::Opts::new("b", "b"), &["s"]).unwrap();
            let prom: Vec<_> = (0..series)
                .map(|s| prom.with_label_values(&[&s.to_string()]))
                .collect();
            let ns = measure(threads, iters, rounds, |_, i| prom[i & mask].inc());
            out.row("counter_inc", threads, series, PROM, "ns_per_op", ns);

            let recorder = metrics_recorder();
            let handles: Vec<metrics::Counter> = metrics::with_local_recorder(&recorder, || {
                (0..series)
                    .map(|s| metrics::counter!("bench_total", "s" => s.to_string()))
                    .collect()
            });
            let ns = measure(threads, iters, rounds, |_, i| {
                handles[i & mask].increment(1)
            });
            out.row("counter_inc", threads, series, METRICS, "ns_per_op", ns);

            // Histograms.
            let family = registry
                .histogram_family("bench_seconds", "Bench.")
                .unwrap();
            let ours: Vec<_> = (0..series)
                .map(|s| family.with_labels(&[("s", &s.to_string())]).unwrap())
                .collect();
            let ns = measure(threads, iters, rounds, |_, i| ours[i & mask].observe(v(i)));
            out.row("histogram_record", threads, series, KOTOBA, "ns_per_op", ns);

            let pc: Vec<_> = (0..series)
                .map(|_| prometheus_client::metrics::histogram::Histogram::new(DEFAULT_BUCKETS))
                .collect();
            let ns = measure(threads, iters, rounds, |_, i| pc[i & mask].observe(v(i)));
            out.row("histogram_record", threads, series, PC, "ns_per_op", ns);

            let prom =
                prometheus::HistogramVec::new(prometheus::HistogramOpts::new("b", "b"), &["s"])
                    .unwrap();
            let prom: Vec<_> = (0..series)
                .map(|s| prom.with_label_values(&[&s.to_string()]))
                .collect();
            let ns = measure(threads, iters, rounds, |_, i| prom[i & mask].observe(v(i)));
            out.row("histogram_record", threads, series, PROM, "ns_per_op", ns);

            let recorder = metrics_recorder();
            let handles: Vec<metrics::Histogram> = metrics::with_local_recorder(&recorder, || {
                (0..series)
                    .map(|s| metrics::histogram!("bench_seconds", "s" => s.to_string()))
                    .collect()
            });
            let ns = measure(threads, iters, rounds, |_, i| {
                handles[i & mask].record(v(i))
            });
            out.row(
                "histogram_record",
                threads,
                series,
                METRICS,
                "ns_per_op",
                ns,
            );
            // metrics keeps every raw value until a scrape; drain them.
            black_box(recorder.handle().render().len());

            // The floor: one private HDR histogram per thread and series, locked once per batch
            // of 4096 records, so that what is left is the record itself.
            // Padded, so that two threads' histograms never share a cache line.
            let floors: Vec<Vec<CachePadded<Mutex<hdrhistogram::Histogram<u64>>>>> = (0..threads)
                .map(|_| {
                    (0..series)
                        .map(|_| {
                            CachePadded::new(Mutex::new(
                                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 2)
                                    .unwrap(),
                            ))
                        })
                        .collect()
                })
                .collect();
            let ns = measure(threads, iters / 4096, rounds, |t, batch| {
                let mut h = floors[t][batch & mask].lock().unwrap();
                for i in 0..4096 {
                    h.saturating_record(black_box((v(i) * 1e9) as u64));
                }
            }) / 4096.0;
            out.row("histogram_record", threads, series, HDR, "ns_per_op", ns);
        }
    }
}

fn encode(out: &Out, rounds: usize) {
    for series in [1_000usize, 10_000] {
        let label = |i: usize| (i / 10).to_string();
        // Ours.
        let config = MonitoringConfig {
            max_series_per_metric: series,
            ..Default::default()
        };
        let collector = Arc::new(MetricsCollector::standalone(config).unwrap());
        let families: Vec<_> = (0..10)
            .map(|f| {
                collector
                    .registry()
                    .counter_family(&format!("bench_{f}_total"), "A counter.")
                    .unwrap()
            })
            .collect();
        for i in 0..series {
            families[i % 10]
                .with_labels(&[("id", &label(i))])
                .unwrap()
                .inc_by(i as u64);
        }
        let exporter = PrometheusExporter::new(
            collector,
            PrometheusConfig {
                enabled: false,
                ..Default::default()
            },
        )
        .unwrap();
        let us = median_us(rounds, || {
            exporter
                .encode(ExpositionFormat::OpenMetrics)
                .unwrap()
                .len()
        });
        out.row("encode", 1, series, KOTOBA, "us_per_scrape", us);

        // prometheus-client.
        let mut registry = prometheus_client::registry::Registry::default();
        let pc_families: Vec<_> = (0..10)
            .map(|_| {
                prometheus_client::metrics::family::Family::<
                    Vec<(String, String)>,
                    prometheus_client::metrics::counter::Counter,
                >::default()
            })
            .collect();
        for i in 0..series {
            pc_families[i % 10]
                .get_or_create(&vec![("id".to_owned(), label(i))])
                .inc_by(i as u64);
        }
        for (f, family) in pc_families.into_iter().enumerate() {
            registry.register(format!("bench_{f}"), "A counter.", family);
        }
        let us = median_us(rounds, || {
            let mut s = String::new();
            prometheus_client::encoding::text::encode(&mut s, &registry).unwrap();
            s.len()
        });
        out.row("encode", 1, series, PC, "us_per_scrape", us);

        // prometheus.
        let registry = prometheus::Registry::new();
        let vecs: Vec<_> = (0..10)
            .map(|f| {
                prometheus::IntCounterVec::new(
                    prometheus::Opts::new(format!("bench_{f}_total"), "A counter."),
                    &["id"],
                )
                .unwrap()
            })
            .collect();
        for i in 0..series {
            vecs[i % 10]
                .with_label_values(&[&label(i)])
                .inc_by(i as u64);
        }
        for vec in vecs {
            registry.register(Box::new(vec)).unwrap();
        }
        let us = median_us(rounds, || {
            use prometheus::Encoder;
            let mut buf = Vec::new();
            prometheus::TextEncoder::new()
                .encode(&registry.gather(), &mut buf)
                .unwrap();
            buf.len()
        });
        out.row("encode", 1, series, PROM, "us_per_scrape", us);

        // metrics.
        let recorder = metrics_recorder();
        metrics::with_local_recorder(&recorder, || {
            for i in 0..series {
                metrics::counter!(format!("bench_{}_total", i % 10), "id" => label(i))
                    .increment(i as u64);
            }
        });
        let handle = recorder.handle();
        let us = median_us(rounds, || handle.render().len());
        out.row("encode", 1, series, METRICS, "us_per_scrape", us);
    }
}

fn memory(out: &Out) {
    let n = 100;
    let registry = Registry::new();
    let family = registry.histogram_family("mem_seconds", "Memory.").unwrap();
    // One value each, as for the peers. The window's marks are allocated when its slices
    // close, so a second row measures series whose whole window has rotated (slices of 10 ms
    // here, 15 s by default).
    let b = bytes_per_series(n, |n| {
        (0..n)
            .map(|s| {
                let h = family.with_labels(&[("s", &s.to_string())]).unwrap();
                h.observe(0.001);
                h
            })
            .collect::<Vec<_>>()
    });
    out.row("memory_histogram", 1, n, KOTOBA, "bytes", b);
    let short = HistogramOpts::latency().window(Duration::from_millis(40));
    let rotated = registry
        .histogram_family_with("mem_rotated_seconds", "Memory.", short)
        .unwrap();
    let b = bytes_per_series(n, |n| {
        let series: Vec<_> = (0..n)
            .map(|s| {
                let h = rotated.with_labels(&[("s", &s.to_string())]).unwrap();
                h.observe(0.001);
                h
            })
            .collect();
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(11));
            series.iter().for_each(|h| {
                black_box(h.window_span());
            });
        }
        series
    });
    out.row("memory_histogram_window_full", 1, n, KOTOBA, "bytes", b);
    let counters = registry.counter_family("mem_total", "Memory.").unwrap();
    let b = bytes_per_series(n, |n| {
        (0..n)
            .map(|s| counters.with_labels(&[("s", &s.to_string())]).unwrap())
            .collect::<Vec<_>>()
    });
    out.row("memory_counter", 1, n, KOTOBA, "bytes", b);

    let b = bytes_per_series(n, |n| {
        let f = prometheus_client::metrics::family::Family::<
            Vec<(String, String)>,
            prometheus_client::metrics::histogram::Histogram,
        >::new_with_constructor(|| {
            prometheus_client::metrics::histogram::Histogram::new(DEFAULT_BUCKETS)
        });
        for s in 0..n {
            f.get_or_create(&vec![("s".to_owned(), s.to_string())])
                .observe(0.001);
        }
        f
    });
    out.row("memory_histogram", 1, n, PC, "bytes", b);
    let b = bytes_per_series(n, |n| {
        let f = prometheus_client::metrics::family::Family::<
            Vec<(String, String)>,
            prometheus_client::metrics::counter::Counter,
        >::default();
        for s in 0..n {
            f.get_or_create(&vec![("s".to_owned(), s.to_string())])
                .inc();
        }
        f
    });
    out.row("memory_counter", 1, n, PC, "bytes", b);

    let b = bytes_per_series(n, |n| {
        let v = prometheus::HistogramVec::new(prometheus::HistogramOpts::new("m", "m"), &["s"])
            .unwrap();
        for s in 0..n {
            v.with_label_values(&[&s.to_string()]).observe(0.001);
        }
        v
    });
    out.row("memory_histogram", 1, n, PROM, "bytes", b);
    let b = bytes_per_series(n, |n| {
        let v = prometheus::IntCounterVec::new(prometheus::Opts::new("m", "m"), &["s"]).unwrap();
        for s in 0..n {
            v.with_label_values(&[&s.to_string()]).inc();
        }
        v
    });
    out.row("memory_counter", 1, n, PROM, "bytes", b);

    // metrics: a recorder built (and rendered once) beforehand, so only the series count.
    let recorder = metrics_recorder();
    let handle = recorder.handle();
    black_box(handle.render());
    let b = bytes_per_series(n, |n| {
        metrics::with_local_recorder(&recorder, || {
            (0..n)
                .map(|s| {
                    let h = metrics::histogram!("m", "s" => s.to_string());
                    h.record(0.001);
                    h
                })
                .collect::<Vec<_>>()
        })
    });
    out.row("memory_histogram", 1, n, METRICS, "bytes", b);
    let b = bytes_per_series(n, |n| {
        metrics::with_local_recorder(&recorder, || {
            (0..n)
                .map(|s| {
                    let c = metrics::counter!("mc", "s" => s.to_string());
                    c.increment(1);
                    c
                })
                .collect::<Vec<_>>()
        })
    });
    out.row("memory_counter", 1, n, METRICS, "bytes", b);

    let b = bytes_per_series(n, |n| {
        (0..n)
            .map(|_| {
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 2).unwrap()
            })
            .collect::<Vec<_>>()
    });
    out.row("memory_histogram", 1, n, HDR, "bytes", b);
}

/// 1,000,000 log-normal latencies (median 2 ms, σ = 1), from a fixed seed.
fn lognormal(n: usize) -> Vec<f64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut uniform = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u1, u2) = (uniform(), uniform());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            0.002 * z.exp()
        })
        .collect()
}

/// PromQL's `histogram_quantile` over cumulative `(le, count)` pairs.
fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let total = buckets.last().unwrap().1;
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return prev.0;
            }
            let in_bucket = count - prev.1;
            return prev.0
                + (le - prev.0)
                    * if in_bucket == 0.0 {
                        0.0
                    } else {
                        (rank - prev.1) / in_bucket
                    };
        }
        prev = (le, count);
    }
    prev.0
}

fn accuracy(out: &Out) {
    let values = lognormal(1_000_000);
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let exact =
        |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];

    let registry = Registry::new();
    let ours = registry.histogram("acc_seconds", "Accuracy.", &[]).unwrap();
    let pc = prometheus_client::metrics::histogram::Histogram::new(DEFAULT_BUCKETS);
    for &v in &values {
        ours.observe(v);
        pc.observe(v);
    }
    // prometheus-client's buckets, read back from its own exposition.
    let mut text = String::new();
    let mut pc_registry = prometheus_client::registry::Registry::default();
    pc_registry.register("acc", "Accuracy.", pc);
    prometheus_client::encoding::text::encode(&mut text, &pc_registry).unwrap();
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("acc_bucket{le=\"")?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect();
    let snapshot = ours.snapshot();
    for (q, name) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p999")] {
        let truth = exact(q);
        let err = |estimate: f64| (estimate - truth).abs() / truth;
        let bench = format!("accuracy_{name}");
        out.row(&bench, 1, 1, KOTOBA, "rel_error", err(snapshot.quantile(q)));
        out.row(
            &bench,
            1,
            1,
            PC,
            "rel_error",
            err(bucket_quantile(q, &buckets)),
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out = Out {
        json: args.iter().any(|a| a == "--json"),
    };
    let (iters, rounds) = if quick {
        (1_000_000, 3)
    } else {
        (5_000_000, 7)
    };
    if !out.json {
        println!(
            "{} cores; {} ops per thread per round, median of {rounds} rounds",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            iters
        );
        println!(
            "{:<18} {:>7} {:>7}  {:<18} {:>14}",
            "bench", "threads", "series", "impl", "value"
        );
    }
    // Memory first: metrics frees the values its histograms recorded lazily (epoch-based), so
    // after the hot path that garbage would be freed inside the memory measurement.
    memory(&out);
    hot_path(&out, iters, rounds);
    encode(&out, if quick { 5 } else { 21 });
    accuracy(&out);
    if let Some(warning) = support::apart_report() {
        eprintln!("{warning}");
    }
}
