//! The hot path, measured: counter increment and histogram record at 1 and 2 threads on one
//! shared series, beside bare `hdrhistogram` as the floor; the peers bench's single-thread
//! counter loop taken apart (see [`lookup_cost`]); and the memory one series costs.
//!
//! Run with `cargo bench --bench hot_path` (add `-- --quick` for a short run). Each figure is
//! the median of several rounds; compare figures within one run, not across machines.

mod support;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded as Padded;

use kotoba_monitoring::{HistogramOpts, Registry};
use support::{latencies, measure, LIVE};

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (iters, rounds) = if quick {
        (2_000_000, 3)
    } else {
        (10_000_000, 7)
    };
    let values = Arc::new(latencies());
    let registry = Registry::new();

    println!("{:<40} {:>8} {:>12}", "operation", "threads", "ns/op");
    for threads in [1, 2] {
        let counter = registry.counter("bench_ops_total", "", &[]).unwrap();
        let ns = measure(threads, iters, rounds, move |_, _| counter.inc());
        println!("{:<40} {:>8} {:>12.2}", "kotoba Counter::inc", threads, ns);

        let histogram = registry
            .histogram("bench_latency_seconds", "", &[])
            .unwrap();
        let v = values.clone();
        let ns = measure(threads, iters, rounds, move |_, i| {
            histogram.observe(black_box(v[i & 1023]))
        });
        println!(
            "{:<40} {:>8} {:>12.2}",
            "kotoba Histogram::observe", threads, ns
        );

        // The floor: one bare hdrhistogram per thread, no sharing.
        let v = values.clone();
        let per_thread: Arc<Vec<Padded<parking_lot::Mutex<hdrhistogram::Histogram<u64>>>>> =
            Arc::new(
                (0..threads)
                    // Padded: side by side, two threads' histograms would share the cache line
                    // holding their counts' totals, which every record writes.
                    .map(|_| {
                        Padded::new(parking_lot::Mutex::new(
                            hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 2)
                                .unwrap(),
                        ))
                    })
                    .collect(),
            );
        let hdr = per_thread.clone();
        let ns = measure(threads, iters / 4096, rounds, move |t, _| {
            // One lock per batch of 4096 records, so the floor is the record itself.
            let mut h = hdr[t].lock();
            for i in 0..4096 {
                h.saturating_record(black_box((v[i & 1023] * 1e9) as u64));
            }
        }) / 4096.0;
        println!(
            "{:<40} {:>8} {:>12.2}",
            "bare hdrhistogram record (floor)", threads, ns
        );
    }

    println!();
    lookup_cost(&registry, iters, rounds);

    if let Some(warning) = support::apart_report() {
        eprintln!("{warning}");
    }
    println!();
    let bytes_of = |f: &dyn Fn()| {
        let before = LIVE.load(Ordering::Relaxed);
        f();
        LIVE.load(Ordering::Relaxed) - before
    };
    // A series with one value, and one holding 1,024 values over four decades whose window
    // has rotated all the way round: its marks are kept as its slices close (10 ms slices
    // here, 15 s by default), each holding the cells between the extremes.
    let histogram_bytes = |name: &str, opts: HistogramOpts, scale: f64| {
        let fresh = registry
            .histogram_family_with(&format!("{name}_fresh"), "", opts.clone())
            .unwrap();
        fresh.with_labels(&[("op", "warmup")]).unwrap();
        let fresh_bytes = bytes_of(&|| {
            fresh.with_labels(&[("op", "get")]).unwrap().observe(0.001);
        });
        let short = opts.window(std::time::Duration::from_millis(40));
        let full = registry
            .histogram_family_with(&format!("{name}_full"), "", short)
            .unwrap();
        full.with_labels(&[("op", "warmup")]).unwrap();
        let full_bytes = bytes_of(&|| {
            let h = full.with_labels(&[("op", "get")]).unwrap();
            for v in values.iter() {
                h.observe(v * scale);
            }
            for _ in 0..6 {
                std::thread::sleep(std::time::Duration::from_millis(11));
                black_box(h.window_span());
            }
        });
        (fresh_bytes, full_bytes)
    };
    let owned = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .next_power_of_two()
        .min(8);
    // The worst case: values over the whole 1 ns - 1 h range in every slice of the window,
    // recorded by one thread, then by a thread in every shard (the owned slots and the shared
    // one) at once. From the two, the cost of one more shard, and what a series would take on
    // 8 cores, which this machine may not have: 8 threads own 8 shards, a 9th shares one more.
    let whole: Vec<f64> = (0..2048)
        .map(|k| 1e-9 * 3.6e12f64.powf(k as f64 / 2047.0))
        .collect();
    let worst = |name: &str, threads: usize| {
        let opts = HistogramOpts::latency().window(std::time::Duration::from_millis(40));
        let family = registry.histogram_family_with(name, "", opts).unwrap();
        family.with_labels(&[("op", "warmup")]).unwrap();
        bytes_of(&|| {
            let h = family.with_labels(&[("op", "get")]).unwrap();
            for _ in 0..6 {
                let barrier = std::sync::Barrier::new(threads);
                std::thread::scope(|s| {
                    for _ in 1..threads {
                        s.spawn(|| {
                            whole.iter().for_each(|v| h.observe(*v));
                            barrier.wait();
                        });
                    }
                    whole.iter().for_each(|v| h.observe(*v));
                    barrier.wait();
                });
                std::thread::sleep(std::time::Duration::from_millis(11));
                black_box(h.window_span());
            }
        })
    };
    let worst_one = worst("mem_worst_one_seconds", 1);
    let worst_all = worst("mem_worst_all_seconds", owned + 2);
    let per_shard = (worst_all - worst_one) / owned as isize;
    let (latency_fresh, latency_full) =
        histogram_bytes("mem_latency_seconds", HistogramOpts::latency(), 1.0);
    let (values_fresh, values_full) = histogram_bytes("mem_sizes", HistogramOpts::values(), 1e6);
    let counters = registry.counter_family("mem_ops_total", "").unwrap();
    counters.with_labels(&[("op", "warmup")]).unwrap();
    // Counters take their cells fifteen at a time: average over several blocks.
    let counter_bytes = bytes_of(&|| {
        for i in 0..64 {
            counters
                .with_labels(&[("op", &i.to_string())])
                .unwrap()
                .inc();
        }
    }) / 64;
    println!(
        "{:<44} {:>12} {:>13}",
        "memory per series, bytes", "one value", "window full*"
    );
    println!(
        "{:<44} {:>12} {:>13}",
        "latency histogram (1 ns..1 h, 2 figures)", latency_fresh, latency_full
    );
    println!(
        "{:<44} {:>12} {:>13}",
        "values histogram (0.001..1e12, 2 figures)", values_fresh, values_full
    );
    println!("{:<44} {:>12}", "counter", counter_bytes);
    println!("(* 1,024 values from 1 µs to 10 ms, scaled by 10^6 for values, every slice closed)");
    println!("(shards per series on this machine: {owned} owned + 1 shared)");
    println!();
    println!("worst case: a latency series given 2,048 values over 1 ns..1 h in each of 6 slices");
    println!("{:<44} {:>12}", "one thread, bytes", worst_one);
    println!(
        "{:<44} {:>12}",
        format!("every shard ({} threads), bytes", owned + 2),
        worst_all
    );
    println!("{:<44} {:>12}", "  so one more shard, bytes", per_shard);
    println!(
        "{:<44} {:>12}",
        "  so 8 threads on 8 cores (8 shards), bytes",
        worst_one + 7 * per_shard
    );
    println!(
        "{:<44} {:>12}",
        "  and with a 9th thread (9 shards), bytes",
        worst_one + 8 * per_shard
    );
}

