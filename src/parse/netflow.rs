//! NetFlow v5, v9 and IPFIX export packets: templates per exporter and observation domain.
//!
//! [`Decoder::decode`] takes one UDP payload and appends one [`FlowRecord`] per flow data record.
//! v9 and IPFIX are template-based: template sets are cached per (exporter address, protocol
//! version, source id / observation domain, template id), data sets are decoded with the cached
//! template. Nothing in a packet is trusted: every length is checked against the buffer before
//! use, the cache and the templates are capped, and a bad packet is a typed [`NetflowError`],
//! never a panic. See `docs/formats/netflow.md` for the field mapping and the choices.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::event::{Action, Direction, Event, Micros, Proto};

/// Most templates cached in total, all exporters together.
pub const MAX_TEMPLATES: usize = 4096;
/// Most templates cached for one exporter address (all its source ids / domains).
pub const MAX_TEMPLATES_PER_EXPORTER: usize = 1024;
/// Most fields (scope fields included) one template may declare.
pub const MAX_FIELDS: usize = 256;
/// NetFlow v5 packets carry at most 30 records (Cisco's layout).
const V5_MAX_COUNT: usize = 30;
/// The IPFIX "private enterprise number" of RFC 5103 reverse (biflow) elements.
const REVERSE_PEN: u32 = 29305;
/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// Why a packet could not be (fully) decoded. Records decoded before the problem stay in `out`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetflowError {
    #[error("packet of {len} bytes is too short for a header")]
    ShortHeader { len: usize },
    #[error("unsupported export version {0} (want 5, 9 or 10)")]
    Version(u16),
    #[error("NetFlow v5 count {count} is not in 1..=30")]
    V5Count { count: u16 },
    #[error("NetFlow v5 count {count} needs {need} bytes, packet has {have}")]
    V5Truncated {
        count: u16,
        need: usize,
        have: usize,
    },
    #[error("IPFIX message length {claimed} does not fit the packet ({have} bytes)")]
    MessageLength { claimed: usize, have: usize },
    #[error("set {id} at offset {at}: length {len} is invalid ({left} bytes left)")]
    SetLength {
        id: u16,
        at: usize,
        len: usize,
        left: usize,
    },
    #[error("template {id} is truncated")]
    TemplateTruncated { id: u16 },
    #[error("template id {id} is reserved (data templates start at 256)")]
    TemplateId { id: u16 },
    #[error("options template {id}: scope/option lengths are not whole field specifiers")]
    OptionsLayout { id: u16 },
    #[error("data record for template {id} is truncated")]
    RecordTruncated { id: u16 },
}

/// What one packet held, beyond the flow records themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// 5, 9 or 10 (IPFIX).
    pub version: u16,
    /// Flow records appended to `out`.
    pub flows: usize,
    /// Templates (data and options) read and cached.
    pub templates: usize,
    /// Templates withdrawn (IPFIX field count 0).
    pub withdrawn: usize,
    /// Templates not cached: over a cap ([`MAX_FIELDS`], [`MAX_TEMPLATES`], per exporter).
    pub templates_refused: usize,
    /// Data records of options templates: decoded for their length, not emitted as flows.
    pub options_records: usize,
    /// Data sets whose template is unknown: dropped (not buffered), counted here. A set holds
    /// an unknown number of records, so sets are counted, not records.
    pub unknown_template_sets: usize,
}

/// One flow data record, normalised. `Copy`, no heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowRecord {
    pub ts: Option<Micros>,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub proto: Option<Proto>,
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
    pub direction: Option<Direction>,
    pub action: Option<Action>,
    /// Ingress interface index (v5 `input`, v9 `INPUT_SNMP`, IPFIX `ingressInterface`).
    pub in_if: Option<u32>,
    /// `in_if` as decimal text, so [`FlowRecord::event`] can lend it as `iface`.
    iface_text: [u8; 10],
    iface_len: u8,
}

impl FlowRecord {
    fn set_in_if(&mut self, v: u32) {
        self.in_if = Some(v);
        let mut tmp = [0u8; 10];
        let mut n = v;
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let len = tmp.len() - i;
        self.iface_text[..len].copy_from_slice(&tmp[i..]);
        self.iface_len = len as u8;
    }

    /// The record as an [`Event`]: `iface` is the ingress interface index as text, `rule` is
    /// `None` (flow exports carry no rule).
    pub fn event(&self) -> Event<'_> {
        let iface = self.in_if.and_then(|_| {
            std::str::from_utf8(&self.iface_text[..usize::from(self.iface_len)]).ok()
        });
        Event {
            ts: self.ts,
            src_ip: self.src_ip,
            dst_ip: self.dst_ip,
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto: self.proto,
            action: self.action,
            direction: self.direction,
            iface,
            bytes: self.bytes,
            packets: self.packets,
            ..Event::default()
        }
    }
}

