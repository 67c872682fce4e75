//! Recording through a handle allocates nothing in the steady state: a histogram series makes
//! a thread's page table and bucket counts at that thread's first value, and a page of cells at
//! the first value any of its cells gets, once each, and never again. Counted by an allocator
//! that tallies the allocations of the calling thread only.
//!
//! This file holds one test so that the allocator sees no other test's work.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use kotoba_monitoring::Registry;

struct PerThread;

thread_local! {
    /// Allocations made by this thread. `const`, so reading it never allocates itself.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for PerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: PerThread = PerThread;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn recording_through_handles_does_not_allocate() {
    let registry = Registry::new();
    let counter = registry.counter("ops_total", "", &[("op", "get")]).unwrap();
    let gauge = registry.gauge("open", "", &[]).unwrap();
    let histogram = registry
        .histogram("op_seconds", "", &[("op", "get")])
        .unwrap();
    // Values that exercise every path: normal, clamped (above one hour), refused (NaN).
    let values = [0.000_001, 0.25, 7200.0, f64::NAN, -1.0];

    // The thread takes its slot at its first record (nothing of the series'); a histogram
    // series then makes this thread's page table, the counts of the cells that hold a bucket's
    // bound, and the value's page.
    counter.inc();
    let first = allocations();
    histogram.observe(0.3);
    assert_eq!(
        allocations() - first,
        3,
        "a series' first value on a thread"
    );
    // A value in the same page (0.35 is eight cells above 0.3, in the same power of two of
    // nanoseconds) makes nothing.
    let again = allocations();
    histogram.observe(0.35);
    assert_eq!(allocations(), again, "a value in a page made");
    // A value in a page of its own makes that page only.
    histogram.observe(0.000_5);
    assert_eq!(allocations() - again, 1, "a value in a new page");

    let record = |i: usize| {
        counter.inc();
        counter.inc_by(3);
        gauge.set(i as f64);
        gauge.inc();
        histogram.observe(values[i % values.len()]);
        histogram.observe_duration(Duration::from_micros(i as u64));
        let _timer = histogram.start_timer();
    };
    // The first pass makes the pages of its values' cells; values over the whole range make
    // the rest (the timer's readings vary from run to run); then the steady state makes
    // nothing.
    (0..10_000).for_each(record);
    for k in 0..4096 {
        histogram.observe(1e-9 * 3.6e12f64.powf(f64::from(k) / 4095.0));
    }
    let before = allocations();
    (0..10_000).for_each(record);
    let during = allocations() - before;
    assert_eq!(during, 0, "recording allocated {during} times");

    // The allocator does see this thread's allocations.
    let seen = allocations();
    let boxed = std::hint::black_box(Box::new(during));
    assert_eq!(allocations(), seen + 1);
    drop(boxed);

    // The handles did record.
    assert_eq!(counter.get(), 80_001.0);
    assert_eq!(
        histogram.snapshot().count,
        2 * (10_000 / 5 * 3 + 20_000) + 3 + 4096
    );
}
