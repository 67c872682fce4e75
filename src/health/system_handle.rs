//! Module implementing the sysinfo handle a built-in check keeps between runs. See
//! [`SystemHandle`] for details.

use parking_lot::Mutex;
use sysinfo::System;

/// A sysinfo [`System`] created at a check's first run and kept for the next ones, so each run
/// refreshes only what it reads (and CPU usage can be a difference between two runs).
pub(crate) struct SystemHandle(Mutex<Option<System>>);

impl SystemHandle {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// Runs `read` on the handle; at the first call, creates it and runs `first` on it before.
    pub(crate) fn with<T>(
        &self,
        first: impl FnOnce(&mut System),
        read: impl FnOnce(&mut System) -> T,
    ) -> Result<T, sysinfo::Error> {
        let mut slot = self.0.lock();
        let system = match slot.as_mut() {
            Some(s) => s,
            None => {
                let mut s = System::new()?;
                first(&mut s);
                slot.insert(s)
            }
        };
        Ok(read(system))
    }
}

impl std::fmt::Debug for SystemHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemHandle")
    }
}
