//! Shared key=value / CEF / LEEF engine with per-vendor field tables (FortiGate, Check Point,
//! SonicWall, WatchGuard, Sophos, Stormshield, Clavister, Barracuda, Meraki, generic CEF and LEEF).
//!
//! One mechanism for eleven formats: [`tok::Pairs`] walks the line once yielding borrowed
//! `(key, value)` pairs, a vendor [`tables::Table`] maps each key to a normalised [`Slot`], and
//! [`Acc::finish`] turns the slots into an [`Event`]. Vendor code is limited to what the tables
//! cannot say: where the pairs start (CEF/LEEF headers, Barracuda's `Action:` prefix), positional
//! parts (WatchGuard, Meraki) and which log types are not traffic. docs/formats/kv.md has the maps.

mod cef;
pub mod tables;
pub mod tok;
mod vendors;

use std::net::IpAddr;

use crate::event::{Action, Direction, Event, Micros};
use crate::parse::bytes::{field, find_ci, ip, port, trim, uint};
use crate::parse::{Ctx, Format, Outcome, syslog};
use tables::{SLOTS, Slot, Table};
use tok::{Pairs, Style};

/// Static reasons, one set per format (Outcome reasons must be `&'static str`).
pub(crate) struct Reasons {
    pub no_marker: &'static str,
    pub not_traffic: &'static str,
    pub bad_src: &'static str,
    pub bad_dst: &'static str,
}

macro_rules! reasons {
    ($n:literal, $marker:literal) => {
        Reasons {
            no_marker: concat!($n, ": no ", $marker),
            not_traffic: concat!($n, ": not a traffic event (no source/destination)"),
            bad_src: concat!($n, ": bad source address"),
            bad_dst: concat!($n, ": bad destination address"),
        }
    };
}

pub(crate) fn reasons(f: Format) -> Reasons {
    match f {
        Format::Cef => reasons!("cef", "CEF: header"),
        Format::Leef => reasons!("leef", "LEEF: header"),
        Format::Fortigate => reasons!("fortigate", "devname=/logid= or Fortinet CEF"),
        Format::Checkpoint => reasons!("checkpoint", "Check Point marker (loguid, originsicname)"),
        Format::Sonicwall => reasons!("sonicwall", "id=firewall sn="),
        Format::Watchguard => reasons!("watchguard", "msg_id= with Allow/Deny"),
        Format::Sophos => reasons!("sophos", "log_component=/device_name= log_type="),
        Format::Stormshield => reasons!("stormshield", "id=firewall with Stormshield keys"),
        Format::Clavister => reasons!("clavister", "connsrcip=/recvif= keys"),
        Format::Barracuda => reasons!("barracuda", "activity log |srcIP= pairs or CEF"),
        Format::Meraki => reasons!("meraki", "flows/firewall/ip_flow_* event"),
        _ => reasons!("kv", "marker"),
    }
}

/// One value per slot, first one seen wins (vendors sometimes repeat a key in a nested part).
pub(crate) struct Acc<'a> {
    v: [Option<&'a [u8]>; SLOTS],
    pub marker: bool,
}

impl<'a> Acc<'a> {
    pub fn new() -> Self {
        Acc {
            v: [None; SLOTS],
            marker: false,
        }
    }

