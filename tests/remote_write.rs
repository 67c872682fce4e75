//! Remote write and federation: what a receiver gets (headers, credentials, relabeling,
//! order, retries, refusals, one slow endpoint beside a fast one, a restart resuming from the
//! kept position), then real receivers — a Prometheus 2.42 with
//! `--web.enable-remote-write-receiver` and a VictoriaMetrics — holding exactly our history
//! across their own restart, and a real Prometheus federating from us.
//!
//! The peers come from Debian's `prometheus` and `victoria-metrics` packages (`.ci/run`
//! installs them). Without them those tests show as ignored, with the reason; with `CI` set
//! they fail instead.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{get, peer_test, wait_for, wait_listening, Answer, HookServer, Received};
use kotoba_monitoring::{
    BasicAuth, Monitor, MonitoringConfig, RelabelAction, RelabelConfig, RemoteWriteConfig, Secret,
};
use prost::Message;
use time::OffsetDateTime;

fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let local = |name: &'static str, body: fn()| {
        libtest_mimic::Trial::test(name, move || {
            std::panic::catch_unwind(body).map_err(|_| format!("{name} failed").into())
        })
    };
    let tests = vec![
        local(
            "a_receiver_gets_every_sample_in_order_once_with_headers_and_relabeling",
            a_receiver_gets_every_sample_in_order_once_with_headers_and_relabeling,
        ),
        local(
            "refusals_are_dropped_and_counted_and_429_is_retried_only_when_asked",
            refusals_are_dropped_and_counted_and_429_is_retried_only_when_asked,
        ),
        local(
            "a_slow_endpoint_delays_no_other",
            a_slow_endpoint_delays_no_other,
        ),
        local(
            "a_restart_resumes_from_the_kept_position",
            a_restart_resumes_from_the_kept_position,
        ),
        peer_test(
            "prometheus_holds_exactly_our_history_across_its_restart",
            &["prometheus"],
            "apt-get install -y prometheus",
            prometheus_holds_exactly_our_history_across_its_restart,
        ),
        peer_test(
            "victoriametrics_holds_exactly_our_history_across_its_restart",
            &["victoria-metrics"],
            "apt-get install -y victoria-metrics",
            victoriametrics_holds_exactly_our_history_across_its_restart,
        ),
        peer_test(
            "a_real_prometheus_federates_from_us",
            &["prometheus"],
            "apt-get install -y prometheus",
            a_real_prometheus_federates_from_us,
        ),
    ];
    libtest_mimic::run(&args, tests).exit_code()
}

// The remote-write messages, as a receiver decodes them.

#[derive(Clone, PartialEq, prost::Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MetricMetadata {
    #[prost(int32, tag = "1")]
    kind: i32,
    #[prost(string, tag = "2")]
    metric_family_name: String,
    #[prost(string, tag = "4")]
    help: String,
    #[prost(string, tag = "5")]
    unit: String,
}

fn decode(request: &Received) -> WriteRequest {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&request.body)
        .expect("a snappy block");
    WriteRequest::decode(&raw[..]).expect("a WriteRequest")
}

/// A series' labels as `name{a="b",…}` (sorted), the way both sides are compared.
type SeriesKey = String;

fn key(labels: &[(String, String)]) -> SeriesKey {
    let name = labels
        .iter()
        .find(|(n, _)| n == "__name__")
        .map_or("", |(_, v)| v.as_str());
    let mut rest: Vec<String> = labels
        .iter()
        .filter(|(n, _)| n != "__name__")
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    rest.sort();
    format!("{name}{{{}}}", rest.join(","))
}

/// Samples by series: `(ms, value bits)` in the order received.
type Samples = BTreeMap<SeriesKey, Vec<(i64, u64)>>;

/// The samples of the requests answered 2xx, NaN values aside, by series.
fn accepted(requests: &[(Received, bool)]) -> Samples {
    let mut out = Samples::new();
    for (request, ok) in requests {
        if !ok {
            continue;
        }
        for series in decode(request).timeseries {
            let labels: Vec<(String, String)> = series
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let samples = out.entry(key(&labels)).or_default();
            samples.extend(
                series
                    .samples
                    .iter()
                    .filter(|s| !s.value.is_nan())
                    .map(|s| (s.timestamp, s.value.to_bits())),
            );
        }
    }
    out
}

