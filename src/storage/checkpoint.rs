//! Checkpoints: the history at one moment, compacted into one file that the log segments
//! after it continue. Written under a temporary name, synced, then renamed into place, as
//! Prometheus's `tsdb/wlog/checkpoint.go` does, so a crash leaves either the old checkpoint
//! or the new one, never half of one. See [`write_checkpoint`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::record::{frame, Records};
use super::wal::Wal;
use crate::MonitoringError;

/// The first bytes of every checkpoint.
const MAGIC: &[u8; 8] = b"KOTOCKP1";

const PREFIX: &str = "checkpoint.";

fn checkpoint_path(folder: &Path, number: u64) -> PathBuf {
    folder.join(format!("{PREFIX}{number:08}"))
}

/// Writes the checkpoint that log segment `number` continues, from the records `fill`
/// writes, then removes the checkpoints and segments it replaces. Returns its size.
///
/// # Errors
///
/// [`MonitoringError::Storage`] when it cannot be written whole (a full disk); the
/// temporary file is removed and the older checkpoint and segments stay as they were.
pub(crate) fn write_checkpoint(
    folder: &Path,
    number: u64,
    fill: impl FnOnce(&mut dyn FnMut(u8, &[u8]) -> std::io::Result<()>) -> std::io::Result<()>,
) -> Result<u64, MonitoringError> {
    let path = checkpoint_path(folder, number);
    let temporary = path.with_extension("tmp");
    let written = (|| -> std::io::Result<u64> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&temporary)?);
        out.write_all(MAGIC)?;
        let mut size = MAGIC.len() as u64;
        let mut framed = Vec::new();
        fill(&mut |kind, payload| {
            framed.clear();
            frame(&mut framed, kind, payload);
            size += framed.len() as u64;
            out.write_all(&framed)
        })?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(size)
    })();
    let size = match written {
        Ok(size) => size,
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            return Err(super::error(
                &path,
                "cannot write the checkpoint (the log keeps everything until one succeeds); is the disk full?",
                Some(e),
            ));
        }
    };
    std::fs::rename(&temporary, &path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        super::error(
            &path,
            "cannot rename the new checkpoint into place",
            Some(e),
        )
    })?;
    super::sync_folder(folder);
    for (older, older_path) in checkpoints(folder) {
        if older < number {
            let _ = std::fs::remove_file(older_path);
        }
    }
    Wal::remove_before(folder, number);
    Ok(size)
}

/// The checkpoints in `folder` by number, and temporary files left by a crash mid-write
/// (removed on the way).
fn checkpoints(folder: &Path) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if rest.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        if let Ok(number) = rest.parse::<u64>() {
            out.push((number, entry.path()));
        }
    }
    out.sort_unstable();
    out
}

/// The newest checkpoint as read back.
#[derive(Debug)]
pub(crate) struct CheckpointRead {
    /// The first log segment after it.
    pub(crate) number: u64,
    pub(crate) path: PathBuf,
    bytes: Vec<u8>,
}

impl CheckpointRead {
    /// Its records, then the damage that ends them, if any.
    pub(crate) fn records(&self) -> Records<'_> {
        Records::new(&self.bytes, MAGIC.len())
    }

    /// Its size on disk.
    pub(crate) fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// Reads the newest checkpoint in `folder`, if there is one.
///
/// # Errors
///
/// [`MonitoringError::Storage`] when it cannot be read or is not a checkpoint of ours.
pub(crate) fn read_latest_checkpoint(
    folder: &Path,
) -> Result<Option<CheckpointRead>, MonitoringError> {
    let Some((number, path)) = checkpoints(folder).pop() else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| super::error(&path, "cannot read the checkpoint", Some(e)))?;
    if !bytes.starts_with(MAGIC) {
        return Err(super::error(
            &path,
            "is not a kotoba-monitoring checkpoint (it does not begin as one); move it out of the storage folder",
            None,
        ));
    }
    Ok(Some(CheckpointRead {
        number,
        path,
        bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_replaces_older_ones_and_the_segments_it_covers() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 0).unwrap();
        wal.roll().unwrap();
        wal.roll().unwrap();
        write_checkpoint(dir.path(), 1, |put| put(1, b"old")).unwrap();
        assert_eq!(Wal::segments(dir.path()).unwrap(), [1, 2]);
        let size = write_checkpoint(dir.path(), 2, |put| {
            put(1, b"first")?;
            put(2, b"second")
        })
        .unwrap();
        assert_eq!(Wal::segments(dir.path()).unwrap(), [2]);
        let read = read_latest_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!((read.number, read.len()), (2, size));
        let got: Vec<(u8, Vec<u8>)> = read
            .records()
            .map(|r| r.map(|(_, k, p)| (k, p.to_vec())).unwrap())
            .collect();
        assert_eq!(got, [(1, b"first".to_vec()), (2, b"second".to_vec())]);
        assert_eq!(checkpoints(dir.path()).len(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_old_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        write_checkpoint(dir.path(), 3, |put| put(1, b"kept")).unwrap();
        let err = write_checkpoint(dir.path(), 4, |put| {
            put(1, b"partial")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("checkpoint.00000004"), "{err}");
        let read = read_latest_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!(read.number, 3);
        assert!(!dir.path().join("checkpoint.00000004.tmp").exists());
    }

    #[test]
    fn a_stranger_file_under_a_checkpoint_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("checkpoint.00000009"), b"not ours").unwrap();
        let err = read_latest_checkpoint(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a kotoba-monitoring checkpoint"), "{err}");
    }
}