    pub fn get(&self, s: Slot) -> Option<&'a [u8]> {
        self.v[s as usize]
    }

    pub fn set(&mut self, s: Slot, v: &'a [u8]) {
        if s == Slot::Marker {
            self.marker = true;
        } else if self.v[s as usize].is_none() {
            self.v[s as usize] = Some(v);
        }
    }

    /// Walks `text` once, filling slots from the first table (in order) that knows each key.
    pub fn feed(&mut self, text: &'a [u8], style: Style, tables: &[&Table]) {
        for (k, v) in Pairs::new(text, style) {
            if let Some(s) = tables.iter().find_map(|t| t.slot(k)) {
                self.set(s, v);
            }
        }
    }

    /// The normalised event. `actions` classifies the action word; `fallback_ts` gives the
    /// syslog header's time, used (and only then computed) when the pairs carry none.
    pub fn finish(
        &self,
        actions: &Table,
        fallback_ts: impl FnOnce() -> Option<Micros>,
        r: &Reasons,
    ) -> Outcome<'a> {
        use Slot::*;
        let (src_ip, mut src_port, src_if) = match (self.get(Src), self.get(SrcHostPort)) {
            (Some(v), _) => (ip(trim(v)), None, None),
            (None, Some(v)) => host_port(v),
            (None, None) => return Outcome::Skipped(r.not_traffic),
        };
        let (dst_ip, mut dst_port, dst_if) = match (self.get(Dst), self.get(DstHostPort)) {
            (Some(v), _) => (ip(trim(v)), None, None),
            (None, Some(v)) => host_port(v),
            (None, None) => return Outcome::Skipped(r.not_traffic),
        };
        let Some(src_ip) = src_ip else {
            return Outcome::Error(r.bad_src);
        };
        let Some(dst_ip) = dst_ip else {
            return Outcome::Error(r.bad_dst);
        };
        src_port = self.get(SrcPort).and_then(|v| port(trim(v))).or(src_port);
        dst_port = self.get(DstPort).and_then(|v| port(trim(v))).or(dst_port);
        let proto = match (self.get(Proto), self.get(ProtoSvc)) {
            (Some(p), _) => crate::event::Proto::from_name(trim(p)),
            (None, Some(ps)) => {
                let name = ps.split(|&b| b == b'/').next().unwrap_or(ps);
                crate::event::Proto::from_name(trim(name))
            }
            (None, None) => None,
        };
        // Ports as written, except ICMP's: the vendors put type/code or the echo id there.
        if proto.is_some_and(crate::event::Proto::is_icmp) {
            (src_port, dst_port) = (None, None);
        }
        let sum = |total: Slot, a: Slot, b: Slot| {
            let n = |s| self.get(s).and_then(|v| uint(trim(v)));
            n(total).or(match (n(a), n(b)) {
                (Some(x), Some(y)) => Some(x.saturating_add(y)),
                (x, y) => x.or(y),
            })
        };
        let ts = self
            .get(Ts)
            .and_then(any_time)
            .or_else(|| date_time(self.get(Date)?, self.get(Time)?))
            .or_else(fallback_ts);
        let action = self
            .get(Action)
            .and_then(|v| actions.action(v))
            .or_else(|| self.get(Msg).and_then(msg_action));
        let iface = self
            .get(IfaceIn)
            .or(src_if)
            .or(self.get(IfaceOut))
            .or(dst_if)
            .and_then(|v| field(trim(v)));
        let rule = self
            .get(RuleName)
            .or(self.get(Rule))
            .or_else(|| self.cef_rule())
            .and_then(|v| field(trim(v)));
        Outcome::Event(Event {
            tcp_flags: Default::default(),
            ts,
            src_ip: Some(src_ip),
            dst_ip: Some(dst_ip),
            src_port,
            dst_port,
            proto,
            action,
            direction: self.get(Direction).and_then(direction),
            iface,
            bytes: sum(Bytes, BytesIn, BytesOut),
            packets: sum(Packets, PktsIn, PktsOut),
            rule,
            dns_qtype: None,
            dns_qname: None,
            signature: self.get(Signature).and_then(|v| field(trim(v))),
            severity: self.get(Severity).and_then(severity),
        })
    }

    /// CEF custom strings: the first `csN` whose `csNLabel` names a rule.
    fn cef_rule(&self) -> Option<&'a [u8]> {
        use Slot::*;
        [
            (Cs1Label, Cs1),
            (Cs2Label, Cs2),
            (Cs3Label, Cs3),
            (Cs4Label, Cs4),
            (Cs5Label, Cs5),
            (Cs6Label, Cs6),
        ]
        .iter()
        .find(|(l, _)| self.get(*l).is_some_and(|l| find_ci(l, b"rule").is_some()))
        .and_then(|&(_, v)| self.get(v))
    }
}

