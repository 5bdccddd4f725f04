//! Per-10-second slots for the last hour holding everything that is merged on demand: the nine
//! Space-Saving summaries (src, dst, dport, pair, talkers and the denied variants), the rare-port
//! counter and the two HyperLogLog sketches (distinct src/dst). Merging happens only when a
//! snapshot/update asks (at most once per second), never per record.
//!
//! Windows are whole slots: `1m` = the current (filling) slot plus the 5 before it, so it covers
//! between 50 and 60 s of traffic; likewise 5m = 30 slots, 15m = 90, 1h = 360. One backward pass
//! per kind serves all four windows (they are nested).
//!
//! Slots are allocated on first use and then reused forever (`clear` keeps capacity), so the
//! worst case is 360 full slots — see docs/AGGREGATION.md for the numbers.

use std::hash::Hash;

use crate::event::Proto;

use super::cidr::key_ip;
use super::hll;
use super::rare::{Rare, RareMerger};
use super::snapshot::{FlowEntry, FlowsOut, PerWindow, PortHeat, TopEntry, TopN, TopWindow};
use super::spacesaving::{Merged, Merger, SpaceSaving};

/// Slot width in seconds.
pub const SLOT_S: i64 = 10;
/// Slots kept (1 h).
pub const SLOTS: usize = 360;
/// Slots per window: 1m, 5m, 15m, 1h.
pub const WINDOW_SLOTS: [usize; 4] = [6, 30, 90, 360];

pub type Pair = (u128, u128);
/// A flow: source, destination and [`flow_key`] (protocol + destination port).
pub type Flow = (u128, u128, u32);
/// Flows carried per window (`flows` in the snapshot).
pub const FLOWS_N: usize = 40;
/// Destination ports in `port_heat` (the hour's most denied).
pub const HEAT_PORTS: usize = 12;
/// Columns of `port_heat`: one per minute of the last hour.
pub const HEAT_MINUTES: i64 = 60;
/// Set in a [`flow_key`] when the record had no destination port.
const FLOW_NO_PORT: u32 = 1 << 24;

pub struct TopSlot {
    epoch: i64,
    pub src: SpaceSaving<u128>,
    pub dst: SpaceSaving<u128>,
    pub dport: SpaceSaving<u32>,
    pub pair: SpaceSaving<Pair>,
    pub talkers: SpaceSaving<u128>,
    pub denied_src: SpaceSaving<u128>,
    pub denied_dst: SpaceSaving<u128>,
    pub denied_dport: SpaceSaving<u32>,
    pub denied_pair: SpaceSaving<Pair>,
    pub flow: SpaceSaving<Flow>,
    pub rare: Rare,
    pub hll_src: Box<[u8]>,
    pub hll_dst: Box<[u8]>,
}

impl TopSlot {
    fn new(epoch: i64, cap: usize, rare_cap: usize) -> Self {
        TopSlot {
            epoch,
            src: SpaceSaving::new(cap),
            dst: SpaceSaving::new(cap),
            dport: SpaceSaving::new(cap),
            pair: SpaceSaving::new(cap),
            talkers: SpaceSaving::new(cap),
            denied_src: SpaceSaving::new(cap),
            denied_dst: SpaceSaving::new(cap),
            denied_dport: SpaceSaving::new(cap),
            denied_pair: SpaceSaving::new(cap),
            flow: SpaceSaving::new(cap),
            rare: Rare::new(rare_cap),
            hll_src: vec![0u8; hll::M].into_boxed_slice(),
            hll_dst: vec![0u8; hll::M].into_boxed_slice(),
        }
    }

    fn clear(&mut self, epoch: i64) {
        self.epoch = epoch;
        self.src.clear();
        self.dst.clear();
        self.dport.clear();
        self.pair.clear();
        self.talkers.clear();
        self.denied_src.clear();
        self.denied_dst.clear();
        self.denied_dport.clear();
        self.denied_pair.clear();
        self.flow.clear();
        self.rare.clear();
        self.hll_src.fill(0);
        self.hll_dst.fill(0);
    }

