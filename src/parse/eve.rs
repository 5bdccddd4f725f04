//! Suricata EVE JSON lines (`flow`, `netflow`, `alert`, `dns`, `drop` events), bare or behind a
//! syslog header (`suricata[123]: {...}`).
//!
//! One pass of the shared [`jscan`] scanner collects every key the event types need; the event
//! type then decides which of them make the [`Event`]. See docs/formats/eve.md for the mapping.

use crate::event::{Action, Event, Proto, TcpFlags};
use crate::parse::bytes::{ip, utf8};
use crate::parse::jscan::{self, Kind, Val};
use crate::parse::{Ctx, Outcome};
use crate::time::parse_rfc3339;

// Indices into PATHS (and the scan's output).
const EVENT_TYPE: usize = 0;
const TIMESTAMP: usize = 1;
const SRC_IP: usize = 2;
const SRC_PORT: usize = 3;
const DEST_IP: usize = 4;
const DEST_PORT: usize = 5;
const PROTO: usize = 6;
const IN_IFACE: usize = 7;
const FLOW_B_TS: usize = 8;
const FLOW_B_TC: usize = 9;
const FLOW_P_TS: usize = 10;
const FLOW_P_TC: usize = 11;
const NF_BYTES: usize = 12;
const NF_PKTS: usize = 13;
const ALERT_ACTION: usize = 14;
const ALERT_SIG: usize = 15;
const ALERT_SEV: usize = 16;
const ALERT_SID: usize = 17;
const DNS_TYPE: usize = 18;
const DNS_RRNAME: usize = 19;
const DNS_RRTYPE: usize = 20;
const DNS_QUERIES: usize = 21;
const DROP_LEN: usize = 22;
const TCP_FLAGS: usize = 23;
const TCP_FLAGS_TS: usize = 24;
const TCP_FLAGS_TC: usize = 25;
const DROP_SYN: usize = 26;
const DROP_ACK: usize = 27;
const DROP_RST: usize = 28;
const DROP_FIN: usize = 29;

const PATHS: &[&[u8]] = &[
    b"event_type",
    b"timestamp",
    b"src_ip",
    b"src_port",
    b"dest_ip",
    b"dest_port",
    b"proto",
    b"in_iface",
    b"flow.bytes_toserver",
    b"flow.bytes_toclient",
    b"flow.pkts_toserver",
    b"flow.pkts_toclient",
    b"netflow.bytes",
    b"netflow.pkts",
    b"alert.action",
    b"alert.signature",
    b"alert.severity",
    b"alert.signature_id",
    b"dns.type",
    b"dns.rrname",
    b"dns.rrtype",
    b"dns.queries",
    b"drop.len",
    b"tcp.tcp_flags",
    b"tcp.tcp_flags_ts",
    b"tcp.tcp_flags_tc",
    b"drop.syn",
    b"drop.ack",
    b"drop.rst",
    b"drop.fin",
];

/// The string value at `k`, unescaped into `buf` if it needs it (for values we only compare or
/// parse: event type, protocol, action, timestamp, addresses).
fn text<'b>(v: &[Option<Val<'b>>; PATHS.len()], k: usize, buf: &'b mut [u8; 64]) -> &'b [u8] {
    v[k].and_then(|v| v.text(buf)).unwrap_or(b"")
}

/// A borrowed string field for the Event. Escapes cannot be decoded without a buffer that
/// outlives the line, so an escaped value is passed through as written (documented).
fn borrowed<'a>(v: Option<Val<'a>>) -> Option<&'a str> {
    v.and_then(|v| v.str_raw())
        .filter(|s| !s.is_empty())
        .and_then(utf8)
}

fn sum(a: Option<Val<'_>>, b: Option<Val<'_>>) -> Option<u64> {
    a?.uint()?.checked_add(b?.uint()?)
}

/// DNS v3 (Suricata 8) logs queries as an array: `"dns":{"queries":[{"rrname":..,"rrtype":..}]}`.
/// Reads the first element's name and type.
fn first_query(arr: Val<'_>) -> (Option<Val<'_>>, Option<Val<'_>>) {
    let raw = arr.raw;
    let mut out = [None, None];
    if arr.kind == Kind::Arr {
        let inner = &raw[1..];
        let _ = jscan::scan(inner, &[b"rrname", b"rrtype"], &mut out);
    }
    (out[0], out[1])
}

