//! MikroTik RouterOS firewall log lines (`[topics] [prefix] chain: in:X out:Y, ..., proto P,
//! A:p->B:q, [NAT ...,] len N`), plus RouterOS login failures.
//!
//! RouterOS prints no verdict: the admin's `log-prefix` (or a custom chain name) is the only hint,
//! so the default iptables verdict words decide (`drop-in` is a deny). The first `A->B` pair is
//! the packet as it arrived; a `NAT (...)` part after it is the translation and is ignored.

use std::net::IpAddr;

use memchr::memmem;

use crate::event::{Action, Direction, Event, Proto};
use crate::parse::bytes::{field, ip, port, trim, uint};
use crate::parse::{Ctx, Outcome, VerdictWords, syslog};

/// `host:port`, `[v6]:port`, or a bare address (protocols without ports).
fn endpoint(s: &[u8], ports: bool) -> Option<(IpAddr, Option<u16>)> {
    if let Some(r) = s.strip_prefix(b"[") {
        let close = memchr::memchr(b']', r)?;
        let p = r[close + 1..].strip_prefix(b":").and_then(port);
        return Some((ip(&r[..close])?, p));
    }
    if !ports {
        if let Some(a) = ip(s) {
            return Some((a, None));
        }
    }
    let c = memchr::memrchr(b':', s)?;
    Some((ip(&s[..c])?, port(&s[c + 1..])))
}

/// `login failure for user U from IP via SERVICE`: an authentication failure from an address,
/// reported as a denied event (what a SOC wall counts for brute-force sources).
fn login_failure<'a>(msg: &'a [u8], ts: Option<i64>) -> Option<Event<'a>> {
    let at = memmem::find(msg, b"login failure for user ")?;
    let rest = &msg[at..];
    let f = memmem::rfind(rest, b" from ")? + 6;
    let after = &rest[f..];
    let end = memchr::memchr(b' ', after).unwrap_or(after.len());
    if !after[end..].starts_with(b" via ") {
        return None;
    }
    Some(Event {
        ts,
        src_ip: Some(ip(&after[..end])?),
        action: Some(Action::Deny),
        signature: Some("login failure"),
        ..Event::default()
    })
}

pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let h = syslog::split(line, ctx);
    let msg = h.msg;
    let Some(inp) = memmem::find(msg, b": in:") else {
        // Not a firewall line; RouterOS's own `system,error,critical` login failure is the one
        // other security event read (it needs the topic list, so no other format matches).
        if memmem::find(msg, b"system,").is_some() {
            if let Some(e) = login_failure(msg, h.ts) {
                return Outcome::Event(e);
            }
        }
        return Outcome::Skipped("mikrotik: no `chain: in:` firewall part");
    };
    let after = &msg[inp + 2..];
    if memmem::find(after, b" out:").is_none() || memmem::find(after, b" proto ").is_none() {
        return Outcome::Skipped("mikrotik: no out:/proto in the firewall part");
    }
    // Head: `[topics] [prefix words] chain`.
    let head = trim(&msg[..inp]);
    let (head, chain) = match memchr::memrchr(b' ', head) {
        Some(i) => (trim(&head[..i]), &head[i + 1..]),
        None => (&head[..0], head),
    };
    // Drop the topic list (`firewall,info`) that remote logging puts first.
    let prefix = match head.split(|&b| b == b' ').next() {
        Some(t) if memmem::find(t, b"firewall").is_some() => trim(&head[t.len()..]),
        _ => head,
    };

    // Comma-separated parts after `chain: `.
    let (mut iface_in, mut iface_out, mut proto_s, mut pair, mut len) =
        (None, None, None, None, None);
    for part in after.split(|&b| b == b',') {
        let part = trim(part);
        for kv in part.split(|&b| b == b' ') {
            if let Some(v) = kv.strip_prefix(b"in:") {
                iface_in = Some(v);
            } else if let Some(v) = kv.strip_prefix(b"out:") {
                iface_out = Some(v);
            }
        }
        // `proto` usually starts its part, but follows `connection-state:new` when there is no
        // `src-mac` part in between.
        let proto_at = if part.starts_with(b"proto ") {
            Some(0)
        } else {
            memmem::find(part, b" proto ").map(|i| i + 1)
        };
        if let Some(at) = proto_at.filter(|_| proto_s.is_none()) {
            proto_s = Some(&part[at + 6..]);
        } else if let Some(l) = part.strip_prefix(b"len ") {
            len = uint(trim(l));
        } else if pair.is_none() && memmem::find(part, b"->").is_some() && !part.starts_with(b"NAT")
        {
            pair = Some(part);
        }
    }
    // `TCP (SYN)`, `ICMP (type 8, code 0)` (the comma inside split it; the name comes first).
    let proto = proto_s.and_then(|p| {
        let end = memchr::memchr2(b' ', b'(', p).unwrap_or(p.len());
        Proto::from_name(&p[..end])
    });
    let ports = proto.is_some_and(Proto::has_ports);
    let Some(pair) = pair else {
        return Outcome::Error("mikrotik: no src->dst addresses");
    };
    let arrow = memmem::find(pair, b"->").unwrap_or(0);
    let (Some(src), Some(dst)) = (
        endpoint(&pair[..arrow], ports),
        endpoint(&pair[arrow + 2..], ports),
    ) else {
        return Outcome::Error("mikrotik: bad src->dst addresses");
    };
    let known = |v: Option<&'a [u8]>| v.filter(|v| !v.is_empty() && !v.starts_with(b"(unknown"));
    let (iface_in, iface_out) = (known(iface_in), known(iface_out));
    let verdicts = VerdictWords::default_static();
    Outcome::Event(Event {
        ts: h.ts,
        src_ip: Some(src.0),
        dst_ip: Some(dst.0),
        src_port: src.1.filter(|_| ports),
        dst_port: dst.1.filter(|_| ports),
        proto,
        action: verdicts.verdict(prefix).or_else(|| verdicts.verdict(chain)),
        direction: match (iface_in, iface_out) {
            (Some(_), None) => Some(Direction::In),
            (None, Some(_)) => Some(Direction::Out),
            _ => None,
        },
        iface: iface_in.or(iface_out).and_then(field),
        bytes: len,
        packets: Some(1),
        rule: field(prefix).or_else(|| field(chain)),
        ..Event::default()
    })
}
