//! Hand-written JSON for `socwall parse`: one object per line into a reused buffer, no serde.
//!
//! Strings are escaped per RFC 8259 (quote, backslash, control characters as `\uXXXX` or the
//! short forms); invalid UTF-8 becomes U+FFFD, so output is always valid JSON.

use std::io::Write;

use crate::event::Event;
use crate::parse::Format;
use crate::time::format_rfc3339;

/// Appends `s` as a JSON string literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.push(b'"');
}

fn head(out: &mut Vec<u8>, line_no: u64, file: Option<&[u8]>) {
    let _ = write!(out, "{{\"line\":{line_no}");
    if let Some(f) = file {
        out.extend_from_slice(b",\"file\":");
        string(out, f);
    }
}

fn key(out: &mut Vec<u8>, k: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

fn opt_str(out: &mut Vec<u8>, k: &str, v: Option<&str>) {
    key(out, k);
    match v {
        Some(s) => string(out, s.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

fn opt_display(out: &mut Vec<u8>, k: &str, v: Option<impl std::fmt::Display>) {
    key(out, k);
    let _ = match v {
        Some(x) => write!(out, "{x}"),
        None => out.write_all(b"null"),
    };
}

/// `{"line":N,["file":F,]"ts":...,...,"format":"pf"[,"dns_qtype":..,"dns_qname":..][,"signature":..,"severity":N]}\n`
pub fn event(out: &mut Vec<u8>, line_no: u64, file: Option<&[u8]>, format: Format, e: &Event<'_>) {
    head(out, line_no, file);
    fields(out, format, e);
}

/// A decoded flow record (`--format netflow`): `{"file":F,"record":I,"ts":...,"format":"netflow"}\n`,
/// the same fields as [`event`] with the packet file and the record's index in it (0-based).
pub fn flow(out: &mut Vec<u8>, file: &[u8], record: u64, e: &Event<'_>) {
    out.extend_from_slice(b"{\"file\":");
    string(out, file);
    let _ = write!(out, ",\"record\":{record}");
    fields(out, Format::Netflow, e);
}

/// `{"file":F,"error":"why"}\n` (or another kind) for a packet file.
pub fn file_note(out: &mut Vec<u8>, file: &[u8], kind: &str, why: &str) {
    out.extend_from_slice(b"{\"file\":");
    string(out, file);
    opt_str(out, kind, Some(why));
    out.extend_from_slice(b"}\n");
}

/// The event's fields after the head, and the closing brace.
fn fields(out: &mut Vec<u8>, format: Format, e: &Event<'_>) {
    key(out, "ts");
    match e.ts {
        Some(t) => {
            let _ = write!(out, "\"{}\"", format_rfc3339(t));
        }
        None => out.extend_from_slice(b"null"),
    }
    key(out, "src_ip");
    match e.src_ip {
        Some(a) => {
            let _ = write!(out, "\"{a}\"");
        }
        None => out.extend_from_slice(b"null"),
    }
    key(out, "dst_ip");
    match e.dst_ip {
        Some(a) => {
            let _ = write!(out, "\"{a}\"");
        }
        None => out.extend_from_slice(b"null"),
    }
    opt_display(out, "src_port", e.src_port);
    opt_display(out, "dst_port", e.dst_port);
    key(out, "proto");
    match e.proto {
        Some(p) => match p.keyword() {
            Some(k) => string(out, k.as_bytes()),
            None => {
                let _ = write!(out, "\"{}\"", p.0);
            }
        },
        None => out.extend_from_slice(b"null"),
    }
    opt_str(out, "action", e.action.map(|a| a.as_str()));
    opt_str(out, "direction", e.direction.map(|d| d.as_str()));
    opt_str(out, "iface", e.iface);
    opt_display(out, "bytes", e.bytes);
    opt_display(out, "packets", e.packets);
    opt_str(out, "rule", e.rule);
    opt_str(out, "format", Some(format.name()));
    if e.dns_qtype.is_some() {
        opt_str(out, "dns_qtype", e.dns_qtype);
    }
    if e.dns_qname.is_some() {
        opt_str(out, "dns_qname", e.dns_qname);
    }
    if e.signature.is_some() {
        opt_str(out, "signature", e.signature);
    }
    if e.severity.is_some() {
        opt_display(out, "severity", e.severity);
    }
    out.extend_from_slice(b"}\n");
}

/// `{"line":N,["file":F,]"skipped":"why"}\n` (or `"error"`).
pub fn note(out: &mut Vec<u8>, line_no: u64, file: Option<&[u8]>, kind: &str, why: &str) {
    head(out, line_no, file);
    opt_str(out, kind, Some(why));
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Action, Proto};

    fn s(b: &[u8]) -> String {
        let mut v = Vec::new();
        string(&mut v, b);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes() {
        assert_eq!(s(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s(b"\n\r\t\x00\x1f\x7f"), r#""\n\r\t\u0000\u001f\u007f""#);
        assert_eq!(s(b"ok \xff\xfe end"), "\"ok \u{fffd}\u{fffd} end\"");
        assert_eq!(s("é".as_bytes()), "\"é\"");
        let parsed: String = serde_json::from_str(&s(b"x\x01\"\xc3")).unwrap();
        assert_eq!(parsed, "x\u{1}\"\u{fffd}");
    }

    #[test]
    fn event_object() {
        let e = Event {
            ts: Some(1_034_496_858_096_785),
            src_ip: Some("10.0.0.1".parse().unwrap()),
            dst_port: Some(53),
            proto: Some(Proto(253)),
            action: Some(Action::Deny),
            packets: Some(1),
            dns_qname: Some("a\"b"),
            ..Event::default()
        };
        let mut v = Vec::new();
        event(&mut v, 7, Some(b"f.log"), Format::Pf, &e);
        assert_eq!(
            std::str::from_utf8(&v).unwrap(),
            "{\"line\":7,\"file\":\"f.log\",\"ts\":\"2002-10-13T08:14:18.096785Z\",\"src_ip\":\"10.0.0.1\",\"dst_ip\":null,\"src_port\":null,\"dst_port\":53,\"proto\":\"253\",\"action\":\"deny\",\"direction\":null,\"iface\":null,\"bytes\":null,\"packets\":1,\"rule\":null,\"format\":\"pf\",\"dns_qname\":\"a\\\"b\"}\n"
        );
        v.clear();
        note(&mut v, 3, None, "skipped", "why");
        assert_eq!(v, b"{\"line\":3,\"skipped\":\"why\"}\n");
    }
}
