//! Netfilter LOG/NFLOG kernel lines (iptables, nftables `log prefix`, UFW, Shorewall, SuSE,
//! UniFi/Ubiquiti, Proxmox VE firewall), in syslog, journald or bare form.
//!
//! The line is `[header] PREFIX KEY=VALUE KEY=VALUE ...`. The prefix is whatever the admin passed
//! to `--log-prefix`, so the verdict is guessed from words in it ([`VerdictWords`]). Keys are
//! scanned as tokens in any order; the scan stops at the first `[`-token because ICMP errors
//! embed the offending packet as `[SRC=... DST=... ]`, which must not override the outer header.

use std::sync::LazyLock;

use crate::event::{Action, Direction, Event, Proto, TcpFlags};
use crate::parse::bytes::{field, ip, port, trim, uint};
use crate::parse::{Ctx, Outcome, syslog};

/// Words that map a log prefix to a verdict. Matching is ASCII case-insensitive substring search
/// over the prefix only (never the key=value part, never the syslog host); when several words
/// match, the one that starts EARLIEST in the prefix wins, so UniFi's
/// `[WAN_LOCAL-A-2000] DESCR="[WAN_LOCAL]Block All"` is an allow (the rule's own `-A-` code comes
/// before the free-text description); on a tie, deny wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictWords {
    pub deny: Vec<String>,
    pub allow: Vec<String>,
}

impl Default for VerdictWords {
    fn default() -> Self {
        let v = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect();
        VerdictWords {
            deny: v(&["DROP", "REJECT", "DENY", "BLOCK", "-D-", "-D]"]),
            allow: v(&["ACCEPT", "ALLOW", "-A-", "-A]", "ACC"]),
        }
    }
}

static DEFAULT_VERDICTS: LazyLock<VerdictWords> = LazyLock::new(VerdictWords::default);

impl VerdictWords {
    /// The built-in word lists, shared (what [`Ctx::new`] uses).
    pub fn default_static() -> &'static VerdictWords {
        &DEFAULT_VERDICTS
    }

    /// The verdict a log prefix expresses, if any.
    ///
    /// One left-to-right pass over the prefix instead of one case-insensitive search per word:
    /// the first position where any word matches is the earliest match, and checking the deny
    /// list first at that position gives deny the tie. A 256-bit set of the words' first bytes
    /// (both ASCII cases) skips most positions with one lookup.
    pub fn verdict(&self, prefix: &[u8]) -> Option<Action> {
        let mut first = [0u64; 4];
        for w in self.deny.iter().chain(&self.allow) {
            if let Some(&b) = w.as_bytes().first() {
                for c in [b.to_ascii_lowercase(), b.to_ascii_uppercase()] {
                    first[usize::from(c >> 6)] |= 1 << (c & 63);
                }
            }
        }
        let matches = |words: &[String], at: &[u8]| {
            words.iter().any(|w| {
                let w = w.as_bytes();
                !w.is_empty() && at.len() >= w.len() && at[..w.len()].eq_ignore_ascii_case(w)
            })
        };
        for (i, &b) in prefix.iter().enumerate() {
            if first[usize::from(b >> 6)] & (1 << (b & 63)) == 0 {
                continue;
            }
            let at = &prefix[i..];
            if matches(&self.deny, at) {
                return Some(Action::Deny);
            }
            if matches(&self.allow, at) {
                return Some(Action::Allow);
            }
        }
        None
    }
}

/// The keys whose first token-start occurrence begins the key=value part.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StartKey {
    /// `IN=` or `OUT=`: the line is a netfilter line at all only if one of them is present.
    InOut,
    /// `SRC=`, `DST=`, `PROTO=`, `LEN=`, `SPT=`, `DPT=`.
    Other,
}

/// Which start key (if any) `s` begins with.
#[inline]
fn start_key(s: &[u8]) -> Option<StartKey> {
    let k = match s {
        [b'I', b'N', b'=', ..] | [b'O', b'U', b'T', b'=', ..] => StartKey::InOut,
        [b'S', b'R', b'C', b'=', ..]
        | [b'D', b'S', b'T', b'=', ..]
        | [b'L', b'E', b'N', b'=', ..]
        | [b'S', b'P', b'T', b'=', ..]
        | [b'D', b'P', b'T', b'=', ..]
        | [b'P', b'R', b'O', b'T', b'O', b'=', ..] => StartKey::Other,
        _ => return None,
    };
    Some(k)
}

