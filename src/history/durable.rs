//! The history kept across restarts: opening a storage folder (its lock, the newest
//! checkpoint, the log after it), writing the log out at each tick, and checkpointing the
//! compressed chunks so the log can be dropped behind them, as Prometheus's head block does.
//! See [`HistoryStore::open`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use time::OffsetDateTime;

use super::chunk::Points;
use super::log::{LogMetrics, LogWriter, SegmentReplay, KIND_SAMPLES};
use super::HistoryStore;
use crate::storage::bytes::{put_bytes, put_uvarint, ByteReader};
use crate::storage::{read_latest_checkpoint, write_checkpoint, FolderLock, Wal};
use crate::{LabelSet, MonitoringError, Registry};

/// The kind of a checkpoint record: series, each with its compressed samples.
const KIND_SERIES: u8 = 2;

/// A checkpoint record is closed once it holds this much.
const CHECKPOINT_RECORD_BYTES: usize = 256 << 10;

/// What a start found in the storage folder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayReport {
    /// The folder.
    pub path: PathBuf,
    /// Samples read from the checkpoint.
    pub checkpoint_samples: u64,
    /// Samples read from the log after it.
    pub log_samples: u64,
    /// Log segments read.
    pub segments: usize,
    /// Each damaged place found and cut off: the file, the offset, what was there. Everything
    /// before each was kept.
    pub damage: Vec<String>,
    /// How long the reading took.
    pub took: Duration,
}

impl HistoryStore {
    /// A store over the storage folder `folder`: it takes the folder's lock, reads back the
    /// newest checkpoint and the log after it (cutting off a damaged tail, counted in
    /// `kotoba_monitoring_wal_corruptions_total` of `registry`), prunes what retention no
    /// longer keeps, and logs every sample it takes from now on.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when the folder cannot be made, written or locked
    /// (another monitor has it), or holds a file that is not ours where our files go.
    pub(crate) fn open(
        retention: Duration,
        max_points: usize,
        folder: &Path,
        registry: &Registry,
    ) -> Result<(Self, ReplayReport), MonitoringError> {
        let began = Instant::now();
        let metrics = LogMetrics::new(registry)?;
        let lock = FolderLock::acquire(folder)?;
        let store = Self::new(retention, max_points);
        let mut report = ReplayReport {
            path: folder.to_owned(),
            ..Default::default()
        };
        let damaged = |report: &mut ReplayReport, what: String| {
            metrics.corruptions.inc();
            log::warn!("kotoba-monitoring storage: {what}; everything before it was kept");
            report.damage.push(what);
        };
        let mut first_segment = 0;
        let mut checkpoint_bytes = 0;
        if let Some(checkpoint) = read_latest_checkpoint(folder)? {
            first_segment = checkpoint.number;
            checkpoint_bytes = checkpoint.len();
            for record in checkpoint.records() {
                let outcome = match record {
                    Ok((_, KIND_SERIES, payload)) => store.load_series(payload),
                    Ok((_, kind, _)) => Err(format!("a record of unknown kind {kind}")),
                    Err(damage) => Err(format!("{} at byte {}", damage.reason, damage.offset)),
                };
                match outcome {
                    Ok(samples) => report.checkpoint_samples += samples,
                    Err(what) => {
                        damaged(
                            &mut report,
                            format!("{}: {what}", checkpoint.path.display()),
                        );
                        break;
                    }
                }
            }
        }
        let segments = Wal::segments(folder)?;
        let mut log_bytes = 0;
        for &number in &segments {
            if number < first_segment {
                // Left by a crash between a checkpoint's rename and its clean-up.
                Wal::remove_before(folder, first_segment);
                continue;
            }
            let segment = Wal::read_segment(folder, number)?;
            report.segments += 1;
            let mut replay = SegmentReplay::new(&store);
            let mut cut = None;
            for record in segment.records() {
                // A record that frames well but does not decode is cut off with its tail.
                let outcome = match record {
                    Ok((offset, KIND_SAMPLES, payload)) => {
                        replay.record(payload).map_err(|what| (what, offset))
                    }
                    Ok((offset, kind, _)) => {
                        Err((format!("a record of unknown kind {kind}"), offset))
                    }
                    Err(damage) => Err((damage.reason, damage.offset)),
                };
                match outcome {
                    Ok(samples) => report.log_samples += samples,
                    Err((what, offset)) => {
                        cut = Some((what, offset));
                        break;
                    }
                }
            }
            log_bytes += segment.len();
            if let Some((what, offset)) = cut {
                damaged(
                    &mut report,
                    format!("{} at byte {offset}: {what}", segment.path.display()),
                );
                Wal::cut(folder, number, offset)?;
                log_bytes -= segment.len() - offset.min(segment.len());
            }
        }
        let next = segments
            .last()
            .map_or(first_segment, |&last| (last + 1).max(first_segment));
        let wal = Wal::create(folder, next)?;
        store.prune(OffsetDateTime::now_utc());
        report.took = began.elapsed();
        metrics.replay_seconds.set(report.took.as_secs_f64());
        let mut writer = LogWriter::new(wal, folder.to_owned(), lock, metrics);
        writer.checkpoint_bytes = checkpoint_bytes;
        writer.since_checkpoint = log_bytes;
        writer.checkpoint_samples = report.checkpoint_samples;
        writer.samples_since_checkpoint = report.log_samples;
        writer
            .metrics
            .size
            .set((checkpoint_bytes + log_bytes) as f64);
        // `new` made the cell empty, and nothing else has the store yet.
        let _ = store.inner.log.set(Mutex::new(writer));
        Ok((store, report))
    }

