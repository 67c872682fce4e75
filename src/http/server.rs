//! Module implementing the HTTP server: one accept thread and a fixed pool of workers, with a
//! bound on every resource a client can hold. See [`Server`] for details.
//!
//! tiny_http's own server reads request heads on an unbounded pool of unnamed threads, with no
//! limit on a head's size or on how long it may take to arrive, so one stalled or hostile
//! client could hold a thread and memory for ever. We accept connections ourselves, parse heads
//! with httparse under a size and time limit, and write responses with tiny_http's writer.

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::request::{HeadError, Request};
use super::response::Response;
use crate::worker::{guarded, Worker};
use crate::MonitoringError;

/// The worker threads' names; the pool size is at most their number.
const WORKER_NAMES: [&str; 8] = [
    "kotoba-http-0",
    "kotoba-http-1",
    "kotoba-http-2",
    "kotoba-http-3",
    "kotoba-http-4",
    "kotoba-http-5",
    "kotoba-http-6",
    "kotoba-http-7",
];

/// How often a blocked read looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// What one client may take.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Worker threads, each serving one connection at a time (at most 8).
    pub(crate) workers: usize,
    /// Accepted connections waiting for a worker; past it, new ones get `503`.
    pub(crate) queue: usize,
    /// The largest request head (request line and headers), in bytes; past it, `431`.
    pub(crate) max_head_bytes: usize,
    /// The largest request body; past it, `413`. Our endpoints take none.
    pub(crate) max_body_bytes: usize,
    /// How long a request head may take from its first byte to its end; past it, `408`.
    pub(crate) request_timeout: Duration,
    /// How long a connection may sit without sending a request. An idle connection is also
    /// closed as soon as another one waits for a worker.
    pub(crate) idle_timeout: Duration,
    /// How long writing a response may block.
    pub(crate) write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            workers: 4,
            queue: 64,
            max_head_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Answers one request.
pub(crate) type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A running server. [`stop`](Self::stop) ends and joins every thread.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Worker,
    workers: Vec<Worker>,
}

