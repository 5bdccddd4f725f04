//! pfSense / OPNsense `filterlog` CSV lines (syslog program `filterlog` or `filterlog[pid]`).
//!
//! Layout (Netgate "Raw Filter Log Format"): common columns
//! `rule, subrule, anchor, tracker, iface, reason, action, dir, ipver`, then for IPv4
//! `tos, ecn, ttl, id, offset, flags, protonum, protoname, length, src, dst` and for IPv6
//! `class, flowlabel, hoplimit, protoname, protonum, length, src, dst`; TCP and UDP continue with
//! `srcport, dstport, datalen, ...`; TCP then has `tcpflags` (letters `SAFRPUEW`), `seq`, `ack`,
//! `window`, `urg`, `options`. Columns are read by index from a fixed array, no allocation.

use crate::event::{Action, Direction, Event, Proto, TcpFlags};
use crate::parse::bytes::{field, ip, port, uint};
use crate::parse::{Ctx, Outcome, syslog};

/// Columns we ever look at: the IPv4 TCP/UDP ports end at index 21.
const MAX_COLS: usize = 24;

/// Parses one filterlog line.
pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let h = syslog::split(line, ctx);
    let msg = match h.prog {
        Some(b"filterlog") => h.msg,
        // Bare CSV without a header (`filterlog: ` stripped by a relay): not claimed, because
        // a comma-separated line is far too generic to recognise on its own.
        _ => match memchr::memmem::find(h.msg, b"filterlog: ") {
            Some(i) => &h.msg[i + 11..],
            None => return Outcome::Skipped("filterlog: not a filterlog line"),
        },
    };
    let mut cols: [&[u8]; MAX_COLS] = [&[]; MAX_COLS];
    let mut n = 0;
    for c in msg.split(|&b| b == b',').take(MAX_COLS) {
        cols[n] = c;
        n += 1;
    }
    if n < 9 {
        return Outcome::Error("filterlog: too few columns");
    }
    let c = |i: usize| if i < n { cols[i] } else { &[][..] };

    let action = match c(6) {
        b"pass" => Some(Action::Allow),
        b"block" | b"reject" => Some(Action::Deny),
        _ => None,
    };
    let direction = match c(7) {
        b"in" => Some(Direction::In),
        b"out" => Some(Direction::Out),
        _ => None,
    };
    // (protonum, protoname, length, src, dst, first protocol column)
    let (pnum, pname, len, src, dst, next) = match c(8) {
        b"4" => (c(15), c(16), c(17), c(18), c(19), 20),
        b"6" => (c(13), c(12), c(14), c(15), c(16), 17),
        _ => return Outcome::Error("filterlog: unknown IP version"),
    };
    let Some(src_ip) = ip(src) else {
        return Outcome::Error("filterlog: bad source address");
    };
    let Some(dst_ip) = ip(dst) else {
        return Outcome::Error("filterlog: bad destination address");
    };
    let proto = Proto::from_name(pnum).or_else(|| Proto::from_name(pname));
    let (src_port, dst_port) = if proto.is_some_and(Proto::has_ports) {
        (port(c(next)), port(c(next + 1)))
    } else {
        (None, None)
    };
    let tcp_flags = if proto == Some(Proto::TCP) {
        flags(c(next + 3))
    } else {
        TcpFlags::default()
    };
    Outcome::Event(Event {
        ts: h.ts,
        src_ip: Some(src_ip),
        dst_ip: Some(dst_ip),
        src_port,
        dst_port,
        proto,
        action,
        direction,
        iface: field(c(4)),
        bytes: uint(len),
        packets: Some(1),
        // The tracker is the stable per-rule id (survives rule reordering; OPNsense's is a
        // hash); the rule number is only its position in the loaded ruleset.
        rule: field(c(3)).or_else(|| field(c(0))),
        dns_qtype: None,
        dns_qname: None,
        signature: None,
        severity: None,
        tcp_flags,
    })
}

