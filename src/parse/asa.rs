//! Cisco ASA / FTD / PIX syslog (`%ASA-n-NNNNNN:`, `%FTD-n-NNNNNN:`): connection built/teardown,
//! ACL and inspection denies, mapped by message id to one [`Event`] each.
//!
//! The message id decides the layout of the text after it. It is found, in order of trust:
//! 1. the `%ASA-6-302013:` tag (also `ASA-`, `%FTD-`, `%PIX-`, `%FWSM-`), anywhere in the first
//!    512 bytes, after any syslog header;
//! 2. a bare `302013:` at the start of the message or after a `|` (relays that drop the tag);
//! 3. for a few messages with an unmistakable body (`... by access-group "X"`,
//!    `Deny TCP (no connection) from`, `access-list X permitted ... hit-cnt`), the body itself,
//!    because collectors often strip the whole tag. These bodies are specific enough that no
//!    other format's line starts with them, which keeps `--format auto` honest.
//!
//! Ids that are not traffic (AAA, failover, most VPN...) are `Skipped`, never `Error`: an ASA
//! stream is mostly such lines. IPsec SA created/deleted (602303/602304) and IKE messages naming
//! their peer (713xxx `IP = A`) are events without protocol or verdict. See docs/formats/asa.md for the field mapping per id.

use std::net::IpAddr;

use memchr::memmem;

use crate::event::{Action, Direction, Event, Proto};
use crate::parse::bytes::{field, ip, port, trim, uint};
use crate::parse::{Ctx, Outcome, syslog};

/// How far into a line the tag may sit (syslog header plus an ASA timestamp and host name).
const TAG_WINDOW: usize = 512;

/// The tag: (message id, severity level, body after `NNNNNN:`).
fn find_tag(line: &[u8]) -> Option<(u32, Option<u8>, &[u8])> {
    let head = &line[..line.len().min(TAG_WINDOW)];
    for name in [&b"ASA-"[..], b"FTD-", b"PIX-", b"FWSM-"] {
        for at in memmem::find_iter(head, name) {
            if at > 0 && !matches!(head[at - 1], b'%' | b' ' | b':' | b'>' | b'|') {
                continue;
            }
            let rest = &line[at + name.len()..];
            // `n-NNNNNN:`
            let Some(&lvl) = rest.first() else { continue };
            if !lvl.is_ascii_digit() || rest.get(1) != Some(&b'-') {
                continue;
            }
            if let Some((id, body)) = bare_id(&rest[2..]) {
                return Some((id, Some(lvl - b'0'), body));
            }
        }
    }
    None
}

/// `NNNNNN:` (exactly six digits and a colon) at the start of `s`: (id, body).
fn bare_id(s: &[u8]) -> Option<(u32, &[u8])> {
    let digits = s.get(..6)?;
    if !digits.iter().all(u8::is_ascii_digit) || s.get(6) != Some(&b':') {
        return None;
    }
    Some((uint(digits)? as u32, trim(&s[7..])))
}

/// A bare id at the start of the message or after a `|` (`6|Nov 28 2014 12:59:03|302021: ...`).
fn find_bare(msg: &[u8]) -> Option<(u32, &[u8])> {
    if let Some(r) = bare_id(msg) {
        return Some(r);
    }
    let head = &msg[..msg.len().min(64)];
    memchr::memchr_iter(b'|', head).find_map(|i| bare_id(&msg[i + 1..]))
}

/// The id a tag-less body stands for, when the body is unmistakably ASA.
fn infer_id(body: &[u8]) -> Option<u32> {
    let has = |s: &[u8]| memmem::find(body, s).is_some();
    if body.starts_with(b"Deny ") && has(b" by access-group ") {
        Some(106023)
    } else if body.starts_with(b"Deny TCP (no connection) from ") {
        Some(106015)
    } else if body.starts_with(b"access-list ") && has(b" hit-cnt ") {
        Some(106100)
    } else if (body.starts_with(b"Built ") || body.starts_with(b"Teardown "))
        && has(b" connection ")
        && has(b" for ")
        && (has(b" faddr ") || has(b" duration ") || has(b") to "))
    {
        // Built/teardown: the tag is needed to know TCP vs ICMP layout, so ask the body.
        if has(b" faddr ") {
            Some(if body.starts_with(b"Built") {
                302020
            } else {
                302021
            })
        } else {
            Some(if body.starts_with(b"Built") {
                302013
            } else {
                302014
            })
        }
    } else if (body.starts_with(b"Built dynamic ") || body.starts_with(b"Built static "))
        && has(b" translation from ")
    {
        Some(305011)
    } else if (body.starts_with(b"Teardown dynamic ") || body.starts_with(b"Teardown static "))
        && has(b" translation from ")
    {
        Some(305012)
    } else if body.starts_with(b"No matching connection for ICMP error message: ") {
        Some(313005)
    } else if has(b" Accessed URL ") {
        Some(304001)
    } else {
        None
    }
}

