//! Module implementing exemplars: a few labels (a trace id) kept with one observation, one per
//! histogram bucket, the newest, as OpenMetrics and Prometheus keep them. See [`Exemplar`]
//! and [`ExemplarSlots`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;

use crate::MonitoringError;

/// The most characters an exemplar's label names and values may take together (OpenMetrics).
pub const MAX_EXEMPLAR_CHARS: usize = 128;

/// Orders exemplars as they were recorded, across every series, so a reader can take those
/// newer than the last it saw.
static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

/// Whether any exemplar was ever recorded in this process: until one is, a scrape is written
/// without looking for them.
pub(crate) fn any_recorded() -> bool {
    NEXT_SEQ.load(Ordering::Relaxed) > 1
}

/// The wall clock in Unix milliseconds, an exemplar's time.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, crate::clock::duration_ms)
}

/// One exemplar: its labels, the observed value and when it was observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    labels: Box<[(Box<str>, Box<str>)]>,
    value: f64,
    /// Unix milliseconds.
    timestamp_ms: i64,
    /// Recording order, see [`NEXT_SEQ`].
    pub(crate) seq: u64,
}

impl Exemplar {
    /// An exemplar of `value` observed now, with `labels`.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidTrace`] when a label name is not a valid Prometheus label
    /// name, a name repeats, or the names and values take more than 128 characters together.
    pub(crate) fn new(labels: &[(&str, &str)], value: f64) -> Result<Self, MonitoringError> {
        let text = || {
            labels
                .iter()
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let chars: usize = labels
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum();
        if chars > MAX_EXEMPLAR_CHARS {
            return Err(MonitoringError::InvalidTrace {
                text: text().chars().take(80).collect(),
                reason: format!(
                    "exemplar labels take {chars} characters; OpenMetrics allows {MAX_EXEMPLAR_CHARS} for names and values together"
                ),
            });
        }
        for (i, (name, _)) in labels.iter().enumerate() {
            if !super::name::is_label_name(name) || labels[..i].iter().any(|(n, _)| n == name) {
                return Err(MonitoringError::InvalidTrace {
                    text: text().chars().take(80).collect(),
                    reason: format!(
                        "exemplar label name {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*) or repeats"
                    ),
                });
            }
        }
        Ok(Self {
            labels: labels
                .iter()
                .map(|(n, v)| (Box::from(*n), Box::from(*v)))
                .collect(),
            value,
            timestamp_ms: now_ms(),
            seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// An exemplar of `value` linking to `trace`: `trace_id` and `span_id`, which always
    /// make valid labels (hex, 63 characters with their names).
    pub(crate) fn of_trace(trace: &crate::TraceContext, value: f64) -> Self {
        let (trace_id, span_id) = (trace.trace_id(), trace.span_id());
        Self {
            labels: Box::new([
                (Box::from("trace_id"), trace_id.into_boxed_str()),
                (Box::from("span_id"), span_id.into_boxed_str()),
            ]),
            value,
            timestamp_ms: now_ms(),
            seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Its labels, in the order given.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|(n, v)| (&**n, &**v))
    }

    /// The observed value.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// When it was observed, in Unix milliseconds.
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// As OpenMetrics writes it after a sample: ` # {trace_id="…"} 0.53 1700000000.123`.
    pub(crate) fn openmetrics_suffix(&self, out: &mut String) {
        use std::fmt::Write;
        out.push_str(" # {");
        for (i, (name, value)) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push_str("=\"");
            super::escape_into(value, out);
            out.push('"');
        }
        out.push_str("} ");
        let _ = match self.value {
            v if v == f64::INFINITY => write!(out, "+Inf"),
            v if v == f64::NEG_INFINITY => write!(out, "-Inf"),
            v => write!(out, "{v}"),
        };
        let _ = write!(
            out,
            " {}.{:03}",
            self.timestamp_ms.div_euclid(1000),
            self.timestamp_ms.rem_euclid(1000)
        );
    }
}

/// A series' exemplars, one slot per bucket (one for a counter). Writers never wait: a slot
/// another thread is writing keeps that thread's exemplar, and this one is let go.
#[derive(Debug)]
pub(crate) struct ExemplarSlots {
    slots: Box<[Mutex<Option<Exemplar>>]>,
}

impl ExemplarSlots {
    pub(crate) fn new(slots: usize) -> Self {
        Self {
            slots: (0..slots).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Keeps `exemplar` in slot `at`, unless another thread is writing it right now.
    pub(crate) fn put(&self, at: usize, exemplar: Exemplar) {
        if let Some(mut slot) = self.slots.get(at).and_then(Mutex::try_lock) {
            *slot = Some(exemplar);
        }
    }

    /// Calls `f` with each slot's exemplar and its slot, in slot order, without copying
    /// them: each slot is locked while `f` runs.
    pub(crate) fn each(&self, mut f: impl FnMut(usize, &Exemplar)) {
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(exemplar) = slot.lock().as_ref() {
                f(i, exemplar);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_checked_and_written_as_openmetrics_has_them() {
        let e = Exemplar::new(&[("trace_id", "abc\"d")], 0.25).unwrap();
        let mut out = String::new();
        e.openmetrics_suffix(&mut out);
        assert!(out.starts_with(" # {trace_id=\"abc\\\"d\"} 0.25 "), "{out}");
        let long = "x".repeat(121);
        let err = Exemplar::new(&[("trace_id", &long)], 1.0).unwrap_err();
        assert!(err.to_string().contains("129 characters"), "{err}");
        assert!(Exemplar::new(&[("trace-id", "a")], 1.0).is_err());
        assert!(Exemplar::new(&[("a", "1"), ("a", "2")], 1.0).is_err());
        let later = Exemplar::new(&[("a", "1")], 1.0).unwrap();
        assert!(later.seq > e.seq);
    }
}