/// Where the key=value part starts: the earliest position where any start key begins a token
/// (at the start, or after a space, `]` as in `[wan-lan-default-D]IN=`, or `:` as in
/// `Shorewall:net2fw:DROP:IN=`), provided `IN=` or `OUT=` begins a token somewhere.
///
/// One forward pass over token starts. It used to be eight `memmem` searches, each building a
/// searcher (the biggest cost of the whole parser); the result is the same because no start key
/// can straddle a token start (keys contain no separator byte).
fn key_start(msg: &[u8]) -> Option<usize> {
    let mut first: Option<usize> = None;
    let mut at = 0;
    loop {
        if let Some(k) = start_key(&msg[at..]) {
            let first = *first.get_or_insert(at);
            if k == StartKey::InOut {
                return Some(first);
            }
        }
        // Next token start: one past the next separator.
        let sep = msg[at..]
            .iter()
            .position(|&b| matches!(b, b' ' | b']' | b':'))?;
        at += sep + 1;
    }
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
    // Cheap reject for every other firewall: the date token needs a `/`.
    memchr::memchr(b'/', prefix)?;
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

/// The raw values of the keys we read. `IN`/`OUT`: the last one wins; the others: the first.
#[derive(Default)]
struct Fields<'a> {
    iface_in: Option<&'a [u8]>,
    iface_out: Option<&'a [u8]>,
    src: Option<&'a [u8]>,
    dst: Option<&'a [u8]>,
    proto: Option<&'a [u8]>,
    spt: Option<&'a [u8]>,
    dpt: Option<&'a [u8]>,
    len: Option<&'a [u8]>,
    /// The bare flag words netfilter prints for TCP (`RES=0x00 ACK SYN URGP=0`).
    flags: TcpFlags,
}

/// A bare TCP flag word (`SYN`, `ACK`...), or no flags. Only words without `=` reach this.
#[inline]
fn flag_word(tok: &[u8]) -> TcpFlags {
    match tok {
        b"SYN" => TcpFlags::SYN,
        b"ACK" => TcpFlags::ACK,
        b"RST" => TcpFlags::RST,
        b"FIN" => TcpFlags::FIN,
        b"PSH" => TcpFlags::PSH,
        b"URG" => TcpFlags::URG,
        _ => TcpFlags::default(),
    }
}