/// Space-separated tokens (runs of spaces collapse).
fn words(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

/// The token after the first token equal to `key` (at or after `from`), and its index.
fn after<'a>(toks: &[&'a [u8]], key: &[u8], from: usize) -> Option<(usize, &'a [u8])> {
    let i = toks.get(from..)?.iter().position(|t| *t == key)? + from;
    toks.get(i + 1).map(|t| (i + 1, *t))
}

/// An endpoint token: `[iface:]ip[/port][(user)]`, with trailing `,.:` punctuation. Returns
/// (iface, ip, port); the port is the text after `/` (ICMP ids and types are dropped later).
/// (interface, address, port) of one side of a message.
type Endpoint<'a> = (Option<&'a [u8]>, IpAddr, Option<u16>);

fn endpoint(tok: &[u8]) -> Option<Endpoint<'_>> {
    let mut t = tok;
    if let Some(p) = memchr::memchr(b'(', t) {
        t = &t[..p];
    }
    while let [rest @ .., b',' | b'.' | b':' | b';'] = t {
        t = rest;
    }
    let (addr, port_s) = match memchr::memrchr(b'/', t) {
        Some(s) => (&t[..s], Some(&t[s + 1..])),
        None => (t, None),
    };
    let p = port_s.and_then(port);
    if let Some(a) = ip(addr) {
        return Some((None, a, p));
    }
    // `iface:addr`: interface names never hold `:`, IPv6 addresses do, so split at the first.
    let c = memchr::memchr(b':', addr)?;
    let a = ip(&addr[c + 1..])?;
    Some((Some(&addr[..c]), a, p))
}

/// Shared builder: addresses, and ports as written unless the protocol is ICMP (whose `/n`
/// numbers are ids, types and codes).
#[allow(clippy::too_many_arguments)]
fn event<'a>(
    src: Endpoint<'a>,
    dst: Option<Endpoint<'a>>,
    proto: Option<Proto>,
    action: Option<Action>,
    direction: Option<Direction>,
) -> Event<'a> {
    let ports = !proto.is_some_and(Proto::is_icmp);
    Event {
        src_ip: Some(src.1),
        dst_ip: dst.map(|d| d.1),
        src_port: src.2.filter(|_| ports),
        dst_port: dst.and_then(|d| d.2).filter(|_| ports),
        proto,
        action,
        direction,
        iface: src.0.and_then(field),
        packets: None,
        ..Event::default()
    }
}

fn dir_word(t: Option<&&[u8]>) -> Option<Direction> {
    match t.copied() {
        Some(b"inbound" | b"Inbound") => Some(Direction::In),
        Some(b"outbound" | b"Outbound") => Some(Direction::Out),
        _ => None,
    }
}

/// `... from A ... to B ...`: most deny and inspection messages.
fn from_to<'a>(
    toks: &[&'a [u8]],
    proto: Option<Proto>,
    action: Option<Action>,
    direction: Option<Direction>,
) -> Option<Event<'a>> {
    let (mut i, mut s) = after(toks, b"from", 0)?;
    if s == b"laddr" {
        (i, s) = (i + 1, toks.get(i + 1)?); // 313004: `from laddr X`
    }
    let src = endpoint(s)?;
    let dst = after(toks, b"to", i + 1).and_then(|(_, d)| endpoint(d));
    let mut e = event(src, dst, proto, action, direction);
    if let Some((_, ifc)) = after(toks, b"interface", i + 1) {
        e.iface = field(ifc);
    }
    Some(e)
}

/// `... src [iface:]A dst [iface:]B ...` (106010, 106014, 106023, 313005).
fn src_dst<'a>(
    toks: &[&'a [u8]],
    proto: Option<Proto>,
    action: Option<Action>,
    direction: Option<Direction>,
) -> Option<Event<'a>> {
    let (i, s) = after(toks, b"src", 0)?;
    let src = endpoint(s)?;
    let d = after(toks, b"dst", i + 1).map(|(_, d)| d);
    let mut e = event(src, d.and_then(endpoint), proto, action, direction);
    if e.dst_ip.is_none() && !proto.is_some_and(Proto::is_icmp) {
        // An object-group FQDN destination (`inside:www.example.com/23`): no address, but the
        // port is still known.
        e.dst_port = d.and_then(|d| memchr::memrchr(b'/', d).and_then(|s| port(&d[s + 1..])));
    }
    Some(e)
}

