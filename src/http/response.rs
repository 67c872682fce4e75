//! Module implementing a response and how it goes on the wire: gzip when the client accepts it,
//! written by tiny_http's response writer. See [`Response`] for details.

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use tiny_http::{HTTPVersion, Header};

/// Bodies smaller than this are sent as they are: gzip would save little.
const GZIP_MIN_BYTES: usize = 1024;

/// A complete response, built by a route.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    content_type: String,
    pub(crate) body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    compressible: bool,
}

impl Response {
    /// A `text/plain` response.
    pub(crate) fn text(status: u16, body: impl Into<String>) -> Self {
        Self::new(
            status,
            "text/plain; charset=utf-8",
            body.into().into_bytes(),
        )
    }

    /// A JSON response of `content_type`.
    pub(crate) fn json(status: u16, content_type: &str, value: &serde_json::Value) -> Self {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_else(|e| {
            format!("{{\"error\":\"encoding the response failed: {e}\"}}").into_bytes()
        });
        body.push(b'\n');
        Self::new(status, content_type, body)
    }

    /// A response of any type.
    pub(crate) fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type: content_type.to_owned(),
            body,
            headers: Vec::new(),
            compressible: true,
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The response as bytes on the wire, framed for its request as `framing` says.
    pub(crate) fn encode(self, framing: Framing) -> Vec<u8> {
        let Response {
            status,
            content_type,
            mut body,
            headers,
            compressible,
        } = self;
        let mut encoded = false;
        if framing.gzip && compressible && body.len() >= GZIP_MIN_BYTES {
            let mut encoder =
                GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
            // Writing to a Vec cannot fail; on the impossible error the body goes plain.
            if encoder.write_all(&body).is_ok() {
                if let Ok(gzipped) = encoder.finish() {
                    body = gzipped;
                    encoded = true;
                }
            }
        }
        let length = body.len();
        let mut response = tiny_http::Response::new(
            status.into(),
            Vec::new(),
            io::Cursor::new(body),
            Some(length),
            None,
        )
        // The length is known: send Content-Length rather than chunks.
        .with_chunked_threshold(usize::MAX);
        let mut add = |name: &str, value: &str| {
            if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(h);
            }
        };
        add("Server", "kotoba-monitoring");
        add("Content-Type", &content_type);
        add("Cache-Control", "no-store");
        add("Vary", "Accept-Encoding");
        if encoded {
            add("Content-Encoding", "gzip");
        }
        for (name, value) in &headers {
            add(name, value);
        }
        let mut wire = Vec::with_capacity(256 + length);
        // Printing into a Vec cannot fail.
        let _ = response.raw_print(
            &mut wire,
            HTTPVersion(1, framing.minor_version.min(1)),
            &[],
            framing.head_only,
            None,
        );
        if framing.close {
            // tiny_http leaves `Connection` to its own server, which we do not run: add it
            // at the end of the head ourselves.
            if let Some(end) = wire.windows(4).position(|w| w == b"\r\n\r\n") {
                wire.splice(end + 2..end + 2, b"Connection: close\r\n".iter().copied());
            }
        }
        wire
    }
}

/// How a response goes on the wire for the request it answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    /// The request's HTTP/1.x minor version, echoed in the status line (at most 1).
    pub(crate) minor_version: u8,
    /// A `HEAD` request: the head alone, with the length the body would have.
    pub(crate) head_only: bool,
    /// The connection closes after this response: `Connection: close`.
    pub(crate) close: bool,
    /// The client accepts gzip; large bodies are gzipped.
    pub(crate) gzip: bool,
}

impl Framing {
    /// A refusal sent before any request could be read: HTTP/1.1, then close, never gzipped.
    pub(crate) const REFUSAL: Framing = Framing {
        minor_version: 1,
        head_only: false,
        close: true,
        gzip: false,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn written(r: Response, gzip: bool) -> (String, Vec<u8>) {
        let out = r.encode(Framing {
            gzip,
            ..Framing::REFUSAL
        });
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8(out[..split].to_vec()).unwrap(),
            out[split + 4..].to_vec(),
        )
    }

    #[test]
    fn small_bodies_go_plain_and_large_ones_gzipped() {
        let (head, body) = written(Response::text(404, "not found"), true);
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        assert!(head.contains("Connection: close"));
        assert!(!head.contains("gzip"));
        assert_eq!(body, b"not found");

        let text = "metric_total 1\n".repeat(1000);
        let (head, body) = written(Response::text(200, text.clone()), true);
        assert!(head.contains("Content-Encoding: gzip"), "{head}");
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, text);
        assert!(body.len() < text.len() / 4);
    }
}
