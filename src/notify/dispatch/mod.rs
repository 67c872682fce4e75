//! Module implementing Alertmanager's dispatcher, in-process: the alerts received, routed to
//! aggregation groups, and each group's notifications decided at its `group_wait`,
//! `group_interval` and `repeat_interval`, with inhibition, `send_resolved` and flap holds.
//! Time is passed in (Unix milliseconds), so the rules run the same under a test's clock.
//! See [`Dispatcher`] for details.
//!
//! Its rooms, as Alertmanager's: `route` (the routing tree), `inhibit` (inhibition), `nflog`
//! (the notification log and its dedup rule), `saved` (what survives a restart); the
//! aggregation groups and the alerts they hold are here.
mod inhibit;
mod nflog;
mod route;
mod saved;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::alert::{fingerprint, PostableAlert};
use crate::config::{InhibitRuleConfig, RouteConfig};
use crate::query::Labels;
use inhibit::Inhibitor;
use nflog::{needs_update, LogEntry};
use route::{GroupBy, Routes};

/// A resolved alert is forgotten this long after it ended, when no group holds it.
const FORGET_RESOLVED_MS: i64 = 15 * 60 * 1000;

/// A channel as the dispatcher knows it.
#[derive(Debug, Clone)]
pub(crate) struct ChannelInfo {
    pub(crate) name: String,
    pub(crate) send_resolved: bool,
}

/// One notification for one channel: a group's alerts at one flush.
#[derive(Debug, Clone)]
pub(crate) struct Notification {
    /// The flush it belongs to, to report its delivery against.
    pub(crate) flush: u64,
    pub(crate) channel: usize,
    /// The channel's name, as the payload's `receiver`.
    pub(crate) receiver: String,
    pub(crate) group_key: String,
    pub(crate) group_labels: Labels,
    /// In Alertmanager's order; a firing alert's `ends_at` is `i64::MIN` (Go's zero time).
    pub(crate) alerts: Vec<PostableAlert>,
    /// The fingerprints of the group's firing and resolved alerts, for the notification log.
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
    /// When the flush ran.
    pub(crate) at: i64,
}

impl Notification {
    /// `"firing"` if any alert it lists fires, else `"resolved"`.
    pub(crate) fn status(&self) -> &'static str {
        if self.alerts.iter().any(|a| a.ends_at == i64::MIN) {
            "firing"
        } else {
            "resolved"
        }
    }

    /// The labels (or annotations) every alert has with the same value.
    pub(crate) fn common(&self, of: impl Fn(&PostableAlert) -> &Labels) -> Labels {
        let mut alerts = self.alerts.iter();
        let Some(first) = alerts.next() else {
            return Labels::new();
        };
        let mut common = of(first).clone();
        for alert in alerts {
            let pairs = of(alert);
            common.retain(|pair| pairs.contains(pair));
        }
        common
    }
}

/// An alert as stored, with the sequence number of its last update.
#[derive(Debug, Clone)]
struct Stored {
    alert: PostableAlert,
    updated: u64,
    /// How far ahead of its arrival a firing alert's end was set: a held (flapping) alert
    /// is kept firing that far ahead of each flapping send.
    validity: i64,
}

#[derive(Debug)]
struct Group {
    key: String,
    labels: Labels,
    route: usize,
    alerts: BTreeMap<u64, Stored>,
    next_flush: i64,
    has_flushed: bool,
    /// A flush whose deliveries are not all back: as in Alertmanager, a group's next flush
    /// waits for its last one.
    in_flight: Option<u64>,
}

/// A flush whose deliveries are not all back.
#[derive(Debug)]
struct PendingFlush {
    group: (usize, Labels),
    outstanding: usize,
    failed: bool,
    /// The resolved alerts it notified, with their update numbers: deleted from the group
    /// once every delivery succeeded, if not updated since.
    resolved: Vec<(u64, u64)>,
}

/// Alertmanager's dispatcher: routes, aggregation groups, the notification log and
/// inhibition, driven by [`receive`](Self::receive), [`due`](Self::due) and
/// [`delivered`](Self::delivered).
#[derive(Debug)]
pub(crate) struct Dispatcher {
    routes: Routes,
    inhibitor: Inhibitor,
    channels: Vec<ChannelInfo>,
    alerts: HashMap<u64, Stored>,
    groups: BTreeMap<(usize, Labels), Group>,
    log: HashMap<(String, usize), LogEntry>,
    pending: HashMap<u64, PendingFlush>,
    sequence: u64,
    flushes: u64,
    /// Whether the alerts or the log changed since [`saved`](Self::saved) was last called.
    dirty: bool,
}