/// The protocol word after `Deny` (`Deny tcp src`, `Deny inbound protocol 47 src`).
fn deny_proto(toks: &[&[u8]]) -> Option<Proto> {
    let mut i = 1;
    if dir_word(toks.get(i)).is_some() {
        i += 1;
    }
    match toks.get(i)? {
        &b"protocol" => Proto::from_name(toks.get(i + 1)?),
        t => Proto::from_name(t),
    }
}

/// 302013-302016 (and other `for A to B` built/teardown ids): literal order, A = src.
fn conn<'a>(toks: &[&'a [u8]]) -> Option<Event<'a>> {
    let built = toks.first()? == b"Built";
    let mut i = 1;
    let direction = dir_word(toks.get(i));
    if direction.is_some() {
        i += 1;
    }
    let proto = Proto::from_name(toks.get(i)?);
    let (fi, a) = after(toks, b"for", i)?;
    let src = endpoint(a)?;
    let dst = endpoint(after(toks, b"to", fi + 1)?.1)?;
    let mut e = event(src, Some(dst), proto, Some(Action::Allow), direction);
    if !built {
        e.bytes = after(toks, b"bytes", fi + 1).and_then(|(_, b)| uint(b));
    }
    Some(e)
}

/// 302020/302021: `for faddr F gaddr G laddr L`; src = laddr, dst = faddr (no ports: the
/// `/n` numbers are ICMP ids and types).
fn icmp_conn<'a>(toks: &[&'a [u8]]) -> Option<Event<'a>> {
    let direction = dir_word(toks.get(1));
    let pi = if direction.is_some() { 2 } else { 1 };
    let proto = toks
        .get(pi)
        .and_then(|t| Proto::from_name(t))
        .or(Some(Proto::ICMP));
    let f = endpoint(after(toks, b"faddr", 0)?.1)?;
    let l = endpoint(after(toks, b"laddr", 0)?.1)?;
    let mut e = event(l, Some(f), proto, Some(Action::Allow), direction);
    e.iface = None;
    Some(e)
}

/// 106100: `access-list ACL permitted|denied|est-allowed PROTO IF/IP(PORT) -> IF/IP(PORT) ...`.
fn acl<'a>(toks: &[&'a [u8]]) -> Option<Event<'a>> {
    if toks.first()? != b"access-list" {
        return None;
    }
    let rule = field(toks.get(1)?);
    let action = match *toks.get(2)? {
        b"permitted" | b"est-allowed" => Action::Allow,
        b"denied" => Action::Deny,
        _ => return None,
    };
    let proto = Proto::from_name(toks.get(3)?);
    let ep = |t: &'a [u8]| -> Option<Endpoint<'a>> {
        let slash = memchr::memchr(b'/', t)?;
        let rest = &t[slash + 1..];
        let (addr, p) = match memchr::memchr(b'(', rest) {
            Some(o) => {
                let close = memchr::memchr(b')', &rest[o..])? + o;
                (&rest[..o], port(&rest[o + 1..close]))
            }
            None => (rest, None),
        };
        Some((Some(&t[..slash]), ip(addr)?, p))
    };
    let src = ep(toks.get(4)?)?;
    if toks.get(5)? != b"->" {
        return None;
    }
    let dst = ep(toks.get(6)?)?;
    let mut e = event(src, Some(dst), proto, Some(action), None);
    e.rule = rule;
    Some(e)
}

/// 304001: `SRC[(user)] Accessed URL DST:url`.
fn url<'a>(toks: &[&'a [u8]]) -> Option<Event<'a>> {
    let i = toks
        .windows(2)
        .position(|w| w[0] == b"Accessed" && w[1] == b"URL")?;
    let s = toks.get(i.checked_sub(1)?)?;
    let s = &s[..memchr::memchr(b'(', s).unwrap_or(s.len())];
    let src = (None, ip(s)?, None);
    let d = toks.get(i + 2)?;
    let d = match memmem::find(d, b":http") {
        Some(c) => &d[..c],
        None => &d[..memchr::memchr(b':', d)?],
    };
    let dst = (None, ip(d)?, None);
    Some(event(
        src,
        Some(dst),
        Some(Proto::TCP),
        Some(Action::Allow),
        None,
    ))
}

/// 602303/602304: `IPSEC: An outbound LAN-to-LAN SA (SPI= 0x..) between A and B (user= U) has
/// been created|deleted.` A VPN event between two peers: src = A, dst = B, no protocol, ports or
/// verdict.
fn ipsec_sa<'a>(toks: &[&'a [u8]]) -> Option<Event<'a>> {
    let (i, a) = after(toks, b"between", 0)?;
    let (_, b) = after(toks, b"and", i + 1)?;
    Some(Event {
        src_ip: Some(endpoint(a)?.1),
        dst_ip: Some(endpoint(b)?.1),
        ..Event::default()
    })
}

