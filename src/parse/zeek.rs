//! Zeek `conn.log`, TSV (columns bound by the `#fields` header) and JSON (flat `id.orig_h` or
//! nested `id{}`), one connection summary per line.
//!
//! TSV: the `#separator`/`#unset_field`/`#empty_field`/`#path`/`#fields` header lines are read into
//! the per-stream [`State`] (fixed-size, so even a fresh default state costs no allocation); data
//! lines are split on the separator and each column is routed by the index learnt from `#fields`.
//! Without a header, Zeek's default conn.log column order is assumed, and the line must then look
//! unmistakably like Zeek (epoch stamp, `C…` uid, addresses, a Zeek protocol name) to be claimed.
//! JSON: one [`jscan`] pass. See docs/formats/zeek.md for the field mapping and choices.

use std::net::IpAddr;

use crate::event::{Direction, Event, Micros, Proto, TcpFlags};
use crate::parse::bytes::{ip, port, uint};
use crate::parse::jscan::{self, Kind, Val};
use crate::parse::{Ctx, Outcome};
use crate::time::parse_rfc3339;

// Field ids (index into the per-line value array).
const TS: u8 = 0;
const UID: u8 = 1;
const ORIG_H: u8 = 2;
const ORIG_P: u8 = 3;
const RESP_H: u8 = 4;
const RESP_P: u8 = 5;
const PROTO: u8 = 6;
const ORIG_BYTES: u8 = 7;
const RESP_BYTES: u8 = 8;
const LOCAL_ORIG: u8 = 9;
const LOCAL_RESP: u8 = 10;
const ORIG_PKTS: u8 = 11;
const ORIG_IP_BYTES: u8 = 12;
const RESP_PKTS: u8 = 13;
const RESP_IP_BYTES: u8 = 14;
const IP_PROTO: u8 = 15;
const CONN_STATE: u8 = 16;
const HISTORY: u8 = 17;
const NF: usize = 18;
const NONE: u8 = u8::MAX;

/// Column names (as `#fields` or JSON keys spell them) for each field id. Besides Zeek's own
/// names: `id_orig_h` (scope separator set to `_`) and `src`/`dst`/`src_port`/`dst_port` (a
/// common `Log::Filter$field_name_map`).
fn field_id(name: &[u8]) -> u8 {
    match name {
        b"ts" => TS,
        b"uid" => UID,
        b"id.orig_h" | b"id_orig_h" | b"src" => ORIG_H,
        b"id.orig_p" | b"id_orig_p" | b"src_port" => ORIG_P,
        b"id.resp_h" | b"id_resp_h" | b"dst" => RESP_H,
        b"id.resp_p" | b"id_resp_p" | b"dst_port" => RESP_P,
        b"proto" => PROTO,
        b"orig_bytes" => ORIG_BYTES,
        b"resp_bytes" => RESP_BYTES,
        b"local_orig" => LOCAL_ORIG,
        b"local_resp" => LOCAL_RESP,
        b"orig_pkts" => ORIG_PKTS,
        b"orig_ip_bytes" => ORIG_IP_BYTES,
        b"resp_pkts" => RESP_PKTS,
        b"resp_ip_bytes" => RESP_IP_BYTES,
        b"ip_proto" => IP_PROTO,
        b"conn_state" => CONN_STATE,
        b"history" => HISTORY,
        _ => NONE,
    }
}

/// Zeek's default conn.log columns (Zeek 6+: `ip_proto` after `tunnel_parents`).
const DEFAULT_FIELDS: &[&[u8]] = &[
    b"ts",
    b"uid",
    b"id.orig_h",
    b"id.orig_p",
    b"id.resp_h",
    b"id.resp_p",
    b"proto",
    b"service",
    b"duration",
    b"orig_bytes",
    b"resp_bytes",
    b"conn_state",
    b"local_orig",
    b"local_resp",
    b"missed_bytes",
    b"history",
    b"orig_pkts",
    b"orig_ip_bytes",
    b"resp_pkts",
    b"resp_ip_bytes",
    b"tunnel_parents",
    b"ip_proto",
];

/// Columns past this index are never bound (conn.log has about 25, extended ones 30-odd).
const MAX_COLS: usize = 64;
/// Longest `#unset_field` / `#empty_field` marker kept (Zeek's are `-` and `(empty)`).
const MARK: usize = 16;

/// Column layout learnt from the `#separator` / `#fields` header lines. Fixed-size on purpose:
/// `parse_line` builds a default one per call, which must not allocate.
#[derive(Debug, Clone)]
pub struct State {
    sep: u8,
    /// The header declared a separator of more than one byte (never seen in practice).
    multi_sep: bool,
    unset: [u8; MARK],
    unset_len: usize,
    empty: [u8; MARK],
    empty_len: usize,
    /// Column index -> field id (`NONE` for columns we do not read).
    map: [u8; MAX_COLS],
    /// Highest column index bound to a field, plus one: splitting stops there.
    width: usize,
    /// A `#fields` line was read (the layout is known, not assumed).
    has_fields: bool,
    /// `#path` named another log (dns, http...): its lines are not connections.
    other_path: bool,
}

impl Default for State {
    fn default() -> State {
        let mut s = State {
            sep: b'\t',
            multi_sep: false,
            unset: [0; MARK],
            unset_len: 1,
            empty: [0; MARK],
            empty_len: 7,
            map: [NONE; MAX_COLS],
            width: 0,
            has_fields: false,
            other_path: false,
        };
        s.unset[0] = b'-';
        s.empty[..7].copy_from_slice(b"(empty)");
        s.bind(DEFAULT_FIELDS.iter().copied());
        s
    }
}

