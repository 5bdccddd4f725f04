//! A capped, set-associative table for per-key detector state: fixed memory allocated once, no
//! allocation per record, O(ways) work per lookup, and eviction of the least significant entry.
//!
//! Why set-associative rather than a hash map with a global eviction order: a map that evicts
//! "the least significant entry overall" needs a heap or a scan (O(log n) or O(n) per insert)
//! and grows until it is trimmed; here a key can only live in the [`WAYS`] slots of its bucket, so
//! a miss compares at most that many keys and, when they are all taken, replaces the one ranked
//! lowest. Keys are attacker-controlled (spoofed sources), so the bucket comes from the
//! process-secret keyed hash (`aggregate::keyhash`): nobody can aim a flood at the bucket of the
//! entry they want to push out. A flood of one-off keys then only churns the low-ranked slots,
//! while an entry that keeps accumulating (a scanner, a flood target, a beacon) stays.
//!
//! Layout, for the hot path: one `u64` of eight 8-bit tags per bucket (0 = empty way; a lookup
//! compares the eight tags at once and the full key only where a tag matches), and one `u32`
//! rank per slot in its own array, so choosing a victim reads one cache line instead of eight
//! entries. The detector keeps the rank current with [`rank`]: significance in the high 24 bits,
//! the minute of the last update in the low 8 (ties go to the least recent, and an entry idle for
//! too long can be ranked 0).

/// Slots per bucket.
pub const WAYS: usize = 8;

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// A rank from a significance (saturated at 2^24 − 1) and the current time in the detector's
/// unit.
#[inline]
pub fn rank(significance: u64, now: u32) -> u32 {
    ((significance.min(0x00ff_ffff) as u32) << 8) | (now & 0xff)
}

/// The rank as eviction compares it at `now`: significance first, then recency; 0 when the
/// entry was last updated more than `stale_after` units ago (at most 254).
#[inline]
pub fn effective(r: u32, now: u32, stale_after: u32) -> u32 {
    let age = now.wrapping_sub(r) & 0xff;
    // Branch-free: evaluated for all eight ways of a full bucket on every miss.
    let live = u32::from(age <= stale_after);
    ((r & !0xff) | (255 - age)) * live
}

pub struct Assoc<K, V> {
    keys: Box<[K]>,
    vals: Box<[V]>,
    ranks: Box<[u32]>,
    /// Per bucket, byte `w`: tag of way `w` (never 0), or 0 when empty.
    tags: Box<[u64]>,
    mask: usize,
    /// Rotates the way preferred among equal ranks, so ties are evicted round-robin (oldest
    /// first) rather than always the same way — which would make the newest entry the next
    /// victim and a new key could never gain its second hit under a flood.
    rot: usize,
}

/// Bytes of `x` that are zero: exact for the lowest one, possibly spurious above it (a borrow),
/// which the full key comparison filters out.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(LOW) & !x & HIGH
}

impl<K: Copy + Eq + Default, V: Default> Assoc<K, V> {
    /// A table of at least `cap` slots (rounded up to a power-of-two number of buckets).
    pub fn new(cap: usize) -> Self {
        let buckets = cap.div_ceil(WAYS).next_power_of_two().max(1);
        let n = buckets * WAYS;
        Assoc {
            keys: (0..n).map(|_| K::default()).collect(),
            vals: (0..n).map(|_| V::default()).collect(),
            ranks: vec![0u32; n].into_boxed_slice(),
            tags: vec![0u64; buckets].into_boxed_slice(),
            mask: buckets - 1,
            rot: 0,
        }
    }

    /// Bucket from the low bits (what the keyed hasher spreads best), tag from the top ones.
    #[inline(always)]
    fn place(&self, hash: u64) -> (usize, u8) {
        (hash as usize & self.mask, ((hash >> 56) as u8) | 1)
    }

    #[inline]
    fn find(&self, key: &K, b: usize, tag: u8) -> Option<usize> {
        let mut m = zero_bytes(self.tags[b] ^ (LOW * u64::from(tag)));
        while m != 0 {
            let i = b * WAYS + (m.trailing_zeros() / 8) as usize;
            if self.keys[i] == *key {
                return Some(i);
            }
            m &= m - 1;
        }
        None
    }

