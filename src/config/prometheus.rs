//! Module implementing the exporter's configuration. See [`PrometheusConfig`] for details.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::metrics::LabelSet;
use crate::MonitoringError;

/// The Prometheus endpoint: where it listens, what it adds to every series, and who may read it.
///
/// The kotoba-monitoring 0.1.21 API's five fields plus [`auth`](Self::auth); build it with
/// `..Default::default()` so that fields added later do not break your code.
///
/// # Examples
///
/// ```
/// use kotoba_monitoring::{HttpAuth, PrometheusConfig};
///
/// let config = PrometheusConfig {
///     port: 0, // any free port; read it back with `PrometheusExporter::local_addr`
///     auth: Some(HttpAuth::bearer("s3cret")),
///     ..Default::default()
/// };
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Serve the endpoint. Defaults to `true`.
    pub enabled: bool,
    /// The address to listen on. Defaults to `"127.0.0.1"`.
    pub address: String,
    /// The port to listen on; `0` picks any free port. Defaults to `9090`.
    pub port: u16,
    /// The path metrics are served at. Defaults to `"/metrics"`.
    pub path: String,
    /// Labels added to every exported series. A series' own label of the same name wins.
    /// Defaults to none.
    pub global_labels: HashMap<String, String>,
    /// Credentials every endpoint (metrics, health, probes, alerts) requires; requests without
    /// them get `401`. Defaults to none (open). In TOML: `auth = { bearer = { token = "…" } }`
    /// or `auth = { basic = { username = "…", password = "…" } }`.
    pub auth: Option<HttpAuth>,
    /// Export each histogram's recent-window quantiles as the gauge family
    /// `<name>_window<_unit>{q="0.5|0.9|0.95|0.99|0.999"}` beside its buckets. Each histogram
    /// series then adds five series, and each scrape reads the cells of the window. Turn it
    /// off to export only the buckets, `_sum` and `_count`. Defaults to `true`.
    pub window_quantiles: bool,
}

/// Credentials the exporter requires on every request. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpAuth {
    /// `Authorization: Bearer <token>`, as Prometheus sends with `authorization.credentials`.
    Bearer {
        /// The token.
        token: String,
    },
    /// `Authorization: Basic …`, as Prometheus sends with `basic_auth`.
    Basic {
        /// The user name; must not contain `:`.
        username: String,
        /// The password.
        password: String,
    },
}

impl HttpAuth {
    /// Bearer-token authentication.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer {
            token: token.into(),
        }
    }

    /// HTTP basic authentication.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    fn validate(&self) -> Result<(), MonitoringError> {
        let field = "prometheus_config.auth";
        match self {
            Self::Bearer { token } if token.trim().is_empty() => Err(MonitoringError::config(
                field,
                "the bearer token is empty; set a long random token or remove `auth`",
            )),
            Self::Bearer { token } if token.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                Err(MonitoringError::config(
                    field,
                    "the bearer token contains whitespace, which cannot travel in an Authorization header",
                ))
            }
            Self::Basic { username, .. } if username.is_empty() || username.contains(':') => {
                Err(MonitoringError::config(
                    field,
                    "the basic-auth user name must be non-empty and must not contain ':'",
                ))
            }
            Self::Basic { password, .. } if password.is_empty() => Err(MonitoringError::config(
                field,
                "the basic-auth password is empty; set one or remove `auth`",
            )),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            address: "127.0.0.1".to_owned(),
            port: 9090,
            path: "/metrics".to_owned(),
            global_labels: HashMap::new(),
            auth: None,
            window_quantiles: true,
        }
    }
}

/// Label names the exposition writes itself, so a global label may not take them.
const RESERVED_GLOBAL_LABELS: [&str; 3] = ["le", "quantile", "q"];

impl PrometheusConfig {
    /// Checks the exporter's fields; [`MonitoringConfig::validate`](crate::MonitoringConfig::validate) calls it.
    pub(crate) fn validate(&self) -> Result<(), MonitoringError> {
        let address = self.address.trim();
        let is_host_name = !address.is_empty()
            && address.len() <= 253
            && address.split('.').all(|part| {
                !part.is_empty()
                    && !part.starts_with('-')
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if address.parse::<IpAddr>().is_err() && !is_host_name {
            return Err(MonitoringError::config(
                "prometheus_config.address",
                format!(
                    "{:?} is neither an IP address nor a host name; use \"127.0.0.1\" for this machine only or \"0.0.0.0\" for all interfaces",
                    self.address
                ),
            ));
        }
        let path = &self.path;
        if !path.starts_with('/') {
            return Err(MonitoringError::config(
                "prometheus_config.path",
                format!("{path:?} must start with '/', for example \"/metrics\""),
            ));
        }
        if let Some(c) = path
            .chars()
            .find(|c| c.is_whitespace() || matches!(c, '?' | '#'))
        {
            return Err(MonitoringError::config(
                "prometheus_config.path",
                format!("{path:?} contains {c:?}; a path has no spaces, query or fragment"),
            ));
        }
        let labels: Vec<(&str, &str)> = self
            .global_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        LabelSet::new("global_labels", &labels).map_err(|e| {
            MonitoringError::config("prometheus_config.global_labels", e.to_string())
        })?;
        if let Some(reserved) = RESERVED_GLOBAL_LABELS
            .iter()
            .find(|r| self.global_labels.contains_key(**r))
        {
            return Err(MonitoringError::config(
                "prometheus_config.global_labels",
                format!(
                    "{reserved:?} is reserved: histograms export `le`, summaries `quantile`, and the recent-window gauges `q`; choose another name"
                ),
            ));
        }
        if let Some(auth) = &self.auth {
            auth.validate()?;
        }
        Ok(())
    }
}
