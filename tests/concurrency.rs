//! Exact totals under concurrency: nothing recorded through a handle is lost or counted twice.

use std::thread;

use kotoba_monitoring::Registry;

const THREADS: usize = 4;
const PER_THREAD: usize = if cfg!(miri) { 100 } else { 100_000 };

#[test]
fn counter_totals_are_exact() {
    let registry = Registry::new();
    let counter = registry.counter("ops_total", "Operations.", &[]).unwrap();
    thread::scope(|s| {
        for _ in 0..THREADS {
            let c = counter.clone();
            s.spawn(move || (0..PER_THREAD).for_each(|_| c.inc()));
        }
    });
    assert_eq!(counter.get(), (THREADS * PER_THREAD) as f64);
}

#[test]
fn counter_handles_taken_separately_share_the_series() {
    let registry = Registry::new();
    thread::scope(|s| {
        for _ in 0..THREADS {
            let registry = registry.clone();
            s.spawn(move || {
                let c = registry.counter("shared_total", "", &[("k", "v")]).unwrap();
                (0..PER_THREAD).for_each(|_| c.inc_by(2));
            });
        }
    });
    let c = registry.counter("shared_total", "", &[("k", "v")]).unwrap();
    assert_eq!(c.get(), (2 * THREADS * PER_THREAD) as f64);
}

#[test]
fn histogram_count_and_sum_are_exact() {
    let registry = Registry::new();
    let h = registry.histogram("op_seconds", "", &[]).unwrap();
    thread::scope(|s| {
        for t in 0..THREADS {
            let h = h.clone();
            // Multiples of 0.5 below 600: every partial sum is exact in f64, in any order.
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    h.observe(((i % 1000) + t) as f64 * 0.5);
                }
            });
        }
    });
    let snapshot = h.snapshot();
    assert_eq!(snapshot.count, (THREADS * PER_THREAD) as u64);
    let expected_sum: f64 = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| ((i % 1000) + t) as f64 * 0.5))
        .sum();
    assert_eq!(snapshot.sum, expected_sum);
    assert_eq!(h.window_snapshot().count, snapshot.count);
}

#[test]
fn readers_during_writes_never_see_more_than_was_recorded() {
    let registry = Registry::new();
    let h = registry.histogram("busy_seconds", "", &[]).unwrap();
    let total = (THREADS * PER_THREAD / 10) as u64;
    thread::scope(|s| {
        for _ in 0..THREADS {
            let h = h.clone();
            s.spawn(move || (0..PER_THREAD / 10).for_each(|_| h.observe(0.001)));
        }
        let h = h.clone();
        s.spawn(move || {
            let mut last = 0;
            loop {
                let count = h.snapshot().count;
                assert!(
                    count >= last && count <= total,
                    "{last} then {count} of {total}"
                );
                last = count;
                if count == total {
                    break;
                }
            }
        });
    });
}

/// Threads that start and end while others record: each owned slot passes from a thread that
/// ended to one that starts, and a slot held by two live threads at once would lose updates.
#[test]
fn slots_passed_between_short_lived_threads_lose_nothing() {
    let registry = Registry::new();
    let counter = registry.counter("churn_total", "", &[]).unwrap();
    let h = registry.histogram("churn_seconds", "", &[]).unwrap();
    let waves = 20;
    let per_wave = 2 * THREADS;
    let per_thread = PER_THREAD / 20;
    for _ in 0..waves {
        thread::scope(|s| {
            for t in 0..per_wave {
                let (c, h) = (counter.clone(), h.clone());
                // Half the threads end at once, half run longer: starts and ends interleave.
                let n = if t % 2 == 0 {
                    per_thread / 10
                } else {
                    per_thread
                };
                s.spawn(move || {
                    for _ in 0..n {
                        c.inc();
                        h.observe(0.002);
                    }
                });
            }
        });
    }
    let expected = waves * (per_wave / 2) * (per_thread / 10 + per_thread);
    assert_eq!(counter.get(), expected as f64);
    let s = h.snapshot();
    assert_eq!(s.count, expected as u64);
    assert!((s.sum - 0.002 * expected as f64).abs() < 1e-6 * s.sum);
}