impl Dispatcher {
    /// A dispatcher of `route` over `channels` (the routed ones, by index), with `inhibit`.
    /// The configuration was validated: matchers parse and receivers name channels.
    pub(crate) fn new(
        route: &RouteConfig,
        inhibit: &[InhibitRuleConfig],
        channels: Vec<ChannelInfo>,
    ) -> Result<Self, String> {
        Ok(Dispatcher {
            routes: Routes::new(route, &channels)?,
            inhibitor: Inhibitor::new(inhibit)?,
            channels,
            alerts: HashMap::new(),
            groups: BTreeMap::new(),
            log: HashMap::new(),
            pending: HashMap::new(),
            sequence: 0,
            flushes: 0,
            dirty: false,
        })
    }

    /// Takes `alerts` in at `now`, as Alertmanager takes a post: each merged with what is
    /// stored under its fingerprint and put in the groups of its routes. A flapping alert is
    /// held: the stored one stays as it was, a firing one kept from ending as long as
    /// flapping sends keep coming, and a new one is not taken. Returns the alerts as they now
    /// stand, for Alertmanagers.
    pub(crate) fn receive(&mut self, alerts: Vec<PostableAlert>, now: i64) -> Vec<PostableAlert> {
        self.dirty |= !alerts.is_empty();
        let mut effective = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let fp = fingerprint(&alert.labels);
            self.sequence += 1;
            let (alert, validity) = if alert.flapping {
                let Some(held) = self.alerts.get_mut(&fp) else {
                    continue;
                };
                if !held.alert.resolved_at(now) {
                    held.alert.ends_at = held
                        .alert
                        .ends_at
                        .max(alert.ends_at)
                        .max(now.saturating_add(held.validity));
                }
                (held.alert.clone(), held.validity)
            } else {
                let validity = if alert.resolved_at(now) {
                    0
                } else {
                    alert.ends_at - now
                };
                let alert = match self.alerts.get(&fp) {
                    Some(old) if overlaps(&old.alert, &alert) => merge(&old.alert, alert, now),
                    _ => alert,
                };
                (alert, validity)
            };
            let stored = Stored {
                alert: alert.clone(),
                updated: self.sequence,
                validity,
            };
            self.alerts.insert(fp, stored.clone());
            for route in self.routes.matching(&alert.labels) {
                self.insert(route, fp, stored.clone(), now);
            }
            effective.push(alert);
        }
        effective
    }

    fn insert(&mut self, route: usize, fp: u64, stored: Stored, now: i64) {
        let r = &self.routes[route];
        let labels: Labels = stored
            .alert
            .labels
            .iter()
            .filter(|(n, _)| match &r.group_by {
                GroupBy::All => true,
                GroupBy::Labels(names) => names.contains(n),
            })
            .cloned()
            .collect();
        let (group_wait, key) = (r.group_wait_ms, r.key.clone());
        let starts_at = stored.alert.starts_at;
        let group = self
            .groups
            .entry((route, labels.clone()))
            .or_insert_with(|| Group {
                key: format!("{key}:{}", crate::query::labels_string(&labels)),
                labels,
                route,
                alerts: BTreeMap::new(),
                next_flush: now.saturating_add(group_wait),
                has_flushed: false,
                in_flight: None,
            });
        group.alerts.insert(fp, stored);
        // As Alertmanager: an alert older than the group's wait flushes it at once.
        if !group.has_flushed && starts_at.saturating_add(group_wait) < now {
            group.next_flush = now;
        }
    }

    /// When the next group is due, if any is (a group waiting on deliveries is not).
    pub(crate) fn next_due(&self) -> Option<i64> {
        self.groups
            .values()
            .filter(|g| g.in_flight.is_none())
            .map(|g| g.next_flush)
            .min()
    }

    /// Flushes every group due at `now`: the notifications each of its route's channels
    /// needs, as Alertmanager's dedup stage decides them.
    pub(crate) fn due(&mut self, now: i64) -> Vec<Notification> {
        self.forget(now);
        let due: Vec<(usize, Labels)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush <= now && g.in_flight.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for id in due {
            out.extend(self.flush(&id, now));
        }
        out
    }

    fn flush(&mut self, id: &(usize, Labels), now: i64) -> Vec<Notification> {
        let Some(group) = self.groups.get_mut(id) else {
            return Vec::new();
        };
        let route = &self.routes[group.route];
        let (receivers, repeat_ms) = (route.receivers.clone(), route.repeat_interval_ms);
        group.next_flush = now.saturating_add(route.group_interval_ms);
        group.has_flushed = true;
        if group.alerts.is_empty() {
            self.groups.remove(id);
            return Vec::new();
        }
        let (key, labels) = (group.key.clone(), group.labels.clone());
        let mut alerts: Vec<(u64, u64, PostableAlert)> = group
            .alerts
            .iter()
            .map(|(fp, s)| {
                let mut a = s.alert.clone();
                if !a.resolved_at(now) {
                    a.ends_at = i64::MIN;
                }
                (*fp, s.updated, a)
            })
            .collect();
        alerts.sort_by(|a, b| alert_order(&a.2, &b.2));
        let firing = self.alerts.values().map(|s| &s.alert);
        alerts.retain(|(_, _, a)| !self.inhibitor.mutes(&a.labels, firing.clone(), now));
        let resolved_notified: Vec<(u64, u64)> = alerts
            .iter()
            .filter(|(_, _, a)| a.ends_at != i64::MIN)
            .map(|(fp, updated, _)| (*fp, *updated))
            .collect();
        let firing: BTreeSet<u64> = alerts
            .iter()
            .filter(|(_, _, a)| a.ends_at == i64::MIN)
            .map(|(fp, _, _)| *fp)
            .collect();
        let resolved: BTreeSet<u64> = resolved_notified.iter().map(|(fp, _)| *fp).collect();
        self.flushes += 1;
        let flush = self.flushes;
        let mut out = Vec::new();
        if !alerts.is_empty() {
            for &channel in &receivers {
                let info = &self.channels[channel];
                let entry = self.log.get(&(key.clone(), channel));
                if !needs_update(
                    entry,
                    &firing,
                    &resolved,
                    info.send_resolved,
                    repeat_ms,
                    now,
                ) {
                    continue;
                }
                if !info.send_resolved && firing.is_empty() {
                    // Nothing to send, but the log learns of the resolutions.
                    self.dirty = true;
                    self.log.insert(
                        (key.clone(), channel),
                        LogEntry {
                            firing: firing.clone(),
                            resolved: resolved.clone(),
                            at: now,
                        },
                    );
                    continue;
                }
                let listed = alerts
                    .iter()
                    .filter(|(_, _, a)| info.send_resolved || a.ends_at == i64::MIN)
                    .map(|(_, _, a)| a.clone())
                    .collect();
                out.push(Notification {
                    flush,
                    channel,
                    receiver: info.name.clone(),
                    group_key: key.clone(),
                    group_labels: labels.clone(),
                    alerts: listed,
                    firing: firing.clone(),
                    resolved: resolved.clone(),
                    at: now,
                });
            }
        }
        let pending = PendingFlush {
            group: id.clone(),
            outstanding: out.len(),
            failed: false,
            resolved: resolved_notified,
        };
        if out.is_empty() {
            self.finish(pending);
        } else {
            if let Some(group) = self.groups.get_mut(id) {
                group.in_flight = Some(flush);
            }
            self.pending.insert(flush, pending);
        }
        out
    }

    /// Records the outcome of `notification`'s delivery: on success the notification log
    /// remembers it; once a flush's deliveries all succeeded, its resolved alerts leave the
    /// group (unless updated since).
    pub(crate) fn delivered(&mut self, notification: &Notification, ok: bool, now: i64) {
        if ok {
            self.dirty = true;
            self.log.insert(
                (notification.group_key.clone(), notification.channel),
                LogEntry {
                    firing: notification.firing.clone(),
                    resolved: notification.resolved.clone(),
                    at: now,
                },
            );
        }
        let Some(pending) = self.pending.get_mut(&notification.flush) else {
            return;
        };
        pending.outstanding = pending.outstanding.saturating_sub(1);
        pending.failed |= !ok;
        if pending.outstanding == 0 {
            if let Some(pending) = self.pending.remove(&notification.flush) {
                self.finish(pending);
            }
        }
    }

    fn finish(&mut self, pending: PendingFlush) {
        if let Some(group) = self.groups.get_mut(&pending.group) {
            group.in_flight = None;
        }
        if pending.failed {
            return;
        }
        if let Some(group) = self.groups.get_mut(&pending.group) {
            for (fp, updated) in pending.resolved {
                if group.alerts.get(&fp).is_some_and(|s| s.updated == updated) {
                    group.alerts.remove(&fp);
                }
            }
            if group.alerts.is_empty() {
                self.groups.remove(&pending.group);
            }
        }
    }

    /// Forgets alerts resolved long ago that no group holds.
    fn forget(&mut self, now: i64) {
        let held: BTreeSet<u64> = self
            .groups
            .values()
            .flat_map(|g| g.alerts.keys().copied())
            .collect();
        self.alerts.retain(|fp, s| {
            held.contains(fp) || s.alert.ends_at.saturating_add(FORGET_RESOLVED_MS) > now
        });
    }

    /// How many alerts it holds, and in how many groups.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.alerts.len(), self.groups.len())
    }
}

