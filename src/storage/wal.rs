//! The write-ahead log's segments: numbered files under `wal/`, records appended to the
//! newest, written out and synced when the owner says. See [`Wal`].
//!
//! Unlike Prometheus's, each segment can be read without the ones before it (the history
//! names a series again in each segment it appears in), so damage in one segment loses only
//! the rest of that segment: the segments after it are read as usual.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::record::{frame, Damage, ReadRecord, Records};
use crate::MonitoringError;

/// The first bytes of every segment.
const MAGIC: &[u8; 8] = b"KOTOWAL1";

/// A segment is closed and the next begun once it holds this much.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;

/// The log being written: its current segment and the records not yet written to it.
#[derive(Debug)]
pub(crate) struct Wal {
    /// `<storage.path>/wal`.
    dir: PathBuf,
    file: File,
    number: u64,
    /// Bytes of the current segment known to be written whole.
    written: u64,
    /// Framed records waiting for [`flush`](Self::flush).
    pending: Vec<u8>,
    /// Whether bytes were written since the last sync.
    unsynced: bool,
}

/// A segment as read back: its bytes, and what to iterate them with.
#[derive(Debug)]
pub(crate) struct SegmentRead {
    pub(crate) path: PathBuf,
    bytes: Vec<u8>,
    /// Damage found before the records: a header cut short.
    header_damage: Option<Damage>,
}

impl SegmentRead {
    /// The segment's records, then the damage that ends them, if any.
    pub(crate) fn records(&self) -> Box<dyn Iterator<Item = ReadRecord<'_>> + '_> {
        match &self.header_damage {
            Some(damage) => Box::new(std::iter::once(Err(damage.clone()))),
            None if self.bytes.is_empty() => Box::new(std::iter::empty()),
            None => Box::new(Records::new(&self.bytes, MAGIC.len())),
        }
    }

    /// Its size on disk.
    pub(crate) fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// `<folder>/wal/<number, 8 digits>`.
fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:08}"))
}

