//! The vendor-specific glue for non-CEF kv lines: each vendor's marker test, where its pairs
//! start, its positional parts, and which of its log types are not traffic. The key maps
//! themselves live in `tables.rs`.

use super::tables::{self, Slot};
use super::tok::Style;
use super::{Acc, Reasons, any_time, header_ts};
use crate::event::{Direction, Micros, Proto};
use crate::parse::bytes::{find_anchored, ip, trim};
use crate::parse::{Ctx, Format, Outcome};

pub(super) fn parse<'a>(format: Format, line: &'a [u8], ctx: &Ctx, r: &Reasons) -> Outcome<'a> {
    match format {
        Format::Fortigate => simple(line, ctx, r, &tables::FORTIGATE, |acc| {
            // `type="event"` is system/VPN/admin activity; `traffic` and `utm` are traffic.
            acc.get(Slot::Kind).map(trim) != Some(b"event")
        }),
        Format::Sonicwall => simple(line, ctx, r, &tables::SONICWALL, |acc| {
            acc.get(Slot::Id).map(trim) == Some(b"firewall")
        }),
        Format::Sophos => simple(line, ctx, r, &tables::SOPHOS, |acc| {
            !acc.get(Slot::Kind)
                .is_some_and(|k| k.eq_ignore_ascii_case(b"event"))
        }),
        Format::Stormshield => stormshield(line, ctx, r),
        Format::Checkpoint => checkpoint(line, ctx, r),
        Format::Clavister => clavister(line, ctx, r),
        Format::Barracuda => barracuda(line, ctx, r),
        Format::Meraki => meraki(line, ctx, r),
        Format::Watchguard => watchguard(line, ctx, r),
        _ => Outcome::Skipped(r.no_marker),
    }
}

/// Space-separated pairs, a marker key required, `keep` deciding on the vendor's log type.
fn simple<'a>(
    line: &'a [u8],
    ctx: &Ctx,
    r: &Reasons,
    t: &'static tables::Table,
    keep: impl Fn(&Acc<'a>) -> bool,
) -> Outcome<'a> {
    let mut acc = Acc::new();
    acc.feed(line, Style::Space, &[t]);
    if !acc.marker {
        return Outcome::Skipped(r.no_marker);
    }
    if !keep(&acc) {
        return Outcome::Skipped(r.not_traffic);
    }
    acc.finish(t, || header_ts(line, ctx), r)
}

fn stormshield<'a>(line: &'a [u8], ctx: &Ctx, r: &Reasons) -> Outcome<'a> {
    if find_anchored(line, b"id=firewall", 6).is_none() {
        return Outcome::Skipped(r.no_marker);
    }
    let mut acc = Acc::new();
    acc.feed(line, Style::Space, &[&tables::STORMSHIELD]);
    if !acc.marker {
        return Outcome::Skipped(r.no_marker);
    }
    let alarm = acc.get(Slot::Kind).map(trim) == Some(b"alarm");
    if alarm {
        if let Some(m) = acc.get(Slot::Msg) {
            acc.set(Slot::Signature, m);
        }
    }
    // `msg` is not an action fallback here (alarm texts are not verdicts).
    match acc.finish(&tables::STORMSHIELD, || header_ts(line, ctx), r) {
        Outcome::Event(mut e) if acc.get(Slot::Action).is_none() => {
            e.action = None;
            Outcome::Event(e)
        }
        o => o,
    }
}

fn checkpoint<'a>(line: &'a [u8], ctx: &Ctx, r: &Reasons) -> Outcome<'a> {
    let mut acc = Acc::new();
    acc.feed(line, Style::Colon, &[&tables::CHECKPOINT]);
    if !acc.marker {
        acc = Acc::new();
        acc.feed(line, Style::Space, &[&tables::CHECKPOINT]);
    }
    if !acc.marker {
        return Outcome::Skipped(r.no_marker);
    }
    acc.finish(&tables::CHECKPOINT, || header_ts(line, ctx), r)
}

fn clavister<'a>(line: &'a [u8], ctx: &Ctx, r: &Reasons) -> Outcome<'a> {
    let marked = [&b"connsrcip="[..], b"connipproto=", b"recvif="]
        .iter()
        .any(|m| find_anchored(line, m, 0).is_some());
    if !marked {
        return Outcome::Skipped(r.no_marker);
    }
    let mut acc = Acc::new();
    acc.feed(line, Style::Space, &[&tables::CLAVISTER]);
    // cOS Core stamps `[2024-03-04 10:11:12]` before the category.
    let bracket = memchr::memchr(b'[', &line[..line.len().min(128)])
        .and_then(|i| crate::time::parse_rfc3339(&line[i + 1..]))
        .map(|(t, _)| t);
    acc.finish(
        &tables::CLAVISTER,
        || bracket.or_else(|| header_ts(line, ctx)),
        r,
    )
}