    /// The state of `key` (hashed with the keyed hasher by the caller) and its rank, inserted as
    /// `V::default()` with rank 0 if absent. When the bucket is full, the slot whose rank is
    /// lowest under `eff` is given to `key`. The flag is true when the entry is new.
    #[inline]
    pub fn entry(
        &mut self,
        key: K,
        hash: u64,
        eff: impl Fn(u32) -> u32,
    ) -> (&mut V, &mut u32, bool) {
        let (b, tag) = self.place(hash);
        if let Some(i) = self.find(&key, b, tag) {
            return (&mut self.vals[i], &mut self.ranks[i], false);
        }
        let tags = self.tags[b];
        let base = b * WAYS;
        let empty = zero_bytes(tags);
        let w = if empty != 0 {
            (empty.trailing_zeros() / 8) as usize
        } else {
            // Branch-free minimum of (rank, way from the rotating start): the flood case takes
            // this path every record.
            let rot = self.rot;
            self.rot = (rot + 1) & (WAYS - 1);
            let mut best = u64::MAX;
            for (w, &r) in self.ranks[base..base + WAYS].iter().enumerate() {
                let order = (w + WAYS - rot) & (WAYS - 1);
                best = best.min((u64::from(eff(r)) << 3) | order as u64);
            }
            ((best & 7) as usize + rot) & (WAYS - 1)
        };
        self.tags[b] = (tags & !(0xff << (w * 8))) | (u64::from(tag) << (w * 8));
        let i = base + w;
        self.keys[i] = key;
        self.vals[i] = V::default();
        self.ranks[i] = 0;
        (&mut self.vals[i], &mut self.ranks[i], true)
    }

    #[inline]
    pub fn get(&self, key: &K, hash: u64) -> Option<&V> {
        let (b, tag) = self.place(hash);
        self.find(key, b, tag).map(|i| &self.vals[i])
    }

    #[inline]
    pub fn get_mut(&mut self, key: &K, hash: u64) -> Option<(&mut V, &mut u32)> {
        let (b, tag) = self.place(hash);
        self.find(key, b, tag)
            .map(|i| (&mut self.vals[i], &mut self.ranks[i]))
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.tags.iter().enumerate().flat_map(move |(b, &t)| {
            (0..WAYS)
                .filter(move |w| (t >> (w * 8)) & 0xff != 0)
                .map(move |w| (&self.keys[b * WAYS + w], &self.vals[b * WAYS + w]))
        })
    }

    /// Keeps the entries for which `f` returns true (it may also update them).
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        for b in 0..self.tags.len() {
            let mut t = self.tags[b];
            if t == 0 {
                continue;
            }
            for w in 0..WAYS {
                let i = b * WAYS + w;
                if (t >> (w * 8)) & 0xff != 0 && !f(&self.keys[i], &mut self.vals[i]) {
                    t &= !(0xff << (w * 8));
                }
            }
            self.tags[b] = t;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.tags
            .iter()
            .map(|&t| (0..WAYS).filter(|w| (t >> (w * 8)) & 0xff != 0).count())
            .sum()
    }

    /// Slots (the most entries it can hold).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// Heap bytes: fixed at construction.
    pub fn memory(&self) -> usize {
        self.keys.len() * (std::mem::size_of::<K>() + std::mem::size_of::<V>() + 4)
            + self.tags.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_keeps_the_heavy_key() {
        let mut t: Assoc<u64, u64> = Assoc::new(64);
        assert_eq!(t.capacity(), 64);
        let mem = t.memory();
        let heavy_hash = 12345u64 | (0xab << 56);
        for i in 0..100_000u64 {
            let minute = (i / 1000) as u32;
            let eff = |r| effective(r, minute, 10);
            // One heavy key gains weight while a flood of one-off keys churns every bucket.
            let (v, r, _) = t.entry(7, heavy_hash, eff);
            *v += 1;
            *r = rank(*v, minute);
            let h = (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let (v, r, _) = t.entry(1_000_000 + i, h, eff);
            *v += 1;
            *r = rank(*v, minute);
        }
        assert_eq!(t.len(), 64);
        assert_eq!(t.memory(), mem);
        assert_eq!(t.get(&7, heavy_hash), Some(&100_000));
        t.retain(|k, _| *k == 7);
        assert_eq!(t.len(), 1);
        assert_eq!(t.iter().count(), 1);
        let (v, r, new) = t.entry(8, 1, |r| r);
        assert!(new && *v == 0 && *r == 0);
        assert!(t.get_mut(&8, 1).is_some() && t.get(&8, 2).is_none());
    }

    #[test]
    fn ranks_order_by_significance_then_recency_and_go_stale() {
        assert!(effective(rank(5, 100), 100, 10) > effective(rank(4, 100), 100, 10));
        assert!(effective(rank(4, 100), 100, 10) > effective(rank(4, 99), 100, 10));
        assert_eq!(effective(rank(1_000, 80), 100, 10), 0);
        // Minutes wrap at 256 without breaking recency.
        assert!(effective(rank(4, 255), 256, 10) > effective(rank(4, 250), 256, 10));
    }
}
