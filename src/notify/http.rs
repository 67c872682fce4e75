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
    let reply = crate::net::Reply::read(&mut response);
    let status = reply.status;
    if reply.is_success() {
        return Ok(Answer {
            status,
            body: reply.body,
        });
    }
    let detail = reply.detail();
    let mut message = format!("{shown}: unexpected status code {status}");
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    let retry_after = reply.retry_after;
    Err(Failure {
        message,
        retry: status >= 500 || status == 429,
        retry_after,
    })
}
