//! Module implementing the notification channels' configuration: the kotoba-monitoring 0.1.21 API's
//! [`NotificationConfig`] (a type and a map of settings) and the typed settings each channel's
//! map is parsed into. See [`Channel`] for details.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check_url;
use crate::MonitoringError;

/// One notification channel and its settings. `Debug` shows the setting names, never their
/// values: webhook URLs, routing keys and passwords are secrets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// The kind of channel.
    pub notification_type: NotificationType,
    /// Its settings, which [`channel`](Self::channel) parses; each channel type documents its
    /// keys ([`EmailChannel`], [`SlackChannel`], [`WebhookChannel`], [`PagerDutyChannel`],
    /// [`AlertmanagerChannel`]).
    #[serde(default)]
    pub config: HashMap<String, String>,
}

impl std::fmt::Debug for NotificationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&str> = self.config.keys().map(String::as_str).collect();
        keys.sort_unstable();
        f.debug_struct("NotificationConfig")
            .field("notification_type", &self.notification_type)
            .field("config_keys", &keys)
            .finish_non_exhaustive()
    }
}

/// A kind of notification channel. In TOML: `"email"`, `"slack"`, `"webhook"`, `"pagerduty"`,
/// `"alertmanager"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationType {
    /// SMTP email.
    Email,
    /// A Slack incoming webhook.
    Slack,
    /// A generic HTTP webhook.
    Webhook,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// A Prometheus Alertmanager.
    Alertmanager,
}

impl NotificationType {
    /// The `config` keys this channel cannot work without.
    pub fn required_keys(self) -> &'static [&'static str] {
        match self {
            Self::Email => &["smtp_server", "from", "to"],
            Self::Slack => &["webhook_url"],
            Self::Webhook => &["url"],
            Self::PagerDuty => &["routing_key"],
            Self::Alertmanager => &["url"],
        }
    }

    /// Every `config` key this channel understands, besides the [`Delivery`] ones.
    fn known_keys(self) -> &'static [&'static str] {
        match self {
            Self::Email => &[
                "smtp_server",
                "from",
                "to",
                "username",
                "password",
                "security",
                "ca_file",
                "send_resolved",
            ],
            Self::Slack => &["webhook_url", "channel", "send_resolved"],
            Self::Webhook => &["url", "signing_secret", "max_alerts", "send_resolved"],
            Self::PagerDuty => &["routing_key", "url", "source", "send_resolved"],
            Self::Alertmanager => &["url"],
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Slack => "slack",
            Self::Webhook => "webhook",
            Self::PagerDuty => "pagerduty",
            Self::Alertmanager => "alertmanager",
        }
    }
}

/// A secret setting: a webhook URL, a routing key, a password. `Debug` never shows it; read it
/// with [`expose`](Self::expose) where it is sent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How a channel's notifications are delivered; every channel takes these `config` keys:
/// `name` (what routes call it; default its type, `"slack"`), `timeout` (each attempt's,
/// default `"10s"`), `retry_budget` (how long after the first attempt retries may still
/// start, default `"1m"`) and `rate_limit` (`"10/1m"`: at most 10 notifications a minute;
/// the rest wait for their group's next look, default none). An Alertmanager channel takes
/// `name` and `timeout` only: as Prometheus, it does not retry, since firing alerts are sent
/// again every `resend_delay` anyway.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The channel's name.
    pub name: String,
    /// Each attempt's timeout.
    pub timeout: Duration,
    /// How long after the first attempt a retry may still start.
    pub retry_budget: Duration,
    /// At most this many notifications per this period.
    pub rate_limit: Option<(u32, Duration)>,
}

/// How the email channel secures its SMTP connection. In `config`: `security = "starttls"`
/// (the default), `"tls"` (implicit TLS, usually port 465) or `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed. Default port 587.
    #[default]
    StartTls,
    /// TLS from the first byte. Default port 465.
    Tls,
    /// No encryption (a relay on this machine). Default port 25.
    None,
}

/// Email over SMTP. Keys: `smtp_server` (`host` or `host:port`), `from`, `to` (addresses
/// separated by commas), and optionally `username`, `password`, `security`, `send_resolved`
/// (default `false`).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailChannel {
    /// The SMTP server's host name.
    pub smtp_host: String,
    /// Its port: as given, or the default of the security mode.
    pub smtp_port: u16,
    /// How the connection is secured.
    pub security: SmtpSecurity,
    /// The sender address.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// The SMTP user, when the server wants authentication.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<Secret>,
    /// A PEM file of certificate authorities to trust besides the usual web ones (a private
    /// mail server's).
    pub ca_file: Option<std::path::PathBuf>,
    /// Whether resolved alerts are mailed too.
    pub send_resolved: bool,
}

