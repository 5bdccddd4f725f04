//! Syslog header splitting shared by the parsers: timestamp, host, program tag, message.
//!
//! Accepts RFC 3164 (`Oct 21 06:06:58 host prog[pid]: msg`), an optional `<PRI>` prefix,
//! RFC 5424 (`<134>1 2023-10-21T06:06:58Z host app pid msgid [sd] msg`), ISO 8601 stamps in place
//! of the BSD date (rsyslog high precision, journald `short-iso`), journald `short-monotonic`
//! (`[ 1234.5] host prog: msg`), a kernel `[50028442.088484]` uptime stamp in the message, and
//! lines with no header at all (the whole line is the message). It is a single forward pass over
//! the first few tokens; nothing is allocated and nothing is validated beyond what is needed to
//! find the message.

use crate::event::Micros;
use crate::parse::Ctx;

/// The pieces of a syslog line. Every slice borrows from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header<'a> {
    /// Time from the header (BSD dates get their year from the context).
    pub ts: Option<Micros>,
    pub host: Option<&'a [u8]>,
    /// Program tag without pid or colon: `kernel`, `pf`, `filterlog`.
    pub prog: Option<&'a [u8]>,
    pub pid: Option<&'a [u8]>,
    /// Everything after the header (and after a kernel uptime stamp).
    pub msg: &'a [u8],
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::civil_to_micros;

    fn ctx() -> Ctx {
        Ctx::new(civil_to_micros(2026, 6, 1, 0, 0, 0, 0).unwrap())
    }

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> Option<Micros> {
        civil_to_micros(y, mo, d, h, mi, s, us)
    }

    #[test]
    fn rfc3164_with_kernel_uptime() {
        let h = split(
            b"Jun  8 14:34:33 sd-126005 kernel: [50028442.088484] IN=enp1s0 OUT=",
            &ctx(),
        );
        assert_eq!(
            h.ts,
            // June 8 would lie after "now" (June 1): previous year.
            t(2025, 6, 8, 14, 34, 33, 0)
        );
        assert_eq!(h.host, Some(&b"sd-126005"[..]));
        assert_eq!(h.prog, Some(&b"kernel"[..]));
        assert_eq!(h.msg, b"IN=enp1s0 OUT=");
    }

    #[test]
    fn padded_uptime_pid_and_pri() {
        let h = split(
            b"<4>Sep 27 20:56:38 ubuntu kernel: [  203.842973] X: IN=lo",
            &ctx(),
        );
        assert_eq!(h.ts, t(2025, 9, 27, 20, 56, 38, 0));
        assert_eq!(h.msg, b"X: IN=lo");
        let h = split(b"Oct 21 06:06:58 fw filterlog[123]: 5,,,", &ctx());
        assert_eq!(
            (h.prog, h.pid),
            (Some(&b"filterlog"[..]), Some(&b"123"[..]))
        );
        assert_eq!(h.msg, b"5,,,");
    }

    #[test]
    fn no_tag_keeps_message_after_host() {
        let h = split(
            b"May 28 17:31:07 server Shorewall:net2fw:DROP:IN=eth1 OUT=",
            &ctx(),
        );
        assert_eq!(h.host, Some(&b"server"[..]));
        assert_eq!(h.prog, None);
        assert_eq!(h.msg, b"Shorewall:net2fw:DROP:IN=eth1 OUT=");
        let h = split(b"Oct 21 06:06:58 kernel: hello", &ctx());
        assert_eq!(
            (h.host, h.prog, h.msg),
            (None, Some(&b"kernel"[..]), &b"hello"[..])
        );
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let h = split(
            b"<134>1 2022-09-06T18:37:34+02:00 opnsense filterlog 69805 - [meta sequenceId=\"2633353\"] 10,,,x",
            &ctx(),
        );
        assert_eq!(h.ts, t(2022, 9, 6, 16, 37, 34, 0));
        assert_eq!(h.host, Some(&b"opnsense"[..]));
        assert_eq!(h.prog, Some(&b"filterlog"[..]));
        assert_eq!(h.pid, Some(&b"69805"[..]));
        assert_eq!(h.msg, b"10,,,x");
        let h = split(
            b"<134>1 2023-10-21T06:06:58Z host app - - - msg here",
            &ctx(),
        );
        assert_eq!(
            (h.prog, h.pid, h.msg),
            (Some(&b"app"[..]), None, &b"msg here"[..])
        );
        let h = split(b"<134>1 - - - - - [a x=\"q]\\\"\"][b] m", &ctx());
        assert_eq!((h.ts, h.msg), (None, &b"m"[..]));
    }

    #[test]
    fn iso_and_journald_forms() {
        let h = split(b"2023-10-21T06:06:58.123456+02:00 fw kernel: IN=", &ctx());
        assert_eq!(h.ts, t(2023, 10, 21, 4, 6, 58, 123_456));
        assert_eq!((h.host, h.msg), (Some(&b"fw"[..]), &b"IN="[..]));
        let h = split(b"2023-10-21T06:06:58+0200 fw kernel: IN=", &ctx());
        assert_eq!(h.ts, t(2023, 10, 21, 4, 6, 58, 0));
        let h = split(b"[ 1234.567890] fw kernel: IN=x", &ctx());
        assert_eq!(
            (h.ts, h.prog, h.msg),
            (None, Some(&b"kernel"[..]), &b"IN=x"[..])
        );
    }

    #[test]
    fn bare_lines() {
        let h = split(b"0 3 PVEFW-HOST-IN 20/Jun/2022", &ctx());
        assert_eq!(
            h,
            Header {
                msg: b"0 3 PVEFW-HOST-IN 20/Jun/2022",
                ..Header::default()
            }
        );
        let h = split(b"<999>x", &ctx());
        assert_eq!(h.msg, b"<999>x");
        assert_eq!(split(b"", &ctx()).msg, b"");
    }
}
