//! Small state files under `state/`, each replaced whole: written under a temporary name,
//! synced and renamed, so a reader finds the old text or the new one, never a mix. Alert
//! state, the notification log and remote-write positions live here. See [`write_state`].

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::MonitoringError;

fn state_path(folder: &Path, name: &str) -> PathBuf {
    folder.join("state").join(name)
}

/// Replaces state file `name` with `bytes`.
///
/// # Errors
///
/// [`MonitoringError::Storage`] when it cannot be written whole; the old file stays.
pub(crate) fn write_state(folder: &Path, name: &str, bytes: &[u8]) -> Result<(), MonitoringError> {
    let path = state_path(folder, name);
    let temporary = path.with_extension("tmp");
    let written = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(folder.join("state"))?;
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        super::error(
            &path,
            "cannot write the state file; is the disk full?",
            Some(e),
        )
    })?;
    super::sync_folder(&folder.join("state"));
    Ok(())
}

/// State file `name`'s bytes, or `None` when there is none yet.
///
/// # Errors
///
/// [`MonitoringError::Storage`] when it exists but cannot be read.
pub(crate) fn read_state(folder: &Path, name: &str) -> Result<Option<Vec<u8>>, MonitoringError> {
    let path = state_path(folder, name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(super::error(&path, "cannot read the state file", Some(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_state(dir.path(), "a.json").unwrap(), None);
        write_state(dir.path(), "a.json", b"{\"n\":1}").unwrap();
        write_state(dir.path(), "a.json", b"{\"n\":2}").unwrap();
        assert_eq!(
            read_state(dir.path(), "a.json").unwrap().as_deref(),
            Some(&b"{\"n\":2}"[..])
        );
        assert!(!dir.path().join("state/a.tmp").exists());
    }
}