impl State {
    fn bind<'n>(&mut self, names: impl Iterator<Item = &'n [u8]>) {
        self.map = [NONE; MAX_COLS];
        self.width = 0;
        for (i, name) in names.take(MAX_COLS).enumerate() {
            let id = field_id(name);
            self.map[i] = id;
            if id != NONE {
                self.width = i + 1;
            }
        }
    }

    fn is_absent(&self, v: &[u8]) -> bool {
        v.is_empty() || v == &self.unset[..self.unset_len] || v == &self.empty[..self.empty_len]
    }
}

/// Decodes a header value with `\xHH` escapes (`#separator \x09`) into `out`; returns its length,
/// or `None` when it does not fit.
fn decode_hex_escapes(v: &[u8], out: &mut [u8; MARK]) -> Option<usize> {
    let mut n = 0;
    let mut i = 0;
    while i < v.len() {
        let b = if v[i] == b'\\' && v.get(i + 1) == Some(&b'x') {
            let h = v.get(i + 2..i + 4)?;
            let hi = (h[0] as char).to_digit(16)?;
            let lo = (h[1] as char).to_digit(16)?;
            i += 4;
            (hi * 16 + lo) as u8
        } else {
            i += 1;
            v[i - 1]
        };
        *out.get_mut(n)? = b;
        n += 1;
    }
    Some(n)
}

fn header<'a>(line: &'a [u8], st: &mut State) -> Outcome<'a> {
    // `#separator` itself is always followed by a space; the other directives by the separator.
    if let Some(v) = line.strip_prefix(b"#separator ") {
        let mut buf = [0u8; MARK];
        let fresh = State::default(); // a new header block starts a new file
        *st = fresh;
        match decode_hex_escapes(crate::parse::bytes::trim(v), &mut buf) {
            Some(1) => st.sep = buf[0],
            _ => st.multi_sep = true,
        }
        return Outcome::Skipped("zeek: header line");
    }
    let body = &line[1..];
    let (directive, value) = match memchr::memchr(st.sep, body) {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &[][..]),
    };
    let value = value.strip_suffix(b"\r").unwrap_or(value);
    match directive {
        b"fields" => {
            let sep = st.sep;
            st.bind(value.split(move |&b| b == sep));
            st.has_fields = true;
        }
        b"unset_field" | b"empty_field" => {
            let mut buf = [0u8; MARK];
            if let Some(n) = decode_hex_escapes(value, &mut buf) {
                if directive == b"unset_field" {
                    (st.unset, st.unset_len) = (buf, n);
                } else {
                    (st.empty, st.empty_len) = (buf, n);
                }
            }
        }
        b"path" => st.other_path = value != b"conn",
        _ => {} // #set_separator, #open, #close, #types, comments: nothing we need
    }
    Outcome::Skipped("zeek: header line")
}

/// Epoch seconds with an optional fraction (`1300475167.096535`), exactly, to the microsecond.
/// An exponent form (`1.3e9`) goes through `f64` (rare, and only in hand-made JSON).
pub(crate) fn epoch_micros(s: &[u8]) -> Option<Micros> {
    if s.iter().any(|b| matches!(b, b'e' | b'E')) {
        if s.len() > 32 {
            return None;
        }
        let f: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
        return (f.is_finite() && (0.0..1e12).contains(&f)).then(|| (f * 1e6).round() as i64);
    }
    let (int, frac) = match memchr::memchr(b'.', s) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[][..]),
    };
    if let Some(secs) = uint(int).filter(|_| int.len() <= 12) {
        let mut us: i64 = 0;
        for k in 0..6 {
            us *= 10;
            match frac.get(k) {
                Some(d @ b'0'..=b'9') => us += i64::from(d - b'0'),
                Some(_) => return None,
                None => {}
            }
        }
        if frac.len() > 6 && !frac[6..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        if !frac.is_empty() || memchr::memchr(b'.', s).is_none() {
            return Some(secs as i64 * 1_000_000 + us);
        }
        return None; // "123." is not a number
    }
    None
}

/// The pieces of one connection, as text slices (TSV) or JSON values, before interpretation.
#[derive(Default, Clone, Copy)]
struct Raw {
    ts: Option<Micros>,
    orig_h: Option<IpAddr>,
    resp_h: Option<IpAddr>,
    orig_p: Option<u64>,
    resp_p: Option<u64>,
    /// From the `proto` name (`tcp`, `udp`, `icmp`, `unknown_transport` -> None).
    proto: Option<Proto>,
    ip_proto: Option<u64>,
    orig_bytes: Option<u64>,
    resp_bytes: Option<u64>,
    orig_ip_bytes: Option<u64>,
    resp_ip_bytes: Option<u64>,
    orig_pkts: Option<u64>,
    resp_pkts: Option<u64>,
    local_orig: Option<bool>,
    local_resp: Option<bool>,
    /// From `history` (or `conn_state` without it); kept for TCP only.
    tcp_flags: TcpFlags,
}

