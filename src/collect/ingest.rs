//! Module implementing the `record_metric` path: a bounded queue from any thread to the ingest
//! thread, which applies samples to the registry and stores them in history.
//! See [`Ingest`] for details.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use time::OffsetDateTime;

use crate::config::OverflowPolicy;
use crate::metrics::{Counter, LabelSet, MetricType, Registry, Series};
use crate::{HistoryStore, MonitoringError};

/// One `record_metric` call, checked and time-stamped on the caller's thread.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: LabelSet,
    pub(crate) value: f64,
    pub(crate) at: OffsetDateTime,
}

/// What travels over the queue.
#[derive(Debug)]
pub(crate) enum Message {
    Sample(Sample),
    /// Answered once every message queued before it has been applied.
    Flush(Sender<()>),
}

/// The queue and what applying a sample needs.
#[derive(Debug)]
pub(crate) struct Ingest {
    tx: Sender<Message>,
    rx: Receiver<Message>,
    policy: OverflowPolicy,
    registry: Registry,
    history: HistoryStore,
    dropped: Counter,
}

impl Ingest {
    pub(crate) fn new(
        capacity: usize,
        policy: OverflowPolicy,
        registry: Registry,
        history: HistoryStore,
    ) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let dropped = registry.self_metrics().samples_dropped.clone();
        Self {
            tx,
            rx,
            policy,
            registry,
            history,
            dropped,
        }
    }

    /// Checks a sample on the caller's thread, so mistakes come back as errors rather than
    /// vanishing on the ingest thread.
    pub(crate) fn check(&self, sample: &Sample) -> Result<(), MonitoringError> {
        crate::metrics::validate_metric_name(&sample.name)?;
        // The type the family has, or will take when the sample is applied: the answer must
        // not depend on whether the ingest thread runs.
        let kind = Some(self.registry.type_or_known(&sample.name));
        let refuse = |reason| {
            Err(MonitoringError::InvalidValue {
                metric: sample.name.clone(),
                value: sample.value,
                reason,
            })
        };
        match kind {
            Some(MetricType::Counter) if !(sample.value >= 0.0 && sample.value.is_finite()) => {
                refuse("a counter only takes finite, non-negative increments")
            }
            Some(MetricType::Histogram) if sample.value.is_nan() || sample.value < 0.0 => {
                refuse("a histogram only takes non-negative values")
            }
            _ => Ok(()),
        }
    }

    /// Queues a checked sample; with [`OverflowPolicy::Drop`] a full queue drops it and counts
    /// it, with [`OverflowPolicy::Block`] the caller waits for room.
    pub(crate) fn submit(&self, sample: Sample) {
        let message = Message::Sample(sample);
        match self.policy {
            OverflowPolicy::Drop => match self.tx.try_send(message) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.inc();
                }
            },
            OverflowPolicy::Block => {
                if self.tx.send(message).is_err() {
                    self.dropped.inc();
                }
            }
        }
    }

    /// Waits until every message queued before this call has been applied by the running
    /// ingest thread.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), MonitoringError> {
        let timed_out = || MonitoringError::Timeout {
            operation: "flushing the record_metric queue",
            waited: timeout,
        };
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        self.tx
            .send_timeout(Message::Flush(ack_tx), timeout)
            .map_err(|_| timed_out())?;
        match ack_rx.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                Err(timed_out())
            }
        }
    }

    pub(crate) fn receiver(&self) -> &Receiver<Message> {
        &self.rx
    }

    /// Applies whatever is queued now, on this thread.
    pub(crate) fn drain(&self) -> Vec<MonitoringError> {
        let mut errors = Vec::new();
        while let Ok(message) = self.rx.try_recv() {
            if let Err(e) = self.handle(message) {
                errors.push(e);
            }
        }
        errors
    }

    pub(crate) fn handle(&self, message: Message) -> Result<(), MonitoringError> {
        match message {
            Message::Sample(sample) => self.apply(sample),
            Message::Flush(ack) => {
                let _ = ack.send(());
                Ok(())
            }
        }
    }

    /// Records the sample into its series: a counter adds it, a gauge takes it, a histogram
    /// observes it; a name seen for the first time takes the type the catalog knows for it (a
    /// metric of the kotoba-monitoring 0.1.21 API such as `kotoba_db_queries_total` becomes a
    /// counter), or else becomes a gauge. Counters and gauges store the resulting value in history
    /// at the sample's time; histograms are stored at each tick.
    pub(crate) fn apply(&self, sample: Sample) -> Result<(), MonitoringError> {
        let family = self.registry.family_or_known(&sample.name)?;
        let stored = match family.get_or_create(sample.labels.clone())? {
            Series::Counter(c) => {
                if let Err(e) = c.inc_by_f64(sample.value) {
                    family.accounting.rejected.inc();
                    return Err(e);
                }
                Some(c.get())
            }
            Series::Gauge(g) => {
                g.set(sample.value);
                Some(sample.value)
            }
            Series::Histogram(h) => {
                h.observe(sample.value);
                None
            }
        };
        if let Some(value) = stored {
            self.history
                .append(&sample.name, &sample.labels, sample.at, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingest(capacity: usize) -> Ingest {
        Ingest::new(
            capacity,
            OverflowPolicy::Drop,
            Registry::new(),
            HistoryStore::new(Duration::from_secs(3600), 100),
        )
    }

    fn sample(name: &str, value: f64) -> Sample {
        Sample {
            name: name.to_owned(),
            labels: LabelSet::default(),
            value,
            at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let ingest = ingest(2);
        for i in 0..5 {
            ingest.submit(sample("g", i as f64));
        }
        assert_eq!(ingest.dropped.get(), 3.0);
        assert!(ingest.drain().is_empty());
        let kept = ingest.registry.gauge("g", "", &[]).unwrap();
        assert_eq!(kept.get(), 1.0);
        assert_eq!(ingest.history.point_count(), 2);
    }

    #[test]
    fn samples_follow_the_family_type() {
        let ingest = ingest(16);
        let c = ingest.registry.counter("c_total", "", &[]).unwrap();
        let h = ingest.registry.histogram("h_seconds", "", &[]).unwrap();
        for (name, v) in [
            ("c_total", 2.5),
            ("c_total", 1.0),
            ("h_seconds", 0.5),
            ("new_gauge", 7.0),
        ] {
            ingest.apply(sample(name, v)).unwrap();
        }
        assert_eq!(c.get(), 3.5);
        assert_eq!(h.snapshot().count, 1);
        assert_eq!(
            ingest.registry.metric_type("new_gauge"),
            Some(MetricType::Gauge)
        );
        // Counter points are the running total.
        let now = OffsetDateTime::now_utc();
        let points = ingest
            .history
            .points("c_total", &[], now - Duration::from_secs(60), now)
            .unwrap();
        let values: Vec<f64> = points.iter().map(|p| p.value).collect();
        assert_eq!(values, [2.5, 3.5]);
    }

    #[test]
    fn wrong_values_are_caught_before_queueing() {
        let ingest = ingest(16);
        ingest.registry.counter("c_total", "", &[]).unwrap();
        ingest.registry.histogram("h_seconds", "", &[]).unwrap();
        assert!(ingest.check(&sample("c_total", -1.0)).is_err());
        assert!(ingest.check(&sample("h_seconds", f64::NAN)).is_err());
        assert!(ingest.check(&sample("bad name", 1.0)).is_err());
        assert!(ingest.check(&sample("g", f64::NAN)).is_ok());
    }
}
