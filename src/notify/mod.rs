//! Notifications: the alerts the rules send, routed, grouped and delivered to Slack,
//! webhooks, PagerDuty, email and Alertmanagers, on threads that never slow evaluation.
//!
//! - `alert`: an alert as Prometheus posts it, Alertmanager's fingerprint and time format;
//!   `matcher`: label matchers; `dispatch`: Alertmanager's dispatcher (routes, groups, the
//!   notification log, inhibition, flap holds); `queue`: a queue that drops its oldest.
//! - `delivery`: a channel's thread with its rate limit and retries; `http`: posting JSON;
//!   `text`: a notification's words; one file per channel: `webhook`, `slack`, `pagerduty`,
//!   `email`, `alertmanager`.
//!
//! The `kotoba-alert` thread hands over, after each evaluation, what Prometheus would send an
//! Alertmanager (new states at once, firing alerts again every `resend_delay`). The
//! `kotoba-notify` thread takes them in, pushes them on to Alertmanager channels, and flushes
//! groups to the routed channels' threads, each with its own queue.

mod alert;
mod alertmanager;
mod delivery;
mod dispatch;
mod email;
mod http;
mod pagerduty;
mod queue;
mod slack;
mod text;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

pub(crate) use alert::PostableAlert;
pub use delivery::ChannelStatus;

use crate::config::{AlertingConfig, Channel, Delivery};
use crate::metrics::{Counter, Registry};
use crate::worker::Worker;
use crate::MonitoringError;
use delivery::{ChannelMetrics, ChannelWorker, Outcome};
use dispatch::{ChannelInfo, Dispatcher, Notification};
use queue::DropOldest;

/// Batches of alerts from the evaluator that may wait for the notifier.
const INPUT_QUEUE: usize = 1024;
/// Notifications that may wait for one channel.
const CHANNEL_QUEUE: usize = 1024;

/// Where the evaluator hands alerts over: a queue that never makes it wait.
#[derive(Debug, Clone)]
pub(crate) struct NotifySink {
    queue: DropOldest<Vec<PostableAlert>>,
    dropped: Counter,
}

impl NotifySink {
    /// Hands `alerts` over; when the queue is full the oldest batch is dropped and counted.
    pub(crate) fn send(&self, alerts: Vec<PostableAlert>) {
        if alerts.is_empty() {
            return;
        }
        let dropped = self.queue.push(alerts);
        self.dropped.inc_by(dropped.len() as u64);
    }
}

/// Runs `f`, containing a panic as a failure that is not retried.
pub(crate) fn contain(
    what: &str,
    f: impl FnOnce() -> Result<(), delivery::Failure>,
) -> Result<(), delivery::Failure> {
    crate::worker::guarded(what, f)
        .unwrap_or_else(|panicked| Err(delivery::Failure::permanent(panicked)))
}

/// A configured channel, ready to start.
struct ChannelSlot {
    channel: Channel,
    delivery: Delivery,
    status: Arc<Mutex<ChannelStatus>>,
    metrics: ChannelMetrics,
}

/// The running threads, and what stops them.
struct Running {
    workers: Vec<Worker>,
    stop: Sender<()>,
}

/// The notification side: the dispatcher and every channel's thread.
pub(crate) struct Notifier {
    sink: NotifySink,
    input: Receiver<Vec<PostableAlert>>,
    slots: Vec<ChannelSlot>,
    route: crate::config::RouteConfig,
    inhibit: Vec<crate::config::InhibitRuleConfig>,
    external_url: String,
    /// The storage folder, where the notification log is kept across restarts.
    state_folder: Option<std::path::PathBuf>,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("channels", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// The notifier of `config`'s channels, its self-metrics in `registry`; `None` when no
    /// channel is configured. The configuration was validated.
    pub(crate) fn new(
        config: &AlertingConfig,
        registry: &Registry,
        state_folder: Option<std::path::PathBuf>,
    ) -> Result<Option<Self>, MonitoringError> {
        if config.notifications.is_empty() {
            return Ok(None);
        }
        let mut slots = Vec::new();
        for (i, notification) in config.notifications.iter().enumerate() {
            let at = format!("alerting_config.notifications[{i}].config");
            let channel = notification.parse(&at)?;
            let delivery = notification.parse_delivery(&at)?;
            let status = ChannelStatus {
                name: delivery.name.clone(),
                kind: notification.notification_type.as_str(),
                delivered: 0,
                failed: 0,
                held: 0,
                queued: 0,
                last_success: None,
                last_error: None,
            };
            slots.push(ChannelSlot {
                metrics: ChannelMetrics::new(registry, &delivery.name)?,
                channel,
                delivery,
                status: Arc::new(Mutex::new(status)),
            });
        }
        let (queue, input) = DropOldest::new(INPUT_QUEUE);
        let dropped = registry.counter(
            "kotoba_monitoring_notification_batches_dropped_total",
            "Batches of alerts from the evaluator dropped because the notifier's queue was full (the oldest go first).",
            &[],
        )?;
        Ok(Some(Self {
            sink: NotifySink { queue, dropped },
            input,
            slots,
            route: config.route.clone(),
            inhibit: config.inhibit_rules.clone(),
            external_url: config.external_url.clone(),
            state_folder,
            running: Mutex::new(None),
        }))
    }

    /// Where the evaluator hands alerts over.
    pub(crate) fn sink(&self) -> NotifySink {
        self.sink.clone()
    }

    /// The routed channels (all but Alertmanagers), by their index in `slots`.
    fn routed(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|i| !matches!(self.slots[*i].channel, Channel::Alertmanager(_)))
            .collect()
    }

