//! The history's write-ahead log: every sample the store takes, in the order it takes them,
//! compressed as the chunks are. See [`LogWriter`] for the writing and [`SegmentReplay`] for
//! reading it back.
//!
//! A record is the samples stored between two flushes (a collection tick's, usually): a
//! count, then a bit stream of entries. Each entry names its series, then gives the sample
//! as the series' chunk would encode it after the series' previous sample in the segment
//! (the first as its time's change from the entry before, and its value in full): a regular
//! tick's timestamp is one bit, an unchanged value one bit, a counter's steady rise ten. The series is named in the fewest bits the order allows:
//! `0` when it is the one that followed the previous entry's series last time (the self-
//! scrape visits series in the same order each tick), `10` and its number otherwise, `11`,
//! its number, name and labels the first time the segment sees it. So each segment reads on
//! its own, and a damaged one loses only its own tail.

use std::collections::HashMap;
use std::sync::Arc;

use super::chunk::{encode, BitReader, BitWriter, Decoder, State};
use super::store::Series;
use super::HistoryStore;
use crate::metrics::Counter;
use crate::storage::{FolderLock, Wal};
use crate::{LabelSet, MonitoringError, Registry};

/// The kind of a samples record.
pub(super) const KIND_SAMPLES: u8 = 1;

/// A record is closed once its bits reach this many bytes, so a tick of a million series
/// is written as a few records rather than one.
const RECORD_BYTES: usize = 1 << 20;

/// No series: before a record's first entry.
const NONE: u64 = u64::MAX;

/// The history is checkpointed once the log since the last checkpoint holds half as many
/// samples as the checkpoint (and at least this many): the folder then stays under one and
/// a half times the compressed history, the log replays quickly, and a checkpoint, which
/// writes every sample again, comes ever more rarely as the history fills up. Counted in
/// samples rather than bytes, since each new segment names every series again.
const MIN_LOG_SAMPLES_BEFORE_CHECKPOINT: u64 = 1 << 16;

/// A series as the current segment knows it.
#[derive(Debug)]
struct SeriesLog {
    /// The encoder's state after the series' last sample in the segment.
    state: State,
    /// The series whose entry followed this one's last time.
    next: u64,
}

/// The storage's self-metrics.
#[derive(Debug, Clone)]
pub(super) struct LogMetrics {
    pub(super) corruptions: Counter,
    pub(super) write_failures: Counter,
    pub(super) unlogged: Counter,
    pub(super) written_log: Counter,
    pub(super) written_checkpoint: Counter,
    pub(super) checkpoints: Counter,
    pub(super) checkpoint_failures: Counter,
    pub(super) size: crate::Gauge,
    pub(super) replay_seconds: crate::Gauge,
}

impl LogMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, MonitoringError> {
        let written = registry.counter_family(
            "kotoba_monitoring_storage_written_bytes_total",
            "Bytes written to the storage folder, by file: the log, or checkpoints.",
        )?;
        Ok(Self {
            corruptions: registry.counter(
                "kotoba_monitoring_wal_corruptions_total",
                "Damaged places found in the write-ahead log or checkpoint at start and cut off (a crash mid-write, a full disk, flipped bytes); everything before each was kept.",
                &[],
            )?,
            write_failures: registry.counter(
                "kotoba_monitoring_wal_write_failures_total",
                "Writes and syncs of the write-ahead log that failed (a full or failing disk).",
                &[],
            )?,
            unlogged: registry.counter(
                "kotoba_monitoring_wal_samples_unlogged_total",
                "Samples kept in memory but not written to the log because a write failed; the next checkpoint makes them durable.",
                &[],
            )?,
            written_log: written.with_labels(&[("file", "wal")])?,
            written_checkpoint: written.with_labels(&[("file", "checkpoint")])?,
            checkpoints: registry.counter(
                "kotoba_monitoring_checkpoints_total",
                "Checkpoints of the history written.",
                &[],
            )?,
            checkpoint_failures: registry.counter(
                "kotoba_monitoring_checkpoint_failures_total",
                "Checkpoints of the history that could not be written; the log keeps everything until one is.",
                &[],
            )?,
            size: registry.gauge(
                "kotoba_monitoring_storage_bytes",
                "Bytes the checkpoint and the log segments after it take in the storage folder.",
                &[],
            )?,
            replay_seconds: registry.gauge(
                "kotoba_monitoring_storage_replay_seconds",
                "How long reading the checkpoint and the log took at start.",
                &[],
            )?,
        })
    }
}

