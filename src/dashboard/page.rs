//! Module implementing the built-in page's files: the page, its script and style, and the
//! pinned uPlot build (MIT, see `web/vendor/uPlot.LICENSE`), compiled into the crate. See
//! [`asset`].

/// A file of the page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asset {
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
    /// A tag of the contents, for `ETag` and `If-None-Match`: a browser asks again and gets
    /// `304` until the file changes. Hashed once, at the file's first request.
    pub(crate) etag: &'static str,
}

/// `body`'s tag: a quoted hash, the same for the same contents within one build.
fn etag_of(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

macro_rules! asset {
    ($file:literal, $type:literal) => {{
        static ETAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        const BODY: &[u8] = include_bytes!($file);
        Asset {
            content_type: $type,
            body: BODY,
            etag: ETAG.get_or_init(|| etag_of(BODY)),
        }
    }};
}

/// The page's file at `path` (`/dashboard` itself is the page), if it is one.
pub(crate) fn asset(path: &str) -> Option<Asset> {
    Some(match path {
        "/dashboard" => asset!("web/index.html", "text/html; charset=utf-8"),
        "/dashboard/dashboard.js" => asset!("web/dashboard.js", "text/javascript; charset=utf-8"),
        "/dashboard/dashboard.css" => asset!("web/dashboard.css", "text/css; charset=utf-8"),
        "/dashboard/uPlot.iife.min.js" => {
            asset!(
                "web/vendor/uPlot.iife.min.js",
                "text/javascript; charset=utf-8"
            )
        }
        "/dashboard/uPlot.min.css" => asset!("web/vendor/uPlot.min.css", "text/css; charset=utf-8"),
        _ => return None,
    })
}