/// Whether `new`'s activity overlaps `old`'s, so Alertmanager merges them.
fn overlaps(old: &PostableAlert, new: &PostableAlert) -> bool {
    (new.ends_at > old.starts_at && new.ends_at < old.ends_at)
        || (new.starts_at > old.starts_at && new.starts_at < old.ends_at)
}

/// Alertmanager's `Alert.Merge` of `old` with the younger `new` (explicit end times only).
fn merge(old: &PostableAlert, new: PostableAlert, now: i64) -> PostableAlert {
    let mut out = new;
    out.starts_at = out.starts_at.min(old.starts_at);
    if out.resolved_at(now) {
        if old.resolved_at(now) && old.ends_at > out.ends_at {
            out.ends_at = old.ends_at;
        }
    } else if old.ends_at > out.ends_at {
        out.ends_at = old.ends_at;
    }
    out
}

/// Alertmanager's order of a group's alerts: by `job`, then `instance` (an alert with the
/// label first), then by label set.
fn alert_order(a: &PostableAlert, b: &PostableAlert) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for key in ["job", "instance"] {
        match (a.label(key), b.label(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    labels_before(&a.labels, &b.labels)
}

/// Prometheus's `LabelSet.Before`: by sorted names, then values, then length.
fn labels_before(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    let mut x: Vec<&(String, String)> = a.iter().collect();
    let mut y: Vec<&(String, String)> = b.iter().collect();
    x.sort();
    y.sort();
    for (p, q) in x.iter().zip(y.iter()) {
        match p.0.cmp(&q.0).then_with(|| p.1.cmp(&q.1)) {
            std::cmp::Ordering::Equal => continue,
            other => return other,
        }
    }
    x.len().cmp(&y.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn alert(name: &str, extra: &[(&str, &str)], starts: i64, ends: i64) -> PostableAlert {
        let mut labels: Labels = vec![("alertname".into(), name.into())];
        labels.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        labels.sort();
        PostableAlert {
            labels,
            annotations: Labels::new(),
            starts_at: starts,
            ends_at: ends,
            generator_url: String::new(),
            flapping: false,
        }
    }

    fn dispatcher(route: RouteConfig, inhibit: &[InhibitRuleConfig]) -> Dispatcher {
        Dispatcher::new(
            &route,
            inhibit,
            vec![
                ChannelInfo {
                    name: "hook".into(),
                    send_resolved: true,
                },
                ChannelInfo {
                    name: "slack".into(),
                    send_resolved: false,
                },
            ],
        )
        .unwrap()
    }

    fn route() -> RouteConfig {
        RouteConfig {
            group_by: Some(vec!["alertname".into()]),
            group_wait: Some(Duration::from_secs(30)),
            group_interval: Some(Duration::from_secs(300)),
            repeat_interval: Some(Duration::from_secs(3600)),
            ..RouteConfig::default()
        }
    }

    const S: i64 = 1000;

    #[test]
    fn a_group_waits_then_notifies_changes_and_repeats() {
        let mut d = dispatcher(route(), &[]);
        let t0 = 1_000_000 * S;
        d.receive(vec![alert("A", &[("i", "1")], t0, t0 + 900 * S)], t0);
        assert!(d.due(t0 + 29 * S).is_empty(), "group_wait holds it");
        let sent = d.due(t0 + 30 * S);
        assert_eq!(sent.len(), 2, "both channels");
        assert_eq!(sent[0].group_key, "{}:{alertname=\"A\"}");
        assert_eq!(sent[0].status(), "firing");
        assert_eq!(sent[0].alerts[0].ends_at, i64::MIN);
        for n in &sent {
            d.delivered(n, true, t0 + 30 * S);
        }
        // A second alert joins: sent at the next group_interval, not before.
        let t1 = t0 + 60 * S;
        d.receive(vec![alert("A", &[("i", "2")], t1, t1 + 900 * S)], t1);
        assert!(d.due(t1 + 200 * S).is_empty());
        let sent = d.due(t0 + 330 * S);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].alerts.len(), 2);
        for n in &sent {
            d.delivered(n, true, t0 + 330 * S);
        }
        // Nothing new: quiet until the repeat interval.
        let refresh = |d: &mut Dispatcher, at: i64| {
            d.receive(
                vec![
                    alert("A", &[("i", "1")], t0, at + 900 * S),
                    alert("A", &[("i", "2")], t1, at + 900 * S),
                ],
                at,
            );
        };
        refresh(&mut d, t0 + 600 * S);
        assert!(d.due(t0 + 630 * S).is_empty());
        refresh(&mut d, t0 + 4000 * S);
        let sent = d.due(t0 + 4000 * S);
        assert_eq!(sent.len(), 2, "repeat_interval passed");
        for n in &sent {
            d.delivered(n, true, t0 + 4000 * S);
        }
        // One resolves: only the channel with send_resolved hears of it.
        let t2 = t0 + 4100 * S;
        d.receive(vec![alert("A", &[("i", "1")], t0, t2)], t2);
        refresh_one(&mut d, t1, t2);
        let sent = d.due(t0 + 4300 * S);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].receiver, "hook");
        assert_eq!(
            sent[0].alerts[0].ends_at, t2,
            "the resolved one keeps its end"
        );
        assert_eq!(sent[0].status(), "firing");
        d.delivered(&sent[0], true, t0 + 4300 * S);
        assert_eq!(d.sizes(), (2, 1), "the resolved alert left the group");
    }

    /// Sends what is due at `at` and reports each delivered.
    fn deliver_due(d: &mut Dispatcher, at: i64) {
        for n in d.due(at) {
            d.delivered(&n, true, at);
        }
    }

    fn refresh_one(d: &mut Dispatcher, t1: i64, at: i64) {
        d.receive(vec![alert("A", &[("i", "2")], t1, at + 900 * S)], at);
    }

    #[test]
    fn a_restart_with_the_saved_log_sends_nothing_again_and_still_resolves() {
        let mut d = dispatcher(route(), &[]);
        let t0 = 1_000_000 * S;
        d.receive(vec![alert("A", &[], t0, t0 + 240 * S)], t0);
        deliver_due(&mut d, t0 + 30 * S);
        let saved = d.saved().expect("changed");
        assert!(d.saved().is_none(), "nothing changed since");
        let text = serde_json::to_string(&saved).unwrap();
        // The restart: a new dispatcher, the saved log, and the same alert sent again.
        let mut d = dispatcher(route(), &[]);
        d.restore(serde_json::from_str(&text).unwrap(), t0 + 60 * S);
        d.receive(vec![alert("A", &[], t0, t0 + 300 * S)], t0 + 60 * S);
        for at in [60, 90, 200, 290] {
            let sent = d.due(t0 + at * S);
            assert!(sent.is_empty(), "at {at} s: {sent:?}");
        }
        // Without the saved log the same alert would go out again at once.
        let mut fresh = dispatcher(route(), &[]);
        fresh.receive(vec![alert("A", &[], t0, t0 + 300 * S)], t0 + 60 * S);
        assert_eq!(fresh.due(t0 + 60 * S).len(), 2);
        // Its end passes with no update (its rule no longer sends it): sent resolved.
        let sent = d.due(t0 + 400 * S);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].status(), "resolved");
        assert_eq!(sent[0].receiver, "hook");
    }

    #[test]
    fn all_resolved_reaches_send_resolved_channels_and_clears_the_group() {
        let mut d = dispatcher(route(), &[]);
        let t0 = 1_000 * S;
        d.receive(vec![alert("A", &[], t0, t0 + 240 * S)], t0);
        deliver_due(&mut d, t0 + 30 * S);
        d.receive(vec![alert("A", &[], t0, t0 + 60 * S)], t0 + 60 * S);
        let sent = d.due(t0 + 330 * S);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].status(), "resolved");
        d.delivered(&sent[0], true, t0 + 330 * S);
        assert_eq!(d.sizes().1, 0);
    }

    #[test]
    fn a_group_waits_for_its_deliveries_before_its_next_flush() {
        let mut d = dispatcher(route(), &[]);
        let t0 = 1_000 * S;
        d.receive(vec![alert("A", &[], t0, t0 + 900 * S)], t0);
        let sent = d.due(t0 + 30 * S);
        assert_eq!(sent.len(), 2);
        assert_eq!(d.next_due(), None, "in flight");
        assert!(d.due(t0 + 400 * S).is_empty());
        d.delivered(&sent[0], true, t0 + 400 * S);
        d.delivered(&sent[1], false, t0 + 400 * S);
        assert_eq!(d.next_due(), Some(t0 + 330 * S));
        let again = d.due(t0 + 400 * S);
        assert_eq!(again.len(), 1, "only the failed channel");
    }

    #[test]
    fn a_failed_delivery_is_sent_again_at_the_next_interval() {
        let mut d = dispatcher(route(), &[]);
        let t0 = 1_000 * S;
        d.receive(vec![alert("A", &[], t0, t0 + 900 * S)], t0);
        let sent = d.due(t0 + 30 * S);
        d.delivered(&sent[0], false, t0 + 30 * S);
        d.delivered(&sent[1], true, t0 + 30 * S);
        let again = d.due(t0 + 330 * S);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receiver, sent[0].receiver);
    }

    #[test]
    fn routes_match_in_order_and_continue() {
        let mut config = route();
        config.routes = vec![
            RouteConfig {
                matchers: vec!["severity=\"critical\"".into()],
                receivers: vec!["hook".into()],
                continue_matching: true,
                ..RouteConfig::default()
            },
            RouteConfig {
                matchers: vec!["team=~\"db|ops\"".into()],
                receivers: vec!["slack".into()],
                group_by: Some(vec!["...".into()]),
                ..RouteConfig::default()
            },
        ];
        let d = dispatcher(config, &[]);
        let labels = |pairs: &[(&str, &str)]| alert("A", pairs, 0, 1).labels;
        assert_eq!(
            d.routes
                .matching(&labels(&[("severity", "critical"), ("team", "db")])),
            [1, 2]
        );
        assert_eq!(d.routes.matching(&labels(&[("team", "ops")])), [2]);
        assert_eq!(d.routes.matching(&labels(&[])), [0]);
        assert_eq!(d.routes[1].key, "{}/{severity=\"critical\"}");
        assert_eq!(d.routes[1].group_wait_ms, 30_000, "inherited");
        assert_eq!(d.routes[2].group_by, GroupBy::All);
    }

    #[test]
    fn a_firing_critical_alert_mutes_the_warning_of_the_same_name() {
        let inhibit = InhibitRuleConfig {
            source_matchers: vec!["severity=\"critical\"".into()],
            target_matchers: vec!["severity=\"warning\"".into()],
            equal: vec!["alertname".into()],
        };
        let mut config = route();
        config.group_by = Some(vec!["alertname".into(), "severity".into()]);
        let mut d = dispatcher(config, &[inhibit]);
        let t0 = 1_000 * S;
        d.receive(
            vec![
                alert("Disk", &[("severity", "critical")], t0, t0 + 240 * S),
                alert("Disk", &[("severity", "warning")], t0, t0 + 240 * S),
                alert("Cpu", &[("severity", "warning")], t0, t0 + 240 * S),
            ],
            t0,
        );
        let sent = d.due(t0 + 30 * S);
        let keys: BTreeSet<&str> = sent.iter().map(|n| n.group_key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "{}:{alertname=\"Cpu\", severity=\"warning\"}",
                "{}:{alertname=\"Disk\", severity=\"critical\"}",
            ]
            .into()
        );
    }

    #[test]
    fn a_flapping_alert_is_held_as_it_was() {
        let mut d = dispatcher(route(), &[]);
        let t0 = 1_000 * S;
        d.receive(vec![alert("A", &[], t0, t0 + 240 * S)], t0);
        deliver_due(&mut d, t0 + 30 * S);
        // It resolves while flapping: held firing, kept from ending at each flapping send.
        let mut flapping = alert("A", &[], t0, t0 + 60 * S);
        flapping.flapping = true;
        let held = d.receive(vec![flapping.clone()], t0 + 60 * S);
        assert_eq!(held[0].ends_at, t0 + 300 * S);
        let held = d.receive(vec![flapping], t0 + 200 * S);
        assert_eq!(held[0].ends_at, t0 + 440 * S);
        assert!(d.due(t0 + 330 * S).is_empty(), "nothing changed");
        // A new alert that flaps from the start is not taken at all.
        let mut new = alert("B", &[], t0, t0 + 240 * S);
        new.flapping = true;
        assert!(d.receive(vec![new], t0 + 60 * S).is_empty());
    }
}