/// Writes the history's samples to the log as the store takes them, and flushes them when
/// told. Lives in the store, behind the lock every append takes first.
#[derive(Debug)]
pub(crate) struct LogWriter {
    pub(super) wal: Wal,
    pub(super) folder: std::path::PathBuf,
    /// The series the current segment has seen, by number.
    series: HashMap<u64, SeriesLog>,
    /// The series of the record's last entry.
    prev: u64,
    /// The series of the first entry of the last record.
    start_next: u64,
    /// The time of the record's last entry (0 before its first).
    record_t: i64,
    bits: BitWriter,
    entries: u32,
    /// Samples in records not yet written: lost from the log if the write fails.
    unwritten: u64,
    /// A write failed: nothing is logged until a new segment begins.
    broken: bool,
    pub(super) metrics: LogMetrics,
    /// Log bytes written since the last checkpoint, and that checkpoint's size.
    pub(super) since_checkpoint: u64,
    pub(super) checkpoint_bytes: u64,
    /// Samples logged since the last checkpoint, and the samples it holds.
    pub(super) samples_since_checkpoint: u64,
    pub(super) checkpoint_samples: u64,
    /// Whether the next look should checkpoint whatever the sizes say (after a failed write,
    /// so the samples it lost become durable again).
    pub(super) checkpoint_now: bool,
    /// The last write or checkpoint failure, for whoever reports errors.
    pub(super) last_error: Option<String>,
    _lock: FolderLock,
}

impl LogWriter {
    pub(super) fn new(
        wal: Wal,
        folder: std::path::PathBuf,
        lock: FolderLock,
        metrics: LogMetrics,
    ) -> Self {
        Self {
            wal,
            folder,
            series: HashMap::new(),
            prev: NONE,
            start_next: NONE,
            record_t: 0,
            bits: BitWriter::default(),
            entries: 0,
            unwritten: 0,
            broken: false,
            metrics,
            since_checkpoint: 0,
            checkpoint_bytes: 0,
            samples_since_checkpoint: 0,
            checkpoint_samples: 0,
            checkpoint_now: false,
            last_error: None,
            _lock: lock,
        }
    }

    /// Logs sample `(t, v)` of `series` (`name{labels}`), `t` in Unix nanoseconds.
    pub(super) fn sample(
        &mut self,
        series: &Series,
        name: &str,
        labels: &LabelSet,
        t: i64,
        v: f64,
    ) {
        if self.broken {
            self.metrics.unlogged.inc();
            return;
        }
        let id = series.id;
        let predicted = match self.prev {
            NONE => self.start_next,
            prev => self.series.get(&prev).map_or(NONE, |s| s.next),
        };
        let bits = &mut self.bits;
        let new = !self.series.contains_key(&id);
        if new {
            bits.write(0b11, 2);
            write_id(bits, id);
            write_str(bits, name);
            write_len(bits, labels.len());
            for (n, v) in labels.iter() {
                write_str(bits, n);
                write_str(bits, v);
            }
        } else if predicted == id {
            bits.bit(false);
        } else {
            bits.write(0b10, 2);
            write_id(bits, id);
        }
        match self.prev {
            NONE => self.start_next = id,
            prev => {
                if let Some(p) = self.series.get_mut(&prev) {
                    p.next = id;
                }
            }
        }
        if new {
            // The first sample: its time as the change from the entry before (nothing, in a
            // tick), its value whole.
            write_signed(&mut self.bits, t.wrapping_sub(self.record_t));
            self.bits.write(v.to_bits(), 64);
            self.series.insert(
                id,
                SeriesLog {
                    state: State::start(t, v.to_bits()),
                    next: NONE,
                },
            );
        } else if let Some(entry) = self.series.get_mut(&id) {
            encode(&mut self.bits, &mut entry.state, false, t, v);
        }
        self.record_t = t;
        self.prev = id;
        self.entries += 1;
        self.unwritten += 1;
        if self.bits.len() >= RECORD_BYTES {
            self.close_record();
        }
    }

    /// Queues the open record for the next write.
    fn close_record(&mut self) {
        if self.entries == 0 {
            return;
        }
        let mut payload = Vec::with_capacity(4 + self.bits.len());
        payload.extend_from_slice(&self.entries.to_le_bytes());
        payload.extend_from_slice(self.bits.bytes());
        self.wal.append(KIND_SAMPLES, &payload);
        self.bits.clear();
        self.entries = 0;
        self.prev = NONE;
        self.record_t = 0;
    }

