//! The normalised traffic event every parser produces and every later stage consumes.
//!
//! Two shapes: [`Event`] borrows its string fields from the input line (what a parser returns,
//! zero-copy), and [`Record`] is the compact, owned, `Copy` form that crosses channels into the
//! aggregator. JSON exists only at the edges (`socwall parse`, the HTTP API).

use std::net::IpAddr;

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// IP protocol, by IANA number; names follow the IANA keyword list (`ipv6-icmp`, not `icmpv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Proto(pub u8);

impl Proto {
    pub const ICMP: Proto = Proto(1);
    pub const IGMP: Proto = Proto(2);
    pub const TCP: Proto = Proto(6);
    pub const UDP: Proto = Proto(17);
    pub const GRE: Proto = Proto(47);
    pub const ESP: Proto = Proto(50);
    pub const AH: Proto = Proto(51);
    pub const ICMPV6: Proto = Proto(58);
    pub const SCTP: Proto = Proto(132);

    /// The lowercase IANA keyword, or `None` when this build does not name the number
    /// (callers then print the number itself).
    pub fn keyword(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "icmp",
            2 => "igmp",
            4 => "ipv4",
            6 => "tcp",
            17 => "udp",
            41 => "ipv6",
            47 => "gre",
            50 => "esp",
            51 => "ah",
            58 => "ipv6-icmp",
            89 => "ospf",
            103 => "pim",
            112 => "vrrp",
            115 => "l2tp",
            132 => "sctp",
            136 => "udplite",
            _ => return None,
        })
    }

    /// Parses a protocol name or number as logs print it (`TCP`, `tcp`, `6`, `icmpv6`, `ICMPv6`,
    /// `ipv6-icmp`, `proto-50`...). Case-insensitive; no allocation.
    pub fn from_name(s: &[u8]) -> Option<Proto> {
        if !s.is_empty() && s.iter().all(u8::is_ascii_digit) {
            let mut n: u32 = 0;
            for &b in s {
                n = n * 10 + u32::from(b - b'0');
                if n > 255 {
                    return None;
                }
            }
            return Some(Proto(n as u8));
        }
        let mut buf = [0u8; 16];
        if s.len() > buf.len() {
            return None;
        }
        for (d, b) in buf.iter_mut().zip(s) {
            *d = b.to_ascii_lowercase();
        }
        let n = match &buf[..s.len()] {
            b"icmp" => 1,
            b"igmp" => 2,
            b"ipip" | b"ipencap" | b"ipv4" => 4,
            b"tcp" => 6,
            b"udp" => 17,
            b"ipv6" => 41,
            b"gre" => 47,
            b"esp" => 50,
            b"ah" => 51,
            b"ipv6-icmp" | b"icmpv6" | b"icmp6" | b"ipv6icmp" => 58,
            b"ospf" | b"ospfigp" => 89,
            b"pim" => 103,
            b"vrrp" | b"carp" => 112,
            b"l2tp" => 115,
            b"sctp" => 132,
            b"udplite" => 136,
            _ => return None,
        };
        Some(Proto(n))
    }

    /// True for protocols that carry port numbers.
    pub fn has_ports(self) -> bool {
        matches!(self.0, 6 | 17 | 132 | 136)
    }

    /// ICMP or ICMPv6. Formats that have port fields for every protocol (Zeek, NetFlow/IPFIX,
    /// the key=value vendors, ASA) write ICMP type, code or identifier there instead of ports,
    /// so parsers null the ports for these two and report every other protocol's as written.
    pub fn is_icmp(self) -> bool {
        matches!(self.0, 1 | 58)
    }
}

/// The firewall's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// Direction relative to the device that logged the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// TCP flags as the log reports them: the low six bits use the TCP header's own layout (FIN 0x01,
/// SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20); `0` means unknown (not TCP, or the format
/// or line does not say). One byte, so [`Record`] stays compact.
///
/// Two kinds of record carry flags, told apart by [`TcpFlags::CONN`]:
/// - a **packet** log line (pf, iptables, filterlog, Suricata `drop`): the flags of that packet;
/// - a **connection** record (Zeek conn, Suricata `flow`/`netflow`), marked `CONN`: what the
///   connection showed as a whole — SYN if the originator opened with a SYN, ACK only if the
///   handshake was answered (a SYN-ACK or ACKs seen), RST/FIN/PSH/URG if either side sent them.
///   So `SYN` without `ACK` on a `CONN` record is a failed attempt (Zeek `S0`, `REJ`), while on a
///   packet it is just an opening whose outcome the line does not tell.
///
/// The detectors use this for SYN floods and failed probes (docs/detections.md); `socwall
/// parse` does not print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// Not a TCP flag: the record summarises a whole connection (see the type's docs).
    pub const CONN: TcpFlags = TcpFlags(0x80);
    /// The six real flags.
    pub const MASK: u8 = 0x3f;

    /// True if every flag of `f` is set.
    #[inline]
    pub fn has(self, f: TcpFlags) -> bool {
        self.0 & f.0 == f.0
    }

    /// True if the log said anything about the flags.
    #[inline]
    pub fn is_known(self) -> bool {
        self.0 & Self::MASK != 0
    }

    /// A connection record (flags are the connection's, not one packet's).
    #[inline]
    pub fn is_conn(self) -> bool {
        self.has(Self::CONN)
    }

    /// SYN set and ACK clear: an opening (a packet) or a failed attempt (a connection record).
    #[inline]
    pub fn syn_without_ack(self) -> bool {
        self.0 & (Self::SYN.0 | Self::ACK.0) == Self::SYN.0
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, o: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | o.0)
    }
}

