//! `[[remote_write]]`: the stores every sample of the history is shipped to, in the shape of
//! Prometheus's own `remote_write` configuration. See [`RemoteWriteConfig`] for details.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use super::Secret;
use crate::MonitoringError;

/// One Prometheus remote-write endpoint: Prometheus itself (with
/// `--web.enable-remote-write-receiver`), Grafana Mimir, Thanos Receive, VictoriaMetrics,
/// Grafana Cloud. Every sample of the history goes there, in order, from a position the
/// endpoint keeps (persisted under `storage.path`), so an endpoint that was down gets what
/// it missed when it comes back.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::MonitoringConfig;
///
/// let config = MonitoringConfig::from_toml_str(r#"
///     [[remote_write]]
///     url = "https://mimir.example/api/v1/push"
///     headers = { "X-Scope-OrgID" = "db-team" }
///     basic_auth = { username = "db", password = "s3cret" }
///
///     [[remote_write.write_relabel_configs]]
///     source_labels = ["__name__"]
///     regex = "kotoba_db_.*|ALERTS"
///     action = "keep"
/// "#)?;
/// let remote = &config.remote_write[0];
/// assert_eq!(remote.queue_config.max_samples_per_send, 2000);
/// assert!(!format!("{remote:?}").contains("s3cret"));
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// Where to post: `http://host:9090/api/v1/write` for Prometheus, `/api/v1/push` for
    /// Mimir, `/api/v1/write` for VictoriaMetrics. Required.
    pub url: String,
    /// The endpoint's name, in its thread's name, its state file and errors. Defaults to the
    /// first 6 hex digits of the URL's SHA-256, as Prometheus names an unnamed one.
    pub name: Option<String>,
    /// How long one request may take. Defaults to 30 seconds.
    #[serde(with = "duration")]
    pub remote_timeout: Duration,
    /// Extra request headers (a tenant header, say). Defaults to none.
    pub headers: BTreeMap<String, String>,
    /// HTTP basic authentication. Defaults to none.
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header with a type and credentials (`Bearer` by default).
    /// Defaults to none.
    pub authorization: Option<Authorization>,
    /// Relabeling of each series before it is sent, as Prometheus's
    /// `write_relabel_configs`; a series a rule drops is not sent. Defaults to none.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// Batching and retries.
    pub queue_config: QueueConfig,
    /// Sending the metrics' metadata (type, help, unit).
    pub metadata_config: MetadataConfig,
    /// Whether the exemplars the history keeps (see `[exemplars]`) are sent with their
    /// series, as Prometheus's `send_exemplars`. Defaults to `false`, as Prometheus 2.42; a
    /// receiver must keep exemplars (Prometheus with `--enable-feature=exemplar-storage`).
    pub send_exemplars: bool,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            name: None,
            remote_timeout: Duration::from_secs(30),
            headers: BTreeMap::new(),
            basic_auth: None,
            authorization: None,
            write_relabel_configs: Vec::new(),
            queue_config: QueueConfig::default(),
            metadata_config: MetadataConfig::default(),
            send_exemplars: false,
        }
    }
}

impl std::fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriteConfig")
            .field("url", &super::without_userinfo(&self.url))
            .field("name", &self.name)
            .field("remote_timeout", &self.remote_timeout)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("basic_auth", &self.basic_auth)
            .field("authorization", &self.authorization)
            .field("write_relabel_configs", &self.write_relabel_configs)
            .field("queue_config", &self.queue_config)
            .field("metadata_config", &self.metadata_config)
            .field("send_exemplars", &self.send_exemplars)
            .finish()
    }
}

/// HTTP basic authentication; `Debug` hides the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// An `Authorization: <type> <credentials>` header; `Debug` hides the credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme. Defaults to `Bearer`.
    #[serde(rename = "type", default = "bearer")]
    pub kind: String,
    /// The token.
    pub credentials: Secret,
}

fn bearer() -> String {
    "Bearer".to_owned()
}

/// What a relabeling rule does, as Prometheus's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelabelAction {
    /// Sets `target_label` to `replacement`, its `$1` and `${name}` taken from the match of
    /// `regex` on the source labels' values (nothing when it does not match). The default.
    #[default]
    Replace,
    /// Keeps only the series whose source labels' values match `regex`.
    Keep,
    /// Drops the series whose source labels' values match `regex`.
    Drop,
    /// Removes the labels whose names match `regex`.
    LabelDrop,
    /// Removes the labels whose names do not match `regex`.
    LabelKeep,
}

/// One relabeling rule, as Prometheus's `relabel_config`: the source labels' values joined
/// by `separator` are matched by `regex` (anchored at both ends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelabelConfig {
    /// The labels whose values are joined (`__name__` is the metric name). Defaults to none.
    pub source_labels: Vec<String>,
    /// What joins them. Defaults to `;`.
    pub separator: String,
    /// The expression, anchored. Defaults to `(.*)`.
    pub regex: String,
    /// For `replace`: the label to set. Defaults to none.
    pub target_label: Option<String>,
    /// For `replace`: what to set it to. Defaults to `$1`.
    pub replacement: String,
    /// What to do. Defaults to `replace`.
    pub action: RelabelAction,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            separator: ";".to_owned(),
            regex: "(.*)".to_owned(),
            target_label: None,
            replacement: "$1".to_owned(),
            action: RelabelAction::Replace,
        }
    }
}

