//! Per-vendor tables for the kv engine: which vendor key fills which normalised slot, which keys
//! prove the line is that vendor's, and which action words mean allow or deny.
//!
//! Keys match exactly (vendors are consistent about case). Action words match ASCII
//! case-insensitively; a word in neither list falls back to [`generic_action`].

use crate::event::Action;

/// A normalised field a vendor key can fill. `Acc` in `mod.rs` keeps one value per slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Slot {
    Src,
    Dst,
    SrcPort,
    DstPort,
    Proto,
    Action,
    /// Total bytes both ways (wins over In+Out).
    Bytes,
    BytesIn,
    BytesOut,
    Packets,
    PktsIn,
    PktsOut,
    IfaceIn,
    IfaceOut,
    /// Rule number or id.
    Rule,
    /// Rule name (wins over `Rule`).
    RuleName,
    /// A time in any form `any_time` reads (epoch s/ms/us/ns, ISO, CEF `MMM dd yyyy HH:mm:ss`).
    Ts,
    /// FortiGate/Sophos `date=YYYY-MM-DD` + `time=HH:MM:SS` (used when there is no `Ts`).
    Date,
    Time,
    Signature,
    Severity,
    Direction,
    /// The vendor's log type (`type=`, `log_type=`, `logtype=`): vendor code decides what to skip.
    Kind,
    /// A key only this vendor prints: its presence claims the line.
    Marker,
    /// SonicWall/Meraki `ip[:port[:iface]]`.
    SrcHostPort,
    DstHostPort,
    /// SonicWall `proto=tcp/443` (the part after `/` may be a service name: ignored).
    ProtoSvc,
    /// Free-text message (SonicWall `msg=`): fallback for the action.
    Msg,
    /// SonicWall `id=` (must be `firewall`).
    Id,
    Cs1,
    Cs2,
    Cs3,
    Cs4,
    Cs5,
    Cs6,
    Cs1Label,
    Cs2Label,
    Cs3Label,
    Cs4Label,
    Cs5Label,
    Cs6Label,
}

/// Number of slots (size of the accumulator array).
pub const SLOTS: usize = Slot::Cs6Label as usize + 1;

pub struct Table {
    pub keys: &'static [(&'static [u8], Slot)],
    pub allow: &'static [&'static [u8]],
    pub deny: &'static [&'static [u8]],
}

impl Table {
    /// Runs for every pair against every key, so length and first byte settle most keys
    /// before an inline byte compare (a `memcmp` call per key cost more than the compare).
    #[inline]
    pub fn slot(&self, key: &[u8]) -> Option<Slot> {
        let &first = key.first()?;
        let n = key.len();
        self.keys
            .iter()
            .find(|(k, _)| {
                k.len() == n && k.first() == Some(&first) && k.iter().zip(key).all(|(a, b)| a == b)
            })
            .map(|&(_, s)| s)
    }

    /// The verdict a vendor action word expresses.
    pub fn action(&self, v: &[u8]) -> Option<Action> {
        let v = crate::parse::bytes::trim(v);
        if self.allow.iter().any(|w| w.eq_ignore_ascii_case(v)) {
            return Some(Action::Allow);
        }
        if self.deny.iter().any(|w| w.eq_ignore_ascii_case(v)) {
            return Some(Action::Deny);
        }
        generic_action(v)
    }
}

/// Substring classification for words no table lists (deny words first: `not allowed`...).
pub fn generic_action(v: &[u8]) -> Option<Action> {
    use crate::parse::bytes::find_ci;
    const DENY: &[&[u8]] = &[
        b"deny",
        b"denied",
        b"drop",
        b"block",
        b"reject",
        b"reset",
        b"discard",
        b"refuse",
        b"prohibit",
        b"prevent",
    ];
    const ALLOW: &[&[u8]] = &[b"accept", b"allow", b"pass", b"permit", b"forward"];
    if v.len() > 64 {
        return None;
    }
    if DENY.iter().any(|w| find_ci(v, w).is_some()) {
        Some(Action::Deny)
    } else if ALLOW.iter().any(|w| find_ci(v, w).is_some()) {
        Some(Action::Allow)
    } else {
        None
    }
}

