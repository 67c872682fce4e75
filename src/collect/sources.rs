//! Module implementing what the collector thread reads each `collection_interval` besides the
//! registries: the monitored database, the system (feature `system`) and the cluster (feature
//! `cluster`), published under the kotoba-monitoring 0.1.21 API's metric names. See [`Sources`] for
//! details.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::calls::{DatabaseCalls, NoAnswer};
use super::instrument::QueryInstruments;
use crate::metrics::Family;
use crate::worker::guarded;
use crate::{
    Counter, DatabaseMetrics, MonitoredDatabase, MonitoringError, QueryMetrics, Registry,
    StorageMetrics,
};

/// The sources and the state publishing them needs.
pub(crate) struct Sources {
    /// The database, called on its own thread with a timeout.
    pub(crate) database: Option<DatabaseCalls>,
    #[cfg(feature = "cluster")]
    pub(crate) cluster: RwLock<Option<Arc<dyn super::ClusterSource>>>,
    #[cfg(feature = "system")]
    pub(crate) system: Mutex<Option<super::system::SystemSampler>>,
    /// The last system reading, for `get_performance_metrics`.
    pub(crate) last_system: RwLock<Option<super::SystemMetrics>>,
    /// The disk whose usage `SystemMetrics` reports is the one holding this path.
    #[cfg_attr(not(feature = "system"), allow(dead_code))]
    data_path: std::path::PathBuf,
    /// The last value of each total a source reports, so counters advance by the difference.
    totals: Mutex<HashMap<String, f64>>,
    /// `kotoba_monitoring_collection_errors_total{source}`.
    errors: Family<Counter>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("database", &self.database.is_some())
            .finish_non_exhaustive()
    }
}

/// The database's three answers (each may have failed on its own) and the failures to report.
pub(crate) struct DatabaseReading {
    pub(crate) database: Option<DatabaseMetrics>,
    pub(crate) query: Option<QueryMetrics>,
    pub(crate) storage: Option<StorageMetrics>,
    pub(crate) errors: Vec<String>,
    /// The database did not answer in time (the reason is in `errors`).
    pub(crate) timed_out: bool,
}

/// Calls one database method, turning a panic into an error message.
fn ask<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, MonitoringError>,
) -> Result<T, MonitoringError> {
    guarded(what, f).unwrap_or_else(|message| {
        Err(MonitoringError::Source {
            source_name: "database",
            message,
        })
    })
}

impl Sources {
    pub(crate) fn new(
        registry: &Registry,
        database: Option<Arc<dyn MonitoredDatabase>>,
        database_timeout: std::time::Duration,
        data_path: &std::path::Path,
    ) -> Result<Self, MonitoringError> {
        Ok(Self {
            database: database.map(|db| DatabaseCalls::new(db, database_timeout)),
            data_path: data_path.to_owned(),
            #[cfg(feature = "cluster")]
            cluster: RwLock::new(None),
            #[cfg(feature = "system")]
            system: Mutex::new(None),
            last_system: RwLock::new(None),
            totals: Mutex::new(HashMap::new()),
            errors: registry.counter_family(
                "kotoba_monitoring_collection_errors_total",
                "Collections that failed or panicked, by source (database, system, cluster).",
            )?,
        })
    }

    /// Counts a failed collection from `source` and returns the message to report.
    fn failed(&self, source: &str, message: String) -> String {
        if let Ok(c) = self.errors.with_labels(&[("source", source)]) {
            c.inc();
        }
        format!("collecting from the {source} failed: {message}")
    }

    /// Asks the database, on its thread and within its timeout, each method guarded, filling
    /// the query figures from `instruments` where the database has none.
    pub(crate) fn read_database(&self, instruments: &QueryInstruments) -> Option<DatabaseReading> {
        let calls = self.database.as_ref()?;
        let answers = calls.call(|db, watch| {
            let database = watch.calling("get_database_metrics", || {
                ask("get_database_metrics", || db.get_database_metrics())
            });
            let query = watch.calling("get_query_metrics", || {
                ask("get_query_metrics", || db.get_query_metrics())
            });
            let storage = watch.calling("get_storage_metrics", || {
                ask("get_storage_metrics", || db.get_storage_metrics())
            });
            (database, query, storage)
        });
        let (database, query, storage) = match answers {
            Ok(answers) => answers,
            Err(NoAnswer(why)) => {
                return Some(DatabaseReading {
                    database: None,
                    query: complete_query_metrics(None, instruments),
                    storage: None,
                    errors: vec![why],
                    timed_out: true,
                })
            }
        };
        let mut errors = Vec::new();
        let mut keep = |what: &str, e: MonitoringError| {
            if !matches!(e, MonitoringError::Unsupported { .. }) {
                errors.push(format!("{what}: {e}"));
            }
        };
        let database = database.map_err(|e| keep("database metrics", e)).ok();
        let query = query.map_err(|e| keep("query metrics", e)).ok();
        let storage = storage.map_err(|e| keep("storage metrics", e)).ok();
        Some(DatabaseReading {
            database,
            query: complete_query_metrics(query, instruments),
            storage,
            errors,
            timed_out: false,
        })
    }