    fn dispatcher(&self) -> Result<Dispatcher, String> {
        let channels = self
            .routed()
            .into_iter()
            .map(|i| {
                let slot = &self.slots[i];
                ChannelInfo {
                    name: slot.delivery.name.clone(),
                    send_resolved: match &slot.channel {
                        Channel::Email(c) => c.send_resolved,
                        Channel::Slack(c) => c.send_resolved,
                        Channel::Webhook(c) => c.send_resolved,
                        Channel::PagerDuty(c) => c.send_resolved,
                        _ => false,
                    },
                }
            })
            .collect();
        Dispatcher::new(&self.route, &self.inhibit, channels)
    }

    /// What each channel has delivered, failed and holds, and its last error.
    pub(crate) fn status(&self) -> Vec<ChannelStatus> {
        self.slots.iter().map(|s| s.status.lock().clone()).collect()
    }

    /// Starts the `kotoba-notify` thread and one thread per channel (per Alertmanager).
    pub(crate) fn start(&self) -> Result<(), MonitoringError> {
        let mut running = self.running.lock();
        if running.is_some() {
            return Err(MonitoringError::AlreadyStarted {
                component: "notifications",
            });
        }
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let (outcomes_tx, outcomes) = crossbeam_channel::unbounded::<Outcome>();
        let mut workers = Vec::new();
        let mut routed_queues = Vec::new();
        let mut pushers = Vec::new();
        let started = (|| -> Result<(), MonitoringError> {
            for slot in &self.slots {
                match &slot.channel {
                    Channel::Alertmanager(am) => {
                        for url in &am.urls {
                            let (queue, alerts) = DropOldest::new(alertmanager::QUEUE);
                            let pusher = alertmanager::AlertmanagerPusher {
                                url: url.clone(),
                                timeout: slot.delivery.timeout,
                                status: slot.status.clone(),
                                metrics: slot.metrics.clone(),
                            };
                            let stop = stop.clone();
                            workers.push(Worker::spawn("kotoba-notify-am", move || {
                                pusher.run(&alerts, &stop);
                            })?);
                            pushers.push((queue, slot.metrics.clone(), slot.status.clone()));
                        }
                    }
                    channel => {
                        let (queue, jobs) = DropOldest::new(CHANNEL_QUEUE);
                        let worker = ChannelWorker {
                            status: slot.status.clone(),
                            metrics: slot.metrics.clone(),
                        };
                        let sender = self.sender(channel);
                        let delivery = slot.delivery.clone();
                        let (stop, outcomes) = (stop.clone(), outcomes_tx.clone());
                        let name = match channel {
                            Channel::Email(_) => "kotoba-notify-email",
                            Channel::Slack(_) => "kotoba-notify-slack",
                            Channel::PagerDuty(_) => "kotoba-notify-pagerduty",
                            _ => "kotoba-notify-webhook",
                        };
                        workers.push(Worker::spawn(name, move || {
                            worker.run(sender, &delivery, &jobs, &stop, &outcomes);
                        })?);
                        routed_queues.push(queue);
                    }
                }
            }
            let mut dispatcher = self
                .dispatcher()
                .map_err(|why| MonitoringError::config("alerting_config.route", why))?;
            if let Some(folder) = &self.state_folder {
                if let Some(bytes) = crate::storage::read_state(folder, NOTIFICATION_LOG)? {
                    let saved = serde_json::from_slice(&bytes).map_err(|e| {
                        crate::storage::error(
                            &folder.join("state").join(NOTIFICATION_LOG),
                            format!("is not a notification log this monitor wrote ({e}); remove it to start without one"),
                            None,
                        )
                    })?;
                    dispatcher.restore(saved, now_ms());
                }
            }
            let state_folder = self.state_folder.clone();
            let drain = self
                .slots
                .iter()
                .map(|slot| slot.delivery.timeout)
                .max()
                .unwrap_or_default();
            let input = self.input.clone();
            let stop = stop.clone();
            let held: Vec<_> = self
                .routed()
                .into_iter()
                .map(|i| (self.slots[i].metrics.clone(), self.slots[i].status.clone()))
                .collect();
            workers.push(Worker::spawn("kotoba-notify", move || {
                dispatch_loop(
                    &mut dispatcher,
                    &input,
                    &outcomes,
                    &stop,
                    &routed_queues,
                    &held,
                    &pushers,
                    state_folder.as_deref(),
                    drain,
                );
            })?);
            Ok(())
        })();
        if let Err(e) = started {
            drop(stop_tx);
            for worker in workers {
                let _ = worker.join(Duration::from_secs(5));
            }
            return Err(e);
        }
        *running = Some(Running {
            workers,
            stop: stop_tx,
        });
        Ok(())
    }

