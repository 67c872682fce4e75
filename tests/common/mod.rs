//! Helpers shared by the exporter tests: a plain HTTP/1.1 client over a TCP socket, and
//! waiting for a condition with a deadline.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kotoba_monitoring::{MetricsCollector, MonitoringConfig, PrometheusConfig, PrometheusExporter};

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// Sends `method path` with `headers` and `Connection: close`, reads the whole response.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_reply(&raw)
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[])
}

/// A chunked body's chunks joined (`Transfer-Encoding: chunked`, as a real Prometheus sends
/// its larger answers).
fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).expect("chunk size");
        if size == 0 {
            break;
        }
        let start = eol + 2;
        body.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
    body
}

/// Splits a raw response into status, headers and body (which runs to the end, or is
/// unchunked).
pub fn parse_reply(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        unchunk(&raw[end + 4..])
    } else {
        raw[end + 4..].to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Polls `f` until it returns `Some`, failing after `within`.
pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `f`'s first answer within `within` (asked every 200 ms), or `None` once it has passed.
pub fn poll<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Raises the memory and disk thresholds of `health` to 100%, for a test whose point is not
/// the machine: a CI runner with a nearly full disk (it happens) must not turn that test's
/// `/health` or `/livez` into a 503. Only a full disk or memory still fails those checks.
pub fn indifferent_to_the_machine(health: &mut kotoba_monitoring::HealthCheckConfig) {
    health.memory_degraded_percent = 100.0;
    health.memory_unhealthy_percent = 100.0;
    health.disk_degraded_percent = 100.0;
    health.disk_unhealthy_percent = 100.0;
}

/// A started exporter on 127.0.0.1 and a free port, with `prometheus` adjusting the config.
pub fn exporter(prometheus: impl FnOnce(&mut PrometheusConfig)) -> PrometheusExporter {
    let collector = Arc::new(MetricsCollector::standalone(MonitoringConfig::default()).unwrap());
    let mut config = PrometheusConfig {
        address: "127.0.0.1".into(),
        port: 0,
        ..Default::default()
    };
    prometheus(&mut config);
    let exporter = PrometheusExporter::new(collector, config).unwrap();
    exporter.start().unwrap();
    exporter
}

/// `GET path` that must be answered within `within`: a hang guard for tests whose point is
/// that the server stays responsive, generous enough for a loaded machine.
pub fn get_within(addr: SocketAddr, path: &str, within: Duration) -> Reply {
    let mut stream = TcpStream::connect_timeout(&addr, within).expect("connect");
    stream.set_read_timeout(Some(within)).unwrap();
    stream.set_write_timeout(Some(within)).unwrap();
    let text = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        panic!("GET {path} was not answered within {within:?}: {e}");
    }
    parse_reply(&raw)
}

/// Sends raw bytes on a new connection and reads until the server closes it.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).expect("read response");
    out
}

/// A test that needs the peer programs `binaries` on PATH, run under libtest-mimic: with them
/// it runs `body`; without them it is reported as ignored, with the reason printed where
/// `cargo test` shows it. Under `CI` a missing peer fails the test instead.
pub fn peer_test(
    name: &'static str,
    binaries: &'static [&'static str],
    install: &'static str,
    body: fn(),
) -> libtest_mimic::Trial {
    let missing: Vec<String> = binaries
        .iter()
        .filter(|b| which(b).is_none())
        .map(|b| b.to_string())
        .collect();
    peer_test_missing(name, missing, install, body)
}

/// [`peer_test`] for peers the caller looked for itself: `missing` names those not there.
pub fn peer_test_missing(
    name: &'static str,
    missing: Vec<String>,
    install: &'static str,
    body: fn(),
) -> libtest_mimic::Trial {
    let ci = std::env::var_os("CI").is_some();
    if !missing.is_empty() && !ci {
        eprintln!(
            "ignoring {name}: {} not installed ({install}); CI installs it",
            missing.join(", ")
        );
        return libtest_mimic::Trial::test(name, || Ok(())).with_ignored_flag(true);
    }
    libtest_mimic::Trial::test(name, move || {
        if !missing.is_empty() {
            return Err(format!(
                "{} not installed ({install}); CI must install it",
                missing.join(", ")
            )
            .into());
        }
        std::panic::catch_unwind(body).map_err(|payload| {
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the test panicked".to_owned())
                .into()
        })
    })
}

/// The program `name` on PATH.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The port the peer server `child` (told to listen on 127.0.0.1 port 0) took, waited for up
/// to a minute; panics, naming the peer `name`, if it exits first.
pub fn wait_listening(name: &str, child: &mut std::process::Child) -> u16 {
    let pid = child.id();
    wait_for(
        &format!("{name} to listen"),
        Duration::from_secs(60),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited: {status}");
            }
            listening_port(pid)
        },
    )
}

