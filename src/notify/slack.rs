//! Module implementing the Slack channel: an incoming webhook's message, `text` (the
//! fallback and notification line) plus Block Kit `blocks`, within Slack's limits, and
//! Slack's answers read (`ok`, an error word, 429 with `Retry-After`). See [`SlackSender`].

use std::time::Duration;

use super::delivery::{Deliver, Failure};
use super::dispatch::Notification;
use super::text::{firing, pairs, resolved, subject, truncate};
use crate::config::SlackChannel;

/// Slack's limits: blocks per message, characters of a header and of a section.
const MAX_BLOCKS: usize = 50;
const MAX_HEADER: usize = 150;
const MAX_SECTION: usize = 3000;
/// Alerts listed one by one; the rest are counted.
const MAX_LISTED: usize = 20;

/// Posts notifications to one Slack incoming webhook.
pub(crate) struct SlackSender {
    pub(crate) channel: SlackChannel,
    pub(crate) external_url: String,
}

/// The message for `n`.
pub(crate) fn message(
    n: &Notification,
    channel: Option<&str>,
    external_url: &str,
) -> serde_json::Value {
    let title = subject(n);
    let mut blocks = vec![serde_json::json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&title, MAX_HEADER)},
    })];
    let severity = n
        .common(|a| &a.labels)
        .into_iter()
        .find(|(name, _)| name == "severity")
        .map(|(_, v)| v);
    let mut summary = format!("*Status:* {}", n.status());
    if let Some(severity) = &severity {
        summary.push_str(&format!("   *Severity:* {severity}"));
    }
    summary.push_str(&format!(
        "   *Firing:* {}   *Resolved:* {}",
        firing(n).count(),
        resolved(n).count()
    ));
    blocks.push(section(&summary));
    let listed: Vec<_> = n.alerts.iter().take(MAX_LISTED).collect();
    for alert in &listed {
        let state = if alert.ends_at == i64::MIN {
            ":red_circle: firing"
        } else {
            ":large_green_circle: resolved"
        };
        let mut text = format!("{state} `{}`", pairs(&alert.labels));
        for (name, value) in &alert.annotations {
            text.push_str(&format!("\n*{name}:* {value}"));
        }
        if !alert.generator_url.is_empty() {
            text.push_str(&format!("\n<{}|Source>", alert.generator_url));
        }
        blocks.push(section(&text));
    }
    if n.alerts.len() > listed.len() {
        blocks.push(section(&format!(
            "…and {} more",
            n.alerts.len() - listed.len()
        )));
    }
    if !external_url.is_empty() {
        blocks.push(serde_json::json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("<{external_url}|Dashboards>")}],
        }));
    }
    blocks.truncate(MAX_BLOCKS);
    let mut message = serde_json::json!({ "text": title, "blocks": blocks });
    if let Some(channel) = channel {
        message["channel"] = serde_json::Value::String(channel.to_owned());
    }
    message
}

fn section(text: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION)},
    })
}

impl Deliver for SlackSender {
    fn send(&mut self, n: &Notification, timeout: Duration) -> Result<(), Failure> {
        let body = serde_json::to_vec(&message(
            n,
            self.channel.channel.as_deref(),
            &self.external_url,
        ))
        .map_err(|e| Failure::permanent(e.to_string()))?;
        let answer = super::http::post_json(
            self.channel.webhook_url.expose(),
            "Slack",
            &[],
            &body,
            timeout,
        )?;
        // Slack answers 200 with `ok`; anything else in a 2xx is an error word.
        match answer.body.trim() {
            "ok" | "" => Ok(()),
            other => Err(Failure::permanent(format!(
                "Slack: answered {}: {}",
                answer.status,
                truncate(other, 200)
            ))),
        }
    }
}
