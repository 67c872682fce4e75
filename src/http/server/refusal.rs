//! Why the server refuses or drops a client, and the series that count it.

use crate::metrics::Family;
use crate::{Counter, Gauge, MonitoringError, Registry};

/// Why the server refused or dropped a client; the `reason` label of
/// `kotoba_monitoring_http_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Refusal {
    /// The head or body broke a rule of HTTP or a size limit (`400`, `411`, `413`, `417`,
    /// `431`).
    BadRequest,
    /// The request did not arrive within the request timeout (`408`).
    RequestTimeout,
    /// The client did not read its response within the write timeout.
    WriteTimeout,
    /// An idle connection closed to make room for a new one.
    IdleEvicted,
    /// A new connection refused (`503`): every slot held by a busy connection.
    TooManyConnections,
    /// A connection still writing closed to make room in the output buffer.
    OutputEvicted,
    /// A request refused (`503`) because the workers are gone (the server is stopping).
    NoWorkers,
}

impl Refusal {
    pub(super) fn label(self) -> &'static str {
        match self {
            Refusal::BadRequest => "bad_request",
            Refusal::RequestTimeout => "request_timeout",
            Refusal::WriteTimeout => "write_timeout",
            Refusal::IdleEvicted => "idle_evicted",
            Refusal::TooManyConnections => "too_many_connections",
            Refusal::OutputEvicted => "output_evicted",
            Refusal::NoWorkers => "no_workers",
        }
    }
}

/// The server's own series: refusals by reason (each series made on its first refusal) and
/// open connections.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionMetrics {
    refusals: Family<Counter>,
    pub(super) open: Gauge,
}

impl ConnectionMetrics {
    /// Registers the series in `registry`.
    pub(crate) fn new(registry: &Registry) -> Result<Self, MonitoringError> {
        Ok(Self {
            refusals: registry.counter_family(
                "kotoba_monitoring_http_refusals_total",
                "Connections and requests the exporter refused or dropped to protect itself, by reason.",
            )?,
            open: registry.gauge(
                "kotoba_monitoring_http_connections",
                "Connections open to the exporter.",
                &[],
            )?,
        })
    }

    pub(super) fn refused(&self, why: Refusal) {
        if let Ok(c) = self.refusals.with_labels(&[("reason", why.label())]) {
            c.inc();
        }
    }
}