use Slot::*;

/// ArcSight CEF standard extension keys (full names too, as some emitters print them).
pub static CEF: Table = Table {
    keys: &[
        (b"src", Src),
        (b"sourceAddress", Src),
        (b"c6a2", Src),
        (b"dst", Dst),
        (b"destinationAddress", Dst),
        (b"c6a3", Dst),
        (b"spt", SrcPort),
        (b"sourcePort", SrcPort),
        (b"dpt", DstPort),
        (b"destinationPort", DstPort),
        (b"proto", Proto),
        (b"transportProtocol", Proto),
        (b"act", Action),
        (b"deviceAction", Action),
        (b"in", BytesIn),
        (b"bytesIn", BytesIn),
        (b"out", BytesOut),
        (b"bytesOut", BytesOut),
        (b"deviceInboundInterface", IfaceIn),
        (b"deviceOutboundInterface", IfaceOut),
        (b"rt", Ts),
        (b"receiptTime", Ts),
        (b"start", Ts),
        (b"startTime", Ts),
        (b"deviceDirection", Direction),
        (b"cs1", Cs1),
        (b"cs2", Cs2),
        (b"cs3", Cs3),
        (b"cs4", Cs4),
        (b"cs5", Cs5),
        (b"cs6", Cs6),
        (b"cs1Label", Cs1Label),
        (b"cs2Label", Cs2Label),
        (b"cs3Label", Cs3Label),
        (b"cs4Label", Cs4Label),
        (b"cs5Label", Cs5Label),
        (b"cs6Label", Cs6Label),
    ],
    allow: &[
        b"accept", b"allow", b"permit", b"pass", b"close", b"encrypt", b"decrypt",
    ],
    deny: &[
        b"deny", b"drop", b"block", b"blocked", b"reject", b"prevent",
    ],
};

/// FortiGate's `FTNTFGT*` CEF extension keys (looked up before [`CEF`]).
pub static FORTINET_CEF: Table = Table {
    keys: &[
        (b"FTNTFGTpolicyid", Rule),
        (b"FTNTFGTpolicyname", RuleName),
        (b"FTNTFGTsentpkt", PktsOut),
        (b"FTNTFGTrcvdpkt", PktsIn),
        (b"FTNTFGTattack", Signature),
        (b"FTNTFGTtype", Kind),
    ],
    allow: FORTIGATE.allow,
    deny: FORTIGATE.deny,
};

/// Check Point CEF exports: the standard keys plus its own.
pub static CHECKPOINT_CEF: Table = Table {
    keys: &[(b"protection_name", Signature), (b"rule_name", RuleName)],
    allow: CHECKPOINT.allow,
    deny: CHECKPOINT.deny,
};

/// No extension keys beyond the standard ones (vendors without documented extras).
pub static NONE: Table = Table {
    keys: &[],
    allow: &[],
    deny: &[],
};

/// IBM LEEF 1.0/2.0 predefined attributes (and the `action` key most emitters add).
pub static LEEF: Table = Table {
    keys: &[
        (b"src", Src),
        (b"dst", Dst),
        (b"srcPort", SrcPort),
        (b"dstPort", DstPort),
        (b"proto", Proto),
        (b"action", Action),
        (b"srcBytes", BytesOut),
        (b"dstBytes", BytesIn),
        (b"totalBytes", Bytes),
        (b"srcPackets", PktsOut),
        (b"dstPackets", PktsIn),
        (b"totalPackets", Packets),
        (b"devTime", Ts),
        (b"sev", Severity),
        (b"policy", RuleName),
        (b"policyName", RuleName),
        (b"srcInterface", IfaceIn),
        (b"dstInterface", IfaceOut),
        (b"rule", RuleName),
    ],
    allow: CEF.allow,
    deny: CEF.deny,
};