/// Our history's samples up to `until`, by series, NaN values aside (receivers differ on
/// them), each labelled and timed as remote write sends it (the global labels added, the
/// later of two samples in one millisecond).
fn history(monitor: &Monitor, until: OffsetDateTime, globals: &[(&str, &str)]) -> Samples {
    let store = monitor.collector().history();
    let mut out = Samples::new();
    for labels in store.series(&[], None, None).unwrap() {
        let name = labels[0].1.clone();
        let mut all = labels.clone();
        for (n, v) in globals {
            if !all.iter().any(|(have, _)| have == n) {
                all.push((n.to_string(), v.to_string()));
            }
        }
        let matchers: Vec<kotoba_monitoring::LabelMatcher> = labels
            .iter()
            .filter(|(n, _)| n != "__name__")
            .map(|(n, v)| kotoba_monitoring::LabelMatcher::eq(n, v))
            .collect();
        let ranges = store
            .range(&name, &matchers, OffsetDateTime::UNIX_EPOCH, until)
            .unwrap();
        for range in ranges {
            if range.labels.len() != labels.len() - 1 {
                continue;
            }
            // Receivers keep milliseconds: of two samples in one, the later is sent.
            let mut samples: Vec<(i64, u64)> = Vec::new();
            for p in &range.points {
                let ms = (p.timestamp.unix_timestamp_nanos() / 1_000_000) as i64;
                if samples.last().is_some_and(|&(last, _)| last == ms) {
                    samples.pop();
                }
                samples.push((ms, p.value.to_bits()));
            }
            samples.retain(|&(_, bits)| !f64::from_bits(bits).is_nan());
            if !samples.is_empty() {
                out.insert(key(&all), samples);
            }
        }
    }
    out
}

/// A receiver recording each request and whether it was answered 2xx.
struct Receiver {
    hook: HookServer,
    log: Arc<Mutex<Vec<(Received, bool)>>>,
}

impl Receiver {
    fn start(answer: impl Fn(usize, &Received) -> Answer + Send + 'static) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        let hook = HookServer::start(move |n, request| {
            let answer = answer(n, request);
            let ok = matches!(&answer, Answer::Status(s, _, _) if (200..300).contains(s));
            seen.lock().unwrap().push((request.clone(), ok));
            answer
        });
        Self { hook, log }
    }

    fn requests(&self) -> Vec<(Received, bool)> {
        self.log.lock().unwrap().clone()
    }
}

fn remote(url: String) -> RemoteWriteConfig {
    let mut remote = RemoteWriteConfig {
        url,
        ..RemoteWriteConfig::default()
    };
    remote.queue_config.batch_send_deadline = Duration::from_millis(100);
    remote.queue_config.max_samples_per_send = 50;
    remote.queue_config.min_backoff = Duration::from_millis(10);
    remote.queue_config.max_backoff = Duration::from_millis(100);
    remote
}

fn config(folder: &Path, remotes: Vec<RemoteWriteConfig>) -> MonitoringConfig {
    let mut config = MonitoringConfig {
        collection_interval: Duration::from_millis(50),
        remote_write: remotes,
        ..MonitoringConfig::default()
    };
    config.prometheus_config.address = "127.0.0.1".into();
    config.prometheus_config.port = 0;
    config.prometheus_config.window_quantiles = false;
    config
        .prometheus_config
        .global_labels
        .insert("cluster".into(), "test".into());
    config.storage.path = Some(folder.to_owned());
    config
}

/// The monitor's samples up to the first endpoint's position, once it has sent at least
/// `ticks` collection ticks.
fn sent_until(monitor: &Monitor, index: usize) -> Option<OffsetDateTime> {
    monitor.remote_write_status()[index].sent_until
}

