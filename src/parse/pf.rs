//! OpenBSD pf log lines as `tcpdump -n -e -ttt -r /var/log/pflog` prints them, bare or wrapped in
//! syslog (`host pf: ...`, as pflogd-to-syslog setups do).
//!
//! Shape: `[stamp] rule LABEL(REASON)[:] [[uid U, pid P]] ACTION DIR on IFACE: SRC > DST: DECODE`.
//! tcpdump's protocol decode is free text, so the protocol is inferred from how tcpdump prints
//! each one (TCP always starts with flags, DNS with a query id, ICMP with `icmp:`...).

use std::net::IpAddr;

use crate::event::{Action, Direction, Event, Micros, Proto, TcpFlags};
use crate::parse::bytes::{field, find_anchored, ip, port, uint};
use crate::parse::{Ctx, Outcome, syslog};

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    &s[n..]
}

/// (token, rest after the following spaces)
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b' ', s) {
        Some(i) => (&s[..i], skip_spaces(&s[i..])),
        None => (s, &[]),
    }
}

/// The tcpdump time stamp in front of `rule`, if any: BSD date (`-ttt` on OpenBSD), ISO 8601,
/// epoch seconds (`-tt`). A bare `HH:MM:SS.ffffff` (time of day, or a `-tttt` delta) carries no
/// date, so it is skipped and gives no time. Returns (time, rest).
fn stamp<'a>(s: &'a [u8], ctx: &Ctx) -> (Option<Micros>, &'a [u8]) {
    if let Some((d, n)) = crate::time::parse_bsd(s) {
        return (d.resolve(ctx.year, ctx.now), skip_spaces(&s[n..]));
    }
    if let Some((t, n)) = crate::time::parse_rfc3339(s) {
        return (Some(t), skip_spaces(&s[n..]));
    }
    let (tok, rest) = token(s);
    if let Some(dot) = memchr::memchr(b'.', tok) {
        let (secs, frac) = (&tok[..dot], &tok[dot + 1..]);
        if (9..=10).contains(&secs.len()) && (1..=6).contains(&frac.len()) {
            if let (Some(s), Some(f)) = (uint(secs), uint(frac)) {
                let scale = 10u64.pow(6 - frac.len() as u32);
                return (Some((s * 1_000_000 + f * scale) as Micros), rest);
            }
        }
        if secs.len() >= 5
            && secs.iter().all(|&b| b.is_ascii_digit() || b == b':')
            && uint(frac).is_some()
        {
            return (None, rest);
        }
    }
    (None, s)
}

/// `a.b.c.d.PORT`, `2001:db8::1.443`, or an address without port.
fn addr(tok: &[u8]) -> Option<(IpAddr, Option<u16>)> {
    if let Some(dot) = memchr::memrchr(b'.', tok) {
        let suffix = &tok[dot + 1..];
        if (1..=5).contains(&suffix.len()) {
            if let (Some(a), Some(p)) = (ip(&tok[..dot]), port(suffix)) {
                return Some((a, Some(p)));
            }
        }
    }
    ip(tok).map(|a| (a, None))
}

fn is_tcp_flags(tok: &[u8]) -> bool {
    let inner = tok
        .strip_prefix(b"[")
        .and_then(|t| t.strip_suffix(b"]"))
        .unwrap_or(tok);
    !inner.is_empty() && inner.len() <= 9 && inner.iter().all(|b| b"SFRPUEWC.".contains(b))
}

/// The flags of a TCP segment from tcpdump's two styles: `Flags [S.], seq ...` (newer; `.` is
/// ACK) and `S 123:123(0) ack 9 win ...` (older OpenBSD; `.` means "none of S/F/R/P" and ACK shows
/// as an `ack N` field). Only the short decode head is looked at; unknown letters are ignored.
fn tcp_flags(first: &[u8], rest: &[u8]) -> TcpFlags {
    let letters = |tok: &[u8], dot_is_ack: bool| {
        let mut f = TcpFlags::default();
        for &b in tok {
            f |= match b {
                b'S' => TcpFlags::SYN,
                b'F' => TcpFlags::FIN,
                b'R' => TcpFlags::RST,
                b'P' => TcpFlags::PSH,
                b'U' => TcpFlags::URG,
                b'.' if dot_is_ack => TcpFlags::ACK,
                _ => TcpFlags::default(),
            };
        }
        f
    };
    if first == b"Flags" {
        let (tok, _) = token(rest);
        let tok = tok.strip_suffix(b",").unwrap_or(tok);
        return match tok.strip_prefix(b"[").and_then(|t| t.strip_suffix(b"]")) {
            Some(inner) => letters(inner, true),
            None => TcpFlags::default(),
        };
    }
    let mut f = letters(first, false);
    // `ack N` comes within the first few fields (after `seq:seq(len)`), never far in.
    let head = &rest[..rest.len().min(48)];
    if head.starts_with(b"ack ") || find_anchored(head, b" ack ", 1).is_some() {
        f |= TcpFlags::ACK;
    }
    f
}

