//! PromQL over the history in code, its errors, and `promtool test rules` files run without a Prometheus.
//!
//! `monitor.query(expr, at)` and `monitor.query_range(expr, start, end, step)` evaluate PromQL
//! over the history, with Prometheus 2.42's semantics (every function but the native-histogram
//! ones, with Go's digits where Go's `math` and libm round the last bit differently), and return
//! a `QueryValue`: a scalar, a
//! vector or a matrix of labelled values (an instant query of a range vector such as `x[5m]` or
//! `x[5m:1m]` gives its samples), or a string. The history holds exactly the series `/metrics`
//! exposes, under the same names and labels (global labels included): counters under their
//! `_total` name, each histogram as `_bucket{le}`, `_sum` and `_count`, and its window quantiles
//! as `<stem>_window<_unit>{q}`. So an expression, a recording rule or a Grafana panel means the
//! same in code and in a Prometheus that scrapes the database:
//!
//! ```rust,no_run
//! # let monitor = kotoba_monitoring::Monitor::new(Default::default())?;
//! use kotoba_monitoring::QueryValue;
//! let now = time::OffsetDateTime::now_utc();
//! let p99 = monitor.query(
//!     "histogram_quantile(0.99, sum by (le) (rate(kotoba_db_query_latency_seconds_bucket[5m])))",
//!     now,
//! )?;
//! if let QueryValue::Vector(samples) = p99 {
//!     println!("p99 over the last 5 minutes: {:?}", samples.first().map(|s| s.value));
//! }
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
//!
//! An expression Prometheus 2.42 would refuse is refused with Prometheus's own words and the
//! `line:column` where it goes wrong, wherever a user meets it (`monitor.query`, the HTTP API's
//! `bad_data`, rule files, `test_rules_file`): `sum(x) by bar` gives `1:11: parse error:
//! unexpected identifier "bar" in grouping opts, expected "("`, `rate(x)` gives `1:6: parse
//! error: expected type range vector in call to function "rate", got instant vector`.
//!
//! # Testing PromQL without a Prometheus
//!
//!
//! `test_rules_file` runs a `promtool test rules` file's `promql_expr_test` cases with this
//! crate's PromQL and reports exactly as promtool 2.42 does, byte for byte (the crate's own tests
//! run every file under `tests/rules/` through both and compare). So far it evaluates selectors
//! (matchers, `offset`, `@`, the 5-minute lookback (`query_lookback` on the history), staleness),
//! subqueries (`x[10m:1m]`; without a step, the file's `evaluation_interval`, and 1 minute in
//! queries on the history), the binary operators with vector matching, the aggregations,
//! `rate`/`increase`/`delta`/`irate`/`idelta`, the `*_over_time` functions, `histogram_quantile`,
//! `deriv`, `predict_linear`, `holt_winters`, `changes`, `resets`, `absent`, `absent_over_time`,
//! `label_replace`, `label_join`, `sort`, `sort_desc`, `abs`, `ceil`, `floor`, `round`, `sgn`,
//! `sqrt`, `exp`, `ln`, `log2`, `log10` (and fractional `^`), the trigonometric and hyperbolic
//! functions (`sin` … `atanh`, `deg`, `rad`, `pi`) with Go's own rounding, `clamp*`, `time`,
//! `timestamp`, `vector`, `scalar` and the calendar functions (`year`, `month`, `day_of_month`,
//! `day_of_week`, `day_of_year`, `days_in_month`, `hour`, `minute`, of any value, NaN and
//! infinities included, as Go computes their dates); the native-histogram functions fail their
//! test with an error naming them.
//!
//! Beside the corpus, a differential test writes thousands of random expressions over random
//! series (counter resets, gaps, stale markers, NaN, infinities, histogram buckets), one in
//! twelve of them corrupted as typing goes wrong (so parse errors are compared too), and requires
//! the same report from promtool and from this crate, expression by expression
//! (`FUZZ_SEED`/`FUZZ_CASES` run other or longer ones). One thing no runner can match: promtool
//! loads a test's series in random order (a Go map), so a float `sum`, `avg` or `stddev` over
//! several series, a `topk` among ties or a many-to-many error's list of series can change from
//! one promtool run to the next (`sum` of five series gave 0, 0.1, 0.3 and 0.6 in twelve runs).
//! This crate takes series in label order, as a Prometheus whose series were created in that order.
//!
//! Rule files run too, as promtool runs them: `rule_files` (recording and alerting rules, `for`,
//! `keep_firing_for`, `labels`, `annotations`, group `limit`), `group_eval_order`, and
//! `alert_rule_test`, whose firing alerts are compared by labels and annotations; recordings and
//! `ALERTS`/`ALERTS_FOR_STATE` are there for `promql_expr_test` to read, and alert templates are
//! expanded with the test group's `external_labels` and `external_url`.
//!
//! ```rust,no_run
//! let report = kotoba_monitoring::test_rules_file("tests/rules/functions.yml")?;
//! print!("{report}"); // "Unit Testing:  tests/rules/functions.yml\n  SUCCESS\n\n"
//! assert!(report.passed());
//! # Ok::<(), kotoba_monitoring::MonitoringError>(())
//! ```