/// FortiOS key=value (traffic, utm). `eventtime` is epoch (s/ns by version).
pub static FORTIGATE: Table = Table {
    keys: &[
        (b"devname", Marker),
        (b"devid", Marker),
        (b"logid", Marker),
        (b"srcip", Src),
        (b"dstip", Dst),
        (b"srcport", SrcPort),
        (b"dstport", DstPort),
        (b"proto", Proto),
        (b"action", Action),
        (b"sentbyte", BytesOut),
        (b"rcvdbyte", BytesIn),
        (b"sentpkt", PktsOut),
        (b"rcvdpkt", PktsIn),
        (b"policyid", Rule),
        (b"policyname", RuleName),
        (b"srcintf", IfaceIn),
        (b"dstintf", IfaceOut),
        (b"date", Date),
        (b"time", Time),
        (b"eventtime", Ts),
        (b"type", Kind),
        (b"attack", Signature),
        (b"severity", Severity),
        (b"direction", Direction),
    ],
    // A session that ended (close/timeout/RST by an endpoint) was allowed by the policy.
    allow: &[
        b"accept",
        b"close",
        b"timeout",
        b"server-rst",
        b"client-rst",
        b"start",
        b"pass",
        b"passthrough",
        b"monitored",
        b"detected",
    ],
    deny: &[
        b"deny", b"blocked", b"block", b"dropped", b"ip-conn", b"reset",
    ],
};

/// Check Point log exporter (`key:"value";` syslog and `key=value` forms).
pub static CHECKPOINT: Table = Table {
    keys: &[
        (b"loguid", Marker),
        (b"originsicname", Marker),
        (b"origin_sic_name", Marker),
        (b"layer_uuid", Marker),
        (b"__policy_id_tag", Marker),
        (b"src", Src),
        (b"dst", Dst),
        (b"s_port", SrcPort),
        (b"service", DstPort),
        (b"proto", Proto),
        (b"action", Action),
        (b"ifdir", Direction),
        (b"ifname", IfaceIn),
        (b"rule", Rule),
        (b"rule_name", RuleName),
        (b"time", Ts),
        (b"sent_bytes", BytesOut),
        (b"received_bytes", BytesIn),
        (b"client_outbound_bytes", BytesOut),
        (b"server_outbound_bytes", BytesIn),
        (b"client_outbound_packets", PktsOut),
        (b"server_outbound_packets", PktsIn),
        (b"protection_name", Signature),
        (b"attack", Signature),
        (b"severity", Severity),
    ],
    allow: &[
        b"accept", b"allow", b"encrypt", b"decrypt", b"detect", b"inform", b"bypass",
    ],
    deny: &[b"drop", b"reject", b"block", b"prevent", b"deny"],
};

/// SonicWall SonicOS syslog (`id=firewall sn=...`).
pub static SONICWALL: Table = Table {
    keys: &[
        (b"id", Id),
        (b"sn", Marker),
        (b"src", SrcHostPort),
        (b"dst", DstHostPort),
        (b"proto", ProtoSvc),
        (b"sent", BytesOut),
        (b"rcvd", BytesIn),
        (b"spkt", PktsOut),
        (b"rpkt", PktsIn),
        (b"fw_action", Action),
        (b"rule", RuleName),
        (b"time", Ts),
        (b"msg", Msg),
        (b"srcZone", Marker),
    ],
    allow: &[b"forward", b"allow", b"accept"],
    deny: &[b"drop", b"deny", b"reject", b"block"],
};

/// Sophos XG / SFOS (v17 `sent_bytes`, v19+ `bytes_sent` spellings both).
pub static SOPHOS: Table = Table {
    keys: &[
        (b"log_component", Marker),
        (b"device_name", Marker),
        (b"log_id", Marker),
        (b"src_ip", Src),
        (b"dst_ip", Dst),
        (b"src_port", SrcPort),
        (b"dst_port", DstPort),
        (b"protocol", Proto),
        (b"log_subtype", Action),
        (b"status", Action),
        (b"sent_bytes", BytesOut),
        (b"recv_bytes", BytesIn),
        (b"bytes_sent", BytesOut),
        (b"bytes_received", BytesIn),
        (b"sent_pkts", PktsOut),
        (b"recv_pkts", PktsIn),
        (b"packets_sent", PktsOut),
        (b"packets_received", PktsIn),
        (b"in_interface", IfaceIn),
        (b"out_interface", IfaceOut),
        (b"fw_rule_id", Rule),
        (b"fw_rule_name", RuleName),
        (b"date", Date),
        (b"time", Time),
        (b"timestamp", Ts),
        (b"log_type", Kind),
        (b"signature_msg", Signature),
    ],
    allow: &[b"allowed", b"allow", b"accept"],
    deny: &[
        b"denied", b"deny", b"drop", b"dropped", b"reject", b"block", b"blocked",
    ],
};

