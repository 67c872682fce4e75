//! Alerting: rule files and configured rules with Prometheus's semantics, templates, hysteresis, flap detection, and recipes.
//!
//! With `alerting_config.enabled`, the monitor evaluates its rules on a `kotoba-alert` thread
//! over the history, with Prometheus 2.42's semantics:
//!
//! - `rule_files` are Prometheus rule files as they are: groups (each at its `interval`, else
//!   `evaluation_interval`), recording rules (written into the history, where a later rule of the
//!   same evaluation, queries and Grafana see them) and alerting rules with `for`,
//!   `keep_firing_for`, `labels` and `annotations`. A file with a problem is refused when the
//!   monitor is built, every problem named as `promtool check rules` names it: file,
//!   `line:column` of the field at fault, group and rule.
//! - Each of `alerting_config.rules` is an alerting rule named after it whose expression is
//!   `(<query>) <op> <threshold>`: the threshold filters the query's result, so the rule
//!   `system_cpu_usage_percent > 80` with `greater_than = 80.0` fires for each series above 80.
//!   Its labels and `severity` label the alert; its description is the `description`
//!   annotation.
//! - Alerts go pending, then firing once `for` has passed, are dropped if they end while
//!   pending, resolve when their series leaves the result (after `keep_firing_for`), and leave
//!   `ALERTS` and `ALERTS_FOR_STATE` series in the history and on `/metrics`.
//!   `monitor.alerts()`, `/alerts` and `/api/v1/alerts` list the pending and firing ones;
//!   `monitor.rule_errors()` says which rules failed at their last evaluation (a failed rule
//!   keeps its alerts as they were);
//!   `/api/v1/rules` lists every group and rule, and `kotoba_monitoring_rule_*` counts
//!   evaluations and failures and times each group.
//!
//! Labels and annotations are Go templates expanded as Prometheus expands them: `$labels`,
//! `$value` (Go's `%v` digits), `$externalLabels` (the global labels) and `$externalURL`
//! (`alerting_config.external_url`), with `humanize`, `humanize1024`, `humanizePercentage`,
//! `humanizeDuration`, `humanizeTimestamp`, `printf`, `toUpper`, `toLower`, `title`,
//! `reReplaceAll`, `match`, `stripPort`, and `query` (an instant query at the evaluation's time)
//! with `first`, `value`, `label`, `strvalue` and `sortByLabel`, `args`, `graphLink`,
//! `tableLink`, `externalURL`, `pathPrefix`, `parseDuration` and `toTime` (which prints as
//! `humanizeTimestamp` does; Go's time methods are not there); a template that fails reads
//! `<error expanding template: …>`, its reason worded by the template engine rather than Go.
//! `tmpl` (running a named template) is not offered.
//!
//! Two things Prometheus lacks, which alerting on a database wants:
//!
//! - Hysteresis: a configured rule's `recovery` condition must hold before a firing alert
//!   resolves (`threshold = { greater_than = 80.0 }`, `recovery = { less_than = 70.0 }`: fire
//!   above 80, resolve below 70, stay firing in between). Any alerting rule, a rule file's
//!   too, takes a PromQL recovery expression by its alert name:
//!   `recovery_expressions = { DiskBusy = "disk_busy_ratio < 0.7" }`; the firing alert resolves
//!   once its series is in the expression's result. Rule files stay as Prometheus reads them.
//! - Flap detection, as Nagios does it: `flap_detection = { start_percent = 20.0, stop_percent =
//!   5.0 }` weighs the state changes over each alert's last 21 evaluations (newer ones more) and
//!   marks an alert `flapping` from 20% until below 5%; `monitor.alerts()`, the transitions and
//!   `/api/v1/alerts` carry the mark, and notifications hold a flapping alert.
//!
//! Rule files can be tested without a Prometheus with [`test_rules_file`](crate::test_rules_file) (see [`promql`](super::promql)).
//!
//! # Prediction and anomaly recipes
//!
//!
//! Rules that work on the crate's own series, proven under promtool and this crate alike by
//! `tests/rules/recipes.yml`: a disk that will be full within 4 hours (`predict_linear`), a p99
//! more than 3 standard deviations above its last hour (`avg_over_time`, `stddev_over_time`),
//! a p99 over 100 ms from the recent-window gauges, and an anomaly episode of
//! [`reference::anomaly`](super::anomaly) (alert while a score reached the alarm within five
//! minutes: a detector alarms once per episode and damps what follows, so `for` would never hold):
//!
//! ```yaml
//! groups:
//!   - name: recipes
//!     rules:
//!       # Disk full within 4 hours: the last hour's trend, carried 4 hours ahead.
//!       - alert: DiskFullIn4h
//!         expr: predict_linear(system_disk_usage_percent[1h], 4 * 3600) > 100
//!         for: 5m
//!         labels:
//!           severity: warning
//!         annotations:
//!           summary: '{{ $labels.mount_point }} reaches {{ printf "%.0f" $value }}% in 4 h at this rate'
//!       # A latency anomaly: p99 more than 3 standard deviations above its last hour.
//!       - record: operation:p99_zscore:1h
//!         expr: >
//!           (kotoba_db_query_latency_window_seconds{q="0.99"}
//!             - avg_over_time(kotoba_db_query_latency_window_seconds{q="0.99"}[1h]))
//!           / stddev_over_time(kotoba_db_query_latency_window_seconds{q="0.99"}[1h])
//!       - alert: LatencyAnomaly
//!         expr: 'operation:p99_zscore:1h > 3'
//!         labels:
//!           severity: warning
//!         annotations:
//!           summary: '{{ $labels.operation }} p99 is {{ printf "%.1f" $value }} standard deviations above its last hour'
//!       # The p99 over a threshold, from the recent-window gauges.
//!       - alert: QueryP99High
//!         expr: kotoba_db_query_latency_window_seconds{q="0.99"} > 0.1
//!         for: 2m
//!         labels:
//!           severity: critical
//!         annotations:
//!           summary: '{{ $labels.operation }} p99 is {{ humanizeDuration $value }}'
//!       # An anomaly episode: the detector alarms once (its next scores are damped), so alert
//!       # while a score reached the alarm within the last 5 minutes, as monitor.anomalies() lists.
//!       - alert: AnomalyEpisode
//!         expr: max_over_time(kotoba_anomaly_score[5m]) >= 0.4
//!         labels:
//!           severity: warning
//!         annotations:
//!           summary: '{{ $labels.expr }} behaves unlike itself (score {{ printf "%.2f" $value }})'
//! ```