impl std::ops::BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, o: TcpFlags) {
        self.0 |= o.0;
    }
}

/// One traffic event as a parser sees it: borrowed strings, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Event<'a> {
    pub ts: Option<Micros>,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub proto: Option<Proto>,
    pub action: Option<Action>,
    pub direction: Option<Direction>,
    pub iface: Option<&'a str>,
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
    pub rule: Option<&'a str>,
    pub dns_qtype: Option<&'a str>,
    pub dns_qname: Option<&'a str>,
    /// IDS/threat signature name, when the line is an alert (Suricata, PAN-OS THREAT, ...).
    pub signature: Option<&'a str>,
    /// The alert's severity as the source states it, on its own scale (Suricata: 1 high – 3 low).
    pub severity: Option<u8>,
    /// TCP flags when the line shows them ([`TcpFlags`]; default: unknown).
    pub tcp_flags: TcpFlags,
}

/// Compact owned event for the aggregator (no strings: what the windows and detectors count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Event time from the log, when it had one.
    pub ts: Option<Micros>,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub proto: Option<Proto>,
    pub action: Option<Action>,
    pub direction: Option<Direction>,
    pub bytes: u64,
    pub packets: u64,
    /// The line carried a DNS query (decoded or truncated).
    pub dns_query: bool,
    /// TCP flags ([`TcpFlags`]; 0 = unknown).
    pub tcp_flags: TcpFlags,
}

impl Event<'_> {
    /// The owned compact form. `packets` defaults to 1 when the log does not say (one line, at
    /// least one packet); `bytes` to 0.
    pub fn record(&self) -> Record {
        Record {
            ts: self.ts,
            src_ip: self.src_ip,
            dst_ip: self.dst_ip,
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto: self.proto,
            action: self.action,
            direction: self.direction,
            bytes: self.bytes.unwrap_or(0),
            packets: self.packets.unwrap_or(1),
            dns_query: self.dns_qtype.is_some() || self.dns_qname.is_some(),
            tcp_flags: self.tcp_flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_names_round_trip() {
        assert_eq!(Proto::from_name(b"TCP"), Some(Proto::TCP));
        assert_eq!(Proto::from_name(b"icmpv6"), Some(Proto::ICMPV6));
        assert_eq!(Proto::from_name(b"ICMPv6"), Some(Proto::ICMPV6));
        assert_eq!(Proto::from_name(b"50"), Some(Proto::ESP));
        assert_eq!(Proto::from_name(b"256"), None);
        assert_eq!(Proto::from_name(b""), None);
        assert_eq!(Proto::from_name(b"bogus"), None);
        assert_eq!(Proto::ICMPV6.keyword(), Some("ipv6-icmp"));
        assert_eq!(Proto(253).keyword(), None);
    }

    #[test]
    fn icmp_and_port_protocols() {
        assert!(Proto::ICMP.is_icmp() && Proto::ICMPV6.is_icmp());
        for p in [
            Proto::TCP,
            Proto::UDP,
            Proto::GRE,
            Proto::IGMP,
            Proto(0),
            Proto(103),
        ] {
            assert!(!p.is_icmp(), "{p:?}");
        }
        assert!(Proto::TCP.has_ports() && Proto::SCTP.has_ports());
        assert!(!Proto::GRE.has_ports() && !Proto::ICMP.has_ports() && !Proto(0).has_ports());
    }

    #[test]
    fn tcp_flags_and_compact_record() {
        let f = TcpFlags::SYN | TcpFlags::CONN;
        assert!(f.is_known() && f.is_conn() && f.syn_without_ack());
        assert!(!(f | TcpFlags::ACK).syn_without_ack());
        assert!(!TcpFlags::CONN.is_known());
        assert!(!TcpFlags::default().is_known());
        // The flags byte fits in the record's padding: it must not grow the channel payload.
        assert!(
            std::mem::size_of::<Record>() <= 80,
            "{}",
            std::mem::size_of::<Record>()
        );
    }
}
