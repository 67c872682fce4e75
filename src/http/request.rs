//! Module implementing a parsed HTTP request head and the questions the routes ask of it.
//! See [`Request`] for details.

/// The most header lines a request may carry.
const MAX_HEADERS: usize = 64;

/// A request head, parsed by httparse.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    query: String,
    /// The minor version of HTTP/1.x.
    pub(crate) minor_version: u8,
    headers: Vec<(String, String)>,
}

/// A complete head: the request, the head's length in bytes and how its body is framed.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) request: Request,
    pub(crate) len: usize,
    pub(crate) content_length: usize,
    pub(crate) chunked: bool,
}

/// Why a head was refused.
#[derive(Debug, PartialEq)]
pub(crate) enum HeadError {
    /// More header lines than [`MAX_HEADERS`].
    TooManyHeaders,
    /// Not HTTP/1.x, or a broken line; the text says which.
    Malformed(String),
}

impl Request {
    /// Parses `buf` as a request head: `Ok(None)` while it is incomplete.
    pub(crate) fn parse(buf: &[u8]) -> Result<Option<Head>, HeadError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        let len = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
            Err(e) => return Err(HeadError::Malformed(e.to_string())),
        };
        let target = parsed.path.unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
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
        let request = Request {
            method: parsed.method.unwrap_or("GET").to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            minor_version: parsed.version.unwrap_or(1),
            headers,
        };
        let chunked = request
            .header("transfer-encoding")
            .is_some_and(|te| !te.eq_ignore_ascii_case("identity"));
        let content_length = match request.header("content-length") {
            None => 0,
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| HeadError::Malformed(format!("Content-Length {text:?}")))?,
        };
        Ok(Some(Head {
            request,
            len,
            content_length,
            chunked,
        }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Head {
        Request::parse(text.as_bytes()).unwrap().unwrap()
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
        assert!(matches!(
            Request::parse(b"GET /\x01 HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
        assert_eq!(
            Request::parse(many.as_bytes()).unwrap_err(),
            HeadError::TooManyHeaders
        );
        assert!(matches!(
            Request::parse(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
    }

    #[test]
    fn gzip_and_connection_tokens() {
        let r = |h: &str| parse(&format!("GET / HTTP/1.1\r\n{h}\r\n\r\n")).request;
        assert!(!r("Accept-Encoding: gzip;q=0").accepts_gzip());
        assert!(r("Accept-Encoding: br, GZIP;q=0.5").accepts_gzip());
        assert!(r("Connection: keep-alive, Close").wants_close());
        let old = parse("GET / HTTP/1.0\r\n\r\n").request;
        assert!(old.wants_close());
    }
}