/// A Slack incoming webhook. Keys: `webhook_url`, and optionally `channel`, `send_resolved`
/// (default `false`).
#[derive(Debug, Clone, PartialEq)]
pub struct SlackChannel {
    /// The webhook URL, which is itself the credential.
    pub webhook_url: Secret,
    /// A channel to post in instead of the webhook's own.
    pub channel: Option<String>,
    /// Whether resolved alerts are posted too.
    pub send_resolved: bool,
}

/// A generic HTTP webhook receiving Alertmanager's webhook payload. Keys: `url`, and optionally
/// `signing_secret` (`whsec_…`, Standard Webhooks), `send_resolved` (default `true`).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookChannel {
    /// Where the payload is posted; may carry a token, so kept secret.
    pub url: Secret,
    /// The key the payload is signed with.
    pub signing_secret: Option<Secret>,
    /// The most alerts one payload lists (the rest are counted in `truncatedAlerts`); 0 (the
    /// default) for all.
    pub max_alerts: usize,
    /// Whether resolved alerts are sent too.
    pub send_resolved: bool,
}

/// PagerDuty Events API v2. Keys: `routing_key`, and optionally `url` (default
/// `https://events.pagerduty.com/v2/enqueue`), `send_resolved` (default `true`).
#[derive(Debug, Clone, PartialEq)]
pub struct PagerDutyChannel {
    /// The integration's routing key.
    pub routing_key: Secret,
    /// The Events API endpoint.
    pub url: String,
    /// The event's `source`: where the problem is (default `kotoba-monitoring`).
    pub source: String,
    /// Whether resolved alerts resolve the incident.
    pub send_resolved: bool,
}

/// One or more Prometheus Alertmanagers. Keys: `url` (base URLs separated by commas).
/// `Debug` leaves out any `user:password@` of the URLs.
#[derive(Clone, PartialEq)]
pub struct AlertmanagerChannel {
    /// The Alertmanagers' base URLs (`http://host:9093`); alerts go to `/api/v2/alerts`.
    pub urls: Vec<String>,
}

impl std::fmt::Debug for AlertmanagerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self
            .urls
            .iter()
            .map(|u| super::without_userinfo(u))
            .collect();
        f.debug_struct("AlertmanagerChannel")
            .field("urls", &shown)
            .finish()
    }
}

/// A notification channel's settings, parsed from a [`NotificationConfig`]'s map and checked:
/// what [`MonitoringConfig::validate`](crate::MonitoringConfig::validate) accepts is what the
/// channel runs with.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use kotoba_monitoring::{Channel, NotificationConfig, NotificationType};
///
/// let slack = NotificationConfig {
///     notification_type: NotificationType::Slack,
///     config: HashMap::from([("webhook_url".into(), "https://hooks.slack.com/services/T/B/x".into())]),
/// };
/// let Channel::Slack(channel) = slack.channel()? else { unreachable!() };
/// assert!(!channel.send_resolved);
/// assert!(!format!("{channel:?}").contains("hooks.slack.com"));
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Channel {
    /// Email over SMTP.
    Email(EmailChannel),
    /// A Slack incoming webhook.
    Slack(SlackChannel),
    /// A generic HTTP webhook.
    Webhook(WebhookChannel),
    /// PagerDuty Events API v2.
    PagerDuty(PagerDutyChannel),
    /// Prometheus Alertmanagers.
    Alertmanager(AlertmanagerChannel),
}

/// The PagerDuty Events API v2 endpoint.
const PAGERDUTY_EVENTS: &str = "https://events.pagerduty.com/v2/enqueue";

