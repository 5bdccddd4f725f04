//! Frozen copy of the pre-optimisation `src/parse/filterlog.rs` (test-only reference for the differential test
//! in `reference/mod.rs`). Do not optimise or "fix" this file: it defines the expected output.

use crate::event::{Action, Direction, Event, Proto};
use crate::parse::reference::bytes::{field, ip, port, uint};
use crate::parse::reference::syslog;
use crate::parse::{Ctx, Outcome};

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
    })
}
