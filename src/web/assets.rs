//! The wall page's files and the built-in dashboards, embedded at build time (see build.rs).

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// An embedded file of `web/` by its path relative to `web/` (`widgets/stat/stat.js`).
pub fn web(path: &str) -> Option<&'static [u8]> {
    WEB_ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

/// Content type by extension; anything unknown is served as bytes (and `nosniff` keeps browsers
/// from guessing).
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