/// A DNS query id as tcpdump prints it: digits, then header flag marks (`+`, `*`, `-`, `%`, `|`,
/// `$`, `!`), optionally glued to a bracket group (`14698[|domain]`, `60676+[|domain]`).
fn is_dns_id(tok: &[u8]) -> bool {
    let digits = tok.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 5 {
        return false;
    }
    let mut rest = &tok[digits..];
    let marks = rest.iter().take_while(|b| b"+*-%|$!".contains(b)).count();
    rest = &rest[marks..];
    rest.is_empty() || rest.first() == Some(&b'[')
}

/// What tcpdump decoded after `SRC > DST: `.
struct Decode<'a> {
    proto: Option<Proto>,
    qtype: Option<&'a str>,
    qname: Option<&'a str>,
    flags: TcpFlags,
}

fn decode<'a>(d: &'a [u8], has_ports: bool, v6: bool) -> Decode<'a> {
    let mut out = Decode {
        proto: None,
        qtype: None,
        qname: None,
        flags: TcpFlags::default(),
    };
    let (first, rest) = token(d);
    let starts = |p: &[u8]| d.len() >= p.len() && d[..p.len()].eq_ignore_ascii_case(p);
    out.proto = if starts(b"icmp6") || starts(b"icmpv6") {
        Some(Proto::ICMPV6)
    } else if starts(b"icmp") {
        Some(if v6 { Proto::ICMPV6 } else { Proto::ICMP })
    } else if first == b"Flags" || is_tcp_flags(first) {
        out.flags = tcp_flags(first, rest);
        Some(Proto::TCP)
    } else if find_anchored(d, b"[|tcp]", 1).is_some() {
        Some(Proto::TCP)
    } else if is_dns_id(first) {
        // `ID [flags] QTYPE? name. (len)` or a truncated `[|domain]`: DNS, hence UDP (tcpdump
        // prints TCP segments with their flags first, so a leading id means UDP).
        let mut toks = rest.split(|&b| b == b' ').filter(|t| !t.is_empty()).take(8);
        while let Some(t) = toks.next() {
            if let Some(q) = t.strip_suffix(b"?") {
                if !q.is_empty() && q.len() <= 12 && q.iter().all(u8::is_ascii_alphanumeric) {
                    out.qtype = field(q);
                    out.qname = toks.next().and_then(|n| {
                        // `www.com.ar.` -> `www.com.ar`; the root `.` stays `.`.
                        let n = if n.len() > 1 {
                            n.strip_suffix(b".").unwrap_or(n)
                        } else {
                            n
                        };
                        field(n)
                    });
                }
                break;
            }
        }
        Some(Proto::UDP)
    } else if starts(b"udp") || starts(b"[|udp]") {
        Some(Proto::UDP)
    } else if starts(b"sctp") {
        Some(Proto::SCTP)
    } else if starts(b"esp") {
        Some(Proto::ESP)
    } else if starts(b"ah") {
        Some(Proto::AH)
    } else if starts(b"gre") {
        Some(Proto::GRE)
    } else if starts(b"igmp") {
        Some(Proto::IGMP)
    } else if starts(b"carp") || starts(b"vrrp") {
        Some(Proto(112))
    } else if starts(b"pim") {
        Some(Proto(103))
    } else if starts(b"ospf") {
        Some(Proto(89))
    } else if let Some(n) = first.strip_prefix(b"ip-proto-") {
        uint(n).and_then(|n| u8::try_from(n).ok()).map(Proto)
    } else if has_ports {
        // Any other decode with ports is a UDP application (NTP, SNMP, syslog...): tcpdump
        // never prints a TCP segment without its flags.
        Some(Proto::UDP)
    } else {
        None
    };
    out
}

