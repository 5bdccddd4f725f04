//! Juniper NetScreen / ScreenOS traffic logs (`NetScreen device_id=... [Root]system-notification-
//! 00257(traffic): key=value ...`), one line per session.
//!
//! The body is `key=value` pairs, but not cleanly: some keys are two words (`src zone=Trust`,
//! `src-xlated ip=1.2.3.4 port=5`), `service=` may hold spaces (`msrpc Endpoint Mapper(tcp)`) and
//! `start_time="..."` is quoted. So tokens are read left to right and only the exact keys we need
//! are taken; a bare `port=` (the NAT port after `src-xlated ip=`) never overrides `src_port=`.

use crate::event::{Action, Event, Proto};
use crate::parse::bytes::{field, ip, port, uint};
use crate::parse::{Ctx, Outcome, syslog};
use memchr::memmem;

pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let Some(at) = memmem::find(line, b"NetScreen device_id=") else {
        return Outcome::Skipped("netscreen: no NetScreen device_id=");
    };
    let rest = &line[at..];
    let Some(t) = memmem::find(rest, b"(traffic):") else {
        return Outcome::Skipped("netscreen: not a traffic log");
    };
    let body = &rest[t + b"(traffic):".len()..];

    let (mut src, mut dst, mut spt, mut dpt, mut proto) = (None, None, None, None, None);
    let (mut action, mut sent, mut rcvd, mut policy, mut start) = (None, None, None, None, None);
    let mut s = body;
    while !s.is_empty() {
        let end = memchr::memchr(b' ', s).unwrap_or(s.len());
        let tok = &s[..end];
        let mut next = &s[(end + 1).min(s.len())..];
        if let Some(eq) = memchr::memchr(b'=', tok) {
            let (k, mut v) = (&tok[..eq], &tok[eq + 1..]);
            if v.first() == Some(&b'"') {
                // Quoted value: runs to the next quote, spaces included.
                let from = at_offset(body, v) + 1;
                let q = memchr::memchr(b'"', &body[from..]).map_or(body.len(), |q| from + q);
                v = &body[from..q];
                next = &body[(q + 1).min(body.len())..];
            }
            match k {
                b"src" => src = Some(v),
                b"dst" => dst = Some(v),
                b"src_port" => spt = Some(v),
                b"dst_port" => dpt = Some(v),
                b"proto" => proto = Some(v),
                b"action" => action = Some(v),
                b"sent" => sent = Some(v),
                b"rcvd" => rcvd = Some(v),
                b"policy_id" => policy = Some(v),
                b"start_time" => start = Some(v),
                _ => {}
            }
        }
        s = next;
    }
    let (Some(src), Some(dst)) = (src, dst) else {
        return Outcome::Error("netscreen: traffic log without src= and dst=");
    };
    let (Some(src), Some(dst)) = (ip(src), ip(dst)) else {
        return Outcome::Error("netscreen: bad src= or dst= address");
    };
    let proto = proto.and_then(Proto::from_name);
    let ports = proto.is_some_and(Proto::has_ports);
    let bytes = match (sent.and_then(uint), rcvd.and_then(uint)) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    };
    let h = syslog::split(line, ctx);
    Outcome::Event(Event {
        // The syslog stamp (when the session was logged); the device's local start_time only
        // when there is no header (it carries no zone: taken as UTC).
        ts: h
            .ts
            .or_else(|| start.and_then(|s| crate::time::parse_rfc3339(s).map(|t| t.0))),
        src_ip: Some(src),
        dst_ip: Some(dst),
        src_port: spt.and_then(port).filter(|_| ports),
        dst_port: dpt.and_then(port).filter(|_| ports),
        proto,
        action: action.and_then(|a| match a {
            b"Permit" | b"permit" | b"Tunnel" | b"tunnel" => Some(Action::Allow),
            b"Deny" | b"deny" | b"Reject" | b"reject" => Some(Action::Deny),
            _ => None,
        }),
        bytes,
        rule: policy.and_then(field),
        ..Event::default()
    })
}