impl NotificationConfig {
    /// A channel of `kind` with the settings `pairs`, as the configuration file writes them.
    ///
    /// # Examples
    ///
    /// ```
    /// use kotoba_monitoring::{NotificationConfig, NotificationType};
    ///
    /// let hook = NotificationConfig::new(
    ///     NotificationType::Webhook,
    ///     &[("url", "https://hooks.example/kotoba"), ("send_resolved", "false")],
    /// );
    /// assert_eq!(hook.config["send_resolved"], "false");
    /// ```
    pub fn new(kind: NotificationType, pairs: &[(&str, &str)]) -> Self {
        Self {
            notification_type: kind,
            config: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The settings parsed and checked for the channel's type.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] naming the setting (`config.<key>`): a required one
    /// missing, an unknown one, or a value that cannot work (not an `http(s)` URL, not an
    /// address, not a port, not `true` or `false`). Secret values are never quoted.
    pub fn channel(&self) -> Result<Channel, MonitoringError> {
        self.parse("config")
    }

    /// [`channel`](Self::channel), naming fields under `prefix`.
    pub(crate) fn parse(&self, prefix: &str) -> Result<Channel, MonitoringError> {
        let kind = self.notification_type;
        let settings = Settings {
            map: &self.config,
            prefix,
            kind: kind.as_str(),
        };
        let common: &[&str] = match kind {
            NotificationType::Alertmanager => &["name", "timeout"],
            _ => &["name", "timeout", "retry_budget", "rate_limit"],
        };
        let known: Vec<&str> = kind.known_keys().iter().chain(common).copied().collect();
        settings.only(&known)?;
        Ok(match kind {
            NotificationType::Email => {
                let security = match settings.optional("security")? {
                    None => SmtpSecurity::default(),
                    Some(s) => match s.to_ascii_lowercase().as_str() {
                        "starttls" => SmtpSecurity::StartTls,
                        "tls" => SmtpSecurity::Tls,
                        "none" => SmtpSecurity::None,
                        other => {
                            return Err(settings.bad(
                                "security",
                                format!("{other:?} is not one of \"starttls\", \"tls\", \"none\""),
                            ))
                        }
                    },
                };
                let server = settings.required("smtp_server")?;
                let (host, port) = match server.rsplit_once(':') {
                    Some((host, port)) => {
                        let port =
                            port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                                settings
                                    .bad("smtp_server", format!("{port:?} is not a port number"))
                            })?;
                        (host, port)
                    }
                    None => (
                        server,
                        match security {
                            SmtpSecurity::StartTls => 587,
                            SmtpSecurity::Tls => 465,
                            SmtpSecurity::None => 25,
                        },
                    ),
                };
                if host.is_empty() || host.contains(char::is_whitespace) {
                    return Err(
                        settings.bad("smtp_server", "give a host name, like smtp.example.com:587")
                    );
                }
                let from = settings.required("from")?;
                settings.address("from", from)?;
                let to: Vec<String> = settings
                    .required("to")?
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect();
                for address in &to {
                    settings.address("to", address)?;
                }
                Channel::Email(EmailChannel {
                    smtp_host: host.to_owned(),
                    smtp_port: port,
                    security,
                    from: from.to_owned(),
                    to,
                    username: settings.optional("username")?.map(str::to_owned),
                    password: settings.optional("password")?.map(Secret::new),
                    ca_file: settings.optional("ca_file")?.map(std::path::PathBuf::from),
                    send_resolved: settings.flag("send_resolved", false)?,
                })
            }
            NotificationType::Slack => Channel::Slack(SlackChannel {
                webhook_url: Secret::new(settings.url("webhook_url", true)?),
                channel: settings.optional("channel")?.map(str::to_owned),
                send_resolved: settings.flag("send_resolved", false)?,
            }),
            NotificationType::Webhook => {
                Channel::Webhook(WebhookChannel {
                    url: Secret::new(settings.url("url", true)?),
                    signing_secret: match settings.optional("signing_secret")? {
                        Some(s) if !s.starts_with("whsec_") => return Err(settings.bad(
                            "signing_secret",
                            "a Standard Webhooks secret starts with \"whsec_\" followed by base64",
                        )),
                        other => other.map(Secret::new),
                    },
                    max_alerts: match settings.optional("max_alerts")? {
                        None => 0,
                        Some(n) => n.parse().map_err(|_| {
                            settings.bad("max_alerts", format!("{n:?} is not a whole number"))
                        })?,
                    },
                    send_resolved: settings.flag("send_resolved", true)?,
                })
            }
            NotificationType::PagerDuty => Channel::PagerDuty(PagerDutyChannel {
                routing_key: Secret::new(settings.required("routing_key")?),
                url: match settings.optional("url")? {
                    Some(_) => settings.url("url", false)?.to_owned(),
                    None => PAGERDUTY_EVENTS.to_owned(),
                },
                source: settings
                    .optional("source")?
                    .unwrap_or("kotoba-monitoring")
                    .to_owned(),
                send_resolved: settings.flag("send_resolved", true)?,
            }),
            NotificationType::Alertmanager => {
                let urls = settings.required("url")?;
                let urls: Vec<String> = urls
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(|u| check_url(u).map(|()| u.trim_end_matches('/').to_owned()))
                    .collect::<Result<_, _>>()
                    // Not quoted: a URL may carry a password.
                    .map_err(|_| {
                        settings.bad(
                            "url",
                            "one of them is not an http:// or https:// URL with a host",
                        )
                    })?;
                Channel::Alertmanager(AlertmanagerChannel { urls })
            }
        })
    }
}