/// One field specifier of a template. `len` 65535 = variable length (IPFIX, some v9 exporters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    id: u16,
    len: u16,
    /// Private enterprise number; 0 for IANA / Cisco elements.
    pen: u32,
}

const VARIABLE: u16 = 0xFFFF;

#[derive(Debug, Clone)]
struct Template {
    specs: Box<[Spec]>,
    /// Options template: records are decoded for length only.
    options: bool,
    /// Shortest possible record (fixed lengths, +1 per variable field).
    min_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    exporter: IpAddr,
    version: u16,
    domain: u32,
    id: u16,
}

/// Decodes export packets; keeps the template cache.
#[derive(Debug, Default)]
pub struct Decoder {
    templates: HashMap<Key, Template>,
    per_exporter: HashMap<IpAddr, usize>,
    /// Reused while reading a template's specifiers (no allocation per template read).
    scratch: Vec<Spec>,
}

/// Bounds-checked big-endian reader over a slice.
#[derive(Clone, Copy)]
struct Rd<'a> {
    b: &'a [u8],
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
}

/// Unsigned big-endian integer of 1..=8 bytes (reduced-size encoding); `None` otherwise.
fn be_uint(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 8 {
        return None;
    }
    Some(v.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
}

/// Per-packet header facts the time fields are relative to.
#[derive(Clone, Copy)]
struct PacketTime {
    /// Export time, Unix seconds.
    export_secs: u32,
    /// v9: exporter uptime (ms) at export.
    sys_uptime_ms: Option<u32>,
}

impl PacketTime {
    fn export_micros(self) -> Micros {
        i64::from(self.export_secs) * 1_000_000
    }
    /// A sysUpTime instant (ms) as Unix micros.
    fn at_uptime(self, at_ms: u32) -> Option<Micros> {
        let up = self.sys_uptime_ms?;
        let ago_ms = i64::from(up.wrapping_sub(at_ms));
        Some(self.export_micros() - ago_ms * 1000)
    }
}

/// Accumulates the fields of one data record.
#[derive(Default)]
struct Acc {
    src4: Option<Ipv4Addr>,
    dst4: Option<Ipv4Addr>,
    src6: Option<Ipv6Addr>,
    dst6: Option<Ipv6Addr>,
    sport: Option<u16>,
    dport: Option<u16>,
    proto: Option<u8>,
    octets: Option<u64>,
    octets_total: Option<u64>,
    init_octets: Option<u64>,
    resp_octets: Option<u64>,
    out_octets: Option<u64>,
    rev_octets: Option<u64>,
    pkts: Option<u64>,
    pkts_total: Option<u64>,
    init_pkts: Option<u64>,
    resp_pkts: Option<u64>,
    out_pkts: Option<u64>,
    rev_pkts: Option<u64>,
    start_secs: Option<u64>,
    start_ms: Option<u64>,
    start_ntp_us: Option<u64>,
    start_ntp_ns: Option<u64>,
    first_switched: Option<u64>,
    sys_init_ms: Option<u64>,
    start_delta_us: Option<u64>,
    event_ms: Option<u64>,
    in_if: Option<u64>,
    direction: Option<u64>,
    fw_event: Option<u64>,
}

fn first(slot: &mut Option<u64>, v: &[u8]) {
    if slot.is_none() {
        *slot = be_uint(v);
    }
}

impl Acc {
    fn field(&mut self, s: Spec, v: &[u8]) {
        if s.pen == REVERSE_PEN {
            match s.id {
                1 => first(&mut self.rev_octets, v),
                2 => first(&mut self.rev_pkts, v),
                _ => {}
            }
            return;
        }
        if s.pen != 0 {
            return; // other enterprise-specific elements: skipped by length
        }
        match s.id {
            1 => first(&mut self.octets, v),
            2 => first(&mut self.pkts, v),
            4 if self.proto.is_none() && v.len() == 1 => self.proto = Some(v[0]),
            7 | 180 | 182 if self.sport.is_none() => {
                self.sport = be_uint(v).and_then(|p| u16::try_from(p).ok());
            }
            11 | 181 | 183 if self.dport.is_none() => {
                self.dport = be_uint(v).and_then(|p| u16::try_from(p).ok());
            }
            8 => {
                if let (None, Ok(a)) = (self.src4, <[u8; 4]>::try_from(v)) {
                    self.src4 = Some(Ipv4Addr::from(a));
                }
            }
            12 => {
                if let (None, Ok(a)) = (self.dst4, <[u8; 4]>::try_from(v)) {
                    self.dst4 = Some(Ipv4Addr::from(a));
                }
            }
            27 => {
                if let (None, Ok(a)) = (self.src6, <[u8; 16]>::try_from(v)) {
                    self.src6 = Some(Ipv6Addr::from(a));
                }
            }
            28 => {
                if let (None, Ok(a)) = (self.dst6, <[u8; 16]>::try_from(v)) {
                    self.dst6 = Some(Ipv6Addr::from(a));
                }
            }
            10 => first(&mut self.in_if, v),
            21 => {}
            22 => first(&mut self.first_switched, v),
            23 => first(&mut self.out_octets, v),
            24 => first(&mut self.out_pkts, v),
            61 => first(&mut self.direction, v),
            85 => first(&mut self.octets_total, v),
            86 => first(&mut self.pkts_total, v),
            150 => first(&mut self.start_secs, v),
            152 => first(&mut self.start_ms, v),
            154 => first(&mut self.start_ntp_us, v),
            156 => first(&mut self.start_ntp_ns, v),
            158 => first(&mut self.start_delta_us, v),
            160 => first(&mut self.sys_init_ms, v),
            231 => first(&mut self.init_octets, v),
            232 => first(&mut self.resp_octets, v),
            233 => first(&mut self.fw_event, v),
            298 => first(&mut self.init_pkts, v),
            299 => first(&mut self.resp_pkts, v),
            323 => first(&mut self.event_ms, v),
            _ => {}
        }
    }

    fn finish(self, version: u16, t: PacketTime) -> FlowRecord {
        // IPv4 unless the record only has (or only fills in) IPv6.
        let src_ip = match (self.src4, self.src6) {
            (Some(a), None) => Some(IpAddr::V4(a)),
            (Some(a), Some(_)) if !a.is_unspecified() => Some(IpAddr::V4(a)),
            (_, Some(b)) => Some(IpAddr::V6(b)),
            (None, None) => None,
        };
        let dst_ip = match (self.dst4, self.dst6) {
            (Some(a), None) => Some(IpAddr::V4(a)),
            (Some(a), Some(_)) if !a.is_unspecified() => Some(IpAddr::V4(a)),
            (_, Some(b)) => Some(IpAddr::V6(b)),
            (None, None) => None,
        };
        let mut r = FlowRecord {
            src_ip,
            dst_ip,
            ..FlowRecord::default()
        };
        r.proto = self.proto.map(Proto);
        // Ports as exported (0 0 for GRE, IGMP...), except ICMP/ICMPv6: exporters put
        // type*256+code in the destination port there (the Cisco convention).
        if !r.proto.is_some_and(Proto::is_icmp) {
            r.src_port = self.sport;
            r.dst_port = self.dport;
        }
        // Bytes/packets: the flow's counter (delta, else total; v9 OUT_BYTES / IPFIX
        // postOctetDeltaCount, the same flow counted on the egress side, only when the ingress
        // counter is absent: a 0 as exported is reported as 0), plus the reverse direction when the record carries one
        // (RFC 5103 reverse elements); NSEL records: initiator + responder.
        let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        let pick = |a: Option<u64>, b: Option<u64>| a.or(b);
        let fwd_b = pick(self.octets.or(self.octets_total), self.out_octets);
        r.bytes = match fwd_b {
            Some(_) => sum(fwd_b, self.rev_octets),
            None => sum(self.init_octets, self.resp_octets),
        };
        let fwd_p = pick(self.pkts.or(self.pkts_total), self.out_pkts);
        r.packets = match fwd_p {
            Some(_) => sum(fwd_p, self.rev_pkts),
            None => sum(self.init_pkts, self.resp_pkts),
        };
        r.direction = match self.direction {
            Some(0) => Some(Direction::In),
            Some(1) => Some(Direction::Out),
            _ => None,
        };
        // NSEL / IPFIX firewallEvent: 1 created, 2 deleted, 3 denied, 5 updated.
        r.action = match self.fw_event {
            Some(3) => Some(Action::Deny),
            Some(1 | 2 | 5) => Some(Action::Allow),
            _ => None,
        };
        if let Some(i) = self.in_if.and_then(|i| u32::try_from(i).ok()) {
            r.set_in_if(i);
        }
        let ms = |v: u64| i64::try_from(v).ok()?.checked_mul(1000);
        let ntp = |secs: u64, frac_units: i64| {
            let s = i64::try_from(secs >> 32).ok()? - NTP_UNIX_OFFSET;
            let frac = ((secs & 0xFFFF_FFFF) as i64 * frac_units) >> 32;
            Some(s * 1_000_000 + frac)
        };
        r.ts = self
            .start_ms
            .and_then(ms)
            .or_else(|| {
                self.start_secs
                    .and_then(|s| i64::try_from(s).ok()?.checked_mul(1_000_000))
            })
            .or_else(|| self.start_ntp_us.and_then(|v| ntp(v, 1_000_000)))
            .or_else(|| self.start_ntp_ns.and_then(|v| ntp(v, 1_000_000)))
            .or_else(|| {
                let f = self.first_switched?;
                match (version, self.sys_init_ms) {
                    // IPFIX flowStartSysUpTime: ms since systemInitTimeMilliseconds.
                    (10, Some(init)) => ms(init.checked_add(f)?),
                    _ => t.at_uptime(u32::try_from(f).ok()?),
                }
            })
            .or_else(|| {
                let d = i64::try_from(self.start_delta_us?).ok()?;
                Some(t.export_micros() - d)
            })
            .or_else(|| self.event_ms.and_then(ms))
            .or(Some(t.export_micros()));
        r
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Templates currently cached (all exporters).
    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    /// Decodes one export packet (one UDP payload) from `exporter`, appending its flow records
    /// to `out`. On error, the records decoded before the problem are left in `out` (a packet
    /// truncated in its last set still yields its first sets) and templates read before it stay
    /// cached.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        packet: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<Summary, NetflowError> {
        let mut r = Rd { b: packet };
        let version = r
            .u16()
            .ok_or(NetflowError::ShortHeader { len: packet.len() })?;
        match version {
            5 => decode_v5(packet, out),
            9 | 10 => self.decode_templated(exporter, version, packet, out),
            v => Err(NetflowError::Version(v)),
        }
    }

    fn decode_templated(
        &mut self,
        exporter: IpAddr,
        version: u16,
        packet: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<Summary, NetflowError> {
        let short = NetflowError::ShortHeader { len: packet.len() };
        let mut r = Rd { b: packet };
        let mut sum = Summary {
            version,
            ..Summary::default()
        };
        let (time, domain, header_len, body) = if version == 9 {
            // version, count, sysUptime, unix_secs, sequence, source id
            let _ = r.u16();
            let _count = r.u16().ok_or(short.clone())?; // not trusted: sets are walked by length
            let up = r.u32().ok_or(short.clone())?;
            let secs = r.u32().ok_or(short.clone())?;
            let _seq = r.u32().ok_or(short.clone())?;
            let src = r.u32().ok_or(short)?;
            let t = PacketTime {
                export_secs: secs,
                sys_uptime_ms: Some(up),
            };
            (t, src, 20, r.b)
        } else {
            let _ = r.u16();
            let len = usize::from(r.u16().ok_or(short.clone())?);
            let secs = r.u32().ok_or(short.clone())?;
            let _seq = r.u32().ok_or(short.clone())?;
            let dom = r.u32().ok_or(short)?;
            if len < 16 || len > packet.len() {
                return Err(NetflowError::MessageLength {
                    claimed: len,
                    have: packet.len(),
                });
            }
            let t = PacketTime {
                export_secs: secs,
                sys_uptime_ms: None,
            };
            (t, dom, 16, &packet[16..len])
        };
        let (tpl_set, opt_set) = if version == 9 { (0, 1) } else { (2, 3) };
        let mut rest = body;
        let mut at = header_len;
        while !rest.is_empty() {
            let mut h = Rd { b: rest };
            let (id, len) = match (h.u16(), h.u16()) {
                (Some(id), Some(len)) => (id, usize::from(len)),
                _ if rest.iter().all(|&b| b == 0) => break, // zero padding after the last set
                _ => {
                    return Err(NetflowError::SetLength {
                        id: 0,
                        at,
                        len: rest.len(),
                        left: rest.len(),
                    });
                }
            };
            if len < 4 || len > rest.len() {
                if rest.iter().all(|&b| b == 0) {
                    break; // some exporters zero-fill the datagram after the last set
                }
                return Err(NetflowError::SetLength {
                    id,
                    at,
                    len,
                    left: rest.len(),
                });
            }
            let set = &rest[4..len];
            let key = |tid: u16| Key {
                exporter,
                version,
                domain,
                id: tid,
            };
            if id == tpl_set || id == opt_set {
                self.template_set(version, id == opt_set, set, &key, &mut sum)?;
            } else if id >= 256 {
                match self.templates.get(&key(id)) {
                    Some(t) => data_set(t, id, version, time, set, out, &mut sum)?,
                    None => sum.unknown_template_sets += 1,
                }
            }
            // Set ids 2..=255 (v9) / 4..=255 (IPFIX) are reserved: skipped by length.
            rest = &rest[len..];
            at += len;
        }
        Ok(sum)
    }

    /// Reads every template record of a (v9 / IPFIX, data / options) template set.
    fn template_set(
        &mut self,
        version: u16,
        options: bool,
        set: &[u8],
        key: &dyn Fn(u16) -> Key,
        sum: &mut Summary,
    ) -> Result<(), NetflowError> {
        let mut r = Rd { b: set };
        // A template record header is at least 4 bytes; less is padding.
        while r.b.len() >= 4 {
            let tid = r.u16().unwrap_or(0);
            let trunc = NetflowError::TemplateTruncated { id: tid };
            // (field count, scope field count) in specifiers
            let (count, scope) = if options && version == 9 {
                let scope_len = usize::from(r.u16().ok_or(trunc.clone())?);
                let opt_len = usize::from(r.u16().ok_or(trunc.clone())?);
                if scope_len % 4 != 0 || opt_len % 4 != 0 {
                    return Err(NetflowError::OptionsLayout { id: tid });
                }
                ((scope_len + opt_len) / 4, scope_len / 4)
            } else if options {
                let count = usize::from(r.u16().ok_or(trunc.clone())?);
                if count == 0 {
                    self.withdraw(key(tid), sum);
                    continue;
                }
                let scope = usize::from(r.u16().ok_or(trunc.clone())?);
                if scope > count {
                    return Err(NetflowError::OptionsLayout { id: tid });
                }
                (count, scope)
            } else {
                let count = usize::from(r.u16().ok_or(trunc.clone())?);
                if count == 0 {
                    if version == 10 {
                        self.withdraw(key(tid), sum);
                    }
                    continue;
                }
                (count, 0)
            };
            let _ = scope;
            if tid < 256 {
                return Err(NetflowError::TemplateId { id: tid });
            }
            self.scratch.clear();
            for _ in 0..count {
                let raw_id = r.u16().ok_or(trunc.clone())?;
                let len = r.u16().ok_or(trunc.clone())?;
                let (id, pen) = if version == 10 && raw_id & 0x8000 != 0 {
                    (raw_id & 0x7FFF, r.u32().ok_or(trunc.clone())?)
                } else {
                    (raw_id, 0)
                };
                if self.scratch.len() < MAX_FIELDS {
                    self.scratch.push(Spec { id, len, pen });
                }
            }
            if count > MAX_FIELDS {
                sum.templates_refused += 1;
                continue;
            }
            self.store(key(tid), options, sum);
        }
        Ok(())
    }

    fn withdraw(&mut self, k: Key, sum: &mut Summary) {
        if self.templates.remove(&k).is_some() {
            if let Some(n) = self.per_exporter.get_mut(&k.exporter) {
                *n = n.saturating_sub(1);
            }
            sum.withdrawn += 1;
        }
    }

    fn store(&mut self, k: Key, options: bool, sum: &mut Summary) {
        let min_len = self
            .scratch
            .iter()
            .map(|s| {
                if s.len == VARIABLE {
                    1
                } else {
                    usize::from(s.len)
                }
            })
            .sum();
        if let Some(t) = self.templates.get_mut(&k) {
            // A refresh of a known template: replace in place (no cap change).
            if t.options != options || *t.specs != *self.scratch {
                t.specs = self.scratch.as_slice().into();
                t.options = options;
                t.min_len = min_len;
            }
            sum.templates += 1;
            return;
        }
        let n = self.per_exporter.get(&k.exporter).copied().unwrap_or(0);
        if self.templates.len() >= MAX_TEMPLATES || n >= MAX_TEMPLATES_PER_EXPORTER {
            sum.templates_refused += 1;
            return;
        }
        self.templates.insert(
            k,
            Template {
                specs: self.scratch.as_slice().into(),
                options,
                min_len,
            },
        );
        *self.per_exporter.entry(k.exporter).or_insert(0) += 1;
        sum.templates += 1;
    }
}

/// Decodes the records of one data set with its template.
fn data_set(
    t: &Template,
    id: u16,
    version: u16,
    time: PacketTime,
    set: &[u8],
    out: &mut Vec<FlowRecord>,
    sum: &mut Summary,
) -> Result<(), NetflowError> {
    if t.min_len == 0 {
        return Ok(()); // every field zero-length: records carry nothing (and cannot be counted)
    }
    let mut r = Rd { b: set };
    // Fewer bytes left than the shortest record: padding at the end of the set.
    while r.b.len() >= t.min_len {
        let before = r;
        let mut acc = Acc::default();
        let trunc = NetflowError::RecordTruncated { id };
        for &s in t.specs.iter() {
            let len = if s.len == VARIABLE {
                match r.u8().ok_or(trunc.clone())? {
                    255 => usize::from(r.u16().ok_or(trunc.clone())?),
                    n => usize::from(n),
                }
            } else {
                usize::from(s.len)
            };
            match r.take(len) {
                Some(v) => {
                    if !t.options && !v.is_empty() {
                        acc.field(s, v);
                    }
                }
                None if before.b.iter().all(|&b| b == 0) => return Ok(()), // zero padding
                None => return Err(trunc),
            }
        }
        if t.options {
            sum.options_records += 1;
        } else {
            out.push(acc.finish(version, time));
            sum.flows += 1;
        }
    }
    Ok(())
}

/// NetFlow v5: a 24-byte header and `count` fixed 48-byte records (Cisco's layout).
fn decode_v5(packet: &[u8], out: &mut Vec<FlowRecord>) -> Result<Summary, NetflowError> {
    const HEADER: usize = 24;
    const RECORD: usize = 48;
    if packet.len() < HEADER {
        return Err(NetflowError::ShortHeader { len: packet.len() });
    }
    let mut h = Rd {
        b: &packet[2..HEADER],
    };
    let count = h.u16().unwrap_or(0);
    let up = h.u32().unwrap_or(0);
    let secs = h.u32().unwrap_or(0);
    let nsecs = h.u32().unwrap_or(0);
    if count == 0 || usize::from(count) > V5_MAX_COUNT {
        return Err(NetflowError::V5Count { count });
    }
    let need = HEADER + usize::from(count) * RECORD;
    if packet.len() < need {
        return Err(NetflowError::V5Truncated {
            count,
            need,
            have: packet.len(),
        });
    }
    let export = i64::from(secs) * 1_000_000 + i64::from(nsecs.min(999_999_999)) / 1000;
    for rec in packet[HEADER..need].chunks_exact(RECORD) {
        let mut r = Rd { b: rec };
        let mut f = FlowRecord::default();
        let ip4 = |r: &mut Rd| {
            r.take(4)
                .map(|s| IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3])))
        };
        f.src_ip = ip4(&mut r);
        f.dst_ip = ip4(&mut r);
        let _nexthop = r.take(4);
        let input = r.u16().unwrap_or(0);
        let _output = r.u16();
        f.packets = r.u32().map(u64::from);
        f.bytes = r.u32().map(u64::from);
        let first = r.u32().unwrap_or(0);
        let _last = r.u32();
        let sport = r.u16();
        let dport = r.u16();
        let _pad = r.u8();
        let _flags = r.u8();
        let proto = Proto(r.u8().unwrap_or(0));
        f.proto = Some(proto);
        if !proto.is_icmp() {
            f.src_port = sport;
            f.dst_port = dport;
        }
        f.set_in_if(u32::from(input));
        f.ts = Some(export - i64::from(up.wrapping_sub(first)) * 1000);
        out.push(f);
    }
    Ok(Summary {
        version: 5,
        flows: usize::from(count),
        ..Summary::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn exporter() -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    fn be16(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_be_bytes());
    }
    fn be32(v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&x.to_be_bytes());
    }

    /// A v5 packet with one TCP record 10.0.0.1:1234 -> 10.0.0.2:80, 3 packets, 180 bytes.
    fn v5_packet() -> Vec<u8> {
        let mut p = Vec::new();
        be16(&mut p, 5);
        be16(&mut p, 1);
        be32(&mut p, 10_000); // uptime ms
        be32(&mut p, 1_700_000_000);
        be32(&mut p, 500_000_000);
        be32(&mut p, 1);
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 0]);
        be16(&mut p, 3); // input
        be16(&mut p, 4);
        be32(&mut p, 3);
        be32(&mut p, 180);
        be32(&mut p, 8_000); // first: 2 s before export
        be32(&mut p, 9_000);
        be16(&mut p, 1234);
        be16(&mut p, 80);
        p.extend_from_slice(&[0, 0x12, 6, 0, 0, 0, 0, 0, 24, 24, 0, 0]);
        p
    }

    #[test]
    fn v5_record() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let s = d.decode(exporter(), &v5_packet(), &mut out).unwrap();
        assert_eq!(s.flows, 1);
        let e = out[0].event();
        assert_eq!(
            e,
            Event {
                ts: Some(1_699_999_998_500_000),
                src_ip: Some("10.0.0.1".parse().unwrap()),
                dst_ip: Some("10.0.0.2".parse().unwrap()),
                src_port: Some(1234),
                dst_port: Some(80),
                proto: Some(Proto::TCP),
                iface: Some("3"),
                bytes: Some(180),
                packets: Some(3),
                ..Event::default()
            }
        );
        let p = v5_packet();
        assert_eq!(
            d.decode(exporter(), &p[..p.len() - 1], &mut out),
            Err(NetflowError::V5Truncated {
                count: 1,
                need: 72,
                have: 71
            })
        );
    }

    /// A v9 packet: template 256 (IN_BYTES, OUT_BYTES, IPV4_SRC_ADDR) and one data record.
    fn v9_in_out(in_bytes: u32, out_bytes: u32) -> Vec<u8> {
        let mut p = Vec::new();
        be16(&mut p, 9);
        be16(&mut p, 2); // two records: the template and the flow
        be32(&mut p, 10_000);
        be32(&mut p, 1_700_000_000);
        be32(&mut p, 1);
        be32(&mut p, 0); // source id
        be16(&mut p, 0); // template flowset
        be16(&mut p, 4 + 4 + 3 * 4);
        be16(&mut p, 256);
        be16(&mut p, 3);
        for (ty, len) in [(1u16, 4u16), (23, 4), (8, 4)] {
            be16(&mut p, ty);
            be16(&mut p, len);
        }
        be16(&mut p, 256); // data flowset
        be16(&mut p, 4 + 12);
        be32(&mut p, in_bytes);
        be32(&mut p, out_bytes);
        p.extend_from_slice(&[10, 0, 0, 1]);
        p
    }

    #[test]
    fn egress_counter_only_when_the_ingress_one_is_absent() {
        let bytes = |p: Vec<u8>| {
            let mut out = Vec::new();
            Decoder::new().decode(exporter(), &p, &mut out).unwrap();
            out[0].event().bytes
        };
        // IN_BYTES present: reported as exported, 0 included (OUT_BYTES counts the same flow on
        // the egress side and is never added).
        assert_eq!(bytes(v9_in_out(500, 500)), Some(500));
        assert_eq!(bytes(v9_in_out(0, 32)), Some(0));
    }

    #[test]
    fn ports_as_exported_except_icmp() {
        // v5 record: sport at offset 24+32, dport at 24+34, protocol at 24+38.
        let with = |proto: u8, sport: u16, dport: u16| {
            let mut p = v5_packet();
            p[56..58].copy_from_slice(&sport.to_be_bytes());
            p[58..60].copy_from_slice(&dport.to_be_bytes());
            p[62] = proto;
            let mut out = Vec::new();
            Decoder::new().decode(exporter(), &p, &mut out).unwrap();
            let e = out[0].event();
            (e.proto, e.src_port, e.dst_port)
        };
        // GRE, IGMP, PIM and protocol 0 carry no ports, but 0 0 is what the exporter wrote.
        for proto in [47, 2, 103, 0] {
            assert_eq!(with(proto, 0, 0), (Some(Proto(proto)), Some(0), Some(0)));
        }
        // ICMP echo request (type 8, code 0 -> 0x0800) and ICMPv6 echo (128 -> 0x8000).
        assert_eq!(with(1, 0, 0x0800), (Some(Proto::ICMP), None, None));
        assert_eq!(with(58, 0, 0x8000), (Some(Proto::ICMPV6), None, None));
        // The same in a templated (IPFIX) record: protocol byte after the two ports.
        let ipfix = |proto: u8| {
            let mut p = ipfix_packet();
            let at = p
                .windows(5)
                .position(|w| w == [0x14, 0xe9, 0, 53, 17])
                .unwrap()
                + 4;
            p[at] = proto;
            let mut out = Vec::new();
            Decoder::new().decode(exporter(), &p, &mut out).unwrap();
            let e = out[0].event();
            (e.src_port, e.dst_port)
        };
        assert_eq!(ipfix(2), (Some(5353), Some(53)));
        assert_eq!(ipfix(1), (None, None));
        assert_eq!(ipfix(58), (None, None));
    }

    /// IPFIX message: template 300 (with an enterprise field and a variable-length field) and
    /// one data record, in the same message.
    fn ipfix_packet() -> Vec<u8> {
        let mut b = Vec::new();
        // template set
        let mut t = Vec::new();
        be16(&mut t, 300);
        be16(&mut t, 9);
        for (id, len) in [
            (8u16, 4u16),
            (12, 4),
            (7, 2),
            (11, 2),
            (4, 1),
            (1, 2),
            (2, 4),
        ] {
            be16(&mut t, id);
            be16(&mut t, len);
        }
        be16(&mut t, 0x8000 | 42);
        be16(&mut t, 3);
        be32(&mut t, 9999); // enterprise field, 3 bytes, skipped
        be16(&mut t, 82); // interfaceName, variable length
        be16(&mut t, 0xFFFF);
        be16(&mut b, 2);
        be16(&mut b, (t.len() + 4) as u16);
        b.extend_from_slice(&t);
        // data set
        let mut r = vec![192, 0, 2, 1, 198, 51, 100, 2];
        be16(&mut r, 5353);
        be16(&mut r, 53);
        r.push(17);
        be16(&mut r, 400); // reduced-size octetDeltaCount
        be32(&mut r, 4);
        r.extend_from_slice(&[1, 2, 3]);
        r.extend_from_slice(&[4, b'e', b't', b'h', b'0']);
        r.extend_from_slice(&[0, 0]); // padding
        be16(&mut b, 300);
        be16(&mut b, (r.len() + 4) as u16);
        b.extend_from_slice(&r);
        let mut p = Vec::new();
        be16(&mut p, 10);
        be16(&mut p, (b.len() + 16) as u16);
        be32(&mut p, 1_700_000_000);
        be32(&mut p, 7);
        be32(&mut p, 1);
        p.extend_from_slice(&b);
        p
    }

    #[test]
    fn ipfix_template_and_data() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let s = d.decode(exporter(), &ipfix_packet(), &mut out).unwrap();
        assert_eq!((s.version, s.templates, s.flows), (10, 1, 1));
        assert_eq!(
            out[0].event(),
            Event {
                ts: Some(1_700_000_000_000_000),
                src_ip: Some("192.0.2.1".parse().unwrap()),
                dst_ip: Some("198.51.100.2".parse().unwrap()),
                src_port: Some(5353),
                dst_port: Some(53),
                proto: Some(Proto::UDP),
                bytes: Some(400),
                packets: Some(4),
                ..Event::default()
            }
        );
        // Another exporter does not share the template.
        out.clear();
        let s = d
            .decode(
                "10.9.9.9".parse().unwrap(),
                &data_only(&ipfix_packet()),
                &mut out,
            )
            .unwrap();
        assert_eq!((s.flows, s.unknown_template_sets), (0, 1));
    }

    /// The IPFIX packet with its template set removed.
    fn data_only(p: &[u8]) -> Vec<u8> {
        let tlen = usize::from(u16::from_be_bytes([p[18], p[19]]));
        let mut q = p[..16].to_vec();
        q.extend_from_slice(&p[16 + tlen..]);
        let n = q.len() as u16;
        q[2..4].copy_from_slice(&n.to_be_bytes());
        q
    }

    #[test]
    fn hostile_lengths_are_errors() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let mut p = ipfix_packet();
        p[2..4].copy_from_slice(&5000u16.to_be_bytes());
        assert!(matches!(
            d.decode(exporter(), &p, &mut out),
            Err(NetflowError::MessageLength { claimed: 5000, .. })
        ));
        let mut p = ipfix_packet();
        p[18..20].copy_from_slice(&2u16.to_be_bytes()); // set length 2 < 4
        assert!(matches!(
            d.decode(exporter(), &p, &mut out),
            Err(NetflowError::SetLength { id: 2, len: 2, .. })
        ));
        assert_eq!(
            d.decode(exporter(), &[0, 7, 1], &mut out),
            Err(NetflowError::Version(7))
        );
        assert_eq!(
            d.decode(exporter(), &[0], &mut out),
            Err(NetflowError::ShortHeader { len: 1 })
        );
    }

    #[test]
    fn template_caps() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        // One v9 packet with many small templates: the per-exporter cap refuses the excess.
        let mut set = Vec::new();
        for id in 256..(256 + MAX_TEMPLATES_PER_EXPORTER as u16 + 10) {
            be16(&mut set, id);
            be16(&mut set, 1);
            be16(&mut set, 8);
            be16(&mut set, 4);
        }
        for chunk in set.chunks(8 * 1000) {
            let mut p = Vec::new();
            be16(&mut p, 9);
            be16(&mut p, 0);
            be32(&mut p, 0);
            be32(&mut p, 0);
            be32(&mut p, 0);
            be32(&mut p, 0);
            be16(&mut p, 0);
            be16(&mut p, (chunk.len() + 4) as u16);
            p.extend_from_slice(chunk);
            d.decode(exporter(), &p, &mut out).unwrap();
        }
        assert_eq!(d.template_count(), MAX_TEMPLATES_PER_EXPORTER);
    }

    #[test]
    fn never_panics() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let seeds = [v5_packet(), ipfix_packet()];
        for p in &seeds {
            for end in 0..=p.len() {
                let _ = d.decode(exporter(), &p[..end], &mut out);
            }
            let mut m = p.clone();
            for _ in 0..20_000 {
                let i = (next() as usize) % m.len();
                let old = m[i];
                m[i] = (next() >> 40) as u8;
                let _ = d.decode(exporter(), &m, &mut out);
                m[i] = old;
                out.clear();
            }
        }
        let mut buf = Vec::new();
        for _ in 0..20_000 {
            buf.clear();
            let len = (next() % 200) as usize;
            buf.extend([0u8, [5u8, 9, 10][(next() % 3) as usize]]);
            for _ in 0..len {
                buf.push((next() >> 24) as u8);
            }
            let _ = d.decode(exporter(), &buf, &mut out);
            out.clear();
        }
        assert!(d.template_count() <= MAX_TEMPLATES);
    }
}
