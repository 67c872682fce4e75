//! The history kept in `storage.path`: a restart finds every sample, a crash loses at most
//! what was not yet written, damage is cut off and counted, and a folder takes one monitor.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kotoba_monitoring::{LabelMatcher, MetricsCollector, MonitoringConfig, MonitoringError};
use time::OffsetDateTime;

fn config(folder: &Path) -> MonitoringConfig {
    let mut config = MonitoringConfig::default();
    config.storage.path = Some(folder.to_owned());
    config.retention_period = Duration::from_secs(24 * 3600);
    config.max_metrics_points = 1_000_000;
    config
}

fn labels(op: &str) -> HashMap<String, String> {
    HashMap::from([("op".to_owned(), op.to_owned())])
}

/// Every stored sample of `name`, as `(op, unix ns, value bits)`.
fn samples(collector: &MetricsCollector, name: &str) -> Vec<(String, i128, u64)> {
    let from = OffsetDateTime::UNIX_EPOCH;
    let to = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    let mut out: Vec<(String, i128, u64)> = collector
        .history()
        .range(name, &[], from, to)
        .unwrap()
        .into_iter()
        .flat_map(|r| {
            let op = r.labels.get("op").unwrap_or("").to_owned();
            r.points.into_iter().map(move |p| {
                (
                    op.clone(),
                    p.timestamp.unix_timestamp_nanos(),
                    p.value.to_bits(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

/// A gauge per op, recorded `n` times with values that exercise the encoding.
fn record(collector: &MetricsCollector, n: usize) {
    for i in 0..n {
        let op = ["get", "put", "scan"][i % 3];
        let value = match i % 4 {
            0 => i as f64,
            1 => (i as f64).sqrt(),
            2 => -0.0,
            _ => 1e300 / (i as f64 + 1.0),
        };
        collector
            .record_metric("storage_test_value", value, labels(op))
            .unwrap();
    }
}

#[test]
fn a_restart_finds_every_sample_and_a_checkpoint_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let collector = MetricsCollector::standalone(config(dir.path())).unwrap();
        assert_eq!(collector.replay_report().unwrap().log_samples, 0);
        record(&collector, 3000);
        collector.sync_storage().unwrap();
        samples(&collector, "storage_test_value")
    };
    assert_eq!(before.len(), 3000);
    // Reopened: the log read back.
    let collector = MetricsCollector::standalone(config(dir.path())).unwrap();
    let report = collector.replay_report().unwrap().clone();
    assert!(report.damage.is_empty(), "{report:?}");
    assert_eq!(
        report.checkpoint_samples + report.log_samples,
        3000,
        "{report:?}"
    );
    assert_eq!(samples(&collector, "storage_test_value"), before);
    // Enough more for a checkpoint, then reopened again: checkpoint plus log.
    record(&collector, 70_000);
    collector.sync_storage().unwrap();
    let after = samples(&collector, "storage_test_value");
    let checkpoints = collector
        .registry()
        .counter("kotoba_monitoring_checkpoints_total", "", &[])
        .unwrap()
        .get();
    assert!(checkpoints >= 1.0, "no checkpoint was written");
    record(&collector, 10);
    let after_more = samples(&collector, "storage_test_value");
    drop(collector);
    let collector = MetricsCollector::standalone(config(dir.path())).unwrap();
    let report = collector.replay_report().unwrap();
    assert!(report.checkpoint_samples > 0, "{report:?}");
    assert_eq!(samples(&collector, "storage_test_value"), after_more);
    assert_eq!(after_more.len(), after.len() + 10);
}

#[test]
fn a_second_monitor_on_one_folder_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = MetricsCollector::standalone(config(dir.path())).unwrap();
    let err = MetricsCollector::standalone(config(dir.path())).unwrap_err();
    assert!(matches!(err, MonitoringError::Storage { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another monitor"),
        "{err}"
    );
    drop(first);
    MetricsCollector::standalone(config(dir.path())).unwrap();
}

/// The last log segment's path.
fn last_segment(folder: &Path) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(folder.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 8)
        .collect();
    segments.sort();
    segments.pop().expect("a segment with records")
}

#[test]
fn a_torn_tail_is_cut_off_counted_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let kept = {
        let collector = MetricsCollector::standalone(config(dir.path())).unwrap();
        record(&collector, 500);
        collector.sync_storage().unwrap();
        let kept = samples(&collector, "storage_test_value");
        record(&collector, 500);
        collector.sync_storage().unwrap();
        kept
    };
    // The second write cut short, as a crash mid-write leaves it.
    let segment = last_segment(dir.path());
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len - 7).unwrap();
    drop(file);
    let collector = MetricsCollector::standalone(config(dir.path())).unwrap();
    let report = collector.replay_report().unwrap().clone();
    assert_eq!(report.damage.len(), 1, "{report:?}");
    assert!(report.damage[0].contains("cut short"), "{report:?}");
    assert_eq!(samples(&collector, "storage_test_value"), kept);
    let corruptions = collector
        .registry()
        .counter("kotoba_monitoring_wal_corruptions_total", "", &[])
        .unwrap()
        .get();
    assert_eq!(corruptions, 1.0);
    // It is repaired for good: the next start finds nothing wrong, and new samples land.
    record(&collector, 3);
    drop(collector);
    let collector = MetricsCollector::standalone(config(dir.path())).unwrap();
    assert!(collector.replay_report().unwrap().damage.is_empty());
    assert_eq!(
        samples(&collector, "storage_test_value").len(),
        kept.len() + 3
    );
}

#[test]
fn flipped_bytes_lose_only_their_records_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (first, all) = {
        let collector = MetricsCollector::standalone(config(dir.path())).unwrap();
        record(&collector, 300);
        collector.sync_storage().unwrap();
        let first = samples(&collector, "storage_test_value");
        record(&collector, 300);
        collector.sync_storage().unwrap();
        (first, samples(&collector, "storage_test_value"))
    };
    let segment = last_segment(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x10;
    std::fs::write(&segment, &bytes).unwrap();
    let collector = MetricsCollector::standalone(config(dir.path())).unwrap();
    let report = collector.replay_report().unwrap();
    assert_eq!(report.damage.len(), 1, "{report:?}");
    assert!(report.damage[0].contains("checksum"), "{report:?}");
    let got = samples(&collector, "storage_test_value");
    assert_eq!(got, first);
    assert!(got.len() < all.len());
}

#[test]
fn files_of_something_else_are_refused_by_name_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    drop(MetricsCollector::standalone(config(dir.path())).unwrap());
    let stranger = dir.path().join("wal/backup.tar");
    std::fs::write(&stranger, b"not ours").unwrap();
    let err = MetricsCollector::standalone(config(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("backup.tar") && err.contains("move it out"),
        "{err}"
    );
    assert!(stranger.exists());
    // A folder that cannot be one.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let err = MetricsCollector::standalone(config(&file))
        .unwrap_err()
        .to_string();
    assert!(err.contains("plain-file"), "{err}");
}

#[test]
fn ticks_write_the_log_and_a_clean_stop_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.collection_interval = Duration::from_millis(50);
    let before = {
        let collector = MetricsCollector::standalone(c.clone()).unwrap();
        collector
            .registry()
            .counter("storage_ticks_total", "", &[])
            .unwrap()
            .inc_by(7);
        collector.start().unwrap();
        common::wait_for("three ticks", Duration::from_secs(30), || {
            (samples(&collector, "storage_ticks_total").len() >= 3).then_some(())
        });
        record(&collector, 5);
        collector.stop().unwrap();
        (
            samples(&collector, "storage_ticks_total"),
            samples(&collector, "storage_test_value"),
        )
    };
    let collector = MetricsCollector::standalone(c).unwrap();
    assert_eq!(samples(&collector, "storage_ticks_total"), before.0);
    assert_eq!(samples(&collector, "storage_test_value"), before.1);
    assert_eq!(before.1.len(), 5);
}

/// The environment variable that makes [`crash_child`] the child of [`kill_9_loses_only_what_was_not_synced`].
const CHILD: &str = "KOTOBA_STORAGE_CRASH_CHILD";

/// In the child process: records a sample every few hundred microseconds and says which
/// were synced, until killed. Elsewhere it does nothing.
#[test]
fn crash_child() {
    let Ok(folder) = std::env::var(CHILD) else {
        return;
    };
    let mut c = config(Path::new(&folder));
    c.collection_interval = Duration::from_millis(100);
    let collector = MetricsCollector::standalone(c).unwrap();
    collector.start().unwrap();
    let mut out = std::io::stdout();
    for i in 0u64.. {
        collector
            .record_metric("crash_value", i as f64, HashMap::new())
            .unwrap();
        if i % 100 == 99 {
            collector.flush(Duration::from_secs(5)).unwrap();
            collector.sync_storage().unwrap();
            writeln!(out, "synced {i}").unwrap();
            out.flush().unwrap();
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn kill_9_loses_only_what_was_not_synced() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut synced = None;
    // Killed in the middle of its work, after a number of syncs.
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("synced ") {
            synced = Some(n.parse::<u64>().unwrap());
            if synced >= Some(2_000) {
                break;
            }
        }
    }
    let killed_at = OffsetDateTime::now_utc();
    child.kill().unwrap();
    child.wait().unwrap();
    let synced = synced.expect("the child synced");
    let mut c = config(dir.path());
    c.collection_interval = Duration::from_millis(100);
    let collector = MetricsCollector::standalone(c).unwrap();
    let points = collector
        .history()
        .points(
            "crash_value",
            &[] as &[LabelMatcher],
            OffsetDateTime::UNIX_EPOCH,
            killed_at + Duration::from_secs(60),
        )
        .unwrap();
    let values: Vec<u64> = points.iter().map(|p| p.value as u64).collect();
    // Every sample up to the last sync, in order, none missing.
    assert!(values.len() as u64 > synced, "{} <= {synced}", values.len());
    assert!(values.iter().enumerate().all(|(i, &v)| v == i as u64));
    let lost_after = points.last().map(|p| killed_at - p.timestamp);
    eprintln!(
        "kill -9: {} samples back, {} synced before the kill; the newest was {lost_after:?} before it",
        values.len(),
        synced + 1
    );
}
