//! Module implementing delivery to one channel: its own thread and queue, a rate limit,
//! retries with exponential backoff and jitter (honouring `Retry-After`), a timeout per
//! attempt and a budget per notification, and what it counts. See [`ChannelWorker`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use time::OffsetDateTime;

use super::dispatch::Notification;
use super::queue::next_or_stop;
use crate::config::Delivery;
use crate::metrics::{Counter, Gauge, Histogram, Registry};
use crate::MonitoringError;

/// Why an attempt failed, and whether another may succeed.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) retry: bool,
    /// The receiver's `Retry-After`.
    pub(crate) retry_after: Option<Duration>,
}

impl Failure {
    pub(crate) fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: false,
            retry_after: None,
        }
    }

    pub(crate) fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: true,
            retry_after: None,
        }
    }
}

/// One channel's way of sending a notification: one attempt, within `timeout`.
pub(crate) trait Deliver: Send {
    fn send(&mut self, notification: &Notification, timeout: Duration) -> Result<(), Failure>;
}

/// What is known of a channel's deliveries, for
/// [`Monitor::notification_channels`](crate::Monitor::notification_channels) and `/alerts`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelStatus {
    /// The channel's name.
    pub name: String,
    /// Its type (`slack`, `webhook`, `pagerduty`, `email`, `alertmanager`).
    pub kind: &'static str,
    /// Notifications delivered.
    pub delivered: u64,
    /// Notifications given up on (after retries, or refused by the receiver).
    pub failed: u64,
    /// Notifications held back by the rate limit or dropped from a full queue.
    pub held: u64,
    /// Notifications waiting.
    pub queued: usize,
    /// When the last delivery succeeded.
    pub last_success: Option<OffsetDateTime>,
    /// The last failure, with its time; secrets are never in it.
    pub last_error: Option<(OffsetDateTime, String)>,
}

impl ChannelStatus {
    /// As `/alerts` lists it.
    pub fn json(&self) -> serde_json::Value {
        let time = |t: &OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        serde_json::json!({
            "name": self.name,
            "type": self.kind,
            "delivered": self.delivered,
            "failed": self.failed,
            "held": self.held,
            "queued": self.queued,
            "lastSuccess": self.last_success.as_ref().map(time),
            "lastError": self.last_error.as_ref().map(|(at, message)| serde_json::json!({
                "time": time(at),
                "message": message,
            })),
        })
    }
}

/// A channel's self-metrics.
#[derive(Debug, Clone)]
pub(crate) struct ChannelMetrics {
    success: Counter,
    failure: Counter,
    rate_limited: Counter,
    dropped: Counter,
    retries: Counter,
    latency: Histogram,
    queue: Gauge,
}

impl ChannelMetrics {
    pub(crate) fn new(registry: &Registry, channel: &str) -> Result<Self, MonitoringError> {
        let total = registry.counter_family(
            "kotoba_monitoring_notifications_total",
            "Notifications by channel and result: success, failure (given up), rate_limited (held for the group's next look), dropped (queue full).",
        )?;
        let result = |r: &str| total.with_labels(&[("channel", channel), ("result", r)]);
        Ok(Self {
            success: result("success")?,
            failure: result("failure")?,
            rate_limited: result("rate_limited")?,
            dropped: result("dropped")?,
            retries: registry
                .counter_family(
                    "kotoba_monitoring_notification_retries_total",
                    "Attempts after a notification's first, by channel.",
                )?
                .with_labels(&[("channel", channel)])?,
            latency: registry
                .histogram_family(
                    "kotoba_monitoring_notification_latency_seconds",
                    "From a delivery's first attempt to its success or giving up, retries included (an Alertmanager push: its one post), by channel.",
                )?
                .with_labels(&[("channel", channel)])?,
            queue: registry
                .gauge_family(
                    "kotoba_monitoring_notification_queue_depth",
                    "Notifications waiting for their channel, by channel.",
                )?
                .with_labels(&[("channel", channel)])?,
        })
    }

    pub(crate) fn observe(&self, took: Duration) {
        self.latency.observe(took.as_secs_f64());
    }

    /// Counts a delivery's outcome, and notes it in `status`.
    pub(crate) fn outcome(&self, status: &Mutex<ChannelStatus>, result: Result<(), String>) {
        let now = OffsetDateTime::now_utc();
        let mut status = status.lock();
        match result {
            Ok(()) => {
                self.success.inc();
                status.delivered += 1;
                status.last_success = Some(now);
            }
            Err(message) => {
                self.failure.inc();
                status.failed += 1;
                status.last_error = Some((now, message));
            }
        }
    }

    /// Notes the channel's queue as it is now, `queued` waiting, after `dropped` were pushed
    /// out of it when full: in the counters, the queue-depth gauge and `status`.
    pub(crate) fn queue(&self, status: &Mutex<ChannelStatus>, dropped: u64, queued: usize) {
        self.dropped.inc_by(dropped);
        self.queue.set(queued as f64);
        let mut status = status.lock();
        status.held += dropped;
        status.queued = queued;
    }
}

