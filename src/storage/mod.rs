//! The files under `storage.path` that make the monitor durable: what a crash can lose and
//! how a start finds everything again. This layer knows files, records and checksums; what
//! the records say is the history's and the alerting's business.
//!
//! - `lock`: [`FolderLock`], one monitor per folder;
//! - `bytes`: varints and length-prefixed strings in record payloads;
//! - `record`: the framing every file shares (length, CRC-32, kind, payload) and reading it
//!   back up to the first damage;
//! - `wal`: [`Wal`], the write-ahead log: numbered segments, each readable on its own, a
//!   damaged tail cut off on open;
//! - `checkpoint`: a compacted image of the history, written aside and renamed into place;
//! - `state`: small JSON files (alert state, the notification log, remote-write positions),
//!   each replaced whole.
//!
//! The folder:
//!
//! ```text
//! LOCK                    held while a monitor has the folder open
//! wal/00000012            log segments, oldest first
//! checkpoint.00000012     the history up to segment 12, which the log continues
//! state/*.json            alert state, the notification log, remote-write positions
//! ```

pub(crate) mod bytes;
mod checkpoint;
mod lock;
mod record;
mod state;
mod wal;

pub(crate) use checkpoint::{read_latest_checkpoint, write_checkpoint};
pub(crate) use lock::FolderLock;
pub(crate) use state::{read_state, write_state};
pub(crate) use wal::{Wal, SEGMENT_BYTES};

use std::path::Path;

use crate::MonitoringError;

/// A storage error about `path`: what went wrong and what to do.
pub(crate) fn error(
    path: &Path,
    reason: impl Into<String>,
    source: Option<std::io::Error>,
) -> MonitoringError {
    MonitoringError::Storage {
        path: path.to_owned(),
        reason: reason.into(),
        source,
    }
}

/// Makes `path`'s creation or rename durable by syncing its folder (a no-op where folders
/// cannot be opened for syncing).
pub(crate) fn sync_folder(path: &Path) {
    if let Ok(folder) = std::fs::File::open(path) {
        let _ = folder.sync_all();
    }
}