impl<'a> Fields<'a> {
    /// Records `key=value` (`key` is everything before the token's first `=`).
    #[inline]
    fn set(&mut self, key: &[u8], value: &'a [u8]) {
        let first = |slot: &mut Option<&'a [u8]>| {
            slot.get_or_insert(value);
        };
        match key {
            b"IN" => self.iface_in = Some(value),
            b"OUT" => self.iface_out = Some(value),
            b"SRC" => first(&mut self.src),
            b"DST" => first(&mut self.dst),
            b"LEN" => first(&mut self.len),
            b"PROTO" => first(&mut self.proto),
            b"SPT" => first(&mut self.spt),
            b"DPT" => first(&mut self.dpt),
            _ => {}
        }
    }

    /// Space-separated tokens up to the first `[`-token, for a key=value part without any `"`.
    ///
    /// A byte loop rather than two `memchr` calls per token: tokens are ~8 bytes, shorter than
    /// the set-up of a vectorised search. A token is classified by its first bytes; since none
    /// of our keys contains `=`, `SRC=` at the start means the key is exactly `SRC`, as in
    /// [`Fields::scan_quoted`].
    fn scan_plain(s: &'a [u8]) -> Fields<'a> {
        let mut f = Fields::default();
        let mut i = 0;
        while i < s.len() {
            let start = i;
            while i < s.len() && s[i] != b' ' {
                i += 1;
            }
            let tok = &s[start..i];
            i += 1; // past the space
            let (key, value): (&[u8], &'a [u8]) = match tok {
                [] => continue,
                [b'[', ..] => break, // embedded packet of an ICMP error: not this packet's header
                [b'I', b'N', b'=', v @ ..] => (b"IN", v),
                [b'O', b'U', b'T', b'=', v @ ..] => (b"OUT", v),
                [b'S', b'R', b'C', b'=', v @ ..] => (b"SRC", v),
                [b'D', b'S', b'T', b'=', v @ ..] => (b"DST", v),
                [b'L', b'E', b'N', b'=', v @ ..] => (b"LEN", v),
                [b'S', b'P', b'T', b'=', v @ ..] => (b"SPT", v),
                [b'D', b'P', b'T', b'=', v @ ..] => (b"DPT", v),
                [b'P', b'R', b'O', b'T', b'O', b'=', v @ ..] => (b"PROTO", v),
                // Flag words are three capitals: one length check skips every other token.
                [_, _, _] => {
                    f.flags |= flag_word(tok);
                    continue;
                }
                _ => continue,
            };
            f.set(key, value);
        }
        f
    }

    /// The general tokenizer: like [`Fields::scan_plain`], but a value that opens a quote and
    /// does not close it in the same token (`DESCR="a b"`) runs to the next `"`, and that token
    /// is ignored.
    fn scan_quoted(mut rest: &'a [u8]) -> Fields<'a> {
        let mut f = Fields::default();
        while !rest.is_empty() {
            let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
            let tok = &rest[..end];
            let mut next = &rest[(end + 1).min(rest.len())..];
            if tok.first() == Some(&b'[') {
                break; // embedded packet of an ICMP error: not this packet's header
            }
            let Some(eq) = memchr::memchr(b'=', tok) else {
                f.flags |= flag_word(tok);
                rest = next;
                continue;
            };
            let (key, value) = (&tok[..eq], &tok[eq + 1..]);
            if value.first() == Some(&b'"') && (value.len() == 1 || value.last() != Some(&b'"')) {
                // Quoted value with spaces: skip to the closing quote.
                match memchr::memchr(b'"', next) {
                    Some(q) => next = &next[(q + 1).min(next.len())..],
                    None => next = &[],
                }
            } else {
                f.set(key, value);
            }
            rest = next;
        }
        f
    }
}

/// Parses one netfilter log line.
pub fn parse<'a>(line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let h = syslog::split(line, ctx);
    let msg = h.msg;
    // Keys may come in any order: the key=value part starts at the first of them.
    let Some(key_start) = key_start(msg) else {
        return Outcome::Skipped("iptables: no IN= or OUT=");
    };
    let prefix = &msg[..key_start];
    let mut ev = Event {
        ts: h.ts,
        packets: Some(1),
        action: ctx.verdicts.verdict(prefix),
        rule: rule_label(prefix),
        ..Event::default()
    };
    if let Some((t, chain)) = proxmox(prefix) {
        ev.ts = ev.ts.or(Some(t));
        ev.rule = chain.or(ev.rule);
    }

    let rest = &msg[key_start..];
    // Quoted values with spaces (`DESCR="a b"`) are the only reason to look at a token's `=`
    // before its key; most lines have none in their key=value part, so one vectorised search
    // picks the cheap tokenizer for them.
    let f = if memchr::memchr(b'"', rest).is_some() {
        Fields::scan_quoted(rest)
    } else {
        Fields::scan_plain(rest)
    };
    let Fields {
        iface_in,
        iface_out,
        src,
        dst,
        proto,
        spt,
        dpt,
        len,
        flags,
    } = f;

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
    if ev.proto == Some(Proto::TCP) {
        ev.tcp_flags = flags;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testutil;
    use crate::parse::testutil::{a, ctx};
    use crate::time::civil_to_micros;

    fn ev(line: &str) -> Event<'_> {
        testutil::event(parse(line.as_bytes(), &ctx()), line)
    }

    #[test]
    fn plain_kernel_line_exact() {
        let e = ev(
            "Jun  8 14:34:33 web1 kernel: [50028442.088484] IN=enp1s0 OUT= MAC=00:08:a2:0c:1f:12:00:c8:8b:e2:d6:87:08:00 SRC=198.51.100.7 DST=203.0.113.5 LEN=40 TOS=0x00 PREC=0x00 TTL=245 ID=37308 PROTO=TCP SPT=8080 DPT=8123 WINDOW=1024 RES=0x00 SYN URGP=0",
        );
        assert_eq!(
            e,
            Event {
                ts: civil_to_micros(2026, 6, 8, 14, 34, 33, 0),
                src_ip: a("198.51.100.7"),
                dst_ip: a("203.0.113.5"),
                src_port: Some(8080),
                dst_port: Some(8123),
                proto: Some(Proto::TCP),
                action: None,
                direction: Some(Direction::In),
                iface: Some("enp1s0"),
                bytes: Some(40),
                packets: Some(1),
                rule: None,
                dns_qtype: None,
                dns_qname: None,
                signature: None,
                severity: None,
                tcp_flags: TcpFlags::SYN,
            }
        );
    }

    #[test]
    fn tcp_flag_words() {
        for (words, want) in [
            ("RES=0x00 SYN URGP=0", TcpFlags::SYN),
            ("RES=0x00 ACK SYN URGP=0", TcpFlags::SYN | TcpFlags::ACK),
            ("RES=0x00 ACK RST URGP=0", TcpFlags::ACK | TcpFlags::RST),
            ("RES=0x00 ACK PSH FIN URGP=0", TcpFlags(0x19)),
            ("RES=0x00 URG ACK PSH RST SYN FIN URGP=0", TcpFlags(0x3f)),
            ("URGP=0", TcpFlags::default()),
            // Quoted-value lines take the general tokenizer.
            ("DESCR=\"a b\" RES=0x00 SYN URGP=0", TcpFlags::SYN),
        ] {
            let line = format!(
                "Jun  8 14:34:33 web1 kernel: [1.1] IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.5 LEN=40 PROTO=TCP SPT=8080 DPT=8123 WINDOW=1024 {words}"
            );
            assert_eq!(ev(&line).tcp_flags, want, "{words}");
        }
        // UDP never carries TCP flags, whatever words follow; neither does an embedded header.
        let e = ev(
            "Jun  8 14:34:33 web1 kernel: IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.5 LEN=40 PROTO=UDP SPT=1 DPT=2 SYN",
        );
        assert_eq!(e.tcp_flags, TcpFlags::default());
        let e = ev(
            "Mar  3 10:00:00 gw kernel: IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.99 LEN=68 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.99 DST=192.0.2.1 LEN=40 PROTO=TCP SPT=5000 DPT=6000 SYN URGP=0 ]",
        );
        assert_eq!(e.tcp_flags, TcpFlags::default());
    }

    #[test]
    fn second_len_is_udp_length() {
        let e = ev(
            "Sep 27 20:56:38 box kernel: [  203.842973] IPTABLES-DROP: IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=127.0.0.1 DST=127.0.0.53 LEN=76 TOS=0x00 PREC=0x00 TTL=64 ID=25029 DF PROTO=UDP SPT=49007 DPT=53 LEN=56 ",
        );
        assert_eq!(e.bytes, Some(76));
        assert_eq!(
            (e.src_port, e.dst_port, e.proto),
            (Some(49007), Some(53), Some(Proto::UDP))
        );
        assert_eq!(
            (e.action, e.rule),
            (Some(Action::Deny), Some("IPTABLES-DROP"))
        );
        assert_eq!(e.ts, civil_to_micros(2026, 9, 27, 20, 56, 38, 0));
    }

    #[test]
    fn icmp_error_embedded_header_does_not_override() {
        let e = ev(
            "Mar  3 10:00:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=aa:bb SRC=192.0.2.1 DST=192.0.2.99 LEN=68 TOS=0x00 PREC=0xC0 TTL=64 ID=1 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.99 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=7 PROTO=UDP SPT=5000 DPT=6000 LEN=20 ]",
        );
        assert_eq!((e.src_ip, e.dst_ip), (a("192.0.2.1"), a("192.0.2.99")));
        assert_eq!(
            (e.proto, e.src_port, e.dst_port),
            (Some(Proto::ICMP), None, None)
        );
        assert_eq!(
            (e.bytes, e.action, e.rule),
            (Some(68), Some(Action::Deny), Some("UFW BLOCK"))
        );
    }

    #[test]
    fn ufw_allow_and_ipv6_icmpv6() {
        let e = ev(
            "Mar  3 10:00:00 gw kernel: [ 99.1] [UFW ALLOW] IN=eth0 OUT= MAC=aa SRC=2001:db8::1 DST=2001:db8::2 LEN=104 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=1",
        );
        assert_eq!((e.src_ip, e.dst_ip), (a("2001:db8::1"), a("2001:db8::2")));
        assert_eq!(
            (e.proto, e.src_port, e.action),
            (Some(Proto::ICMPV6), None, Some(Action::Allow))
        );
        assert_eq!(e.bytes, Some(104));
    }

    #[test]
    fn esp_numeric_proto_and_long_mac() {
        let e = ev(
            "IN= OUT=eth1 MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00:de:ad:be:ef:00:11:22:33:44:55:66:77 SRC=10.1.1.1 DST=10.2.2.2 LEN=120 PROTO=ESP SPI=0x1234abcd",
        );
        assert_eq!(
            (e.proto, e.src_port, e.dst_port),
            (Some(Proto::ESP), None, None)
        );
        assert_eq!(
            (e.direction, e.iface, e.ts, e.action),
            (Some(Direction::Out), Some("eth1"), None, None)
        );
        let e = ev("IN=eth0 OUT= SRC=10.1.1.1 DST=10.2.2.2 LEN=60 PROTO=47");
        assert_eq!(e.proto, Some(Proto::GRE));
        let e = ev("IN=eth0 OUT= SRC=10.1.1.1 DST=10.2.2.2 LEN=60 PROTO=17 SPT=1 DPT=2");
        assert_eq!(
            (e.proto, e.src_port, e.dst_port),
            (Some(Proto::UDP), Some(1), Some(2))
        );
    }

    #[test]
    fn keys_in_any_order_and_empty_mac() {
        let e = ev("DPT=443 PROTO=TCP SPT=5555 LEN=52 DST=10.0.0.2 SRC=10.0.0.1 MAC= OUT= IN=ppp0");
        assert_eq!(
            (e.src_port, e.dst_port, e.bytes),
            (Some(5555), Some(443), Some(52))
        );
        assert_eq!((e.direction, e.iface), (Some(Direction::In), Some("ppp0")));
    }

    #[test]
    fn unifi_ubiquiti_shorewall_suse() {
        let e = ev(
            "Jun 13 23:29:15 UDM [WAN_LOCAL-A-2000] DESCR=\"[WAN_LOCAL]Block All Traffic\" IN=eth8 OUT= MAC=74:ac SRC=192.168.1.2 DST=192.168.1.25 LEN=122 TOS=00 PREC=0x00 TTL=49 ID=1 DF PROTO=UDP SPT=38451 DPT=54329 LEN=102 MARK=1a0000",
        );
        assert_eq!(
            (e.action, e.rule, e.bytes),
            (Some(Action::Allow), Some("WAN_LOCAL-A-2000"), Some(122))
        );
        let e = ev(
            "Jun 13 23:29:15 UDM [WAN_LOCAL-D-2147483647] DESCR=\"x\" IN=eth8 OUT= SRC=1.1.1.1 DST=2.2.2.2 LEN=1 PROTO=UDP SPT=1 DPT=2",
        );
        assert_eq!(e.action, Some(Action::Deny));
        let e = ev(
            "Jan  1 00:00:00 er kernel: [wan-lan-default-D]IN=eth0 OUT=eth1 MAC=aa SRC=1.1.1.1 DST=2.2.2.2 LEN=60 PROTO=TCP SPT=1 DPT=22",
        );
        assert_eq!(
            (e.action, e.rule, e.direction, e.iface),
            (
                Some(Action::Deny),
                Some("wan-lan-default-D"),
                None,
                Some("eth0")
            )
        );
        let e = ev(
            "May 28 17:31:07 server Shorewall:net2fw:DROP:IN=eth1 OUT= MAC=00:02 SRC=127.0.0.1 DST=1.2.3.4 LEN=60 PROTO=TCP SPT=59088 DPT=8080",
        );
        assert_eq!(
            (e.action, e.rule, e.dst_port),
            (
                Some(Action::Deny),
                Some("Shorewall:net2fw:DROP"),
                Some(8080)
            )
        );
        let e = ev(
            "Mar  8 20:16:44 black kernel: [20474.050964] SFW2-INext-ACC-TCP IN=eth0 OUT= MAC= SRC=192.168.0.101 DST=192.168.0.100 LEN=60 PROTO=TCP SPT=59282 DPT=631",
        );
        assert_eq!(
            (e.action, e.rule),
            (Some(Action::Allow), Some("SFW2-INext-ACC-TCP"))
        );
        let e = ev(
            "Jan 29 00:00:28 myth kernel: SFW2-INext-DROP-DEFLT IN=ppp0 OUT= MAC= SRC=24.64.208.134 DST=216.58.112.55 LEN=512 PROTO=UDP SPT=24128 DPT=1026 LEN=492",
        );
        assert_eq!((e.action, e.bytes), (Some(Action::Deny), Some(512)));
    }

    #[test]
    fn proxmox_time_chain_and_policy() {
        let e = ev(
            "0 3 PVEFW-HOST-IN 20/Jun/2022:13:09:14 +0200 policy DROP: IN=vmbr0.94 MAC=24:8a SRC=10.3.94.11 DST=10.3.94.12 LEN=52 PROTO=UDP SPT=49152 DPT=3784 LEN=32",
        );
        assert_eq!(e.ts, civil_to_micros(2022, 6, 20, 11, 9, 14, 0));
        assert_eq!(
            (e.rule, e.action, e.direction),
            (
                Some("PVEFW-HOST-IN"),
                Some(Action::Deny),
                Some(Direction::In)
            )
        );
        let e = ev(
            "101 1 tap101i0-IN 20/Jun/2022:13:13:32 +0200 PVEFW-reject: IN=fwbr101i0 OUT=fwbr101i0 PHYSIN=fwln101i0 SRC=2a0a:1580::a DST=2a0a:1580::17 LEN=40 PROTO=TCP SPT=59368 DPT=22",
        );
        assert_eq!(
            (e.action, e.direction, e.iface),
            (Some(Action::Deny), None, Some("fwbr101i0"))
        );
        let e = ev(
            "0 1 PVEFW-HOST-OUT 20/Jun/2022:13:16:23 +0200 ACCEPT: OUT=vmbr0.94 SRC=10.3.94.12 DST=10.3.94.10 LEN=60 PROTO=TCP SPT=49566 DPT=22",
        );
        assert_eq!(
            (e.action, e.direction, e.iface),
            (Some(Action::Allow), Some(Direction::Out), Some("vmbr0.94"))
        );
    }

    #[test]
    fn nftables_prefix_and_custom_words() {
        let e = ev(
            "Feb  2 02:02:02 h kernel: nft in dropped: IN=eth0 OUT= SRC=1.1.1.1 DST=2.2.2.2 LEN=40 PROTO=TCP SPT=1 DPT=2",
        );
        assert_eq!(
            (e.action, e.rule),
            (Some(Action::Deny), Some("nft in dropped"))
        );
        let words = Box::leak(Box::new(VerdictWords {
            deny: vec!["nope".into()],
            allow: vec!["yes".into()],
        }));
        let c = Ctx {
            verdicts: words,
            ..ctx()
        };
        match parse(b"NOPE: IN=a OUT= SRC=1.1.1.1 DST=2.2.2.2", &c) {
            Outcome::Event(e) => assert_eq!(e.action, Some(Action::Deny)),
            o => panic!("{o:?}"),
        }
        match parse(b"DROP: IN=a OUT= SRC=1.1.1.1 DST=2.2.2.2", &c) {
            Outcome::Event(e) => assert_eq!(e.action, None),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn skipped_and_errors() {
        let p = |s: &'static str| parse(s.as_bytes(), &ctx());
        assert_eq!(
            p(
                "Jun 27 09:02:22 h h sshd[454008]: Failed password for x from 192.168.1.2 port 5454 ssh2"
            ),
            Outcome::Skipped("iptables: no IN= or OUT=")
        );
        assert_eq!(
            p("Jun 27 09:02:22 h kernel: usb 1-1: new device"),
            Outcome::Skipped("iptables: no IN= or OUT=")
        );
        assert_eq!(
            p("IN=eth0 OUT= MAC=aa ARP"),
            Outcome::Error("iptables: no SRC=")
        );
        assert_eq!(
            p("IN=eth0 OUT= SRC=1.2.3 DST=1.2.3.4"),
            Outcome::Error("iptables: bad SRC=")
        );
        assert_eq!(
            p("IN=eth0 OUT= SRC=1.2.3.4 DST=x"),
            Outcome::Error("iptables: bad DST=")
        );
        assert_eq!(
            p("PHYSIN=eth0 SRC=1.2.3.4 DST=1.2.3.5"),
            Outcome::Skipped("iptables: no IN= or OUT=")
        );
    }
}
