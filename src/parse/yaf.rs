//! YAF flow records as printed by `yafscii --tabular`: one biflow per line, `|`-separated,
//! space-padded columns.
//!
//! Columns (yafscii tabular mode): `start-time | end-time | duration | rtt | proto | sip | sp |
//! dip | dp | iflags | uflags | riflags | ruflags | isn | risn | tag | rtag | pkt | oct | rpkt |
//! roct | app | end-reason`. `--mac` adds source and destination MAC columns; wherever they sit
//! after `dp` they are recognised by shape and stepped over. The `--print-header` line and
//! yafscii's default (non-tabular, tcpdump-like) output are skipped. See docs/formats/yaf.md.

use crate::event::{Event, Proto};
use crate::parse::bytes::{ip, port, trim, uint};
use crate::parse::{Ctx, Outcome};
use crate::time::parse_rfc3339;

/// Columns we keep: up to `roct` plus two MAC columns.
const MAX_COLS: usize = 24;

/// `00:11:22:33:44:55`.
fn is_mac(s: &[u8]) -> bool {
    s.len() == 17
        && s.iter().enumerate().all(|(i, b)| {
            if i % 3 == 2 {
                *b == b':'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let _ = ctx;
    let mut cols: [&[u8]; MAX_COLS] = [&[]; MAX_COLS];
    let mut n = 0;
    for c in line.split(|&b| b == b'|') {
        // Step over MAC columns (`--mac`) once past the addresses; they carry nothing we map.
        if n > 8 && is_mac(trim(c)) {
            continue;
        }
        if n == MAX_COLS {
            break;
        }
        cols[n] = trim(c);
        n += 1;
    }
    if n < 21 {
        return Outcome::Skipped("yaf: not a yafscii tabular line");
    }
    if cols[0] == b"start-time" {
        return Outcome::Skipped("yaf: header line");
    }
    // Markers: a full date-time, a numeric protocol, addresses. Anything else with 21 pipes is
    // not ours.
    let Some((ts, used)) = parse_rfc3339(cols[0]) else {
        return Outcome::Skipped("yaf: not a yafscii tabular line");
    };
    let Some(proto) = uint(cols[4]).and_then(|p| u8::try_from(p).ok()) else {
        return Outcome::Skipped("yaf: not a yafscii tabular line");
    };
    if used != cols[0].len() || parse_rfc3339(cols[1]).is_none() {
        return Outcome::Skipped("yaf: not a yafscii tabular line");
    }
    let Some(src) = ip(cols[5]) else {
        return Outcome::Error("yaf: bad sip");
    };
    let Some(dst) = ip(cols[7]) else {
        return Outcome::Error("yaf: bad dip");
    };
    let proto = Proto(proto);
    let (src_port, dst_port) = if proto.has_ports() {
        (port(cols[6]), port(cols[8]))
    } else {
        // For ICMP yaf stores type and code in `dp`: not ports.
        (None, None)
    };
    let sum = |a: &[u8], b: &[u8]| uint(a)?.checked_add(uint(b)?);
    Outcome::Event(Event {
        tcp_flags: Default::default(),
        ts: Some(ts),
        src_ip: Some(src),
        dst_ip: Some(dst),
        src_port,
        dst_port,
        proto: Some(proto),
        action: None,
        direction: None,
        iface: None,
        bytes: sum(cols[18], cols[20]),
        packets: sum(cols[17], cols[19]),
        rule: None,
        dns_qtype: None,
        dns_qname: None,
        signature: None,
        severity: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testutil::{a, ctx};
    use crate::time::civil_to_micros;

    // Written from the yafscii tabular column list; values are made up.
    const TCP: &str = "2024-05-06 07:08:09.123|2024-05-06 07:08:10.500|   1.377|   0.012|  6|                             192.0.2.10|51515|                            198.51.100.20|  443|     SAP|     APF|    SAPF|     APF|0a0b0c0d|01020304|000|000|      12|    2100|      10|   15000|  443|eof";

    #[test]
    fn tcp_biflow_exact() {
        let e = match parse(TCP.as_bytes(), &ctx()) {
            Outcome::Event(e) => e,
            o => panic!("{o:?}"),
        };
        assert_eq!(
            e,
            Event {
                ts: civil_to_micros(2024, 5, 6, 7, 8, 9, 123_000),
                src_ip: a("192.0.2.10"),
                dst_ip: a("198.51.100.20"),
                src_port: Some(51515),
                dst_port: Some(443),
                proto: Some(Proto::TCP),
                bytes: Some(17_100),
                packets: Some(22),
                ..Event::default()
            }
        );
    }

    #[test]
    fn icmp_ipv6_and_mac_columns() {
        let l = "2024-05-06 07:08:09.000|2024-05-06 07:08:09.000|   0.000|   0.000| 58|  2001:db8::1|    0|  2001:db8::2|32768|       0|       0|       0|       0|00000000|00000000|000|000|       1|      104|       0|       0|    0|idle";
        let e = match parse(l.as_bytes(), &ctx()) {
            Outcome::Event(e) => e,
            o => panic!("{o:?}"),
        };
        assert_eq!(e.proto, Some(Proto::ICMPV6));
        assert_eq!((e.src_port, e.dst_port), (None, None));
        assert_eq!((e.bytes, e.packets), (Some(104), Some(1)));
        assert_eq!(e.src_ip, a("2001:db8::1"));
        let with_mac = TCP.replace(
            "|  443|     SAP",
            "|  443|00:11:22:33:44:55|66:77:88:99:aa:bb|     SAP",
        );
        assert_eq!(
            parse(with_mac.as_bytes(), &ctx()),
            parse(TCP.as_bytes(), &ctx())
        );
    }

    #[test]
    fn skips_and_errors() {
        let c = ctx();
        assert_eq!(
            parse(b"start-time|end-time|duration|rtt|proto|sip|sp|dip|dp|iflags|uflags|riflags|ruflags|isn|risn|tag|rtag|pkt|oct|rpkt|roct|app|end-reason", &c),
            Outcome::Skipped("yaf: header line")
        );
        assert_eq!(
            parse(b"2024-05-06 07:08:09.123 - 07:08:10.500 (1.377 sec) tcp 192.0.2.10:51515 => 198.51.100.20:443", &c),
            Outcome::Skipped("yaf: not a yafscii tabular line")
        );
        assert_eq!(
            parse(b"a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w", &c),
            Outcome::Skipped("yaf: not a yafscii tabular line")
        );
        let bad = TCP.replace("192.0.2.10", "192.0.2.300");
        assert_eq!(parse(bad.as_bytes(), &c), Outcome::Error("yaf: bad sip"));
    }

    #[test]
    fn never_panics() {
        let c = ctx();
        let line = TCP.as_bytes();
        for end in 0..=line.len() {
            let _ = parse(&line[..end], &c);
            let _ = parse(&line[end..], &c);
        }
        let mut m = line.to_vec();
        let mut x: u64 = 0xdead_beef_1234_5678;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = x as usize % m.len();
            let old = m[i];
            m[i] = (x >> 32) as u8;
            let _ = parse(&m, &c);
            m[i] = old;
        }
        let _ = parse(&vec![b'|'; 1 << 20], &c);
    }
}