impl NotificationConfig {
    /// The [`Delivery`] settings, checked.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidConfig`] naming the setting.
    pub fn delivery(&self) -> Result<Delivery, MonitoringError> {
        self.parse_delivery("config")
    }

    pub(crate) fn parse_delivery(&self, prefix: &str) -> Result<Delivery, MonitoringError> {
        let settings = Settings {
            map: &self.config,
            prefix,
            kind: self.notification_type.as_str(),
        };
        let duration = |key: &str, default: Duration| match settings.optional(key)? {
            None => Ok(default),
            Some(text) => match super::duration::parse(text) {
                Ok(d) if !d.is_zero() => Ok(d),
                Ok(_) => Err(settings.bad(key, "must be longer than zero")),
                Err(why) => Err(settings.bad(key, why)),
            },
        };
        let rate_limit = match settings.optional("rate_limit")? {
            None => None,
            Some(text) => {
                let parsed = text.split_once('/').and_then(|(n, per)| {
                    let n: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
                    let per = super::duration::parse(per).ok().filter(|d| !d.is_zero())?;
                    Some((n, per))
                });
                Some(parsed.ok_or_else(|| {
                    settings.bad(
                        "rate_limit",
                        format!("{text:?} is not a count and a period, like \"10/1m\""),
                    )
                })?)
            }
        };
        Ok(Delivery {
            name: settings
                .optional("name")?
                .unwrap_or(self.notification_type.as_str())
                .to_owned(),
            timeout: duration("timeout", Duration::from_secs(10))?,
            retry_budget: duration("retry_budget", Duration::from_secs(60))?,
            rate_limit,
        })
    }
}

/// A channel's settings map, read with errors that name the field.
struct Settings<'a> {
    map: &'a HashMap<String, String>,
    prefix: &'a str,
    kind: &'static str,
}

