//! CEF and LEEF header readers: find `CEF:`/`LEEF:` (bare or after a syslog header), split the
//! pipe-delimited header (`\|` escaped), pick the vendor's extension table from Device Vendor,
//! and hand the extension to the shared tokenizer.

use super::tables::{self, Table};
use super::tok::Style;
use super::{Acc, Reasons, header_ts, severity};
use crate::parse::bytes::{find_anchored, find_ci, trim};
use crate::parse::{Ctx, Format, Outcome};

/// Splits `s` at the first `n` unescaped pipes: returns the fields and the rest after the last.
fn split_header<const N: usize>(s: &[u8]) -> Option<([&[u8]; N], &[u8])> {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut start = 0;
    let mut i = 0;
    for slot in out.iter_mut() {
        loop {
            let p = memchr::memchr2(b'|', b'\\', &s[i.min(s.len())..])? + i;
            if s[p] == b'\\' {
                i = p + 2; // skip the escaped byte (`\|`, `\\`)
                continue;
            }
            *slot = &s[start..p];
            start = p + 1;
            i = start;
            break;
        }
    }
    Some((out, &s[start.min(s.len())..]))
}

/// The format a CEF/LEEF Device Vendor belongs to (for vendor names over CEF).
fn vendor_format(vendor: &[u8]) -> Option<Format> {
    const V: &[(&[u8], Format)] = &[
        (b"fortinet", Format::Fortigate),
        (b"check point", Format::Checkpoint),
        (b"checkpoint", Format::Checkpoint),
        (b"barracuda", Format::Barracuda),
        (b"sonicwall", Format::Sonicwall),
        (b"watchguard", Format::Watchguard),
        (b"sophos", Format::Sophos),
        (b"stormshield", Format::Stormshield),
        (b"clavister", Format::Clavister),
        (b"meraki", Format::Meraki),
    ];
    V.iter()
        .find(|(n, _)| find_ci(vendor, n).is_some())
        .map(|&(_, f)| f)
}

/// Extra extension keys for a vendor, looked up before the standard table.
fn extras(f: Option<Format>) -> &'static Table {
    match f {
        Some(Format::Fortigate) => &tables::FORTINET_CEF,
        Some(Format::Checkpoint) => &tables::CHECKPOINT_CEF,
        _ => &tables::NONE,
    }
}

/// Event names that are plain traffic verdicts, not alerts (kept out of `signature`).
fn traffic_name(name: &[u8], sig_id: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"accept", b"allow", b"drop", b"deny", b"reject", b"block", b"log", b"pass", b"close",
    ];
    find_ci(name, b"traffic").is_some()
        || find_ci(sig_id, b"traffic").is_some()
        || WORDS.iter().any(|w| w.eq_ignore_ascii_case(trim(name)))
}

/// CEF header severity: a number 0–10, or Low/Medium/High/Very-High (CEF's own words, mapped
/// to the top of each band: 3, 6, 8, 10).
fn cef_severity(s: &[u8]) -> Option<u8> {
    let s = trim(s);
    if s.first().is_some_and(u8::is_ascii_digit) {
        return severity(s);
    }
    const W: &[(&[u8], u8)] = &[
        (b"low", 3),
        (b"medium", 6),
        (b"high", 8),
        (b"very-high", 10),
    ];
    W.iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(s))
        .map(|&(_, n)| n)
}

/// `None` when the line carries no CEF/LEEF header (the caller tries the vendor's own form).
pub(super) fn parse<'a>(
    format: Format,
    line: &'a [u8],
    ctx: &Ctx,
    r: &Reasons,
) -> Option<Outcome<'a>> {
    let (at, leef) = match (
        find_anchored(line, b"CEF:", 0),
        find_anchored(line, b"LEEF:", 0),
    ) {
        (Some(c), Some(l)) => (c.min(l), l < c),
        (Some(c), None) => (c, false),
        (None, Some(l)) => (l, true),
        (None, None) => return None,
    };
    let body = &line[at + if leef { 5 } else { 4 }..];
    if !body.first().is_some_and(u8::is_ascii_digit) {
        return None; // `CEF:` inside some other text
    }
    if leef && format == Format::Cef || !leef && format == Format::Leef {
        return Some(Outcome::Skipped(r.no_marker));
    }
    let bad = if leef {
        "leef: truncated header"
    } else {
        "cef: truncated header"
    };
    // CEF: Version|Vendor|Product|DevVersion|SigID|Name|Severity|Extension
    // LEEF: Version|Vendor|Product|DevVersion|EventID|[Delimiter|]Attributes
    let (vendor, sig_id, name, sev, ext, style) = if leef {
        let Some((h, rest)) = split_header::<5>(body) else {
            return Some(Outcome::Error(bad));
        };
        let (rest, delim) = if h[0].starts_with(b"2") {
            leef2_delimiter(rest)
        } else {
            (rest, b'\t')
        };
        // Some relays turn tabs into spaces: fall back to space-separated pairs.
        let style = if delim == b'\t' && memchr::memchr(b'\t', rest).is_none() {
            Style::Space
        } else {
            Style::Delim(delim)
        };
        (h[1], h[4], &[][..], &[][..], rest, style)
    } else {
        let Some((h, rest)) = split_header::<7>(body) else {
            return Some(Outcome::Error(bad));
        };
        (h[1], h[4], h[5], h[6], rest, Style::Cef)
    };
    let vf = vendor_format(vendor);
    if !matches!(format, Format::Cef | Format::Leef) && vf != Some(format) {
        return Some(Outcome::Skipped(r.no_marker));
    }
    let std: &Table = if leef { &tables::LEEF } else { &tables::CEF };
    let extra = extras(vf);
    let mut acc = Acc::new();
    acc.feed(ext, style, &[extra, std]);
    let actions = if vf.is_some() { extra } else { std };
    let out = acc.finish(
        if actions.allow.is_empty() {
            std
        } else {
            actions
        },
        || None,
        r,
    );
    Some(match out {
        Outcome::Event(mut e) => {
            if e.ts.is_none() {
                e.ts = header_ts(line, ctx);
            }
            if !leef {
                if e.signature.is_none() && !traffic_name(name, sig_id) {
                    e.signature = crate::parse::bytes::field(trim(name));
                }
                if e.severity.is_none() {
                    e.severity = cef_severity(sev);
                }
            }
            Outcome::Event(e)
        }
        o => o,
    })
}

/// LEEF 2.0: the field after EventID names the delimiter (`^`, `x09`, `0x7C`); when it is not a
/// delimiter spec (an emitter left it out) the attributes start there and the delimiter is tab.
fn leef2_delimiter(rest: &[u8]) -> (&[u8], u8) {
    let Some(p) = memchr::memchr(b'|', rest) else {
        return (rest, b'\t');
    };
    let spec = &rest[..p];
    let hex = spec
        .strip_prefix(b"0x")
        .or_else(|| spec.strip_prefix(b"x"))
        .or_else(|| spec.strip_prefix(b"0X"))
        .or_else(|| spec.strip_prefix(b"X"));
    let d = match (spec.len(), hex) {
        (0, _) => Some(b'\t'),
        (1, _) => Some(spec[0]),
        (_, Some(h)) if (1..=2).contains(&h.len()) => std::str::from_utf8(h)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok()),
        _ => None,
    };
    match d {
        Some(d) => (&rest[p + 1..], d),
        None => (rest, b'\t'),
    }
}