    /// Stores a checkpoint record's series; returns their samples.
    fn load_series(&self, payload: &[u8]) -> Result<u64, String> {
        let mut r = ByteReader::new(payload);
        let mut samples = 0;
        while !r.is_empty() {
            let name = r.str().ok_or("a series name cut short")?;
            let pairs = r.count(payload.len()).ok_or("a label count cut short")?;
            let mut labels = Vec::with_capacity(pairs);
            for _ in 0..pairs {
                let n = r.str().ok_or("a label cut short")?;
                let v = r.str().ok_or("a label cut short")?;
                labels.push((n, v));
            }
            crate::metrics::validate_metric_name(name)
                .map_err(|e| format!("a series that cannot be: {e}"))?;
            let labels = LabelSet::new(name, &labels)
                .map_err(|e| format!("a series that cannot be: {e}"))?;
            let points =
                Points::read_image(&mut r).ok_or("a series' samples that do not hold together")?;
            samples += points.len() as u64;
            let series = self.series_of(name, &labels);
            *series.lock() = points;
        }
        Ok(samples)
    }

    /// Writes what the log holds since the last call (and syncs it when `sync`); then, when
    /// the log has grown enough since the last checkpoint, checkpoints the history. Does
    /// nothing for a store without storage. Returns the failure to report, if any.
    pub(crate) fn persist(&self, sync: bool) -> Option<String> {
        let log = self.inner.log.get()?;
        let (number, image) = {
            let mut writer = log.lock();
            writer.flush(sync);
            if !writer.checkpoint_due() {
                return writer.last_error.take();
            }
            match writer.begin_checkpoint() {
                Ok(number) => (number, self.image()),
                Err(e) => {
                    writer.metrics.checkpoint_failures.inc();
                    return Some(e.to_string());
                }
            }
        };
        // Written without the log's lock: appends go on into the new segment meanwhile.
        let folder = log.lock().folder.clone();
        let written = write_checkpoint(&folder, number, |put| {
            let mut record = Vec::with_capacity(CHECKPOINT_RECORD_BYTES + 4096);
            for (name, labels, points) in &image {
                put_bytes(&mut record, name.as_bytes());
                put_uvarint(&mut record, labels.len() as u64);
                for (n, v) in labels.iter() {
                    put_bytes(&mut record, n.as_bytes());
                    put_bytes(&mut record, v.as_bytes());
                }
                points.write_image(&mut record);
                if record.len() >= CHECKPOINT_RECORD_BYTES {
                    put(KIND_SERIES, &record)?;
                    record.clear();
                }
            }
            if !record.is_empty() {
                put(KIND_SERIES, &record)?;
            }
            Ok(())
        });
        let mut writer = log.lock();
        match written {
            Ok(size) => {
                writer.metrics.checkpoints.inc();
                writer.metrics.written_checkpoint.inc_by(size);
                writer.checkpoint_bytes = size;
                writer.checkpoint_samples = image.iter().map(|(_, _, p)| p.len() as u64).sum();
                // The segment begun for the checkpoint is all the log there is now.
                writer.since_checkpoint = writer.wal.segment_bytes();
                writer.samples_since_checkpoint = 0;
                writer.checkpoint_now = false;
                writer
                    .metrics
                    .size
                    .set((writer.checkpoint_bytes + writer.since_checkpoint) as f64);
                writer.last_error.take()
            }
            Err(e) => {
                writer.metrics.checkpoint_failures.inc();
                log::warn!("kotoba-monitoring {e}");
                Some(e.to_string())
            }
        }
    }