/// The IP total length from a verbose IP header group `(tos 0x0, ttl 64, id 1, len 60)`.
fn ip_len(d: &[u8]) -> Option<u64> {
    let open = find_anchored(d, b"(tos ", 0).or_else(|| find_anchored(d, b"(ttl ", 0))?;
    let group = &d[open..];
    let group = &group[..memchr::memchr(b')', group)?];
    let at = find_anchored(group, b" len ", 1)? + 5;
    let n = group[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    uint(&group[at..at + n])
}

/// Parses one pf log line.
pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let (ts, body) = stamp(line, ctx);
    if let Some(b) = body.strip_prefix(b"rule ") {
        return rule(ts, b);
    }
    let h = syslog::split(line, ctx);
    // Another program's message that happens to start with "rule " is not ours.
    if h.prog
        .is_some_and(|p| !(p.starts_with(b"pf") || p == b"tcpdump"))
    {
        return Outcome::Skipped("pf: no rule label");
    }
    let (ts, body) = stamp(h.msg, ctx);
    match body.strip_prefix(b"rule ") {
        Some(b) => rule(ts.or(h.ts), b),
        None => Outcome::Skipped("pf: no rule label"),
    }
}

/// Everything after `rule `.
fn rule<'a>(ts: Option<Micros>, s: &'a [u8]) -> Outcome<'a> {
    const BAD: Outcome<'static> = Outcome::Error("pf: bad rule header");
    let (label_tok, mut rest) = token(s);
    // `57/0(match):`, `2/(match)`, `def/(match)`, `57.anchor.3/0(match)` -> `57/0`, `2`, `def`...
    let paren = memchr::memchr(b'(', label_tok).unwrap_or(label_tok.len());
    let mut label = &label_tok[..paren];
    if let Some(l) = label.strip_suffix(b"/") {
        label = l;
    }
    let Some(label) = field(label) else {
        return BAD;
    };
    if rest.first() == Some(&b'[') {
        // `[uid 0, pid 1234]`
        match memchr::memchr(b']', rest) {
            Some(i) => rest = skip_spaces(&rest[i + 1..]),
            None => return BAD,
        }
    }
    let (act, mut rest) = token(rest);
    let action = match act {
        b"pass" => Some(Action::Allow),
        b"block" => Some(Action::Deny),
        b"match" | b"scrub" | b"nat" | b"binat" | b"rdr" => None,
        _ => return BAD,
    };
    let mut direction = None;
    let (t, r) = token(rest);
    match t {
        b"in" => (direction, rest) = (Some(Direction::In), r),
        b"out" => (direction, rest) = (Some(Direction::Out), r),
        _ => {}
    }
    let Some(r) = rest.strip_prefix(b"on ") else {
        return BAD;
    };
    let (iface_tok, pkt) = token(skip_spaces(r));
    let Some(iface) = iface_tok.strip_suffix(b":").and_then(field) else {
        return BAD;
    };

    // Linux-style `IP `/`IP6 ` marker before the addresses.
    let mut pkt = pkt;
    for p in [&b"IP6 "[..], b"IP "] {
        if let Some(r) = pkt.strip_prefix(p) {
            pkt = r;
        }
    }
    let Some(gt) = find_anchored(pkt, b" > ", 1) else {
        return Outcome::Skipped("pf: no IP addresses");
    };
    let src_tok = &pkt[memchr::memrchr(b' ', &pkt[..gt]).map_or(0, |i| i + 1)..gt];
    let after = &pkt[gt + 3..];
    let (dst_tok, details) = match find_anchored(after, b": ", 0) {
        Some(i) => (&after[..i], &after[i + 2..]),
        None => {
            let (t, r) = token(after);
            (t.strip_suffix(b":").unwrap_or(t), r)
        }
    };
    let Some((src_ip, sport)) = addr(src_tok) else {
        return Outcome::Error("pf: bad source address");
    };
    let Some((dst_ip, dport)) = addr(dst_tok) else {
        return Outcome::Error("pf: bad destination address");
    };
    let d = decode(
        details,
        sport.is_some() && dport.is_some(),
        dst_ip.is_ipv6(),
    );
    let ports = d.proto.is_some_and(Proto::has_ports);
    Outcome::Event(Event {
        ts,
        src_ip: Some(src_ip),
        dst_ip: Some(dst_ip),
        src_port: if ports { sport } else { None },
        dst_port: if ports { dport } else { None },
        proto: d.proto,
        action,
        direction,
        iface: Some(iface),
        // Only the IP header's own length is the packet size; tcpdump's `length N`, `udp N` and
        // the DNS `(39)` are payload sizes, so without a verbose IP group bytes stay unknown.
        bytes: ip_len(pkt),
        packets: Some(1),
        rule: Some(label),
        dns_qtype: d.qtype,
        dns_qname: d.qname,
        signature: None,
        severity: None,
        tcp_flags: d.flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testutil::a;
    use crate::time::civil_to_micros;

    /// "Now" in 2002 so the BIND server's year-less dates land in October 2002.
    fn ctx2002() -> Ctx {
        Ctx::new(civil_to_micros(2002, 11, 1, 0, 0, 0, 0).unwrap())
    }

    fn ev_in(line: &str, ctx: &Ctx) -> Event<'static> {
        let line: &'static str = Box::leak(line.to_owned().into_boxed_str());
        match parse(line.as_bytes(), ctx) {
            Outcome::Event(e) => e,
            o => panic!("not an event: {o:?} for {line}"),
        }
    }

    fn ev(line: &str) -> Event<'static> {
        ev_in(line, &ctx2002())
    }

    fn seed(
        ts: (u32, u32, u32, u32, u32, u32),
        src: &str,
        sport: u16,
        dst: &str,
        rule: &'static str,
    ) -> Event<'static> {
        let (mo, d, h, mi, s, us) = ts;
        Event {
            ts: civil_to_micros(2002, mo, d, h, mi, s, us),
            src_ip: a(src),
            dst_ip: a(dst),
            src_port: Some(sport),
            dst_port: Some(53),
            proto: Some(Proto::UDP),
            action: Some(Action::Allow),
            direction: Some(Direction::In),
            iface: Some("xl1"),
            bytes: None,
            packets: Some(1),
            rule: Some(rule),
            dns_qtype: None,
            dns_qname: None,
            signature: None,
            severity: None,
            tcp_flags: TcpFlags::default(),
        }
    }

    #[test]
    fn seed_lines_exact() {
        assert_eq!(
            ev(
                "Oct 21 06:06:58.096785 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 61.215.160.253.53: 2520 [1au][|domain] (DF)"
            ),
            seed(
                (10, 21, 6, 6, 58, 96_785),
                "195.141.69.45",
                1030,
                "61.215.160.253",
                "57/0"
            )
        );
        assert_eq!(
            ev(
                "Oct 21 06:07:11.298946 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 204.123.2.19.53: 20792 [1au] MX? www.com.ar. (39) (DF)"
            ),
            Event {
                dns_qtype: Some("MX"),
                dns_qname: Some("www.com.ar"),
                ..seed(
                    (10, 21, 6, 7, 11, 298_946),
                    "195.141.69.45",
                    1030,
                    "204.123.2.19",
                    "57/0"
                )
            }
        );
        assert_eq!(
            ev(
                "Oct 21 06:20:00.844472 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 192.12.94.30.53: 29396 MX? about.com. (27) (DF)"
            ),
            Event {
                dns_qtype: Some("MX"),
                dns_qname: Some("about.com"),
                ..seed(
                    (10, 21, 6, 20, 0, 844_472),
                    "195.141.69.45",
                    1030,
                    "192.12.94.30",
                    "57/0"
                )
            }
        );
        assert_eq!(
            ev(
                "Oct 21 06:20:00.859900 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 205.151.222.254.53: 14698[|domain] (DF)"
            ),
            seed(
                (10, 21, 6, 20, 0, 859_900),
                "195.141.69.45",
                1030,
                "205.151.222.254",
                "57/0"
            )
        );
        assert_eq!(
            ev(
                "Oct 13 20:46:03.915405 rule 184/0(match): pass in on xl1: 195.141.69.42.63994 > 193.192.227.3.53: 60676+[|domain]"
            ),
            seed(
                (10, 13, 20, 46, 3, 915_405),
                "195.141.69.42",
                63994,
                "193.192.227.3",
                "184/0"
            )
        );
    }

    #[test]
    fn modern_block_tcp_old_and_new_flag_styles() {
        let c = Ctx::new(civil_to_micros(2026, 3, 1, 0, 0, 0, 0).unwrap());
        let e = ev_in(
            "Jan 14 10:15:01.123456 rule 2/(match) block in on em0: 198.51.100.7.51234 > 203.0.113.10.22: S 123:123(0) win 1024",
            &c,
        );
        assert_eq!(
            e,
            Event {
                ts: civil_to_micros(2026, 1, 14, 10, 15, 1, 123_456),
                src_ip: a("198.51.100.7"),
                dst_ip: a("203.0.113.10"),
                src_port: Some(51234),
                dst_port: Some(22),
                proto: Some(Proto::TCP),
                action: Some(Action::Deny),
                direction: Some(Direction::In),
                iface: Some("em0"),
                bytes: None,
                packets: Some(1),
                rule: Some("2"),
                dns_qtype: None,
                dns_qname: None,
                signature: None,
                severity: None,
                tcp_flags: TcpFlags::SYN,
            }
        );
        let e = ev_in(
            "Jan 14 10:15:01.123456 rule 3/(match) pass out on em1: 10.0.0.5.40000 > 10.0.0.9.443: Flags [S.], seq 1, win 1024, length 0",
            &c,
        );
        assert_eq!(e.tcp_flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(
            (e.proto, e.action, e.direction, e.iface),
            (
                Some(Proto::TCP),
                Some(Action::Allow),
                Some(Direction::Out),
                Some("em1")
            )
        );
        let e = ev_in(
            "Jan 14 10:15:01.123456 rule 3/(match) pass out on em1: 10.0.0.5.40000 > 10.0.0.9.443: P. 1:10(9) ack 1 win 512",
            &c,
        );
        assert_eq!((e.proto, e.dst_port), (Some(Proto::TCP), Some(443)));
        // Old style: `.` is "no S/F/R/P", the ACK is the `ack N` field.
        assert_eq!(e.tcp_flags, TcpFlags::PSH | TcpFlags::ACK);
        let e = ev_in(
            "Jan 14 10:15:01.123456 rule 3/(match) pass out on em1: 10.0.0.5.40000 > 10.0.0.9.443: [S] 1:1(0) win 1024",
            &c,
        );
        assert_eq!(e.proto, Some(Proto::TCP));
        assert_eq!(e.tcp_flags, TcpFlags::SYN);
        for (decode, want) in [
            (
                "Flags [R.], seq 0, ack 1, win 0, length 0",
                TcpFlags::RST | TcpFlags::ACK,
            ),
            (
                "Flags [F.], seq 9, ack 4, win 1, length 0",
                TcpFlags::FIN | TcpFlags::ACK,
            ),
            ("Flags [.], ack 1, win 1, length 0", TcpFlags::ACK),
            (
                "Flags [FPU], seq 1, win 1024, urg 0, length 0",
                TcpFlags(0x29),
            ),
            (
                "Flags [none], seq 1, win 1024, length 0",
                TcpFlags::default(),
            ),
            (". ack 1 win 512", TcpFlags::ACK),
            ("R 0:0(0) win 0", TcpFlags::RST),
            ("Flags [S]", TcpFlags::SYN),
        ] {
            let line = format!(
                "Jan 14 10:15:01.123456 rule 3/(match) block in on em0: 192.0.2.1.40000 > 10.0.0.9.443: {decode}"
            );
            let e = ev_in(&line, &c);
            assert_eq!((e.proto, e.tcp_flags), (Some(Proto::TCP), want), "{decode}");
        }
        // Not TCP: no flags.
        let e = ev_in(
            "Jan 14 10:15:01.123456 rule 3/(match) pass out on em1: 10.0.0.5.40000 > 10.0.0.9.53: 123+ A? x.org. (23)",
            &c,
        );
        assert_eq!(e.tcp_flags, TcpFlags::default());
    }

    #[test]
    fn syslog_wrapped_default_rule_uid_anchor() {
        let c = Ctx::new(civil_to_micros(2026, 3, 1, 0, 0, 0, 0).unwrap());
        let e = ev_in(
            "Jan 14 10:15:01 fw1 pf: Jan 14 10:15:01.123456 rule def/(match) block in on em0: 192.0.2.4.5353 > 192.0.2.5.53: udp 32",
            &c,
        );
        assert_eq!(e.ts, civil_to_micros(2026, 1, 14, 10, 15, 1, 123_456));
        assert_eq!(
            (e.rule, e.proto, e.dst_port, e.bytes),
            (Some("def"), Some(Proto::UDP), Some(53), None)
        );
        let e = ev_in(
            "Jan 14 10:15:02 fw1 pf: rule 57.anchor.3/0(match): block out on vio0: 192.0.2.4.1 > 192.0.2.5.2: udp 0",
            &c,
        );
        assert_eq!(
            (e.rule, e.ts),
            (
                Some("57.anchor.3/0"),
                civil_to_micros(2026, 1, 14, 10, 15, 2, 0)
            )
        );
        let e = ev_in(
            "rule 0/(match) [uid 0, pid 4321] pass out on em0: 192.0.2.4.1 > 192.0.2.5.2: udp 0",
            &c,
        );
        assert_eq!(
            (e.rule, e.action, e.ts),
            (Some("0"), Some(Action::Allow), None)
        );
    }

    #[test]
    fn delta_and_epoch_stamps() {
        let e = ev("00:00:01.002345 rule 1/(match) pass in on em0: 10.0.0.1.1 > 10.0.0.2.2: udp 1");
        assert_eq!((e.ts, e.rule), (None, Some("1")));
        let e =
            ev("1034496858.096785 rule 1/(match) pass in on em0: 10.0.0.1.1 > 10.0.0.2.2: udp 1");
        assert_eq!(e.ts, Some(1_034_496_858_096_785));
    }

    #[test]
    fn icmp_ipv6_and_match() {
        let e = ev(
            "Oct 21 06:06:58.1 rule 9/(match) match in on em0: 10.0.0.1 > 10.0.0.2: icmp: echo request (DF)",
        );
        assert_eq!(
            (e.proto, e.src_port, e.dst_port, e.action),
            (Some(Proto::ICMP), None, None, None)
        );
        let e = ev(
            "Oct 21 06:06:58.1 rule 9/(match) block in on em0: 2001:db8::1 > 2001:db8::2: icmp6: echo request",
        );
        assert_eq!(
            (e.proto, e.src_ip, e.dst_ip),
            (Some(Proto::ICMPV6), a("2001:db8::1"), a("2001:db8::2"))
        );
        let e = ev(
            "Oct 21 06:06:58.1 rule 9/(match) pass in on em0: 2001:db8::1.443 > 2001:db8::2.51000: Flags [P.], seq 1:5, ack 1, win 10, length 4",
        );
        assert_eq!(
            (e.src_port, e.dst_port, e.proto),
            (Some(443), Some(51000), Some(Proto::TCP))
        );
        let e = ev(
            "Oct 21 06:06:58.1 rule 9/(match) pass in on em0: 2001:db8::1.443 > 2001:db8::2.51000:",
        );
        assert_eq!(
            (e.src_port, e.dst_port, e.proto),
            (Some(443), Some(51000), Some(Proto::UDP))
        );
        let e = ev(
            "Oct 21 06:06:58.1 rule 9/(match) pass in on enc0: 10.0.0.1 > 10.0.0.2: ESP(spi=0x1,seq=0x2)",
        );
        assert_eq!((e.proto, e.src_port), (Some(Proto::ESP), None));
    }

    #[test]
    fn verbose_ip_length_and_dns_root() {
        let e = ev(
            "Oct 21 06:06:58.1 rule 1/(match) pass in on em0: 10.0.0.1.1 > 10.0.0.2.53: 1234+ NS? . (17) (ttl 64, id 1, len 45)",
        );
        assert_eq!(
            (e.bytes, e.dns_qtype, e.dns_qname),
            (Some(45), Some("NS"), Some("."))
        );
    }

    #[test]
    fn skipped_and_errors() {
        let c = ctx2002();
        let p = |s: &'static str| parse(s.as_bytes(), &c);
        assert_eq!(
            p("Oct 21 06:06:58 h sshd[1]: rule the world"),
            Outcome::Skipped("pf: no rule label")
        );
        assert_eq!(
            p("Oct 21 06:06:58.1 rule 1/(match) pass in on em0: arp who-has 10.0.0.1"),
            Outcome::Skipped("pf: no IP addresses")
        );
        assert_eq!(
            p("rule 1/(match) jump in on em0: 10.0.0.1.1 > 10.0.0.2.2: udp 1"),
            Outcome::Error("pf: bad rule header")
        );
        assert_eq!(
            p("rule 1/(match) pass in on em0: 10.0.0.1.1 > 10.0.999.2.2: udp 1"),
            Outcome::Error("pf: bad destination address")
        );
        assert_eq!(
            p("rule 1/(match) pass in on em0: x > 10.0.0.2.2: udp 1"),
            Outcome::Error("pf: bad source address")
        );
        assert_eq!(
            p("rule 1/(match) pass in em0: 10.0.0.1 > 10.0.0.2: icmp"),
            Outcome::Error("pf: bad rule header")
        );
    }
}
