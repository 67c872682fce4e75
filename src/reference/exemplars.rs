//! Exemplars, trace contexts and the slow-query log: from a slow p99 to the queries that made it.
//!
//! A slow p99 leads to the queries that made it. Set the request's W3C trace context for the
//! thread that serves it, and instrumented queries keep it: a slow query's trace becomes the
//! exemplar of the latency bucket it falls in (an OpenMetrics exemplar, which Prometheus stores
//! and Grafana draws as a dot on the latency chart linking to the trace in Jaeger or Tempo), and
//! the slow-query log remembers it with the query's statement.
//!
//! ```rust
//! use std::time::Duration;
//! use kotoba_monitoring::TraceContext;
//! # let monitor = kotoba_monitoring::Monitor::new(Default::default())?;
//! let gets = monitor.collector().queries().operation("get")?;
//! monitor.collector().queries().set_slow_threshold(Duration::from_millis(50));
//!
//! // Per request: the incoming `traceparent` header, for the thread serving it.
//! let trace = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
//! let _serving = trace.enter();
//! let mut timer = gets.start();
//! timer.set_statement("SELECT value FROM kv WHERE key = ?");
//! // ... run the query; the timer records when dropped
//! # drop(timer);
//! # drop(_serving);
//!
//! for slow in monitor.collector().slow_queries() {
//!     println!("{} took {:?}, trace {:?}", slow.operation, slow.duration, slow.trace);
//! }
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
//!
//! - `TraceContext::parse` takes a `traceparent` header (a clear error for a malformed one);
//!   `enter()` makes it the thread's until the guard drops (a thread-local store, nothing when
//!   unused); `QueryTimer::set_trace` and `QueryOperation::record_traced` pass one explicitly.
//!   Only sampled traces (flag `01`) become exemplars: an exemplar should lead to a trace that
//!   was recorded.
//! - Which queries keep an exemplar is `[exemplars] keep`: `slow` (the default: over the
//!   slow-query threshold, the ones worth a trace), `all`, `sampled` (slow ones and a
//!   `sample_ratio` share of the rest, chosen by trace id so a trace is kept everywhere or
//!   nowhere) or `off`. On any histogram, `observe_with_exemplar(value, labels)`,
//!   `observe_with_trace(value, &trace)` and `observe_traced(value)` (the current thread's trace)
//!   keep one directly; on a counter, `inc_by_with_exemplar(n, labels)` and `inc_traced()`. As OpenMetrics says, each bucket keeps its newest exemplar, at most 128
//!   characters of labels, with its value and time; plain `observe` and `inc` never touch them.
//!   A histogram's exemplar never waits for another thread (a bucket being written by one keeps
//!   that one); a counter's waits at most for one map insert in its shard.
//! - Exemplars are written in the OpenMetrics exposition only
//!   (`…_bucket{le="0.25",operation="get"} 17 # {trace_id="4bf9…",span_id="00f0…"} 0.213 1765100000.123`),
//!   never in the 0.0.4 text format. The history keeps the newest 10,000 the collection ticks
//!   find, which `GET /api/v1/query_exemplars?query=…&start=…&end=…` returns as Prometheus does,
//!   and remote write sends with their series when an endpoint sets `send_exemplars = true`.
//! - The slow-query log keeps the last `[exemplars] slow_query_log` (100) slow queries with
//!   operation, duration, start, trace, statement (its first 256 characters) and whether it
//!   failed: `collector.slow_queries()` and `GET /api/v1/slow_queries`; older ones are let go and
//!   counted in `kotoba_db_slow_query_log_dropped_total`.
//! - Cost (`cargo bench --bench exemplars`): nothing until used (plain `observe` never looks);
//!   looking for the thread's trace a few ns, and only when a query may keep it; keeping an
//!   exemplar about 150 ns, paid by default only by slow queries; 327 bytes per exemplar kept; a scrape of 10,000 latency series with
//!   one exemplar each is 8% bigger and a quarter slower.
//! - The built-in dashboard draws them as diamonds on the latency chart (the trace id under the
//!   cursor), and the Grafana dashboards' latency panels ask for them (`exemplar: true`). A
//!   Prometheus keeps our exemplars when started with `--enable-feature=exemplar-storage`.