/// Barracuda CloudGen activity log: `[stamp] Type [+zz:zz] Action: type=..|proto=..|srcIP=..`.
fn barracuda<'a>(line: &'a [u8], ctx: &Ctx, r: &Reasons) -> Outcome<'a> {
    let Some(at) = find_anchored(line, b": type=", 0) else {
        return Outcome::Skipped(r.no_marker);
    };
    let pairs = &line[at + 2..];
    if find_anchored(pairs, b"|srcIP=", 4).is_none() {
        return Outcome::Skipped(r.no_marker);
    }
    let head = &line[..at];
    let word = head.rsplit(|&b| b == b' ').next().unwrap_or(head);
    let mut acc = Acc::new();
    acc.set(Slot::Action, word);
    acc.feed(pairs, Style::Delim(b'|'), &[&tables::BARRACUDA]);
    let ts = barracuda_time(head).or_else(|| header_ts(line, ctx));
    match acc.finish(&tables::BARRACUDA, || ts, r) {
        Outcome::Event(mut e) => {
            e.direction = match acc.get(Slot::Kind).map(trim) {
                Some(b"LIN" | b"IFWD" | b"IPXY" | b"IPRX") => Some(Direction::In),
                Some(b"LOUT" | b"FWD" | b"PXY" | b"PRX") => Some(Direction::Out),
                _ => None,
            };
            Outcome::Event(e)
        }
        o => o,
    }
}

/// `2018 01 30 13:12:21 Security +01:00` (local time and its offset).
fn barracuda_time(head: &[u8]) -> Option<Micros> {
    let h = head.get(..19)?;
    if h[4] != b' ' || h[7] != b' ' || h[10] != b' ' || h[13] != b':' || h[16] != b':' {
        return None;
    }
    let n = |a: usize, b: usize| {
        crate::parse::bytes::uint(&h[a..b]).and_then(|v| u32::try_from(v).ok())
    };
    let t = crate::time::civil_to_micros(
        i32::try_from(n(0, 4)?).ok()?,
        n(5, 7)?,
        n(8, 10)?,
        n(11, 13)?,
        n(14, 16)?,
        n(17, 19)?,
        0,
    )?;
    // The offset token `+01:00` follows the log type.
    let off = head[19..]
        .split(|&b| b == b' ')
        .find(|t| t.len() == 6 && matches!(t[0], b'+' | b'-') && t[3] == b':')
        .and_then(|t| {
            let hh = i64::try_from(crate::parse::bytes::uint(&t[1..3])?).ok()?;
            let mm = i64::try_from(crate::parse::bytes::uint(&t[4..6])?).ok()?;
            let s = (hh * 3600 + mm * 60) * 1_000_000;
            Some(if t[0] == b'-' { -s } else { s })
        })
        .unwrap_or(0);
    Some(t - off)
}

const MERAKI_FLOWS: &[&[u8]] = &[
    b"flows",
    b"firewall",
    b"vpn_firewall",
    b"cellular_firewall",
    b"bridge_anyconnect_client_vpn_firewall",
    b"ip_flow_start",
    b"ip_flow_end",
];