/// Batching and retries, with Prometheus 2.42's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// The most samples read from the history and held before they are sent, bounding the
    /// endpoint's memory while it catches up. Defaults to `10000`.
    pub capacity: usize,
    /// The most samples in one request. Defaults to `2000`.
    pub max_samples_per_send: usize,
    /// How long samples may wait for a fuller request. Defaults to 5 seconds.
    #[serde(with = "duration")]
    pub batch_send_deadline: Duration,
    /// The first wait before a retry, doubled at each until `max_backoff`. Defaults to
    /// 30 ms.
    #[serde(with = "duration")]
    pub min_backoff: Duration,
    /// The longest wait between retries. Defaults to 5 seconds.
    #[serde(with = "duration")]
    pub max_backoff: Duration,
    /// Whether `429 Too Many Requests` is retried (after its `Retry-After`) rather than the
    /// request dropped. Defaults to `false`, as Prometheus 2.42.
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
        }
    }
}

/// Sending the metadata of the metrics (type, help, unit) in requests of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataConfig {
    /// Whether to send it. Defaults to `true`.
    pub send: bool,
    /// How often. Defaults to 1 minute.
    #[serde(with = "duration")]
    pub send_interval: Duration,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            send: true,
            send_interval: Duration::from_secs(60),
        }
    }
}

impl RemoteWriteConfig {
    /// The endpoint's name: `name`, or the first 6 hex digits of the URL's SHA-256.
    pub fn resolved_name(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => {
                let digest = ring::digest::digest(&ring::digest::SHA256, self.url.as_bytes());
                digest.as_ref()[..3]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            }
        }
    }

    /// Checks the endpoint's fields; `field` is where it sits (`remote_write[0]`).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] naming the field: a URL that is not http(s), a name
    /// that cannot name a file, both kinds of credentials, a relabeling rule that cannot
    /// work, zero sizes or times.
    pub fn validate(&self, field: &str) -> Result<(), MonitoringError> {
        let at = |name: &str| format!("{field}.{name}");
        super::check_url(&self.url).map_err(|_| {
            MonitoringError::config(
                at("url"),
                format!(
                    "{:?} is not an http:// or https:// URL with a host; write the receiver's full push URL",
                    super::without_userinfo(&self.url)
                ),
            )
        })?;
        if let Some(name) = &self.name {
            let fits = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                && !name.starts_with('.');
            if !fits {
                return Err(MonitoringError::config(
                    at("name"),
                    format!("{name:?} must be letters, digits, '-', '_' or '.' (it names a file)"),
                ));
            }
        }
        if self.basic_auth.is_some() && self.authorization.is_some() {
            return Err(MonitoringError::config(
                at("authorization"),
                "give basic_auth or authorization, not both",
            ));
        }
        if let Some(auth) = &self.basic_auth {
            if auth.username.is_empty() || auth.username.contains(':') {
                return Err(MonitoringError::config(
                    at("basic_auth.username"),
                    "must be non-empty and must not contain ':'",
                ));
            }
        }
        if let Some(auth) = &self.authorization {
            if auth.kind.is_empty() || auth.kind.contains(char::is_whitespace) {
                return Err(MonitoringError::config(
                    at("authorization.type"),
                    "must be one word, such as \"Bearer\"",
                ));
            }
        }
        for (name, value) in &self.headers {
            let reserved = [
                "authorization",
                "content-encoding",
                "content-type",
                "user-agent",
                "x-prometheus-remote-write-version",
            ];
            if reserved.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(MonitoringError::config(
                    at(&format!("headers.{name}")),
                    "is set by remote write itself; use basic_auth or authorization for credentials",
                ));
            }
            if name.is_empty() || value.contains(['\r', '\n']) {
                return Err(MonitoringError::config(
                    at(&format!("headers.{name}")),
                    "a header needs a name, and a value on one line",
                ));
            }
        }
        for (i, rule) in self.write_relabel_configs.iter().enumerate() {
            rule.validate(&at(&format!("write_relabel_configs[{i}]")))?;
        }
        let q = &self.queue_config;
        for (name, value) in [
            ("capacity", q.capacity),
            ("max_samples_per_send", q.max_samples_per_send),
        ] {
            if value == 0 {
                return Err(MonitoringError::config(
                    at(&format!("queue_config.{name}")),
                    "must be at least 1",
                ));
            }
        }
        for (name, value) in [
            ("remote_timeout", self.remote_timeout),
            ("queue_config.batch_send_deadline", q.batch_send_deadline),
            ("queue_config.min_backoff", q.min_backoff),
            (
                "metadata_config.send_interval",
                self.metadata_config.send_interval,
            ),
        ] {
            if value.is_zero() {
                return Err(MonitoringError::config(
                    at(name),
                    "must be longer than zero, for example \"5s\"",
                ));
            }
        }
        if q.max_backoff < q.min_backoff {
            return Err(MonitoringError::config(
                at("queue_config.max_backoff"),
                "is shorter than min_backoff; make it at least as long",
            ));
        }
        Ok(())
    }
}

impl RelabelConfig {
    fn validate(&self, field: &str) -> Result<(), MonitoringError> {
        if let Err(e) = regex::Regex::new(&format!("^(?:{})$", self.regex)) {
            return Err(MonitoringError::config(
                format!("{field}.regex"),
                format!("does not compile: {e}"),
            ));
        }
        let needs_sources = matches!(self.action, RelabelAction::Keep | RelabelAction::Drop);
        if needs_sources && self.source_labels.is_empty() {
            return Err(MonitoringError::config(
                format!("{field}.source_labels"),
                "keep and drop need source_labels to match",
            ));
        }
        if self.action == RelabelAction::Replace {
            let valid = self.target_label.as_deref().is_some_and(|t| {
                // `$1` and `${name}` are expanded, so only the literal characters are checked.
                let literal: String = t.chars().filter(|c| !"${}".contains(*c)).collect();
                !t.is_empty()
                    && literal
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if !valid {
                return Err(MonitoringError::config(
                    format!("{field}.target_label"),
                    "replace needs a target_label that is a label name",
                ));
            }
        }
        Ok(())
    }
}