    /// Largest number of counters in any summary of this slot (for the cap tests).
    pub fn max_len(&self) -> usize {
        [
            self.src.len(),
            self.dst.len(),
            self.dport.len(),
            self.pair.len(),
            self.talkers.len(),
            self.denied_src.len(),
            self.denied_dst.len(),
            self.denied_dport.len(),
            self.denied_pair.len(),
            self.flow.len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<TopSlot>()
            + self.src.heap_bytes()
            + self.dst.heap_bytes()
            + self.dport.heap_bytes()
            + self.pair.heap_bytes()
            + self.talkers.heap_bytes()
            + self.denied_src.heap_bytes()
            + self.denied_dst.heap_bytes()
            + self.denied_dport.heap_bytes()
            + self.denied_pair.heap_bytes()
            + self.flow.heap_bytes()
            + self.rare.heap_bytes()
            + 2 * hll::M
    }
}

pub struct TopSlots {
    slots: Vec<Option<Box<TopSlot>>>,
    cap: usize,
    rare_cap: usize,
}

impl TopSlots {
    pub fn new(cap: usize, rare_cap: usize) -> Self {
        TopSlots {
            slots: (0..SLOTS).map(|_| None).collect(),
            cap,
            rare_cap,
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn rare_cap(&self) -> usize {
        self.rare_cap
    }

    /// The slot for absolute slot index `idx`, allocated or cleared as needed.
    pub fn slot_mut(&mut self, idx: i64) -> &mut TopSlot {
        let (cap, rare_cap) = (self.cap, self.rare_cap);
        let s = self.slots[idx.rem_euclid(SLOTS as i64) as usize]
            .get_or_insert_with(|| Box::new(TopSlot::new(idx, cap, rare_cap)));
        if s.epoch != idx {
            s.clear(idx);
        }
        s
    }

    pub fn get(&self, idx: i64) -> Option<&TopSlot> {
        self.slots[idx.rem_euclid(SLOTS as i64) as usize]
            .as_deref()
            .filter(|s| s.epoch == idx)
    }

    pub fn allocated(&self) -> impl Iterator<Item = &TopSlot> {
        self.slots.iter().filter_map(|s| s.as_deref())
    }

    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 8 + self.allocated().map(TopSlot::heap_bytes).sum::<usize>()
    }

    /// Distinct src/dst estimates per window, ending with slot `cur`.
    pub fn distinct(&self, cur: i64) -> (PerWindow, PerWindow) {
        let mut src = vec![0u8; hll::M];
        let mut dst = vec![0u8; hll::M];
        let mut out = [[0u64; 4]; 2];
        let mut w = 0;
        for i in 0..SLOTS {
            if let Some(s) = self.get(cur - i as i64) {
                hll::merge(&mut src, &s.hll_src);
                hll::merge(&mut dst, &s.hll_dst);
            }
            if i + 1 == WINDOW_SLOTS[w] {
                out[0][w] = hll::estimate(&src).round() as u64;
                out[1][w] = hll::estimate(&dst).round() as u64;
                w += 1;
            }
        }
        let pw = |a: [u64; 4]| PerWindow {
            m1: a[0],
            m5: a[1],
            m15: a[2],
            h1: a[3],
        };
        (pw(out[0]), pw(out[1]))
    }

    /// Merges one kind over all four windows ending with slot `cur`.
    fn ranked<K: Copy + Eq + Hash + Ord>(
        &self,
        cur: i64,
        n: usize,
        pick: impl Fn(&TopSlot) -> &SpaceSaving<K>,
        entry: impl Fn(&Merged<K>) -> TopEntry,
    ) -> [Vec<TopEntry>; 4] {
        let mut m = Merger::new();
        let mut out: [Vec<TopEntry>; 4] = Default::default();
        let mut w = 0;
        for i in 0..SLOTS {
            if let Some(s) = self.get(cur - i as i64) {
                m.add(pick(s));
            }
            if i + 1 == WINDOW_SLOTS[w] {
                out[w] = m.top(n).iter().map(&entry).collect();
                w += 1;
            }
        }
        out
    }

    fn rare(&self, cur: i64, n: usize) -> [Vec<TopEntry>; 4] {
        let mut m = RareMerger::default();
        let mut out: [Vec<TopEntry>; 4] = Default::default();
        let mut w = 0;
        for i in 0..SLOTS {
            if let Some(s) = self.get(cur - i as i64) {
                m.add(&s.rare);
            }
            if i + 1 == WINDOW_SLOTS[w] {
                out[w] = m
                    .bottom(n)
                    .into_iter()
                    .map(|(k, c, b)| TopEntry {
                        key: port_key_string(k),
                        count: c,
                        bytes: b,
                        error: 0,
                    })
                    .collect();
                w += 1;
            }
        }
        out
    }

    /// The top [`FLOWS_N`] flows (by events) of every window ending with slot `cur`.
    pub fn flows(&self, cur: i64) -> FlowsOut {
        let mut m = Merger::new();
        let mut out: [Vec<FlowEntry>; 4] = Default::default();
        let mut w = 0;
        for i in 0..SLOTS {
            if let Some(s) = self.get(cur - i as i64) {
                m.add(&s.flow);
            }
            if i + 1 == WINDOW_SLOTS[w] {
                out[w] = m
                    .top(FLOWS_N)
                    .iter()
                    .map(|f: &Merged<Flow>| {
                        let (service, proto) = flow_key_strings(f.key.2);
                        FlowEntry {
                            src: key_ip(f.key.0).to_string(),
                            dst: key_ip(f.key.1).to_string(),
                            service,
                            proto,
                            count: f.count,
                            bytes: f.aux,
                            error: f.error,
                        }
                    })
                    .collect();
                w += 1;
            }
        }
        let [m1, m5, m15, h1] = out;
        FlowsOut { m1, m5, m15, h1 }
    }

    /// Denied events per destination port and minute over the last hour, for the
    /// [`HEAT_PORTS`] most denied ports of that hour. Read from the slots' `denied_dport`
    /// summaries (a port a slot did not monitor counts zero there: a lower bound).
    pub fn port_heat(&self, cur: i64) -> PortHeat {
        let cur_min = (cur * SLOT_S).div_euclid(60);
        let first_min = cur_min - HEAT_MINUTES + 1;
        let first_slot = (first_min * 60)
            .div_euclid(SLOT_S)
            .max(cur - SLOTS as i64 + 1);
        let mut m = Merger::new();
        for idx in first_slot..=cur {
            if let Some(s) = self.get(idx) {
                m.add(&s.denied_dport);
            }
        }
        let top: Vec<u32> = m.top(HEAT_PORTS).iter().map(|e| e.key).collect();
        let mut counts = vec![vec![0u64; HEAT_MINUTES as usize]; top.len()];
        if !top.is_empty() {
            for idx in first_slot..=cur {
                let Some(s) = self.get(idx) else { continue };
                let col = ((idx * SLOT_S).div_euclid(60) - first_min) as usize;
                for (k, c, _, _) in s.denied_dport.iter() {
                    if let Some(row) = top.iter().position(|&t| t == k) {
                        counts[row][col] += c;
                    }
                }
            }
        }
        PortHeat {
            step_s: 60,
            end: cur_min * 60,
            ports: top.iter().map(|&k| port_key_string(k)).collect(),
            counts,
        }
    }

    /// All top-N lists for all windows ending with slot `cur`.
    pub fn topn(&self, cur: i64, n: usize) -> TopN {
        let ip = |m: &Merged<u128>| TopEntry {
            key: key_ip(m.key).to_string(),
            count: m.count,
            bytes: m.aux,
            error: m.error,
        };
        let talker = |m: &Merged<u128>| TopEntry {
            key: key_ip(m.key).to_string(),
            count: m.aux,
            bytes: m.count,
            error: m.error,
        };
        let port = |m: &Merged<u32>| TopEntry {
            key: port_key_string(m.key),
            count: m.count,
            bytes: m.aux,
            error: m.error,
        };
        let pair = |m: &Merged<Pair>| TopEntry {
            key: format!("{} > {}", key_ip(m.key.0), key_ip(m.key.1)),
            count: m.count,
            bytes: m.aux,
            error: m.error,
        };
        let [s0, s1, s2, s3] = self.ranked(cur, n, |s| &s.src, ip);
        let [d0, d1, d2, d3] = self.ranked(cur, n, |s| &s.dst, ip);
        let [p0, p1, p2, p3] = self.ranked(cur, n, |s| &s.dport, port);
        let [a0, a1, a2, a3] = self.ranked(cur, n, |s| &s.pair, pair);
        let [t0, t1, t2, t3] = self.ranked(cur, n, |s| &s.talkers, talker);
        let [ds0, ds1, ds2, ds3] = self.ranked(cur, n, |s| &s.denied_src, ip);
        let [dd0, dd1, dd2, dd3] = self.ranked(cur, n, |s| &s.denied_dst, ip);
        let [dp0, dp1, dp2, dp3] = self.ranked(cur, n, |s| &s.denied_dport, port);
        let [da0, da1, da2, da3] = self.ranked(cur, n, |s| &s.denied_pair, pair);
        let [r0, r1, r2, r3] = self.rare(cur, n);
        #[rustfmt::skip]
        let tw = |src, dst, dport, pair, talkers, denied_src, denied_dst, denied_dport, denied_pair, rare_dport| TopWindow {
            src, dst, dport, pair, talkers, denied_src, denied_dst, denied_dport, denied_pair, rare_dport,
        };
        TopN {
            m1: tw(s0, d0, p0, a0, t0, ds0, dd0, dp0, da0, r0),
            m5: tw(s1, d1, p1, a1, t1, ds1, dd1, dp1, da1, r1),
            m15: tw(s2, d2, p2, a2, t2, ds2, dd2, dp2, da2, r2),
            h1: tw(s3, d3, p3, a3, t3, ds3, dd3, dp3, da3, r3),
        }
    }
}

/// Port key: protocol number in bits 16..24, port in bits 0..16.
#[inline]
pub fn port_key(proto: Proto, port: u16) -> u32 {
    (u32::from(proto.0) << 16) | u32::from(port)
}

/// Flow key: a port key, or protocol with [`FLOW_NO_PORT`] when the record had no port (ICMP,
/// GRE, …; protocol 255 when the record had none).
#[inline]
pub fn flow_key(proto: Option<Proto>, port: Option<u16>) -> u32 {
    match (proto, port) {
        (Some(p), Some(port)) if p.has_ports() => port_key(p, port),
        (Some(p), _) => FLOW_NO_PORT | (u32::from(p.0) << 16),
        (None, _) => FLOW_NO_PORT | (255 << 16),
    }
}

/// `("tcp/443", "tcp")`, `("icmp", "icmp")`, `("other", "other")`.
pub fn flow_key_strings(k: u32) -> (String, String) {
    let proto = Proto(((k >> 16) & 0xff) as u8);
    let name = match proto.keyword() {
        Some(kw) => kw.to_string(),
        None if proto.0 == 255 => "other".to_string(),
        None => proto.0.to_string(),
    };
    if k & FLOW_NO_PORT != 0 {
        (name.clone(), name)
    } else {
        (port_key_string(k & 0xff_ffff), name)
    }
}

/// `tcp/443`; protocols without a keyword print their number (`253/7`).
pub fn port_key_string(k: u32) -> String {
    let proto = Proto((k >> 16) as u8);
    let port = k & 0xffff;
    match proto.keyword() {
        Some(kw) => format!("{kw}/{port}"),
        None => format!("{}/{port}", proto.0),
    }
}
