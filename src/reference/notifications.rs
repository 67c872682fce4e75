//! Notifications: Alertmanager's routing, grouping, inhibition and retries, and every channel's keys.
//!
//! Alerts reach people through `alerting_config.notifications`: Slack, a webhook, PagerDuty,
//! email, and Alertmanager. After each evaluation the `kotoba-alert` thread hands over what
//! Prometheus would send an Alertmanager (a new state at once, a firing alert again every
//! `resend_delay`), through a queue that never makes it wait (when full, the oldest batch is
//! dropped and counted in `kotoba_monitoring_notification_batches_dropped_total`). The
//! `kotoba-notify` thread then works as Alertmanager does:
//!
//! - **Alertmanager channels** get every alert, pushed to `POST /api/v2/alerts` in batches of at
//!   most 256, firing ones with `endsAt` four resends ahead, resolved ones with their time for
//!   15 minutes: routing, silences and inhibition are then that Alertmanager's.
//! - **The other channels** are routed: `route` sends alerts whose labels match a route's
//!   `matchers` to its `receivers` (channel names), in groups of equal `group_by` labels. A
//!   new group waits `group_wait` (30 s) for more alerts, then notifies; after that it is
//!   looked at every `group_interval` (5 m), and a notification goes out only if an alert
//!   joined, or one resolved (to a channel with `send_resolved`), or `repeat_interval` (4 h)
//!   has passed while alerts still fire. A notification carries the whole group. A group's
//!   next look waits for its deliveries; a failed delivery is sent again at that next look.
//! - `inhibit_rules` mute alerts while a matching source alert fires (critical mutes the
//!   warning of the same name); a `flapping` alert is held as it was until it settles; a
//!   channel's `rate_limit` holds the excess for the group's next look.
//!
//! Each channel has its own thread and queue, so a slow or dead receiver delays no other.
//! Deliveries time out after `timeout` (10 s) per attempt and are retried on connection
//! errors, 5xx and 429 (after its `Retry-After`) with Alertmanager's backoff (500 ms growing
//! 1.5× to 60 s, ±50% jitter) until `retry_budget` (1 m) has passed; other answers are not
//! retried. An Alertmanager push is not retried: the next resend covers it.
//! `kotoba_monitoring_notifications_total{channel,result}`, the latency histogram
//! `kotoba_monitoring_notification_latency_seconds{channel}` and
//! `kotoba_monitoring_notification_queue_depth{channel}` count them;
//! `monitor.notification_channels()` and `/alerts` give each channel's last error. URLs,
//! routing keys, passwords and signing secrets never appear in errors, `Debug`, `/health` or
//! `/alerts`.
//!
//! | `notification_type` | keys (required first) | sends |
//! |---|---|---|
//! | `slack` | `webhook_url`; `channel`, `send_resolved` (false) | an incoming-webhook message: `text` plus blocks (status, severity, each alert's labels and annotations, links) |
//! | `webhook` | `url`; `signing_secret` (`whsec_…`), `max_alerts`, `send_resolved` (true) | Alertmanager's webhook payload, version 4, field for field; signed per Standard Webhooks 1.0 when a secret is set, a retry keeping its message's `webhook-id` |
//! | `pagerduty` | `routing_key`; `url`, `source`, `send_resolved` (true) | Events API v2: `trigger` with a `dedup_key` per group (SHA-256 of its group key), `resolve` with the same key; severity from the `severity` label |
//! | `email` | `smtp_server`, `from`, `to`; `security` (`starttls`, `tls`, `none`), `username`, `password`, `ca_file`, `send_resolved` (false) | Alertmanager's subject (`[FIRING:2] …`) and a plain-text and HTML body |
//! | `alertmanager` | `url` (comma separated for several) | Prometheus's pushes |
//!
//! Every channel also takes `name` (what routes call it; default its type), `timeout`,
//! `retry_budget` and `rate_limit` (`"10/1m"`).
//!
//! ```toml
//! [alerting_config]
//! enabled = true
//! external_url = "https://grafana.example/d/kotoba"
//! resend_delay = "1m"
//!
//! [[alerting_config.notifications]]
//! notification_type = "slack"
//! config = { webhook_url = "https://hooks.slack.com/services/T000/B000/XXXX", send_resolved = "true" }
//!
//! [[alerting_config.notifications]]
//! notification_type = "pagerduty"
//! config = { routing_key = "0123456789abcdef0123456789abcdef", rate_limit = "10/1h" }
//!
//! [alerting_config.route]
//! receivers = ["slack"]
//! group_by = ["alertname"]
//! group_wait = "30s"
//!
//! [[alerting_config.route.routes]]
//! matchers = ['severity="critical"']
//! receivers = ["slack", "pagerduty"]
//!
//! [[alerting_config.inhibit_rules]]
//! source_matchers = ['severity="critical"']
//! target_matchers = ['severity="warning"']
//! equal = ["alertname"]
//! ```