/// What a TCP connection showed, as [`TcpFlags`] with `CONN` (see `crate::event::TcpFlags`):
/// from `history` when present (upper case: originator, lower case: responder), else from
/// `conn_state`. `S0` (no answer) and `REJ` (answered by a reset) give SYN without ACK.
fn conn_flags(history: &[u8], conn_state: &[u8]) -> TcpFlags {
    let mut f = TcpFlags::default();
    if !history.is_empty() && history.len() <= 64 {
        for &b in history {
            f |= match b {
                // Only the originator's SYN opens the connection; the responder's SYN-ACK
                // (`h`), or ACKs either way, mean the handshake was answered.
                b'S' => TcpFlags::SYN,
                b'h' | b'H' | b'a' | b'A' => TcpFlags::ACK,
                b'f' | b'F' => TcpFlags::FIN,
                b'r' | b'R' => TcpFlags::RST,
                _ => TcpFlags::default(),
            };
        }
    } else {
        let (syn, ack, fin, rst) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::FIN, TcpFlags::RST);
        f = match conn_state {
            b"S0" => syn,
            b"REJ" | b"RSTOS0" => syn | rst,
            b"S1" => syn | ack,
            b"SF" | b"S2" | b"S3" => syn | ack | fin,
            b"RSTO" | b"RSTR" => syn | ack | rst,
            b"RSTRH" => ack | rst,
            b"SH" => syn | fin,
            b"SHR" => ack | fin,
            _ => TcpFlags::default(),
        };
    }
    if f.is_known() { f | TcpFlags::CONN } else { f }
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a?.checked_add(b?)
}

/// Turns the pieces into an Event (addresses already required by the caller).
fn build<'a>(r: &Raw) -> Outcome<'a> {
    let Some(src) = r.orig_h else {
        return Outcome::Error("zeek: bad id.orig_h");
    };
    let Some(dst) = r.resp_h else {
        return Outcome::Error("zeek: bad id.resp_h");
    };
    // `ip_proto` (Zeek 6+) is exact; `proto` says `icmp` for ICMPv6 too, so the address family
    // decides between the two when only `proto` is there.
    let proto = match r.ip_proto.and_then(|n| u8::try_from(n).ok()) {
        Some(n) => Some(Proto(n)),
        None => match r.proto {
            Some(Proto::ICMP) if src.is_ipv6() => Some(Proto::ICMPV6),
            p => p,
        },
    };
    // Ports as written (`unknown_transport` rows included: Zeek writes 0 0 there), except for
    // ICMP, whose "ports" are Zeek's type and code.
    let icmp = r.proto == Some(Proto::ICMP) || proto.is_some_and(Proto::is_icmp);
    let (src_port, dst_port) = if icmp {
        (None, None)
    } else {
        let p = |v: Option<u64>| v.and_then(|n| u16::try_from(n).ok());
        (p(r.orig_p), p(r.resp_p))
    };
    let direction = match (r.local_orig, r.local_resp) {
        (Some(true), Some(false)) => Some(Direction::Out),
        (Some(false), Some(true)) => Some(Direction::In),
        _ => None,
    };
    Outcome::Event(Event {
        ts: r.ts,
        src_ip: Some(src),
        dst_ip: Some(dst),
        src_port,
        dst_port,
        proto,
        action: None,
        direction,
        iface: None,
        bytes: sum(r.orig_ip_bytes, r.resp_ip_bytes).or_else(|| sum(r.orig_bytes, r.resp_bytes)),
        packets: sum(r.orig_pkts, r.resp_pkts),
        rule: None,
        dns_qtype: None,
        dns_qname: None,
        signature: None,
        severity: None,
        tcp_flags: if proto == Some(Proto::TCP) {
            r.tcp_flags
        } else {
            TcpFlags::default()
        },
    })
}

fn is_uid(s: &[u8]) -> bool {
    s.len() >= 10 && s.len() <= 24 && s[0] == b'C' && s.iter().all(u8::is_ascii_alphanumeric)
}

fn tsv<'a>(line: &'a [u8], st: &State) -> Outcome<'a> {
    if st.multi_sep {
        return Outcome::Error("zeek: multi-byte #separator is not supported");
    }
    let mut vals: [&[u8]; NF] = [&[]; NF];
    let mut ncols = 0;
    for (i, col) in line.split(|&b| b == st.sep).enumerate() {
        ncols = i + 1;
        if i >= st.width {
            // Counting stops being useful past the default width; no need to walk 1 MB lines.
            if ncols >= DEFAULT_FIELDS.len() {
                break;
            }
            continue;
        }
        let id = st.map[i];
        if id != NONE {
            vals[id as usize] = col;
        }
    }
    let v = |id: u8| {
        let s = vals[id as usize];
        if st.is_absent(s) { &[][..] } else { s }
    };
    if !st.has_fields {
        // No header: claim the line only if it has Zeek's shape.
        let proto_ok = matches!(v(PROTO), b"tcp" | b"udp" | b"icmp" | b"unknown_transport");
        if ncols < 20 || !is_uid(v(UID)) || !proto_ok || ip(v(ORIG_H)).is_none() {
            return Outcome::Skipped("zeek: not a Zeek conn line");
        }
    } else if ncols < 2 {
        return Outcome::Skipped("zeek: not a Zeek conn line");
    }
    let flag = |id: u8| match v(id) {
        b"T" => Some(true),
        b"F" => Some(false),
        _ => None,
    };
    let raw = Raw {
        ts: epoch_micros(v(TS)),
        orig_h: ip(v(ORIG_H)),
        resp_h: ip(v(RESP_H)),
        orig_p: port(v(ORIG_P)).map(u64::from),
        resp_p: port(v(RESP_P)).map(u64::from),
        proto: Proto::from_name(v(PROTO)),
        ip_proto: uint(v(IP_PROTO)),
        orig_bytes: uint(v(ORIG_BYTES)),
        resp_bytes: uint(v(RESP_BYTES)),
        orig_ip_bytes: uint(v(ORIG_IP_BYTES)),
        resp_ip_bytes: uint(v(RESP_IP_BYTES)),
        orig_pkts: uint(v(ORIG_PKTS)),
        resp_pkts: uint(v(RESP_PKTS)),
        local_orig: flag(LOCAL_ORIG),
        local_resp: flag(LOCAL_RESP),
        tcp_flags: conn_flags(v(HISTORY), v(CONN_STATE)),
    };
    build(&raw)
}

