//! Pieces the traffic detectors share: the clock in whole seconds, compact sample events for the
//! evidence, exponentially weighted baselines, linear-counting bitmaps for small distinct counts,
//! the severity curve, and number formatting for summaries an executive can read.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::Obs;
use crate::aggregate::key_ip;
use crate::event::{Action, Micros, Proto, TcpFlags};

pub const US: i64 = 1_000_000;

/// A continuing behaviour is reported again at most this often per entity: the anomaly table
/// merges by kind + entity, so more often would only churn it.
pub const REPORT_EVERY_S: u32 = 60;

/// The engine's clock in whole seconds (u32 holds Unix seconds until 2106; entries store it).
#[inline]
pub fn sec(now: Micros) -> u32 {
    now.div_euclid(US).clamp(0, i64::from(u32::MAX)) as u32
}

/// `proto << 16 | port`, the aggregator's port key.
#[inline]
pub fn port_key(proto: Proto, port: u16) -> u32 {
    (u32::from(proto.0) << 16) | u32::from(port)
}

/// `445/tcp`, `icmp`.
pub fn port_label(key: u32) -> String {
    let proto = Proto((key >> 16) as u8);
    let name = proto
        .keyword()
        .map_or_else(|| proto.0.to_string(), str::to_string);
    if proto.has_ports() {
        format!("{}/{name}", key & 0xffff)
    } else {
        name
    }
}

pub fn ip(k: u128) -> IpAddr {
    key_ip(k)
}

/// One event kept as evidence: 48 bytes, copied on the hot path without allocating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    pub src: u128,
    pub dst: u128,
    /// Seconds (the engine's clock).
    pub at: u32,
    /// Bytes, saturated at `u32::MAX`.
    pub bytes: u32,
    pub sport: u16,
    pub dport: u16,
    /// IANA protocol number + 1 (0: unknown).
    pub proto: u8,
    /// 0 unknown, 1 allow, 2 deny.
    pub action: u8,
    pub flags: u8,
}

impl Sample {
    #[inline]
    pub fn of(o: &Obs<'_>) -> Sample {
        let r = o.r;
        Sample {
            src: o.src.unwrap_or(0),
            dst: o.dst.unwrap_or(0),
            at: sec(o.now),
            bytes: u32::try_from(r.bytes).unwrap_or(u32::MAX),
            sport: r.src_port.unwrap_or(0),
            dport: r.dst_port.unwrap_or(0),
            proto: r.proto.map_or(0, |p| p.0.saturating_add(1)),
            action: match r.action {
                None => 0,
                Some(Action::Allow) => 1,
                Some(Action::Deny) => 2,
            },
            flags: r.tcp_flags.0,
        }
    }

    /// Whether this slot holds a sample.
    pub fn is_set(&self) -> bool {
        self.at != 0
    }

    /// `{"at","src","dst","proto","src_port","dst_port","action","tcp_flags","bytes"}`.
    pub fn json(&self) -> Value {
        let proto = (self.proto > 0).then(|| Proto(self.proto - 1));
        let ports = proto.is_some_and(Proto::has_ports);
        json!({
            "at": crate::aggregate::rfc3339_millis(i64::from(self.at) * US),
            "src": ip(self.src).to_string(),
            "dst": ip(self.dst).to_string(),
            "proto": proto.map(|p| p.keyword().map_or_else(|| p.0.to_string(), str::to_string)),
            "src_port": ports.then_some(self.sport),
            "dst_port": ports.then_some(self.dport),
            "action": match self.action { 1 => Some("allow"), 2 => Some("deny"), _ => None },
            "tcp_flags": flags_text(TcpFlags(self.flags)),
            "bytes": self.bytes,
        })
    }
}

/// `"S"`, `"SA"`, `"SR (connection)"`; `None` when unknown.
pub fn flags_text(f: TcpFlags) -> Option<String> {
    if !f.is_known() {
        return None;
    }
    let mut s = String::new();
    for (flag, c) in [
        (TcpFlags::SYN, 'S'),
        (TcpFlags::ACK, 'A'),
        (TcpFlags::FIN, 'F'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::URG, 'U'),
    ] {
        if f.has(flag) {
            s.push(c);
        }
    }
    if f.is_conn() {
        s.push_str(" (connection)");
    }
    Some(s)
}

