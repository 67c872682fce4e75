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
//!
//! Its rooms: `event_loop` (the `kotoba-http-io` thread: accepting, readiness, deadlines, the
//! output budget), `connection` (one client's state machine), `pool` (the workers), `refusal`
//! (why a client was refused, and the series counting it).

mod connection;
mod event_loop;
mod pool;
mod refusal;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpListener as MioListener;
use mio::{Interest, Poll, Waker};

use super::request::Request;
use super::response::Response;
use crate::worker::Worker;
use crate::MonitoringError;
use event_loop::{EventLoop, IO_THREAD, LISTENER, WAKER};
use pool::{work, Answer, Job, WORKER_NAMES};
pub(crate) use refusal::ConnectionMetrics;

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
            let event_loop = EventLoop::new(poll, listener, jobs_tx, answers, limits, metrics);
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;
    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;
    use std::time::Instant;

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
