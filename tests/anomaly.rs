//! The streaming anomaly detector on synthetic streams, each with the detections it must make
//! (or, for the streams without an anomaly, must not): level shifts, spikes, a change of
//! variance, daily seasonality, counters that reset. Five-minute samples, as in NAB.

mod common;

use std::time::Duration;

use kotoba_monitoring::{AnomalyDetector, Monitor, MonitoringConfig, MonitoringError};

/// Samples per day at five minutes.
const DAY: usize = 288;

/// xorshift64*, with a rough normal from twelve uniforms: repeatable streams.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

/// A daily cycle around 50 with noise of standard deviation `noise`.
fn daily(i: usize, noise: &mut Noise, sd: f64) -> f64 {
    let phase = (i % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
    50.0 + 20.0 * phase.sin() + sd * noise.normal()
}

fn scores(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut detector = AnomalyDetector::new();
    values.into_iter().map(|v| detector.score(v)).collect()
}

/// The highest score from `from` on, and where.
fn peak(scores: &[f64], from: usize, to: usize) -> (usize, f64) {
    scores[from..to]
        .iter()
        .enumerate()
        .map(|(i, s)| (from + i, *s))
        .fold((0, f64::MIN), |best, x| if x.1 > best.1 { x } else { best })
}

/// Scores at or above this are alarms (what a rule `kotoba_anomaly_score > 0.4` would see).
const ALARM: f64 = 0.4;

#[test]
fn a_daily_cycle_without_anomaly_stays_quiet() {
    let mut noise = Noise(7);
    let s = scores((0..14 * DAY).map(|i| daily(i, &mut noise, 1.0)));
    assert!(s.iter().all(|s| (0.0..=1.0).contains(s)));
    // After two days of learning, twelve days without an alarm (the slowest scale starts to
    // count on the seventh day, which must not alarm).
    let (at, high) = peak(&s, 2 * DAY, s.len());
    assert!(
        high < ALARM,
        "an alarm at {at} ({high}) in a stream without anomaly"
    );
}

#[test]
fn a_counter_that_resets_every_day_stays_quiet() {
    let mut noise = Noise(11);
    let s = scores((0..14 * DAY).map(|i| ((i % DAY) as f64 * 10.0 + noise.uniform()).floor()));
    let (at, high) = peak(&s, 2 * DAY, s.len());
    assert!(
        high < ALARM,
        "an alarm at {at} ({high}) on a counter's daily resets"
    );
}

#[test]
fn a_level_shift_inside_the_range_is_found_within_an_hour() {
    let mut noise = Noise(3);
    let shift = 8 * DAY + 100;
    let s = scores((0..12 * DAY).map(|i| {
        // A flat series at 10 with its range set by one early excursion to 40; then it
        // moves to 20, inside that range.
        let base = if i == 50 {
            40.0
        } else if i >= shift {
            20.0
        } else {
            10.0
        };
        base + 0.5 * noise.normal()
    }));
    let (before, quiet) = peak(&s, 2 * DAY, shift);
    assert!(
        quiet < ALARM,
        "an alarm at {before} ({quiet}) before the shift"
    );
    let (at, high) = peak(&s, shift, shift + 12);
    assert!(
        high >= ALARM,
        "no alarm within an hour of the shift (highest {high} at {at})"
    );
}

#[test]
fn an_episode_alarms_once_but_a_new_extreme_alarms_again() {
    let mut noise = Noise(11);
    let shift = 8 * DAY + 100;
    let spike = shift + 60;
    let s = scores((0..10 * DAY).map(|i| {
        let base = if i == 50 {
            40.0
        } else if i == spike {
            90.0
        } else if i >= shift {
            20.0
        } else {
            10.0
        };
        base + 0.5 * noise.normal()
    }));
    let alarms: Vec<usize> = (shift..spike).filter(|&i| s[i] >= ALARM).collect();
    assert_eq!(
        alarms.len(),
        1,
        "the shift should alarm once, not at each of its samples: {alarms:?}"
    );
    assert_eq!(
        s[spike], 1.0,
        "a new extreme after the alarm still scores 1"
    );
    let (at, high) = peak(&s, spike + 1, spike + 100);
    assert!(high < ALARM, "the episode alarmed again at {at} ({high})");
}
#[test]
fn a_spike_beyond_the_range_scores_one_at_once() {
    let mut noise = Noise(5);
    let spike = 6 * DAY + 17;
    let s = scores((0..8 * DAY).map(|i| {
        let v = daily(i, &mut noise, 1.0);
        if i == spike {
            v + 100.0
        } else {
            v
        }
    }));
    assert_eq!(s[spike], 1.0);
    let (at, high) = peak(&s, 2 * DAY, spike);
    assert!(high < ALARM, "an alarm at {at} ({high}) before the spike");
}

/// Found by the slowest scale, whose means of two hours grow noisier: the fastest scale's
/// surprise grows too, but stays below the slowest's usual level, and a sample's surprise is
/// the largest of the scales'.
#[test]
fn noise_that_grows_fivefold_is_found_within_a_day() {
    let mut noise = Noise(9);
    let change = 9 * DAY;
    let s = scores((0..11 * DAY).map(|i| {
        // The range is set early by one wide excursion, so that only the variance changes.
        let sd = if i >= change { 5.0 } else { 1.0 };
        let v = daily(i, &mut noise, sd);
        if i == 60 {
            v + 60.0
        } else {
            v
        }
    }));
    let (before, quiet) = peak(&s, 2 * DAY, change);
    assert!(
        quiet < ALARM,
        "an alarm at {before} ({quiet}) before the change"
    );
    let (at, high) = peak(&s, change, change + DAY);
    assert!(
        high >= ALARM,
        "no alarm within a day of the change (highest {high} at {at})"
    );
}

#[test]
fn values_that_are_not_numbers_score_zero_and_are_not_learned() {
    let mut detector = AnomalyDetector::new();
    for i in 0..1000 {
        detector.score(f64::from(i % 10));
    }
    let seen = detector.samples();
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(detector.score(v), 0.0);
    }
    assert_eq!(detector.samples(), seen);
}

