//! Parsers: pure functions from one log line (`&[u8]`) to an [`Outcome`], plus format detection.
//!
//! Contract (see docs/PARSE.md): never panic, never allocate per line on the hot path, no regex.
//! A line that is not a traffic event is `Skipped`; a line that should be one but cannot be read
//! is `Error`. Both carry a static reason so counting them costs nothing.

use crate::event::{Event, Micros};

pub mod asa;
pub mod cmd;
pub mod detect;
pub mod eve;
pub mod filterlog;
pub mod iptables;
pub mod jscan;
mod json;
mod jsondoc;
pub mod kv;
pub mod mikrotik;
pub mod netflow;
pub mod netscreen;
pub mod panos;
pub mod pf;
#[cfg(test)]
mod reference;
pub mod srx;
pub mod stage;
pub mod syslog;
pub mod vpcflow;
pub mod yaf;
pub mod zeek;

pub use detect::{AutoDetector, detect};
pub use iptables::VerdictWords;

/// A log format socwall can read. `docs/PARSE.md` (and `docs/formats.md`) describe each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Pf,
    Iptables,
    Filterlog,
    Zeek,
    Eve,
    Yaf,
    Asa,
    Netscreen,
    Srx,
    Mikrotik,
    Panos,
    Fortigate,
    Cef,
    Leef,
    Checkpoint,
    Sonicwall,
    Watchguard,
    Sophos,
    Stormshield,
    Clavister,
    Barracuda,
    Meraki,
    Vpcflow,
    /// NetFlow v5/v9/IPFIX export packets: binary, decoded by [`netflow::Decoder`], not by lines.
    Netflow,
}

impl Format {
    /// Every concrete format, in the order auto-detection tries them: the most self-describing
    /// (unambiguous markers) first, the loosest last.
    pub const ALL: &'static [Format] = &[
        Format::Filterlog,
        Format::Iptables,
        Format::Pf,
        Format::Asa,
        Format::Srx,
        Format::Netscreen,
        Format::Panos,
        Format::Eve,
        Format::Zeek,
        Format::Cef,
        Format::Leef,
        Format::Checkpoint,
        Format::Fortigate,
        Format::Sonicwall,
        Format::Watchguard,
        Format::Sophos,
        Format::Stormshield,
        Format::Clavister,
        Format::Barracuda,
        Format::Meraki,
        Format::Mikrotik,
        Format::Vpcflow,
        Format::Yaf,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Pf => "pf",
            Format::Iptables => "iptables",
            Format::Filterlog => "filterlog",
            Format::Zeek => "zeek",
            Format::Eve => "eve",
            Format::Yaf => "yaf",
            Format::Asa => "asa",
            Format::Netscreen => "netscreen",
            Format::Srx => "srx",
            Format::Mikrotik => "mikrotik",
            Format::Panos => "panos",
            Format::Fortigate => "fortigate",
            Format::Cef => "cef",
            Format::Leef => "leef",
            Format::Checkpoint => "checkpoint",
            Format::Sonicwall => "sonicwall",
            Format::Watchguard => "watchguard",
            Format::Sophos => "sophos",
            Format::Stormshield => "stormshield",
            Format::Clavister => "clavister",
            Format::Barracuda => "barracuda",
            Format::Meraki => "meraki",
            Format::Vpcflow => "vpcflow",
            Format::Netflow => "netflow",
        }
    }

    /// Every format name accepted by `--format` and `format =` (line formats and `netflow`).
    pub fn names() -> impl Iterator<Item = &'static str> {
        Format::ALL
            .iter()
            .map(|f| f.name())
            .chain(std::iter::once("netflow"))
    }

    pub fn from_name(s: &str) -> Option<Format> {
        if s == "netflow" {
            return Some(Format::Netflow);
        }
        Format::ALL.iter().copied().find(|f| f.name() == s)
    }
}

