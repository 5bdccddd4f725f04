//! Juniper SRX `RT_FLOW` session create/close/deny, in both the structured-data form
//! (`RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.N source-address="..." ...]`, `structured-data`
//! logging) and the plain text form (`RT_FLOW_SESSION_CLOSE: session closed REASON: A/p->B/q ...`).
//!
//! The structured form is read by key, so field order and added keys across Junos releases do not
//! matter. The plain form is positional (Junos documents the order per event); it is read from the
//! first `A/p->B/q` token, because the close reason before it may contain spaces (`TCP FIN`).

use crate::event::{Action, Event, Proto};
use crate::parse::bytes::{field, find_anchored, ip, port, uint};
use crate::parse::{Ctx, Outcome, syslog};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Close,
    Deny,
}

/// `RT_FLOW_SESSION_{CREATE,CLOSE,DENY}[_LS]` and what follows it.
fn find_kind(line: &[u8]) -> Option<(Kind, &[u8])> {
    let at = find_anchored(line, b"RT_FLOW_SESSION_", 0)?;
    let rest = &line[at + b"RT_FLOW_SESSION_".len()..];
    let (kind, n) = if rest.starts_with(b"CREATE") {
        (Kind::Create, 6)
    } else if rest.starts_with(b"CLOSE") {
        (Kind::Close, 5)
    } else if rest.starts_with(b"DENY") {
        (Kind::Deny, 4)
    } else {
        return None;
    };
    let mut rest = &rest[n..];
    // Logical-system variants (`RT_FLOW_SESSION_CREATE_LS`) carry the same fields.
    rest = rest.strip_prefix(b"_LS").unwrap_or(rest);
    matches!(rest.first(), None | Some(b' ' | b':' | b'[')).then_some((kind, rest))
}

// Indices of the structured-data keys the event needs (see `sd_key`).
const SRC: usize = 0;
const DST: usize = 1;
const PROTO: usize = 2;
const SPORT: usize = 3;
const DPORT: usize = 4;
const POLICY: usize = 5;
const IFACE: usize = 6;
const BYTES_C: usize = 7;
const BYTES_S: usize = 8;
const PKTS_C: usize = 9;
const PKTS_S: usize = 10;
const NKEYS: usize = 11;
/// Longest key in `sd_key` (`packet-incoming-interface`).
const MAX_KEY: usize = 25;

fn sd_key(k: &[u8]) -> Option<usize> {
    Some(match k {
        b"source-address" => SRC,
        b"destination-address" => DST,
        b"protocol-id" => PROTO,
        b"source-port" => SPORT,
        b"destination-port" => DPORT,
        b"policy-name" => POLICY,
        b"packet-incoming-interface" => IFACE,
        b"bytes-from-client" => BYTES_C,
        b"bytes-from-server" => BYTES_S,
        b"packets-from-client" => PKTS_C,
        b"packets-from-server" => PKTS_S,
        _ => return None,
    })
}

/// The values of the wanted `key="..."` pairs inside a structured-data element (`sd`), in one
/// pass. For each key, the first `key="` that starts `sd` or follows a space wins (even inside
/// another value: the same rule as a per-key substring search), its value running to the next
/// `"` (unescaped quotes aside).
fn sd_values(sd: &[u8]) -> [Option<&[u8]>; NKEYS] {
    let mut out = [None; NKEYS];
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'=', &sd[from..]) {
        let eq = from + i;
        from = eq + 1;
        if sd.get(eq + 1) != Some(&b'"') {
            continue;
        }
        // The key is the run of non-space bytes before `=` (back to a space or the start).
        let lo = eq.saturating_sub(MAX_KEY + 1);
        let start = match memchr::memrchr(b' ', &sd[lo..eq]) {
            Some(p) => lo + p + 1,
            None if lo == 0 => 0,
            None => continue,
        };
        let Some(k) = sd_key(&sd[start..eq]) else {
            continue;
        };
        if out[k].is_none() {
            let v = &sd[eq + 2..];
            // No closing quote: no later `key="` can exist either.
            let Some(end) = memchr::memchr(b'"', v) else {
                break;
            };
            out[k] = Some(&v[..end]);
        }
    }
    out
}

