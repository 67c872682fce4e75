//! One monitor per storage folder: an OS lock on `LOCK`, held for as long as the
//! monitor that opened the folder exists. See [`FolderLock`].

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::MonitoringError;

/// The lock on a storage folder. The OS drops it when the process ends, however it ends,
/// so a crash never leaves a folder locked.
#[derive(Debug)]
pub(crate) struct FolderLock {
    /// Held open: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl FolderLock {
    /// Creates `folder` if needed and locks it.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::Storage`] when the folder cannot be made or written, or another
    /// monitor (in this process or another) holds it.
    pub(crate) fn acquire(folder: &Path) -> Result<Self, MonitoringError> {
        std::fs::create_dir_all(folder).map_err(|e| {
            super::error(
                folder,
                "cannot create the storage folder; check storage.path and its permissions",
                Some(e),
            )
        })?;
        if !folder.is_dir() {
            return Err(super::error(
                folder,
                "is not a folder; point storage.path at a folder of its own",
                None,
            ));
        }
        let path = folder.join("LOCK");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| {
                super::error(
                    &path,
                    "cannot open the lock file; the storage folder must be writable by this process",
                    Some(e),
                )
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                return Err(super::error(
                    folder,
                    format!(
                        "is in use by another monitor{}; give each monitor a storage.path of its own",
                        if holder.is_empty() {
                            String::new()
                        } else {
                            format!(" (process {holder})")
                        }
                    ),
                    None,
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(super::error(&path, "cannot lock the lock file", Some(e)));
            }
        }
        // Who holds it, for the next one's error; the lock is what counts, not this text.
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        Ok(Self { _file: file, path })
    }

    /// The lock file's path.
    #[cfg(test)]
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // The lock goes with the handle; the stale pid is cleared for whoever looks.
        let _ = std::fs::write(&self.path, b"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_folder_is_refused_until_the_first_goes() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(dir.path()).unwrap();
        let err = FolderLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another monitor"), "{err}");
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        assert!(first.path().exists());
        drop(first);
        FolderLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_file_where_the_folder_should_be_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        let err = FolderLock::acquire(&file).unwrap_err().to_string();
        assert!(err.contains("not-a-folder"), "{err}");
    }
}
