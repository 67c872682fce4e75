//! What the collector publishes from the database, the system and the cluster, and how queries are timed.
//!
//! Implement `MonitoredDatabase` for your database handle (the kotoba-monitoring 0.1.21 API's
//! `get_database_metrics`, `get_query_metrics`, `get_storage_metrics`, and an optional cheap
//! `ping`) and give it to `MetricsCollector::new(db, config)` or `Monitor::with_database(db,
//! config)`. Every `collection_interval` the `kotoba-collect` thread asks it and publishes:
//!
//! | metric | from |
//! |---|---|
//! | `kotoba_db_connections_active`, `kotoba_db_uptime_seconds`, `kotoba_db_info{version}` (always 1) | `DatabaseMetrics` |
//! | `kotoba_db_connections_total`, `kotoba_db_queries_total` (counters advanced by the difference; a total that drops counts on from zero) | `DatabaseMetrics`, `QueryMetrics` |
//! | `kotoba_db_storage_size_bytes`, `kotoba_db_storage_used_bytes`, `kotoba_db_storage_operations_total{kind}`, `kotoba_db_storage_throughput_bytes_per_second{kind}`, `kotoba_db_cache_hit_ratio`, `kotoba_db_io_latency_seconds` | `StorageMetrics` |
//!
//! Not every database times its queries, so the library does: take an operation's handles once
//! with `collector.queries().operation("get")?`, then time each query with a guard (`start()`,
//! recorded on drop, `fail()` to count a failure) or a closure (`time(|| db.get(k))`, an `Err` is
//! a failure). That records `kotoba_db_query_latency_seconds{operation}`,
//! `kotoba_db_query_errors_total{operation}` and `kotoba_db_slow_queries_total{operation}` (over
//! `set_slow_threshold`, 100 ms by default). When the database answers
//! `MonitoringError::Unsupported` (or all zeros) for its query figures, `QueryMetrics` (qps,
//! mean, p95, p99 over the recent window; totals, slow and failed since start) is computed from
//! these recordings. `collector.get_performance_metrics()?` (or `monitor.performance_metrics()?`)
//! returns `PerformanceMetrics` with all of it, now.
//!
//! With the `system` feature (on by default) the same thread refreshes, with sysinfo and only
//! what it reads: `system_cpu_usage_percent`, `system_memory_usage_bytes`,
//! `system_memory_usage_percent`, `system_disk_usage_bytes{mount_point}`,
//! `system_disk_usage_percent{mount_point}`, `system_network_{receive,transmit}_bytes_total{interface}`,
//! and the standard `process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_threads`, `process_open_fds`, `process_start_time_seconds`. With the `cluster`
//! feature, a `ClusterSource` given to `collector.set_cluster_source(..)` feeds
//! `kotoba_cluster_nodes_total`, `kotoba_cluster_nodes_active` and
//! `kotoba_cluster_leader_changes_total`. A source that errors or panics is counted in
//! `kotoba_monitoring_collection_errors_total{source}`, its message is readable through
//! `collector.last_error()`, and the next tick runs as usual.
