//! Module implementing a parsed HTTP request and the questions the routes ask of it.
//! See [`Request`] for details.

/// The most header lines a request may carry.
const MAX_HEADERS: usize = 64;

/// A request: its head, parsed by httparse, and its body.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The path of the target, without its query; an absolute-form target
    /// (`http://host/path`) is reduced to its path.
    pub(crate) path: String,
    query: String,
    /// The minor version of HTTP/1.x.
    pub(crate) minor_version: u8,
    headers: Vec<(String, String)>,
    /// The body, exactly `Content-Length` bytes (empty without one).
    pub(crate) body: Vec<u8>,
}

/// A complete head: the request (body still empty), the head's length in bytes and how its
/// body is framed.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) request: Request,
    pub(crate) len: usize,
    pub(crate) content_length: usize,
    pub(crate) chunked: bool,
}

/// Why a head was refused: the status to answer with and the reason to give.
#[derive(Debug, PartialEq)]
pub(crate) struct HeadError {
    pub(crate) status: u16,
    pub(crate) reason: String,
}

impl HeadError {
    fn bad(reason: impl Into<String>) -> Self {
        Self {
            status: 400,
            reason: reason.into(),
        }
    }
}

impl Request {
    /// Parses `buf` as a request head: `Ok(None)` while it is incomplete.
    ///
    /// Refused, as RFC 9110 and 9112 require of a server: a `Content-Length` that is not
    /// plain digits, or two that disagree (`400`); both `Content-Length` and
    /// `Transfer-Encoding` (`400`, the request-smuggling shape); HTTP/1.1 without exactly one
    /// `Host` (`400`); an `Expect` other than `100-continue` (`417`); more than 64 header
    /// lines (`431`).
    pub(crate) fn parse(buf: &[u8]) -> Result<Option<Head>, HeadError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        let len = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError {
                    status: 431,
                    reason: format!("more than {MAX_HEADERS} header lines"),
                })
            }
            Err(e) => return Err(HeadError::bad(e.to_string())),
        };
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).trim().to_owned(),
                )
            })
            .collect();
        let (path, query) = split_target(parsed.path.unwrap_or("/"));
        let request = Request {
            method: parsed.method.unwrap_or("GET").to_owned(),
            path,
            query,
            minor_version: parsed.version.unwrap_or(1),
            headers,
            body: Vec::new(),
        };
        let hosts = request.all("host").count();
        if request.minor_version >= 1 && hosts != 1 {
            return Err(HeadError::bad(format!(
                "an HTTP/1.1 request needs exactly one Host header, this one has {hosts}"
            )));
        }
        if let Some(expect) = request.header("expect") {
            if !expect.eq_ignore_ascii_case("100-continue") {
                return Err(HeadError {
                    status: 417,
                    reason: format!("Expect {expect:?} is not supported; only 100-continue is"),
                });
            }
        }
        let chunked = request.header("transfer-encoding").is_some();
        let content_length = request.content_length()?;
        if chunked && content_length.is_some() {
            return Err(HeadError::bad(
                "a request may not carry both Content-Length and Transfer-Encoding",
            ));
        }
        Ok(Some(Head {
            request,
            len,
            content_length: content_length.unwrap_or(0),
            chunked,
        }))
    }

    /// The one length every `Content-Length` header (and every item of a list in one) gives.
    fn content_length(&self) -> Result<Option<usize>, HeadError> {
        let mut length = None;
        for text in self.all("content-length").flat_map(|v| v.split(',')) {
            let text = text.trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeadError::bad(format!(
                    "Content-Length {text:?} is not a number of bytes"
                )));
            }
            let n = text
                .parse::<usize>()
                .map_err(|_| HeadError::bad(format!("Content-Length {text} is too large")))?;
            match length {
                Some(m) if m != n => {
                    return Err(HeadError::bad(format!(
                        "two Content-Length values disagree: {m} and {n}"
                    )))
                }
                _ => length = Some(n),
            }
        }
        Ok(length)
    }

    /// Every value of the header `name` (lowercase), in order.
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first header called `name` (lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The decoded query parameters, in order; `?verbose` gives `("verbose", "")`.
    pub(crate) fn query_params(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// Whether the client waits for `100 Continue` before sending its body.
    pub(crate) fn expects_continue(&self) -> bool {
        self.header("expect").is_some()
    }

    /// Whether `Accept-Encoding` allows gzip.
    pub(crate) fn accepts_gzip(&self) -> bool {
        self.header("accept-encoding").is_some_and(|value| {
            value.split(',').any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let coding = parts.next().unwrap_or("");
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f64>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                coding.eq_ignore_ascii_case("gzip") && !refused
            })
        })
    }

    /// Whether the client asked to close the connection after this response.
    pub(crate) fn wants_close(&self) -> bool {
        let connection = self.header("connection").unwrap_or("");
        let has = |token: &str| {
            connection
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.minor_version == 0 {
            !has("keep-alive")
        } else {
            has("close")
        }
    }
}