/// The TCP port process `pid` listens on: its socket inodes matched against /proc/net/tcp.
fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().to_string();
            t.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // local_address, st == 0A (LISTEN), inode
        let listening = cols.get(3) == Some(&"0A");
        if listening && inodes.iter().any(|i| Some(&i.as_str()) == cols.get(9)) {
            let port = cols[1].split(':').nth(1)?;
            u16::from_str_radix(port, 16).ok()
        } else {
            None
        }
    })
}

/// A request as a [`HookServer`] received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How a [`HookServer`] answers one request.
pub enum Answer {
    /// A status, extra headers and a body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// The same, after a wait.
    Slow(Duration, u16, String),
    /// The connection closed without an answer.
    Reset,
}

/// A local HTTP receiver on 127.0.0.1, port 0, that records every request and answers as
/// its script says (the script gets the request's number, from 0, and the request); it
/// stops and joins its thread on drop.
pub struct HookServer {
    pub addr: SocketAddr,
    pub received: Arc<std::sync::Mutex<Vec<Received>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HookServer {
    pub fn start(script: impl Fn(usize, &Received) -> Answer + Send + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, halt) = (received.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(request.clone());
                    log.len() - 1
                };
                let (status, headers, body) = match script(n, &request) {
                    Answer::Reset => {
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                        continue;
                    }
                    Answer::Status(status, headers, body) => (status, headers, body),
                    Answer::Slow(wait, status, body) => {
                        std::thread::sleep(wait);
                        (status, Vec::new(), body)
                    }
                };
                let mut text = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    text.push_str(&format!("{name}: {value}\r\n"));
                }
                text.push_str("\r\n");
                text.push_str(&body);
                let _ = stream.write_all(text.as_bytes());
            }
        });
        Self {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// A receiver that answers 200 with `ok` to everything.
    pub fn ok() -> Self {
        Self::start(|_, _| Answer::Status(200, Vec::new(), "ok".into()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for HookServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One HTTP/1.1 request off `stream`: the head, then `Content-Length` bytes of body.
fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(Received {
        path,
        headers,
        body,
        at: Instant::now(),
    })
}

/// An Alertmanager (Debian's `prometheus-alertmanager`) run for one test, with `config`
/// (YAML) and the external URL `external_url`; killed and reaped on drop.
pub struct Alertmanager {
    child: std::process::Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    pub fn start(config: &str, external_url: &str) -> Self {
        let binary = which("prometheus-alertmanager")
            .or_else(|| which("alertmanager"))
            .expect("prometheus-alertmanager");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alertmanager.yml");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
        let child = std::process::Command::new(binary)
            .arg(format!("--config.file={}", path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg(format!("--web.external-url={external_url}"))
            .arg("--cluster.listen-address=")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut am = Alertmanager {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            _dir: dir,
        };
        let port = wait_listening("Alertmanager", &mut am.child);
        am.addr.set_port(port);
        wait_for("Alertmanager to be ready", Duration::from_secs(60), || {
            (get(am.addr, "/-/ready").status == 200).then_some(())
        });
        am
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GET /api/v2/alerts`: the alerts it holds, active ones.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let reply = get(self.addr, "/api/v2/alerts");
        serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s` percent-encoded for a query string, as Go's `url.QueryEscape` would let a peer read it.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server (Debian's `prometheus`) run for one test with the configuration
/// `config` (YAML), listening on 127.0.0.1 port 0; killed and reaped on drop.
pub struct PrometheusServer {
    child: std::process::Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl PrometheusServer {
    pub fn start(config: &str) -> Self {
        Self::start_with(config, &[])
    }

    /// As [`start`](Self::start), with more command-line arguments (`--enable-feature=…`).
    pub fn start_with(config: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = std::process::Command::new(which("prometheus").expect("prometheus"))
            .arg(format!("--config.file={}", path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .args(args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = PrometheusServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            _dir: dir,
        };
        let port = wait_listening("Prometheus", &mut server.child);
        server.addr.set_port(port);
        server
    }

    /// An instant query's result (empty when it failed).
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        query_result(self.addr, promql)
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of the instant query `promql` on the Prometheus API at `addr` (ours or a
/// peer's); empty when it failed.
pub fn query_result(addr: SocketAddr, promql: &str) -> Vec<serde_json::Value> {
    let reply = get(addr, &format!("/api/v1/query?query={}", url_encode(promql)));
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// `promtool test rules path` (Debian's `prometheus` package): whether it passed, and its
/// report as a terminal shows it. promtool prints its header and closing blank lines on stdout
/// and a failure block on stderr; the report is the block between them.
pub fn promtool_test_rules(path: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(path)
        .output()
        .expect("run promtool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = match stdout.split_once('\n') {
        Some((header, rest)) => format!("{header}\n{stderr}{rest}"),
        None => format!("{stdout}{stderr}"),
    };
    (out.status.success(), said)
}
