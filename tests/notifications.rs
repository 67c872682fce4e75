//! Notifications from a running monitor, proven against real receivers: a real Alertmanager
//! 0.25 (Debian's `prometheus-alertmanager`) takes our pushes and delivers its own webhooks,
//! which ours must equal field by field; local receivers check Slack's and PagerDuty's
//! documented schemas and misbehave on purpose; a real SMTP server (Debian's
//! `python3-aiosmtpd`) takes our mail over STARTTLS with AUTH.

mod common;

use std::time::Duration;

use common::{get, peer_test, wait_for, Alertmanager, Answer, HookServer, Received};
use kotoba_monitoring::{Gauge, Monitor, MonitoringConfig, NotificationConfig, NotificationType};
use libtest_mimic::{Arguments, Trial};
use serde_json::Value;

const EXTERNAL_URL: &str = "http://kotoba.example:9093";

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let tests = vec![
        peer_test(
            "alertmanager_takes_our_alerts_and_its_webhook_equals_ours",
            &["prometheus-alertmanager"],
            "apt-get install -y prometheus-alertmanager",
            alertmanager_takes_our_alerts_and_its_webhook_equals_ours,
        ),
        Trial::test(
            "slack_and_pagerduty_get_their_schemas_through_429_500_slow_and_reset",
            || {
                slack_and_pagerduty_get_their_schemas_through_429_500_slow_and_reset();
                Ok(())
            },
        ),
        Trial::test(
            "a_refusal_is_not_retried_a_slow_receiver_delays_no_other_and_secrets_stay_secret",
            || {
                a_refusal_is_not_retried_a_slow_receiver_delays_no_other_and_secrets_stay_secret();
                Ok(())
            },
        ),
        smtp_test(
            "mail_reaches_a_real_smtp_server_over_starttls_with_auth",
            mail_reaches_a_real_smtp_server_over_starttls_with_auth,
        ),
    ];
    libtest_mimic::run(&args, tests).exit_code()
}

/// A test that needs Debian's `python3-aiosmtpd` (for `/usr/bin/python3`) and `openssl`,
/// as [`common::peer_test`] runs one.
fn smtp_test(name: &'static str, body: fn()) -> Trial {
    let python = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut missing = Vec::new();
    if !python {
        missing.push("python3-aiosmtpd".to_owned());
    }
    if common::which("openssl").is_none() {
        missing.push("openssl".to_owned());
    }
    common::peer_test_missing(
        name,
        missing,
        "apt-get install -y python3-aiosmtpd openssl",
        body,
    )
}

/// A monitor evaluating `rules` every 100 ms, notifying `channels` with a route that groups
/// by alert name, waits 1 s and looks again every second.
fn monitor(rules: &str, channels: Vec<NotificationConfig>) -> (Monitor, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, rules).unwrap();
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(50),
        ..MonitoringConfig::default()
    };
    config.prometheus_config.address = "127.0.0.1".into();
    config.prometheus_config.port = 0;
    config
        .prometheus_config
        .global_labels
        .insert("cluster".into(), "east".into());
    let alerting = &mut config.alerting_config;
    alerting.enabled = true;
    alerting.evaluation_interval = Duration::from_millis(100);
    alerting.external_url = EXTERNAL_URL.into();
    alerting.rule_files = vec![path];
    alerting.resend_delay = Duration::from_secs(1);
    alerting.notifications = channels;
    alerting.route.group_by = Some(vec!["alertname".into()]);
    alerting.route.group_wait = Some(Duration::from_secs(1));
    alerting.route.group_interval = Some(Duration::from_secs(1));
    alerting.route.repeat_interval = Some(Duration::from_secs(3600));
    (Monitor::new(config).unwrap(), dir)
}

const CPU_RULES: &str = r#"
groups:
  - name: cpu
    interval: 100ms
    rules:
      - alert: HighCpu
        expr: app_cpu_percent > 80
        labels:
          severity: warning
        annotations:
          summary: 'core {{ $labels.core }} at {{ $value }}%'
"#;

