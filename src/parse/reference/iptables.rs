//! Frozen copy of the pre-optimisation `src/parse/iptables.rs` (test-only reference for the differential test
//! in `reference/mod.rs`). Do not optimise or "fix" this file: it defines the expected output.

use memchr::memmem;

use crate::event::{Action, Direction, Event, Proto};
use crate::parse::bytes::{field, find_ci, port, trim, uint};
use crate::parse::reference::old_ip as ip;
use crate::parse::syslog;
use crate::parse::{Ctx, Outcome};

/// The old `VerdictWords::verdict`, over the live word lists.
fn verdict(words: &crate::parse::VerdictWords, prefix: &[u8]) -> Option<Action> {
    let mut best: Option<(usize, Action)> = None;
    let lists = [(&words.deny, Action::Deny), (&words.allow, Action::Allow)];
    for (words, action) in lists {
        for w in words {
            if let Some(at) = find_ci(prefix, w.as_bytes()) {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, action));
                }
            }
        }
    }
    best.map(|(_, a)| a)
}

/// Position of `key` (e.g. `b"IN="`) in `s` where it starts a token: at the start, or after a
/// space, `]` (`[wan-lan-default-D]IN=`) or `:` (`Shorewall:net2fw:DROP:IN=`).
fn find_key(s: &[u8], key: &[u8]) -> Option<usize> {
    memmem::find_iter(s, key).find(|&i| i == 0 || matches!(s[i - 1], b' ' | b']' | b':'))
}

/// The rule label from the prefix: the first `[...]` group if there is one (UFW, UniFi), else
/// the prefix without trailing `:` (`IPTABLES-DROP`, `Shorewall:net2fw:DROP`).
fn rule_label(prefix: &[u8]) -> Option<&str> {
    if let Some(open) = memchr::memchr(b'[', prefix) {
        if let Some(len) = memchr::memchr(b']', &prefix[open..]) {
            return field(trim(&prefix[open + 1..open + len]));
        }
    }
    let mut p = trim(prefix);
    while let [rest @ .., b':'] = p {
        p = trim(rest);
    }
    if p.len() > 128 { None } else { field(p) }
}

/// Proxmox VE prints `VMID LEVEL CHAIN DD/Mon/YYYY:HH:MM:SS +ZZZZ POLICY:` as the prefix.
/// Returns (time, chain) when the prefix has that shape.
fn proxmox(prefix: &[u8]) -> Option<(i64, Option<&str>)> {
    let mut prev: &[u8] = &[];
    for tok in prefix.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
        if tok.len() == 20 && tok.get(2) == Some(&b'/') {
            let start = tok.as_ptr() as usize - prefix.as_ptr() as usize;
            let (t, _) = crate::time::parse_proxmox(&prefix[start..])?;
            return Some((t, field(prev)));
        }
        prev = tok;
    }
    None
}

/// Parses one netfilter log line.
pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let h = syslog::split(line, ctx);
    let msg = h.msg;
    let key_start = match (find_key(msg, b"IN="), find_key(msg, b"OUT=")) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return Outcome::Skipped("iptables: no IN= or OUT="),
    };
    // Keys may come in any order: the key=value part starts at the first of them.
    let key_start = [&b"SRC="[..], b"DST=", b"PROTO=", b"LEN=", b"SPT=", b"DPT="]
        .iter()
        .filter_map(|k| find_key(&msg[..key_start], k))
        .fold(key_start, usize::min);
    let prefix = &msg[..key_start];
    let mut ev = Event {
        ts: h.ts,
        packets: Some(1),
        action: verdict(ctx.verdicts, prefix),
        rule: rule_label(prefix),
        ..Event::default()
    };
    if let Some((t, chain)) = proxmox(prefix) {
        ev.ts = ev.ts.or(Some(t));
        ev.rule = chain.or(ev.rule);
    }

    let (mut iface_in, mut iface_out): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let (mut src, mut dst, mut proto, mut spt, mut dpt) = (None, None, None, None, None);
    let mut len: Option<&[u8]> = None;
    let mut rest = &msg[key_start..];
    while !rest.is_empty() {
        let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
        let mut tok = &rest[..end];
        let mut next = &rest[(end + 1).min(rest.len())..];
        if tok.first() == Some(&b'[') {
            break; // embedded packet of an ICMP error: not this packet's header
        }
        let Some(eq) = memchr::memchr(b'=', tok) else {
            rest = next;
            continue;
        };
        let (key, value) = (&tok[..eq], &tok[eq + 1..]);
        if value.first() == Some(&b'"') && (value.len() == 1 || value.last() != Some(&b'"')) {
            // Quoted value with spaces (`DESCR="a b"`): skip to the closing quote.
            match memchr::memchr(b'"', next) {
                Some(q) => next = &next[(q + 1).min(next.len())..],
                None => next = &[],
            }
            tok = &[];
        }
        if !tok.is_empty() {
            match key {
                b"IN" => iface_in = Some(value),
                b"OUT" => iface_out = Some(value),
                b"SRC" if src.is_none() => src = Some(value),
                b"DST" if dst.is_none() => dst = Some(value),
                b"LEN" if len.is_none() => len = Some(value),
                b"PROTO" if proto.is_none() => proto = Some(value),
                b"SPT" if spt.is_none() => spt = Some(value),
                b"DPT" if dpt.is_none() => dpt = Some(value),
                _ => {}
            }
        }
        rest = next;
    }

    ev.src_ip = match src {
        None => return Outcome::Error("iptables: no SRC="),
        Some(v) => match ip(v) {
            Some(a) => Some(a),
            None => return Outcome::Error("iptables: bad SRC="),
        },
    };
    ev.dst_ip = match dst {
        None => return Outcome::Error("iptables: no DST="),
        Some(v) => match ip(v) {
            Some(a) => Some(a),
            None => return Outcome::Error("iptables: bad DST="),
        },
    };
    ev.proto = proto.and_then(Proto::from_name);
    if ev.proto.is_some_and(Proto::has_ports) {
        ev.src_port = spt.and_then(port);
        ev.dst_port = dpt.and_then(port);
    }
    ev.bytes = len.and_then(uint);
    let iface_in = iface_in.filter(|v| !v.is_empty());
    let iface_out = iface_out.filter(|v| !v.is_empty());
    ev.direction = match (iface_in, iface_out) {
        (Some(_), None) => Some(Direction::In),
        (None, Some(_)) => Some(Direction::Out),
        _ => None, // forwarded (both set) or neither: no single direction
    };
    // An interface name that is not UTF-8 is dropped, but still counts for the direction.
    ev.iface = iface_in.or(iface_out).and_then(field);
    Outcome::Event(ev)
}
