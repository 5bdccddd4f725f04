//! Palo Alto PAN-OS CSV logs (TRAFFIC and THREAT), 6.x–10.x layouts, with or without a syslog
//! header. Other log types (SYSTEM, CONFIG, HIPMATCH, ...) are skipped.
//!
//! The syslog payload is one CSV record whose first 31 columns are common to TRAFFIC and THREAT
//! and have kept their positions since 6.0 (later releases only append columns), so a fixed
//! column table covers every version: newer columns past the ones read here are ignored, and a
//! record that stops short of a column we need is an error, not a guess.

use crate::event::{Action, Event, Proto};
use crate::parse::bytes::{field, ip, port, uint};
use crate::parse::{Ctx, Outcome, syslog};

// Column indexes (0-based) from the PAN-OS "Syslog Field Descriptions" (TRAFFIC and THREAT).
const RECEIVE_TIME: usize = 1;
const TYPE: usize = 3;
const GENERATED_TIME: usize = 6;
const SRC: usize = 7;
const DST: usize = 8;
const RULE: usize = 11;
const IFACE_IN: usize = 18;
const SPORT: usize = 24;
const DPORT: usize = 25;
const PROTO: usize = 29;
const ACTION: usize = 30;
// TRAFFIC only.
const BYTES: usize = 31;
const PACKETS: usize = 34;
// THREAT only.
const THREAT_NAME: usize = 32;
const SEVERITY: usize = 34;

/// Columns kept: enough for every index above; the rest of a long record is never split.
const MAX_COLS: usize = 35;

/// Splits a CSV record into up to `MAX_COLS` columns (quotes stripped; a quoted column may hold
/// commas and `""`). Returns the columns and how many were found. The `""` escape stays in the
/// slice (we cannot unescape without allocating); no column we read ever contains a quote.
fn split_csv(s: &[u8]) -> ([&[u8]; MAX_COLS], usize) {
    let mut cols: [&[u8]; MAX_COLS] = [&[]; MAX_COLS];
    let mut n = 0;
    let mut i = 0;
    while n < MAX_COLS {
        if s.get(i) == Some(&b'"') {
            // Quoted column: runs to the quote that is not doubled.
            let start = i + 1;
            let mut j = start;
            loop {
                match memchr::memchr(b'"', &s[j.min(s.len())..]) {
                    None => {
                        j = s.len();
                        break;
                    }
                    Some(q) => {
                        j += q;
                        if s.get(j + 1) == Some(&b'"') {
                            j += 2;
                        } else {
                            break;
                        }
                    }
                }
            }
            cols[n] = &s[start.min(s.len())..j.min(s.len())];
            n += 1;
            // Skip to the comma after the closing quote.
            match memchr::memchr(b',', &s[j.min(s.len())..]) {
                Some(c) => i = j + c + 1,
                None => break,
            }
        } else {
            let rest = &s[i.min(s.len())..];
            match memchr::memchr(b',', rest) {
                Some(c) => {
                    cols[n] = &rest[..c];
                    n += 1;
                    i += c + 1;
                }
                None => {
                    cols[n] = rest;
                    n += 1;
                    break;
                }
            }
        }
    }
    (cols, n)
}

/// `YYYY/MM/DD HH:MM:SS` (device-local time; PAN-OS prints no zone, so it is taken as UTC).
pub(crate) fn slash_datetime(s: &[u8]) -> Option<i64> {
    if s.len() != 19 || s[4] != b'/' || s[7] != b'/' || s[10] != b' ' || s[13] != b':' {
        return None;
    }
    let n = |a: usize, b: usize| uint(&s[a..b]);
    crate::time::civil_to_micros(
        i32::try_from(n(0, 4)?).ok()?,
        u32::try_from(n(5, 7)?).ok()?,
        u32::try_from(n(8, 10)?).ok()?,
        u32::try_from(n(11, 13)?).ok()?,
        u32::try_from(n(14, 16)?).ok()?,
        if s[16] == b':' {
            u32::try_from(n(17, 19)?).ok()?
        } else {
            return None;
        },
        0,
    )
}

/// TRAFFIC `allow`; THREAT `alert`/`allow`/`continue`/`override` let the session through.
/// `deny`, `drop*`, `reset-*`, `block-*`, `sinkhole`, `random-drop` stop it.
fn action(s: &[u8]) -> Option<Action> {
    match s {
        b"allow" | b"alert" | b"continue" | b"override" => Some(Action::Allow),
        b"deny" | b"sinkhole" | b"random-drop" => Some(Action::Deny),
        _ if s.starts_with(b"drop") || s.starts_with(b"reset") || s.starts_with(b"block") => {
            Some(Action::Deny)
        }
        _ => None,
    }
}