    /// One collection: reads every source and publishes it into `registry`. Returns the
    /// errors to report.
    pub(crate) fn collect(
        &self,
        registry: &Registry,
        instruments: &QueryInstruments,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(reading) = self.read_database(instruments) {
            for e in &reading.errors {
                errors.push(self.failed("database", e.clone()));
            }
            if let Err(e) = self.publish_database(registry, &reading, instruments) {
                errors.push(self.failed("database", e.to_string()));
            }
        }
        #[cfg(feature = "system")]
        if let Err(e) = self.collect_system(registry) {
            errors.push(self.failed("system", e));
        }
        #[cfg(feature = "cluster")]
        if let Err(e) = self.collect_cluster(registry) {
            errors.push(self.failed("cluster", e));
        }
        errors
    }

    /// Advances the counter `name{labels}` to a total the source reports. A total that went
    /// down (the source restarted) counts from zero again.
    fn total(
        &self,
        registry: &Registry,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) -> Result<(), MonitoringError> {
        let counter = registry.counter(name, help, labels)?;
        let key = format!("{name}{labels:?}");
        let mut totals = self.totals.lock();
        let last = totals.get(&key).copied().unwrap_or(0.0);
        let delta = if value >= last { value - last } else { value };
        totals.insert(key, value);
        if delta > 0.0 {
            counter.inc_by_f64(delta)?;
        }
        Ok(())
    }

    fn publish_database(
        &self,
        r: &Registry,
        reading: &DatabaseReading,
        instruments: &QueryInstruments,
    ) -> Result<(), MonitoringError> {
        if let Some(d) = &reading.database {
            r.gauge("kotoba_db_connections_active", "", &[])?
                .set(d.active_connections as f64);
            self.total(
                r,
                "kotoba_db_connections_total",
                "",
                &[],
                d.total_connections as f64,
            )?;
            r.gauge(
                "kotoba_db_uptime_seconds",
                "Seconds since the database started.",
                &[],
            )?
            .set(d.uptime_seconds as f64);
            // The version as a label of a constant 1, the Prometheus "info" idiom; a new
            // version starts a new series.
            r.gauge(
                "kotoba_db_info",
                "Always 1; the database's version is in the version label.",
                &[("version", &d.version)],
            )?
            .set(1.0);
        }
        // Timed queries count themselves, by operation, as they happen.
        if let Some(q) = &reading.query {
            instruments
                .unless_counting_queries(|| {
                    self.total(
                        r,
                        "kotoba_db_queries_total",
                        "",
                        &[],
                        q.total_queries as f64,
                    )
                })
                .transpose()?;
        }
        if let Some(s) = &reading.storage {
            r.gauge("kotoba_db_storage_size_bytes", "", &[])?
                .set(s.total_size_bytes as f64);
            r.gauge("kotoba_db_storage_used_bytes", "", &[])?
                .set(s.used_size_bytes as f64);
            let ops = "Storage operations since the database started, by kind (read, write).";
            self.total(
                r,
                "kotoba_db_storage_operations_total",
                ops,
                &[("kind", "read")],
                s.read_operations as f64,
            )?;
            self.total(
                r,
                "kotoba_db_storage_operations_total",
                ops,
                &[("kind", "write")],
                s.write_operations as f64,
            )?;
            let rate =
                "Bytes per second the database reads or writes, by kind, as it reports them.";
            r.gauge(
                "kotoba_db_storage_throughput_bytes_per_second",
                rate,
                &[("kind", "read")],
            )?
            .set(s.read_bytes_per_sec);
            r.gauge(
                "kotoba_db_storage_throughput_bytes_per_second",
                rate,
                &[("kind", "write")],
            )?
            .set(s.write_bytes_per_sec);
            r.gauge(
                "kotoba_db_cache_hit_ratio",
                "Share of reads served from the cache, 0 to 1.",
                &[],
            )?
            .set(s.cache_hit_rate);
            r.gauge(
                "kotoba_db_io_latency_seconds",
                "Mean storage I/O latency, as the database reports it.",
                &[],
            )?
            .set(s.io_latency_ms / 1e3);
        }
        Ok(())
    }