impl Wal {
    /// The numbers of the segments under `<folder>/wal`, oldest first (creating the folder
    /// when it is missing).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when the folder cannot be read or holds anything but
    /// segments: a file of another program must not be mistaken for a log, nor deleted.
    pub(crate) fn segments(folder: &Path) -> Result<Vec<u64>, MonitoringError> {
        let dir = folder.join("wal");
        std::fs::create_dir_all(&dir).map_err(|e| {
            super::error(
                &dir,
                "cannot create the log folder; the storage folder must be writable",
                Some(e),
            )
        })?;
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| super::error(&dir, "cannot list the log folder", Some(e)))?;
        let mut numbers = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| super::error(&dir, "cannot list the log folder", Some(e)))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let number = (name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()))
                .then(|| name.parse::<u64>().ok())
                .flatten();
            match number {
                Some(n) if entry.path().is_file() => numbers.push(n),
                _ => {
                    return Err(super::error(
                        &entry.path(),
                        "is not a log segment (those are files named by 8 digits); move it out of the storage folder",
                        None,
                    ))
                }
            }
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Reads segment `number` whole.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when it cannot be read, or does not begin as a segment
    /// does (a file of something else).
    pub(crate) fn read_segment(folder: &Path, number: u64) -> Result<SegmentRead, MonitoringError> {
        let path = segment_path(&folder.join("wal"), number);
        let bytes = std::fs::read(&path)
            .map_err(|e| super::error(&path, "cannot read the log segment", Some(e)))?;
        let header_damage = if bytes.len() >= MAGIC.len() {
            if !bytes.starts_with(MAGIC) {
                return Err(super::error(
                    &path,
                    "is not a kotoba-monitoring log segment (it does not begin as one); move it out of the storage folder",
                    None,
                ));
            }
            None
        } else if MAGIC.starts_with(&bytes) {
            // Created, then cut off by a crash before its header was whole.
            (!bytes.is_empty()).then(|| Damage {
                offset: 0,
                reason: "a segment header cut short".to_owned(),
            })
        } else {
            return Err(super::error(
                &path,
                "is not a kotoba-monitoring log segment; move it out of the storage folder",
                None,
            ));
        };
        Ok(SegmentRead {
            path,
            bytes,
            header_damage,
        })
    }

    /// Cuts segment `number` at `offset`, dropping its damaged tail (a segment cut at 0 is
    /// removed).
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when the file cannot be changed.
    pub(crate) fn cut(folder: &Path, number: u64, offset: u64) -> Result<(), MonitoringError> {
        let path = segment_path(&folder.join("wal"), number);
        let fail = |e| {
            super::error(
                &path,
                "cannot cut the damaged end off the log segment",
                Some(e),
            )
        };
        if offset <= MAGIC.len() as u64 {
            return std::fs::remove_file(&path).map_err(fail);
        }
        let file = OpenOptions::new().write(true).open(&path).map_err(fail)?;
        file.set_len(offset).map_err(fail)?;
        file.sync_all().map_err(fail)
    }

    /// Removes every segment numbered below `number` (a checkpoint holds what they said).
    pub(crate) fn remove_before(folder: &Path, number: u64) {
        let dir = folder.join("wal");
        if let Ok(numbers) = Self::segments(folder) {
            for n in numbers.into_iter().filter(|&n| n < number) {
                let _ = std::fs::remove_file(segment_path(&dir, n));
            }
        }
    }

    /// Begins segment `number` (it must not exist) and writes to it from now on.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when it cannot be created.
    pub(crate) fn create(folder: &Path, number: u64) -> Result<Self, MonitoringError> {
        let dir = folder.join("wal");
        let path = segment_path(&dir, number);
        let fail = |e| {
            super::error(
                &path,
                "cannot create a log segment; is the disk full or the folder read-only?",
                Some(e),
            )
        };
        std::fs::create_dir_all(&dir).map_err(fail)?;
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(fail)?;
        if let Err(e) = file.write_all(MAGIC).and_then(|()| file.sync_all()) {
            let _ = std::fs::remove_file(&path);
            return Err(fail(e));
        }
        super::sync_folder(&dir);
        Ok(Self {
            dir,
            file,
            number,
            written: MAGIC.len() as u64,
            pending: Vec::new(),
            unsynced: false,
        })
    }

    /// The current segment's number.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    /// Queues a record for the next [`flush`](Self::flush).
    pub(crate) fn append(&mut self, kind: u8, payload: &[u8]) {
        frame(&mut self.pending, kind, payload);
    }

    /// Bytes the current segment holds on disk.
    pub(crate) fn segment_bytes(&self) -> u64 {
        self.written
    }

    /// Writes the queued records to the segment (into the OS's cache: a process killed from
    /// now on loses none of them) and returns how many bytes that was.
    ///
    /// # Errors
    ///
    /// The write's error, when the disk is full or failing. The queued records are dropped
    /// then, and the segment is cut back to its last whole record; the owner begins a new
    /// segment before writing more.
    pub(crate) fn flush(&mut self) -> std::io::Result<u64> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let bytes = std::mem::take(&mut self.pending);
        match self.file.write_all(&bytes) {
            Ok(()) => {
                let n = bytes.len() as u64;
                self.written += n;
                self.unsynced = true;
                // Keep the buffer's memory for the next round, up to a megabyte.
                self.pending = bytes;
                self.pending.clear();
                self.pending.shrink_to(1 << 20);
                Ok(n)
            }
            Err(e) => {
                let _ = self.file.set_len(self.written);
                Err(e)
            }
        }
    }

    /// Makes what was written durable (survives a power loss, not only a killed process).
    ///
    /// # Errors
    ///
    /// The sync's error.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// From now on, writes to the current segment fail as on a full disk (Linux's
    /// `/dev/full`), for tests of what a full disk does.
    #[cfg(test)]
    pub(crate) fn fill_disk(&mut self) {
        self.file = OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
    }

    /// Flushes and syncs what is queued, then begins the next segment.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when the next segment cannot be created; the current one
    /// stays in use.
    pub(crate) fn roll(&mut self) -> Result<(), MonitoringError> {
        let _ = self.flush();
        let _ = self.sync();
        let folder = self.dir.parent().unwrap_or(&self.dir).to_owned();
        let next = Self::create(&folder, self.number + 1)?;
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(read: &SegmentRead) -> (Vec<u8>, Option<Damage>) {
        let mut out = Vec::new();
        for r in read.records() {
            match r {
                Ok((_, kind, _)) => out.push(kind),
                Err(d) => return (out, Some(d)),
            }
        }
        (out, None)
    }

    #[test]
    fn segments_roll_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Wal::segments(dir.path()).unwrap().is_empty());
        let mut wal = Wal::create(dir.path(), 0).unwrap();
        wal.append(1, b"a");
        wal.append(2, b"bb");
        wal.flush().unwrap();
        wal.sync().unwrap();
        wal.append(3, b"c");
        wal.roll().unwrap();
        wal.append(4, b"d");
        wal.flush().unwrap();
        assert_eq!(wal.number(), 1);
        assert_eq!(Wal::segments(dir.path()).unwrap(), [0, 1]);
        let first = Wal::read_segment(dir.path(), 0).unwrap();
        assert_eq!(kinds(&first), (vec![1, 2, 3], None));
        let second = Wal::read_segment(dir.path(), 1).unwrap();
        assert_eq!(kinds(&second), (vec![4], None));
        Wal::remove_before(dir.path(), 1);
        assert_eq!(Wal::segments(dir.path()).unwrap(), [1]);
    }

    #[test]
    fn a_torn_tail_is_found_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 7).unwrap();
        wal.append(1, b"kept");
        wal.flush().unwrap();
        let good = wal.segment_bytes();
        drop(wal);
        let path = dir.path().join("wal/00000007");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        let read = Wal::read_segment(dir.path(), 7).unwrap();
        let (got, damage) = kinds(&read);
        assert_eq!(got, [1]);
        let damage = damage.unwrap();
        assert_eq!(damage.offset, good);
        Wal::cut(dir.path(), 7, damage.offset).unwrap();
        let read = Wal::read_segment(dir.path(), 7).unwrap();
        assert_eq!(kinds(&read), (vec![1], None));
    }

    #[test]
    fn files_that_are_not_segments_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("wal")).unwrap();
        std::fs::write(dir.path().join("wal/notes.txt"), b"hello").unwrap();
        let err = Wal::segments(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("notes.txt") && err.contains("not a log segment"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("wal/notes.txt")).unwrap();
        std::fs::write(dir.path().join("wal/00000003"), b"something else entirely").unwrap();
        let err = Wal::read_segment(dir.path(), 3).unwrap_err().to_string();
        assert!(
            err.contains("00000003") && err.contains("not a kotoba-monitoring"),
            "{err}"
        );
        // A header cut short by a crash is damage, not a stranger's file.
        std::fs::write(dir.path().join("wal/00000003"), &MAGIC[..3]).unwrap();
        let read = Wal::read_segment(dir.path(), 3).unwrap();
        assert_eq!(kinds(&read).1.map(|d| d.offset), Some(0));
        Wal::cut(dir.path(), 3, 0).unwrap();
        assert!(Wal::segments(dir.path()).unwrap().is_empty());
    }
}