/// Binds `address:port`, saying plainly when the port is taken.
pub(crate) fn bind(address: &str, port: u16) -> Result<TcpListener, MonitoringError> {
    let shown = format!("{address}:{port}");
    let addrs: Vec<SocketAddr> = (address, port)
        .to_socket_addrs()
        .map_err(|source| MonitoringError::Bind {
            address: shown.clone(),
            source,
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpListener::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(MonitoringError::Bind {
        address: shown,
        source: last.unwrap_or_else(|| ErrorKind::AddrNotAvailable.into()),
    })
}

impl Server {
    /// Serves `listener` with `handler` on `kotoba-http-accept` and `kotoba-http-N`.
    pub(crate) fn start(
        listener: TcpListener,
        handler: Handler,
        limits: Limits,
    ) -> Result<Self, MonitoringError> {
        let addr = listener
            .local_addr()
            .map_err(|source| MonitoringError::Bind {
                address: "the bound listener".to_owned(),
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = crossbeam_channel::bounded::<TcpStream>(limits.queue.max(1));
        let mut workers = Vec::new();
        for name in WORKER_NAMES
            .iter()
            .take(limits.workers.clamp(1, WORKER_NAMES.len()))
        {
            let (rx, handler, limits, flag) =
                (rx.clone(), handler.clone(), limits.clone(), stop.clone());
            match Worker::spawn(name, move || work(rx, handler, limits, flag)) {
                Ok(w) => workers.push(w),
                Err(e) => {
                    drop(tx);
                    stop.store(true, Ordering::SeqCst);
                    for w in workers {
                        let _ = w.join(Duration::from_secs(5));
                    }
                    return Err(e);
                }
            }
        }
        let accept = {
            let (flag, write_timeout) = (stop.clone(), limits.write_timeout);
            match Worker::spawn("kotoba-accept", move || {
                accept(listener, tx, flag, write_timeout)
            }) {
                Ok(w) => w,
                Err(e) => {
                    stop.store(true, Ordering::SeqCst);
                    for w in workers {
                        let _ = w.join(Duration::from_secs(5));
                    }
                    return Err(e);
                }
            }
        };
        Ok(Self {
            addr,
            stop,
            accept,
            workers,
        })
    }

    /// The address the server listens on (with the real port when 0 was asked for).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets each worker finish the response it is writing, and joins every
    /// thread, waiting at most `timeout` for each.
    pub(crate) fn stop(self, timeout: Duration) -> Result<(), MonitoringError> {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept thread from `accept()` with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let mut result = self.accept.join(timeout);
        for w in self.workers {
            let joined = w.join(timeout);
            if result.is_ok() {
                result = joined;
            }
        }
        result
    }
}

/// The accept loop: hands connections to the workers, refuses them with `503` when the queue
/// is full, and ends (dropping the queue, which ends the workers) once `stop` is set.
fn accept(listener: TcpListener, tx: Sender<TcpStream>, stop: Arc<AtomicBool>, write: Duration) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let stream = match conn {
            Ok(s) => s,
            // Out of descriptors and the like: give the workers a moment to free some.
            Err(_) => {
                std::thread::sleep(POLL);
                continue;
            }
        };
        match tx.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut stream)) => {
                let _ = stream.set_write_timeout(Some(write.min(Duration::from_secs(1))));
                let busy = Response::text(503, "busy: too many connections, retry shortly\n")
                    .with_header("Retry-After", "1");
                let _ = busy.write_to(&mut stream, 1, false, true, false);
                let _ = stream.shutdown(Shutdown::Both);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// A worker: serves connections until the queue closes.
fn work(rx: Receiver<TcpStream>, handler: Handler, limits: Limits, stop: Arc<AtomicBool>) {
    while let Ok(stream) = rx.recv() {
        if stop.load(Ordering::SeqCst) {
            continue; // drain without serving
        }
        serve(stream, &handler, &limits, &stop, &rx);
    }
}

/// How reading a request ended, when it did not produce one.
enum ReadEnd {
    /// The peer closed, the server is stopping, or the connection sat idle: close quietly.
    Quiet,
    /// Answer this, then close.
    Refuse(Response),
}

/// Serves requests on one connection until it closes, errs, idles out or the server stops.
fn serve(
    mut stream: TcpStream,
    handler: &Handler,
    limits: &Limits,
    stop: &AtomicBool,
    waiting: &Receiver<TcpStream>,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        let head = match read_head(&mut stream, &mut buf, limits, stop, waiting) {
            Ok(head) => head,
            Err(ReadEnd::Quiet) => return,
            Err(ReadEnd::Refuse(response)) => {
                let _ = response.write_to(&mut stream, 1, false, true, false);
                linger(&mut stream);
                return;
            }
        };
        buf.drain(..head.len);
        let request = head.request;
        let refuse = if head.chunked {
            Some(Response::text(
                411,
                "request bodies must have a Content-Length\n",
            ))
        } else if head.content_length > limits.max_body_bytes {
            Some(Response::text(
                413,
                format!(
                    "request body too large: {} bytes, at most {} accepted\n",
                    head.content_length, limits.max_body_bytes
                ),
            ))
        } else if !skip_body(&mut stream, &mut buf, head.content_length, limits) {
            return;
        } else {
            None
        };
        if let Some(response) = refuse {
            let _ = response.write_to(&mut stream, request.minor_version, false, true, false);
            linger(&mut stream);
            return;
        }
        let close = request.wants_close() || stop.load(Ordering::SeqCst);
        let response = guarded("the HTTP handler", || handler(&request))
            .unwrap_or_else(|e| Response::text(500, format!("internal error: {e}\n")));
        let head_only = request.method == "HEAD";
        let written = response.write_to(
            &mut stream,
            request.minor_version,
            head_only,
            close,
            request.accepts_gzip(),
        );
        if close || written.is_err() {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Reads until `buf` holds a complete request head, within the size and time limits. While
/// nothing has arrived, the connection is idle: it is given up when the server stops, after
/// `idle_timeout`, or once it has idled a moment while other connections wait for a worker.
fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    limits: &Limits,
    stop: &AtomicBool,
    waiting: &Receiver<TcpStream>,
) -> Result<super::request::Head, ReadEnd> {
    let started = Instant::now();
    let mut deadline = started + limits.idle_timeout;
    let mut receiving = false;
    let mut chunk = [0u8; 4096];
    loop {
        if !receiving && !buf.is_empty() {
            receiving = true;
            deadline = Instant::now() + limits.request_timeout;
        }
        match Request::parse(buf) {
            Ok(Some(head)) => return Ok(head),
            Ok(None) => {}
            Err(HeadError::TooManyHeaders) => {
                return Err(ReadEnd::Refuse(Response::text(
                    431,
                    "request header fields too large: more than 64 headers\n",
                )))
            }
            Err(HeadError::Malformed(why)) => {
                return Err(ReadEnd::Refuse(Response::text(
                    400,
                    format!("bad request: {why}\n"),
                )))
            }
        }
        if buf.len() > limits.max_head_bytes {
            return Err(ReadEnd::Refuse(Response::text(
                431,
                format!(
                    "request header fields too large: at most {} bytes accepted\n",
                    limits.max_head_bytes
                ),
            )));
        }
        if buf.is_empty()
            && (stop.load(Ordering::SeqCst) || (!waiting.is_empty() && started.elapsed() >= POLL))
        {
            return Err(ReadEnd::Quiet);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(if buf.is_empty() {
                ReadEnd::Quiet
            } else {
                ReadEnd::Refuse(Response::text(
                    408,
                    format!(
                        "request timeout: the request did not arrive within {:?}\n",
                        limits.request_timeout
                    ),
                ))
            });
        }
        let _ = stream.set_read_timeout(Some((deadline - now).min(POLL)));
        let room =
            (limits.max_head_bytes + 1 - buf.len().min(limits.max_head_bytes)).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(ReadEnd::Quiet),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(ReadEnd::Quiet),
        }
    }
}

/// After refusing a request the client may still be sending: closing with unread input would
/// reset the connection and could destroy the refusal before the client reads it. So stop
/// writing, then read and drop what arrives, for a bounded time and amount.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut chunk = [0u8; 4096];
    let mut left = 1usize << 20;
    while left > 0 {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let _ = stream.set_read_timeout(Some(deadline - now));
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Reads and drops a body of `len` bytes (part of which may be in `buf`); false when the
/// connection should close instead.
fn skip_body(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize, limits: &Limits) -> bool {
    let in_buf = len.min(buf.len());
    buf.drain(..in_buf);
    let mut left = len - in_buf;
    let deadline = Instant::now() + limits.request_timeout;
    let mut chunk = [0u8; 4096];
    while left > 0 {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let _ = stream.set_read_timeout(Some(deadline - now));
        match stream.read(&mut chunk[..left.min(4096)]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => left -= n,
        }
    }
    true
}