    /// Forgets what the segment knew: the next segment names every series again.
    fn begin_segment(&mut self) {
        self.series.clear();
        self.prev = NONE;
        self.start_next = NONE;
        self.record_t = 0;
    }

    /// Writes what was logged since the last flush (and syncs it when `sync`), so a killed
    /// process loses none of it. A failed write is counted and remembered; the samples stay
    /// in memory, and the next checkpoint makes them durable.
    pub(super) fn flush(&mut self, sync: bool) {
        if self.broken {
            match self.wal.roll() {
                Ok(()) => {
                    self.begin_segment();
                    self.broken = false;
                }
                Err(e) => {
                    self.last_error = Some(e.to_string());
                    return;
                }
            }
        }
        self.close_record();
        match self.wal.flush() {
            Ok(n) => {
                self.since_checkpoint += n;
                self.samples_since_checkpoint += self.unwritten;
                self.metrics.written_log.inc_by(n);
                self.unwritten = 0;
            }
            Err(e) => {
                self.fail(format!(
                    "writing the log failed ({e}); {} samples are in memory only until the next checkpoint",
                    self.unwritten
                ));
                self.metrics.unlogged.inc_by(self.unwritten);
                self.unwritten = 0;
                self.broken = true;
                self.checkpoint_now = true;
                self.bits.clear();
                self.entries = 0;
                return;
            }
        }
        if sync {
            if let Err(e) = self.wal.sync() {
                self.fail(format!("syncing the log failed ({e})"));
            }
        }
        if self.wal.segment_bytes() >= crate::storage::SEGMENT_BYTES && self.wal.roll().is_ok() {
            self.begin_segment();
        }
        self.metrics
            .size
            .set((self.checkpoint_bytes + self.since_checkpoint) as f64);
    }

    fn fail(&mut self, message: String) {
        self.metrics.write_failures.inc();
        log::warn!(
            "kotoba-monitoring storage {}: {message}",
            self.folder.display()
        );
        self.last_error = Some(message);
    }

    /// Whether the history is due a checkpoint.
    pub(super) fn checkpoint_due(&self) -> bool {
        self.checkpoint_now
            || self.samples_since_checkpoint
                >= (self.checkpoint_samples / 2).max(MIN_LOG_SAMPLES_BEFORE_CHECKPOINT)
    }

    /// Flushes and syncs the log and begins a new segment for the checkpoint to precede;
    /// returns its number.
    ///
    /// # Errors
    ///
    /// When the new segment cannot be made.
    pub(super) fn begin_checkpoint(&mut self) -> Result<u64, MonitoringError> {
        self.flush(true);
        if self.broken {
            return Err(crate::storage::error(
                &self.folder,
                "the log cannot be written, so no checkpoint can be either; is the disk full?",
                None,
            ));
        }
        self.wal.roll()?;
        self.begin_segment();
        Ok(self.wal.number())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.flush(true);
    }
}

/// Writes `id` as its bit length (7 bits), then its bits.
fn write_id(bits: &mut BitWriter, id: u64) {
    let n = 64 - id.leading_zeros();
    bits.write(u64::from(n), 7);
    if n > 0 {
        bits.write(id, n);
    }
}

fn read_id(r: &mut BitReader) -> Option<u64> {
    let n = r.read(7) as u32;
    match n {
        0 => Some(0),
        1..=64 => Some(r.read(n)),
        _ => None,
    }
}

/// Writes a length: `0` and 7 bits below 128, else `1` and 32 bits.
fn write_len(bits: &mut BitWriter, n: usize) {
    if n < 128 {
        bits.write(n as u64, 8);
    } else {
        bits.bit(true);
        bits.write(n as u64, 32);
    }
}

fn read_len(r: &mut BitReader) -> usize {
    if r.bit() {
        r.read(32) as usize
    } else {
        r.read(7) as usize
    }
}

/// Writes `text` as its length, then its bytes.
fn write_str(bits: &mut BitWriter, text: &str) {
    write_len(bits, text.len());
    for &b in text.as_bytes() {
        bits.write(u64::from(b), 8);
    }
}

fn read_str(r: &mut BitReader, limit: usize) -> Option<String> {
    let n = read_len(r);
    if n > limit {
        return None;
    }
    let bytes: Vec<u8> = (0..n).map(|_| r.read(8) as u8).collect();
    String::from_utf8(bytes).ok()
}