/// JSON keys read, in field-id order for the first NF entries, then the extras.
const JSON_PATHS: &[&[u8]] = &[
    b"ts",
    b"uid",
    b"id.orig_h",
    b"id.orig_p",
    b"id.resp_h",
    b"id.resp_p",
    b"proto",
    b"orig_bytes",
    b"resp_bytes",
    b"local_orig",
    b"local_resp",
    b"orig_pkts",
    b"orig_ip_bytes",
    b"resp_pkts",
    b"resp_ip_bytes",
    b"ip_proto",
    b"conn_state",
    b"history",
    // extras
    b"_path",
    b"event_type",
    b"id_orig_h",
    b"id_orig_p",
    b"id_resp_h",
    b"id_resp_p",
    b"src",
    b"src_port",
    b"dst",
    b"dst_port",
];
const J_PATH: usize = NF;
const J_EVENT_TYPE: usize = NF + 1;
/// (field, first alias index, second alias index)
const J_ALIASES: [(u8, usize, usize); 4] = [
    (ORIG_H, NF + 2, NF + 6),
    (ORIG_P, NF + 3, NF + 7),
    (RESP_H, NF + 4, NF + 8),
    (RESP_P, NF + 5, NF + 9),
];
const NJ: usize = NF + 10;

fn json<'a>(obj: &'a [u8]) -> Outcome<'a> {
    let mut v: [Option<Val<'a>>; NJ] = [None; NJ];
    if jscan::scan(obj, JSON_PATHS, &mut v).is_err() {
        return if memchr::memmem::find(obj, b"\"uid\"").is_some()
            && memchr::memmem::find(obj, b"orig_h\"").is_some()
        {
            Outcome::Error("zeek: malformed JSON")
        } else {
            Outcome::Skipped("zeek: not a complete JSON object")
        };
    }
    if v[J_EVENT_TYPE].is_some() {
        return Outcome::Skipped("zeek: not Zeek JSON (event_type)");
    }
    let mut pb = [0u8; 32];
    let path = v[J_PATH].and_then(|p| p.text(&mut pb));
    if path.is_some_and(|p| p != b"conn") {
        return Outcome::Skipped("zeek: not a conn log (_path)");
    }
    for (f, a, b) in J_ALIASES {
        let f = f as usize;
        if v[f].is_none() {
            v[f] = v[a].or(v[b]);
        }
    }
    let zeeky = path.is_some()
        || v[UID as usize].is_some_and(|u| u.str_raw().is_some_and(is_uid))
        || v[CONN_STATE as usize].is_some();
    if !zeeky || v[ORIG_H as usize].is_none() || v[RESP_H as usize].is_none() {
        return Outcome::Skipped("zeek: not a Zeek conn record");
    }
    let num = |id: u8| v[id as usize].and_then(|x| x.uint());
    let flag = |id: u8| match v[id as usize] {
        Some(Val {
            kind: Kind::Bool,
            raw,
            ..
        }) => Some(raw == b"true"),
        _ => None,
    };
    let mut tb = [0u8; 64];
    let ts = v[TS as usize].and_then(|t| match t.kind {
        Kind::Num => epoch_micros(t.raw),
        Kind::Str => {
            let s = t.text(&mut tb)?;
            parse_rfc3339(s).map(|(m, _)| m).or_else(|| epoch_micros(s))
        }
        _ => None,
    });
    // Addresses and the protocol name are unescaped into a stack buffer when they need it.
    let mut buf = [0u8; 64];
    let orig_h = v[ORIG_H as usize].and_then(|x| ip(x.text(&mut buf)?));
    let resp_h = v[RESP_H as usize].and_then(|x| ip(x.text(&mut buf)?));
    let pname = v[PROTO as usize]
        .and_then(|x| x.text(&mut buf))
        .unwrap_or(b"");
    let proto = Proto::from_name(pname);
    let raw = Raw {
        ts,
        orig_h,
        resp_h,
        orig_p: num(ORIG_P),
        resp_p: num(RESP_P),
        proto,
        ip_proto: num(IP_PROTO),
        orig_bytes: num(ORIG_BYTES),
        resp_bytes: num(RESP_BYTES),
        orig_ip_bytes: num(ORIG_IP_BYTES),
        resp_ip_bytes: num(RESP_IP_BYTES),
        orig_pkts: num(ORIG_PKTS),
        resp_pkts: num(RESP_PKTS),
        local_orig: flag(LOCAL_ORIG),
        local_resp: flag(LOCAL_RESP),
        tcp_flags: {
            let s = |id: u8| v[id as usize].and_then(|x| x.str_raw()).unwrap_or(b"");
            conn_flags(s(HISTORY), s(CONN_STATE))
        },
    };
    build(&raw)
}