/// Up to `n` set samples as JSON, most recent first.
pub fn samples_json<'a>(samples: impl IntoIterator<Item = &'a Sample>, n: usize) -> Value {
    let mut v: Vec<&Sample> = samples.into_iter().filter(|s| s.is_set()).collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.at));
    v.dedup();
    Value::Array(v.into_iter().take(n).map(Sample::json).collect())
}

/// Exponentially weighted mean and variance of a series of per-bucket values (West 1979; Finch,
/// "Incremental calculation of weighted mean and variance", 2009). `n` counts the buckets folded
/// in, zeros included: the warm-up test. `f32` keeps per-entry state small; sums are `f64`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ewma {
    pub mean: f32,
    pub var: f32,
    pub n: u32,
}

impl Ewma {
    pub fn push(&mut self, x: f64, alpha: f64) {
        if self.n == 0 {
            self.mean = x as f32;
            self.var = 0.0;
        } else {
            let mean = f64::from(self.mean);
            let diff = x - mean;
            let incr = alpha * diff;
            self.mean = (mean + incr) as f32;
            self.var = ((1.0 - alpha) * (f64::from(self.var) + diff * incr)) as f32;
        }
        self.n = self.n.saturating_add(1);
    }

    /// `k` buckets in which nothing happened (an idle entry catching up lazily).
    pub fn push_zeros(&mut self, k: u32, alpha: f64) {
        // After ~1000 zero buckets any baseline here has decayed to nothing.
        for _ in 0..k.min(1000) {
            self.push(0.0, alpha);
        }
        if k > 1000 {
            self.mean = 0.0;
            self.var = 0.0;
            self.n = self.n.saturating_add(k - 1000);
        }
    }

    pub fn mean(&self) -> f64 {
        f64::from(self.mean).max(0.0)
    }

    /// A copy safe to write as JSON: a non-finite value (never expected) becomes 0, because
    /// serde_json writes it as `null`, which would make the whole saved section unreadable.
    pub fn finite(self) -> Ewma {
        let f = |x: f32| if x.is_finite() { x } else { 0.0 };
        Ewma {
            mean: f(self.mean),
            var: f(self.var),
            n: self.n,
        }
    }

    pub fn std(&self) -> f64 {
        f64::from(self.var).max(0.0).sqrt()
    }
}

/// Severity from how far past its threshold a behaviour is: `base` at the threshold (`ratio` 1),
/// rising on a log scale to `top` at `full_at` times the threshold.
pub fn severity(base: u8, top: u8, ratio: f64, full_at: f64) -> u8 {
    let t = if ratio <= 1.0 || full_at <= 1.0 {
        0.0
    } else {
        (ratio.ln() / full_at.ln()).min(1.0)
    };
    (f64::from(base) + f64::from(top.saturating_sub(base)) * t).round() as u8
}

