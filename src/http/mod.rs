//! The HTTP side: everything Prometheus, Kubernetes and load balancers see.
//!
//! - `server`: the event loop that does all socket I/O and the worker pool that answers
//!   complete requests; `request`, `response`: one request and one response on the wire.
//! - `exposition`: our registries written by prometheus-client's encoders, in OpenMetrics or
//!   Prometheus text.
//! - `health`: the `/health` JSON and the `/livez`, `/readyz` probes.
//! - `auth`: the optional bearer or basic credentials.
//! - `routes`: which path gets what, and the exporter's own metrics.

mod api;
mod auth;
mod exposition;
mod health;
mod request;
mod response;
mod routes;
mod server;

pub(crate) use auth::Authorizer;
pub(crate) use exposition::Exposition;
pub use exposition::ExpositionFormat;

pub(crate) use routes::{is_builtin_path, Routes};
pub(crate) use server::{bind, ConnectionMetrics, Limits, Server};