/// 713xxx (IKE): `[Group = G, ][Username = U, ]IP = A, ...`: src = the peer A. Only an `IP =`
/// that starts the message or follows a `,`-terminated part counts (not `... local IP = ...`).
fn ike_peer<'a>(toks: &[&'a [u8]]) -> Option<Event<'a>> {
    let i = (0..toks.len()).find(|&i| {
        toks[i] == b"IP"
            && toks.get(i + 1) == Some(&&b"="[..])
            && (i == 0 || toks[i - 1].ends_with(b","))
    })?;
    let (iface, src, _) = endpoint(toks.get(i + 2)?)?;
    if iface.is_some() {
        return None;
    }
    Some(Event {
        src_ip: Some(src),
        ..Event::default()
    })
}

/// 733100: `[ object] drop rate-N exceeded. ...`: an event only when the object is an address.
fn rate<'a>(body: &'a [u8], level: Option<u8>) -> Option<Event<'a>> {
    let inner = body.strip_prefix(b"[")?;
    let close = memchr::memchr(b']', inner)?;
    let src = ip(trim(&inner[..close]))?;
    let rest = trim(&inner[close + 1..]);
    let end = memmem::find(rest, b"exceeded")? + b"exceeded".len();
    Some(Event {
        src_ip: Some(src),
        action: Some(Action::Deny),
        signature: field(&rest[..end]),
        severity: level,
        ..Event::default()
    })
}

/// `Mmm dd yyyy hh:mm:ss` (the ASA's own `logging timestamp` form) at the start of `s`.
fn asa_time(s: &[u8]) -> Option<i64> {
    if s.get(6) != Some(&b' ') || s.get(11) != Some(&b' ') {
        return None;
    }
    let y = uint(s.get(7..11)?)? as i32;
    // Reuse the BSD date parser on `Mmm dd hh:mm:ss` assembled on the stack (no allocation).
    let mut buf = [0u8; 15];
    buf[..7].copy_from_slice(s.get(..7)?);
    buf[7..].copy_from_slice(s.get(12..20)?);
    let (d, _) = crate::time::parse_bsd(&buf)?;
    crate::time::civil_to_micros(y, d.month, d.day, d.hour, d.min, d.sec, 0)
}

/// Parses one ASA/FTD syslog line.
pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let (id, level, body, tagged) = match find_tag(line) {
        Some((id, lvl, body)) => (id, lvl, body, true),
        None => {
            let msg = syslog::split(line, ctx).msg;
            match find_bare(msg) {
                Some((id, body)) => (id, None, body, false),
                None => match infer_id(msg) {
                    Some(id) => (id, None, msg, false),
                    None => return Outcome::Skipped("asa: no %ASA-/%FTD- message tag"),
                },
            }
        }
    };
    let body = trim(body);
    let mut toks_buf: [&[u8]; 48] = [&[]; 48];
    let mut n = 0;
    for t in words(body) {
        if n == toks_buf.len() {
            break;
        }
        toks_buf[n] = t;
        n += 1;
    }
    let toks = &toks_buf[..n];
    let tok = |i: usize| toks.get(i).and_then(|t| Proto::from_name(t));
    use Action::{Allow, Deny};
    let ev = match id {
        106001 => from_to(toks, Some(Proto::TCP), Some(Deny), Some(Direction::In)),
        106006 | 106007 => from_to(toks, tok(2), Some(Deny), dir_word(toks.get(1))),
        106015 => from_to(toks, tok(1), Some(Deny), None),
        106021 => from_to(toks, tok(1), Some(Deny), None),
        106010 | 106014 | 106023 => {
            src_dst(toks, deny_proto(toks), Some(Deny), dir_word(toks.get(1)))
        }
        106100 => acl(toks),
        110002 => {
            let p = after(toks, b"for", 0).and_then(|(_, t)| Proto::from_name(t));
            from_to(toks, p, Some(Deny), None)
        }
        302013..=302016 | 302017 | 302018 | 302303 | 302304 => conn(toks),
        302020 | 302021 => icmp_conn(toks),
        304001 => url(toks),
        305011 | 305012 => from_to(toks, tok(2), Some(Allow), None),
        313001 => from_to(toks, Some(Proto::ICMP), Some(Deny), None),
        313004 => from_to(toks, Some(Proto::ICMP), Some(Deny), None),
        313005 => src_dst(toks, Some(Proto::ICMP), Some(Deny), None),
        402117 => {
            let p = after(toks, b"(protocol=", 0)
                .and_then(|(_, t)| Proto::from_name(t.strip_suffix(b")").unwrap_or(t)));
            from_to(toks, p, Some(Deny), None)
        }
        402119 => from_to(toks, tok(3), Some(Deny), None),
        419001 => from_to(toks, tok(1), Some(Deny), None),
        419002 => from_to(toks, tok(1), None, None),
        710001 => from_to(toks, tok(0), None, None),
        710002 => from_to(toks, tok(0), Some(Allow), None),
        710003 | 710005 | 710006 => from_to(toks, tok(0), Some(Deny), None),
        602303 | 602304 => ipsec_sa(toks),
        713000..=713999 => match ike_peer(toks) {
            Some(e) => Some(e),
            None => return Outcome::Skipped("asa: IKE message without an IP = peer"),
        },
        733100 => match rate(body, level) {
            Some(e) => Some(e),
            None => return Outcome::Skipped("asa: 733100 for a non-address object"),
        },
        _ => return Outcome::Skipped("asa: message id is not a traffic event"),
    };
    let Some(mut ev) = ev else {
        // A tag-less line only guessed to be ASA: not ours after all, not a broken ASA line.
        return if tagged || find_bare(syslog::split(line, ctx).msg).is_some() {
            Outcome::Error("asa: traffic message without readable addresses")
        } else {
            Outcome::Skipped("asa: no %ASA-/%FTD- message tag")
        };
    };
    let h = syslog::split(line, ctx);
    ev.ts = h.ts.or_else(|| {
        // `<166>Aug 06 2016 20:39:42: %ASA-...` or `6|Nov 28 2014 12:59:03|...`.
        let s = line.strip_prefix(b"<").map_or(line, |r| {
            &r[memchr::memchr(b'>', &r[..r.len().min(4)]).map_or(0, |i| i + 1)..]
        });
        asa_time(s).or_else(|| {
            let p = memchr::memchr(b'|', &s[..s.len().min(4)])?;
            asa_time(&s[p + 1..])
        })
    });
    if ev.rule.is_none() {
        // 106023: `by access-group "ACL"`.
        if let Some((_, g)) = after(toks, b"access-group", 0) {
            ev.rule = field(
                g.strip_prefix(b"\"")
                    .unwrap_or(g)
                    .strip_suffix(b"\"")
                    .unwrap_or(g),
            );
        }
    }
    Outcome::Event(ev)
}