thread_local! {
    /// A thread's row in [`lookup_cost`]'s cells, as our counters keep one per thread slot.
    static ROW: Cell<usize> = const { Cell::new(0) };
}

/// What the peers bench's counter loop costs, one part at a time: a single thread increments a
/// cell it picks from a `Vec` on every operation, as `cargo bench --bench peers` does. Four ways:
/// our `Counter::inc`; a shared `AtomicU64::fetch_add` (prometheus-client's counter); a plain
/// load and store of the cell, which counts right only because one thread writes it; and that same
/// load and store in a row picked by a thread-local read, the lookup that gives a thread that
/// holds a slot but does not own the counter's block its own cell. The block's owner takes the
/// plain store's path (the thread-local read only decides a branch). Here our thread is the
/// owner: this bench's single threads come one at a time and all take the lowest slot, the one
/// that first recorded into the block.
fn lookup_cost(registry: &Registry, iters: usize, rounds: usize) {
    let mask = black_box(0usize);
    let family = registry.counter_family("bench_picked_total", "").unwrap();
    // Built as peers builds its series, so that the loop reads the same way.
    let ours: Vec<_> = (0..1)
        .map(|s| family.with_labels(&[("s", &s.to_string())]).unwrap())
        .collect();
    let ns = measure(1, iters, rounds, |_, i| ours[i & mask].inc());
    println!(
        "{:<40} {:>8} {:>12.2}",
        "picked from a Vec: kotoba Counter::inc", 1, ns
    );
    let shared: Vec<_> = (0..1).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let ns = measure(1, iters, rounds, |_, i| {
        shared[i & mask].fetch_add(1, Ordering::Relaxed);
    });
    println!("{:<40} {:>8} {:>12.2}", "  AtomicU64::fetch_add", 1, ns);
    let rows: Vec<Arc<[Padded<AtomicU64>]>> = (0..1)
        .map(|_| (0..2).map(|_| Padded::new(AtomicU64::new(0))).collect())
        .collect();
    let ns = measure(1, iters, rounds, |_, i| {
        let cell = &rows[i & mask][0];
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    });
    println!("{:<40} {:>8} {:>12.2}", "  plain load and store", 1, ns);
    let ns = measure(1, iters, rounds, |_, i| {
        let cell = &rows[i & mask][ROW.with(Cell::get)];
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    });
    println!(
        "{:<40} {:>8} {:>12.2}",
        "  plain load and store, row by thread", 1, ns
    );
}