/// SonicWall `1.2.3.4:1234:X1`, Meraki `1.2.3.4:5678`, or a bare address (IPv6 too, also as
/// `[v6]:port`). Returns (address, port, interface).
fn host_port(v: &[u8]) -> (Option<IpAddr>, Option<u16>, Option<&[u8]>) {
    let v = trim(v);
    if let Some(a) = ip(v) {
        return (Some(a), None, None);
    }
    let (host, rest) = if let Some(inner) = v.strip_prefix(b"[") {
        match memchr::memchr(b']', inner) {
            Some(e) => (
                &inner[..e],
                inner[e + 1..].strip_prefix(b":").unwrap_or(&[]),
            ),
            None => return (None, None, None),
        }
    } else if memchr::memchr(b'.', v).is_some() {
        // IPv4: the first colon ends the address.
        match memchr::memchr(b':', v) {
            Some(c) => (&v[..c], &v[c + 1..]),
            None => (v, &v[v.len()..]),
        }
    } else {
        // Unbracketed IPv6 `addr:port:iface`: try the cut before the last, then second-last
        // colon; the part after must be a port.
        let last = memchr::memrchr(b':', v);
        let second = last.and_then(|l| memchr::memrchr(b':', &v[..l]));
        for c in [second, last].into_iter().flatten() {
            if let (Some(a), Some(rest)) = (ip(&v[..c]), v.get(c + 1..)) {
                let (p, i) = split_port_iface(rest);
                if p.is_some() {
                    return (Some(a), p, i);
                }
            }
        }
        return (None, None, None);
    };
    let (p, i) = split_port_iface(rest);
    (ip(host), p, i)
}

fn split_port_iface(rest: &[u8]) -> (Option<u16>, Option<&[u8]>) {
    match memchr::memchr(b':', rest) {
        Some(c) => (
            port(&rest[..c]),
            Some(&rest[c + 1..]).filter(|i| !i.is_empty()),
        ),
        None => (port(rest), None),
    }
}

/// SonicWall prints `fw_action="NA"` on many lines; its message still says what happened.
fn msg_action(m: &[u8]) -> Option<Action> {
    if m.len() > 200 {
        return None;
    }
    if find_ci(m, b"connection opened").is_some() || find_ci(m, b"connection closed").is_some() {
        return Some(Action::Allow);
    }
    tables::generic_action(m)
}

fn direction(v: &[u8]) -> Option<Direction> {
    let v = trim(v);
    const IN: &[&[u8]] = &[b"0", b"in", b"inbound", b"incoming", b"ingress"];
    const OUT: &[&[u8]] = &[b"1", b"out", b"outbound", b"outgoing", b"egress"];
    if IN.iter().any(|w| w.eq_ignore_ascii_case(v)) {
        Some(Direction::In)
    } else if OUT.iter().any(|w| w.eq_ignore_ascii_case(v)) {
        Some(Direction::Out)
    } else {
        None
    }
}

/// Numbers pass through (CEF 0–10, LEEF 1–10); words map onto 1 (informational) – 5 (critical).
pub(crate) fn severity(v: &[u8]) -> Option<u8> {
    let v = trim(v);
    if let Some(n) = uint(v) {
        return u8::try_from(n).ok();
    }
    const WORDS: &[(&[u8], u8)] = &[
        (b"informational", 1),
        (b"information", 1),
        (b"info", 1),
        (b"notice", 1),
        (b"low", 2),
        (b"warning", 3),
        (b"medium", 3),
        (b"high", 4),
        (b"critical", 5),
        (b"very-high", 5),
    ];
    WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(v))
        .map(|&(_, n)| n)
}