fn a_receiver_gets_every_sample_in_order_once_with_headers_and_relabeling() {
    let dir = tempfile::tempdir().unwrap();
    // The first two requests fail as a receiver under load does: retried, not lost.
    let busy = std::sync::atomic::AtomicUsize::new(0);
    let receiver = Receiver::start(move |_, request| {
        let samples = !decode(request).timeseries.is_empty();
        if samples && busy.fetch_add(1, Ordering::SeqCst) < 2 {
            Answer::Status(503, Vec::new(), "busy".into())
        } else {
            Answer::Status(204, Vec::new(), String::new())
        }
    });
    let mut endpoint = remote(receiver.hook.url("/api/v1/write"));
    endpoint.name = Some("local".into());
    endpoint.basic_auth = Some(BasicAuth {
        username: "db".into(),
        password: Secret::new("pa55word"),
    });
    endpoint
        .headers
        .insert("X-Scope-OrgID".into(), "team-a".into());
    endpoint.write_relabel_configs = vec![RelabelConfig {
        source_labels: vec!["__name__".into()],
        regex: "process_.*".into(),
        action: RelabelAction::Drop,
        ..RelabelConfig::default()
    }];
    let monitor = Monitor::new(config(dir.path(), vec![endpoint])).unwrap();
    let queries = monitor
        .registry()
        .counter("app_queries_total", "Queries.", &[("op", "get")])
        .unwrap();
    monitor.start().unwrap();
    let start = OffsetDateTime::now_utc();
    let until = wait_for("a second of history sent", Duration::from_secs(60), || {
        queries.inc();
        sent_until(&monitor, 0).filter(|&t| t > start + Duration::from_secs(1))
    });
    monitor.stop().unwrap();
    let requests = receiver.requests();
    let got = accepted(&requests);
    let want = history(&monitor, until, &[("cluster", "test")]);
    let want: Samples = want
        .into_iter()
        .filter(|(k, _)| !k.starts_with("process_"))
        .collect();
    // Nothing missing, nothing twice, each series in time order.
    for (series, samples) in &want {
        let received = got.get(series).map(Vec::as_slice).unwrap_or_default();
        let upto: Vec<(i64, u64)> = received
            .iter()
            .copied()
            .filter(|(t, _)| *t <= (until.unix_timestamp_nanos() / 1_000_000) as i64)
            .collect();
        assert_eq!(&upto, samples, "{series}");
        assert!(received.windows(2).all(|w| w[0].0 < w[1].0), "{series}");
    }
    assert!(
        got.keys().all(|k| !k.starts_with("process_")),
        "relabeling drops them"
    );
    assert!(got.keys().any(|k| k.starts_with("app_queries_total{")));
    // As Prometheus sends it.
    let first = &requests[0].0;
    assert_eq!(first.path, "/api/v1/write");
    assert_eq!(first.header("content-encoding"), Some("snappy"));
    assert_eq!(first.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(
        first.header("x-prometheus-remote-write-version"),
        Some("0.1.0")
    );
    assert_eq!(first.header("x-scope-orgid"), Some("team-a"));
    assert_eq!(
        first.header("authorization"),
        Some("Basic ZGI6cGE1NXdvcmQ=")
    );
    // Metadata goes in requests of its own.
    let metadata: Vec<MetricMetadata> = requests
        .iter()
        .flat_map(|(r, _)| decode(r).metadata)
        .collect();
    let queries_meta = metadata
        .iter()
        .find(|m| m.metric_family_name == "app_queries")
        .expect("the counter's metadata");
    assert_eq!(
        (queries_meta.kind, queries_meta.help.as_str()),
        (1, "Queries.")
    );
    // Counted, and the retries' failure told without the password.
    let status = &monitor.remote_write_status()[0];
    assert!(
        status.last_error.as_deref().unwrap_or("").contains("503"),
        "{status:?}"
    );
    assert!(!format!("{status:?}").contains("pa55word"));
    let sent = monitor
        .registry()
        .counter(
            "kotoba_monitoring_remote_samples_total",
            "",
            &[("url", status.url.as_str()), ("result", "sent")],
        )
        .unwrap()
        .get();
    let retried = monitor
        .registry()
        .counter(
            "kotoba_monitoring_remote_samples_total",
            "",
            &[("url", status.url.as_str()), ("result", "retried")],
        )
        .unwrap()
        .get();
    let total: usize = got.values().map(Vec::len).sum();
    assert_eq!(sent as usize, total);
    assert!(retried > 0.0);
}

fn refusals_are_dropped_and_counted_and_429_is_retried_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let refusing = Receiver::start(|_, _| Answer::Status(400, Vec::new(), "out of bounds".into()));
    let limiting = Receiver::start(|n, _| match n {
        0 => Answer::Status(429, vec![("Retry-After", "1".into())], "slow down".into()),
        _ => Answer::Status(200, Vec::new(), String::new()),
    });
    let strict = Receiver::start(|_, _| Answer::Status(429, Vec::new(), "slow down".into()));
    let mut refused = remote(refusing.hook.url("/write"));
    refused.name = Some("refusing".into());
    refused.metadata_config.send = false;
    let mut patient = remote(limiting.hook.url("/write"));
    patient.name = Some("limiting".into());
    patient.queue_config.retry_on_http_429 = true;
    patient.metadata_config.send = false;
    let mut dropping = remote(strict.hook.url("/write"));
    dropping.name = Some("strict".into());
    dropping.metadata_config.send = false;
    let monitor = Monitor::new(config(dir.path(), vec![refused, patient, dropping])).unwrap();
    monitor.start().unwrap();
    let start = OffsetDateTime::now_utc();
    // Refused requests are not retried: the refusing endpoint moves on all the same.
    wait_for(
        "every endpoint past its refusals",
        Duration::from_secs(60),
        || {
            (0..3)
                .all(|i| {
                    sent_until(&monitor, i).is_some_and(|t| t > start + Duration::from_secs(2))
                })
                .then_some(())
        },
    );
    monitor.stop().unwrap();
    let count = |i: usize, result: &str| {
        let url = monitor.remote_write_status()[i].url.clone();
        monitor
            .registry()
            .counter(
                "kotoba_monitoring_remote_samples_total",
                "",
                &[("url", url.as_str()), ("result", result)],
            )
            .unwrap()
            .get()
    };
    assert!(count(0, "failed") > 0.0 && count(0, "sent") == 0.0 && count(0, "retried") == 0.0);
    // The 429 was waited out (its Retry-After) and the request sent again.
    let requests = limiting.requests();
    assert!(!requests[0].1 && requests[1].1);
    assert!(requests[1].0.at - requests[0].0.at >= Duration::from_millis(900));
    assert!(count(1, "retried") > 0.0 && count(1, "failed") == 0.0);
    let first = decode(&requests[0].0);
    assert_eq!(first, decode(&requests[1].0), "the same request again");
    // Without retry_on_http_429, a 429 is a refusal.
    assert!(count(2, "failed") > 0.0 && count(2, "retried") == 0.0);
    let refusal = monitor.remote_write_status()[0].last_error.clone().unwrap();
    assert!(
        refusal.contains("400") && refusal.contains("out of bounds"),
        "{refusal}"
    );
}