fn structured<'a>(kind: Kind, sd: &'a [u8]) -> Result<Event<'a>, &'static str> {
    let vals = sd_values(sd);
    let v = |k: usize| vals[k];
    let src = v(SRC).and_then(ip);
    let dst = v(DST).and_then(ip);
    let (Some(src), Some(dst)) = (src, dst) else {
        return Err("srx: bad or missing source-address/destination-address");
    };
    let proto = v(PROTO).and_then(Proto::from_name);
    let ports = proto.is_some_and(Proto::has_ports);
    let sum = |a: usize, b: usize| match (v(a).and_then(uint), v(b).and_then(uint)) {
        (Some(x), Some(y)) => Some(x.saturating_add(y)),
        (x, y) => x.or(y),
    };
    let mut e = Event {
        src_ip: Some(src),
        dst_ip: Some(dst),
        src_port: v(SPORT).and_then(port).filter(|_| ports),
        dst_port: v(DPORT).and_then(port).filter(|_| ports),
        proto,
        rule: v(POLICY).and_then(field),
        iface: v(IFACE).and_then(field),
        ..Event::default()
    };
    if kind == Kind::Close {
        e.bytes = sum(BYTES_C, BYTES_S);
        e.packets = sum(PKTS_C, PKTS_S);
    }
    Ok(e)
}

/// One side of `A/p->B/q`: (address, port as printed).
type Side = (std::net::IpAddr, Option<u16>);

fn side(s: &[u8]) -> Option<Side> {
    let slash = memchr::memrchr(b'/', s)?;
    Some((ip(&s[..slash])?, port(&s[slash + 1..])))
}

/// `A/p->B/q`.
fn pair(tok: &[u8]) -> Option<(Side, Side)> {
    let arrow = find_anchored(tok, b"->", 1)?;
    Some((side(&tok[..arrow])?, side(&tok[arrow + 2..])?))
}

/// `N(M)` -> (N, M).
fn paren_pair(tok: &[u8]) -> Option<(u64, u64)> {
    let open = memchr::memchr(b'(', tok)?;
    let inner = tok[open + 1..].strip_suffix(b")")?;
    Some((uint(&tok[..open])?, uint(inner)?))
}

fn plain<'a>(kind: Kind, text: &'a [u8]) -> Result<Event<'a>, &'static str> {
    let mut toks = text.split(|&b| b == b' ').filter(|t| !t.is_empty());
    // Skip `session created` / `session closed REASON:` / `session denied` up to the first pair.
    let Some(first) = toks.by_ref().find(|t| find_anchored(t, b"->", 1).is_some()) else {
        return Err("srx: no source/port->destination/port");
    };
    let Some(((src, sp), (dst, dp))) = pair(first) else {
        return Err("srx: bad source/port->destination/port");
    };
    let _service = toks.next();
    let mut e = Event {
        src_ip: Some(src),
        dst_ip: Some(dst),
        ..Event::default()
    };
    let proto_tok = if kind == Kind::Deny {
        // `service PROTO(ICMP-TYPE) policy from-zone to-zone ...`
        toks.next()
            .map(|t| &t[..memchr::memchr(b'(', t).unwrap_or(t.len())])
    } else {
        // `service NAT-A/p->NAT-B/q src-nat-rule dst-nat-rule PROTO policy from to id ...`
        let _nat = toks.next();
        let _src_rule = toks.next();
        let _dst_rule = toks.next();
        toks.next()
    };
    e.proto = proto_tok.and_then(Proto::from_name);
    e.rule = toks.next().and_then(field);
    if kind == Kind::Close {
        let _from_zone = toks.next();
        let _to_zone = toks.next();
        let _session = toks.next();
        // `packets(bytes)` from the client, then from the server.
        if let (Some(c), Some(s)) = (
            toks.next().and_then(paren_pair),
            toks.next().and_then(paren_pair),
        ) {
            e.packets = Some(c.0.saturating_add(s.0));
            e.bytes = Some(c.1.saturating_add(s.1));
        }
    }
    if e.proto.is_some_and(Proto::has_ports) {
        e.src_port = sp;
        e.dst_port = dp;
    }
    Ok(e)
}

pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let Some((kind, rest)) = find_kind(line) else {
        return Outcome::Skipped("srx: no RT_FLOW_SESSION_CREATE/CLOSE/DENY");
    };
    let r = if let Some(open) = find_anchored(rest, b"[junos@", 6) {
        let sd = &rest[open..];
        let sd = &sd[..memchr::memchr(b']', sd).unwrap_or(sd.len())];
        structured(kind, sd)
    } else {
        plain(kind, rest)
    };
    match r {
        Ok(mut e) => {
            e.action = Some(match kind {
                Kind::Deny => Action::Deny,
                Kind::Create | Kind::Close => Action::Allow,
            });
            e.ts = syslog::split(line, ctx).ts;
            Outcome::Event(e)
        }
        Err(why) => Outcome::Error(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testutil;
    use crate::parse::testutil::{a, ctx};
    use crate::time::civil_to_micros;

    /// Written from Juniper's RT_FLOW system log reference (structured-data keys and the brief
    /// text layout), with RFC 5737 addresses.
    const FIXTURES: &[&str] = &[
        "<14>1 2025-03-01T12:00:00.250+01:00 srx-a RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.40 source-address=\"192.0.2.10\" source-port=\"50123\" destination-address=\"198.51.100.80\" destination-port=\"443\" service-name=\"junos-https\" nat-source-address=\"203.0.113.4\" nat-source-port=\"20001\" nat-destination-address=\"198.51.100.80\" nat-destination-port=\"443\" src-nat-rule-name=\"snat-out\" dst-nat-rule-name=\"None\" protocol-id=\"6\" policy-name=\"trust-to-untrust\" source-zone-name=\"trust\" destination-zone-name=\"untrust\" session-id-32=\"4100\" username=\"N/A\" roles=\"N/A\" packet-incoming-interface=\"ge-0/0/1.0\"] session created 192.0.2.10/50123->198.51.100.80/443 junos-https",
        "<14>1 2025-03-01T12:05:00.000Z srx-a RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.40 reason=\"TCP FIN\" source-address=\"192.0.2.10\" source-port=\"50123\" destination-address=\"198.51.100.80\" destination-port=\"443\" service-name=\"junos-https\" protocol-id=\"6\" policy-name=\"trust-to-untrust\" source-zone-name=\"trust\" destination-zone-name=\"untrust\" session-id-32=\"4100\" packets-from-client=\"12\" bytes-from-client=\"1800\" packets-from-server=\"20\" bytes-from-server=\"24000\" elapsed-time=\"300\" packet-incoming-interface=\"ge-0/0/1.0\"]",
        "<14>1 2025-03-01T12:06:00Z srx-a RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.40 source-address=\"198.51.100.9\" source-port=\"0\" destination-address=\"203.0.113.4\" destination-port=\"0\" service-name=\"icmp\" protocol-id=\"1\" icmp-type=\"8\" policy-name=\"deny-all\" source-zone-name=\"untrust\" destination-zone-name=\"trust\" application=\"UNKNOWN\" packet-incoming-interface=\"ge-0/0/0.0\" reason=\"policy deny\"]",
        "Mar  1 12:00:00 srx-a RT_FLOW: RT_FLOW_SESSION_CREATE: session created 192.0.2.10/50123->198.51.100.80/443 junos-https 203.0.113.4/20001->198.51.100.80/443 snat-out None 6 trust-to-untrust trust untrust 4100 N/A(N/A) ge-0/0/1.0",
        "Mar  1 12:05:00 srx-a RT_FLOW: RT_FLOW_SESSION_CLOSE: session closed TCP FIN: 192.0.2.10/50123->198.51.100.80/443 junos-https 203.0.113.4/20001->198.51.100.80/443 snat-out None 6 trust-to-untrust trust untrust 4100 12(1800) 20(24000) 300 UNKNOWN UNKNOWN N/A(N/A) ge-0/0/1.0 No",
        "Mar  1 12:06:00 srx-a RT_FLOW: RT_FLOW_SESSION_DENY: session denied 198.51.100.9/3000->203.0.113.4/53 junos-dns-udp 17(0) deny-all untrust trust UNKNOWN UNKNOWN N/A(N/A) ge-0/0/0.0 No policy deny",
    ];

    fn ev(line: &str) -> Event<'_> {
        testutil::event(parse(line.as_bytes(), &ctx()), line)
    }

    #[test]
    fn structured_create_exact() {
        assert_eq!(
            ev(FIXTURES[0]),
            Event {
                ts: civil_to_micros(2025, 3, 1, 11, 0, 0, 250_000),
                src_ip: a("192.0.2.10"),
                dst_ip: a("198.51.100.80"),
                src_port: Some(50123),
                dst_port: Some(443),
                proto: Some(Proto::TCP),
                action: Some(Action::Allow),
                iface: Some("ge-0/0/1.0"),
                rule: Some("trust-to-untrust"),
                ..Event::default()
            }
        );
    }

    #[test]
    fn structured_close_sums_both_directions() {
        assert_eq!(
            ev(FIXTURES[1]),
            Event {
                ts: civil_to_micros(2025, 3, 1, 12, 5, 0, 0),
                src_ip: a("192.0.2.10"),
                dst_ip: a("198.51.100.80"),
                src_port: Some(50123),
                dst_port: Some(443),
                proto: Some(Proto::TCP),
                action: Some(Action::Allow),
                iface: Some("ge-0/0/1.0"),
                bytes: Some(25800),
                packets: Some(32),
                rule: Some("trust-to-untrust"),
                ..Event::default()
            }
        );
    }

    #[test]
    fn structured_deny_icmp_has_no_ports() {
        assert_eq!(
            ev(FIXTURES[2]),
            Event {
                ts: civil_to_micros(2025, 3, 1, 12, 6, 0, 0),
                src_ip: a("198.51.100.9"),
                dst_ip: a("203.0.113.4"),
                proto: Some(Proto::ICMP),
                action: Some(Action::Deny),
                iface: Some("ge-0/0/0.0"),
                rule: Some("deny-all"),
                ..Event::default()
            }
        );
    }

    #[test]
    fn plain_forms_exact() {
        let base = Event {
            src_ip: a("192.0.2.10"),
            dst_ip: a("198.51.100.80"),
            src_port: Some(50123),
            dst_port: Some(443),
            proto: Some(Proto::TCP),
            action: Some(Action::Allow),
            rule: Some("trust-to-untrust"),
            ..Event::default()
        };
        assert_eq!(
            ev(FIXTURES[3]),
            Event {
                ts: civil_to_micros(2026, 3, 1, 12, 0, 0, 0),
                ..base
            }
        );
        assert_eq!(
            ev(FIXTURES[4]),
            Event {
                ts: civil_to_micros(2026, 3, 1, 12, 5, 0, 0),
                bytes: Some(25800),
                packets: Some(32),
                ..base
            }
        );
        assert_eq!(
            ev(FIXTURES[5]),
            Event {
                ts: civil_to_micros(2026, 3, 1, 12, 6, 0, 0),
                src_ip: a("198.51.100.9"),
                dst_ip: a("203.0.113.4"),
                src_port: Some(3000),
                dst_port: Some(53),
                proto: Some(Proto::UDP),
                action: Some(Action::Deny),
                rule: Some("deny-all"),
                ..Event::default()
            }
        );
    }

    #[test]
    fn skips_and_errors() {
        let p = |s: &'static str| parse(s.as_bytes(), &ctx());
        assert!(matches!(
            p("Mar  1 12:00:00 srx-a RT_FLOW: APPTRACK_SESSION_CLOSE: AppTrack session closed"),
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            p("RT_FLOW_SESSION_CREATED_SOMETHING: x"),
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            p("RT_FLOW_SESSION_CLOSE: session closed idle Timeout: nothing here"),
            Outcome::Error(_)
        ));
        assert!(matches!(
            p("RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.40 source-address=\"x\"]"),
            Outcome::Error(_)
        ));
    }

    #[test]
    fn never_panics() {
        crate::parse::asa::hammer(parse, FIXTURES);
    }
}