    /// The channel's way of sending.
    fn sender(&self, channel: &Channel) -> Box<dyn delivery::Deliver> {
        let external_url = self.external_url.clone();
        match channel {
            Channel::Email(c) => Box::new(email::EmailSender {
                channel: c.clone(),
                external_url,
            }),
            Channel::Slack(c) => Box::new(slack::SlackSender {
                channel: c.clone(),
                external_url,
            }),
            Channel::PagerDuty(c) => Box::new(pagerduty::PagerDutySender {
                channel: c.clone(),
                external_url,
            }),
            Channel::Webhook(c) => Box::new(webhook::WebhookSender {
                channel: c.clone(),
                external_url,
            }),
            Channel::Alertmanager(_) => Box::new(Unrouted),
        }
    }

    /// Stops every thread, waiting up to `timeout` for each (an attempt under way finishes
    /// within its channel's `timeout`).
    pub(crate) fn stop(&self, timeout: Duration) -> Result<(), MonitoringError> {
        let Some(running) = self.running.lock().take() else {
            return Ok(());
        };
        drop(running.stop);
        MonitoringError::all(running.workers.into_iter().map(|w| w.join(timeout)))
    }
}

/// Alertmanager channels are not routed; nothing reaches this.
struct Unrouted;

impl delivery::Deliver for Unrouted {
    fn send(&mut self, _: &Notification, _: Duration) -> Result<(), delivery::Failure> {
        Err(delivery::Failure::permanent(
            "an Alertmanager channel takes alerts, not notifications",
        ))
    }
}

type Pusher = (
    DropOldest<PostableAlert>,
    ChannelMetrics,
    Arc<Mutex<ChannelStatus>>,
);

fn now_ms() -> i64 {
    crate::clock::millis(time::OffsetDateTime::now_utc())
}

/// The notification log's state file under `state/`.
const NOTIFICATION_LOG: &str = "notifications.json";

/// The `kotoba-notify` thread: alerts in, outcomes back, groups flushed when due; the
/// notification log saved under `state_folder` whenever it changed. At `stop` it waits up to
/// `drain` (the longest channel timeout) for the outcomes of attempts under way.
#[allow(clippy::too_many_arguments)] // the thread's channels, each its own
fn dispatch_loop(
    dispatcher: &mut Dispatcher,
    input: &Receiver<Vec<PostableAlert>>,
    outcomes: &Receiver<Outcome>,
    stop: &Receiver<()>,
    routed: &[DropOldest<Notification>],
    held: &[(ChannelMetrics, Arc<Mutex<ChannelStatus>>)],
    pushers: &[Pusher],
    state_folder: Option<&std::path::Path>,
    drain: Duration,
) {
    loop {
        let wait = dispatcher
            .next_due()
            .map(|due| Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64))
            .unwrap_or(Duration::from_secs(3600));
        crossbeam_channel::select! {
            recv(input) -> batch => {
                let Ok(batch) = batch else { return };
                let effective = dispatcher.receive(batch, now_ms());
                for (queue, metrics, status) in pushers {
                    let mut dropped = 0;
                    for alert in &effective {
                        dropped += queue.push(alert.clone()).len() as u64;
                    }
                    metrics.queue(status, dropped, queue.len());
                }
            }
            recv(outcomes) -> outcome => {
                if let Ok(outcome) = outcome {
                    dispatcher.delivered(&outcome.notification, outcome.ok, now_ms());
                }
            }
            recv(stop) -> _ => {
                // An attempt under way ends within its channel's timeout and hands back its
                // outcome before the worker ends: a delivery made goes in the log saved last,
                // so that a restart does not send it again.
                let deadline = std::time::Instant::now() + drain;
                while let Ok(outcome) = outcomes.recv_deadline(deadline) {
                    dispatcher.delivered(&outcome.notification, outcome.ok, now_ms());
                }
                save_log(dispatcher, state_folder);
                return;
            }
            default(wait) => {}
        }
        for notification in dispatcher.due(now_ms()) {
            let channel = notification.channel;
            let dropped = routed[channel].push(notification);
            // A dropped notification failed: its group flushes again at its next look.
            for old in &dropped {
                dispatcher.delivered(old, false, now_ms());
            }
            let (metrics, status) = &held[channel];
            metrics.queue(status, dropped.len() as u64, routed[channel].len());
        }
        save_log(dispatcher, state_folder);
    }
}

/// Saves the notification log under `state_folder` if it changed since it was last saved.
fn save_log(dispatcher: &mut Dispatcher, state_folder: Option<&std::path::Path>) {
    if let (Some(folder), Some(saved)) = (state_folder, dispatcher.saved()) {
        let bytes = serde_json::to_vec(&saved).unwrap_or_default();
        if let Err(e) = crate::storage::write_state(folder, NOTIFICATION_LOG, &bytes) {
            log::warn!("kotoba-monitoring notifications: {e}");
        }
    }
}
