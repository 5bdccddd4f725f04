//! AWS VPC flow logs v2–v11: the default format, custom field lists (config or header line).
//!
//! A record is a line of space-separated values, `-` for a value that does not apply. Which
//! value is which depends on the log's field list: the default v2 list, a list configured for the
//! source ([`State::from_fields`]), or the header line that files delivered to S3 start with
//! (`version account-id interface-id ...`). A header line is `Skipped` and replaces the layout
//! for the rest of the stream. See `docs/formats/vpcflow.md`.

use crate::event::{Action, Direction, Event, Proto};
use crate::parse::bytes::{ip, port, uint, utf8};
use crate::parse::{Ctx, Outcome};

/// One field of a VPC flow log record, by the AWS field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Version,
    AccountId,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    PktSrcAddr,
    PktDstAddr,
    FlowDirection,
    TcpFlags,
    /// A documented field this parser does not map (`vpc-id`, `region`, `ecs-*`, ...).
    Known,
    /// A name AWS does not document (yet): carried, not mapped.
    Unknown,
}

/// AWS field names (v2–v11) that carry nothing the normalised event holds.
const OTHER_NAMES: &[&str] = &[
    "vpc-id",
    "subnet-id",
    "instance-id",
    "type",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
    "resource-id",
    "encryption-status",
];

/// The default (version 2) layout.
const V2: &[Field] = &[
    Field::Version,
    Field::AccountId,
    Field::InterfaceId,
    Field::SrcAddr,
    Field::DstAddr,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Packets,
    Field::Bytes,
    Field::Start,
    Field::End,
    Field::Action,
    Field::LogStatus,
];

/// Most fields a layout may declare (AWS has fewer than 60; this bounds a hostile header).
const MAX_FIELDS: usize = 128;

/// Field layout: the default v2 layout, a configured `fields = "..."`, or a file's header line.
///
/// `Default` is the v2 layout and allocates nothing; a custom layout is allocated once, when it
/// is configured or a header line is read, never per data line.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// `None`: the default v2 layout.
    custom: Option<Box<[Field]>>,
}

impl State {
    /// A layout from a configured field list: `${version} ${vpc-id} ...` (the AWS console syntax)
    /// or plain space-separated names (`version vpc-id ...`; `_` is read as `-`).
    pub fn from_fields(s: &str) -> Result<State, String> {
        let mut fields = Vec::new();
        for tok in s.split_ascii_whitespace() {
            let name = match tok.strip_prefix("${") {
                Some(rest) => rest
                    .strip_suffix('}')
                    .ok_or_else(|| format!("vpcflow field {tok:?}: missing closing brace"))?,
                None => tok,
            };
            if fields.len() == MAX_FIELDS {
                return Err(format!("vpcflow: more than {MAX_FIELDS} fields"));
            }
            match field_of(name.as_bytes()) {
                Some(f) if f != Field::Unknown => fields.push(f),
                _ => return Err(format!("vpcflow: unknown field name {name:?}")),
            }
        }
        if !fields.contains(&Field::SrcAddr) && !fields.contains(&Field::DstAddr) {
            return Err("vpcflow: the field list names neither srcaddr nor dstaddr".into());
        }
        Ok(State {
            custom: Some(fields.into_boxed_slice()),
        })
    }

    fn layout(&self) -> &[Field] {
        self.custom.as_deref().unwrap_or(V2)
    }
}

/// The field a name denotes (`_` and `-` alike, ASCII lowercase only), `Unknown` for a
/// well-formed name AWS does not document, `None` for a token that cannot be a field name.
fn field_of(name: &[u8]) -> Option<Field> {
    if name.is_empty()
        || name.len() > 40
        || !name[0].is_ascii_lowercase()
        || !name
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return None;
    }
    let mut buf = [0u8; 40];
    for (d, &b) in buf.iter_mut().zip(name) {
        *d = if b == b'_' { b'-' } else { b };
    }
    let n = &buf[..name.len()];
    Some(match n {
        b"version" => Field::Version,
        b"account-id" => Field::AccountId,
        b"interface-id" => Field::InterfaceId,
        b"srcaddr" => Field::SrcAddr,
        b"dstaddr" => Field::DstAddr,
        b"srcport" => Field::SrcPort,
        b"dstport" => Field::DstPort,
        b"protocol" => Field::Protocol,
        b"packets" => Field::Packets,
        b"bytes" => Field::Bytes,
        b"start" => Field::Start,
        b"end" => Field::End,
        b"action" => Field::Action,
        b"log-status" => Field::LogStatus,
        b"pkt-srcaddr" => Field::PktSrcAddr,
        b"pkt-dstaddr" => Field::PktDstAddr,
        b"flow-direction" => Field::FlowDirection,
        b"tcp-flags" => Field::TcpFlags,
        _ if OTHER_NAMES.iter().any(|o| o.as_bytes() == n) => Field::Known,
        _ => Field::Unknown,
    })
}