/// The `tcpflags` column: `S`, `SA`, `PA`, `FA`, `R`... (`E`/`W` are ECN: not kept).
fn flags(col: &[u8]) -> TcpFlags {
    let mut f = TcpFlags::default();
    // A real column is at most 8 letters; anything longer is not this column.
    if col.len() > 8 {
        return f;
    }
    for &b in col {
        f |= match b {
            b'S' => TcpFlags::SYN,
            b'A' => TcpFlags::ACK,
            b'F' => TcpFlags::FIN,
            b'R' => TcpFlags::RST,
            b'P' => TcpFlags::PSH,
            b'U' => TcpFlags::URG,
            _ => TcpFlags::default(),
        };
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testutil;
    use crate::parse::testutil::{a, ctx};
    use crate::time::civil_to_micros;

    fn ev(line: &str) -> Event<'_> {
        testutil::event(parse(line.as_bytes(), &ctx()), line)
    }

    #[test]
    fn ipv4_tcp_exact() {
        let e = ev(
            "Sep 28 10:38:09 fw filterlog: 53,,,1000000301,em0,match,block,in,4,0x0,,64,420,0,none,6,tcp,460,10.0.9.2,10.0.9.15,53742,22,420,PA,29633380:29633800,3617062173,65535,,",
        );
        assert_eq!(
            e,
            Event {
                ts: civil_to_micros(2026, 9, 28, 10, 38, 9, 0),
                src_ip: a("10.0.9.2"),
                dst_ip: a("10.0.9.15"),
                src_port: Some(53742),
                dst_port: Some(22),
                proto: Some(Proto::TCP),
                action: Some(Action::Deny),
                direction: Some(Direction::In),
                iface: Some("em0"),
                bytes: Some(460),
                packets: Some(1),
                rule: Some("1000000301"),
                dns_qtype: None,
                dns_qname: None,
                signature: None,
                severity: None,
                tcp_flags: TcpFlags::PSH | TcpFlags::ACK,
            }
        );
    }

    #[test]
    fn rfc5424_ipv6_udp_pass() {
        let e = ev(
            "<134>1 2022-09-06T19:00:06+02:00 opn filterlog 57126 - [meta sequenceId=\"9\"] 98,,,abc123,re0,match,pass,out,6,0x00,0x0ea87,51,udp,17,73,2001:db8::5,2001:db8::1738,6881,51918,73",
        );
        assert_eq!(e.ts, civil_to_micros(2022, 9, 6, 17, 0, 6, 0));
        assert_eq!(
            (e.src_ip, e.dst_ip),
            (a("2001:db8::5"), a("2001:db8::1738"))
        );
        assert_eq!(
            (e.src_port, e.dst_port, e.proto),
            (Some(6881), Some(51918), Some(Proto::UDP))
        );
        assert_eq!(
            (e.action, e.direction, e.bytes, e.rule),
            (
                Some(Action::Allow),
                Some(Direction::Out),
                Some(73),
                Some("abc123")
            )
        );
    }

    #[test]
    fn tcp_flags_column() {
        let e = ev(
            "Oct  1 01:02:03 fw filterlog: 5,,,1000000103,igb0,match,block,in,6,0x00,0x00000,64,tcp,6,60,2001:db8::1,2001:db8::2,51000,443,0,S,123,,64800,,mss;sackOK",
        );
        assert_eq!((e.proto, e.tcp_flags), (Some(Proto::TCP), TcpFlags::SYN));
        let e = ev(
            "Nov 24 03:40:01 pfSense filterlog: 5,,,1000000103,igb0,match,pass,in,4,0x0,,64,1,0,DF,6,tcp,60,198.51.1.2,10.0.3.4,40000,22,0,SA,1,2,64240,,mss",
        );
        assert_eq!(e.tcp_flags, TcpFlags::SYN | TcpFlags::ACK);
        // UDP: the column after datalen is not flags.
        let e = ev(
            "Oct  1 01:02:03 fw filterlog: 98,,,abc123,re0,match,pass,out,6,0x00,0x0ea87,51,udp,17,73,2001:db8::5,2001:db8::1738,6881,51918,73,S",
        );
        assert_eq!(e.tcp_flags, TcpFlags::default());
        assert_eq!(flags(b"FPUSARE"), TcpFlags(0x3f));
        assert_eq!(flags(b"SSSSSSSSS"), TcpFlags::default());
    }

    #[test]
    fn icmp_carp_reject_and_rule_fallback() {
        let e = ev(
            "Oct  1 01:02:03 fw filterlog[4242]: 7,,,,igb1,match,reject,in,4,0x0,,64,0,0,none,1,icmp,84,192.0.2.1,192.0.2.2,request,13,1",
        );
        assert_eq!(
            (e.proto, e.src_port, e.action, e.rule),
            (Some(Proto::ICMP), None, Some(Action::Deny), Some("7"))
        );
        let e = ev(
            "Oct  1 01:02:03 fw filterlog: 9,,,1000,em1,match,pass,out,4,0x10,,255,1,0,none,112,carp,56,192.0.2.3,224.0.0.18,advertise,1,1,0,1,",
        );
        assert_eq!(
            (e.proto, e.src_port, e.bytes),
            (Some(Proto(112)), None, Some(56))
        );
        let e = ev(
            "Oct  1 01:02:03 fw filterlog: 9,,,1000,em1,match,pass,out,6,0x00,0x00000,1,ICMPv6,58,32,fe80::1,ff02::16,",
        );
        assert_eq!((e.proto, e.dst_ip), (Some(Proto::ICMPV6), a("ff02::16")));
    }

    #[test]
    fn skipped_and_errors() {
        let p = |s: &'static str| parse(s.as_bytes(), &ctx());
        assert_eq!(
            p("Oct  1 01:02:03 fw sshd[1]: hello"),
            Outcome::Skipped("filterlog: not a filterlog line")
        );
        assert_eq!(
            p("Oct  1 01:02:03 fw filterlog: 1,2,3"),
            Outcome::Error("filterlog: too few columns")
        );
        assert_eq!(
            p("Oct  1 01:02:03 fw filterlog: 1,,,,em0,match,pass,in,5,"),
            Outcome::Error("filterlog: unknown IP version")
        );
        assert_eq!(
            p(
                "Oct  1 01:02:03 fw filterlog: 1,,,,em0,match,pass,in,4,0x0,,64,1,0,none,6,tcp,40,10.0.0,10.0.0.2,1,2"
            ),
            Outcome::Error("filterlog: bad source address")
        );
    }
}
