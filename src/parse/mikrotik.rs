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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testutil;
    use crate::parse::testutil::{a, ctx};
    use crate::time::civil_to_micros;

    /// Written from the RouterOS firewall `log=yes` line layout (RFC 5737 / 3849 addresses).
    const FIXTURES: &[&str] = &[
        "Jan 20 10:11:12 rb4011 firewall,info BLOCK-SSH input: in:ether1-gw out:(unknown 0), connection-state:new src-mac 02:00:00:aa:bb:cc, proto TCP (SYN), 198.51.100.44:51000->203.0.113.1:22, len 60",
        "2025-01-20T10:11:12.500000+01:00 rb firewall,info forward: in:bridge-lan out:ether1-gw, connection-state:new src-mac 02:00:00:11:22:33, proto UDP, 192.0.2.10:40000->198.51.100.53:53, NAT (192.0.2.10:40000->203.0.113.1:40000)->198.51.100.53:53, len 71",
        "firewall,info accept-ping input: in:ether1-gw out:(unknown 0), src-mac 02:00:00:aa:bb:cc, proto ICMP (type 8, code 0), 198.51.100.44->203.0.113.1, len 84",
        "firewall,info output: in:(unknown 0) out:ether1-gw, connection-state:new proto TCP (SYN), [2001:db8::1]:443->[2001:db8::2]:50000, len 80",
        "Jan 20 10:11:12 rb4011 system,error,critical login failure for user admin from 198.51.100.44 via ssh",
    ];

    fn ev(line: &str) -> Event<'_> {
        testutil::event(parse(line.as_bytes(), &ctx()), line)
    }

    #[test]
    fn drop_prefix_exact() {
        assert_eq!(
            ev(FIXTURES[0]),
            Event {
                ts: civil_to_micros(2026, 1, 20, 10, 11, 12, 0),
                src_ip: a("198.51.100.44"),
                dst_ip: a("203.0.113.1"),
                src_port: Some(51000),
                dst_port: Some(22),
                proto: Some(Proto::TCP),
                action: Some(Action::Deny),
                direction: Some(Direction::In),
                iface: Some("ether1-gw"),
                bytes: Some(60),
                packets: Some(1),
                rule: Some("BLOCK-SSH"),
                ..Event::default()
            }
        );
    }

    #[test]
    fn forward_with_nat_keeps_original_pair() {
        let e = ev(FIXTURES[1]);
        assert_eq!(
            (e.src_ip, e.dst_ip, e.src_port, e.dst_port, e.proto),
            (
                a("192.0.2.10"),
                a("198.51.100.53"),
                Some(40000),
                Some(53),
                Some(Proto::UDP)
            )
        );
        assert_eq!(
            (e.ts, e.action, e.direction, e.iface, e.bytes, e.rule),
            (
                civil_to_micros(2025, 1, 20, 9, 11, 12, 500_000),
                None,
                None,
                Some("bridge-lan"),
                Some(71),
                Some("forward")
            )
        );
    }

    #[test]
    fn icmp_ipv6_and_login_failure() {
        let e = ev(FIXTURES[2]);
        assert_eq!(
            (
                e.src_ip, e.dst_ip, e.src_port, e.dst_port, e.proto, e.action, e.bytes
            ),
            (
                a("198.51.100.44"),
                a("203.0.113.1"),
                None,
                None,
                Some(Proto::ICMP),
                Some(Action::Allow),
                Some(84)
            )
        );
        let e = ev(FIXTURES[3]);
        assert_eq!(
            (
                e.src_ip,
                e.dst_ip,
                e.src_port,
                e.dst_port,
                e.direction,
                e.iface
            ),
            (
                a("2001:db8::1"),
                a("2001:db8::2"),
                Some(443),
                Some(50000),
                Some(Direction::Out),
                Some("ether1-gw")
            )
        );
        assert_eq!(
            ev(FIXTURES[4]),
            Event {
                ts: civil_to_micros(2026, 1, 20, 10, 11, 12, 0),
                src_ip: a("198.51.100.44"),
                action: Some(Action::Deny),
                signature: Some("login failure"),
                ..Event::default()
            }
        );
    }

    #[test]
    fn skips_other_lines() {
        let p = |s: &'static str| parse(s.as_bytes(), &ctx());
        assert!(matches!(
            p("system,info user admin logged in from 192.0.2.1 via ssh"),
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            p("Jun  8 14:34:33 h kernel: IN=eth0 OUT= SRC=1.1.1.1 DST=2.2.2.2 PROTO=TCP"),
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            p("input: in:ether1 out:(unknown 0), proto TCP (SYN), bad->203.0.113.1:22, len 60"),
            Outcome::Error(_)
        ));
    }

    #[test]
    fn never_panics() {
        crate::parse::asa::hammer(parse, FIXTURES);
    }
}
