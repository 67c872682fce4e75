//! What the benchmarks share: a counting allocator for bytes per series, the latencies they
//! record, and the medians they report. Included by each bench with `mod support;`.
#![allow(dead_code)] // each bench uses its own subset

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Instant;

/// Counts live heap bytes, so that the memory of series can be read as a difference. A bench
/// installs it with `#[global_allocator] static A: support::Counting = support::Counting;`.
pub struct Counting;

/// Live heap bytes, as [`Counting`] sees them.
pub static LIVE: AtomicIsize = AtomicIsize::new(0);

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

/// The next number of a xorshift64 generator in `x`: cheap, repeatable noise for values.
pub fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// 1,024 latencies from 1 µs to about 10 ms, so that histogram indexes vary as in real use.
pub fn latencies() -> Vec<f64> {
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

/// Rounds of several threads that [`measure`] ran with the threads side by side for at least
/// 80% of the longest one's time. [`apart_report`] tells.
pub static ROUNDS_TOGETHER: AtomicUsize = AtomicUsize::new(0);
/// Rounds of several threads that ran side by side for less: on a shared machine usually
/// because another tenant held a core, so that the threads took turns instead of contending.
pub static ROUNDS_APART: AtomicUsize = AtomicUsize::new(0);

/// A line saying how many multi-thread rounds ran apart, if any did.
pub fn apart_report() -> Option<String> {
    let apart = ROUNDS_APART.load(Ordering::Relaxed);
    let all = ROUNDS_TOGETHER.load(Ordering::Relaxed) + apart;
    (apart > 0).then(|| {
        format!(
            "warning: in {apart} of {all} rounds of several threads, the threads ran side by side \
             for less than 80% of the time (on a shared machine, usually another tenant holding a \
             core): the 2-thread figures may understate contention"
        )
    })
}

/// Runs `op(thread, i)` `iters` times on each of `threads` threads, started together, and
/// returns the median over `rounds` of nanoseconds per operation per thread (the mean over the
/// threads of each round).
pub fn measure<F>(threads: usize, iters: usize, rounds: usize, op: F) -> f64
where
    F: Fn(usize, usize) + Sync,
{
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let barrier = Barrier::new(threads);
            let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (barrier, op) = (&barrier, &op);
                        s.spawn(move || {
                            barrier.wait();
                            let started = Instant::now();
                            for i in 0..iters {
                                op(t, i);
                            }
                            (started, Instant::now())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            if threads > 1 {
                let start = spans.iter().map(|s| s.0).max().unwrap();
                let end = spans.iter().map(|s| s.1).min().unwrap();
                let longest = spans.iter().map(|s| s.1 - s.0).max().unwrap();
                let together = end.saturating_duration_since(start);
                let counter = if together.as_secs_f64() < 0.8 * longest.as_secs_f64() {
                    &ROUNDS_APART
                } else {
                    &ROUNDS_TOGETHER
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            let ns = |(started, ended): &(Instant, Instant)| {
                (*ended - *started).as_nanos() as f64 / iters as f64
            };
            spans.iter().map(ns).sum::<f64>() / threads as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The median microseconds of `rounds` runs of `f`, after one run to warm up.
pub fn median_us(rounds: usize, mut f: impl FnMut() -> usize) -> f64 {
    black_box(f());
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            black_box(f());
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Nanoseconds on CPU of this process's `kotoba-*` threads.
pub fn monitor_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            if !name.starts_with("kotoba-") {
                return None;
            }
            let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}