/// A `tcp_flags` value: one or two hex digits as a string (`"1b"`).
fn hex_flags(v: Option<Val<'_>>) -> Option<u8> {
    let raw = v?.str_raw()?;
    if raw.is_empty() || raw.len() > 2 {
        return None;
    }
    raw.iter().try_fold(0u8, |acc, &b| {
        let d = (b as char).to_digit(16)? as u8;
        Some(acc << 4 | d)
    })
}

/// A flow's (or one direction's, for `netflow`) TCP flags as a connection record: with the
/// per-direction fields, ACK means the handshake was answered (the server's SYN-ACK, or the
/// client's ACKs) — a reset answer (`tcp_flags_tc` RST-ACK) is not; without them, the union.
fn flow_flags(v: &[Option<Val<'_>>; PATHS.len()]) -> TcpFlags {
    let mask = TcpFlags::MASK;
    let f = match (hex_flags(v[TCP_FLAGS_TS]), hex_flags(v[TCP_FLAGS_TC])) {
        (Some(ts), Some(tc)) => {
            let answered = tc & 0x12 == 0x12 || ts & TcpFlags::ACK.0 != 0;
            let mut f = (ts | tc) & mask & !TcpFlags::ACK.0;
            if answered {
                f |= TcpFlags::ACK.0;
            }
            f
        }
        _ => hex_flags(v[TCP_FLAGS]).unwrap_or(0) & mask,
    };
    if f == 0 {
        TcpFlags::default()
    } else {
        TcpFlags(f) | TcpFlags::CONN
    }
}

/// A `drop` event's packet flags (`"drop":{"syn":true,"ack":false,...}`).
fn drop_flags(v: &[Option<Val<'_>>; PATHS.len()]) -> TcpFlags {
    let mut f = TcpFlags::default();
    for (k, flag) in [
        (DROP_SYN, TcpFlags::SYN),
        (DROP_ACK, TcpFlags::ACK),
        (DROP_RST, TcpFlags::RST),
        (DROP_FIN, TcpFlags::FIN),
    ] {
        if v[k].is_some_and(|x| x.kind == Kind::Bool && x.raw == b"true") {
            f |= flag;
        }
    }
    f
}

pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let _ = ctx;
    let Some(start) = memchr::memchr(b'{', line) else {
        return Outcome::Skipped("eve: not a JSON object");
    };
    let obj = &line[start..];
    let mut v: [Option<Val<'a>>; PATHS.len()] = [None; PATHS.len()];
    if jscan::scan(obj, PATHS, &mut v).is_err() {
        // Only claim a broken object when it says it is EVE.
        return if memchr::memmem::find(obj, b"\"event_type\"").is_some() {
            Outcome::Error("eve: malformed JSON")
        } else {
            Outcome::Skipped("eve: not EVE JSON")
        };
    }
    let mut b1 = [0u8; 64];
    let et = text(&v, EVENT_TYPE, &mut b1);
    if v[EVENT_TYPE].is_none() {
        return Outcome::Skipped("eve: no event_type");
    }
    let mut ev = Event::default();
    match et {
        b"flow" => {
            ev.bytes = sum(v[FLOW_B_TS], v[FLOW_B_TC]);
            ev.packets = sum(v[FLOW_P_TS], v[FLOW_P_TC]);
            ev.tcp_flags = flow_flags(&v);
        }
        b"netflow" => {
            ev.bytes = v[NF_BYTES].and_then(|x| x.uint());
            ev.packets = v[NF_PKTS].and_then(|x| x.uint());
            ev.tcp_flags = flow_flags(&v);
        }
        b"alert" => {
            let mut b = [0u8; 64];
            ev.action = match text(&v, ALERT_ACTION, &mut b) {
                b"allowed" => Some(Action::Allow),
                b"blocked" => Some(Action::Deny),
                _ => None,
            };
            ev.signature = borrowed(v[ALERT_SIG]);
            ev.severity = v[ALERT_SEV]
                .and_then(|x| x.uint())
                .and_then(|n| u8::try_from(n).ok());
            ev.rule = v[ALERT_SID]
                .filter(|x| x.kind == Kind::Num)
                .and_then(|x| utf8(x.raw));
        }
        b"dns" => {
            let mut b = [0u8; 64];
            match text(&v, DNS_TYPE, &mut b) {
                b"answer" | b"response" => {
                    return Outcome::Skipped("eve: dns answer (the query line counts)");
                }
                _ => {}
            }
            let (mut name, mut qtype) = (v[DNS_RRNAME], v[DNS_RRTYPE]);
            if name.is_none() {
                if let Some(q) = v[DNS_QUERIES] {
                    (name, qtype) = first_query(q);
                }
            }
            ev.dns_qname = borrowed(name);
            ev.dns_qtype = borrowed(qtype);
        }
        b"drop" => {
            ev.action = Some(Action::Deny);
            ev.bytes = v[DROP_LEN].and_then(|x| x.uint());
            ev.packets = Some(1);
            ev.tcp_flags = drop_flags(&v);
        }
        _ => return Outcome::Skipped("eve: event type is not traffic"),
    }

    let mut b2 = [0u8; 64];
    ev.ts = parse_rfc3339(text(&v, TIMESTAMP, &mut b2)).map(|(t, _)| t);
    let mut b3 = [0u8; 64];
    let Some(src) = ip(text(&v, SRC_IP, &mut b3)) else {
        return Outcome::Error("eve: bad src_ip");
    };
    let Some(dst) = ip(text(&v, DEST_IP, &mut b3)) else {
        return Outcome::Error("eve: bad dest_ip");
    };
    ev.src_ip = Some(src);
    ev.dst_ip = Some(dst);
    ev.proto = v[PROTO].and_then(|p| Proto::from_name(p.text(&mut b3)?));
    if ev.proto != Some(Proto::TCP) {
        ev.tcp_flags = TcpFlags::default();
    }
    if ev.proto.is_some_and(Proto::has_ports) {
        let port = |k: usize| {
            v[k].and_then(|x| x.uint())
                .and_then(|n| u16::try_from(n).ok())
        };
        ev.src_port = port(SRC_PORT);
        ev.dst_port = port(DEST_PORT);
    }
    ev.iface = borrowed(v[IN_IFACE]);
    Outcome::Event(ev)
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

    // Fixtures follow the EVE layout in Suricata's "Eve JSON Format" documentation; the values
    // are made up (documentation address ranges).
    #[test]
    fn flow_exact() {
        let e = ev(
            r#"{"timestamp":"2025-03-04T10:11:12.345678+0100","flow_id":1234,"in_iface":"eth0","event_type":"flow","src_ip":"192.0.2.10","src_port":51000,"dest_ip":"198.51.100.7","dest_port":443,"proto":"TCP","app_proto":"tls","flow":{"pkts_toserver":12,"pkts_toclient":10,"bytes_toserver":1500,"bytes_toclient":9000,"start":"2025-03-04T10:10:00.000000+0100","end":"2025-03-04T10:11:00.000000+0100","age":60,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"1b","syn":true}}"#,
        );
        assert_eq!(
            e,
            Event {
                ts: civil_to_micros(2025, 3, 4, 9, 11, 12, 345_678),
                src_ip: a("192.0.2.10"),
                dst_ip: a("198.51.100.7"),
                src_port: Some(51000),
                dst_port: Some(443),
                proto: Some(Proto::TCP),
                action: None,
                direction: None,
                iface: Some("eth0"),
                bytes: Some(10_500),
                packets: Some(22),
                rule: None,
                dns_qtype: None,
                dns_qname: None,
                signature: None,
                severity: None,
                // Only the union `tcp_flags` here: FIN SYN PSH ACK.
                tcp_flags: TcpFlags(0x1b) | TcpFlags::CONN,
            }
        );
    }

    #[test]
    fn tcp_flags_of_flows_and_drops() {
        let flow = |tcp: &str| {
            format!(
                r#"{{"event_type":"flow","src_ip":"192.0.2.1","src_port":5,"dest_ip":"192.0.2.2","dest_port":22,"proto":"TCP","flow":{{"pkts_toserver":1}},"tcp":{{{tcp}}}}}"#
            )
        };
        let (syn, rst, conn) = (TcpFlags::SYN, TcpFlags::RST, TcpFlags::CONN);
        for (tcp, want) in [
            // Refused: the server's RST-ACK is not an answered handshake.
            (
                r#""tcp_flags":"16","tcp_flags_ts":"06","tcp_flags_tc":"14","syn":true"#,
                syn | rst | conn,
            ),
            // No answer at all.
            (
                r#""tcp_flags":"02","tcp_flags_ts":"02","tcp_flags_tc":"00""#,
                syn | conn,
            ),
            // Established and closed.
            (
                r#""tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b""#,
                TcpFlags(0x1b) | conn,
            ),
            (r#""tcp_flags":"zz""#, TcpFlags::default()),
            (r#""syn":true"#, TcpFlags::default()),
        ] {
            assert_eq!(ev(&flow(tcp)).tcp_flags, want, "{tcp}");
        }
        let e = ev(
            r#"{"event_type":"drop","src_ip":"192.0.2.1","src_port":1,"dest_ip":"192.0.2.2","dest_port":2,"proto":"TCP","drop":{"len":60,"syn":true,"ack":false,"rst":false,"fin":false}}"#,
        );
        assert_eq!(e.tcp_flags, syn);
        // UDP flows never carry TCP flags.
        let e = ev(
            r#"{"event_type":"flow","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","proto":"UDP","src_port":5,"dest_port":6,"tcp":{"tcp_flags":"02"}}"#,
        );
        assert_eq!(e.tcp_flags, TcpFlags::default());
        // Alerts: the flow's flags so far are not the alert's; not kept.
        let e = ev(
            r#"{"event_type":"alert","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","proto":"TCP","src_port":5,"dest_port":6,"alert":{"action":"allowed"},"tcp":{"tcp_flags":"02","tcp_flags_ts":"02","tcp_flags_tc":"00"}}"#,
        );
        assert_eq!(e.tcp_flags, TcpFlags::default());
    }

    #[test]
    fn alert_exact_behind_syslog_header() {
        let e = ev(
            r#"Mar  4 10:11:12 sensor suricata[812]: {"timestamp":"2025-03-04T10:11:12.000001+0000","event_type":"alert","src_ip":"2001:db8::1","src_port":4444,"dest_ip":"2001:db8::2","dest_port":80,"proto":"TCP","alert":{"action":"blocked","gid":1,"signature_id":2100498,"rev":7,"signature":"GPL ATTACK_RESPONSE id check returned root","category":"Potentially Bad Traffic","severity":2,"metadata":{"x":["y"]}},"flow":{"pkts_toserver":3,"pkts_toclient":2,"bytes_toserver":300,"bytes_toclient":200}}"#,
        );
        assert_eq!(
            e,
            Event {
                ts: civil_to_micros(2025, 3, 4, 10, 11, 12, 1),
                src_ip: a("2001:db8::1"),
                dst_ip: a("2001:db8::2"),
                src_port: Some(4444),
                dst_port: Some(80),
                proto: Some(Proto::TCP),
                action: Some(Action::Deny),
                direction: None,
                iface: None,
                bytes: None,
                packets: None,
                rule: Some("2100498"),
                dns_qtype: None,
                dns_qname: None,
                signature: Some("GPL ATTACK_RESPONSE id check returned root"),
                severity: Some(2),
                tcp_flags: TcpFlags::default(),
            }
        );
        let e = ev(
            r#"{"event_type":"alert","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","proto":"ICMP","icmp_type":8,"icmp_code":0,"alert":{"action":"allowed","signature":"say \"hi\"","severity":3}}"#,
        );
        assert_eq!(e.action, Some(Action::Allow));
        assert_eq!(e.proto, Some(Proto::ICMP));
        assert_eq!((e.src_port, e.dst_port), (None, None));
        assert_eq!(e.signature, Some(r#"say \"hi\""#));
        assert_eq!(e.ts, None);
    }

    #[test]
    fn dns_v2_and_v3() {
        let e = ev(
            r#"{"timestamp":"2025-03-04T10:11:12Z","event_type":"dns","src_ip":"192.0.2.10","src_port":53000,"dest_ip":"192.0.2.53","dest_port":53,"proto":"UDP","dns":{"type":"query","id":4242,"rrname":"example.org","rrtype":"AAAA","tx_id":0}}"#,
        );
        assert_eq!(
            e,
            Event {
                ts: civil_to_micros(2025, 3, 4, 10, 11, 12, 0),
                src_ip: a("192.0.2.10"),
                dst_ip: a("192.0.2.53"),
                src_port: Some(53000),
                dst_port: Some(53),
                proto: Some(Proto::UDP),
                dns_qtype: Some("AAAA"),
                dns_qname: Some("example.org"),
                ..Event::default()
            }
        );
        let e = ev(
            r#"{"event_type":"dns","src_ip":"192.0.2.10","src_port":53000,"dest_ip":"192.0.2.53","dest_port":53,"proto":17,"dns":{"version":3,"type":"request","queries":[{"rrname":"a.example","rrtype":"MX"},{"rrname":"b.example","rrtype":"A"}]}}"#,
        );
        assert_eq!(e.proto, Some(Proto::UDP));
        assert_eq!((e.dns_qname, e.dns_qtype), (Some("a.example"), Some("MX")));
        assert_eq!(
            parse(
                br#"{"event_type":"dns","src_ip":"192.0.2.53","dest_ip":"192.0.2.10","dns":{"type":"answer","rrname":"example.org"}}"#,
                &ctx()
            ),
            Outcome::Skipped("eve: dns answer (the query line counts)")
        );
    }

    #[test]
    fn netflow_drop_and_protocols() {
        let e = ev(
            r#"{"event_type":"netflow","src_ip":"198.51.100.7","src_port":443,"dest_ip":"192.0.2.10","dest_port":51000,"proto":"UDP","netflow":{"pkts":4,"bytes":1200,"start":"x","end":"y","age":0}}"#,
        );
        assert_eq!((e.bytes, e.packets), (Some(1200), Some(4)));
        assert_eq!((e.src_port, e.dst_port), (Some(443), Some(51000)));
        let e = ev(
            r#"{"event_type":"drop","src_ip":"192.0.2.1","src_port":1,"dest_ip":"192.0.2.2","dest_port":2,"proto":"TCP","drop":{"len":60,"ttl":64}}"#,
        );
        assert_eq!(
            (e.action, e.bytes, e.packets),
            (Some(Action::Deny), Some(60), Some(1))
        );
        let e = ev(
            r#"{"event_type":"flow","src_ip":"fe80::1","dest_ip":"ff02::1","proto":"IPv6-ICMP","icmp_type":135,"flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":86,"bytes_toclient":0}}"#,
        );
        assert_eq!(e.proto, Some(Proto::ICMPV6));
        assert_eq!((e.src_port, e.dst_port), (None, None));
        assert_eq!((e.bytes, e.packets), (Some(86), Some(1)));
        // An escaped protocol name and address still parse (unescaped into a stack buffer).
        let e = ev(
            r#"{"event_type":"flow","src_ip":"192.0.2.\u0031","dest_ip":"192.0.2.2","proto":"\u0055DP","src_port":5,"dest_port":6}"#,
        );
        assert_eq!(e.src_ip, a("192.0.2.1"));
        assert_eq!(e.proto, Some(Proto::UDP));
    }

    #[test]
    fn skips_and_errors() {
        let c = ctx();
        for (line, want) in [
            (
                &br#"{"timestamp":"2025-03-04T10:11:12Z","event_type":"stats","stats":{"uptime":1}}"#[..],
                Outcome::Skipped("eve: event type is not traffic"),
            ),
            (
                br#"{"event_type":"http","src_ip":"192.0.2.1","dest_ip":"192.0.2.2"}"#,
                Outcome::Skipped("eve: event type is not traffic"),
            ),
            (
                br#"{"ts":1.0,"id.orig_h":"192.0.2.1"}"#,
                Outcome::Skipped("eve: no event_type"),
            ),
            (b"plain text", Outcome::Skipped("eve: not a JSON object")),
            (b"{", Outcome::Skipped("eve: not EVE JSON")),
            (
                br#"{"event_type":"flow","src_ip":"192.0.2.1""#,
                Outcome::Error("eve: malformed JSON"),
            ),
            (
                br#"{"event_type":"flow","src_ip":"nope","dest_ip":"192.0.2.2"}"#,
                Outcome::Error("eve: bad src_ip"),
            ),
            (
                br#"{"event_type":"flow","src_ip":"192.0.2.1"}"#,
                Outcome::Error("eve: bad dest_ip"),
            ),
        ] {
            assert_eq!(parse(line, &c), want, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn never_panics() {
        let lines: &[&[u8]] = &[
            br#"x: {"timestamp":"2025-03-04T10:11:12.345678+0100","event_type":"alert","src_ip":"192.0.2.10","src_port":51000,"dest_ip":"198.51.100.7","dest_port":443,"proto":"TCP","alert":{"action":"allowed","signature_id":1,"signature":"s \"q\"","severity":1},"flow":{"bytes_toserver":1}}"#,
            br#"{"event_type":"dns","src_ip":"192.0.2.10","dest_ip":"192.0.2.53","proto":"UDP","dns":{"queries":[{"rrname":"a","rrtype":"A"}]}}"#,
        ];
        let c = ctx();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for line in lines {
            for end in 0..=line.len() {
                let _ = parse(&line[..end], &c);
                let _ = parse(&line[end..], &c);
            }
            let mut m = line.to_vec();
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
        }
        let mut big = lines[0].to_vec();
        big.resize(1 << 20, b'[');
        let _ = parse(&big, &c);
    }
}
