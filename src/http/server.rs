//! Module implementing the HTTP server: one event-loop thread that does every socket read and
//! write, and a fixed pool of workers that only answer complete requests. See [`Server`] for
//! details.
//!
//! A thread-per-connection server can be stalled by clients that connect and say nothing, send
//! one byte a second, or never read what they asked for: each holds a thread. Here no client
//! holds a thread. The event loop (`kotoba-http-io`, on `mio`: readiness, not an async
//! runtime) reads request heads and bodies without blocking, under a size limit and a deadline,
//! and hands a request to a worker only once it is complete. The worker builds the response and
//! gives the bytes back; the event loop writes them as the client reads, under an overall
//! deadline. Connections, buffered output and time are all bounded, and every refusal is
//! counted in `kotoba_monitoring_http_refusals_total{reason}`.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::net::{TcpListener as MioListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::request::Request;
use super::response::{Framing, Response};
use crate::metrics::Family;
use crate::worker::{guarded, Worker};
use crate::{Counter, Gauge, MonitoringError, Registry};

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

/// The event loop's thread. Like every thread name here, at most 15 bytes: Linux shows no
/// more in `top` and `/proc`.
const IO_THREAD: &str = "kotoba-http-io";

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection tokens count up from here and are never reused, so a worker's answer can never
/// reach a later connection that took a closed one's place.
const FIRST_CONNECTION: usize = 2;

/// After a refusal or a closing response the client may still be sending: closing with unread
/// input would reset the connection and could destroy the response before the client reads
/// it. So the write side is shut and input read and dropped, for this long and this much.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// How long `accept` rests after an error such as running out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// How long responses already being written may finish once the server is stopping.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// What clients may take, together and one by one.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Worker threads answering complete requests (1 to 8).
    pub(crate) workers: usize,
    /// Open connections. A new one past this closes the connection idle longest; when none is
    /// idle, the new one gets `503`.
    pub(crate) max_connections: usize,
    /// The largest request head (request line and headers), in bytes; past it, `431`.
    pub(crate) max_head_bytes: usize,
    /// The largest request body, kept for the route; past it, `413`.
    pub(crate) max_body_bytes: usize,
    /// How long a request, head and body, may take from its first byte; past it, `408`.
    pub(crate) request_timeout: Duration,
    /// How long a connection may sit between requests.
    pub(crate) idle_timeout: Duration,
    /// How long writing one response may take, in all; past it, the connection is closed.
    pub(crate) write_timeout: Duration,
    /// Response bytes waiting for slow readers, over all connections. A response that does not
    /// fit closes the connections that have been writing longest until it does.
    pub(crate) max_buffered_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            workers: 4,
            max_connections: 1024,
            max_head_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_buffered_bytes: 64 << 20,
        }
    }
}

/// Answers one request.
pub(crate) type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Why the server refused or dropped a client; the `reason` label of
/// `kotoba_monitoring_http_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Refusal {
    /// The head or body broke a rule of HTTP or a size limit (`400`, `411`, `413`, `417`,
    /// `431`).
    BadRequest,
    /// The request did not arrive within the request timeout (`408`).
    RequestTimeout,
    /// The client did not read its response within the write timeout.
    WriteTimeout,
    /// An idle connection closed to make room for a new one.
    IdleEvicted,
    /// A new connection refused (`503`): every slot held by a busy connection.
    TooManyConnections,
    /// A connection still writing closed to make room in the output buffer.
    OutputEvicted,
    /// A request refused (`503`) because the workers are gone (the server is stopping).
    NoWorkers,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::BadRequest => "bad_request",
            Refusal::RequestTimeout => "request_timeout",
            Refusal::WriteTimeout => "write_timeout",
            Refusal::IdleEvicted => "idle_evicted",
            Refusal::TooManyConnections => "too_many_connections",
            Refusal::OutputEvicted => "output_evicted",
            Refusal::NoWorkers => "no_workers",
        }
    }
}

/// The server's own series: refusals by reason (each series made on its first refusal) and
/// open connections.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionMetrics {
    refusals: Family<Counter>,
    open: Gauge,
}