impl Settings<'_> {
    fn bad(&self, key: &str, reason: impl Into<String>) -> MonitoringError {
        MonitoringError::config(format!("{}.{key}", self.prefix), reason)
    }

    fn only(&self, known: &[&str]) -> Result<(), MonitoringError> {
        let mut keys: Vec<&String> = self.map.keys().collect();
        keys.sort();
        match keys.into_iter().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(self.bad(
                unknown,
                format!(
                    "a {} notification has no setting `{unknown}`; it takes {}",
                    self.kind,
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    fn optional(&self, key: &str) -> Result<Option<&str>, MonitoringError> {
        Ok(self
            .map
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty()))
    }

    fn required(&self, key: &str) -> Result<&str, MonitoringError> {
        self.optional(key)?
            .ok_or_else(|| self.bad(key, format!("a {} notification needs `{key}`", self.kind)))
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, MonitoringError> {
        match self.optional(key)? {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(self.bad(key, format!("{v:?} is not \"true\" or \"false\""))),
        }
    }

    /// The URL under `key`; a `secret` one is never quoted in the error.
    fn url(&self, key: &str, secret: bool) -> Result<&str, MonitoringError> {
        let url = self.required(key)?;
        check_url(url).map_err(|why| {
            let why = if secret {
                "it is not an http:// or https:// URL with a host".to_owned()
            } else {
                why
            };
            self.bad(key, why)
        })?;
        Ok(url)
    }

    fn address(&self, key: &str, address: &str) -> Result<(), MonitoringError> {
        match address.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !address.contains(' ') =>
            {
                Ok(())
            }
            _ => Err(self.bad(key, format!("{address:?} is not an email address"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(kind: NotificationType, pairs: &[(&str, &str)]) -> Result<Channel, MonitoringError> {
        NotificationConfig::new(kind, pairs).channel()
    }

    #[test]
    fn each_channel_parses_with_its_defaults() {
        let email = channel(
            NotificationType::Email,
            &[
                ("smtp_server", "smtp.example.com"),
                ("from", "db@example.com"),
                ("to", "a@example.com, b@example.com"),
                ("security", "tls"),
                ("password", "hunter2"),
            ],
        )
        .unwrap();
        let Channel::Email(email) = email else {
            panic!("{email:?}")
        };
        assert_eq!(
            (email.smtp_host.as_str(), email.smtp_port),
            ("smtp.example.com", 465)
        );
        assert_eq!(email.to, ["a@example.com", "b@example.com"]);
        assert!(!email.send_resolved);
        assert_eq!(email.password.as_ref().map(Secret::expose), Some("hunter2"));
        assert!(!format!("{email:?}").contains("hunter2"));

        let pd = channel(NotificationType::PagerDuty, &[("routing_key", "R0UT1NG")]).unwrap();
        let Channel::PagerDuty(pd) = pd else {
            panic!("{pd:?}")
        };
        assert_eq!(pd.url, "https://events.pagerduty.com/v2/enqueue");
        assert!(pd.send_resolved);
        assert!(!format!("{pd:?}").contains("R0UT1NG"));

        let am = channel(
            NotificationType::Alertmanager,
            &[("url", "http://127.0.0.1:9093/, http://am2:9093")],
        )
        .unwrap();
        assert_eq!(
            am,
            Channel::Alertmanager(AlertmanagerChannel {
                urls: vec!["http://127.0.0.1:9093".into(), "http://am2:9093".into()]
            })
        );
        let hook = channel(
            NotificationType::Webhook,
            &[("url", "https://x.example/h"), ("send_resolved", "FALSE")],
        )
        .unwrap();
        assert!(matches!(
            hook,
            Channel::Webhook(WebhookChannel {
                send_resolved: false,
                ..
            })
        ));
    }

    #[test]
    fn required_keys_are_the_ones_a_channel_cannot_do_without() {
        let value = |key: &str| match key {
            "smtp_server" => "smtp.example.com:587",
            "from" => "alerts@example.com",
            "to" => "oncall@example.com",
            "webhook_url" | "url" => "https://hooks.example.com/x",
            _ => "R0UT1NG",
        };
        for kind in [
            NotificationType::Email,
            NotificationType::Slack,
            NotificationType::Webhook,
            NotificationType::PagerDuty,
            NotificationType::Alertmanager,
        ] {
            let all: Vec<(&str, &str)> = kind
                .required_keys()
                .iter()
                .map(|key| (*key, value(key)))
                .collect();
            assert!(
                channel(kind, &all).is_ok(),
                "{kind:?} with its required keys"
            );
            for missing in kind.required_keys() {
                let rest: Vec<(&str, &str)> =
                    all.iter().copied().filter(|(k, _)| k != missing).collect();
                let err = channel(kind, &rest).unwrap_err().to_string();
                assert!(err.contains(missing), "{kind:?} without {missing}: {err}");
            }
        }
    }

    #[test]
    fn bad_settings_name_the_key_and_never_quote_a_secret() {
        type Case = (
            NotificationType,
            &'static [(&'static str, &'static str)],
            &'static str,
        );
        let cases: [Case; 9] = [
            (NotificationType::Slack, &[], "webhook_url"),
            (
                NotificationType::Slack,
                &[("webhook_url", "hooks.slack.com/s3cr3t")],
                "webhook_url",
            ),
            (
                NotificationType::Slack,
                &[("webhook_url", "https://h/s3cr3t"), ("chanel", "#ops")],
                "chanel",
            ),
            (
                NotificationType::Webhook,
                &[("url", "https://h/x"), ("signing_secret", "s3cr3t")],
                "signing_secret",
            ),
            (
                NotificationType::Email,
                &[("smtp_server", "smtp:xx"), ("from", "a@b"), ("to", "c@d")],
                "smtp_server",
            ),
            (
                NotificationType::Email,
                &[("smtp_server", "smtp"), ("from", "nobody"), ("to", "c@d")],
                "from",
            ),
            (
                NotificationType::Email,
                &[
                    ("smtp_server", "smtp"),
                    ("from", "a@b"),
                    ("to", "c@d"),
                    ("security", "ssl"),
                ],
                "security",
            ),
            (
                NotificationType::PagerDuty,
                &[("routing_key", "s3cr3t"), ("send_resolved", "yes")],
                "send_resolved",
            ),
            (NotificationType::Alertmanager, &[("url", "am:9093")], "url"),
        ];
        for (kind, pairs, key) in cases {
            let err = channel(kind, pairs).unwrap_err();
            assert_eq!(err.field(), Some(format!("config.{key}").as_str()), "{err}");
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
        }
    }
}
