//! Module implementing the email channel: a subject (Alertmanager's default) and a body in
//! plain text and HTML, sent with `lettre`'s blocking SMTP transport over rustls, with
//! STARTTLS, implicit TLS or none, and AUTH when a user is set. See [`EmailSender`].

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::alert::PostableAlert;
use super::delivery::{Deliver, Failure};
use super::dispatch::Notification;
use super::text::{alert_lines, firing, resolved, subject};
use crate::config::{EmailChannel, SmtpSecurity};

/// Mails notifications through one SMTP server.
pub(crate) struct EmailSender {
    pub(crate) channel: EmailChannel,
    pub(crate) external_url: String,
}

/// The sections both bodies have: the firing alerts, then the resolved ones, each under its
/// title, a section left out when it has none.
fn sections(n: &Notification) -> impl Iterator<Item = (&'static str, Vec<&PostableAlert>)> {
    [
        ("Firing", firing(n).collect::<Vec<_>>()),
        ("Resolved", resolved(n).collect()),
    ]
    .into_iter()
    .filter(|(_, alerts)| !alerts.is_empty())
}

/// The plain-text body of `n`.
pub(crate) fn text_body(n: &Notification, external_url: &str) -> String {
    let mut out = String::new();
    for (title, alerts) in sections(n) {
        out.push_str(&format!("{title}: {}\n\n", alerts.len()));
        for alert in alerts {
            for line in alert_lines(alert) {
                out.push_str(&format!("  {line}\n"));
            }
            out.push('\n');
        }
    }
    if !external_url.is_empty() {
        out.push_str(&format!("Dashboards: {external_url}\n"));
    }
    out
}

/// The HTML body of `n`: the same as the text, in a table per alert.
pub(crate) fn html_body(n: &Notification, external_url: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = format!(
        "<!DOCTYPE html><html><body><h2>{}</h2>",
        escape(&subject(n))
    );
    for (title, alerts) in sections(n) {
        out.push_str(&format!("<h3>{title}: {}</h3>", alerts.len()));
        for alert in alerts {
            out.push_str("<table>");
            for line in alert_lines(alert) {
                let (name, value) = line.split_once(": ").unwrap_or(("", &line));
                out.push_str(&format!(
                    "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                    escape(name),
                    escape(value)
                ));
            }
            out.push_str("</table><br>");
        }
    }
    if !external_url.is_empty() {
        out.push_str(&format!(
            "<p><a href=\"{0}\">{0}</a></p>",
            escape(external_url)
        ));
    }
    out.push_str("</body></html>");
    out
}

impl EmailSender {
    fn transport(&self, timeout: Duration) -> Result<SmtpTransport, Failure> {
        let c = &self.channel;
        let mut tls = TlsParameters::builder(c.smtp_host.clone());
        if let Some(path) = &c.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Failure::permanent(format!("email: ca_file {}: {e}", path.display()))
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                Failure::permanent(format!("email: ca_file {}: {e}", path.display()))
            })?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = || {
            tls.clone()
                .build_rustls()
                .map_err(|e| Failure::permanent(format!("email: TLS settings: {e}")))
        };
        let mode = match c.security {
            SmtpSecurity::StartTls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = SmtpTransport::builder_dangerous(c.smtp_host.as_str())
            .port(c.smtp_port)
            .tls(mode)
            .timeout(Some(timeout));
        if let Some(user) = &c.username {
            let password = c
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(builder.build())
    }

    fn message(&self, n: &Notification) -> Result<Message, Failure> {
        let c = &self.channel;
        let parse = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| Failure::permanent(format!("email: address {a:?}: {e}")))
        };
        let mut builder = Message::builder().from(parse(&c.from)?).subject(subject(n));
        for to in &c.to {
            builder = builder.to(parse(to)?);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                text_body(n, &self.external_url),
                html_body(n, &self.external_url),
            ))
            .map_err(|e| Failure::permanent(format!("email: {e}")))
    }
}

impl Deliver for EmailSender {
    fn send(&mut self, n: &Notification, timeout: Duration) -> Result<(), Failure> {
        let message = self.message(n)?;
        let transport = self.transport(timeout)?;
        transport.send(&message).map(drop).map_err(|e| {
            let text = format!(
                "email via {}:{}: {e}",
                self.channel.smtp_host, self.channel.smtp_port
            );
            if e.is_permanent() {
                Failure::permanent(text)
            } else {
                Failure::transient(text)
            }
        })
    }
}