fn a_slow_endpoint_delays_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Receiver::start(|_, _| Answer::Slow(Duration::from_secs(3), 200, String::new()));
    let fast = Receiver::start(|_, _| Answer::Status(200, Vec::new(), String::new()));
    let mut slow_end = remote(slow.hook.url("/write"));
    slow_end.name = Some("slow".into());
    let mut fast_end = remote(fast.hook.url("/write"));
    fast_end.name = Some("fast".into());
    let mut c = config(dir.path(), vec![slow_end, fast_end]);
    c.shutdown_timeout = Duration::from_secs(10);
    let monitor = Monitor::new(c).unwrap();
    monitor.start().unwrap();
    let start = OffsetDateTime::now_utc();
    let fast_until = wait_for("the fast endpoint 2 s in", Duration::from_secs(60), || {
        sent_until(&monitor, 1).filter(|&t| t > start + Duration::from_secs(2))
    });
    let slow_until = sent_until(&monitor, 0);
    assert!(
        slow_until.is_none_or(|t| t < fast_until),
        "slow {slow_until:?}, fast {fast_until:?}"
    );
    // The collection went on at its pace meanwhile.
    let ticks = monitor
        .collector()
        .history()
        .points(
            "kotoba_monitoring_history_tick_seconds",
            &[],
            start,
            fast_until,
        )
        .unwrap()
        .len();
    assert!(ticks >= 20, "{ticks} ticks in 2 s at 50 ms");
    monitor.stop().unwrap();
}

