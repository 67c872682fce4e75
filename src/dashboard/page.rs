//! Module implementing the built-in page's files: the page, its script and style, and the
//! pinned uPlot build (MIT, see `web/vendor/uPlot.LICENSE`), compiled into the crate. See
//! [`asset`].

/// A file of the page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asset {
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
}

impl Asset {
    /// A tag of the contents (FNV-1a), for `ETag` and `If-None-Match`: a browser asks again
    /// and gets `304` until the file changes.
    pub(crate) fn etag(&self) -> String {
        let hash = self.body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("\"{hash:016x}\"")
    }
}

macro_rules! asset {
    ($file:literal, $type:literal) => {
        Asset {
            content_type: $type,
            body: include_bytes!($file),
        }
    };
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
