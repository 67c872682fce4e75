//! The worker pool: threads that only answer complete requests, never touching a socket.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use mio::Waker;

use super::super::request::Request;
use super::super::response::Framing;
use super::super::response::Response;
use super::Handler;
use crate::worker::guarded;

/// The worker threads' names; the pool size is at most their number.
pub(super) const WORKER_NAMES: [&str; 8] = [
    "kotoba-http-0",
    "kotoba-http-1",
    "kotoba-http-2",
    "kotoba-http-3",
    "kotoba-http-4",
    "kotoba-http-5",
    "kotoba-http-6",
    "kotoba-http-7",
];
/// A request handed to a worker.
pub(super) struct Job {
    pub(super) token: usize,
    pub(super) request: Request,
}

/// A worker's answer: the bytes to write on connection `token`.
pub(super) struct Answer {
    pub(super) token: usize,
    pub(super) bytes: Vec<u8>,
    pub(super) close: bool,
}
/// A worker: answers requests until the event loop drops the queue.
pub(super) fn work(
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