/// Offset of sub-slice `v` inside `base` (both from the same line).
fn at_offset(base: &[u8], v: &[u8]) -> usize {
    (v.as_ptr() as usize).saturating_sub(base.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testutil;
    use crate::parse::testutil::{a, ctx};
    use crate::time::civil_to_micros;

    /// Written from the ScreenOS "Message Log Reference" traffic-log layout (RFC 5737 addresses).
    const FIXTURES: &[&str] = &[
        "Feb 10 08:00:05 ssg-edge ssg5: NetScreen device_id=ssg5  [Root]system-notification-00257(traffic): start_time=\"2025-02-10 07:59:41\" duration=24 policy_id=7 service=http proto=6 src zone=Trust dst zone=Untrust action=Permit sent=1520 rcvd=40210 src=192.0.2.15 dst=198.51.100.80 src_port=49152 dst_port=80 src-xlated ip=203.0.113.2 port=1025 dst-xlated ip=198.51.100.80 port=80 session_id=9001 reason=Close - TCP FIN",
        "NetScreen device_id=ns-lab [Root]system-notification-00257(traffic): start_time=\"2025-02-10 07:59:41\" duration=0 policy_id=320001 service=icmp proto=1 src zone=Untrust dst zone=self action=Deny sent=0 rcvd=84 src=198.51.100.9 dst=203.0.113.2 icmp type=8 session_id=0",
        "NetScreen device_id=ns-lab [Root]system-notification-00257(traffic): duration=0 policy_id=12 service=msrpc Endpoint Mapper(tcp) proto=17 src zone=Trust dst zone=DMZ action=Reject sent=60 rcvd=0 src=192.0.2.15 dst=192.0.2.200 src_port=5000 dst_port=135",
    ];

    fn ev(line: &str) -> Event<'_> {
        testutil::event(parse(line.as_bytes(), &ctx()), line)
    }

    #[test]
    fn permit_with_nat_exact() {
        assert_eq!(
            ev(FIXTURES[0]),
            Event {
                ts: civil_to_micros(2026, 2, 10, 8, 0, 5, 0),
                src_ip: a("192.0.2.15"),
                dst_ip: a("198.51.100.80"),
                src_port: Some(49152),
                dst_port: Some(80),
                proto: Some(Proto::TCP),
                action: Some(Action::Allow),
                bytes: Some(41730),
                rule: Some("7"),
                ..Event::default()
            }
        );
    }

    #[test]
    fn deny_icmp_and_reject() {
        let e = ev(FIXTURES[1]);
        assert_eq!(
            (e.ts, e.proto, e.src_port, e.dst_port, e.action, e.bytes),
            (
                civil_to_micros(2025, 2, 10, 7, 59, 41, 0),
                Some(Proto::ICMP),
                None,
                None,
                Some(Action::Deny),
                Some(84)
            )
        );
        let e = ev(FIXTURES[2]);
        assert_eq!(
            (e.src_ip, e.dst_ip, e.src_port, e.dst_port, e.proto),
            (
                a("192.0.2.15"),
                a("192.0.2.200"),
                Some(5000),
                Some(135),
                Some(Proto::UDP)
            )
        );
        assert_eq!(
            (e.action, e.ts, e.bytes),
            (Some(Action::Deny), None, Some(60))
        );
    }

    #[test]
    fn skips_and_errors() {
        let p = |s: &'static str| parse(s.as_bytes(), &ctx());
        assert!(matches!(
            p("NetScreen device_id=x [Root]system-information-00536: IKE 198.51.100.1 Phase 2"),
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            p("src=1.1.1.1 dst=2.2.2.2 action=Permit"),
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            p(
                "NetScreen device_id=x [Root]system-notification-00257(traffic): action=Permit src=bad dst=1.1.1.1"
            ),
            Outcome::Error(_)
        ));
    }

    #[test]
    fn never_panics() {
        crate::parse::asa::hammer(parse, FIXTURES);
    }
}