impl ConnectionMetrics {
    /// Registers the series in `registry`.
    pub(crate) fn new(registry: &Registry) -> Result<Self, MonitoringError> {
        Ok(Self {
            refusals: registry.counter_family(
                "kotoba_monitoring_http_refusals_total",
                "Connections and requests the exporter refused or dropped to protect itself, by reason.",
            )?,
            open: registry.gauge(
                "kotoba_monitoring_http_connections",
                "Connections open to the exporter.",
                &[],
            )?,
        })
    }

    fn refused(&self, why: Refusal) {
        if let Ok(c) = self.refusals.with_labels(&[("reason", why.label())]) {
            c.inc();
        }
    }
}

/// A running server. [`stop`](Self::stop) ends and joins every thread.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    io: Worker,
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

/// A request handed to a worker.
struct Job {
    token: usize,
    request: Request,
}

/// A worker's answer: the bytes to write on connection `token`.
struct Answer {
    token: usize,
    bytes: Vec<u8>,
    close: bool,
}

impl Server {
    /// Serves `listener` with `handler` on `kotoba-http-io` and `kotoba-http-N`.
    pub(crate) fn start(
        listener: TcpListener,
        handler: Handler,
        limits: Limits,
        metrics: ConnectionMetrics,
    ) -> Result<Self, MonitoringError> {
        let io_error = |source| MonitoringError::Bind {
            address: "the bound listener".to_owned(),
            source,
        };
        let addr = listener.local_addr().map_err(io_error)?;
        listener.set_nonblocking(true).map_err(io_error)?;
        let mut listener = MioListener::from_std(listener);
        let poll = Poll::new().map_err(io_error)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(io_error)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(io_error)?);
        let stop = Arc::new(AtomicBool::new(false));
        // Each connection has at most one request with a worker, so the queue never refuses.
        let (jobs_tx, jobs) = crossbeam_channel::bounded::<Job>(limits.max_connections.max(1));
        let (answers_tx, answers) = crossbeam_channel::unbounded::<Answer>();

        let mut workers = Vec::new();
        let mut io = None;
        let mut failed = None;
        for name in WORKER_NAMES
            .iter()
            .take(limits.workers.clamp(1, WORKER_NAMES.len()))
        {
            let (jobs, answers, handler, waker, flag) = (
                jobs.clone(),
                answers_tx.clone(),
                handler.clone(),
                waker.clone(),
                stop.clone(),
            );
            match Worker::spawn(*name, move || work(jobs, answers, handler, waker, flag)) {
                Ok(w) => workers.push(w),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop((jobs, answers_tx));
        if failed.is_none() {
            let event_loop = EventLoop {
                poll,
                listener: Some(listener),
                connections: HashMap::new(),
                next_token: FIRST_CONNECTION,
                jobs: jobs_tx,
                answers,
                limits,
                metrics,
                accept_paused_until: None,
                earliest: None,
            };
            let flag = stop.clone();
            match Worker::spawn(IO_THREAD, move || event_loop.run(&flag)) {
                Ok(w) => io = Some(w),
                Err(e) => failed = Some(e),
            }
        }
        match (io, failed) {
            (Some(io), None) => Ok(Self {
                addr,
                stop,
                waker,
                io,
                workers,
            }),
            (_, failed) => {
                // The job queue's sender is gone (never moved into a loop, or dropped with
                // it), so the workers end.
                stop.store(true, Ordering::SeqCst);
                for w in workers {
                    let _ = w.join(Duration::from_secs(5));
                }
                Err(failed.unwrap_or(MonitoringError::ThreadSpawn {
                    thread: IO_THREAD.into(),
                    source: ErrorKind::Other.into(),
                }))
            }
        }
    }

    /// The address the server listens on (with the real port when 0 was asked for).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes idle connections, gives responses being written a moment to
    /// finish, and joins every thread, waiting at most `timeout` for each.
    pub(crate) fn stop(self, timeout: Duration) -> Result<(), MonitoringError> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        let mut result = self.io.join(timeout);
        for w in self.workers {
            let joined = w.join(timeout);
            if result.is_ok() {
                result = joined;
            }
        }
        result
    }
}

