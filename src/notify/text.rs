//! Module implementing the words of a notification, shared by Slack, PagerDuty and email:
//! Alertmanager's default subject line and a block per alert. See [`subject`].

use super::alert::PostableAlert;
use super::dispatch::Notification;
use crate::query::Labels;

/// Alertmanager's default subject (`email.default.subject`): `[FIRING:2] <group label
/// values> (<other common label values>)`, or `[RESOLVED] …`.
pub(crate) fn subject(n: &Notification) -> String {
    let status = n.status();
    let mut out = format!("[{}", status.to_uppercase());
    if status == "firing" {
        out.push_str(&format!(":{}", firing(n).count()));
    }
    out.push(']');
    let group: Vec<&str> = n.group_labels.iter().map(|(_, v)| v.as_str()).collect();
    out.push(' ');
    out.push_str(&group.join(" "));
    let common = n.common(|a| &a.labels);
    if common.len() > n.group_labels.len() {
        let rest: Vec<&str> = common
            .iter()
            .filter(|(name, _)| !n.group_labels.iter().any(|(g, _)| g == name))
            .map(|(_, v)| v.as_str())
            .collect();
        out.push_str(&format!(" ({})", rest.join(" ")));
    }
    out
}

/// The notification's firing alerts.
pub(crate) fn firing(n: &Notification) -> impl Iterator<Item = &PostableAlert> {
    n.alerts.iter().filter(|a| a.ends_at == i64::MIN)
}

/// The notification's resolved alerts.
pub(crate) fn resolved(n: &Notification) -> impl Iterator<Item = &PostableAlert> {
    n.alerts.iter().filter(|a| a.ends_at != i64::MIN)
}

/// `name=value` pairs, comma separated.
pub(crate) fn pairs(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An alert as plain text lines: its labels, then each annotation, then its source.
pub(crate) fn alert_lines(a: &PostableAlert) -> Vec<String> {
    let mut lines = vec![format!("Labels: {}", pairs(&a.labels))];
    for (name, value) in &a.annotations {
        lines.push(format!("{name}: {value}"));
    }
    lines.push(format!("Since: {}", super::alert::go_time(a.starts_at)));
    if !a.generator_url.is_empty() {
        lines.push(format!("Source: {}", a.generator_url));
    }
    lines
}

/// `text` cut to at most `max` characters, the cut marked with `…`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
