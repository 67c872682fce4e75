//! Module implementing the webhook channel: Alertmanager's webhook payload, version 4, so
//! whatever consumes Alertmanager's webhooks consumes ours, optionally signed as the
//! Standard Webhooks specification 1.0 says. See [`WebhookSender`].

use std::time::Duration;

use base64::Engine;

use super::alert::{fingerprint_text, go_time, object};
use super::delivery::{Deliver, Failure};
use super::dispatch::Notification;
use crate::config::WebhookChannel;

/// Posts notifications to one webhook.
pub(crate) struct WebhookSender {
    pub(crate) channel: WebhookChannel,
    pub(crate) external_url: String,
}

/// The `webhook-id` of `notification`: the same for every attempt to deliver it, so a
/// receiver can drop a retry it already took (Standard Webhooks: "the same ID when the same
/// message is retried"), and different for every other notification: the group, the flush
/// number and the flush's time in milliseconds name it, across restarts too.
fn message_id(notification: &Notification) -> String {
    let name = vec![
        ("group".to_owned(), notification.group_key.clone()),
        ("flush".to_owned(), notification.flush.to_string()),
        ("at".to_owned(), notification.at.to_string()),
    ];
    format!("msg_{:016x}", super::alert::fingerprint(&name))
}

/// Alertmanager's payload of `notification`, at most `max_alerts` alerts listed (0: all).
pub(crate) fn payload(
    notification: &Notification,
    external_url: &str,
    max_alerts: usize,
) -> serde_json::Value {
    let listed = match max_alerts {
        0 => notification.alerts.len(),
        n => n.min(notification.alerts.len()),
    };
    let alerts: Vec<serde_json::Value> = notification.alerts[..listed]
        .iter()
        .map(|a| {
            serde_json::json!({
                "status": if a.ends_at == i64::MIN { "firing" } else { "resolved" },
                "labels": object(&a.labels),
                "annotations": object(&a.annotations),
                "startsAt": go_time(a.starts_at),
                "endsAt": go_time(a.ends_at),
                "generatorURL": a.generator_url,
                "fingerprint": fingerprint_text(&a.labels),
            })
        })
        .collect();
    serde_json::json!({
        "receiver": quote_meta(&notification.receiver),
        "status": notification.status(),
        "alerts": alerts,
        "groupLabels": object(&notification.group_labels),
        "commonLabels": object(&notification.common(|a| &a.labels)),
        "commonAnnotations": object(&notification.common(|a| &a.annotations)),
        "externalURL": external_url,
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": notification.alerts.len() - listed,
    })
}

/// Go's `regexp.QuoteMeta`, which Alertmanager applies to the receiver's name.
fn quote_meta(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The Standard Webhooks headers of `body`, signed with `secret` (`whsec_` and base64).
pub(crate) fn sign(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(&'static str, String)>, Failure> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .map_err(|_| Failure::permanent("signing_secret is not base64 after \"whsec_\""))?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let tag = ring::hmac::sign(&key, &signed);
    Ok(vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
            ),
        ),
    ])
}

impl Deliver for WebhookSender {
    fn send(&mut self, notification: &Notification, timeout: Duration) -> Result<(), Failure> {
        let body = serde_json::to_vec(&payload(
            notification,
            &self.external_url,
            self.channel.max_alerts,
        ))
        .map_err(|e| Failure::permanent(e.to_string()))?;
        let headers = match &self.channel.signing_secret {
            Some(secret) => {
                let now = time::OffsetDateTime::now_utc();
                sign(
                    secret.expose(),
                    &message_id(notification),
                    now.unix_timestamp(),
                    &body,
                )?
            }
            None => Vec::new(),
        };
        super::http::post_json(
            self.channel.url.expose(),
            "the webhook",
            &headers,
            &body,
            timeout,
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (and its libraries' tests).
        let headers = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(
            headers[2].1,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn receiver_names_are_quoted_as_alertmanager_quotes_them() {
        assert_eq!(quote_meta("ops.team (db)"), "ops\\.team \\(db\\)");
    }
}