/// Writes `n` zigzagged: `0` for nothing, else `1`, its bit length less one (6 bits) and
/// its bits.
fn write_signed(bits: &mut BitWriter, n: i64) {
    let z = ((n << 1) ^ (n >> 63)) as u64;
    if z == 0 {
        bits.bit(false);
    } else {
        let len = 64 - z.leading_zeros();
        bits.bit(true);
        bits.write(u64::from(len - 1), 6);
        bits.write(z, len);
    }
}

fn read_signed(r: &mut BitReader) -> i64 {
    if !r.bit() {
        return 0;
    }
    let len = r.read(6) as u32 + 1;
    let z = r.read(len);
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// A series as a segment being replayed knows it.
struct Replayed {
    series: Arc<Series>,
    /// Set by the series' first entry.
    decoder: Option<Decoder>,
    next: u64,
}

/// Reads one segment's records back into a store, mirroring [`LogWriter::sample`].
pub(super) struct SegmentReplay<'a> {
    store: &'a HistoryStore,
    series: HashMap<u64, Replayed>,
    start_next: u64,
}

impl<'a> SegmentReplay<'a> {
    pub(super) fn new(store: &'a HistoryStore) -> Self {
        Self {
            store,
            series: HashMap::new(),
            start_next: NONE,
        }
    }

    /// Stores a samples record's samples and returns how many; `Err` names what does not
    /// decode (after storing the entries before it).
    pub(super) fn record(&mut self, payload: &[u8]) -> Result<u64, String> {
        let (count, bits) = payload
            .split_first_chunk::<4>()
            .ok_or("a samples record without its count")?;
        let count = u32::from_le_bytes(*count);
        let mut r = BitReader::new(bits);
        let mut prev = NONE;
        let mut record_t = 0i64;
        for i in 0..count {
            if r.is_at_end() {
                return Err(format!(
                    "a samples record ending after {i} of its {count} entries"
                ));
            }
            let id = if !r.bit() {
                let predicted = match prev {
                    NONE => self.start_next,
                    prev => self.series.get(&prev).map_or(NONE, |s| s.next),
                };
                if !self.series.contains_key(&predicted) {
                    return Err("an entry naming no series".to_owned());
                }
                predicted
            } else if !r.bit() {
                let id = read_id(&mut r).ok_or("a series number of more than 64 bits")?;
                if !self.series.contains_key(&id) {
                    return Err(format!(
                        "an entry of series {id}, which the segment never named"
                    ));
                }
                id
            } else {
                let id = read_id(&mut r).ok_or("a series number of more than 64 bits")?;
                let name = read_str(&mut r, bits.len()).ok_or("a series name that is not UTF-8")?;
                let pairs = read_len(&mut r);
                if pairs > bits.len() {
                    return Err("a series with more labels than bytes".to_owned());
                }
                let mut labels = Vec::with_capacity(pairs);
                for _ in 0..pairs {
                    let n = read_str(&mut r, bits.len()).ok_or("a label that is not UTF-8")?;
                    let v = read_str(&mut r, bits.len()).ok_or("a label that is not UTF-8")?;
                    labels.push((n, v));
                }
                let pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                crate::metrics::validate_metric_name(&name)
                    .map_err(|e| format!("a series that cannot be: {e}"))?;
                let labels = LabelSet::new(&name, &pairs)
                    .map_err(|e| format!("a series that cannot be: {e}"))?;
                let series = self.store.series_of(&name, &labels);
                self.series.insert(
                    id,
                    Replayed {
                        series,
                        decoder: None,
                        next: NONE,
                    },
                );
                id
            };
            match prev {
                NONE => self.start_next = id,
                prev => {
                    if let Some(p) = self.series.get_mut(&prev) {
                        p.next = id;
                    }
                }
            }
            let Some(entry) = self.series.get_mut(&id) else {
                return Err("an entry naming no series".to_owned());
            };
            let (t, v) = match entry.decoder.as_mut() {
                Some(decoder) => decoder.next(&mut r),
                None => {
                    let t = record_t.wrapping_add(read_signed(&mut r));
                    let v = f64::from_bits(r.read(64));
                    entry.decoder = Some(Decoder::started(t, v));
                    (t, v)
                }
            };
            let mut points = entry.series.lock();
            self.store.put(&mut points, t, v);
            prev = id;
            record_t = t;
        }
        Ok(u64::from(count))
    }
}