/// Spreads every bit of a keyed hash into the top bits (Fibonacci hashing). The keyed hasher is
/// built for tables that index by the low bits; a sketch that reads the top bits needs this.
#[inline]
pub fn mix(h: u64) -> u64 {
    (h ^ (h >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The top 32 bits of [`mix`]: all that [`Lc512`] and [`Distinct`] use of an item's hash, so 32
/// bits are enough to remember an item for later.
#[inline]
pub fn top32(hash: u64) -> u32 {
    (mix(hash) >> 32) as u32
}

/// Room reserved for a detector's hot list (keys over a threshold, checked each tick): enough
/// for every real incident at once, so `memory()` stays what it was at construction unless an
/// attack puts more keys over a threshold than that.
pub const HOT_RESERVE: usize = 64;

/// A direct-mapped filter of keys seen once, in front of a capped table: a key is admitted to the
/// table on its second sighting within `max_age`, so one-off keys — most of a spoofed flood —
/// never touch the table's (larger, cache-cold) entries or push anything out. A slot is one `u64`:
/// 15 bits of the key's hash as a tag (and a used bit), 16 bits of time in the caller's unit,
/// and 32 bits of payload the caller gets back on admission (the first sighting's item, a
/// flag...), so counts stay exact. A tag collision (1 in 32,768 per overwritten slot) can admit a
/// key one sighting early with another key's payload: a count off by one, never a missed key.
pub struct SeenOnce {
    slots: Box<[u64]>,
    mask: usize,
}

impl SeenOnce {
    pub fn new(slots: usize) -> Self {
        let n = slots.next_power_of_two().max(16);
        SeenOnce {
            slots: vec![0u64; n].into_boxed_slice(),
            mask: n - 1,
        }
    }

    /// `Some((payload, age))` of the first sighting if `hash` was seen within `max_age` units
    /// (the slot is freed: the caller admits the key); else remembers this sighting.
    #[inline]
    pub fn check(&mut self, hash: u64, now: u32, max_age: u32, payload: u32) -> Option<(u32, u32)> {
        // Bits apart from those the tables use (low bits: bucket; top 8: tag).
        let slot = &mut self.slots[(hash >> 16) as usize & self.mask];
        // 15 bits of tag and a set top bit: a used slot is never 0.
        let tag = ((hash >> 40) & 0x7fff) | 0x8000;
        let e = *slot;
        if e >> 48 == tag {
            let age = (now.wrapping_sub((e >> 32) as u32)) & 0xffff;
            if age <= max_age {
                *slot = 0;
                return Some((e as u32, age));
            }
        }
        *slot = (tag << 48) | (u64::from(now & 0xffff) << 32) | u64::from(payload);
        None
    }

    pub fn memory(&self) -> usize {
        self.slots.len() * 8
    }
}

/// Linear counting (Whang et al. 1990) over a 512-bit bitmap: a distinct count that is nearly
/// exact in the tens (where the thresholds are), within ~5 % (one standard error) up to ~1,200
/// and ~10 % up to ~2,000, in 64 bytes. Saturates near 3,200 ([`Lc512::SATURATED`]), which is then reported as "at least".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lc512 {
    bits: [u64; 8],
    set: u16,
}

impl Lc512 {
    /// `m ln m`: the estimate when every bit is set.
    pub const SATURATED: u64 = 3194;

    /// Adds an item by its 64-bit keyed hash.
    #[cfg(test)]
    pub fn insert(&mut self, hash: u64) {
        self.insert_mixed(top32(hash));
    }

    /// Adds an item by [`top32`] of its hash (what a [`SeenOnce`] slot keeps).
    #[inline]
    pub fn insert_mixed(&mut self, top: u32) {
        let i = (top >> 23) as usize;
        let (w, b) = (i >> 6, 1u64 << (i & 63));
        if self.bits[w] & b == 0 {
            self.bits[w] |= b;
            self.set += 1;
        }
    }

    /// Bits set: a cheap lower bound of the distinct count, used for eviction weights.
    #[inline]
    pub fn set(&self) -> u64 {
        u64::from(self.set)
    }

    pub fn estimate(&self) -> u64 {
        let zeros = 512 - u64::from(self.set);
        if zeros == 0 {
            return Self::SATURATED;
        }
        (-512.0 * (zeros as f64 / 512.0).ln()).round() as u64
    }

    pub fn saturated(&self) -> bool {
        self.set == 512
    }
}

/// A distinct count that is exact up to [`Distinct::EXACT`] items (32-bit fingerprints of their
/// keyed hashes: a collision among a few dozen is a one-in-ten-million event) and a [`Lc512`]
/// estimate beyond. Exact where the thresholds are, so a finding says "15 ports", not "about 14";
/// 194 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distinct {
    small: [u32; Distinct::EXACT],
    n: u8,
    lc: Lc512,
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct {
            small: [0; Distinct::EXACT],
            n: 0,
            lc: Lc512::default(),
        }
    }
}

impl Distinct {
    pub const EXACT: usize = 32;

    #[inline]
    pub fn insert(&mut self, hash: u64) {
        self.insert_mixed(top32(hash));
    }

    /// Adds an item by [`top32`] of its hash.
    #[inline]
    pub fn insert_mixed(&mut self, fp: u32) {
        self.lc.insert_mixed(fp);
        let n = usize::from(self.n);
        if n < Self::EXACT && !self.small[..n].contains(&fp) {
            self.small[n] = fp;
            self.n += 1;
        }
    }

    pub fn estimate(&self) -> u64 {
        if usize::from(self.n) < Self::EXACT {
            u64::from(self.n)
        } else {
            self.lc.estimate().max(Self::EXACT as u64)
        }
    }

    /// Cheap monotone size for eviction weights.
    #[inline]
    pub fn size(&self) -> u64 {
        u64::from(self.n).max(self.lc.set())
    }

    pub fn saturated(&self) -> bool {
        self.lc.saturated()
    }
}

/// `1,204`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `2.4 GB`, `830 MB`, `12 KB`, `512 bytes` (decimal units, as network tools print them).
pub fn bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "TB"),
        (1_000_000_000, "GB"),
        (1_000_000, "MB"),
        (1_000, "KB"),
    ];
    for (u, name) in UNITS {
        if n >= u {
            let v = n as f64 / u as f64;
            return if v < 10.0 {
                format!("{v:.1} {name}")
            } else {
                format!("{v:.0} {name}")
            };
        }
    }
    format!("{n} bytes")
}

