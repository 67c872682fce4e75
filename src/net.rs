//! HTTP client pieces that notifications and remote write share: a blocking `ureq` agent
//! with a deadline, and transport errors told without the URL, which may carry credentials.
//! See [`agent`].

use std::time::Duration;

/// A blocking agent whose every request ends within `timeout`, answering every status (not
/// only 2xx) as a response.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("kotoba-monitoring/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// What a server answered: its status, the wait its `Retry-After` asks for (in seconds), and
/// the start of its body (at most 64 KiB).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: String,
}

impl Reply {
    /// Reads `response`.
    pub(crate) fn read(response: &mut ureq::http::Response<ureq::Body>) -> Self {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Self {
            status: response.status().as_u16(),
            retry_after,
            body,
        }
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body, trimmed to 512 characters, for an error message.
    pub(crate) fn detail(&self) -> String {
        self.body.trim().chars().take(512).collect()
    }
}

/// A transport error without the URL (which may carry a token).
pub(crate) fn transport_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(what) => format!("timed out ({what})"),
        ureq::Error::Io(io) => format!("connection failed: {}", io.kind()),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::Tls(why) => format!("TLS failed: {why}"),
        other => {
            // Other errors may quote the URL; keep only their kind.
            let text = format!("{other:?}");
            text.split(['(', ' ', '{'])
                .next()
                .unwrap_or("request failed")
                .to_owned()
        }
    }
}