fn month(s: &[u8]) -> Option<u32> {
    const M: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let s = s.get(..3)?;
    M.iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

fn num(s: &[u8], a: usize, b: usize) -> Option<u32> {
    uint(s.get(a..b)?).and_then(|n| u32::try_from(n).ok())
}

/// Any timestamp a kv vendor prints in a single value:
/// epoch seconds (with optional `.fraction`), milliseconds, microseconds or nanoseconds by
/// magnitude; ISO `YYYY-MM-DD[T ]HH:MM:SS[.f][zone]` (a trailing ` UTC` or other text is
/// ignored); `YYYY/MM/DD HH:MM:SS`; CEF/LEEF `MMM dd yyyy HH:mm:ss[.SSS]` (zone ignored: UTC).
pub(crate) fn any_time(v: &[u8]) -> Option<Micros> {
    let v = trim(v);
    let first = *v.first()?;
    if first.is_ascii_digit() {
        let int_end = v
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(v.len());
        if int_end == v.len() || v[int_end] == b'.' {
            let n = i64::try_from(uint(&v[..int_end])?).ok()?;
            let frac = if int_end < v.len() {
                let f = &v[int_end + 1..];
                let digits = f.iter().take_while(|b| b.is_ascii_digit()).take(6).count();
                let mut us = i64::try_from(uint(&f[..digits]).unwrap_or(0)).ok()?;
                for _ in digits..6 {
                    us *= 10;
                }
                us
            } else {
                0
            };
            return Some(match int_end {
                0..=11 => n.checked_mul(1_000_000)?.checked_add(frac)?,
                12..=14 => n.checked_mul(1000)?,
                15..=17 => n,
                _ => n / 1000,
            });
        }
        if v.get(4) == Some(&b'/') {
            return crate::parse::panos::slash_datetime(v.get(..19)?);
        }
        return crate::time::parse_rfc3339(v).map(|(t, _)| t);
    }
    // `MMM dd yyyy HH:mm:ss[.SSS]`
    let m = month(v)?;
    if v.get(3) != Some(&b' ') || v.get(6) != Some(&b' ') || v.get(11) != Some(&b' ') {
        return None;
    }
    if v.get(14) != Some(&b':') || v.get(17) != Some(&b':') {
        return None;
    }
    let ms = if v.get(20) == Some(&b'.') {
        num(v, 21, 24).unwrap_or(0)
    } else {
        0
    };
    crate::time::civil_to_micros(
        i32::try_from(num(v, 7, 11)?).ok()?,
        m,
        num(v, 4, 6)?,
        num(v, 12, 14)?,
        num(v, 15, 17)?,
        num(v, 18, 20)?,
        ms * 1000,
    )
}

/// FortiGate/Sophos `date=2024-03-04 time=10:11:12` (device-local, taken as UTC).
fn date_time(d: &[u8], t: &[u8]) -> Option<Micros> {
    let (d, t) = (trim(d), trim(t));
    if d.len() != 10 || t.len() < 8 || d[4] != b'-' || d[7] != b'-' || t[2] != b':' {
        return None;
    }
    crate::time::civil_to_micros(
        i32::try_from(num(d, 0, 4)?).ok()?,
        num(d, 5, 7)?,
        num(d, 8, 10)?,
        num(t, 0, 2)?,
        num(t, 3, 5)?,
        num(t, 6, 8)?,
        0,
    )
}

/// Parses one line as a kv-family `format`.
pub fn parse<'a>(format: Format, line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let r = reasons(format);
    // CEF and LEEF first: generic names claim any, vendor names only their own vendor's.
    if let Some(o) = cef::parse(format, line, ctx, &r) {
        return o;
    }
    if matches!(format, Format::Cef | Format::Leef) {
        return Outcome::Skipped(r.no_marker);
    }
    vendors::parse(format, line, ctx, &r)
}

/// The syslog header's time, for lines whose pairs carry none.
pub(crate) fn header_ts(line: &[u8], ctx: &Ctx) -> Option<Micros> {
    syslog::split(line, ctx).ts
}

#[cfg(test)]
mod tests;
