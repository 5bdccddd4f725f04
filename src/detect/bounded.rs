//! Bounded building blocks shared by the context detectors: a two-generation map whose size
//! never exceeds twice its cap, a per-kind report budget, compact address keys, and the plain
//! wording helpers their summaries use.
//!
//! [`TwoGen`]: entries live in `cur`; when `cur` reaches the cap it becomes `prev` (the old
//! `prev` is cleared, capacity kept) and a fresh `cur` starts. A hit in `prev` moves the entry
//! back to `cur`. So an entity that keeps showing up survives any flood of newcomers as long as it
//! recurs before `cap` other new entities arrived, memory is at most two tables of `cap`, and once
//! both tables are warm no insert allocates (`clear` keeps the buckets).
//!
//! [`Budget`]: at most `per_min` findings of one kind per minute; the rest are counted with a few
//! samples and reported once as a single "and N more" finding, so a flood of genuinely new
//! entities cannot flood the anomaly table (whose eviction scans it).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;

use foldhash::fast::{FixedState, RandomState};

use crate::aggregate::key_ip;
use crate::event::{Micros, Proto};

pub const US: i64 = 1_000_000;
/// Findings of one kind per minute before the rest are summarised ([`Budget`]).
pub const REPORTS_PER_MIN: u32 = 20;
/// Continuing behaviour is re-reported at most this often per entity.
pub const REREPORT_S: u32 = 60;

/// A map of at most `2 × cap` entries (see the module docs).
pub struct TwoGen<K, V> {
    cur: HashMap<K, V, RandomState>,
    prev: HashMap<K, V, RandomState>,
    cap: usize,
    rotations: u64,
}

impl<K: Copy + Eq + Hash, V> TwoGen<K, V> {
    pub fn new(cap: usize) -> Self {
        TwoGen {
            cur: HashMap::default(),
            prev: HashMap::default(),
            cap: cap.max(1),
            rotations: 0,
        }
    }

    /// The entry for `k`, created by `make` when absent from both generations.
    #[inline]
    pub fn entry(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        if self.cur.contains_key(&k) {
            return self.cur.get_mut(&k).expect("present");
        }
        let v = self.prev.remove(&k).unwrap_or_else(make);
        if self.cur.len() >= self.cap {
            std::mem::swap(&mut self.cur, &mut self.prev);
            self.cur.clear();
            self.rotations += 1;
        }
        self.cur.entry(k).or_insert(v)
    }

    #[cfg(test)]
    pub fn get(&self, k: &K) -> Option<&V> {
        self.cur.get(k).or_else(|| self.prev.get(k))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.cur.len() + self.prev.len()
    }

    #[cfg(test)]
    /// Times `cur` filled up and the oldest generation was forgotten.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    /// Every entry, oldest generation first (re-inserting them in this order through
    /// [`TwoGen::entry`] keeps the recent ones recent: the state file relies on it).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.prev.iter().chain(self.cur.iter())
    }

    /// Drops entries for which `keep` is false (both generations).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.cur.retain(&mut keep);
        self.prev.retain(&mut keep);
    }

    /// Approximate heap bytes (bucket arrays of both tables).
    pub fn memory(&self) -> usize {
        table_bytes::<K, V>(self.cur.capacity()) + table_bytes::<K, V>(self.prev.capacity())
    }
}

/// Heap bytes of a hashbrown table with `capacity` usable slots: buckets × (entry + 1 control).
pub fn table_bytes<K, V>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        if capacity < 4 { 4 } else { 8 }
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    buckets * (std::mem::size_of::<(K, V)>() + 1) + 16
}

/// Findings of one kind per minute (see the module docs).
#[derive(Debug, Clone)]
pub struct Budget {
    per_min: u32,
    window_start: Micros,
    used: u32,
    suppressed: u64,
    since: Micros,
    samples: [Option<IpAddr>; 3],
}

/// What a [`Budget`] held back.
#[derive(Debug, Clone, PartialEq)]
pub struct Overflow {
    pub count: u64,
    pub since: Micros,
    pub samples: Vec<IpAddr>,
}

impl Budget {
    pub fn new(per_min: u32) -> Self {
        Budget {
            per_min,
            window_start: Micros::MIN,
            used: 0,
            suppressed: 0,
            since: 0,
            samples: [None; 3],
        }
    }