pub fn parse<'a>(line: &'a [u8], ctx: &Ctx, state: &mut State) -> Outcome<'a> {
    let _ = ctx;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.first() == Some(&b'#') {
        return header(line, state);
    }
    // JSON, possibly behind a syslog header: a `{` before any separator.
    if let Some(b) = memchr::memchr(b'{', line) {
        if !line[..b].contains(&state.sep) {
            return json(&line[b..]);
        }
    }
    if state.other_path {
        return Outcome::Skipped("zeek: not a conn log (#path)");
    }
    if !line.contains(&state.sep) {
        return Outcome::Skipped("zeek: not a Zeek conn line");
    }
    tsv(line, state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testutil::{a, ctx};
    use crate::time::civil_to_micros;

    fn feed<'a>(st: &mut State, line: &'a str) -> Outcome<'a> {
        parse(line.as_bytes(), &ctx(), st)
    }

    fn ev<'a>(st: &mut State, line: &'a str) -> Event<'a> {
        match feed(st, line) {
            Outcome::Event(e) => e,
            o => panic!("not an event: {o:?} for {line}"),
        }
    }

    // Fixtures written from Zeek's conn.log documentation (field list of Conn::Info, ASCII writer
    // header directives); addresses from documentation ranges, uids made up.
    const HEADER: &[&str] = &[
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        "#open\t2024-01-02-03-04-05",
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tip_proto",
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tcount",
    ];
    const TCP: &str = "1704164645.123456\tCAbCdEfGh1234567\t192.0.2.10\t51000\t198.51.100.7\t443\ttcp\tssl\t1.500000\t517\t4000\tSF\tT\tF\t0\tShADadFf\t10\t1049\t8\t4332\t-\t6";

    fn with_header() -> State {
        let mut st = State::default();
        for h in HEADER {
            assert_eq!(feed(&mut st, h), Outcome::Skipped("zeek: header line"));
        }
        st
    }

    #[test]
    fn tsv_with_header_exact() {
        let mut st = with_header();
        assert_eq!(
            ev(&mut st, TCP),
            Event {
                ts: civil_to_micros(2024, 1, 2, 3, 4, 5, 123_456),
                src_ip: a("192.0.2.10"),
                dst_ip: a("198.51.100.7"),
                src_port: Some(51000),
                dst_port: Some(443),
                proto: Some(Proto::TCP),
                action: None,
                direction: Some(Direction::Out),
                iface: None,
                bytes: Some(1049 + 4332),
                packets: Some(18),
                rule: None,
                dns_qtype: None,
                dns_qname: None,
                signature: None,
                severity: None,
                // history ShADadFf: opened, answered, closed.
                tcp_flags: TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::CONN,
            }
        );
        assert_eq!(
            feed(&mut st, "#close\t2024-01-02-04-00-00"),
            Outcome::Skipped("zeek: header line")
        );
    }

    #[test]
    fn tsv_without_header_uses_default_order() {
        let mut st = State::default();
        let e = ev(&mut st, TCP);
        assert_eq!(e.src_ip, a("192.0.2.10"));
        assert_eq!((e.bytes, e.packets), (Some(5381), Some(18)));
        // Without a header only Zeek-shaped lines are claimed.
        let not_uid = TCP.replace("CAbCdEfGh1234567", "xyz");
        assert_eq!(
            feed(&mut st, &not_uid),
            Outcome::Skipped("zeek: not a Zeek conn line")
        );
        assert_eq!(
            feed(&mut st, "a\tb\tc"),
            Outcome::Skipped("zeek: not a Zeek conn line")
        );
        assert_eq!(
            feed(&mut st, "no separator here"),
            Outcome::Skipped("zeek: not a Zeek conn line")
        );
    }

    #[test]
    fn tcp_flags_from_history_or_conn_state() {
        let (syn, ack, rst, conn) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::RST, TcpFlags::CONN);
        let mut st = with_header();
        for (state, history, want) in [
            ("S0", "S", syn | conn),
            ("REJ", "Sr", syn | rst | conn),
            ("SF", "ShADadFf", syn | ack | TcpFlags::FIN | conn),
            ("RSTO", "ShAR", syn | ack | rst | conn),
            // Without history the state decides.
            ("S0", "-", syn | conn),
            ("REJ", "-", syn | rst | conn),
            ("OTH", "-", TcpFlags::default()),
            // Midstream data only: nothing known.
            ("OTH", "Dd", TcpFlags::default()),
        ] {
            let line = TCP
                .replace("\tSF\t", &format!("\t{state}\t"))
                .replace("\tShADadFf\t", &format!("\t{history}\t"));
            assert_eq!(ev(&mut st, &line).tcp_flags, want, "{state} {history}");
        }
        // Not TCP: no flags even with a history.
        let udp = TCP.replace("\ttcp\t", "\tudp\t").replace("\t6", "\t17");
        assert_eq!(ev(&mut st, &udp).tcp_flags, TcpFlags::default());
        // JSON without history.
        let e = ev(
            &mut st,
            r#"{"ts":1704164645,"uid":"CqWz3b1Kd8Xy2","id.orig_h":"192.0.2.1","id.orig_p":1,"id.resp_h":"192.0.2.2","id.resp_p":22,"proto":"tcp","conn_state":"S0"}"#,
        );
        assert_eq!(e.tcp_flags, syn | conn);
    }

    #[test]
    fn icmp_unset_and_unknown_transport() {
        let mut st = with_header();
        // ICMPv6 echo: Zeek's proto says icmp, ip_proto says 58; "ports" are type/code.
        let e = ev(
            &mut st,
            "1704164645.000000\tCx1\t2001:db8::1\t128\t2001:db8::2\t129\ticmp\t-\t0.1\t16\t16\tOTH\tF\tT\t0\t-\t1\t64\t1\t64\t-\t58",
        );
        assert_eq!(e.proto, Some(Proto::ICMPV6));
        assert_eq!((e.src_port, e.dst_port), (None, None));
        assert_eq!(e.direction, Some(Direction::In));
        // Unset IP counters: fall back to the payload counters.
        let e = ev(
            &mut st,
            "1704164645.000000\tCx2\t192.0.2.1\t8\t192.0.2.2\t0\ticmp\t-\t-\t100\t50\tOTH\t-\t-\t0\t-\t2\t-\t1\t-\t-\t1",
        );
        assert_eq!(e.proto, Some(Proto::ICMP));
        assert_eq!((e.bytes, e.packets), (Some(150), Some(3)));
        assert_eq!(e.direction, None);
        // Nothing set at all: None, not zero; (empty) is absent too.
        let e = ev(
            &mut st,
            "XXXXXXXXXX.XXXXXX\tCx3\t192.0.2.1\t1\t192.0.2.2\t2\tudp\t-\t-\t-\t-\tS0\t(empty)\t-\t0\t-\t-\t-\t-\t-\t-\t17",
        );
        assert_eq!((e.ts, e.bytes, e.packets), (None, None, None));
        assert_eq!((e.src_port, e.dst_port), (Some(1), Some(2)));
        // SCTP Zeek did not decode: its ports are reported as written (0 0).
        let e = ev(
            &mut st,
            "1704164645.5\tCx4\t192.0.2.1\t0\t192.0.2.2\t0\tunknown_transport\t-\t-\t-\t-\tOTH\tF\tF\t0\t-\t2\t120\t0\t0\t-\t132",
        );
        assert_eq!(e.proto, Some(Proto::SCTP));
        assert_eq!((e.src_port, e.dst_port), (Some(0), Some(0)));
        assert_eq!(e.ts, civil_to_micros(2024, 1, 2, 3, 4, 5, 500_000));
        // GRE, PIM and an unassigned protocol: no transport ports, but 0 0 is what Zeek wrote.
        for (ip_proto, want) in [("47", Proto::GRE), ("103", Proto(103)), ("253", Proto(253))] {
            let line = format!(
                "1704164645.5\tCx5\t192.0.2.1\t0\t192.0.2.2\t0\tunknown_transport\t-\t-\t-\t-\tOTH\tF\tF\t0\t-\t1\t60\t0\t0\t-\t{ip_proto}"
            );
            let e = ev(&mut st, &line);
            assert_eq!(e.proto, Some(want));
            assert_eq!((e.src_port, e.dst_port), (Some(0), Some(0)), "{line}");
        }
        // ICMP over IPv4: type 8 / code 0 are not ports.
        let e = ev(
            &mut st,
            "1704164645.5\tCx6\t192.0.2.1\t8\t192.0.2.2\t0\ticmp\t-\t-\t-\t-\tOTH\tF\tF\t0\t-\t1\t84\t0\t0\t-\t1",
        );
        assert_eq!(
            (e.proto, e.src_port, e.dst_port),
            (Some(Proto::ICMP), None, None)
        );
    }

    #[test]
    fn renamed_extra_and_reordered_columns() {
        let mut st = State::default();
        for h in [
            "#separator \\x2c",
            "#unset_field,NA",
            "#fields,_write_ts,ts,uid,src,src_port,dst,dst_port,proto,orig_pkts,orig_ip_bytes,resp_pkts,resp_ip_bytes,orig_l2_addr",
        ] {
            assert_eq!(feed(&mut st, h), Outcome::Skipped("zeek: header line"));
        }
        let e = ev(
            &mut st,
            "1704164646.0,1704164645.0,Cx9,192.0.2.5,5353,224.0.0.251,5353,udp,3,300,NA,NA,00:11:22:33:44:55",
        );
        assert_eq!(e.src_ip, a("192.0.2.5"));
        assert_eq!(e.dst_ip, a("224.0.0.251"));
        assert_eq!((e.src_port, e.dst_port), (Some(5353), Some(5353)));
        assert_eq!(e.ts, civil_to_micros(2024, 1, 2, 3, 4, 5, 0));
        assert_eq!((e.bytes, e.packets), (None, None));
        assert_eq!(
            feed(&mut st, "1,2,Cx9,nope,1,192.0.2.1,2,udp"),
            Outcome::Error("zeek: bad id.orig_h")
        );
    }

    #[test]
    fn other_paths_are_skipped() {
        let mut st = State::default();
        feed(&mut st, "#separator \\x09");
        feed(&mut st, "#path\tdns");
        feed(
            &mut st,
            "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto",
        );
        assert_eq!(
            feed(&mut st, TCP),
            Outcome::Skipped("zeek: not a conn log (#path)")
        );
        // A new header block (next file) starts afresh.
        for h in HEADER {
            feed(&mut st, h);
        }
        assert!(matches!(feed(&mut st, TCP), Outcome::Event(_)));
        let mut st = State::default();
        feed(&mut st, "#separator ::");
        assert_eq!(
            feed(&mut st, TCP),
            Outcome::Error("zeek: multi-byte #separator is not supported")
        );
    }

    #[test]
    fn json_flat_nested_iso() {
        let mut st = State::default();
        let flat = r#"{"ts":1704164645.123456,"uid":"CAbCdEfGh1234567","id.orig_h":"192.0.2.10","id.orig_p":51000,"id.resp_h":"198.51.100.7","id.resp_p":443,"proto":"tcp","service":"ssl","duration":1.5,"orig_bytes":517,"resp_bytes":4000,"conn_state":"SF","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"ShADadFf","orig_pkts":10,"orig_ip_bytes":1049,"resp_pkts":8,"resp_ip_bytes":4332,"ip_proto":6}"#;
        let nested = r#"{"_path":"conn","ts":"2024-01-02T03:04:05.123456Z","uid":"CAbCdEfGh1234567","id":{"orig_h":"192.0.2.10","orig_p":51000,"resp_h":"198.51.100.7","resp_p":443},"proto":"tcp","orig_bytes":517,"resp_bytes":4000,"local_orig":true,"local_resp":false,"orig_pkts":10,"orig_ip_bytes":1049,"resp_pkts":8,"resp_ip_bytes":4332}"#;
        let want = Event {
            ts: civil_to_micros(2024, 1, 2, 3, 4, 5, 123_456),
            src_ip: a("192.0.2.10"),
            dst_ip: a("198.51.100.7"),
            src_port: Some(51000),
            dst_port: Some(443),
            proto: Some(Proto::TCP),
            direction: Some(Direction::Out),
            bytes: Some(5381),
            packets: Some(18),
            tcp_flags: TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::CONN,
            ..Event::default()
        };
        assert_eq!(ev(&mut st, flat), want);
        // The nested form here has neither history nor conn_state: flags unknown.
        assert_eq!(
            ev(&mut st, nested),
            Event {
                tcp_flags: TcpFlags::default(),
                ..want
            }
        );
        let wrapped = format!("Jan  2 03:04:05 sensor zeek: {flat}");
        assert_eq!(ev(&mut st, &wrapped), want);
        // ICMP over IPv6 without ip_proto; payload counters only.
        let e = ev(
            &mut st,
            r#"{"ts":1704164645,"uid":"CqWz3b1Kd8Xy2","id.orig_h":"2001:db8::1","id.orig_p":135,"id.resp_h":"2001:db8::2","id.resp_p":136,"proto":"icmp","orig_bytes":24,"resp_bytes":0,"orig_pkts":1,"resp_pkts":0}"#,
        );
        assert_eq!(e.proto, Some(Proto::ICMPV6));
        assert_eq!((e.src_port, e.dst_port), (None, None));
        assert_eq!((e.bytes, e.packets), (Some(24), Some(1)));
        assert_eq!(e.ts, civil_to_micros(2024, 1, 2, 3, 4, 5, 0));
    }

    #[test]
    fn json_strictness() {
        let mut st = State::default();
        for (line, want) in [
            (
                r#"{"event_type":"flow","src_ip":"192.0.2.1","dest_ip":"192.0.2.2"}"#,
                Outcome::Skipped("zeek: not Zeek JSON (event_type)"),
            ),
            (
                r#"{"_path":"dns","uid":"Cabc","id.orig_h":"192.0.2.1","id.resp_h":"192.0.2.2"}"#,
                Outcome::Skipped("zeek: not a conn log (_path)"),
            ),
            (
                r#"{"src":"192.0.2.1","dst":"192.0.2.2"}"#,
                Outcome::Skipped("zeek: not a Zeek conn record"),
            ),
            ("{", Outcome::Skipped("zeek: not a complete JSON object")),
            (
                r#"  "resp_pkts" : 0,"#,
                Outcome::Skipped("zeek: not a Zeek conn line"),
            ),
            (
                r#"{"uid":"CAbCdEfGh1234567","id.orig_h":"192.0.2.1","#,
                Outcome::Error("zeek: malformed JSON"),
            ),
            (
                r#"{"uid":"CAbCdEfGh1234567","id.orig_h":"192.0.2.1","id.resp_h":"x"}"#,
                Outcome::Error("zeek: bad id.resp_h"),
            ),
        ] {
            assert_eq!(feed(&mut st, line), want, "{line}");
        }
    }

    #[test]
    fn epoch_parsing() {
        assert_eq!(epoch_micros(b"1.5"), Some(1_500_000));
        assert_eq!(epoch_micros(b"12"), Some(12_000_000));
        assert_eq!(epoch_micros(b"1.1234567"), Some(1_123_456));
        assert_eq!(epoch_micros(b"1.3e9"), Some(1_300_000_000_000_000));
        assert_eq!(epoch_micros(b"1."), None);
        assert_eq!(epoch_micros(b"-"), None);
        assert_eq!(epoch_micros(b"XXXXXXXXXX.XXXXXX"), None);
        assert_eq!(epoch_micros(b"1.2x"), None);
        assert_eq!(epoch_micros(b""), None);
        assert_eq!(epoch_micros(b"1e999"), None);
    }

    #[test]
    fn never_panics() {
        let c = ctx();
        let mut st = with_header();
        let json = r#"{"ts":1704164645.1,"uid":"CAbCdEfGh1234567","id":{"orig_h":"192.0.2.10","orig_p":1,"resp_h":"198.51.100.7","resp_p":2},"proto":"tcp","orig_pkts":1,"resp_pkts":2}"#;
        let mut x: u64 = 0x0bad_cafe_f00d_1234;
        for line in [
            TCP.as_bytes(),
            json.as_bytes(),
            HEADER[6].as_bytes(),
            HEADER[0].as_bytes(),
        ] {
            for end in 0..=line.len() {
                let _ = parse(&line[..end], &c, &mut st);
                let _ = parse(&line[end..], &c, &mut st);
                let _ = parse(&line[..end], &c, &mut State::default());
            }
            let mut m = line.to_vec();
            for _ in 0..5_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = x as usize % m.len();
                let old = m[i];
                m[i] = (x >> 32) as u8;
                let _ = parse(&m, &c, &mut st);
                m[i] = old;
            }
        }
        let mut big = b"#fields".to_vec();
        big.resize(1 << 20, b'\t');
        let _ = parse(&big, &c, &mut st);
        let _ = parse(&vec![b'\t'; 1 << 20], &c, &mut st);
        let _ = parse(&vec![b'{'; 1 << 20], &c, &mut st);
    }

    #[test]
    fn auto_detection_learns_the_header_and_claims_only_zeek() {
        use crate::parse::{AutoDetector, Format};
        let c = ctx();
        let mut d = AutoDetector::new();
        let renamed = [
            "#separator \\x09",
            "#path\tconn",
            "#fields\tuid\tts\tsrc\tsrc_port\tdst\tdst_port\tproto\torig_pkts\tresp_pkts",
        ];
        for h in renamed {
            assert!(matches!(d.feed(h.as_bytes(), &c).1, Outcome::Skipped(_)));
        }
        let (f, o) = d.feed(
            b"x1\t1704164645.0\t192.0.2.1\t5\t192.0.2.2\t6\tudp\t1\t1",
            &c,
        );
        assert_eq!(f, Some(Format::Zeek));
        let Outcome::Event(e) = o else {
            panic!("{o:?}")
        };
        assert_eq!(
            (e.src_port, e.dst_port, e.packets),
            (Some(5), Some(6), Some(2))
        );
        // A Suricata line in the same stream goes to eve, not zeek.
        let (f, _) = d.feed(
            br#"{"event_type":"flow","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","proto":"UDP"}"#,
            &c,
        );
        assert_eq!(f, Some(Format::Eve));
    }

    /// Rough lines/s for the three parsers of this module family (not a benchmark; run with
    /// `cargo test --release --lib -- --ignored --nocapture json_formats_throughput`).
    #[test]
    #[ignore]
    fn json_formats_throughput() {
        use std::time::Instant;
        let c = ctx();
        let alert = br#"{"timestamp":"2025-03-04T10:11:12.345678+0000","flow_id":1,"in_iface":"eth0","event_type":"alert","src_ip":"192.0.2.10","src_port":51000,"dest_ip":"198.51.100.7","dest_port":80,"proto":"TCP","metadata":{"flowbits":["a","b"]},"alert":{"action":"allowed","gid":1,"signature_id":2000001,"rev":3,"signature":"ET TEST a made-up signature for timing","category":"Test","severity":2,"metadata":{"created_at":["2020_01_01"],"deployment":["Perimeter"],"signature_severity":["Major"],"updated_at":["2020_01_02"]},"rule":"alert http any any -> any any (msg:\"x\"; content:\"POST\"; sid:2000001; rev:3;)"},"app_proto":"http","flow":{"pkts_toserver":4,"pkts_toclient":3,"bytes_toserver":600,"bytes_toclient":500,"start":"2025-03-04T10:11:10.000000+0000"}}"#;
        let zjson = br#"{"ts":1704164645.123456,"uid":"CAbCdEfGh1234567","id.orig_h":"192.0.2.10","id.orig_p":51000,"id.resp_h":"198.51.100.7","id.resp_p":443,"proto":"tcp","service":"ssl","duration":1.5,"orig_bytes":517,"resp_bytes":4000,"conn_state":"SF","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"ShADadFf","orig_pkts":10,"orig_ip_bytes":1049,"resp_pkts":8,"resp_ip_bytes":4332,"ip_proto":6}"#;
        let yafl = b"2024-05-06 07:08:09.123|2024-05-06 07:08:10.500|   1.377|   0.012|  6|    192.0.2.10|51515|   198.51.100.20|  443|     SAP|     APF|    SAPF|     APF|0a0b0c0d|01020304|000|000|      12|    2100|      10|   15000|  443|eof";
        let n = 200_000;
        let time = |name: &str, f: &mut dyn FnMut() -> bool| {
            let t = Instant::now();
            let mut ok = 0;
            for _ in 0..n {
                ok += usize::from(std::hint::black_box(f()));
            }
            assert_eq!(ok, n);
            let s = t.elapsed().as_secs_f64();
            println!("{name}: {:.2} M lines/s", n as f64 / s / 1e6);
        };
        let mut st = with_header();
        time("zeek tsv", &mut || {
            matches!(parse(TCP.as_bytes(), &c, &mut st), Outcome::Event(_))
        });
        time("zeek json", &mut || {
            matches!(parse(zjson, &c, &mut st), Outcome::Event(_))
        });
        time("eve alert (1 KB)", &mut || {
            matches!(crate::parse::eve::parse(alert, &c), Outcome::Event(_))
        });
        time("yaf", &mut || {
            matches!(crate::parse::yaf::parse(yafl, &c), Outcome::Event(_))
        });
    }
}