/// Sets `app_cpu_percent{core="0"}` to 95, above `CPU_RULES`' threshold, and starts
/// `monitor`; the gauge, to cool it later.
fn start_hot(monitor: &Monitor) -> Gauge {
    let cpu = monitor
        .registry()
        .gauge_family("app_cpu_percent", "CPU in use.")
        .unwrap()
        .with_labels(&[("core", "0")])
        .unwrap();
    cpu.set(95.0);
    monitor.start().unwrap();
    cpu
}

/// The first payload `hook` received whose `status` is `status`.
fn payload(hook: &HookServer, status: &str) -> Option<Value> {
    hook.requests()
        .iter()
        .map(Received::json)
        .find(|p| p["status"] == status)
}

fn alertmanager_takes_our_alerts_and_its_webhook_equals_ours() {
    let am_hook = HookServer::ok();
    let our_hook = HookServer::ok();
    let am = Alertmanager::start(
        &format!(
            r#"
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {}
        send_resolved: true
"#,
            am_hook.url("/hook")
        ),
        EXTERNAL_URL,
    );
    let (monitor, _dir) = monitor(
        CPU_RULES,
        vec![
            NotificationConfig::new(NotificationType::Alertmanager, &[("url", &am.url())]),
            NotificationConfig::new(
                NotificationType::Webhook,
                &[("url", &our_hook.url("/hook")), ("name", "hook")],
            ),
        ],
    );
    let cpu = start_hot(&monitor);

    // Alertmanager holds our alert, with our labels and our fingerprint.
    let held = wait_for(
        "Alertmanager to hold the alert",
        Duration::from_secs(30),
        || {
            am.alerts()
                .into_iter()
                .find(|a| a["labels"]["alertname"] == "HighCpu")
        },
    );
    let expected_labels = serde_json::json!({
        "alertname": "HighCpu", "cluster": "east", "core": "0", "severity": "warning"
    });
    assert_eq!(held["labels"], expected_labels, "{held:#}");
    assert_eq!(held["annotations"]["summary"], "core 0 at 95%");
    assert!(
        held["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{EXTERNAL_URL}/graph?g0.expr=app_cpu_percent")),
        "{held:#}"
    );

    // Its webhook and ours say the same, field by field.
    let ours = webhooks_alike(&am_hook, &our_hook, "firing");
    assert_eq!(ours["alerts"][0]["fingerprint"], held["fingerprint"]);

    // Resolved: gone from Alertmanager's list, and both webhooks say so alike.
    cpu.set(10.0);
    wait_for(
        "Alertmanager to resolve it",
        Duration::from_secs(30),
        || {
            am.alerts()
                .iter()
                .all(|a| a["labels"]["alertname"] != "HighCpu")
                .then_some(())
        },
    );
    webhooks_alike(&am_hook, &our_hook, "resolved");
    let status = monitor.notification_channels();
    assert!(
        status
            .iter()
            .all(|c| c.delivered >= 1 && c.last_error.is_none()),
        "{status:?}"
    );
    monitor.stop().unwrap();
}

/// The first payloads of `status` that Alertmanager's webhook and ours received, once both
/// have, asserted equal field by field; ours is returned.
fn webhooks_alike(theirs: &HookServer, ours: &HookServer, status: &str) -> Value {
    let wait = |who: &str, hook: &HookServer| {
        wait_for(
            &format!("{who} {status} webhook"),
            Duration::from_secs(30),
            || payload(hook, status),
        )
    };
    let (theirs, ours) = (wait("Alertmanager's", theirs), wait("our", ours));
    assert_same_payload(&theirs, &ours);
    ours
}