fn a_restart_resumes_from_the_kept_position() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(|_, _| Answer::Status(200, Vec::new(), String::new()));
    let endpoint = || {
        let mut e = remote(receiver.hook.url("/write"));
        e.metadata_config.send = false;
        e
    };
    let first = Monitor::new(config(dir.path(), vec![endpoint()])).unwrap();
    first.start().unwrap();
    let start = OffsetDateTime::now_utc();
    wait_for("a second sent", Duration::from_secs(60), || {
        sent_until(&first, 0).filter(|&t| t > start + Duration::from_secs(1))
    });
    first.stop().unwrap();
    let kept = sent_until(&first, 0).unwrap();
    let newest = first
        .collector()
        .history()
        .points(
            "kotoba_monitoring_history_tick_seconds",
            &[],
            start,
            OffsetDateTime::now_utc(),
        )
        .unwrap()
        .last()
        .unwrap()
        .timestamp;
    drop(first);
    let before = receiver.requests().len();
    // Started again without collecting: it sends what it had not, from where it was.
    let mut c = config(dir.path(), vec![endpoint()]);
    c.enable_metrics = false;
    let second = Monitor::new(c).unwrap();
    second.start().unwrap();
    wait_for("the rest sent", Duration::from_secs(60), || {
        sent_until(&second, 0).filter(|&t| t >= newest)
    });
    second.stop().unwrap();
    let requests = receiver.requests();
    let kept_ms = (kept.unix_timestamp_nanos() / 1_000_000) as i64;
    let again: Vec<i64> = requests[before..]
        .iter()
        .flat_map(|(r, _)| decode(r).timeseries)
        .flat_map(|s| s.samples)
        .map(|s| s.timestamp)
        .filter(|&t| t <= kept_ms)
        .collect();
    assert!(again.is_empty(), "sent twice: {again:?}");
    let all = accepted(&requests);
    let want = history(&second, newest, &[("cluster", "test")]);
    for (series, samples) in &want {
        assert_eq!(all.get(series), Some(samples), "{series}");
    }
}

// Real receivers.

/// A TCP proxy on 127.0.0.1, port 0, to a backend that can change (a receiver restarted on
/// another port) or be absent (connections are then closed at once); stopped and joined on
/// drop.
struct Proxy {
    addr: SocketAddr,
    backend: Arc<Mutex<Option<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let backend: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (b, s, t, st) = (
            backend.clone(),
            stop.clone(),
            threads.clone(),
            streams.clone(),
        );
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let target = *b.lock().unwrap();
                let Some(server) = target.and_then(|a| TcpStream::connect(a).ok()) else {
                    continue;
                };
                let mut list = st.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    })
                };
                let mut threads = t.lock().unwrap();
                threads.push(pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                ));
                threads.push(pipe(server, client));
            }
        });
        Self {
            addr,
            backend,
            stop,
            threads,
            streams,
            accept: Some(accept),
        }
    }

    fn point_at(&self, backend: Option<SocketAddr>) {
        *self.backend.lock().unwrap() = backend;
        // Connections to the old backend go with it.
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        for thread in self.threads.lock().unwrap().drain(..) {
            let _ = thread.join();
        }
    }
}

/// A receiver server run for one test: started, stopped politely (SIGTERM, so it keeps what
/// it acknowledged), started again on the same data; killed and reaped on drop.
struct Peer {
    child: Option<Child>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    kind: PeerKind,
}

#[derive(Clone, Copy)]
enum PeerKind {
    Prometheus,
    VictoriaMetrics,
}

impl Peer {
    fn start(kind: PeerKind) -> Self {
        let mut peer = Peer {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: tempfile::tempdir().unwrap(),
            kind,
        };
        peer.run();
        peer
    }