/// What one stream of lines (a file, a source) carries from line to line, for the formats that
/// need it: Zeek's `#separator`/`#fields` header, a VPC flow log's header line or configured
/// field list. Stateless formats ignore it. Owned by the caller, one per stream.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub zeek: zeek::State,
    pub vpcflow: vpcflow::State,
}

/// What a source is configured to read: one format, or detect it from the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatSpec {
    Auto,
    Fixed(Format),
}

/// Parse context: what a pure parser needs to know beyond the line itself.
///
/// `verdicts` was added for the iptables parser, whose allow/deny verdict lives in a free-form
/// log prefix chosen by the admin. It is a `&'static` reference (not a `Ctx<'c>` lifetime) so
/// `Ctx` stays `Copy` and lifetime-free for every stage that passes it around; a configured
/// word list is built once at start-up and leaked (`Box::leak`), which costs nothing per line.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Year assumed for syslog dates that print none.
    pub year: i32,
    /// "Now", to pull a year-less date that would lie in the future back into last year.
    pub now: Micros,
    /// Prefix words that map an iptables log prefix to allow/deny.
    pub verdicts: &'static VerdictWords,
}

impl Ctx {
    /// A context for "now" = `now`, its UTC year, and the default verdict words.
    pub fn new(now: Micros) -> Ctx {
        Ctx {
            year: crate::time::year_of(now),
            now,
            verdicts: VerdictWords::default_static(),
        }
    }

    /// A context for the current wall-clock time.
    pub fn now() -> Ctx {
        Ctx::new(crate::time::now_micros())
    }
}

/// The result of parsing one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    Event(Event<'a>),
    /// Not a traffic event (header, comment, another program's message); the reason says which.
    Skipped(&'static str),
    /// Looked like this format but could not be read; the reason says what was wrong.
    Error(&'static str),
}

/// Parses one line as `format` with no carried state (a stateful format falls back to its
/// documented default layout). Pure: the same line and context always give the same outcome.
pub fn parse_line<'a>(format: Format, line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    parse_line_with(format, line, ctx, &mut State::default())
}

/// Parses one line as `format`, reading and updating the stream's `state` (headers).
pub fn parse_line_with<'a>(
    format: Format,
    line: &'a [u8],
    ctx: &Ctx,
    state: &mut State,
) -> Outcome<'a> {
    match format {
        Format::Pf => pf::parse(line, ctx),
        Format::Iptables => iptables::parse(line, ctx),
        Format::Filterlog => filterlog::parse(line, ctx),
        Format::Zeek => zeek::parse(line, ctx, &mut state.zeek),
        Format::Eve => eve::parse(line, ctx),
        Format::Yaf => yaf::parse(line, ctx),
        Format::Asa => asa::parse(line, ctx),
        Format::Netscreen => netscreen::parse(line, ctx),
        Format::Srx => srx::parse(line, ctx),
        Format::Mikrotik => mikrotik::parse(line, ctx),
        Format::Panos => panos::parse(line, ctx),
        Format::Fortigate
        | Format::Cef
        | Format::Leef
        | Format::Checkpoint
        | Format::Sonicwall
        | Format::Watchguard
        | Format::Sophos
        | Format::Stormshield
        | Format::Clavister
        | Format::Barracuda
        | Format::Meraki => kv::parse(format, line, ctx),
        Format::Vpcflow => vpcflow::parse(line, ctx, &mut state.vpcflow),
        Format::Netflow => {
            Outcome::Skipped("netflow is a binary format: decode export packets, not lines")
        }
    }
}

/// Small byte helpers shared by the parsers (all allocation-free).
pub(crate) mod bytes {
    use std::net::IpAddr;

    /// `s` as `&str` if it is valid UTF-8 (only ever called on short field slices).
    pub fn utf8(s: &[u8]) -> Option<&str> {
        std::str::from_utf8(s).ok()
    }

    /// Like [`utf8`], but `None` for an empty slice too.
    pub fn field(s: &[u8]) -> Option<&str> {
        if s.is_empty() { None } else { utf8(s) }
    }