/// `2.4×` / `12×`.
pub fn times(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{}×", count(r.round() as u64))
    }
}

/// An address key as text for the state file (JSON numbers cannot hold a `u128` through
/// `serde_json::Value`, which is how sections are read back).
pub fn addr_text(k: u128) -> String {
    ip(k).to_string()
}

/// The key of an address written by [`addr_text`]; `None` for anything else.
pub fn addr_key(s: &str) -> Option<u128> {
    s.parse::<IpAddr>().ok().map(crate::aggregate::ip_key)
}

/// `x`, or 0 when it is not finite (see [`Ewma::finite`]).
pub fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1204), "1,204");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(2_400_000_000), "2.4 GB");
        assert_eq!(bytes(830_000_000), "830 MB");
        assert_eq!(times(6.23), "6.2×");
        assert_eq!(times(1234.4), "1,234×");
        assert_eq!(port_label(port_key(Proto::TCP, 445)), "445/tcp");
        assert_eq!(port_label(port_key(Proto::ICMP, 0)), "icmp");
        assert_eq!(
            flags_text(TcpFlags::SYN | TcpFlags::RST | TcpFlags::CONN).as_deref(),
            Some("SR (connection)")
        );
    }

    #[test]
    fn seen_once_admits_on_the_second_sighting() {
        let mut f = SeenOnce::new(1024);
        assert_eq!(f.check(0xdead_beef_0000, 100, 5, 7), None);
        // Another key elsewhere does not disturb it.
        assert_eq!(f.check(0x1234_5678_9abc_0000, 101, 5, 9), None);
        assert_eq!(f.check(0xdead_beef_0000, 103, 5, 8), Some((7, 3)));
        // Admitted: the slot is free again, and too old a sighting does not count.
        assert_eq!(f.check(0xdead_beef_0000, 110, 5, 1), None);
        assert_eq!(f.check(0xdead_beef_0000, 120, 5, 2), None);
        assert_eq!(f.check(0xdead_beef_0000, 121, 5, 3), Some((2, 1)));
        assert_eq!(f.memory(), 8192);
    }

    #[test]
    fn severity_curve() {
        assert_eq!(severity(50, 80, 1.0, 10.0), 50);
        assert_eq!(severity(50, 80, 0.5, 10.0), 50);
        assert_eq!(severity(50, 80, 10.0, 10.0), 80);
        assert_eq!(severity(50, 80, 1000.0, 10.0), 80);
        assert_eq!(severity(50, 80, 10f64.sqrt(), 10.0), 65);
    }

    #[test]
    fn ewma_tracks_mean_and_spread_and_decays() {
        let mut e = Ewma::default();
        for i in 0..200 {
            e.push(if i % 2 == 0 { 90.0 } else { 110.0 }, 0.05);
        }
        assert!((e.mean() - 100.0).abs() < 2.0, "{}", e.mean());
        assert!((e.std() - 10.0).abs() < 2.0, "{}", e.std());
        e.push_zeros(100, 0.05);
        assert!(e.mean() < 1.0 && e.n == 300);
    }

    #[test]
    fn linear_counting() {
        let h = crate::aggregate::keyhash::KeyHasher::get();
        let mut lc = Lc512::default();
        for i in 0..25u128 {
            lc.insert(h.addr(i));
            lc.insert(h.addr(i));
        }
        assert!((24..=26).contains(&lc.estimate()), "{}", lc.estimate());
        for i in 25..1200u128 {
            lc.insert(h.addr(i));
        }
        // Standard error at this load is ~5 %; the hash seed changes every run: allow 4 sigma.
        let e = lc.estimate() as f64;
        assert!((e - 1200.0).abs() < 240.0, "{e}");
        for i in 0..100_000u128 {
            lc.insert(h.addr(i));
        }
        assert!(lc.saturated());
        assert_eq!(lc.estimate(), Lc512::SATURATED);
        let mut d = Distinct::default();
        for i in 0..31u128 {
            d.insert(h.addr(i));
            d.insert(h.addr(i));
            assert_eq!(d.estimate(), i as u64 + 1);
        }
        for i in 0..1000u128 {
            d.insert(h.addr(i));
        }
        assert!((800..1200).contains(&d.estimate()), "{}", d.estimate());
    }
}