/// No-panic hammering shared by the vendor parsers' tests (asa, netscreen, srx, mikrotik): random
/// bytes, every prefix and suffix of each fixture line, single-byte mutations, a 1 MB line.
#[cfg(test)]
pub(crate) fn hammer(parse: for<'a> fn(&'a [u8], &Ctx) -> Outcome<'a>, lines: &[&str]) {
    let ctx = Ctx::new(1_700_000_000_000_000);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    };
    let mut buf = Vec::with_capacity(400);
    for _ in 0..3_000 {
        buf.clear();
        let len = (next() % 300) as usize;
        buf.extend((0..len).map(|_| (next() >> 24) as u8));
        let _ = parse(&buf, &ctx);
    }
    for line in lines {
        let line = line.as_bytes();
        for end in 0..=line.len() {
            let _ = parse(&line[..end], &ctx);
            let _ = parse(&line[end..], &ctx);
        }
        let mut m = line.to_vec();
        for _ in 0..2_000 {
            let i = (next() as usize) % m.len();
            let old = m[i];
            m[i] = match next() % 4 {
                0 => b' ',
                1 => b'/',
                2 => 0,
                _ => (next() >> 40) as u8,
            };
            let _ = parse(&m, &ctx);
            m[i] = old;
        }
        let mut big = line.to_vec();
        big.resize(1 << 20, b' ');
        let _ = parse(&big, &ctx);
        big.resize(line.len(), 0);
        big.extend(std::iter::repeat_n(b'1', 1 << 20));
        let _ = parse(&big, &ctx);
    }
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

    /// Written from Cisco's "ASA Syslog Messages" reference formats (addresses from RFC 5737).
    const FIXTURES: &[&str] = &[
        "<166>Mar 14 09:15:02 fw-edge %ASA-6-302013: Built inbound TCP connection 5521 for outside:198.51.100.20/51515 (198.51.100.20/51515) to dmz:192.0.2.10/443 (203.0.113.10/443)",
        "<166>Mar 14 09:16:40 fw-edge %ASA-6-302014: Teardown TCP connection 5521 for outside:198.51.100.20/51515 to dmz:192.0.2.10/443 duration 0:01:38 bytes 48213 TCP FINs",
        "%FTD-6-302016: Teardown UDP connection 77 for inside:192.0.2.53/53 to outside:198.51.100.9/40001 duration 0:02:01 bytes 312",
        "<166>Apr 02 2025 11:22:33: %ASA-6-302020: Built outbound ICMP connection for faddr 198.51.100.7/0 gaddr 203.0.113.5/1 laddr 192.0.2.5/1",
        "%ASA-4-106023: Deny udp src inside:192.0.2.44/5353 dst outside:198.51.100.250/5353 by access-group \"inside_in\" [0x1a2b3c4d, 0x0]",
        "%ASA-4-106023: Deny icmp src outside:2001:db8::5 dst inside:2001:db8:1::9 (type 128, code 0) by access-group \"outside_in\" [0x0, 0x0]",
        "%ASA-2-106001: Inbound TCP connection denied from 198.51.100.3/40404 to 192.0.2.80/23 flags SYN on interface outside",
        "%ASA-2-106006: Deny inbound UDP from 198.51.100.3/1900 to 192.0.2.80/1900 on interface outside",
        "%ASA-2-106007: Deny inbound UDP from 198.51.100.3/53 to 192.0.2.80/33000 due to DNS Response",
        "%ASA-3-106014: Deny inbound icmp src outside:198.51.100.3 dst inside:192.0.2.80 (type 8, code 0)",
        "%ASA-6-106015: Deny TCP (no connection) from 192.0.2.80/443 to 198.51.100.3/61000 flags RST  on interface inside",
        "%ASA-6-106100: access-list web_in permitted tcp outside/198.51.100.3(41000) -> dmz/192.0.2.10(80) hit-cnt 1 first hit [0x1, 0x0]",
        "%ASA-6-106100: access-list web_in denied icmp outside/198.51.100.3(8) -> dmz/192.0.2.10(0) hit-cnt 4 300-second interval [0x1, 0x0]",
        "%ASA-3-313001: Denied ICMP type=8, code=0 from 198.51.100.3 on interface outside",
        "%ASA-3-710003: TCP access denied by ACL from 198.51.100.3/50000 to outside:203.0.113.1/22",
        "%ASA-4-733100: [198.51.100.66] drop rate-1 exceeded. Current burst rate is 10 per second, max configured rate is 10; Current average rate is 5 per second, max configured rate is 5; Cumulative total count is 3100",
    ];

    #[test]
    fn built_inbound_tcp_exact() {
        assert_eq!(
            ev(FIXTURES[0]),
            Event {
                ts: civil_to_micros(2026, 3, 14, 9, 15, 2, 0),
                src_ip: a("198.51.100.20"),
                dst_ip: a("192.0.2.10"),
                src_port: Some(51515),
                dst_port: Some(443),
                proto: Some(Proto::TCP),
                action: Some(Action::Allow),
                direction: Some(Direction::In),
                iface: Some("outside"),
                ..Event::default()
            }
        );
    }

    #[test]
    fn teardown_carries_bytes() {
        let e = ev(FIXTURES[1]);
        assert_eq!(
            (e.src_ip, e.dst_ip, e.src_port, e.dst_port),
            (a("198.51.100.20"), a("192.0.2.10"), Some(51515), Some(443))
        );
        assert_eq!(
            (e.bytes, e.action, e.direction, e.proto),
            (Some(48213), Some(Action::Allow), None, Some(Proto::TCP))
        );
        let e = ev(FIXTURES[2]);
        assert_eq!(
            (e.ts, e.proto, e.bytes, e.src_port, e.dst_port),
            (None, Some(Proto::UDP), Some(312), Some(53), Some(40001))
        );
    }

    #[test]
    fn icmp_connection_uses_laddr_faddr_and_asa_timestamp() {
        assert_eq!(
            ev(FIXTURES[3]),
            Event {
                ts: civil_to_micros(2025, 4, 2, 11, 22, 33, 0),
                src_ip: a("192.0.2.5"),
                dst_ip: a("198.51.100.7"),
                proto: Some(Proto::ICMP),
                action: Some(Action::Allow),
                direction: Some(Direction::Out),
                ..Event::default()
            }
        );
    }

    #[test]
    fn access_group_denies() {
        assert_eq!(
            ev(FIXTURES[4]),
            Event {
                src_ip: a("192.0.2.44"),
                dst_ip: a("198.51.100.250"),
                src_port: Some(5353),
                dst_port: Some(5353),
                proto: Some(Proto::UDP),
                action: Some(Action::Deny),
                iface: Some("inside"),
                rule: Some("inside_in"),
                ..Event::default()
            }
        );
        let e = ev(FIXTURES[5]);
        assert_eq!(
            (e.src_ip, e.dst_ip, e.proto, e.src_port, e.dst_port),
            (
                a("2001:db8::5"),
                a("2001:db8:1::9"),
                Some(Proto::ICMP),
                None,
                None
            )
        );
        // Tag stripped by a collector: the body alone is still unmistakable.
        let e = ev(
            "Deny tcp src outside:198.51.100.1/1000 dst inside:host.example/22 by access-group \"x\" [0x0, 0x0]",
        );
        assert_eq!(
            (e.src_ip, e.dst_ip, e.dst_port, e.action),
            (a("198.51.100.1"), None, Some(22), Some(Action::Deny))
        );
    }

    #[test]
    fn ports_as_written_unless_icmp() {
        // PIM (103) has no ports, but ASA wrote /50240 and /23: reported as written.
        let e = ev(
            "%ASA-4-106023: Deny protocol 103 src outside:198.51.100.8/50240 dst inside:192.0.2.9/23 by access-group \"outside_in\" [0x0, 0x0]",
        );
        assert_eq!(
            (e.proto, e.src_port, e.dst_port, e.action),
            (Some(Proto(103)), Some(50240), Some(23), Some(Action::Deny))
        );
        // GRE without port fields: nothing to report.
        let e = ev(
            "%ASA-4-106023: Deny protocol 47 src outside:198.51.100.8 dst inside:192.0.2.9 by access-group \"outside_in\" [0x0, 0x0]",
        );
        assert_eq!(
            (e.proto, e.src_port, e.dst_port),
            (Some(Proto::GRE), None, None)
        );
        // FQDN destination, protocol without ports: the written port is kept.
        let e = ev(
            "Deny protocol 103 src outside:198.51.100.8/50240 dst inside:host.example/23 by access-group \"x\" [0x0, 0x0]",
        );
        assert_eq!(
            (e.dst_ip, e.src_port, e.dst_port),
            (None, Some(50240), Some(23))
        );
        // ICMP and ICMPv6: the `/n` numbers are types and ids, never ports.
        let e = ev(
            "%ASA-3-710003: ICMP access denied by ACL from 198.51.100.8/8 to outside:203.0.113.1/0",
        );
        assert_eq!(
            (e.proto, e.src_port, e.dst_port),
            (Some(Proto::ICMP), None, None)
        );
        let e = ev(
            "%ASA-6-106100: access-list v6_in denied icmp6 outside/2001:db8::5(128) -> inside/2001:db8:1::9(0) hit-cnt 1 first hit [0x1, 0x0]",
        );
        assert_eq!(
            (e.proto, e.src_port, e.dst_port),
            (Some(Proto::ICMPV6), None, None)
        );
    }

    #[test]
    fn classic_denies() {
        let want = |i: usize| {
            let e = ev(FIXTURES[i]);
            (
                e.src_ip,
                e.dst_ip,
                e.src_port,
                e.dst_port,
                e.proto,
                e.action,
                e.direction,
            )
        };
        let (s, d) = (a("198.51.100.3"), a("192.0.2.80"));
        let (deny, inb) = (Some(Action::Deny), Some(Direction::In));
        assert_eq!(
            want(6),
            (s, d, Some(40404), Some(23), Some(Proto::TCP), deny, inb)
        );
        assert_eq!(
            want(7),
            (s, d, Some(1900), Some(1900), Some(Proto::UDP), deny, inb)
        );
        assert_eq!(
            want(8),
            (s, d, Some(53), Some(33000), Some(Proto::UDP), deny, inb)
        );
        assert_eq!(want(9), (s, d, None, None, Some(Proto::ICMP), deny, inb));
        assert_eq!(
            want(10),
            (d, s, Some(443), Some(61000), Some(Proto::TCP), deny, None)
        );
        assert_eq!(ev(FIXTURES[6]).iface, Some("outside"));
        assert_eq!(
            want(13),
            (s, None, None, None, Some(Proto::ICMP), deny, None)
        );
        let e = ev(FIXTURES[14]);
        assert_eq!(
            (e.src_ip, e.dst_ip, e.dst_port, e.action),
            (s, a("203.0.113.1"), Some(22), deny)
        );
    }

    #[test]
    fn acl_hits() {
        let e = ev(FIXTURES[11]);
        assert_eq!(
            (
                e.src_ip, e.dst_ip, e.src_port, e.dst_port, e.action, e.rule, e.iface
            ),
            (
                a("198.51.100.3"),
                a("192.0.2.10"),
                Some(41000),
                Some(80),
                Some(Action::Allow),
                Some("web_in"),
                Some("outside")
            )
        );
        // ICMP type/code in the port slots are not ports.
        let e = ev(FIXTURES[12]);
        assert_eq!(
            (e.src_port, e.dst_port, e.proto, e.action),
            (None, None, Some(Proto::ICMP), Some(Action::Deny))
        );
    }

    #[test]
    fn threat_rate_and_skips() {
        let e = ev(FIXTURES[15]);
        assert_eq!(
            (e.src_ip, e.action, e.signature, e.severity),
            (
                a("198.51.100.66"),
                Some(Action::Deny),
                Some("drop rate-1 exceeded"),
                Some(4)
            )
        );
        fn p(s: &str) -> Outcome<'_> {
            parse(s.as_bytes(), &ctx())
        }
        assert!(matches!(
            p(
                "%ASA-4-733100: [ Scanning] drop rate-3 exceeded. Current burst rate is 1 per second"
            ),
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            p("%ASA-5-111008: User 'enable_15' executed the 'write memory' command."),
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            p("%ASA-6-302013: Built inbound TCP connection 1 for outside:nowhere to inside:x"),
            Outcome::Error(_)
        ));
        // Other formats' lines are never claimed.
        assert!(matches!(
            p("Jun  8 14:34:33 h kernel: IN=eth0 OUT= SRC=1.1.1.1 DST=2.2.2.2 PROTO=TCP"),
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            p("Built something for you to enjoy"),
            Outcome::Skipped(_)
        ));
        // Bare id after a relay's `level|date|` prefix.
        let e = ev(
            "6|Apr 02 2025 11:22:33|302021: Teardown ICMP connection for faddr 198.51.100.7/0 gaddr 203.0.113.5/1 laddr 192.0.2.5/1",
        );
        assert_eq!(
            (e.ts, e.src_ip, e.proto),
            (
                civil_to_micros(2025, 4, 2, 11, 22, 33, 0),
                a("192.0.2.5"),
                Some(Proto::ICMP)
            )
        );
    }

    #[test]
    fn vpn_sa_and_ike_events() {
        let e = ev(
            "<166>Mar 14 09:20:00 fw-edge %ASA-6-602303: IPSEC: An outbound LAN-to-LAN SA (SPI= 0x1A2B3C4D) between 203.0.113.5 and 198.51.100.77 (user= branch-7) has been created.",
        );
        assert_eq!(
            e,
            Event {
                ts: civil_to_micros(2026, 3, 14, 9, 20, 0, 0),
                src_ip: a("203.0.113.5"),
                dst_ip: a("198.51.100.77"),
                ..Event::default()
            }
        );
        let e = ev(
            "%ASA-6-602304: IPSEC: An inbound remote access SA (SPI= 0x0000ABCD) between 2001:db8::1 and 2001:db8:5::9 (user= alice) has been deleted.",
        );
        assert_eq!(
            (
                e.src_ip, e.dst_ip, e.proto, e.action, e.src_port, e.dst_port
            ),
            (a("2001:db8::1"), a("2001:db8:5::9"), None, None, None, None)
        );
        // IKE: the `IP =` peer is the source; a group name that looks like an address is not.
        let e = ev(
            "%ASA-6-713172: Group = 198.51.100.77, IP = 198.51.100.78, Automatic NAT Detection Status:     Remote end is NOT behind a NAT device     This   end is NOT behind a NAT device",
        );
        assert_eq!(
            e,
            Event {
                src_ip: a("198.51.100.78"),
                ..Event::default()
            }
        );
        let e = ev("%ASA-5-713041: IP = 198.51.100.9, IKE Initiator: New Phase 1, Intf outside");
        assert_eq!(
            (e.src_ip, e.dst_ip, e.action),
            (a("198.51.100.9"), None, None)
        );
        let e = ev(
            "%ASA-4-713903: Group = vpn-users, Username = bob, IP = 2001:db8::42, Received unexpected event EV_ACTIVATE_NEW_SA",
        );
        assert_eq!(e.src_ip, a("2001:db8::42"));
        fn p(s: &str) -> Outcome<'_> {
            parse(s.as_bytes(), &ctx())
        }
        // 713xxx without a peer address: not an event, and not an error.
        for line in [
            "%ASA-3-713902: Descriptive text without a peer",
            "%ASA-6-713905: Group = g, local IP = 192.0.2.1, text",
            "%ASA-6-713905: IP = vpn.example.net, text",
        ] {
            assert_eq!(
                p(line),
                Outcome::Skipped("asa: IKE message without an IP = peer"),
                "{line}"
            );
        }
        // An SA message whose peers cannot be read is a broken line of a listed id.
        assert!(matches!(
            p("%ASA-6-602303: IPSEC: An outbound LAN-to-LAN SA (SPI= 0x1) between here and there"),
            Outcome::Error(_)
        ));
    }

    #[test]
    fn never_panics() {
        hammer(parse, FIXTURES);
        hammer(
            parse,
            &[
                "%ASA-6-602303: IPSEC: An outbound LAN-to-LAN SA (SPI= 0x1A2B3C4D) between 203.0.113.5 and 198.51.100.77 (user= branch-7) has been created.",
                "%ASA-6-713172: Group = 198.51.100.77, IP = 198.51.100.78, Automatic NAT Detection Status",
            ],
        );
    }
}
