//! Precision, memory and limits: what a quantile, a series and a history point cost, and what is refused.
//!
//! Histograms keep two significant figures by default: every quantile is within 1% of the true
//! sample quantile (the tests check this against exact quantiles of log-normal and uniform data);
//! `count`, `sum`, `min`, `max` and `mean` are exact (the window's `min` and `max` are exact
//! while the window holds everything recorded, else the edge of their cell, within 2%), and the exported `_bucket{le}` counts compare every value with its
//! bound exactly. Latency histograms span 1 ns to one hour in cells of equal ratio, 35 to a
//! power of two, counted in 16-bit words (a page's high halves are made when a count first
//! passes 2^15) and kept in a page per power of two made at the first value any of its cells
//! gets: a series pays for the range its values span. Each thread slot that records into a
//! series has its own cells: the first threads each own a slot (the core count rounded up to a
//! power of two, at most 8), the others share one. A slot's first value makes its page table; a
//! page's first value makes the page, its first count past 2^15 the high halves; recording
//! allocates nothing else, ever. A latency series one thread records takes about 1.9 KB with
//! one value and 2.7 KB with values over three decades, and 4.2 KB with 1,024 values over four
//! decades once its window has turned (the
//! window keeps 4-byte totals per cell in use, and a byte per cell for each slice that added to
//! it). The worst case,
//! 8 threads on 8 cores recording over the whole range in every slice, is about 44 KiB (66 KiB once every count has passed 2^15). A
//! counter series costs 180 bytes of heap and 199 of resident memory at a million series, its
//! labels, handle and the allocator's overhead included (`cargo bench --bench scale`).
//!
//! The history compresses its points as Prometheus does (delta-of-delta timestamps, XOR'd
//! values, whole numbers as the change of their change), in chunks of 120: 1.9 bytes a point
//! for collected counters, under one for an unchanging gauge (`cargo bench --bench scale`),
//! against 16 uncompressed. A collection tick that runs within a quarter interval of its
//! schedule is stamped with its scheduled time, so ticks lie exactly `collection_interval`
//! apart, which is what makes a timestamp cost one bit (a late tick is stamped when it runs).
//! A query decodes only the chunks its expression reaches back to.
//!
//! Values above a histogram's maximum are recorded as the maximum and counted in
//! `kotoba_monitoring_values_clamped_total`; NaN and negative values are refused and counted in
//! `kotoba_monitoring_values_rejected_total`. A family refuses new label sets past
//! `max_series_per_metric`, and the registry past `max_total_series` in all, counting them in
//! `kotoba_monitoring_series_rejected_total`; new names past `max_metric_families` are refused
//! and counted in `kotoba_monitoring_families_rejected_total`; `record_metric` samples dropped on
//! a full queue are counted in `kotoba_monitoring_samples_dropped_total`. Each per-metric series
//! of these (`{metric="…"}`) appears once it has counted something, so a healthy scrape carries
//! only the two totals. A family reserves every name it writes (`_total`, `_bucket`, `_sum`,
//! `_count`, `_created`, the `_window` gauges): counter `x` and gauge `x_total`, or histogram `h`
//! and gauge `h_count`, cannot both be registered, so every scrape passes `promtool check
//! metrics`. `family.remove(&[("table", "users")])` drops a label set (a table dropped, a
//! node gone): it leaves the scrape, frees its place under the limits, and gets a stale marker
//! in the history at the next tick, so PromQL stops finding it at once, as Prometheus does for a
//! series gone from a scrape.