/// Splits a request target into its path and query. The absolute form
/// (`http://host:port/path?q`), which RFC 9112 §3.2.2 requires a server to accept, loses its
/// scheme and authority.
fn split_target(target: &str) -> (String, String) {
    let scheme = target
        .split_once("://")
        .filter(|(s, _)| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    let origin = match scheme {
        Some((_, rest)) => match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => rest[i..].to_owned(),
            Some(i) => format!("/{}", &rest[i..]),
            None => "/".to_owned(),
        },
        None => target.to_owned(),
    };
    match origin.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (origin, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Head {
        Request::parse(text.as_bytes()).unwrap().unwrap()
    }

    fn refusal(text: &str) -> u16 {
        Request::parse(text.as_bytes()).unwrap_err().status
    }

    #[test]
    fn parses_a_scrape() {
        let head = parse("GET /metrics?x=1&verbose HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, deflate\r\n\r\nrest");
        assert_eq!(head.len, 78);
        assert_eq!(head.request.path, "/metrics");
        assert_eq!(
            head.request.query_params(),
            [("x".into(), "1".into()), ("verbose".into(), "".into())]
        );
        assert!(head.request.accepts_gzip());
        assert!(!head.request.wants_close());
        assert_eq!(head.content_length, 0);
    }

    #[test]
    fn incomplete_and_broken_heads() {
        assert!(Request::parse(b"GET /metrics HTTP/1.1\r\nHost:")
            .unwrap()
            .is_none());
        assert_eq!(refusal("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
        assert_eq!(refusal(&many), 431);
    }

    #[test]
    fn content_length_must_be_digits_and_agree() {
        let head = |cl: &str| format!("POST / HTTP/1.1\r\nHost: a\r\n{cl}\r\n\r\n");
        assert_eq!(refusal(&head("Content-Length: x")), 400);
        assert_eq!(refusal(&head("Content-Length: +5")), 400);
        assert_eq!(refusal(&head("Content-Length: -1")), 400);
        assert_eq!(
            refusal(&head("Content-Length: 5\r\nContent-Length: 6")),
            400
        );
        assert_eq!(refusal(&head("Content-Length: 5, 6")), 400);
        assert_eq!(
            refusal(&head("Content-Length: 5\r\nTransfer-Encoding: chunked")),
            400
        );
        assert_eq!(
            refusal(&head("Content-Length: 99999999999999999999999")),
            400
        );
        assert_eq!(
            parse(&head("Content-Length: 5\r\nContent-Length: 5")).content_length,
            5
        );
        assert_eq!(parse(&head("Content-Length: 7, 7")).content_length, 7);
        assert!(parse(&head("Transfer-Encoding: chunked")).chunked);
    }

    #[test]
    fn host_and_expect() {
        assert_eq!(refusal("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(parse("GET / HTTP/1.0\r\n\r\n").request.path, "/");
        assert_eq!(
            refusal("GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n"),
            417
        );
        let head = parse(
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
        );
        assert!(head.request.expects_continue());
    }

    #[test]
    fn absolute_form_targets_reduce_to_their_path() {
        let target = |t: &str| {
            let r = parse(&format!("GET {t} HTTP/1.1\r\nHost: a\r\n\r\n")).request;
            (r.path, r.query)
        };
        assert_eq!(target("http://a:9/metrics"), ("/metrics".into(), "".into()));
        assert_eq!(
            target("HTTPS://a/livez?verbose"),
            ("/livez".into(), "verbose".into())
        );
        assert_eq!(target("http://a"), ("/".into(), "".into()));
        assert_eq!(target("http://a?x=1"), ("/".into(), "x=1".into()));
        assert_eq!(target("/p?q"), ("/p".into(), "q".into()));
    }

    #[test]
    fn gzip_and_connection_tokens() {
        let r = |h: &str| parse(&format!("GET / HTTP/1.1\r\nHost: a\r\n{h}\r\n\r\n")).request;
        assert!(!r("Accept-Encoding: gzip;q=0").accepts_gzip());
        assert!(r("Accept-Encoding: br, GZIP;q=0.5").accepts_gzip());
        assert!(r("Connection: keep-alive, Close").wants_close());
        let old = parse("GET / HTTP/1.0\r\n\r\n").request;
        assert!(old.wants_close());
    }
}