/// A delivery's outcome, handed back to the dispatcher.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) notification: Notification,
    pub(crate) ok: bool,
}

/// At most `count` notifications per `per`.
#[derive(Debug)]
struct RateLimit {
    count: usize,
    per: Duration,
    sent: VecDeque<Instant>,
}

impl RateLimit {
    fn admit(&mut self, now: Instant) -> bool {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.per)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.count {
            return false;
        }
        self.sent.push_back(now);
        true
    }
}

/// Backoff as Alertmanager's (`cenkalti/backoff` defaults): 500 ms, then ×1.5 each time, up
/// to 60 s, each wait randomised by ±50%.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            next: Duration::from_millis(500),
            seed: seed | 1,
        }
    }

    pub(crate) fn wait(&mut self) -> Duration {
        // xorshift64: jitter needs spread, not secrecy.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let unit = (self.seed >> 11) as f64 / (1u64 << 53) as f64;
        let wait = self.next.mul_f64(0.5 + unit);
        self.next = self.next.mul_f64(1.5).min(Duration::from_secs(60));
        wait
    }
}

/// One channel's thread: takes notifications off its queue and delivers each.
pub(crate) struct ChannelWorker {
    pub(crate) status: Arc<Mutex<ChannelStatus>>,
    pub(crate) metrics: ChannelMetrics,
}

impl ChannelWorker {
    /// The loop of the channel's thread, until `stop` says so: each notification sent with
    /// `sender`, its outcome handed to `outcomes`.
    pub(crate) fn run(
        &self,
        mut sender: Box<dyn Deliver>,
        delivery: &Delivery,
        jobs: &Receiver<Notification>,
        stop: &Receiver<()>,
        outcomes: &Sender<Outcome>,
    ) {
        let mut limit = delivery.rate_limit.map(|(count, per)| RateLimit {
            count: count as usize,
            per,
            sent: VecDeque::new(),
        });
        loop {
            let Some(notification) = next_or_stop(jobs, stop) else {
                return;
            };
            self.metrics.queue(&self.status, 0, jobs.len());
            let began = Instant::now();
            if limit.as_mut().is_some_and(|l| !l.admit(began)) {
                self.metrics.rate_limited.inc();
                self.status.lock().held += 1;
                let _ = outcomes.send(Outcome {
                    notification,
                    ok: false,
                });
                continue;
            }
            let result = self.attempts(sender.as_mut(), &notification, delivery, stop);
            self.metrics.observe(began.elapsed());
            let ok = result.is_ok();
            self.metrics.outcome(&self.status, result);
            self.metrics.queue(&self.status, 0, jobs.len());
            let _ = outcomes.send(Outcome { notification, ok });
        }
    }

    /// Attempts until one succeeds, a failure is permanent, the budget is spent or `stop`
    /// says so; `Err` with the last failure's text.
    fn attempts(
        &self,
        sender: &mut dyn Deliver,
        notification: &Notification,
        delivery: &Delivery,
        stop: &Receiver<()>,
    ) -> Result<(), String> {
        let began = Instant::now();
        let mut backoff = Backoff::new(nanos_now() ^ notification.flush.rotate_left(17));
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                self.metrics.retries.inc();
            }
            let failure = match super::contain("a notification channel", || {
                sender.send(notification, delivery.timeout)
            }) {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            let said = format!("attempt {attempt}: {}", failure.message);
            if !failure.retry {
                return Err(said);
            }
            let wait = backoff.wait().max(failure.retry_after.unwrap_or_default());
            if began.elapsed() + wait > delivery.retry_budget {
                return Err(format!(
                    "{said}; gave up: the next attempt would start after the retry budget of {:?}",
                    delivery.retry_budget
                ));
            }
            if !matches!(
                stop.recv_timeout(wait),
                Err(crossbeam_channel::RecvTimeoutError::Timeout)
            ) {
                return Err(format!("{said}; stopped before retrying"));
            }
        }
    }
}

fn nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(42);
        let waits: Vec<Duration> = (0..30).map(|_| b.wait()).collect();
        assert!(waits[0] >= Duration::from_millis(250) && waits[0] <= Duration::from_millis(750));
        assert!(waits[4] > waits[0]);
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(90)));
        assert_ne!(waits[20], waits[21], "jittered");
    }

    #[test]
    fn the_rate_limit_admits_count_per_period() {
        let mut limit = RateLimit {
            count: 2,
            per: Duration::from_secs(60),
            sent: VecDeque::new(),
        };
        let t = Instant::now();
        assert!(limit.admit(t));
        assert!(limit.admit(t));
        assert!(!limit.admit(t + Duration::from_secs(59)));
        assert!(limit.admit(t + Duration::from_secs(60)));
    }
}