/// `[syslog] EPOCH.NANOS DEVICE CATEGORY [allow|deny] k=v ... [pattern: allow|deny|0|1 ...]`.
fn meraki<'a>(line: &'a [u8], _ctx: &Ctx, r: &Reasons) -> Outcome<'a> {
    let mut toks = line.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let mut ts = None;
    // The epoch stamp is among the first few tokens (after an optional syslog/relay header).
    for t in toks.by_ref().take(8) {
        let dot = memchr::memchr(b'.', t);
        if let Some(d) = dot {
            if (9..=10).contains(&d) && t[..d].iter().chain(&t[d + 1..]).all(u8::is_ascii_digit) {
                ts = any_time(t);
                break;
            }
        }
    }
    if ts.is_none() {
        return Outcome::Skipped(r.no_marker);
    }
    let _device = toks.next();
    let Some(cat) = toks.next() else {
        return Outcome::Skipped(r.no_marker);
    };
    if !MERAKI_FLOWS.contains(&cat) {
        return Outcome::Skipped(r.not_traffic);
    }
    let rest_at = cat.as_ptr() as usize - line.as_ptr() as usize + cat.len();
    let rest = &line[rest_at..];
    let mut acc = Acc::new();
    // Newer firmware: `flows allow src=...`; older: `... pattern: allow all` (1 deny, 0 allow).
    if let Some(w) = rest.split(|&b| b == b' ').find(|t| !t.is_empty()) {
        if !w.contains(&b'=') && (w == b"allow" || w == b"deny") {
            acc.set(Slot::Action, w);
        }
    }
    if let Some(p) = find_anchored(rest, b"pattern: ", 0) {
        let w = rest[p + 9..].split(|&b| b == b' ').next().unwrap_or(&[]);
        acc.set(Slot::Action, w);
    }
    acc.feed(rest, Style::Space, &[&tables::MERAKI]);
    acc.finish(&tables::MERAKI, || ts, r)
}

/// WatchGuard Fireware traffic log. Two positional layouts, then `key="value"` pairs:
/// - `Allow SRC DST svc/proto [SPORT DPORT] SRCIF DSTIF Allowed LEN TTL (policy) k="v"...`
///   (Traffic Monitor and current syslog);
/// - `Deny SRCIF DSTIF LEN proto HDRLEN TTL SRC DST [SPORT DPORT] ... (policy)` (older syslog).
fn watchguard<'a>(line: &'a [u8], ctx: &Ctx, r: &Reasons) -> Outcome<'a> {
    if find_anchored(line, b"msg_id=", 3).is_none() {
        return Outcome::Skipped(r.no_marker);
    }
    let mut words = line.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let Some(disp) = words.by_ref().find(|&w| w == b"Allow" || w == b"Deny") else {
        return Outcome::Skipped(r.not_traffic);
    };
    let mut t: [&[u8]; 11] = [&[]; 11];
    for (slot, w) in t.iter_mut().zip(words) {
        *slot = w;
    }
    let mut acc = Acc::new();
    acc.set(Slot::Action, disp);
    let len;
    if ip(t[0]).is_some() {
        acc.set(Slot::Src, t[0]);
        acc.set(Slot::Dst, t[1]);
        let proto = t[2].rsplit(|&b| b == b'/').next().unwrap_or(t[2]);
        acc.set(Slot::Proto, proto);
        let ports = Proto::from_name(proto).is_some_and(Proto::has_ports);
        let i = if ports {
            acc.set(Slot::SrcPort, t[3]);
            acc.set(Slot::DstPort, t[4]);
            5
        } else {
            3
        };
        acc.set(Slot::IfaceIn, t[i]);
        acc.set(Slot::IfaceOut, t[i + 1]);
        len = t[i + 3];
    } else {
        acc.set(Slot::IfaceIn, t[0]);
        acc.set(Slot::IfaceOut, t[1]);
        len = t[2];
        acc.set(Slot::Proto, t[3]);
        acc.set(Slot::Src, t[6]);
        acc.set(Slot::Dst, t[7]);
        acc.set(Slot::SrcPort, t[8]);
        acc.set(Slot::DstPort, t[9]);
    }
    // The policy name in parentheses after the disposition (may contain spaces).
    let after = disp.as_ptr() as usize - line.as_ptr() as usize;
    if let Some(o) = memchr::memchr(b'(', &line[after..]) {
        let s = &line[after + o + 1..];
        if let Some(c) = memchr::memchr(b')', s) {
            acc.set(Slot::RuleName, &s[..c]);
        }
    }
    acc.feed(&line[after..], Style::Space, &[&tables::WATCHGUARD]);
    if acc.get(Slot::BytesIn).is_none() && acc.get(Slot::BytesOut).is_none() {
        acc.set(Slot::Bytes, len);
    }
    if acc.get(Slot::PktsIn).is_none() && acc.get(Slot::PktsOut).is_none() {
        acc.set(Slot::Packets, b"1");
    }
    // A `(2024-03-04T10:11:12)` stamp before the disposition is the Firebox's own time.
    let stamp = memchr::memchr(b'(', &line[..after])
        .and_then(|o| crate::time::parse_rfc3339(&line[o + 1..]))
        .map(|(t, _)| t);
    acc.finish(
        &tables::WATCHGUARD,
        || stamp.or_else(|| header_ts(line, ctx)),
        r,
    )
}