/// A worker: answers requests until the event loop drops the queue.
fn work(
    jobs: Receiver<Job>,
    answers: Sender<Answer>,
    handler: Handler,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
) {
    while let Ok(Job { token, request }) = jobs.recv() {
        let close = request.wants_close() || stop.load(Ordering::SeqCst);
        let response = guarded("the HTTP handler", || handler(&request))
            .unwrap_or_else(|e| Response::text(500, format!("internal error: {e}\n")));
        let bytes = response.encode(Framing {
            minor_version: request.minor_version,
            head_only: request.method == "HEAD",
            close,
            gzip: request.accepts_gzip(),
        });
        if answers
            .send(Answer {
                token,
                bytes,
                close,
            })
            .is_err()
        {
            return;
        }
        let _ = waker.wake();
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests, nothing of the next one read; the deadline is the idle timeout.
    Idle,
    /// Part of a request read; the deadline is the request timeout from its first byte.
    Receiving,
    /// A worker holds the request; no deadline (the handler is ours).
    Working,
    /// Writing a response; the deadline is the write timeout from its first byte.
    Writing { close: bool },
    /// The write side shut after a closing response; input is read and dropped until the
    /// client closes or the linger time ends.
    Lingering,
}

/// What the event loop does with a connection after advancing it.
enum Next {
    /// Wait for readiness or a deadline.
    Wait,
    /// Hand this request to a worker.
    Dispatch(Request),
    /// Close it, counting why if it was refused.
    Close(Option<Refusal>),
}

/// One client connection.
struct Connection {
    stream: TcpStream,
    phase: Phase,
    /// When the phase ends, whatever the client does.
    deadline: Instant,
    /// When the phase began: the idle connection evicted first is the one idle longest, the
    /// writer evicted first the one writing longest.
    since: Instant,
    /// Bytes read and not yet part of an answered request (pipelined requests wait here).
    input: Vec<u8>,
    /// Bytes to write, from `written` on.
    output: Vec<u8>,
    written: usize,
    /// `100 Continue` went out for the request being read.
    continued: bool,
    /// Bytes dropped while lingering.
    lingered: usize,
    /// Where refusals are counted, as they are queued (before the client can see them).
    metrics: ConnectionMetrics,
}

impl Connection {
    fn new(stream: TcpStream, now: Instant, limits: &Limits, metrics: ConnectionMetrics) -> Self {
        Self {
            stream,
            phase: Phase::Idle,
            deadline: now + limits.idle_timeout,
            since: now,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            continued: false,
            lingered: 0,
            metrics,
        }
    }

    /// Unwritten response bytes.
    fn pending(&self) -> usize {
        self.output.len() - self.written
    }

    /// Starts writing `bytes`, closing afterwards when `close`.
    fn respond(&mut self, bytes: Vec<u8>, close: bool, now: Instant, limits: &Limits) {
        self.output = bytes;
        self.written = 0;
        self.phase = Phase::Writing { close };
        self.deadline = now + limits.write_timeout;
        self.since = now;
    }

    /// Refuses the request being read with `response`, then closes.
    fn refuse(&mut self, why: Refusal, response: Response, now: Instant, limits: &Limits) {
        self.metrics.refused(why);
        self.respond(response.encode(Framing::REFUSAL), true, now, limits);
    }

    /// Refuses the request being read with `status` and `reason` (a broken rule of HTTP or a
    /// size limit), then closes.
    fn refuse_bad(
        &mut self,
        status: u16,
        reason: impl Into<String>,
        now: Instant,
        limits: &Limits,
    ) {
        self.refuse(
            Refusal::BadRequest,
            Response::text(status, reason),
            now,
            limits,
        );
    }

    /// Moves the connection as far as the socket allows without blocking.
    fn advance(&mut self, now: Instant, limits: &Limits) -> Next {
        loop {
            while self.pending() > 0 {
                match self.stream.write(&self.output[self.written..]) {
                    Ok(0) => return Next::Close(None),
                    Ok(n) => self.written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Wait,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return Next::Close(None),
                }
            }
            match self.phase {
                Phase::Writing { close } => {
                    self.output = Vec::new();
                    self.written = 0;
                    self.continued = false;
                    self.since = now;
                    if close {
                        let _ = self.stream.shutdown(Shutdown::Write);
                        self.input = Vec::new();
                        self.phase = Phase::Lingering;
                        self.deadline = now + LINGER;
                    } else if self.input.is_empty() {
                        self.phase = Phase::Idle;
                        self.deadline = now + limits.idle_timeout;
                    } else {
                        self.phase = Phase::Receiving;
                        self.deadline = now + limits.request_timeout;
                    }
                }
                Phase::Working => return Next::Wait,
                Phase::Lingering => {
                    let mut chunk = [0u8; 8192];
                    loop {
                        match self.stream.read(&mut chunk) {
                            Ok(0) => return Next::Close(None),
                            Ok(n) => {
                                self.lingered += n;
                                if self.lingered > LINGER_BYTES {
                                    return Next::Close(None);
                                }
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Wait,
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(_) => return Next::Close(None),
                        }
                    }
                }
                Phase::Idle | Phase::Receiving => {
                    if let Some(request) = self.take_request(now, limits) {
                        self.phase = Phase::Working;
                        return Next::Dispatch(request);
                    }
                    if self.pending() > 0 || matches!(self.phase, Phase::Writing { .. }) {
                        continue; // a refusal or `100 Continue` to write
                    }
                    if let Some(next) = self.read(now, limits) {
                        return next;
                    }
                }
            }
        }
    }

    /// Takes the first complete request out of the input, or queues a refusal or
    /// `100 Continue`; `None` while more input is needed.
    fn take_request(&mut self, now: Instant, limits: &Limits) -> Option<Request> {
        let head = match Request::parse(&self.input) {
            Ok(Some(head)) => head,
            Ok(None) if self.input.len() > limits.max_head_bytes => {
                let reason = format!(
                    "request header fields too large: at most {} bytes accepted\n",
                    limits.max_head_bytes
                );
                self.refuse_bad(431, reason, now, limits);
                return None;
            }
            Ok(None) => return None,
            Err(e) => {
                let reason = match e.status {
                    431 => format!("request header fields too large: {}\n", e.reason),
                    417 => format!("expectation failed: {}\n", e.reason),
                    _ => format!("bad request: {}\n", e.reason),
                };
                self.refuse_bad(e.status, reason, now, limits);
                return None;
            }
        };
        if head.chunked {
            let reason = "request bodies must have a Content-Length\n";
            self.refuse_bad(411, reason, now, limits);
            return None;
        }
        if head.content_length > limits.max_body_bytes {
            let reason = format!(
                "request body too large: {} bytes, at most {} accepted\n",
                head.content_length, limits.max_body_bytes
            );
            self.refuse_bad(413, reason, now, limits);
            return None;
        }
        let end = head.len + head.content_length;
        if self.input.len() >= end {
            let mut request = head.request;
            request.body = self.input[head.len..end].to_vec();
            self.input.drain(..end);
            return Some(request);
        }
        if head.request.expects_continue() && !self.continued {
            self.continued = true;
            self.output = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
            self.written = 0;
        }
        None
    }

    /// Reads what the socket has, up to what the request being read may still need. `None`
    /// when something arrived (parse again), else what to do.
    fn read(&mut self, now: Instant, limits: &Limits) -> Option<Next> {
        let need = match Request::parse(&self.input) {
            Ok(Some(head)) => head.len + head.content_length,
            _ => limits.max_head_bytes + 1,
        };
        let room = need.saturating_sub(self.input.len()).clamp(1, 16 * 1024);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk[..room]) {
                Ok(0) => return Some(Next::Close(None)),
                Ok(n) => {
                    self.input.extend_from_slice(&chunk[..n]);
                    if self.phase == Phase::Idle {
                        self.phase = Phase::Receiving;
                        self.deadline = now + limits.request_timeout;
                        self.since = now;
                    }
                    return None;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Some(Next::Wait),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(Next::Close(None)),
            }
        }
    }
}

/// The `kotoba-http-io` thread's state.
struct EventLoop {
    poll: Poll,
    /// `None` once stopping.
    listener: Option<MioListener>,
    connections: HashMap<usize, Connection>,
    next_token: usize,
    jobs: Sender<Job>,
    answers: Receiver<Answer>,
    limits: Limits,
    metrics: ConnectionMetrics,
    /// Set after `accept` failed (out of descriptors, say): retry then.
    accept_paused_until: Option<Instant>,
    /// The earliest deadline of any connection, when known to be no later than it.
    earliest: Option<Instant>,
}

impl EventLoop {
    fn run(mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(1024);
        let mut grace_ends = None;
        loop {
            let now = Instant::now();
            let wake_at = [self.earliest, self.accept_paused_until, grace_ends]
                .into_iter()
                .flatten()
                .min();
            let timeout = wake_at.map(|t| t.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    // The poller itself failed: nothing can be served any more.
                    return;
                }
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    WAKER => {}
                    Token(token) => self.advance(token, now),
                }
            }
            self.take_answers(now);
            if grace_ends.is_none() && stop.load(Ordering::SeqCst) {
                grace_ends = Some(now + STOP_GRACE);
                if let Some(mut listener) = self.listener.take() {
                    let _ = self.poll.registry().deregister(&mut listener);
                }
                self.connections
                    .retain(|_, c| matches!(c.phase, Phase::Working | Phase::Writing { .. }));
            }
            self.sweep(now);
            if let Some(end) = grace_ends {
                if self.connections.is_empty() || now >= end {
                    self.connections.clear();
                    self.metrics.open.set(0.0);
                    return;
                }
            }
        }
    }

    /// Accepts every waiting connection.
    fn accept(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|t| now < t) {
            return;
        }
        self.accept_paused_until = None;
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, _)) => self.admit(stream, now),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    /// Takes in a new connection, making room for it or refusing it.
    fn admit(&mut self, mut stream: TcpStream, now: Instant) {
        if self.connections.len() >= self.limits.max_connections.max(1) {
            let idlest = self
                .connections
                .iter()
                .filter(|(_, c)| c.phase == Phase::Idle)
                .min_by_key(|(_, c)| c.since)
                .map(|(t, _)| *t);
            match idlest {
                Some(token) => self.close(token, Some(Refusal::IdleEvicted)),
                None => {
                    // Best effort: the response is small enough for any socket buffer.
                    self.metrics.refused(Refusal::TooManyConnections);
                    let busy = Response::text(503, "busy: too many connections, retry shortly\n")
                        .with_header("Retry-After", "1")
                        .encode(Framing::REFUSAL);
                    let _ = stream.write(&busy);
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
        let token = self.next_token;
        self.next_token += 1;
        let _ = stream.set_nodelay(true);
        if self
            .poll
            .registry()
            .register(
                &mut stream,
                Token(token),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            return;
        }
        let connection = Connection::new(stream, now, &self.limits, self.metrics.clone());
        self.note_deadline(connection.deadline);
        self.connections.insert(token, connection);
        self.metrics.open.set(self.connections.len() as f64);
    }

    /// Advances connection `token` and acts on the outcome.
    fn advance(&mut self, token: usize, now: Instant) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        match connection.advance(now, &self.limits) {
            Next::Wait => {}
            Next::Close(why) => return self.close(token, why),
            Next::Dispatch(request) => {
                if let Err(e) = self.jobs.try_send(Job { token, request }) {
                    let busy = Response::text(503, "busy: every worker is taken, retry shortly\n")
                        .with_header("Retry-After", "1");
                    let why = match e {
                        TrySendError::Full(_) => Refusal::TooManyConnections,
                        TrySendError::Disconnected(_) => Refusal::NoWorkers,
                    };
                    connection.refuse(why, busy, now, &self.limits);
                    return self.advance(token, now);
                }
            }
        }
        let deadline = connection.deadline;
        if connection.phase != Phase::Working {
            self.note_deadline(deadline);
        }
    }

    /// Starts writing each answer the workers have finished, making room in the output
    /// budget first.
    fn take_answers(&mut self, now: Instant) {
        while let Ok(Answer {
            token,
            bytes,
            close,
        }) = self.answers.try_recv()
        {
            if !self.connections.contains_key(&token) {
                continue; // closed while the worker was answering
            }
            loop {
                let buffered: usize = self.connections.values().map(Connection::pending).sum();
                if buffered + bytes.len() <= self.limits.max_buffered_bytes {
                    break;
                }
                let stalest = self
                    .connections
                    .iter()
                    .filter(|(t, c)| **t != token && c.pending() > 0)
                    .min_by_key(|(_, c)| c.since)
                    .map(|(t, _)| *t);
                match stalest {
                    Some(victim) => self.close(victim, Some(Refusal::OutputEvicted)),
                    None => break, // this response alone: send it anyway
                }
            }
            if let Some(connection) = self.connections.get_mut(&token) {
                connection.respond(bytes, close, now, &self.limits);
                self.advance(token, now);
            }
        }
    }

    /// Ends every phase whose deadline has passed, and works out the next deadline.
    fn sweep(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept(now);
        }
        if self.earliest.is_none_or(|t| now < t) {
            return;
        }
        let expired: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, c)| c.phase != Phase::Working && now >= c.deadline)
            .map(|(t, _)| *t)
            .collect();
        for token in expired {
            let Some(connection) = self.connections.get_mut(&token) else {
                continue;
            };
            match connection.phase {
                Phase::Receiving => {
                    let reason = format!(
                        "request timeout: the request did not arrive within {:?}\n",
                        self.limits.request_timeout
                    );
                    let refusal = Response::text(408, reason);
                    connection.refuse(Refusal::RequestTimeout, refusal, now, &self.limits);
                    self.advance(token, now);
                }
                Phase::Writing { .. } => self.close(token, Some(Refusal::WriteTimeout)),
                Phase::Idle | Phase::Lingering | Phase::Working => self.close(token, None),
            }
        }
        self.earliest = self
            .connections
            .values()
            .filter(|c| c.phase != Phase::Working)
            .map(|c| c.deadline)
            .min();
    }

    fn note_deadline(&mut self, deadline: Instant) {
        self.earliest = Some(self.earliest.map_or(deadline, |t| t.min(deadline)));
    }

    fn close(&mut self, token: usize, why: Option<Refusal>) {
        if let Some(mut connection) = self.connections.remove(&token) {
            let _ = self.poll.registry().deregister(&mut connection.stream);
            if let Some(why) = why {
                self.metrics.refused(why);
            }
            self.metrics.open.set(self.connections.len() as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream as StdStream;

    /// Requests to `/block` wait in the handler until the test drops `release`; `entered`
    /// counts them.
    struct Block {
        release: crossbeam_channel::Receiver<()>,
        entered: Arc<std::sync::atomic::AtomicUsize>,
    }

    /// A server on 127.0.0.1:0 whose handler echoes the request body, or answers `big` bytes
    /// for `/big`.
    fn serve(limits: Limits, big: usize) -> (Server, Registry) {
        let (_, release) = crossbeam_channel::bounded(0);
        serve_blocking(
            limits,
            big,
            Block {
                release,
                entered: Arc::default(),
            },
        )
    }

    fn serve_blocking(limits: Limits, big: usize, block: Block) -> (Server, Registry) {
        let registry = Registry::new();
        let listener = bind("127.0.0.1", 0).unwrap();
        let handler: Handler = Arc::new(move |r: &Request| match r.path.as_str() {
            "/big" => Response::text(200, "x".repeat(big)),
            "/block" => {
                block.entered.fetch_add(1, Ordering::SeqCst);
                let _ = block.release.recv();
                Response::text(200, "released")
            }
            _ => Response::new(200, "application/octet-stream", r.body.clone()),
        });
        let metrics = ConnectionMetrics::new(&registry).unwrap();
        (
            Server::start(listener, handler, limits, metrics).unwrap(),
            registry,
        )
    }

    fn refusals(registry: &Registry, reason: &str) -> f64 {
        registry
            .counter_family("kotoba_monitoring_http_refusals_total", "")
            .unwrap()
            .with_labels(&[("reason", reason)])
            .unwrap()
            .get()
    }

    fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn connect(server: &Server) -> StdStream {
        let s = StdStream::connect(server.local_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    fn read_all(s: &mut StdStream) -> String {
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn bodies_reach_the_handler_and_keep_alive_continues() {
        let (server, _) = serve(Limits::default(), 0);
        let mut s = connect(&server);
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye")
            .unwrap();
        let text = read_all(&mut s);
        assert!(text.contains("\r\n\r\nhelloHTTP/1.1 200"), "{text}");
        assert!(text.ends_with("\r\n\r\nbye"), "{text}");
        server.stop(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn a_slow_request_gets_408_and_a_slow_reader_is_closed() {
        let limits = Limits {
            request_timeout: Duration::from_millis(200),
            write_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let (server, registry) = serve(limits, 32 << 20);
        let mut slow = connect(&server);
        slow.write_all(b"GET / HTTP/1.1\r\nHost:").unwrap();
        assert!(read_all(&mut slow).starts_with("HTTP/1.1 408"));
        assert_eq!(refusals(&registry, "request_timeout"), 1.0);

        let mut deaf = connect(&server);
        deaf.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        wait_until("the write timeout", || {
            refusals(&registry, "write_timeout") == 1.0
        });
        // What reached the client is a truncated response, then the end.
        let text = read_all(&mut deaf);
        assert!(text.starts_with("HTTP/1.1 200") && text.len() < 32 << 20);
        server.stop(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn a_full_server_evicts_the_idlest_connection_or_refuses() {
        let limits = Limits {
            max_connections: 3,
            ..Limits::default()
        };
        let (hold, release) = crossbeam_channel::bounded::<()>(0);
        let entered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let block = Block {
            release,
            entered: entered.clone(),
        };
        let (server, registry) = serve_blocking(limits, 0, block);
        let open = registry
            .gauge("kotoba_monitoring_http_connections", "", &[])
            .unwrap();
        let mut oldest = connect(&server);
        wait_until("the first connection", || open.get() == 1.0);
        let _second = connect(&server);
        let _third = connect(&server);
        wait_until("three connections", || open.get() == 3.0);
        // A fourth takes the place of the one idle longest.
        let mut fourth = connect(&server);
        assert_eq!(read_all(&mut oldest), "");
        assert_eq!(refusals(&registry, "idle_evicted"), 1.0);
        fourth
            .write_all(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            )
            .unwrap();
        assert!(read_all(&mut fourth).ends_with("\r\n\r\nok"));
        drop((_second, _third));
        wait_until("the idle ones to go", || open.get() == 0.0);

        // With every connection busy (a worker holds each request), a new one is refused.
        let mut busy: Vec<StdStream> = (0..3).map(|_| connect(&server)).collect();
        for s in &mut busy {
            s.write_all(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
        }
        wait_until("three requests with workers", || {
            entered.load(Ordering::SeqCst) == 3
        });
        let mut extra = connect(&server);
        assert!(read_all(&mut extra).starts_with("HTTP/1.1 503"));
        assert_eq!(refusals(&registry, "too_many_connections"), 1.0);
        drop(hold);
        for mut s in busy {
            let mut head = [0u8; 12];
            s.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200");
        }
        server.stop(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn output_past_the_budget_closes_the_longest_writer() {
        let limits = Limits {
            max_buffered_bytes: 40 << 20,
            ..Limits::default()
        };
        let (server, registry) = serve(limits, 32 << 20);
        let mut first = connect(&server);
        first
            .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut byte = [0u8; 1];
        first.read_exact(&mut byte).unwrap(); // its response is being written
        let mut second = connect(&server);
        second
            .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        wait_until("an eviction", || {
            refusals(&registry, "output_evicted") == 1.0
        });
        // The newer response is written whole.
        let text = read_all(&mut second);
        assert!(text.starts_with("HTTP/1.1 200"));
        assert!(text.ends_with(&"x".repeat(100)));
        assert!(text.len() > 32 << 20);
        server.stop(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn stop_closes_idle_connections_and_joins() {
        let (server, _) = serve(Limits::default(), 0);
        let mut idle = connect(&server);
        let addr = server.local_addr();
        server.stop(Duration::from_secs(5)).unwrap();
        assert_eq!(read_all(&mut idle), "");
        assert!(StdStream::connect(addr).is_err());
    }
}
