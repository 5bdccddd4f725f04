//! Frozen copy of the pre-optimisation `src/parse/mod.rs` `bytes` (test-only reference for the differential test
//! in `reference/mod.rs`). Do not optimise or "fix" this file: it defines the expected output.

use std::net::IpAddr;

/// `s` as `&str` if it is valid UTF-8 (only ever called on short field slices).
pub fn utf8(s: &[u8]) -> Option<&str> {
    std::str::from_utf8(s).ok()
}

/// Like [`utf8`], but `None` for an empty slice too.
pub fn field(s: &[u8]) -> Option<&str> {
    if s.is_empty() { None } else { utf8(s) }
}

/// Decimal digits only (no sign, no spaces), at most `u64`.
pub fn uint(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

pub fn port(s: &[u8]) -> Option<u16> {
    uint(s).and_then(|n| u16::try_from(n).ok())
}

/// An IPv4 or IPv6 address (bounded length, so a 1 MB token is rejected without work).
pub fn ip(s: &[u8]) -> Option<IpAddr> {
    if s.len() > 45 {
        return None;
    }
    utf8(s)?.parse().ok()
}

pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

/// ASCII case-insensitive substring search; returns the start of the first match.
pub fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    let first = first.to_ascii_lowercase();
    // First-byte filter before the full compare: most positions fail on one byte.
    (0..=last_start).find(|&i| {
        hay[i].to_ascii_lowercase() == first
            && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}
