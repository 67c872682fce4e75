//! One client connection's state machine: reading a request under its limits, waiting for a
//! worker, writing the answer as the client reads, lingering after a close.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::super::request::Request;
use super::super::response::{Framing, Response};
use super::refusal::{ConnectionMetrics, Refusal};
use super::Limits;

/// After a refusal or a closing response the client may still be sending: closing with unread
/// input would reset the connection and could destroy the response before the client reads
/// it. So the write side is shut and input read and dropped, for this long and this much.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;
/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
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
pub(super) enum Next {
    /// Wait for readiness or a deadline.
    Wait,
    /// Hand this request to a worker.
    Dispatch(Request),
    /// Close it, counting why if it was refused.
    Close(Option<Refusal>),
}

/// One client connection.
pub(super) struct Connection {
    pub(super) stream: TcpStream,
    pub(super) phase: Phase,
    /// When the phase ends, whatever the client does.
    pub(super) deadline: Instant,
    /// When the phase began: the idle connection evicted first is the one idle longest, the
    /// writer evicted first the one writing longest.
    pub(super) since: Instant,
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
    pub(super) fn new(
        stream: TcpStream,
        now: Instant,
        limits: &Limits,
        metrics: ConnectionMetrics,
    ) -> Self {
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
    pub(super) fn pending(&self) -> usize {
        self.output.len() - self.written
    }

    /// Starts writing `bytes`, closing afterwards when `close`.
    pub(super) fn respond(&mut self, bytes: Vec<u8>, close: bool, now: Instant, limits: &Limits) {
        self.output = bytes;
        self.written = 0;
        self.phase = Phase::Writing { close };
        self.deadline = now + limits.write_timeout;
        self.since = now;
    }

    /// Refuses the request being read with `response`, then closes.
    pub(super) fn refuse(
        &mut self,
        why: Refusal,
        response: Response,
        now: Instant,
        limits: &Limits,
    ) {
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
    pub(super) fn advance(&mut self, now: Instant, limits: &Limits) -> Next {
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