/// Every field of Alertmanager's webhook payload equals ours.
fn assert_same_payload(theirs: &Value, ours: &Value) {
    let fields = [
        "version",
        "status",
        "receiver",
        "groupKey",
        "truncatedAlerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
    ];
    for field in fields {
        assert_eq!(
            theirs[field], ours[field],
            "{field}: theirs {theirs:#} ours {ours:#}"
        );
    }
    let (a, b) = (
        theirs["alerts"].as_array().unwrap(),
        ours["alerts"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "theirs {theirs:#} ours {ours:#}");
    for (x, y) in a.iter().zip(b) {
        for field in [
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        ] {
            assert_eq!(
                x[field], y[field],
                "alerts[].{field}: theirs {x:#} ours {y:#}"
            );
        }
    }
    let mut keys: Vec<&String> = theirs.as_object().unwrap().keys().collect();
    let mut our_keys: Vec<&String> = ours.as_object().unwrap().keys().collect();
    keys.sort();
    our_keys.sort();
    assert_eq!(keys, our_keys);
}

/// The problems of a Slack incoming-webhook message, by Slack's documented limits: `text`,
/// at most 50 blocks of known types, a header's plain text within 150 characters, a
/// section's text within 3,000.
fn slack_problems(message: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if message["text"].as_str().is_none_or(str::is_empty) {
        problems.push("no text".to_owned());
    }
    let blocks = message["blocks"].as_array().cloned().unwrap_or_default();
    if blocks.is_empty() || blocks.len() > 50 {
        problems.push(format!("{} blocks", blocks.len()));
    }
    for block in &blocks {
        let text = block["text"]["text"].as_str().unwrap_or("");
        match block["type"].as_str() {
            Some("header")
                if block["text"]["type"] == "plain_text" && text.chars().count() <= 150 => {}
            Some("section")
                if block["text"]["type"] == "mrkdwn"
                    && !text.is_empty()
                    && text.chars().count() <= 3000 => {}
            Some("context")
                if block["elements"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty() && e.len() <= 10) => {}
            _ => problems.push(format!("bad block {block}")),
        }
    }
    problems
}

/// The problems of a PagerDuty Events API v2 event, by its documented schema.
fn pagerduty_problems(event: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if event["routing_key"].as_str().map(str::len) != Some(32) {
        problems.push("routing_key is not 32 characters".to_owned());
    }
    let action = event["event_action"].as_str().unwrap_or("");
    if !["trigger", "acknowledge", "resolve"].contains(&action) {
        problems.push(format!("event_action {action:?}"));
    }
    if !event["dedup_key"]
        .as_str()
        .is_some_and(|k| !k.is_empty() && k.len() <= 255)
    {
        problems.push("dedup_key".to_owned());
    }
    if action == "trigger" {
        let payload = &event["payload"];
        if !payload["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty() && s.chars().count() <= 1024)
        {
            problems.push("payload.summary".to_owned());
        }
        if payload["source"].as_str().is_none_or(str::is_empty) {
            problems.push("payload.source".to_owned());
        }
        if !["critical", "error", "warning", "info"]
            .contains(&payload["severity"].as_str().unwrap_or(""))
        {
            problems.push(format!("payload.severity {}", payload["severity"]));
        }
        if payload
            .get("custom_details")
            .is_some_and(|d| !d.is_object())
        {
            problems.push("payload.custom_details".to_owned());
        }
    }
    problems
}

fn slack_and_pagerduty_get_their_schemas_through_429_500_slow_and_reset() {
    let slack = HookServer::start(|n, request| match n {
        0 => Answer::Status(
            429,
            vec![("Retry-After", "1".into())],
            "rate_limited".into(),
        ),
        1 => Answer::Status(500, Vec::new(), "rollup_error".into()),
        2 => Answer::Reset,
        _ => match slack_problems(&request.json()).as_slice() {
            [] => Answer::Status(200, Vec::new(), "ok".into()),
            problems => Answer::Status(400, Vec::new(), format!("invalid_blocks {problems:?}")),
        },
    });
    let accepted = |request: &Received| {
        let event = request.json();
        match pagerduty_problems(&event).as_slice() {
            [] => Answer::Status(
                202,
                Vec::new(),
                serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]}).to_string(),
            ),
            problems => Answer::Status(
                400,
                Vec::new(),
                serde_json::json!({"status": "invalid event", "message": "Event object is invalid", "errors": problems}).to_string(),
            ),
        }
    };
    let pagerduty = HookServer::start(move |n, request| match n {
        0 => Answer::Slow(Duration::from_secs(3), 202, "{}".into()),
        _ => accepted(request),
    });
    let key = "0123456789abcdef0123456789abcdef";
    let (monitor, _dir) = monitor(
        CPU_RULES,
        vec![
            NotificationConfig::new(
                NotificationType::Slack,
                &[
                    ("webhook_url", &slack.url("/services/T0/B0/XXXX")),
                    ("send_resolved", "true"),
                    ("retry_budget", "30s"),
                ],
            ),
            NotificationConfig::new(
                NotificationType::PagerDuty,
                &[
                    ("routing_key", key),
                    ("url", &pagerduty.url("/v2/enqueue")),
                    ("timeout", "1s"),
                    ("retry_budget", "30s"),
                ],
            ),
        ],
    );
    let cpu = start_hot(&monitor);
    let delivered = |name: &str, n: u64| {
        monitor
            .notification_channels()
            .iter()
            .any(|c| c.name == name && c.delivered >= n)
            .then_some(())
    };
    wait_for("Slack's delivery", Duration::from_secs(60), || {
        delivered("slack", 1)
    });
    wait_for("PagerDuty's delivery", Duration::from_secs(60), || {
        delivered("pagerduty", 1)
    });

    // Slack: 429, 500 and a reset connection were retried, the 429 after its Retry-After.
    let sent = slack.requests();
    assert_eq!(sent.len(), 4, "Slack's requests");
    assert!(sent[1].at.duration_since(sent[0].at) >= Duration::from_secs(1));
    let message = sent[3].json();
    assert!(slack_problems(&message).is_empty());
    assert_eq!(message["text"], "[FIRING:1] HighCpu (east 0 warning)");
    // PagerDuty: the slow answer timed out and was retried; a trigger with the group's key.
    let events: Vec<Value> = pagerduty.requests().iter().map(Received::json).collect();
    assert!(events.len() >= 2, "PagerDuty's requests: {}", events.len());
    let trigger = &events[events.len() - 1];
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "warning");
    assert_eq!(
        trigger["payload"]["summary"],
        "[FIRING:1] HighCpu (east 0 warning)"
    );
    let dedup_key = trigger["dedup_key"].as_str().unwrap().to_owned();
    assert_eq!(dedup_key.len(), 64);

    // Resolved: PagerDuty resolves the same incident; Slack says so.
    cpu.set(10.0);
    wait_for("PagerDuty's resolve", Duration::from_secs(60), || {
        delivered("pagerduty", 2)
    });
    wait_for("Slack's resolved message", Duration::from_secs(60), || {
        delivered("slack", 2)
    });
    let resolve = pagerduty.requests().last().unwrap().json();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], dedup_key.as_str());
    let resolved = slack.requests().last().unwrap().json();
    assert_eq!(resolved["text"], "[RESOLVED] HighCpu (east 0 warning)");
    assert!(slack_problems(&resolved).is_empty());

    let metrics = get(monitor.local_addr().unwrap(), "/metrics").text();
    let retries = metrics
        .lines()
        .find(|l| l.starts_with("kotoba_monitoring_notification_retries_total{channel=\"slack\""));
    assert_eq!(retries.and_then(|l| l.rsplit(' ').next()), Some("3"));
    let status = monitor.notification_channels();
    assert!(status.iter().all(|c| c.failed == 0), "{status:?}");
    monitor.stop().unwrap();
}