    fn run(&mut self) {
        let data = self.dir.path().join("data");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("peer.log"))
            .unwrap();
        let mut command = match self.kind {
            PeerKind::Prometheus => {
                let config = self.dir.path().join("prometheus.yml");
                std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
                let mut c = Command::new(common::which("prometheus").unwrap());
                c.arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.tsdb.path={}", data.display()))
                    .arg("--web.listen-address=127.0.0.1:0")
                    .arg("--web.enable-remote-write-receiver");
                c
            }
            PeerKind::VictoriaMetrics => {
                let mut c = Command::new(common::which("victoria-metrics").unwrap());
                c.arg(format!("-storageDataPath={}", data.display()))
                    .arg("-httpListenAddr=127.0.0.1:0")
                    .arg("-retentionPeriod=1d");
                c
            }
        };
        let child = command
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let name = match self.kind {
            PeerKind::Prometheus => "Prometheus",
            PeerKind::VictoriaMetrics => "VictoriaMetrics",
        };
        let port = wait_listening(name, self.child.as_mut().unwrap());
        self.addr.set_port(port);
        let ready = match self.kind {
            PeerKind::Prometheus => "/-/ready",
            PeerKind::VictoriaMetrics => "/health",
        };
        wait_for(
            &format!("{name} to be ready"),
            Duration::from_secs(60),
            || {
                let reply = common::get_within(self.addr, ready, Duration::from_secs(5));
                (reply.status == 200).then_some(())
            },
        );
    }

    /// Stops it with SIGTERM and waits for it to exit.
    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    fn write_path(&self) -> &'static str {
        match self.kind {
            PeerKind::Prometheus => "/api/v1/write",
            PeerKind::VictoriaMetrics => "/api/v1/write",
        }
    }

    /// Every sample it holds, NaN values aside, by series.
    fn samples(&self) -> Samples {
        let mut out = Samples::new();
        match self.kind {
            PeerKind::Prometheus => {
                let query = common::url_encode("{__name__=~\".+\"}[1h]");
                let reply = get(self.addr, &format!("/api/v1/query?query={query}"));
                let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
                for series in v["data"]["result"].as_array().cloned().unwrap_or_default() {
                    let labels = object_labels(&series["metric"]);
                    let samples: Vec<(i64, u64)> = series["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|pair| {
                            let t = (pair[0].as_f64()? * 1000.0).round() as i64;
                            let v: f64 = parse_value(pair[1].as_str()?);
                            (!v.is_nan()).then(|| (t, v.to_bits()))
                        })
                        .collect();
                    if !samples.is_empty() {
                        out.insert(key(&labels), samples);
                    }
                }
            }
            PeerKind::VictoriaMetrics => {
                let _ = get(self.addr, "/internal/force_flush");
                let query = common::url_encode("{__name__!=\"\"}");
                let reply = get(self.addr, &format!("/api/v1/export?match[]={query}"));
                for line in reply.text().lines().filter(|l| !l.trim().is_empty()) {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let labels = object_labels(&v["metric"]);
                    let times = v["timestamps"].as_array().unwrap();
                    let values = v["values"].as_array().unwrap();
                    let mut samples: Vec<(i64, u64)> = times
                        .iter()
                        .zip(values)
                        .filter_map(|(t, v)| {
                            let v = match v {
                                serde_json::Value::String(s) => parse_value(s),
                                other => other.as_f64()?,
                            };
                            (!v.is_nan()).then(|| (t.as_i64().unwrap(), v.to_bits()))
                        })
                        .collect();
                    samples.sort();
                    if !samples.is_empty() {
                        out.entry(key(&labels)).or_default().extend(samples);
                    }
                }
                for samples in out.values_mut() {
                    samples.sort();
                    // Remote write delivers at least once: a request the receiver took just
                    // as it was stopped, whose answer never came, is sent again (seen: one
                    // sample per series twice, from the request in flight when the receiver
                    // went away). Prometheus merges such a repeat on ingestion; VictoriaMetrics
                    // without deduplication stores it twice, so a repeat of the same time and
                    // value counts once here. A different value at one time still fails.
                    samples.dedup();
                }
            }
        }
        out
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn object_labels(metric: &serde_json::Value) -> Vec<(String, String)> {
    metric
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap_or("").to_owned()))
        .collect()
}

fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other.parse().unwrap(),
    }
}

/// A monitor writes to `kind` through a proxy for a while, the receiver is stopped and
/// started again in the middle, then a monitor on the same storage (collecting no more)
/// sends the rest: afterwards the receiver holds exactly the history.
fn holds_exactly_our_history_across_its_restart(kind: PeerKind) {
    let dir = tempfile::tempdir().unwrap();
    let mut peer = Peer::start(kind);
    let proxy = Proxy::start();
    proxy.point_at(Some(peer.addr));
    let endpoint = || {
        let mut e = remote(format!("http://{}{}", proxy.addr, peer.write_path()));
        e.queue_config.max_samples_per_send = 500;
        e
    };
    let mut c = config(dir.path(), vec![endpoint()]);
    c.collection_interval = Duration::from_millis(100);
    let monitor = Monitor::new(c.clone()).unwrap();
    let queries = monitor
        .registry()
        .counter("app_queries_total", "Queries.", &[("op", "get")])
        .unwrap();
    let latency = monitor
        .registry()
        .gauge("app_latency_seconds", "Latency.", &[])
        .unwrap();
    monitor.start().unwrap();
    let began = std::time::Instant::now();
    let mut step = 0u64;
    let mut work = |until: Duration| {
        while began.elapsed() < until {
            step += 1;
            queries.inc_by(step % 7);
            latency.set(0.001 * (step % 13) as f64 + 1e-9 * step as f64);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    work(Duration::from_secs(3));
    // The receiver goes away for a while: the monitor keeps collecting and retrying.
    proxy.point_at(None);
    peer.terminate();
    work(Duration::from_secs(5));
    peer.run();
    proxy.point_at(Some(peer.addr));
    work(Duration::from_secs(8));
    monitor.stop().unwrap();
    drop(monitor);
    // Started again on the same storage without collecting: the rest goes out.
    c.enable_metrics = false;
    let rest = Monitor::new(c).unwrap();
    let newest = rest
        .collector()
        .history()
        .points(
            "kotoba_monitoring_history_tick_seconds",
            &[],
            OffsetDateTime::UNIX_EPOCH,
            OffsetDateTime::now_utc(),
        )
        .unwrap()
        .last()
        .unwrap()
        .timestamp;
    rest.start().unwrap();
    wait_for("everything sent", Duration::from_secs(60), || {
        sent_until(&rest, 0).filter(|&t| t >= newest)
    });
    rest.stop().unwrap();
    let want = history(&rest, newest, &[("cluster", "test")]);
    assert!(want.len() > 50, "{} series", want.len());
    let total: usize = want.values().map(Vec::len).sum();
    let mut got = Samples::new();
    let matched = common::poll(Duration::from_secs(30), || {
        got = peer.samples();
        same(kind, &got, &want).then_some(())
    });
    if matched.is_none() {
        let missing: Vec<&String> = want
            .keys()
            .filter(|k| got.get(*k) != want.get(*k))
            .take(5)
            .collect();
        let extra: Vec<&String> = got
            .keys()
            .filter(|k| !want.contains_key(*k))
            .take(5)
            .collect();
        let (theirs, ours) = missing
            .first()
            .map(|k| (got.get(*k).cloned().unwrap_or_default(), want[*k].clone()))
            .unwrap_or_default();
        let times = |v: &[(i64, u64)]| v.iter().map(|s| s.0).collect::<Vec<_>>();
        let (their_times, our_times) = (times(&theirs), times(&ours));
        let only_theirs: Vec<_> = theirs
            .iter()
            .filter(|s| !our_times.contains(&s.0))
            .take(5)
            .collect();
        let only_ours: Vec<_> = ours
            .iter()
            .filter(|s| !their_times.contains(&s.0))
            .take(5)
            .collect();
        panic!(
            "the receiver holds other samples than our history ({} series, {total} samples): first differing {missing:?}, extra {extra:?}; {} vs {} samples, only theirs {only_theirs:?}, only ours {only_ours:?}",
            want.len(),
            theirs.len(),
            ours.len(),
        );
    }
    eprintln!("{} series, {total} samples, identical", want.len());
}

/// Whether the receiver's samples are ours: the same series, times and values; for
/// VictoriaMetrics, values to the 12 significant digits it keeps of a fraction (it stores
/// decimals, `lib/decimal`'s `conversionPrecision`), whole numbers exactly.
fn same(kind: PeerKind, got: &Samples, want: &Samples) -> bool {
    if got.len() != want.len() {
        return false;
    }
    want.iter().all(|(series, ours)| {
        let Some(theirs) = got.get(series) else {
            return false;
        };
        ours.len() == theirs.len()
            && ours.iter().zip(theirs).all(|(&(t, a), &(u, b))| {
                let (a, b) = (f64::from_bits(a), f64::from_bits(b));
                t == u
                    && match kind {
                        PeerKind::Prometheus => a.to_bits() == b.to_bits(),
                        PeerKind::VictoriaMetrics => {
                            a == b || (a.fract() != 0.0 && (a - b).abs() <= 1e-11 * a.abs())
                        }
                    }
            })
    })
}

fn prometheus_holds_exactly_our_history_across_its_restart() {
    holds_exactly_our_history_across_its_restart(PeerKind::Prometheus);
}

fn victoriametrics_holds_exactly_our_history_across_its_restart() {
    holds_exactly_our_history_across_its_restart(PeerKind::VictoriaMetrics);
}

fn a_real_prometheus_federates_from_us() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), Vec::new());
    c.storage.path = None;
    c.alerting_config.enabled = true;
    c.alerting_config.evaluation_interval = Duration::from_millis(200);
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: rates\n    rules:\n      - record: job:app_queries:rate1m\n        expr: sum(rate(app_queries_total[1m]))\n",
    )
    .unwrap();
    c.alerting_config.rule_files = vec![rules];
    let monitor = Monitor::new(c).unwrap();
    let queries = monitor
        .registry()
        .counter("app_queries_total", "Queries.", &[("op", "get")])
        .unwrap();
    monitor.start().unwrap();
    let target = monitor.local_addr().unwrap();
    let peer_dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]': ['{{__name__=~"job:.*"}}', 'app_queries_total']
    static_configs: [{{targets: ["{target}"]}}]