/// Stormshield SNS (`id=firewall ... logtype=`). `proto` there is the application protocol;
/// the IP protocol is `ipproto`.
pub static STORMSHIELD: Table = Table {
    keys: &[
        (b"slotlevel", Marker),
        (b"confid", Marker),
        (b"srcifname", Marker),
        (b"startime", Marker),
        (b"src", Src),
        (b"dst", Dst),
        (b"srcport", SrcPort),
        (b"dstport", DstPort),
        (b"ipproto", Proto),
        (b"action", Action),
        (b"sent", BytesOut),
        (b"rcvd", BytesIn),
        (b"ruleid", Rule),
        (b"rulename", RuleName),
        (b"srcif", IfaceIn),
        (b"dstif", IfaceOut),
        (b"time", Ts),
        (b"logtype", Kind),
        (b"msg", Msg),
    ],
    allow: &[b"pass", b"allow", b"log"],
    deny: &[b"block", b"drop", b"reject"],
};

/// Clavister cOS Core (`conn_open`/`conn_close` and rule-match drops).
pub static CLAVISTER: Table = Table {
    keys: &[
        (b"connsrcip", Src),
        (b"conndestip", Dst),
        (b"connsrcport", SrcPort),
        (b"conndestport", DstPort),
        (b"connipproto", Proto),
        (b"connrecvif", IfaceIn),
        (b"conndestif", IfaceOut),
        (b"srcip", Src),
        (b"destip", Dst),
        (b"srcport", SrcPort),
        (b"destport", DstPort),
        (b"ipproto", Proto),
        (b"recvif", IfaceIn),
        (b"action", Action),
        (b"origsent", BytesOut),
        (b"termsent", BytesIn),
        (b"rule", RuleName),
        (b"event", Kind),
    ],
    // `close` is the action of a conn_close event: the connection had been allowed.
    allow: &[b"allow", b"close", b"fwdfast", b"nat", b"sat", b"slb_sat"],
    deny: &[b"drop", b"reject", b"deny"],
};

/// Barracuda CloudGen activity log (`|`-separated after `Action: `).
pub static BARRACUDA: Table = Table {
    keys: &[
        (b"srcIP", Src),
        (b"dstIP", Dst),
        (b"srcPort", SrcPort),
        (b"dstPort", DstPort),
        (b"proto", Proto),
        (b"srcIF", IfaceIn),
        (b"dstIF", IfaceOut),
        (b"rule", RuleName),
        (b"receivedBytes", BytesIn),
        (b"sentBytes", BytesOut),
        (b"receivedPackets", PktsIn),
        (b"sentPackets", PktsOut),
        (b"type", Kind),
    ],
    // `Remove` ends a session that had been allowed.
    allow: &[b"allow", b"remove", b"start", b"detect"],
    deny: &[b"block", b"drop", b"fail", b"deny"],
};

/// Meraki MX/MR `flows`/`firewall`/`ip_flow_*` events.
pub static MERAKI: Table = Table {
    keys: &[
        (b"src", SrcHostPort),
        (b"dst", DstHostPort),
        (b"protocol", Proto),
        (b"sport", SrcPort),
        (b"dport", DstPort),
    ],
    allow: &[b"allow", b"0"],
    deny: &[b"deny", b"1"],
};

/// WatchGuard's kv tail (after the positional part).
pub static WATCHGUARD: Table = Table {
    keys: &[
        (b"msg_id", Marker),
        (b"sent_bytes", BytesOut),
        (b"rcvd_bytes", BytesIn),
        (b"sent_pkts", PktsOut),
        (b"rcvd_pkts", PktsIn),
    ],
    allow: &[b"allow"],
    deny: &[b"deny"],
};