    /// Decimal digits only (no sign, no spaces), at most `u64`.
    pub fn uint(s: &[u8]) -> Option<u64> {
        if s.is_empty() || s.len() > 19 {
            return None;
        }
        let mut n: u64 = 0;
        for &b in s {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u64::from(b - b'0');
        }
        Some(n)
    }

    pub fn port(s: &[u8]) -> Option<u16> {
        uint(s).and_then(|n| u16::try_from(n).ok())
    }

    /// An IPv4 or IPv6 address (bounded length, so a 1 MB token is rejected without work).
    pub fn ip(s: &[u8]) -> Option<IpAddr> {
        if let Some(v4) = ipv4(s) {
            return Some(IpAddr::V4(v4));
        }
        if s.len() > 45 {
            return None;
        }
        // Everything the fast path does not accept (IPv6, and invalid input) goes through std,
        // so std stays the one definition of a valid address.
        utf8(s)?.parse().ok()
    }

    /// Dotted-quad IPv4 by hand: the std parser (UTF-8 check, then a generic backtracking
    /// reader tried as IPv4 and IPv6) was the largest single cost of a netfilter line. Accepts
    /// exactly what `Ipv4Addr::from_str` accepts: four groups of 1-3 ASCII digits, each at most
    /// 255, no leading zero on a multi-digit group, nothing else. `None` means "not this
    /// shape", not "invalid address": the caller falls back to std.
    #[inline]
    pub fn ipv4(s: &[u8]) -> Option<std::net::Ipv4Addr> {
        if s.len() < 7 || s.len() > 15 {
            return None;
        }
        let mut octets = [0u8; 4];
        let mut i = 0;
        for (n, o) in octets.iter_mut().enumerate() {
            if n > 0 {
                if s.get(i) != Some(&b'.') {
                    return None;
                }
                i += 1;
            }
            let start = i;
            let mut v: u32 = 0;
            while let Some(&b) = s.get(i) {
                if !b.is_ascii_digit() || i - start == 3 {
                    break;
                }
                v = v * 10 + u32::from(b - b'0');
                i += 1;
            }
            let len = i - start;
            if len == 0 || v > 255 || (len > 1 && s[start] == b'0') {
                return None;
            }
            *o = v as u8;
        }
        (i == s.len()).then(|| std::net::Ipv4Addr::from(octets))
    }

    /// First occurrence of `needle` in `hay`, found by `memchr` on `needle[anchor]` (pick a
    /// byte that is rare in the haystack). Same result as `memmem::find`, whose one-shot form
    /// builds a searcher per call: that set-up cost more than the search on a short log line.
    pub fn find_anchored(hay: &[u8], needle: &[u8], anchor: usize) -> Option<usize> {
        let a = *needle.get(anchor)?;
        let mut from = anchor;
        while from < hay.len() {
            let p = from + memchr::memchr(a, &hay[from..])? - anchor;
            if hay.get(p..p + needle.len()) == Some(needle) {
                return Some(p);
            }
            from = p + anchor + 1;
        }
        None
    }

    pub fn trim(mut s: &[u8]) -> &[u8] {
        while let [b' ' | b'\t', rest @ ..] = s {
            s = rest;
        }
        while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
            s = rest;
        }
        s
    }

    /// ASCII case-insensitive substring search; returns the start of the first match.
    pub fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
        let (&first, _) = needle.split_first()?;
        let last_start = hay.len().checked_sub(needle.len())?;
        let first = first.to_ascii_lowercase();
        // First-byte filter before the full compare: most positions fail on one byte.
        (0..=last_start).find(|&i| {
            hay[i].to_ascii_lowercase() == first
                && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
        })
    }
}