"#
    );
    std::fs::write(peer_dir.path().join("prometheus.yml"), config).unwrap();
    let log = std::fs::File::create(peer_dir.path().join("prometheus.log")).unwrap();
    let mut child = Command::new(common::which("prometheus").unwrap())
        .arg(format!(
            "--config.file={}",
            peer_dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            peer_dir.path().join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let guard = ChildGuard(&mut child);
    let port = wait_listening("Prometheus", guard.0);
    let api = SocketAddr::from(([127, 0, 0, 1], port));
    let query = |promql: &str| -> Vec<serde_json::Value> {
        let reply = get(
            api,
            &format!("/api/v1/query?query={}", common::url_encode(promql)),
        );
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    };
    // The recording rule's result and the counter arrive with our labels (honor_labels).
    let federated = wait_for("the federated series", Duration::from_secs(60), || {
        queries.inc_by(5);
        let found = query("job:app_queries:rate1m");
        (!found.is_empty() && !query("app_queries_total").is_empty()).then_some(found)
    });
    assert_eq!(federated[0]["metric"]["cluster"], "test");
    assert_eq!(federated[0]["metric"]["job"], "federate", "{federated:?}");
    let counter = query("app_queries_total");
    assert_eq!(counter[0]["metric"]["op"], "get");
    // The federated value is one our history held at that time.
    let value: f64 = counter[0]["value"][1].as_str().unwrap().parse().unwrap();
    let ours = monitor
        .collector()
        .get_metrics(
            "app_queries_total",
            OffsetDateTime::now_utc() - Duration::from_secs(120),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert!(
        ours.iter().any(|p| p.value == value),
        "{value} not in our history"
    );
    let health = query("up{job=\"federate\"}");
    assert_eq!(health[0]["value"][1], "1");
    drop(guard);
    monitor.stop().unwrap();
}

/// Kills and reaps a child on drop.
struct ChildGuard<'a>(&'a mut Child);

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
