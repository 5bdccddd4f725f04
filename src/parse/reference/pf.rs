//! Frozen copy of the pre-optimisation `src/parse/pf.rs` (test-only reference for the differential test
//! in `reference/mod.rs`). Do not optimise or "fix" this file: it defines the expected output.

use std::net::IpAddr;

use crate::event::{Action, Direction, Event, Micros, Proto};
use crate::parse::bytes::{field, port, uint};
use crate::parse::reference::old_ip as ip;
use crate::parse::syslog;
use crate::parse::{Ctx, Outcome};

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
}

fn decode<'a>(d: &'a [u8], has_ports: bool, v6: bool) -> Decode<'a> {
    let mut out = Decode {
        proto: None,
        qtype: None,
        qname: None,
    };
    let (first, rest) = token(d);
    let starts = |p: &[u8]| d.len() >= p.len() && d[..p.len()].eq_ignore_ascii_case(p);
    out.proto = if starts(b"icmp6") || starts(b"icmpv6") {
        Some(Proto::ICMPV6)
    } else if starts(b"icmp") {
        Some(if v6 { Proto::ICMPV6 } else { Proto::ICMP })
    } else if first == b"Flags"
        || is_tcp_flags(first)
        || memchr::memmem::find(d, b"[|tcp]").is_some()
    {
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
    let open = memchr::memmem::find(d, b"(tos ").or_else(|| memchr::memmem::find(d, b"(ttl "))?;
    let group = &d[open..];
    let group = &group[..memchr::memchr(b')', group)?];
    let at = memchr::memmem::find(group, b" len ")? + 5;
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
    let Some(gt) = memchr::memmem::find(pkt, b" > ") else {
        return Outcome::Skipped("pf: no IP addresses");
    };
    let src_tok = &pkt[memchr::memrchr(b' ', &pkt[..gt]).map_or(0, |i| i + 1)..gt];
    let after = &pkt[gt + 3..];
    let (dst_tok, details) = match memchr::memmem::find(after, b": ") {
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
        tcp_flags: Default::default(),
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
    })
}
