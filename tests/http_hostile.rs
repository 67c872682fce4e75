//! The exporter's HTTP server against hostile and broken clients: idle connections, slowloris,
//! clients that never read, bursts, and requests that bend HTTP's rules. A well-behaved scrape
//! must be answered whatever they do; each wait below is a hang guard, not a timing claim.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{exchange, exporter, get_within, parse_reply, wait_for};
use kotoba_monitoring::{HealthReport, HealthSource, ProbeStatus, PrometheusExporter};

/// Far above the 1 s goal, far below what the stalls these tests build used to cost.
const ANSWERED: Duration = Duration::from_secs(10);

fn scrapes_get_through(addr: SocketAddr) {
    for _ in 0..5 {
        let reply = get_within(addr, "/metrics", ANSWERED);
        assert_eq!(reply.status, 200);
        assert!(reply.text().contains("kotoba_monitoring_http_connections"));
    }
}

fn open_connections(e: &PrometheusExporter) -> f64 {
    e.collector()
        .registry()
        .gauge("kotoba_monitoring_http_connections", "", &[])
        .unwrap()
        .get()
}

fn counter(e: &PrometheusExporter, name: &str, labels: &[(&str, &str)]) -> f64 {
    e.collector()
        .registry()
        .counter_family(name, "")
        .unwrap()
        .with_labels(labels)
        .unwrap()
        .get()
}

#[test]
fn a_thousand_idle_connections_do_not_delay_a_scrape() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    wait_for("the server to hold 1,000 connections", ANSWERED, || {
        (open_connections(&e) >= 1000.0).then_some(())
    });
    scrapes_get_through(addr);
    // The idle connections were kept alongside, not shed to make way.
    assert!(open_connections(&e) >= 1000.0);
    for mut s in idle {
        s.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let read = s.read(&mut byte);
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "an idle connection was answered or closed: {read:?}"
        );
    }
}

#[test]
fn slowloris_connections_do_not_delay_a_scrape() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    let mut slow: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let dripping = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
            let mut at = 0;
            while !stop.load(Ordering::SeqCst) {
                for s in &mut slow {
                    let _ = s.write_all(&[head.get(at).copied().unwrap_or(b'a')]);
                }
                at += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    wait_for("the slow requests to start", ANSWERED, || {
        (open_connections(&e) >= 64.0).then_some(())
    });
    scrapes_get_through(addr);
    stop.store(true, Ordering::SeqCst);
    dripping.join().unwrap();
}

/// A health report whose JSON is 16 MiB: more than the kernel buffers of a client that never
/// reads can take in.
struct Huge(String);

impl HealthSource for Huge {
    fn health_report(&self) -> HealthReport {
        HealthReport {
            status: ProbeStatus::Pass,
            output: Some(self.0.clone()),
            checks: Vec::new(),
        }
    }
}

#[test]
fn clients_that_never_read_do_not_delay_a_scrape() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    e.set_health_source(Arc::new(Huge("x".repeat(16 << 20))));
    let deaf: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    wait_for("the large responses to be built", ANSWERED, || {
        let built = counter(
            &e,
            "kotoba_monitoring_http_requests_total",
            &[("endpoint", "health"), ("code", "200")],
        );
        (built >= 8.0).then_some(())
    });
    scrapes_get_through(addr);
    drop(deaf);
}

#[test]
fn a_burst_of_requests_is_answered_and_a_scrape_gets_through() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    let burst: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    scrapes_get_through(addr);
    // Every burst request is answered too.
    for mut s in burst.into_iter().step_by(97) {
        s.set_read_timeout(Some(ANSWERED)).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    }
}

fn status_of(addr: SocketAddr, raw: &str) -> u16 {
    parse_reply(&exchange(addr, raw.as_bytes())).status
}

#[test]
fn requests_that_bend_http_are_refused_plainly() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    let conflicting =
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 5\r\n\r\nhello";
    assert_eq!(status_of(addr, conflicting), 400);
    let signed = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello";
    assert_eq!(status_of(addr, signed), 400);
    let smuggled = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(status_of(addr, smuggled), 400);
    assert_eq!(
        status_of(addr, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n"),
        400
    );
    let odd_expect = "GET /metrics HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n";
    assert_eq!(status_of(addr, odd_expect), 417);
    // The absolute form names the same resource as the origin form.
    let absolute =
        format!("GET http://{addr}/metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    assert_eq!(status_of(addr, &absolute), 200);
    // HTTP/1.0 needs no Host.
    assert_eq!(status_of(addr, "GET /livez HTTP/1.0\r\n\r\n"), 200);
    // Each refusal was counted.
    assert!(
        counter(
            &e,
            "kotoba_monitoring_http_refusals_total",
            &[("reason", "bad_request")]
        ) >= 5.0
    );
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let e = exporter(|_| {});
    let addr = e.local_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(ANSWERED)).unwrap();
    s.write_all(b"POST /metrics HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    // The final answer: metrics take GET only.
    assert_eq!(parse_reply(&rest).status, 405);

    // A body over the limit is refused at once, before the client sends it.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(ANSWERED)).unwrap();
    s.write_all(b"POST /metrics HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000000\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    assert_eq!(parse_reply(&raw).status, 413);
}
