//! Module implementing the catalog of metric names the library knows: the kotoba-monitoring 0.1.21
//! API's database, system and cluster metrics, with their type and a real description. See
//! [`known`].

use super::MetricType;

/// The HELP text of a family registered with an empty help and a name not in the catalog.
pub(crate) const NO_HELP: &str = "No description was registered for this metric.";

/// One catalog entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    pub(crate) kind: MetricType,
    pub(crate) help: &'static str,
}

const CATALOG: &[(&str, MetricType, &str)] = &[
    (
        "kotoba_db_connections_active",
        MetricType::Gauge,
        "Database connections open now.",
    ),
    (
        "kotoba_db_connections_total",
        MetricType::Counter,
        "Database connections opened since the database started.",
    ),
    (
        "kotoba_db_queries_total",
        MetricType::Counter,
        "Queries the database has executed since it started.",
    ),
    (
        "kotoba_db_query_latency_seconds",
        MetricType::Histogram,
        "Database query latency in seconds.",
    ),
    (
        "kotoba_db_storage_size_bytes",
        MetricType::Gauge,
        "Storage the database has allocated, in bytes.",
    ),
    (
        "kotoba_db_storage_used_bytes",
        MetricType::Gauge,
        "Storage holding live data, in bytes.",
    ),
    (
        "system_cpu_usage_percent",
        MetricType::Gauge,
        "CPU usage of the machine, in percent of all cores.",
    ),
    (
        "system_memory_usage_bytes",
        MetricType::Gauge,
        "Memory in use on the machine, in bytes.",
    ),
    (
        "system_memory_usage_percent",
        MetricType::Gauge,
        "Memory in use on the machine, in percent of the total.",
    ),
    (
        "system_disk_usage_bytes",
        MetricType::Gauge,
        "Disk space in use, in bytes.",
    ),
    (
        "system_disk_usage_percent",
        MetricType::Gauge,
        "Disk space in use, in percent of the disk's size.",
    ),
    (
        "kotoba_cluster_nodes_total",
        MetricType::Gauge,
        "Nodes that are members of the cluster.",
    ),
    (
        "kotoba_cluster_nodes_active",
        MetricType::Gauge,
        "Cluster nodes that are up and reachable.",
    ),
    (
        "kotoba_cluster_leader_changes_total",
        MetricType::Counter,
        "Times the cluster has elected a new leader.",
    ),
];

/// The families the library makes for itself besides the catalog's: its own bookkeeping and
/// the exporter's, the health checker's, and what the collector publishes for the database
/// and the process. A fixed set, so the family cap never refuses them (see
/// [`is_library_family`]).
const LIBRARY_FAMILIES: &[&str] = &[
    "health_check_duration_seconds",
    "health_check_status",
    "kotoba_db_cache_hit_ratio",
    "kotoba_db_info",
    "kotoba_db_io_latency_seconds",
    "kotoba_db_query_errors_total",
    "kotoba_db_slow_queries_total",
    "kotoba_db_slow_query_log_dropped_total",
    "kotoba_db_storage_operations_total",
    "kotoba_db_storage_throughput_bytes_per_second",
    "kotoba_db_uptime_seconds",
    "kotoba_monitoring_collection_errors_total",
    "kotoba_monitoring_encode_errors_total",
    "kotoba_monitoring_exported_series",
    "kotoba_monitoring_families_rejected_total",
    "kotoba_monitoring_http_connections",
    "kotoba_monitoring_http_refusals_total",
    "kotoba_monitoring_http_requests_total",
    "kotoba_monitoring_samples_dropped_total",
    "kotoba_monitoring_scrape_duration_seconds",
    "kotoba_monitoring_scrapes_total",
    "kotoba_monitoring_series_rejected_total",
    "kotoba_monitoring_values_clamped_total",
    "kotoba_monitoring_values_rejected_total",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
    "system_network_receive_bytes_total",
    "system_network_transmit_bytes_total",
];

/// Whether the library itself makes a family of `name` (the catalog's names and
/// [`LIBRARY_FAMILIES`]): a bounded set, which the family cap leaves alone so that a registry
/// full of a user's names still collects, checks health and serves.
pub(crate) fn is_library_family(name: &str) -> bool {
    known(name).is_some() || LIBRARY_FAMILIES.contains(&name)
}

/// The type and description of `name`, when the library knows it.
pub(crate) fn known(name: &str) -> Option<Known> {
    CATALOG
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|&(_, kind, help)| Known { kind, help })
}

/// `help`, or the catalog's description when `help` is empty, or [`NO_HELP`].
pub(crate) fn help_for<'a>(name: &str, help: &'a str) -> &'a str {
    if !help.trim().is_empty() {
        return help;
    }
    known(name).map_or(NO_HELP, |k| k.help)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::name::validate_metric_name;

    #[test]
    fn entries_are_valid_unique_and_follow_the_conventions() {
        let mut seen = std::collections::HashSet::new();
        for (name, kind, help) in CATALOG {
            assert!(validate_metric_name(name).is_ok(), "{name}");
            assert!(seen.insert(name), "{name} twice");
            assert!(help.ends_with('.'), "{name}: {help}");
            if *kind == MetricType::Histogram {
                assert!(name.ends_with("_seconds"), "{name}");
            }
        }
    }

    #[test]
    fn help_prefers_the_callers_text() {
        assert_eq!(help_for("kotoba_db_queries_total", "Mine."), "Mine.");
        assert_eq!(
            help_for("kotoba_db_queries_total", ""),
            "Queries the database has executed since it started."
        );
        assert_eq!(help_for("my_metric", " "), NO_HELP);
    }
}