#[test]
fn a_detector_holds_at_most_16_kib() {
    let mut detector = AnomalyDetector::new();
    let mut noise = Noise(1);
    for i in 0..20 * DAY {
        detector.score(daily(i, &mut noise, 1.0));
    }
    let bytes = detector.memory_bytes();
    assert!(bytes <= 16 * 1024, "{bytes} bytes");
}

/// The monitor's `kotoba-anomaly` thread: a watched series that jumps is listed by
/// `anomalies()` with the expression and its labels, and its score is on `/metrics`.
#[test]
fn the_monitor_lists_a_watched_series_that_jumps() -> Result<(), MonitoringError> {
    let mut config = MonitoringConfig::from_toml_str(
        r#"
        [anomaly_detection]
        enabled = true
        watch = ["probe_value", "nothing_here"]
        interval = "5ms"
        "#,
    )?;
    config.prometheus_config.port = 0;
    config.enable_health_checks = false;
    let monitor = Monitor::new(config)?;
    monitor.start()?;
    let collector = monitor.collector();
    let labels = || [("db".to_owned(), "main".to_owned())].into_iter().collect();
    let mut noise = Noise(21);
    // Normal values while the detector learns (it scores after 300 of its rounds); the
    // anomaly list stays empty.
    let rounds = monitor.registry().counter(
        "kotoba_anomaly_evaluations_total",
        "Rounds of evaluating the watched expressions and scoring their series.",
        &[],
    )?;
    common::wait_for("400 rounds of learning", Duration::from_secs(60), || {
        collector
            .record_metric("probe_value", 10.0 + noise.normal(), labels())
            .ok()?;
        (rounds.get() >= 400.0).then_some(())
    });
    assert_eq!(monitor.anomalies(), vec![]);
    // Then a jump far past the range it has seen.
    collector.record_metric("probe_value", 500.0, labels())?;
    let found = common::wait_for("the jump listed", Duration::from_secs(20), || {
        monitor.anomalies().into_iter().next()
    });
    assert_eq!(found.expr, "probe_value");
    assert_eq!(found.labels, vec![("db".to_owned(), "main".to_owned())]);
    assert_eq!((found.score, found.value), (1.0, 500.0));
    assert!(found.since <= found.last);
    let metrics = common::get(monitor.local_addr().expect("listening"), "/metrics").text();
    assert!(
        metrics.contains(r#"kotoba_anomaly_score{db="main",expr="probe_value"}"#),
        "{metrics}"
    );
    monitor.stop()
}

/// With a storage folder, the detectors survive a restart: a jump right after it is found,
/// where a detector starting afresh would still be learning (it scores nothing for its first
/// 300 rounds, and by then the jump would be what it learned).
#[test]
fn the_detectors_survive_a_restart() -> Result<(), MonitoringError> {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let config = || -> Result<MonitoringConfig, MonitoringError> {
        let mut config = MonitoringConfig::from_toml_str(
            r#"
            [anomaly_detection]
            enabled = true
            watch = ["probe_value"]
            interval = "5ms"
            "#,
        )?;
        config.prometheus_config.enabled = false;
        config.enable_health_checks = false;
        config.storage.path = Some(folder.path().to_owned());
        Ok(config)
    };
    let labels = || [("db".to_owned(), "main".to_owned())].into_iter().collect();
    let mut noise = Noise(33);
    let first = Monitor::new(config()?)?;
    first.start()?;
    let rounds = first.registry().counter(
        "kotoba_anomaly_evaluations_total",
        "Rounds of evaluating the watched expressions and scoring their series.",
        &[],
    )?;
    common::wait_for("400 rounds of learning", Duration::from_secs(60), || {
        first
            .collector()
            .record_metric("probe_value", 10.0 + noise.normal(), labels())
            .ok()?;
        (rounds.get() >= 400.0).then_some(())
    });
    first.stop()?;
    drop(first);
    assert!(folder.path().join("state/anomaly").exists());

    let second = Monitor::new(config()?)?;
    second.start()?;
    second
        .collector()
        .record_metric("probe_value", 500.0, labels())?;
    // Wait for the jump itself, not any episode. The first run records a value every 20 ms
    // (the poll) against a round every 5 ms, so it learns about a hundred values; the last,
    // recorded just before the stop, may be scored only after the restart, and among so few
    // it can be a new extreme (score 1), an episode listed before the jump is scored. Which
    // value is last depends on timing: a loaded machine showed it. The jump, a new extreme
    // too, then takes the episode over (its value replaces the episode's).
    let found = common::wait_for(
        "the jump listed after the restart",
        Duration::from_secs(20),
        || {
            second
                .anomalies()
                .into_iter()
                .find(|found| found.value == 500.0)
        },
    );
    assert_eq!(found.expr, "probe_value");
    assert!(found.score >= 0.4, "{found:?}");
    second.stop()
}

/// A state file that is not the detectors' is refused with a message naming the file and
/// the fix, and the monitor is not built on it.
#[test]
fn a_damaged_state_file_is_refused_by_name() -> Result<(), MonitoringError> {
    let folder = tempfile::tempdir().expect("a temporary folder");
    std::fs::create_dir_all(folder.path().join("state")).expect("a state folder");
    std::fs::write(folder.path().join("state/anomaly"), b"not detectors").expect("written");
    let mut config = MonitoringConfig::default();
    config.anomaly_detection.enabled = true;
    config.prometheus_config.enabled = false;
    config.storage.path = Some(folder.path().to_owned());
    let err = Monitor::new(config).unwrap_err().to_string();
    assert!(err.contains("state/anomaly"), "{err}");
    assert!(err.contains("remove it to start them afresh"), "{err}");
    Ok(())
}

/// With anomaly detection on, the built-in Health view draws the scores in one panel of its
/// own, and the detectors' families get no generated panel (nor dashboard variables).
#[test]
fn the_dashboard_draws_the_scores_once() -> Result<(), MonitoringError> {
    let mut config = MonitoringConfig::default();
    config.anomaly_detection.enabled = true;
    config.prometheus_config.enabled = false;
    let monitor = Monitor::new(config)?;
    let panels = monitor.dashboard_panels();
    let scores: Vec<_> = panels
        .iter()
        .filter(|p| p.expr().contains("kotoba_anomaly_"))
        .collect();
    assert_eq!(scores.len(), 1, "{scores:?}");
    assert_eq!(scores[0].title(), "Anomaly scores");
    let grafana = serde_json::to_string(
        &monitor
            .grafana_dashboards()
            .iter()
            .map(|d| d.json().clone())
            .collect::<Vec<_>>(),
    )
    .expect("JSON");
    assert!(
        !grafana.contains(r#""name":"expr""#),
        "no variable for the expr label"
    );
    Ok(())
}

/// The seasonal-forecast recipe of `reference::anomaly`, with time scaled down: a season of two seconds
/// instead of a day, a horizon of one second instead of four hours. The disk swings from
/// 60% to 100% and back every season; the forecast one second (half a season) ahead passes
/// 95% and the rule on `kotoba_forecast` fires.
#[test]
fn a_rule_on_the_seasonal_forecast_fires_before_the_disk_fills() -> Result<(), MonitoringError> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        r#"
groups:
  - name: capacity
    rules:
      - alert: DiskFullSoon
        expr: kotoba_forecast{expr="disk_usage_percent", horizon="1s"} > 95
        annotations:
          summary: '{{ $labels.mount }} reaches {{ printf "%.0f" $value }}% within 1s'
"#,
    )
    .expect("rules written");
    let mut config = MonitoringConfig::from_toml_str(
        r#"
        collection_interval = "50ms"
        [anomaly_detection]
        enabled = true
        watch = []
        interval = "10ms"
        [[anomaly_detection.forecast]]
        expr = "disk_usage_percent"
        horizon = "1s"
        season = "2s"
        "#,
    )?;
    config.prometheus_config.port = 0;
    config.enable_health_checks = false;
    config.alerting_config.enabled = true;
    config.alerting_config.evaluation_interval = Duration::from_millis(100);
    config.alerting_config.rule_files = vec![rules];
    let monitor = Monitor::new(config)?;
    monitor.start()?;
    let started = std::time::Instant::now();
    let labels = || {
        [("mount".to_owned(), "/data".to_owned())]
            .into_iter()
            .collect()
    };
    let fired = common::wait_for("DiskFullSoon firing", Duration::from_secs(30), || {
        let phase = started.elapsed().as_secs_f64() / 2.0 * std::f64::consts::TAU;
        let usage = 80.0 + 20.0 * phase.sin();
        monitor
            .collector()
            .record_metric("disk_usage_percent", usage, labels())
            .ok()?;
        monitor.alerts().into_iter().find(|a| {
            a.state == kotoba_monitoring::AlertState::Firing
                && a.labels
                    .iter()
                    .any(|(n, v)| n == "alertname" && v == "DiskFullSoon")
        })
    });
    assert!(
        fired
            .labels
            .iter()
            .any(|(n, v)| n == "mount" && v == "/data"),
        "{fired:?}"
    );
    let metrics = common::get(monitor.local_addr().expect("listening"), "/metrics").text();
    assert!(
        metrics
            .contains(r#"kotoba_forecast{expr="disk_usage_percent",horizon="1s",mount="/data"}"#),
        "{metrics}"
    );
    monitor.stop()
}

/// The built-in charts that draw what anomaly detection watches carry the scores to mark
/// anomalous stretches with (the CPU chart, for the default watch list); charts of what is not
/// watched carry none, and with anomaly detection off no chart does.
#[test]
fn the_charts_of_what_is_watched_are_marked() -> Result<(), MonitoringError> {
    let mut config = MonitoringConfig::default();
    config.anomaly_detection.enabled = true;
    config.prometheus_config.enabled = false;
    let monitor = Monitor::new(config.clone())?;
    let panels = monitor.dashboard_panels();
    let marked = |needle: &str| {
        panels
            .iter()
            .filter(|p| p.kind() == kotoba_monitoring::PanelKind::TimeSeries)
            .filter(|p| p.expr().contains(needle))
            .map(|p| p.anomalies().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let cpu = marked("system_cpu_usage_percent");
    assert!(!cpu.is_empty(), "{panels:?}");
    for scores in &cpu {
        let scores = scores.as_deref().expect("the CPU chart is marked");
        assert!(
            scores.contains(r#"kotoba_anomaly_score{expr="system_cpu_usage_percent"}"#),
            "{scores}"
        );
        assert!(!scores.contains("memory"), "{scores}");
    }
    // The memory percentage, watched by default, has a stat panel but no chart of its own
    // (the memory chart draws bytes): nothing to shade there.
    assert!(marked("system_memory_usage_percent").is_empty());
    let network = marked("system_network_receive_bytes_total");
    assert!(!network.is_empty(), "{panels:?}");
    assert!(network.iter().all(Option::is_none));
    config.anomaly_detection.enabled = false;
    let off = Monitor::new(config)?;
    assert!(off
        .dashboard_panels()
        .iter()
        .all(|p| p.anomalies().is_none()));
    Ok(())
}
