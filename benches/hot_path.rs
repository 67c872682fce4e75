//! The hot path, measured: counter increment and histogram record at 1 and 2 threads on one
//! shared series, beside bare `hdrhistogram` as the floor, and the memory one series costs.
//!
//! Run with `cargo bench --bench hot_path` (add `-- --quick` for a short run). Each figure is
//! the median of several rounds; compare figures within one run, not across machines.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use kotoba_monitoring::{HistogramOpts, Registry};

/// Counts live heap bytes, so that the memory of one series can be read as a difference.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Latencies from 1 µs to about 10 ms, so the histogram index varies as in real use.
fn latencies() -> Vec<f64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1e-6 * (1.0 + (x % 10_000) as f64)
        })
        .collect()
}

/// Runs `op(thread, i)` `iters` times on each of `threads` threads, all on one shared series,
/// and returns the median over `rounds` of nanoseconds per operation per thread.
fn measure<F>(threads: usize, iters: usize, rounds: usize, op: F) -> f64
where
    F: Fn(usize, usize) + Clone + Send + 'static,
{
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let barrier = Arc::new(Barrier::new(threads + 1));
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (barrier, op) = (barrier.clone(), op.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        for i in 0..iters {
                            op(t, i);
                        }
                        start.elapsed()
                    })
                })
                .collect();
            barrier.wait();
            let slowest = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .max()
                .unwrap();
            slowest.as_nanos() as f64 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

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
        let per_thread: Arc<Vec<parking_lot::Mutex<hdrhistogram::Histogram<u64>>>> = Arc::new(
            (0..threads)
                .map(|_| {
                    parking_lot::Mutex::new(
                        hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 2).unwrap(),
                    )
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
    let bytes_of = |f: &dyn Fn()| {
        let before = LIVE.load(Ordering::Relaxed);
        f();
        LIVE.load(Ordering::Relaxed) - before
    };
    let latency = registry
        .histogram_family("mem_latency_seconds", "")
        .unwrap();
    latency.with_labels(&[("op", "warmup")]).unwrap();
    let histogram_bytes = bytes_of(&|| {
        latency.with_labels(&[("op", "get")]).unwrap();
    });
    let values_family = registry
        .histogram_family_with("mem_sizes", "", HistogramOpts::values())
        .unwrap();
    values_family.with_labels(&[("op", "warmup")]).unwrap();
    let values_bytes = bytes_of(&|| {
        values_family.with_labels(&[("op", "get")]).unwrap();
    });
    let counters = registry.counter_family("mem_ops_total", "").unwrap();
    counters.with_labels(&[("op", "warmup")]).unwrap();
    let counter_bytes = bytes_of(&|| {
        counters.with_labels(&[("op", "get")]).unwrap();
    });
    println!("{:<40} {:>12}", "memory per series", "bytes");
    println!(
        "{:<40} {:>12}",
        "latency histogram (1 ns..1 h, 2 figures)", histogram_bytes
    );
    println!(
        "{:<40} {:>12}",
        "values histogram (0.001..1e12, 2 figures)", values_bytes
    );
    println!("{:<40} {:>12}", "counter", counter_bytes);
    println!(
        "(shards per series on this machine: {})",
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .next_power_of_two()
            .min(8)
    );
}
