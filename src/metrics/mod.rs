//! Metric families and the handles that record into them.
//!
//! - `name`: the Prometheus naming rules.
//! - `labels`: [`LabelSet`], a series' identity within its family.
//! - `counter`, `gauge`, `histogram`: the handles; `shard` picks a recording thread's shard.
//! - `histogram_opts`, `snapshot`, `timer`: a histogram's options, read-out and timer guard.
//! - `family`, `registry`: [`Family`] and [`Registry`].
//! - `ingest`: the bounded queue and thread behind `record_metric`.

mod counter;
mod family;
mod gauge;
mod histogram;
mod histogram_opts;
pub(crate) mod ingest;
mod labels;
mod name;
mod registry;
mod shard;
mod snapshot;
mod timer;

pub use counter::Counter;
pub(crate) use family::Series;
pub use family::{Family, MetricKind, MetricType};
pub use gauge::Gauge;
pub use histogram::Histogram;
pub use histogram_opts::HistogramOpts;
pub use labels::LabelSet;
pub(crate) use name::validate_metric_name;
pub use registry::{Registry, RegistryOptions};
pub use snapshot::HistogramSnapshot;
pub use timer::HistogramTimer;