    #[cfg(feature = "system")]
    fn collect_system(&self, r: &Registry) -> Result<(), String> {
        let mut sampler = self.system.lock();
        if sampler.is_none() {
            *sampler = Some(super::system::SystemSampler::new(&self.data_path)?);
        }
        let Some(sampler) = sampler.as_mut() else {
            return Ok(());
        };
        let reading = guarded("the system sampler", || sampler.sample())?;
        let m = &reading.metrics;
        let publish = || -> Result<(), MonitoringError> {
            r.gauge("system_cpu_usage_percent", "", &[])?
                .set(m.cpu_usage_percent);
            r.gauge("system_memory_usage_bytes", "", &[])?
                .set(m.memory_usage_bytes as f64);
            r.gauge("system_memory_usage_percent", "", &[])?
                .set(m.memory_usage_percent);
            for d in &reading.disks {
                let labels = [("mount_point", d.mount_point.as_str())];
                r.gauge("system_disk_usage_bytes", "", &labels)?
                    .set(d.used_bytes as f64);
                r.gauge("system_disk_usage_percent", "", &labels)?
                    .set(d.used_percent);
            }
            for n in &reading.networks {
                let labels = [("interface", n.interface.as_str())];
                self.total(
                    r,
                    "system_network_receive_bytes_total",
                    "Bytes received, by interface.",
                    &labels,
                    n.received as f64,
                )?;
                self.total(
                    r,
                    "system_network_transmit_bytes_total",
                    "Bytes sent, by interface.",
                    &labels,
                    n.transmitted as f64,
                )?;
            }
            self.total(
                r,
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                &[],
                m.process_cpu_seconds,
            )?;
            r.gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                &[],
            )?
            .set(m.process_resident_memory_bytes as f64);
            r.gauge(
                "process_threads",
                "Number of OS threads in the process.",
                &[],
            )?
            .set(m.process_threads as f64);
            r.gauge("process_open_fds", "Number of open file descriptors.", &[])?
                .set(m.process_open_fds as f64);
            r.gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                &[],
            )?
            .set(m.process_start_time_seconds as f64);
            Ok(())
        };
        publish().map_err(|e| e.to_string())?;
        *self.last_system.write() = Some(reading.metrics);
        Ok(())
    }

    #[cfg(feature = "cluster")]
    fn collect_cluster(&self, r: &Registry) -> Result<(), String> {
        let Some(source) = self.cluster.read().clone() else {
            return Ok(());
        };
        let m = guarded("the cluster source", || source.cluster_metrics())?
            .map_err(|e| e.to_string())?;
        let publish = || -> Result<(), MonitoringError> {
            r.gauge("kotoba_cluster_nodes_total", "", &[])?
                .set(m.nodes_total as f64);
            r.gauge("kotoba_cluster_nodes_active", "", &[])?
                .set(m.nodes_active as f64);
            self.total(
                r,
                "kotoba_cluster_leader_changes_total",
                "",
                &[],
                m.leader_changes_total as f64,
            )
        };
        publish().map_err(|e| e.to_string())
    }
}

/// The database's query figures, or, where it has none (it failed, said
/// [`MonitoringError::Unsupported`], or answered all zero), the instrumentation's when that
/// has recorded anything; zero latency fields of a database that counts queries but does not
/// time them are taken from the instrumentation too.
fn complete_query_metrics(
    from_db: Option<QueryMetrics>,
    instruments: &QueryInstruments,
) -> Option<QueryMetrics> {
    let measured = instruments.has_data().then(|| instruments.query_metrics());
    match (from_db, measured) {
        (Some(q), Some(m)) if q == QueryMetrics::default() => Some(m),
        (Some(mut q), Some(m)) => {
            if q.avg_query_latency_ms == 0.0
                && q.p95_query_latency_ms == 0.0
                && q.p99_query_latency_ms == 0.0
            {
                q.avg_query_latency_ms = m.avg_query_latency_ms;
                q.p95_query_latency_ms = m.p95_query_latency_ms;
                q.p99_query_latency_ms = m.p99_query_latency_ms;
            }
            Some(q)
        }
        (q, m) => q.or(m),
    }
}