/// Helpers shared by the parsers' unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    use std::net::IpAddr;

    use super::{Ctx, Outcome};
    use crate::event::Event;

    /// The context every parser test uses: "now" is 2026-12-01T00:00:00Z.
    pub fn ctx() -> Ctx {
        Ctx::new(crate::time::civil_to_micros(2026, 12, 1, 0, 0, 0, 0).unwrap())
    }

    /// An address literal as the `Option<IpAddr>` events carry.
    pub fn a(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// The event a parser made of `line`, or a panic saying what it made instead.
    pub fn event<'a>(outcome: Outcome<'a>, line: &str) -> Event<'a> {
        match outcome {
            Outcome::Event(e) => e,
            o => panic!("not an event: {o:?} for {line}"),
        }
    }
}

#[cfg(test)]
mod robustness {
    //! Feeds every parser hostile input: random bytes, prefixes of real lines, NULs, 1 MB lines.
    use super::*;

    const REAL: &[&[u8]] = &[
        b"Oct 21 06:07:11.298946 rule 57/0(match): pass in on xl1: 195.141.69.45.1030 > 204.123.2.19.53: 20792 [1au] MX? www.com.ar. (39) (DF)",
        b"Jan 14 10:15:01 fw1 pf: Jan 14 10:15:01.123456 rule 2/(match) [uid 0, pid 77] block in on em0: 2001:db8::1.443 > 2001:db8::2.51000: Flags [S], seq 1, win 1024, length 0",
        b"Jun  8 14:34:33 sd-1 kernel: [50028442.088484] [UFW BLOCK] IN=eth0 OUT= MAC= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.0.0.2 DST=10.0.0.1 LEN=40 PROTO=UDP SPT=1 DPT=2 LEN=20 ]",
        b"<134>1 2022-09-06T18:37:34+02:00 opnsense filterlog 69805 - [meta sequenceId=\"2\"] 98,,,x,re0,match,pass,in,6,0x00,0x0ea87,51,udp,17,73,2008::1,2c02::1738,6881,51918,73",
        b"0 3 PVEFW-HOST-IN 20/Jun/2022:13:09:14 +0200 policy DROP: IN=vmbr0 MAC=aa SRC=10.3.94.11 DST=10.3.94.12 LEN=52 PROTO=UDP SPT=1 DPT=2 LEN=32",
    ];

    fn all_parsers(line: &[u8]) {
        let ctx = Ctx::new(1_700_000_000_000_000);
        for &f in Format::ALL {
            let _ = parse_line(f, line, &ctx);
        }
        let _ = detect(line);
        let mut d = AutoDetector::new();
        let _ = d.feed(line, &ctx);
    }

    #[test]
    fn never_panics_on_garbage() {
        // xorshift64*: deterministic, no dependency.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let mut buf = Vec::with_capacity(512);
        for _ in 0..20_000 {
            buf.clear();
            let len = (next() % 300) as usize;
            for _ in 0..len {
                buf.push((next() >> 24) as u8);
            }
            all_parsers(&buf);
        }
        // Real lines: every prefix, and random single-byte mutations.
        for line in REAL {
            for end in 0..=line.len() {
                all_parsers(&line[..end]);
                all_parsers(&line[end..]);
            }
            let mut m = line.to_vec();
            for _ in 0..5_000 {
                let i = (next() as usize) % m.len();
                let old = m[i];
                m[i] = (next() >> 40) as u8;
                all_parsers(&m);
                m[i] = old;
            }
        }
        all_parsers(b"\0\0\0 rule \0/ SRC=\0 DST= IN= filterlog: ,,,,,");
        all_parsers(&[0xff, 0xfe, b' ', b'S', b'R', b'C', b'=', 0xc3]);
    }

    #[test]
    fn never_panics_on_huge_lines() {
        let mut big = REAL[2].to_vec();
        big.resize(1 << 20, b'A');
        all_parsers(&big);
        let spaces = vec![b' '; 1 << 20];
        all_parsers(&spaces);
        let mut eq = b"IN=eth0 SRC=".to_vec();
        eq.resize(1 << 20, b'=');
        all_parsers(&eq);
        let mut commas = b"Oct 21 06:06:58 h filterlog: ".to_vec();
        commas.resize(1 << 20, b',');
        all_parsers(&commas);
    }
}
