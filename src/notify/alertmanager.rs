//! Module implementing the Alertmanager channel: alerts pushed to `POST /api/v2/alerts` as
//! Prometheus's notifier pushes them, in batches of at most 256, from a queue of 10,000 that
//! drops its oldest when full. A failed push is not retried: firing alerts are sent again
//! every resend delay anyway. See [`AlertmanagerPusher`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use super::alert::PostableAlert;
use super::delivery::{ChannelMetrics, ChannelStatus};
use super::queue::next_or_stop;
use crate::config::without_userinfo;

/// Prometheus's `maxBatchSize`.
pub(crate) const BATCH: usize = 256;
/// Prometheus's default `--alertmanager.notification-queue-capacity`.
pub(crate) const QUEUE: usize = 10_000;

/// Pushes alerts to one Alertmanager.
pub(crate) struct AlertmanagerPusher {
    /// The Alertmanager's base URL.
    pub(crate) url: String,
    pub(crate) timeout: Duration,
    pub(crate) status: Arc<Mutex<ChannelStatus>>,
    pub(crate) metrics: ChannelMetrics,
}

impl AlertmanagerPusher {
    /// The loop of the pusher's thread, until `stop` says so.
    pub(crate) fn run(&self, alerts: &Receiver<PostableAlert>, stop: &Receiver<()>) {
        loop {
            let Some(first) = next_or_stop(alerts, stop) else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match alerts.try_recv() {
                    Ok(alert) => batch.push(alert),
                    Err(_) => break,
                }
            }
            self.push(&batch);
            self.metrics.queue(&self.status, 0, alerts.len());
        }
    }

    /// Pushes one batch.
    pub(crate) fn push(&self, batch: &[PostableAlert]) {
        let body: Vec<serde_json::Value> = batch.iter().map(PostableAlert::postable_json).collect();
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let began = Instant::now();
        let result = super::http::post_json(
            &format!("{}/api/v2/alerts", self.url),
            &format!("Alertmanager {}", without_userinfo(&self.url)),
            &[],
            &body,
            self.timeout,
        );
        self.metrics.observe(began.elapsed());
        self.metrics
            .outcome(&self.status, result.map(drop).map_err(|f| f.message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_not_shown() {
        assert_eq!(
            without_userinfo("https://am:s3cret@am.example:9093/prefix"),
            "https://am.example:9093/prefix"
        );
        assert_eq!(without_userinfo("http://am:9093"), "http://am:9093");
    }
}