fn a_refusal_is_not_retried_a_slow_receiver_delays_no_other_and_secrets_stay_secret() {
    let refuser = HookServer::start(|_, _| Answer::Status(400, Vec::new(), "bad request".into()));
    let slow = HookServer::start(|_, _| Answer::Slow(Duration::from_secs(3), 200, "".into()));
    let fast = HookServer::ok();
    let flaky = HookServer::start(|n, _| match n {
        0 => Answer::Status(503, Vec::new(), "busy".into()),
        _ => Answer::Status(200, Vec::new(), "ok".into()),
    });
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (monitor, _dir) = monitor(
        CPU_RULES,
        vec![
            NotificationConfig::new(
                NotificationType::Webhook,
                &[
                    ("url", &refuser.url("/hook/TOPSECRET")),
                    ("name", "refuser"),
                ],
            ),
            NotificationConfig::new(
                NotificationType::Webhook,
                &[("url", &slow.url("/hook")), ("name", "slow")],
            ),
            NotificationConfig::new(
                NotificationType::Webhook,
                &[
                    ("url", &fast.url("/hook")),
                    ("name", "fast"),
                    ("signing_secret", secret),
                ],
            ),
            NotificationConfig::new(
                NotificationType::Webhook,
                &[
                    ("url", &flaky.url("/hook")),
                    ("name", "flaky"),
                    ("signing_secret", secret),
                ],
            ),
            NotificationConfig::new(
                NotificationType::Slack,
                &[
                    (
                        "webhook_url",
                        "http://127.0.0.1:1/services/T0/B0/SLACKTOKEN",
                    ),
                    ("retry_budget", "2s"),
                ],
            ),
        ],
    );
    start_hot(&monitor);
    let status = |name: &str| {
        monitor
            .notification_channels()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap()
    };
    // The fast receiver has its notification while the slow one still answers.
    let at_fast = wait_for("the fast receiver", Duration::from_secs(30), || {
        fast.requests().first().cloned()
    });
    assert_eq!(
        status("slow").delivered,
        0,
        "the slow receiver delayed the fast one"
    );
    // Signed as Standard Webhooks says: HMAC-SHA256 of id, timestamp and body.
    let signed = format!(
        "{}.{}.{}",
        at_fast.header("webhook-id").unwrap(),
        at_fast.header("webhook-timestamp").unwrap(),
        String::from_utf8(at_fast.body.clone()).unwrap()
    );
    let key = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        secret.trim_start_matches("whsec_"),
    )
    .unwrap();
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        signed.as_bytes(),
    );
    assert_eq!(
        at_fast.header("webhook-signature").unwrap(),
        format!(
            "v1,{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, tag.as_ref())
        )
    );

    // A retry is the same message: the same webhook-id, so a receiver can drop a repeat.
    wait_for(
        "the flaky receiver's retry",
        Duration::from_secs(30),
        || (status("flaky").delivered == 1).then_some(()),
    );
    let tries = flaky.requests();
    assert_eq!(tries.len(), 2, "one refused attempt and its retry");
    assert_eq!(
        tries[0].header("webhook-id"),
        tries[1].header("webhook-id"),
        "a retry carries its message's id"
    );

    // A 400 is not retried: one request, one failure, its reason kept.
    wait_for("the refusal", Duration::from_secs(30), || {
        (status("refuser").failed == 1).then_some(())
    });
    assert_eq!(refuser.requests().len(), 1);
    let (_, error) = status("refuser").last_error.unwrap();
    assert!(
        error.contains("400") && error.contains("bad request"),
        "{error}"
    );
    wait_for("the slow receiver", Duration::from_secs(30), || {
        (status("slow").delivered == 1).then_some(())
    });
    let (_, dead) = wait_for("the dead Slack", Duration::from_secs(30), || {
        status("slack").last_error
    });
    assert!(
        dead.contains("connection") && dead.contains("gave up"),
        "{dead}"
    );

    // No secret in errors, statuses, pages or Debug.
    let page = get(monitor.local_addr().unwrap(), "/alerts").text();
    let health = get(monitor.local_addr().unwrap(), "/health").text();
    let shown = format!(
        "{:?} {page} {health} {:?}",
        monitor.notification_channels(),
        monitor.config()
    );
    for secret in [
        "TOPSECRET",
        "SLACKTOKEN",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(
        page.contains("\"refuser\"") && page.contains("bad request"),
        "{page}"
    );
    monitor.stop().unwrap();
}

