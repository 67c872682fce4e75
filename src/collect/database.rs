//! Module implementing what a monitored database tells the library: [`MonitoredDatabase`] and
//! the kotoba-monitoring 0.1.21 API's metric structs it returns.

use std::time::{Duration, Instant};

use crate::MonitoringError;

/// A database the library can ask about itself. Implement it for your database handle. The
/// library calls it from its own threads (the collector, the health checks), and from yours only
/// when you ask for [`get_performance_metrics`](crate::MetricsCollector::get_performance_metrics);
/// a panic inside a method is caught and reported.
///
/// Only the three `get_*` methods are required. [`ping`](Self::ping) defaults to timing
/// [`get_database_metrics`](Self::get_database_metrics); override it with something cheaper
/// that still touches the storage (a point read) when your database has one.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::{DatabaseMetrics, MonitoredDatabase, MonitoringError, QueryMetrics,
///     StorageMetrics};
///
/// struct Store;
///
/// impl MonitoredDatabase for Store {
///     fn get_database_metrics(&self) -> Result<DatabaseMetrics, MonitoringError> {
///         Ok(DatabaseMetrics { active_connections: 1, total_connections: 1, uptime_seconds: 5,
///             version: "1.0.0".into() })
///     }
///     fn get_query_metrics(&self) -> Result<QueryMetrics, MonitoringError> {
///         Ok(QueryMetrics::default())
///     }
///     fn get_storage_metrics(&self) -> Result<StorageMetrics, MonitoringError> {
///         Ok(StorageMetrics::default())
///     }
/// }
///
/// assert!(Store.ping().is_ok());
/// ```
pub trait MonitoredDatabase: Send + Sync {
    /// Connections, uptime and version.
    ///
    /// # Errors
    ///
    /// Whatever stops the database from answering; the error is reported, never propagated.
    fn get_database_metrics(&self) -> Result<DatabaseMetrics, MonitoringError>;

    /// Query counts, rate and latency. A database that does not compute these returns
    /// [`MonitoringError::Unsupported`]: the library then computes them from its own
    /// instrumentation ([`QueryInstruments`](crate::QueryInstruments)) and counts no error.
    ///
    /// # Errors
    ///
    /// As [`get_database_metrics`](Self::get_database_metrics).
    fn get_query_metrics(&self) -> Result<QueryMetrics, MonitoringError>;

    /// Storage size, I/O and cache figures.
    ///
    /// # Errors
    ///
    /// As [`get_database_metrics`](Self::get_database_metrics).
    fn get_storage_metrics(&self) -> Result<StorageMetrics, MonitoringError>;

    /// A cheap round trip that proves the database answers; returns how long it took. The
    /// database health check calls it every `health_check_interval`.
    ///
    /// # Errors
    ///
    /// As [`get_database_metrics`](Self::get_database_metrics).
    fn ping(&self) -> Result<Duration, MonitoringError> {
        let started = Instant::now();
        self.get_database_metrics()?;
        Ok(started.elapsed())
    }
}

/// Connections, uptime and version of a database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseMetrics {
    /// Connections open now.
    pub active_connections: u64,
    /// Connections opened since the database started.
    pub total_connections: u64,
    /// Seconds since the database started.
    pub uptime_seconds: u64,
    /// The database's version.
    pub version: String,
}

/// Query counts, rate and latency of a database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryMetrics {
    /// Queries executed since the database started.
    pub total_queries: u64,
    /// Queries per second, recently.
    pub queries_per_second: f64,
    /// Mean query latency, in milliseconds.
    pub avg_query_latency_ms: f64,
    /// 95th-percentile query latency, in milliseconds.
    pub p95_query_latency_ms: f64,
    /// 99th-percentile query latency, in milliseconds.
    pub p99_query_latency_ms: f64,
    /// Queries slower than the slow-query threshold.
    pub slow_queries: u64,
    /// Queries that failed.
    pub failed_queries: u64,
}

/// Storage size, I/O and cache figures of a database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StorageMetrics {
    /// Bytes the database has allocated.
    pub total_size_bytes: u64,
    /// Bytes holding live data.
    pub used_size_bytes: u64,
    /// Read operations since the database started.
    pub read_operations: u64,
    /// Write operations since the database started.
    pub write_operations: u64,
    /// Bytes read per second, recently.
    pub read_bytes_per_sec: f64,
    /// Bytes written per second, recently.
    pub write_bytes_per_sec: f64,
    /// Share of reads served from cache, 0.0 to 1.0.
    pub cache_hit_rate: f64,
    /// Mean I/O latency, in milliseconds.
    pub io_latency_ms: f64,
}
