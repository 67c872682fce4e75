//! Module implementing an alert as the notification side sees it: what Prometheus sends an
//! Alertmanager, with Alertmanager's fingerprint and time format. See [`PostableAlert`].

use crate::query::Labels;

/// An alert as Prometheus posts it to an Alertmanager: labels (the external labels added),
/// annotations, when it started firing and when it ends (the resolved time, or a time a few
/// resends ahead while it fires), and where it came from. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PostableAlert {
    /// Sorted by name.
    pub(crate) labels: Labels,
    /// Sorted by name.
    pub(crate) annotations: Labels,
    pub(crate) starts_at: i64,
    pub(crate) ends_at: i64,
    pub(crate) generator_url: String,
    /// Flap detection's mark: its notifications are held while it is set.
    pub(crate) flapping: bool,
}

impl PostableAlert {
    /// Whether it has ended by `now` (Alertmanager's `Resolved`).
    pub(crate) fn resolved_at(&self, now: i64) -> bool {
        self.ends_at <= now
    }

    /// The value of label `name`, if it has it.
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The JSON of Alertmanager's `POST /api/v2/alerts`.
    pub(crate) fn postable_json(&self) -> serde_json::Value {
        serde_json::json!({
            "labels": object(&self.labels),
            "annotations": object(&self.annotations),
            "startsAt": go_time(self.starts_at),
            "endsAt": go_time(self.ends_at),
            "generatorURL": self.generator_url,
        })
    }
}

/// `pairs` as a JSON object.
pub(crate) fn object(pairs: &Labels) -> serde_json::Value {
    serde_json::Value::Object(
        pairs
            .iter()
            .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// Alertmanager's fingerprint of a label set (Prometheus's `model.LabelSet.Fingerprint`):
/// FNV-1a 64 over each name and value, in name order, each followed by the byte 0xff.
pub(crate) fn fingerprint(labels: &Labels) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut sorted: Vec<&(String, String)> = labels.iter().collect();
    sorted.sort();
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in sorted {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    hash
}

/// A fingerprint as Alertmanager prints it: 16 hex digits.
pub(crate) fn fingerprint_text(labels: &Labels) -> String {
    format!("{:016x}", fingerprint(labels))
}

/// Unix milliseconds as Go's `time.Time` marshals to JSON (RFC 3339, UTC, the fraction
/// without trailing zeros); `i64::MIN` is Go's zero time.
pub(crate) fn go_time(ms: i64) -> String {
    if ms == i64::MIN {
        return "0001-01-01T00:00:00Z".to_owned();
    }
    crate::clock::time_of(ms)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `pairs` as labels, for the notification side's tests.
#[cfg(test)]
pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_prometheus_s() {
        // Alertmanager 0.25 answers 50ddaaa8273d034b for this alert (the interop test
        // compares ours with its answers for the alerts it receives from us).
        assert_eq!(fingerprint(&Labels::new()), 14_695_981_039_346_656_037);
        for pairs in [
            [("foo", "bar"), ("qux", "quux")],
            [("qux", "quux"), ("foo", "bar")],
        ] {
            assert_eq!(fingerprint_text(&labels(&pairs)), "50ddaaa8273d034b");
        }
    }

    #[test]
    fn times_print_as_go_prints_them() {
        assert_eq!(go_time(1_500), "1970-01-01T00:00:01.5Z");
        assert_eq!(go_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(go_time(i64::MIN), "0001-01-01T00:00:00Z");
    }
}