/// Reads a header line (every token a field name, `srcaddr` or `dstaddr` among them, at least
/// three documented names). Returns the layout, allocated here (once per header).
fn header(line: &[u8]) -> Option<Box<[Field]>> {
    // Cheap rejection first: a header starts with a lowercase letter and has no digit-led token.
    if !line.first().is_some_and(u8::is_ascii_lowercase) {
        return None;
    }
    let mut n = 0usize;
    let mut documented = 0usize;
    let mut addr = false;
    for tok in tokens(line) {
        let f = field_of(tok)?;
        n += 1;
        if n > MAX_FIELDS {
            return None;
        }
        if f != Field::Unknown {
            documented += 1;
        }
        addr |= matches!(f, Field::SrcAddr | Field::DstAddr);
    }
    if !addr || documented < 3 {
        return None;
    }
    Some(tokens(line).filter_map(field_of).collect())
}

fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

/// `-` (no value) as `None`; anything else must parse.
fn opt<T>(v: &[u8], f: impl FnOnce(&[u8]) -> Option<T>) -> Result<Option<T>, ()> {
    if v == b"-" {
        Ok(None)
    } else {
        f(v).map(Some).ok_or(())
    }
}

/// Parses one VPC flow log line with the stream's layout (a header line updates it).
pub fn parse<'a>(line: &'a [u8], ctx: &Ctx, state: &mut State) -> Outcome<'a> {
    let _ = ctx; // times are epoch seconds: no year to guess
    let line = match line {
        [rest @ .., b'\r'] => rest,
        l => l,
    };
    if let Some(layout) = header(line) {
        state.custom = Some(layout);
        return Outcome::Skipped("vpcflow: header line");
    }
    let layout = state.layout();
    let mut ev = Event::default();
    let (mut pkt_src, mut pkt_dst) = (None, None);
    let (mut n, mut saw_action, mut saw_status) = (0usize, false, false);
    for tok in tokens(line) {
        let Some(&f) = layout.get(n) else {
            return Outcome::Skipped("vpcflow: more values than the field list");
        };
        n += 1;
        let bad = match f {
            Field::Version => {
                // Versions are small integers (2..=11 today); strict so other formats' lines
                // (which never start with a bare small number and this many columns) are skipped.
                if uint(tok).is_none_or(|v| !(2..=99).contains(&v)) {
                    return Outcome::Skipped("vpcflow: no version number");
                }
                false
            }
            Field::AccountId => {
                if tok != b"-" && tok != b"unknown" && uint(tok).is_none() {
                    return Outcome::Skipped("vpcflow: account-id is not a number");
                }
                false
            }
            Field::InterfaceId => {
                ev.iface = if tok == b"-" { None } else { utf8(tok) };
                false
            }
            Field::SrcAddr => opt(tok, ip).map(|v| ev.src_ip = v).is_err(),
            Field::DstAddr => opt(tok, ip).map(|v| ev.dst_ip = v).is_err(),
            Field::PktSrcAddr => opt(tok, ip).map(|v| pkt_src = v).is_err(),
            Field::PktDstAddr => opt(tok, ip).map(|v| pkt_dst = v).is_err(),
            Field::SrcPort => opt(tok, port).map(|v| ev.src_port = v).is_err(),
            Field::DstPort => opt(tok, port).map(|v| ev.dst_port = v).is_err(),
            Field::Protocol => opt(tok, |t| uint(t).and_then(|p| u8::try_from(p).ok()))
                .map(|v| ev.proto = v.map(Proto))
                .is_err(),
            Field::Packets => opt(tok, uint).map(|v| ev.packets = v).is_err(),
            Field::Bytes => opt(tok, uint).map(|v| ev.bytes = v).is_err(),
            Field::Start => opt(tok, uint)
                .map(|v| {
                    ev.ts = v.and_then(|s| i64::try_from(s).ok()?.checked_mul(1_000_000));
                })
                .is_err(),
            Field::End | Field::TcpFlags => opt(tok, uint).is_err(),
            Field::Action => {
                saw_action = true;
                match tok {
                    b"ACCEPT" => ev.action = Some(Action::Allow),
                    b"REJECT" => ev.action = Some(Action::Deny),
                    b"-" => {}
                    _ => return Outcome::Skipped("vpcflow: action is not ACCEPT or REJECT"),
                }
                false
            }
            Field::LogStatus => {
                saw_status = true;
                match tok {
                    b"OK" | b"-" => {}
                    b"NODATA" => return Outcome::Skipped("vpcflow: NODATA record"),
                    b"SKIPDATA" => return Outcome::Skipped("vpcflow: SKIPDATA record"),
                    _ => return Outcome::Skipped("vpcflow: log-status is not OK/NODATA/SKIPDATA"),
                }
                false
            }
            Field::FlowDirection => {
                match tok {
                    b"ingress" => ev.direction = Some(Direction::In),
                    b"egress" => ev.direction = Some(Direction::Out),
                    b"-" => {}
                    _ => return Outcome::Skipped("vpcflow: flow-direction is not ingress/egress"),
                }
                false
            }
            Field::Known | Field::Unknown => false,
        };
        if bad {
            // A typed column that does not parse: with no version/action/log-status seen yet
            // this is most likely another format's line, so it is not claimed.
            if !(saw_action || saw_status || layout.first() == Some(&Field::Version)) {
                return Outcome::Skipped("vpcflow: value does not fit the field list");
            }
            return Outcome::Error(match f {
                Field::SrcAddr | Field::DstAddr | Field::PktSrcAddr | Field::PktDstAddr => {
                    "vpcflow: bad address"
                }
                Field::SrcPort | Field::DstPort => "vpcflow: bad port",
                Field::Protocol => "vpcflow: bad protocol number",
                _ => "vpcflow: bad number",
            });
        }
    }
    if n != layout.len() {
        return Outcome::Skipped("vpcflow: value count does not match the field list");
    }
    // srcaddr/dstaddr are the interface's view (what AWS documents as the flow's addresses);
    // pkt-* (the packet's original addresses, through NAT or a transit gateway) only fill in
    // when the interface addresses are absent.
    ev.src_ip = ev.src_ip.or(pkt_src);
    ev.dst_ip = ev.dst_ip.or(pkt_dst);
    if ev.src_ip.is_none() && ev.dst_ip.is_none() {
        return Outcome::Skipped("vpcflow: record without addresses");
    }
    // Ports as written, for every protocol: AWS writes 0 0 for ICMP (no type or code there) and
    // for the protocols without ports.
    Outcome::Event(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx::new(1_700_000_000_000_000)
    }

    fn ev<'a>(line: &'a [u8], st: &mut State) -> Event<'a> {
        match parse(line, &ctx(), st) {
            Outcome::Event(e) => e,
            o => panic!("{o:?} for {}", String::from_utf8_lossy(line)),
        }
    }

    // Lines written from the AWS documentation's field descriptions (not copied from a corpus).
    const V2_ACCEPT: &[u8] = b"2 111122223333 eni-0a1b2c3d4e5f60718 10.1.2.3 198.51.100.7 49152 443 6 12 3456 1700000000 1700000060 ACCEPT OK";

    #[test]
    fn default_v2_layout() {
        let mut st = State::default();
        let e = ev(V2_ACCEPT, &mut st);
        assert_eq!(
            e,
            Event {
                ts: Some(1_700_000_000_000_000),
                src_ip: Some("10.1.2.3".parse().unwrap()),
                dst_ip: Some("198.51.100.7".parse().unwrap()),
                src_port: Some(49152),
                dst_port: Some(443),
                proto: Some(Proto::TCP),
                action: Some(Action::Allow),
                iface: Some("eni-0a1b2c3d4e5f60718"),
                bytes: Some(3456),
                packets: Some(12),
                ..Event::default()
            }
        );
        let e = ev(
            b"2 111122223333 eni-0a1b2c3d4e5f60718 2001:db8::1 2001:db8::2 0 0 58 1 96 1700000000 1700000001 REJECT OK",
            &mut st,
        );
        assert_eq!(e.action, Some(Action::Deny));
        assert_eq!(e.proto, Some(Proto::ICMPV6));
        // AWS writes 0 0 for ICMP (no type/code meaning): passed through as written.
        assert_eq!((e.src_port, e.dst_port), (Some(0), Some(0)));
        assert_eq!(e.src_ip, Some("2001:db8::1".parse().unwrap()));
        // GRE and ICMP over IPv4: 0 0 as written too.
        for (proto, want) in [("47", Proto::GRE), ("1", Proto::ICMP)] {
            let line = format!(
                "2 111122223333 eni-0a1b2c3d4e5f60718 10.1.2.3 198.51.100.7 0 0 {proto} 2 200 1700000000 1700000001 ACCEPT OK"
            );
            let e = ev(line.as_bytes(), &mut st);
            assert_eq!(
                (e.proto, e.src_port, e.dst_port),
                (Some(want), Some(0), Some(0))
            );
        }
    }

    #[test]
    fn nodata_skipdata_and_others_are_skipped() {
        let mut st = State::default();
        for (line, why) in [
            (
                &b"2 111122223333 eni-0a1b2c3d4e5f60718 - - - - - - - 1700000000 1700000060 - NODATA"[..],
                "vpcflow: NODATA record",
            ),
            (
                b"2 111122223333 eni-0a1b2c3d4e5f60718 - - - - - - - 1700000000 1700000060 - SKIPDATA",
                "vpcflow: SKIPDATA record",
            ),
            (b"Jan  1 00:00:00 host sshd[1]: hello", "vpcflow: no version number"),
            (b"", "vpcflow: value count does not match the field list"),
        ] {
            assert_eq!(parse(line, &ctx(), &mut st), Outcome::Skipped(why));
        }
        assert_eq!(
            parse(
                b"2 111122223333 eni-0a1b2c3d4e5f60718 10.1.2.999 198.51.100.7 1 2 6 1 2 3 4 ACCEPT OK",
                &ctx(),
                &mut st
            ),
            Outcome::Error("vpcflow: bad address")
        );
    }

    #[test]
    fn header_line_sets_the_layout() {
        let mut st = State::default();
        let h = b"version vpc-id srcaddr dstaddr srcport dstport protocol bytes packets start end action tcp-flags pkt-srcaddr pkt-dstaddr flow-direction log-status";
        assert_eq!(
            parse(h, &ctx(), &mut st),
            Outcome::Skipped("vpcflow: header line")
        );
        let e = ev(
            b"5 vpc-0123456789abcdef0 10.0.0.5 192.0.2.10 443 50000 6 5000 9 1700000100 1700000160 ACCEPT 19 10.0.0.5 192.0.2.10 egress OK",
            &mut st,
        );
        assert_eq!(
            e,
            Event {
                ts: Some(1_700_000_100_000_000),
                src_ip: Some("10.0.0.5".parse().unwrap()),
                dst_ip: Some("192.0.2.10".parse().unwrap()),
                src_port: Some(443),
                dst_port: Some(50000),
                proto: Some(Proto::TCP),
                action: Some(Action::Allow),
                direction: Some(Direction::Out),
                bytes: Some(5000),
                packets: Some(9),
                ..Event::default()
            }
        );
        // The v2 default no longer applies.
        assert_eq!(
            parse(V2_ACCEPT, &ctx(), &mut st),
            Outcome::Error("vpcflow: bad address")
        );
    }

    #[test]
    fn configured_fields_and_pkt_addresses() {
        let mut st = State::from_fields(
            "${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr}",
        )
        .unwrap();
        let e = ev(b"eni-1 10.0.1.5 10.0.0.9 10.0.1.5 203.0.113.5", &mut st);
        assert_eq!(e.src_ip, Some("10.0.1.5".parse().unwrap()));
        assert_eq!(e.dst_ip, Some("10.0.0.9".parse().unwrap()));
        assert_eq!(e.iface, Some("eni-1"));
        // pkt-* fill in only when the interface addresses are absent.
        let e = ev(b"eni-1 - - 10.0.1.5 203.0.113.5", &mut st);
        assert_eq!(e.dst_ip, Some("203.0.113.5".parse().unwrap()));
        assert!(State::from_fields("version srcaddr dstaddr").is_ok());
        assert!(State::from_fields("version account_id srcaddr").is_ok());
        assert!(State::from_fields("${version").is_err());
        assert!(State::from_fields("version bogus-name srcaddr").is_err());
        assert!(State::from_fields("version start end").is_err());
    }

    #[test]
    fn not_a_header() {
        assert!(header(b"version 2 srcaddr").is_none());
        assert!(header(b"srcaddr dstaddr").is_none());
        assert!(header(b"hello world srcaddr dstaddr").is_none());
        assert!(header(b"version srcaddr dstaddr").is_some());
    }

    #[test]
    fn no_panics() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let lines: &[&[u8]] = &[
            V2_ACCEPT,
            b"version srcaddr dstaddr srcport dstport protocol start end action log-status",
            b"5 10.0.0.5 192.0.2.10 443 50000 6 1700000100 1700000160 ACCEPT OK",
        ];
        let mut st = State::default();
        for l in lines {
            for i in 0..=l.len() {
                let _ = parse(&l[..i], &ctx(), &mut st);
                let _ = parse(&l[i..], &ctx(), &mut st);
            }
            let mut m = l.to_vec();
            for _ in 0..3000 {
                let i = (next() as usize) % m.len();
                let old = m[i];
                m[i] = next() as u8;
                let _ = parse(&m, &ctx(), &mut st);
                m[i] = old;
            }
        }
        let big = vec![b'a'; 1 << 20];
        let _ = parse(&big, &ctx(), &mut st);
        let mut hdr = b"version srcaddr dstaddr ".repeat(1000);
        hdr.push(b'x');
        let _ = parse(&hdr, &ctx(), &mut st);
    }
}