/// PAN-OS severity words on a 1 (informational) – 5 (critical) scale.
fn severity(s: &[u8]) -> Option<u8> {
    Some(match s {
        b"informational" => 1,
        b"low" => 2,
        b"medium" => 3,
        b"high" => 4,
        b"critical" => 5,
        _ => return None,
    })
}

/// Parses one PAN-OS syslog line.
pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let h = syslog::split(line, ctx);
    let msg = crate::parse::bytes::trim(h.msg);
    let (cols, n) = split_csv(msg);
    // The marker: column 1 is the receive time `YYYY/MM/DD HH:MM:SS` and column 3 an upper-case
    // log type. Nothing else in auto-detection prints that shape.
    let receive = if n > TYPE {
        slash_datetime(cols[RECEIVE_TIME])
    } else {
        None
    };
    let ty = cols[TYPE];
    if receive.is_none() || ty.is_empty() || !ty.iter().all(u8::is_ascii_uppercase) {
        return Outcome::Skipped("panos: not a PAN-OS CSV log");
    }
    let threat = match ty {
        b"TRAFFIC" => false,
        b"THREAT" => true,
        _ => return Outcome::Skipped("panos: not a TRAFFIC or THREAT log"),
    };
    if n < MAX_COLS {
        return Outcome::Error("panos: too few columns");
    }
    let (Some(src), Some(dst)) = (ip(cols[SRC]), ip(cols[DST])) else {
        return Outcome::Error("panos: bad source or destination address");
    };
    let proto = Proto::from_name(cols[PROTO]);
    let ports = proto.is_some_and(Proto::has_ports);
    let mut ev = Event {
        ts: slash_datetime(cols[GENERATED_TIME]).or(receive),
        src_ip: Some(src),
        dst_ip: Some(dst),
        src_port: if ports { port(cols[SPORT]) } else { None },
        dst_port: if ports { port(cols[DPORT]) } else { None },
        proto,
        action: action(cols[ACTION]),
        iface: field(cols[IFACE_IN]),
        rule: field(cols[RULE]),
        ..Event::default()
    };
    if threat {
        ev.signature = field(cols[THREAT_NAME]);
        ev.severity = severity(cols[SEVERITY]);
    } else {
        ev.bytes = uint(cols[BYTES]);
        ev.packets = uint(cols[PACKETS]);
    }
    Outcome::Event(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testutil::a;
    use crate::time::civil_to_micros;

    fn ctx() -> Ctx {
        Ctx::new(civil_to_micros(2024, 6, 1, 0, 0, 0, 0).unwrap())
    }

    // Written from the PAN-OS 10.x TRAFFIC field list: FUTURE_USE, receive time, serial, type,
    // subtype, FUTURE_USE, generated time, src, dst, NAT src, NAT dst, rule, src user, dst user,
    // app, vsys, from zone, to zone, inbound if, outbound if, log action, FUTURE_USE, session id,
    // repeat count, sport, dport, NAT sport, NAT dport, flags, proto, action, bytes, bytes sent,
    // bytes received, packets, start time, elapsed, category, ...
    const TRAFFIC: &str = "<14>Mar  4 10:11:12 fw01 1,2024/03/04 10:11:12,012345678901,TRAFFIC,end,2561,2024/03/04 10:11:10,192.0.2.10,198.51.100.20,203.0.113.1,198.51.100.20,Allow-Web,corp\\alice,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,Fwd,2024/03/04 10:11:12,4242,1,51515,443,40000,443,0x400053,tcp,allow,6100,1100,5000,21,2024/03/04 10:10:40,30,computer-and-internet-info,,7001,0x0,192.168.0.0-192.168.255.255,United States,,11,10,tcp-fin,0,0,0,0,,fw01,from-policy,,,0,,0,,N/A,0,0,0,0";

    const THREAT: &str = "1,2024/03/04 10:20:00,012345678901,THREAT,vulnerability,2561,2024/03/04 10:19:59,203.0.113.50,192.0.2.80,0.0.0.0,0.0.0.0,Inbound-DMZ,,,web-browsing,vsys1,untrust,dmz,ethernet1/1,ethernet1/3,Fwd,2024/03/04 10:20:00,777,1,40001,80,0,0,0x2000,tcp,reset-both,\"index.php?a=1,2\",Generic SQL Injection Attempt(31337),any,critical,client-to-server,8001,0x0,US,192.0.2.0-192.0.2.255,0,,0,,,0,,,,,,,,0,0,0,0,0,,fw01,";

    fn ev(line: &str) -> Event<'_> {
        match parse(line.as_bytes(), &ctx()) {
            Outcome::Event(e) => e,
            o => panic!("not an event: {o:?}"),
        }
    }

    #[test]
    fn traffic_exact() {
        assert_eq!(
            ev(TRAFFIC),
            Event {
                tcp_flags: Default::default(),
                ts: civil_to_micros(2024, 3, 4, 10, 11, 10, 0),
                src_ip: a("192.0.2.10"),
                dst_ip: a("198.51.100.20"),
                src_port: Some(51515),
                dst_port: Some(443),
                proto: Some(Proto::TCP),
                action: Some(Action::Allow),
                direction: None,
                iface: Some("ethernet1/2"),
                bytes: Some(6100),
                packets: Some(21),
                rule: Some("Allow-Web"),
                dns_qtype: None,
                dns_qname: None,
                signature: None,
                severity: None,
            }
        );
    }

    #[test]
    fn threat_exact_with_quoted_comma() {
        assert_eq!(
            ev(THREAT),
            Event {
                tcp_flags: Default::default(),
                ts: civil_to_micros(2024, 3, 4, 10, 19, 59, 0),
                src_ip: a("203.0.113.50"),
                dst_ip: a("192.0.2.80"),
                src_port: Some(40001),
                dst_port: Some(80),
                proto: Some(Proto::TCP),
                action: Some(Action::Deny),
                direction: None,
                iface: Some("ethernet1/1"),
                bytes: None,
                packets: None,
                rule: Some("Inbound-DMZ"),
                dns_qtype: None,
                dns_qname: None,
                signature: Some("Generic SQL Injection Attempt(31337)"),
                severity: Some(5),
            }
        );
    }

    #[test]
    fn drop_icmp_and_ipv6() {
        let line = "1,2024/03/04 10:30:00,0123,TRAFFIC,drop,1,2024/03/04 10:30:00,2001:db8::1,2001:db8::2,::,::,deny-all,,,not-applicable,vsys1,untrust,trust,ethernet1/1,,Fwd,2024/03/04 10:30:00,0,1,0,0,0,0,0x0,icmp,drop,98,98,0,1,2024/03/04 10:29:59,0,any,,9,0x0,US,US,,1,0,policy-deny";
        let e = ev(line);
        assert_eq!((e.src_ip, e.dst_ip), (a("2001:db8::1"), a("2001:db8::2")));
        assert_eq!(
            (e.proto, e.src_port, e.dst_port),
            (Some(Proto::ICMP), None, None)
        );
        assert_eq!(
            (e.action, e.bytes, e.packets),
            (Some(Action::Deny), Some(98), Some(1))
        );
        let l2 = line.replace(",icmp,drop,", ",udp,reset-client,");
        let e = ev(&l2);
        assert_eq!(
            (e.action, e.src_port, e.dst_port),
            (Some(Action::Deny), Some(0), Some(0))
        );
        let l3 = THREAT.replace(",reset-both,", ",alert,");
        let e = ev(&l3);
        assert_eq!(e.action, Some(Action::Allow));
    }

    #[test]
    fn skipped_and_errors() {
        fn p(s: &str) -> Outcome<'_> {
            parse(s.as_bytes(), &ctx())
        }
        assert_eq!(
            p(
                "1,2024/03/04 10:00:00,0123,SYSTEM,general,0,2024/03/04 10:00:00,,general,,0,0,general,informational,\"User admin logged in\",1,0x0"
            ),
            Outcome::Skipped("panos: not a TRAFFIC or THREAT log")
        );
        assert_eq!(
            p(
                "1,2024/03/04 10:00:00,0123,CONFIG,0,0,2024/03/04 10:00:00,10.0.0.1,,set,admin,Web,Succeeded"
            ),
            Outcome::Skipped("panos: not a TRAFFIC or THREAT log")
        );
        assert_eq!(
            p("Jun  8 14:34:33 h kernel: IN=eth0 OUT= SRC=1.1.1.1 DST=2.2.2.2"),
            Outcome::Skipped("panos: not a PAN-OS CSV log")
        );
        assert_eq!(
            p("a,b,c,d,e"),
            Outcome::Skipped("panos: not a PAN-OS CSV log")
        );
        assert_eq!(
            p("1,2024/03/04 10:00:00,0123,TRAFFIC,end,1,2024/03/04 10:00:00,1.1.1.1"),
            Outcome::Error("panos: too few columns")
        );
        assert_eq!(
            p(&TRAFFIC.replace("192.0.2.10", "192.0.2")),
            Outcome::Error("panos: bad source or destination address")
        );
    }

    #[test]
    fn never_panics_on_prefixes_and_mutations() {
        let c = ctx();
        for line in [TRAFFIC, THREAT] {
            let b = line.as_bytes();
            for i in 0..=b.len() {
                let _ = parse(&b[..i], &c);
                let _ = parse(&b[i..], &c);
            }
            let mut m = b.to_vec();
            for i in 0..m.len() {
                for v in [b'"', b',', 0, 0xff] {
                    let old = m[i];
                    m[i] = v;
                    let _ = parse(&m, &c);
                    m[i] = old;
                }
            }
        }
        let _ = parse(&[b'"'; 1000], &c);
        let mut big = THREAT.as_bytes().to_vec();
        big.resize(1 << 20, b',');
        let _ = parse(&big, &c);
    }
}
