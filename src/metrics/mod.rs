//! Metric families and the handles that record into them.
//!
//! - `name`: the Prometheus naming rules; `catalog`: the metric names the library describes.
//! - `labels`: [`LabelSet`], a series' identity within its family.
//! - `counter`, `gauge`, `histogram`: the handles; `shard` picks a recording thread's shard.
//! - `histogram_opts`, `snapshot`, `timer`: a histogram's options, read-out and timer guard.
//! - `family`, `registry`: [`Family`] and [`Registry`].

mod catalog;
mod counter;
pub(crate) mod exemplar;
mod family;
mod gauge;
mod histogram;
mod histogram_opts;
mod labels;
pub(crate) mod name;
mod registry;
pub(crate) mod shard;
mod snapshot;
mod timer;

pub use counter::Counter;
pub use exemplar::Exemplar;
pub use family::{Family, MetricKind, MetricType};
pub(crate) use family::{FamilyCore, FamilyKind, Series};
pub use gauge::Gauge;
pub(crate) use histogram::Cells;
pub use histogram::Histogram;
pub use histogram_opts::{HistogramOpts, LATENCY_BUCKETS};
pub(crate) use labels::Labels;
pub(crate) use labels::{escape_count, escape_into};
pub use labels::{LabelIter, LabelSet};
pub(crate) use name::{
    split_unit_suffix, validate_metric_name, window_family_name, WINDOW_QUANTILES,
};
pub(crate) use registry::{exported_names, FamilyShape};
pub use registry::{Registry, RegistryOptions};
pub use snapshot::HistogramSnapshot;
pub use timer::HistogramTimer;

/// The bits of Prometheus's stale marker, a NaN that no arithmetic produces: what the history
/// stores when a series goes away, and what queries and rules treat as no sample.
pub(crate) const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