/// A certificate authority and a certificate for `localhost` signed by it, made with
/// `openssl` in `dir`: (CA file, certificate, key).
fn certificates(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=kotoba test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

/// The aiosmtpd server of `tests/peers/smtp_server.py`, killed and reaped on drop.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    out: std::path::PathBuf,
}

impl SmtpServer {
    fn start(
        dir: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
        implicit_tls: bool,
    ) -> Self {
        use std::io::BufRead;
        let out = dir.join(if implicit_tls { "mail-tls" } else { "mail" });
        std::fs::create_dir_all(&out).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/smtp_server.py");
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .arg(cert)
            .arg(key)
            .args(["kotoba", "s3cret-pass"])
            .arg(&out)
            .args(implicit_tls.then_some("tls"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(dir.join("smtp.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "the SMTP server did not start: {:?}",
                std::fs::read_to_string(dir.join("smtp.log"))
            )
        });
        Self { child, port, out }
    }

    /// The messages received: (envelope, raw message).
    fn messages(&self) -> Vec<(Value, String)> {
        let mut found = Vec::new();
        for n in 1.. {
            let Ok(envelope) = std::fs::read(self.out.join(format!("{n}.json"))) else {
                break;
            };
            let raw = std::fs::read_to_string(self.out.join(format!("{n}.eml"))).unwrap();
            found.push((serde_json::from_slice(&envelope).unwrap(), raw));
        }
        found
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The header `name` of the raw message `raw`.
fn mail_header(raw: &str, name: &str) -> Option<String> {
    raw.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
}

fn mail_reaches_a_real_smtp_server_over_starttls_with_auth() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let smtp = SmtpServer::start(dir.path(), &cert, &key, false);
    let smtps = SmtpServer::start(dir.path(), &cert, &key, true);
    let email = |name: &str, password: &str, server: &SmtpServer, security: &str| {
        NotificationConfig::new(
            NotificationType::Email,
            &[
                ("name", name),
                ("smtp_server", &format!("localhost:{}", server.port)),
                ("security", security),
                ("username", "kotoba"),
                ("password", password),
                ("ca_file", ca.to_str().unwrap()),
                ("from", "kotoba@db.example"),
                ("to", "oncall@db.example, dba@db.example"),
                ("send_resolved", "true"),
            ],
        )
    };
    let (monitor, _rules) = monitor(
        CPU_RULES,
        vec![
            email("mail", "s3cret-pass", &smtp, "starttls"),
            email("wrong", "not-the-pass", &smtp, "starttls"),
            email("implicit", "s3cret-pass", &smtps, "tls"),
        ],
    );
    let cpu = start_hot(&monitor);
    let (envelope, raw) = wait_for("the firing mail", Duration::from_secs(60), || {
        smtp.messages().into_iter().next()
    });
    assert_eq!(envelope["user"], "kotoba");
    assert_eq!(envelope["tls"], true);
    assert_eq!(envelope["mail_from"], "kotoba@db.example");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["oncall@db.example", "dba@db.example"])
    );
    assert_eq!(
        mail_header(&raw, "Subject").as_deref(),
        Some("[FIRING:1] HighCpu (east 0 warning)")
    );
    assert!(
        raw.contains("multipart/alternative") && raw.contains("text/html"),
        "{raw}"
    );
    assert!(raw.contains("summary: core 0 at 95%"), "{raw}");
    let (envelope, raw) = wait_for(
        "the mail over implicit TLS",
        Duration::from_secs(60),
        || smtps.messages().into_iter().next(),
    );
    assert_eq!(envelope["user"], "kotoba");
    assert!(raw.contains("[FIRING:1] HighCpu"), "{raw}");

    // A refused password is a permanent failure, not retried, the password nowhere.
    let status = |name: &str| {
        monitor
            .notification_channels()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap()
    };
    let (_, error) = wait_for("the refused login", Duration::from_secs(60), || {
        status("wrong").last_error
    });
    assert!(
        error.contains("535") || error.contains("uthentication"),
        "{error}"
    );
    assert!(
        !error.contains("not-the-pass") && !format!("{:?}", monitor.config()).contains("s3cret")
    );

    cpu.set(10.0);
    let (_, raw) = wait_for("the resolved mail", Duration::from_secs(60), || {
        smtp.messages().into_iter().nth(1)
    });
    assert_eq!(
        mail_header(&raw, "Subject").as_deref(),
        Some("[RESOLVED] HighCpu (east 0 warning)")
    );
    assert_eq!(status("mail").failed, 0);
    monitor.stop().unwrap();
}
