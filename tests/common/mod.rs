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
    let missing: Vec<&str> = binaries
        .iter()
        .copied()
        .filter(|b| which(b).is_none())
        .collect();
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
