//! Module implementing the HTTP side shared by the webhook, Slack, PagerDuty and
//! Alertmanager channels: a blocking `ureq` agent per attempt timeout, and a receiver's answer
//! read as Alertmanager reads it (2xx delivered; 5xx and 429 retried, with `Retry-After`;
//! other codes refused). See [`post_json`].

use std::time::Duration;

use super::delivery::Failure;

/// A receiver's answer to a delivered post.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Posts `body` (JSON) to `url` with `headers`, within `timeout`. `Err` for a connection
/// failure or timeout (retried) and for an answer that is not 2xx, classified; `shown` is
/// what errors call the receiver, since the URL may be a secret.
pub(crate) fn post_json(
    url: &str,
    shown: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Answer, Failure> {
    let agent = crate::net::agent(timeout);
    let mut request = agent.post(url).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let mut response = request
        .send(body)
        .map_err(|e| Failure::transient(format!("{shown}: {}", crate::net::transport_error(&e))))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    if (200..300).contains(&status) {
        return Ok(Answer { status, body: text });
    }
    let detail = text.trim();
    let mut message = format!("{shown}: unexpected status code {status}");
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail.chars().take(512).collect::<String>());
    }
    Err(Failure {
        message,
        retry: status >= 500 || status == 429,
        retry_after,
    })
}
