//! The reference: every metric name, configuration key, endpoint, channel setting and limit,
//! one module per subject. The README tours what the crate does; these pages hold the rest.
//! They contain documentation only.

pub mod alerting;
pub mod anomaly;
pub mod collection;
pub mod configuration;
pub mod dashboards;
pub mod durability;
pub mod endpoint;
pub mod exemplars;
pub mod health;
pub mod limits;
pub mod notifications;
pub mod promql;
pub mod scaling_out;
