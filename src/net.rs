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