    /// Every series and a copy of its samples, as they stand now.
    fn image(&self) -> Vec<(Arc<str>, LabelSet, Points)> {
        let names = self.inner.names.read();
        let mut out = Vec::with_capacity(names.values().map(|s| s.len()).sum());
        for (name, series) in names.iter() {
            for (labels, series) in series {
                let points = series.lock();
                if !points.is_empty() {
                    out.push((name.clone(), labels.clone(), points.clone()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed time in the last hour, `secs` on.
    fn t(secs: i64) -> OffsetDateTime {
        static BASE: std::sync::OnceLock<OffsetDateTime> = std::sync::OnceLock::new();
        *BASE.get_or_init(|| OffsetDateTime::now_utc() - Duration::from_secs(3000))
            + Duration::from_secs(secs as u64)
    }

    #[test]
    fn a_full_disk_is_counted_and_the_next_checkpoint_makes_it_durable() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let labels = LabelSet::new("m", &[]).unwrap();
        let (store, _) =
            HistoryStore::open(Duration::from_secs(3600), 10_000, dir.path(), &registry).unwrap();
        for i in 0..10 {
            store.append("m", &labels, t(i), i as f64);
        }
        assert_eq!(store.persist(true), None);
        store.inner.log.get().unwrap().lock().wal.fill_disk();
        for i in 10..20 {
            store.append("m", &labels, t(i), i as f64);
        }
        let failure = store.persist(true).expect("the write fails");
        assert!(failure.contains("writing the log failed"), "{failure}");
        let counter = |name: &str| registry.counter(name, "", &[]).unwrap().get();
        assert_eq!(counter("kotoba_monitoring_wal_write_failures_total"), 1.0);
        assert_eq!(
            counter("kotoba_monitoring_wal_samples_unlogged_total"),
            10.0
        );
        // In memory all the same; a new segment could be begun at once (only the old one's
        // file was full), and a checkpoint made the samples durable then and there.
        assert_eq!(store.point_count(), 20);
        assert_eq!(counter("kotoba_monitoring_checkpoints_total"), 1.0);
        for i in 20..26 {
            store.append("m", &labels, t(i), i as f64);
        }
        assert_eq!(store.persist(true), None);
        assert_eq!(
            counter("kotoba_monitoring_wal_samples_unlogged_total"),
            10.0
        );
        drop(store);
        let again = Registry::new();
        let (store, report) =
            HistoryStore::open(Duration::from_secs(3600), 10_000, dir.path(), &again).unwrap();
        assert!(report.damage.is_empty(), "{report:?}");
        let values: Vec<f64> = store
            .points("m", &[], t(0), t(100))
            .unwrap()
            .iter()
            .map(|p| p.value)
            .collect();
        assert_eq!(values, (0..26).map(f64::from).collect::<Vec<_>>());
    }
}
