//! The `kotoba-http-io` thread: every socket read and write, on `mio` readiness.

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::net::{TcpListener as MioListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::super::response::{Framing, Response};
use super::connection::{Connection, Next, Phase};
use super::pool::{Answer, Job};
use super::refusal::{ConnectionMetrics, Refusal};
use super::Limits;

/// The event loop's thread. Like every thread name here, at most 15 bytes: Linux shows no
/// more in `top` and `/proc`.
pub(super) const IO_THREAD: &str = "kotoba-http-io";

pub(super) const LISTENER: Token = Token(0);
pub(super) const WAKER: Token = Token(1);
/// Connection tokens count up from here and are never reused, so a worker's answer can never
/// reach a later connection that took a closed one's place.
pub(super) const FIRST_CONNECTION: usize = 2;
/// How long `accept` rests after an error such as running out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// How long responses already being written may finish once the server is stopping.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// The `kotoba-http-io` thread's state.
pub(super) struct EventLoop {
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
    /// The loop over `poll`, which has `listener` registered as `LISTENER` and a waker as
    /// `WAKER`: requests go out on `jobs`, answers come back on `answers`.
    pub(super) fn new(
        poll: Poll,
        listener: MioListener,
        jobs: Sender<Job>,
        answers: Receiver<Answer>,
        limits: Limits,
        metrics: ConnectionMetrics,
    ) -> Self {
        Self {
            poll,
            listener: Some(listener),
            connections: HashMap::new(),
            next_token: FIRST_CONNECTION,
            jobs,
            answers,
            limits,
            metrics,
            accept_paused_until: None,
            earliest: None,
        }
    }

    pub(super) fn run(mut self, stop: &AtomicBool) {
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