    /// True if one more finding may be reported now; otherwise it is counted (with `sample`).
    #[inline]
    pub fn allow(&mut self, now: Micros, sample: Option<IpAddr>) -> bool {
        if now.saturating_sub(self.window_start) >= 60 * US {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < self.per_min {
            self.used += 1;
            return true;
        }
        if self.suppressed == 0 {
            self.since = now;
            self.samples = [None; 3];
        }
        self.suppressed += 1;
        if let Some(slot) = self.samples.iter_mut().find(|s| s.is_none()) {
            *slot = sample;
        }
        false
    }

    /// The findings held back, once a minute has passed since the first of them.
    pub fn flush(&mut self, now: Micros) -> Option<Overflow> {
        if self.suppressed == 0 || now - self.since < 60 * US {
            return None;
        }
        let out = Overflow {
            count: self.suppressed,
            since: self.since,
            samples: self.samples.iter().flatten().copied().collect(),
        };
        self.suppressed = 0;
        Some(out)
    }
}

/// The hasher behind [`key64`]: keyed by a random 64-bit seed that the detector keeps and the
/// state file saves with the keys (src/detect/persist.rs), because an IPv6 key64 is only
/// meaningful under the seed that made it. Restoring keys under a different seed would make
/// every saved IPv6 host look new (and could alias two addresses), so a restore adopts the saved
/// seed instead. The seed never leaves the process except into the 0600 state file.
#[derive(Clone)]
pub struct KeySeed {
    pub seed: u64,
    pub hasher: FixedState,
}

impl KeySeed {
    /// A fresh random seed (std's `RandomState` is seeded from the OS).
    pub fn random() -> KeySeed {
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        KeySeed::with_seed(seed)
    }

    pub fn with_seed(seed: u64) -> KeySeed {
        KeySeed {
            seed,
            hasher: FixedState::with_seed(seed),
        }
    }
}

/// An address key in 64 bits: IPv4 exactly (its IPv4-mapped key fits, top bit clear), IPv6 as a
/// keyed 63-bit hash with the top bit set (a collision needs ~2^31 addresses; the seed is random).
#[inline]
pub fn key64(k: u128, rs: &FixedState) -> u64 {
    if k >> 32 == 0xffff {
        k as u64
    } else {
        rs.hash_one(k) | 1 << 63
    }
}

/// The address of a [`key64`], when it is an exact (IPv4) one.
pub fn ip_of_key64(k: u64) -> Option<IpAddr> {
    (k >> 63 == 0).then(|| key_ip(u128::from(k)))
}

/// Seconds since the epoch as `u32` (good until 2106), clamped.
#[inline]
pub fn sec32(now: Micros) -> u32 {
    now.div_euclid(US).clamp(0, i64::from(u32::MAX)) as u32
}

/// `tcp/443`, `udp/53`, `proto-89/0`.
pub fn service_name(proto: Proto, port: u16) -> String {
    match proto.keyword() {
        Some(k) => format!("{k}/{port}"),
        None => format!("proto-{}/{port}", proto.0),
    }
}

/// "45 seconds", "1 minute", "12 minutes", "3 hours", "2 days" (rounded down).
pub fn span(secs: i64) -> String {
    let secs = secs.max(0);
    let (n, unit) = if secs < 120 {
        (secs, "second")
    } else if secs < 2 * 3600 {
        (secs / 60, "minute")
    } else if secs < 2 * 86_400 {
        (secs / 3600, "hour")
    } else {
        (secs / 86_400, "day")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// "1 query", "12 queries" style plurals.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_gen_keeps_recurring_keys_and_stays_bounded() {
        let mut m: TwoGen<u32, u32> = TwoGen::new(4);
        *m.entry(1, || 0) += 1;
        for k in 100..10_000u32 {
            m.entry(k, || 0);
            if k % 3 == 0 {
                *m.entry(1, || 0) += 1; // recurs within every generation
            }
            assert!(m.len() <= 8);
        }
        assert_eq!(m.get(&1), Some(&3301));
        assert!(m.rotations() > 1000);
    }

    #[test]
    fn budget_holds_back_and_flushes_once() {
        let mut b = Budget::new(2);
        let ip = |n: u8| Some(IpAddr::from([10, 0, 0, n]));
        assert!(b.allow(0, ip(1)));
        assert!(b.allow(US, ip(2)));
        assert!(!b.allow(2 * US, ip(3)));
        assert!(!b.allow(3 * US, ip(4)));
        assert_eq!(b.flush(30 * US), None);
        let o = b.flush(62 * US).unwrap();
        assert_eq!(o.count, 2);
        assert_eq!(o.samples, vec![ip(3).unwrap(), ip(4).unwrap()]);
        assert_eq!(b.flush(200 * US), None);
        assert!(b.allow(61 * US, ip(5)), "a new minute has a new budget");
    }

    #[test]
    fn words() {
        assert_eq!(span(45), "45 seconds");
        assert_eq!(span(60), "60 seconds");
        assert_eq!(span(600), "10 minutes");
        assert_eq!(span(7 * 86_400), "7 days");
        assert_eq!(plural(1, "query", "queries"), "1 query");
        assert_eq!(service_name(Proto::TCP, 443), "tcp/443");
        let rs = KeySeed::random().hasher;
        let v4 = crate::aggregate::ip_key("10.1.2.3".parse().unwrap());
        assert_eq!(
            ip_of_key64(key64(v4, &rs)),
            Some("10.1.2.3".parse().unwrap())
        );
        let v6 = crate::aggregate::ip_key("2001:db8::1".parse().unwrap());
        assert_eq!(ip_of_key64(key64(v6, &rs)), None);
    }
}
