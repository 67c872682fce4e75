//! Module implementing what a cluster tells the library (feature `cluster`):
//! [`ClusterSource`] and [`ClusterMetrics`].

use crate::MonitoringError;

/// Where the collector reads the cluster's shape from, every `collection_interval`. Attach one
/// with [`MetricsCollector::set_cluster_source`](crate::MetricsCollector::set_cluster_source).
/// Called on the collector thread; a panic is caught and reported.
pub trait ClusterSource: Send + Sync {
    /// The cluster now.
    ///
    /// # Errors
    ///
    /// Whatever stops the source from answering; it is counted and reported, and the next
    /// collection asks again.
    fn cluster_metrics(&self) -> Result<ClusterMetrics, MonitoringError>;
}

/// The cluster's shape, published as `kotoba_cluster_nodes_total`,
/// `kotoba_cluster_nodes_active` and `kotoba_cluster_leader_changes_total`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterMetrics {
    /// Nodes that are members of the cluster.
    pub nodes_total: u64,
    /// Members that are up and reachable.
    pub nodes_active: u64,
    /// Leader elections since the source started counting.
    pub leader_changes_total: u64,
}
