//! Frozen copy of the pre-optimisation `src/parse/syslog.rs` (test-only reference for the differential test
//! in `reference/mod.rs`). Do not optimise or "fix" this file: it defines the expected output.

use crate::parse::Ctx;

// The live `Header` type, so results compare directly.
pub use crate::parse::syslog::Header;

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    &s[n..]
}

/// Splits `s` at the first space: (token, rest after the spaces).
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b' ', s) {
        Some(i) => (&s[..i], skip_spaces(&s[i..])),
        None => (s, &[]),
    }
}

/// `<PRI>` at the start (1-3 digits).
fn strip_pri(s: &[u8]) -> &[u8] {
    if s.first() != Some(&b'<') {
        return s;
    }
    let digits = s[1..]
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let valid = (1..=3).contains(&digits)
        && s.get(1 + digits) == Some(&b'>')
        && s[1..1 + digits]
            .iter()
            .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'))
            <= 191;
    if valid { &s[2 + digits..] } else { s }
}

/// A bracketed uptime stamp `[  203.842973]` at the start; returns what follows it.
pub fn strip_uptime(s: &[u8]) -> Option<&[u8]> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let end = memchr::memchr(b']', &s[..s.len().min(32)])?;
    let inner = &s[1..end];
    let mut seen_digit = false;
    for &b in inner {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b' ' | b'.' => {}
            _ => return None,
        }
    }
    seen_digit.then(|| skip_spaces(&s[end + 1..]))
}

/// A program tag token: `prog:`, `prog[pid]:`. Returns (prog, pid).
fn tag(tok: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let body = tok.strip_suffix(b":")?;
    let (name, pid) = match memchr::memchr(b'[', body) {
        Some(i) => {
            let pid = body[i + 1..].strip_suffix(b"]")?;
            (&body[..i], Some(pid))
        }
        None => (body, None),
    };
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'));
    ok.then_some((name, pid))
}

/// RFC 5424 after `<PRI>`: `1 TS HOST APP PROCID MSGID SD MSG`.
fn rfc5424<'a>(s: &'a [u8]) -> Option<Header<'a>> {
    let rest = s.strip_prefix(b"1 ")?;
    let (ts_tok, rest) = token(rest);
    let ts = if ts_tok == b"-" {
        None
    } else {
        let (t, n) = crate::time::parse_rfc3339(ts_tok)?;
        if n != ts_tok.len() {
            return None;
        }
        Some(t)
    };
    let (host, rest) = token(rest);
    let (app, rest) = token(rest);
    let (procid, rest) = token(rest);
    let (_msgid, mut rest) = token(rest);
    // Structured data: `-` or one or more `[id k="v" ...]` elements (`\]` escapes inside values).
    if let Some(r) = rest.strip_prefix(b"-") {
        rest = r;
    } else {
        while rest.first() == Some(&b'[') {
            let mut i = 1;
            let mut in_quotes = false;
            loop {
                match rest.get(i) {
                    None => return None,
                    Some(b'\\') => i += 1,
                    Some(b'"') => in_quotes = !in_quotes,
                    Some(b']') if !in_quotes => break,
                    _ => {}
                }
                i += 1;
            }
            rest = &rest[i + 1..];
        }
    }
    let mut msg = skip_spaces(rest);
    msg = msg.strip_prefix("\u{feff}".as_bytes()).unwrap_or(msg);
    let nil = |t: &'a [u8]| (t != b"-" && !t.is_empty()).then_some(t);
    Some(Header {
        ts,
        host: nil(host),
        prog: nil(app),
        pid: nil(procid),
        msg,
    })
}

/// Splits a syslog line into its header and message. Never fails: a line without a recognisable
/// header comes back with every header field `None` and `msg` = the whole line (minus `<PRI>`).
pub fn split<'a>(line: &'a [u8], ctx: &Ctx) -> Header<'a> {
    let s = strip_pri(line);
    if s.len() != line.len() {
        if let Some(h) = rfc5424(s) {
            return h;
        }
    }
    let mut h = Header {
        msg: s,
        ..Header::default()
    };
    let mut monotonic = false;
    let rest = if let Some((d, n)) = crate::time::parse_bsd(s) {
        h.ts = d.resolve(ctx.year, ctx.now);
        // Some relays insert the year after the date (`Oct 21 2023 06:06:58` is not handled
        // here; `Oct 21 06:06:58 2023` neither): both are rare and would be read as a host.
        &s[n..]
    } else if let Some((t, n)) = crate::time::parse_rfc3339(s) {
        h.ts = Some(t);
        &s[n..]
    } else if let Some(r) = strip_uptime(s) {
        // journald short-monotonic: `[ 1234.567890] host prog: msg` (no wall-clock time).
        monotonic = true;
        r
    } else {
        return h;
    };
    if !monotonic && rest.first() != Some(&b' ') {
        // Not a header after all (`Oct 21 06:06:58x`): keep the stamp, message follows it.
        h.msg = rest;
        return h;
    }
    let rest = skip_spaces(rest);
    let (first, after_first) = token(rest);
    if let Some((prog, pid)) = tag(first) {
        // No host field (local logs with the hostname suppressed).
        h.prog = Some(prog);
        h.pid = pid;
        h.msg = after_first;
    } else {
        h.host = (!first.is_empty()).then_some(first);
        let (second, after_second) = token(after_first);
        if let Some((prog, pid)) = tag(second) {
            h.prog = Some(prog);
            h.pid = pid;
            h.msg = after_second;
        } else {
            h.msg = after_first;
        }
    }
    if let Some(r) = strip_uptime(h.msg) {
        h.msg = r;
    }
    h
}
