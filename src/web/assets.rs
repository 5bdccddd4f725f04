//! The wall page's files and the built-in dashboards, embedded at build time (see build.rs).
//!
//! For front-end work, `SOCWALL_WEB_DIR=path/to/web` serves the page's files from that directory
//! instead (read per request, no rebuild needed); production never sets it.

use std::borrow::Cow;
use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The development override directory, if `SOCWALL_WEB_DIR` is set.
fn dev_dir() -> Option<&'static std::path::Path> {
    static DIR: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::var_os("SOCWALL_WEB_DIR")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    })
    .as_deref()
}

/// A file of `web/` by its path relative to `web/` (`widgets/stat/stat.js`).
pub fn web(path: &str) -> Option<Cow<'static, [u8]>> {
    if let Some(dir) = dev_dir() {
        if path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == ".." || p.starts_with('.'))
        {
            return None;
        }
        return std::fs::read(dir.join(path)).ok().map(Cow::Owned);
    }
    WEB_ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| Cow::Borrowed(*b))
}

/// A short fingerprint of the embedded page files (FNV-1a over names and contents). The page
/// compares the one in `hello` with the one it started with and reloads itself when the daemon
/// was upgraded under it.
pub fn build_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (name, bytes) in WEB_ASSETS {
            for &b in name.as_bytes().iter().chain(bytes.iter()) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{h:016x}")
    })
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
