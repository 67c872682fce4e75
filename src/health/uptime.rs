//! Module implementing the process start time that uptime is measured from.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sysinfo::{ProcessesToUpdate, System};

/// When this process started, from the operating system (once), or else when this library
/// first asked.
fn process_start() -> SystemTime {
    static START: OnceLock<SystemTime> = OnceLock::new();
    *START.get_or_init(|| {
        let from_os = (|| {
            let pid = sysinfo::get_current_pid().ok()?;
            let mut system = System::new().ok()?;
            system.refresh_processes(ProcessesToUpdate::Some(&[pid]), false);
            let secs = system.process(pid)?.start_time();
            (secs > 0).then(|| UNIX_EPOCH + Duration::from_secs(secs))
        })();
        from_os.unwrap_or_else(SystemTime::now)
    })
}

/// How long this process has run.
pub(crate) fn process_uptime() -> Duration {
    SystemTime::now()
        .duration_since(process_start())
        .unwrap_or(Duration::ZERO)
}
