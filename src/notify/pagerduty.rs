//! Module implementing the PagerDuty channel: Events API v2, `trigger` with a `dedup_key`
//! stable per alert group (the SHA-256 of its group key, as Alertmanager's), and `resolve`
//! with the same key. See [`PagerDutySender`].

use std::time::Duration;

use super::delivery::{Deliver, Failure};
use super::dispatch::Notification;
use super::text::{alert_lines, firing, resolved, subject, truncate};
use crate::config::PagerDutyChannel;

/// The Events API's limit on `summary`.
const MAX_SUMMARY: usize = 1024;

/// Sends notifications to PagerDuty.
pub(crate) struct PagerDutySender {
    pub(crate) channel: PagerDutyChannel,
    pub(crate) external_url: String,
}

/// The group's dedup key: the hex SHA-256 of its group key.
pub(crate) fn dedup_key(group_key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, group_key.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// PagerDuty's severity for an alert's `severity` label: one of critical, error, warning
/// and info; any other (or none) is `error`, as Alertmanager's default.
fn severity(n: &Notification) -> &'static str {
    let common = n.common(|a| &a.labels);
    match common
        .iter()
        .find(|(name, _)| name == "severity")
        .map(|(_, v)| v.to_ascii_lowercase())
        .as_deref()
    {
        Some("critical") => "critical",
        Some("warning") => "warning",
        Some("info") => "info",
        _ => "error",
    }
}

/// The event for `n`.
pub(crate) fn event(
    n: &Notification,
    routing_key: &str,
    source: &str,
    external_url: &str,
) -> serde_json::Value {
    let action = if n.status() == "firing" {
        "trigger"
    } else {
        "resolve"
    };
    let mut event = serde_json::json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(&n.group_key),
        "client": "kotoba-monitoring",
    });
    if !external_url.is_empty() {
        event["client_url"] = serde_json::Value::String(external_url.to_owned());
    }
    if action == "trigger" {
        let describe = |alerts: Vec<&super::alert::PostableAlert>| {
            alerts
                .into_iter()
                .map(|a| alert_lines(a).join("\n"))
                .collect::<Vec<_>>()
                .join("\n\n")
        };
        event["payload"] = serde_json::json!({
            "summary": truncate(&subject(n), MAX_SUMMARY),
            "source": source,
            "severity": severity(n),
            "timestamp": super::alert::go_time(n.at),
            "custom_details": {
                "firing": describe(firing(n).collect()),
                "resolved": describe(resolved(n).collect()),
                "num_firing": firing(n).count(),
                "num_resolved": resolved(n).count(),
            },
        });
    }
    event
}

impl Deliver for PagerDutySender {
    fn send(&mut self, n: &Notification, timeout: Duration) -> Result<(), Failure> {
        let body = serde_json::to_vec(&event(
            n,
            self.channel.routing_key.expose(),
            &self.channel.source,
            &self.external_url,
        ))
        .map_err(|e| Failure::permanent(e.to_string()))?;
        super::http::post_json(&self.channel.url, "PagerDuty", &[], &body, timeout).map(drop)
    }
}
