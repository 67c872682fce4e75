//! Module implementing trace context without an async runtime: a W3C `traceparent` parsed
//! and carried, set for the current thread with a guard. The lowest layer: it depends on
//! nothing else in the crate. See [`TraceContext`].

use std::cell::Cell;
use std::fmt;

use crate::MonitoringError;

thread_local! {
    /// The trace the current thread is serving, while a [`TraceGuard`] is alive.
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
}

/// The W3C Trace Context of one request: a trace id, the span that is the parent of what this
/// process does for it, and whether the trace is sampled (recorded by the tracing backend).
///
/// Take it from an incoming `traceparent` header with [`parse`](Self::parse), then either
/// set it for the thread serving the request ([`enter`](Self::enter), which costs a
/// thread-local store and nothing when unused) or pass it explicitly. Instrumented queries
/// then attach it, as an exemplar, to the latency bucket they fall in.
///
/// ```
/// use kotoba_monitoring::TraceContext;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let trace = TraceContext::parse(header)?;
/// assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(trace.sampled());
/// {
///     let _serving = trace.enter();
///     assert_eq!(TraceContext::current(), Some(trace));
/// }
/// assert_eq!(TraceContext::current(), None);
/// assert!(TraceContext::parse("00-zz-00f067aa0ba902b7-01").is_err());
/// # Ok::<(), kotoba_monitoring::MonitoringError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({})", self.to_traceparent())
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_traceparent())
    }
}

fn invalid(text: &str, reason: impl Into<String>) -> MonitoringError {
    MonitoringError::InvalidTrace {
        text: text.chars().take(80).collect(),
        reason: reason.into(),
    }
}

const EXPECTED: &str =
    "expected a traceparent such as 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 \
     (version, 32 hex digits of trace id, 16 of span id, 2 of flags)";

fn hex_into(text: &str, out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => *byte = hi << 4 | lo,
            _ => return false,
        }
    }
    true
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

impl TraceContext {
    /// A context of `trace_id` and `span_id`, sampled or not.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidTrace`] when either id is all zeros, which the W3C spec
    /// forbids.
    pub fn new(
        trace_id: [u8; 16],
        span_id: [u8; 8],
        sampled: bool,
    ) -> Result<Self, MonitoringError> {
        let context = Self {
            trace_id,
            span_id,
            flags: u8::from(sampled),
        };
        if trace_id == [0; 16] || span_id == [0; 8] {
            return Err(invalid(
                &context.to_traceparent(),
                "a trace id or span id of all zeros is not valid",
            ));
        }
        Ok(context)
    }

    /// Parses a W3C `traceparent` header value, as a server receives it: version `00`
    /// exactly, or a later version's first four fields (the spec's rule for versions it
    /// does not know yet); surrounding spaces are ignored.
    ///
    /// # Errors
    ///
    /// [`MonitoringError::InvalidTrace`] naming what is wrong: a field's length or digits
    /// (lowercase hex only), the version `ff`, an all-zero id.
    pub fn parse(traceparent: &str) -> Result<Self, MonitoringError> {
        let text = traceparent.trim_matches(|c| c == ' ' || c == '\t');
        let mut fields = text.splitn(5, '-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(invalid(
                text,
                format!("not four fields joined by '-'; {EXPECTED}"),
            ));
        };
        let mut v = [0u8; 1];
        if !hex_into(version, &mut v) || v[0] == 0xff {
            return Err(invalid(
                text,
                format!(
                    "version {version:?} is not two lowercase hex digits other than ff; {EXPECTED}"
                ),
            ));
        }
        if v[0] == 0 && fields.next().is_some() {
            return Err(invalid(
                text,
                format!("version 00 has exactly four fields; {EXPECTED}"),
            ));
        }
        // Each field as so many lowercase hex digits, or the error naming it.
        let field = |value: &str, out: &mut [u8], what: &str| {
            if hex_into(value, out) {
                Ok(())
            } else {
                let digits = out.len() * 2;
                Err(invalid(
                    text,
                    format!("{what} {value:?} is not {digits} lowercase hex digits; {EXPECTED}"),
                ))
            }
        };
        let (mut trace_id, mut span_id, mut f) = ([0u8; 16], [0u8; 8], [0u8; 1]);
        field(trace, &mut trace_id, "trace id")?;
        field(span, &mut span_id, "span id")?;
        field(flags, &mut f, "flags")?;
        let mut context = Self::new(trace_id, span_id, false)
            .map_err(|_| invalid(text, "a trace id or span id of all zeros is not valid"))?;
        context.flags = f[0];
        Ok(context)
    }

    /// As a `traceparent` header value (version `00`), to pass the trace on.
    pub fn to_traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.span_id),
            self.flags
        )
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// The parent span's id, 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        hex(&self.span_id)
    }

    /// Whether the trace is sampled: recorded by the tracing backend, so a link to it leads
    /// somewhere. Only sampled traces become exemplars.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// Makes this the trace the current thread is serving until the guard is dropped, when
    /// the one before it (if any) is restored.
    pub fn enter(self) -> TraceGuard {
        TraceGuard {
            previous: CURRENT.with(|c| c.replace(Some(self))),
            _not_send: std::marker::PhantomData,
        }
    }

    /// The trace the current thread is serving, if one was entered.
    #[inline]
    pub fn current() -> Option<TraceContext> {
        CURRENT.with(Cell::get)
    }

    /// A hash of the trace id, uniform over `u64`: the same for every span of the trace.
    pub(crate) fn id_hash(&self) -> u64 {
        // The W3C spec asks for random trace ids; mix them anyway, for ids that are not.
        let mut h = 0xcbf2_9ce4_8422_2325_u64;
        for b in self.trace_id {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h ^ (h >> 29)
    }
}

/// Keeps a [`TraceContext`] current on this thread until dropped. Not `Send`: it belongs to
/// the thread that entered it.
#[derive(Debug)]
#[must_use = "the trace is current only while the guard lives"]
pub struct TraceGuard {
    previous: Option<TraceContext>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_goes_round_and_bad_ones_say_why() {
        let t = TraceContext::parse(GOOD).unwrap();
        assert_eq!(t.to_traceparent(), GOOD);
        assert_eq!(t.span_id(), "00f067aa0ba902b7");
        assert!(
            !TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .unwrap()
                .sampled()
        );
        // A later version may carry more fields.
        assert!(TraceContext::parse(&format!("01{}-extra", &GOOD[2..])).is_ok());
        for (bad, says) in [
            ("", "four fields"),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "trace id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                "trace id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
                "span id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
                "flags",
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "version",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "zeros",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "zeros",
            ),
            (&format!("{GOOD}-x"), "exactly four"),
        ] {
            let e = TraceContext::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn guards_nest_and_restore() {
        let a = TraceContext::parse(GOOD).unwrap();
        let b = TraceContext::new([7; 16], [9; 8], true).unwrap();
        assert_eq!(TraceContext::current(), None);
        let outer = a.enter();
        {
            let _inner = b.enter();
            assert_eq!(TraceContext::current(), Some(b));
        }
        assert_eq!(TraceContext::current(), Some(a));
        drop(outer);
        assert_eq!(TraceContext::current(), None);
        assert!(std::thread::spawn(TraceContext::current)
            .join()
            .unwrap()
            .is_none());
    }
}
