//! Weighted Space-Saving heavy-hitter summary (Metwally, Agrawal, El Abbadi, ICDT 2005) and its
//! merge across time slots (Agarwal et al., "Mergeable Summaries", PODS 2012).
//!
//! One summary holds at most `cap` counters. For every monitored key, `count` over-estimates the
//! true weight and `count - error <= true <= count`; `error <= min <= total / cap`, where `min` is
//! the smallest counter once the summary is full (0 before). Every key whose true weight exceeds
//! `min` is monitored. The unit tests check these bounds on a skewed stream of 1M records.
//!
//! Layout: parallel arrays indexed by counter slot; a binary min-heap that stores the counts
//! themselves (`heap_counts[i]`, with `heap_slots[i]` naming the slot and `pos[slot]` its heap
//! position), so both the increment of a monitored key and the eviction of the minimum are
//! O(log cap) and the sift compares contiguous `u64`s without an indirection; and a small
//! open-addressed [`Index`] from key to slot. The index is handed the key's hash by the caller
//! (one keyed hash per address per record serves every summary, see `keyhash.rs`): keys are
//! attacker-controlled, and the hash is seeded with a per-process secret. All storage is
//! allocated once with capacity `cap`; `clear` keeps it, so ingest never allocates.
//!
//! Each counter also carries an `aux` sum (bytes for count-ranked lists, events for the
//! byte-ranked `talkers`): what was observed while the key was monitored, a lower bound.

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::RandomState;

#[cfg(test)]
use super::keyhash::{KeyHash, KeyHasher};

/// Key → slot map for at most `cap` (≤ 65535) keys: linear probing over a power-of-two table of
/// `u32` entries at most a quarter full (short probes), `0` = empty, otherwise
/// `tag << 16 | (slot + 1)` with a 16-bit tag from the hash, so a probe compares the stored key
/// only when the tag matches. Deletion shifts the following entries back (no tombstones), so the
/// table never degrades and never needs rehashing however many evictions it sees. It owns the
/// keys and their hashes (slot order), which deletion needs to find each entry's home bucket.
pub struct Index<K> {
    table: Box<[u32]>,
    mask: usize,
    keys: Vec<K>,
    hashes: Vec<u32>,
}

#[cfg(test)]
impl<K: KeyHash> Index<K> {
    /// Keys it can hold without growing (its fixed capacity).
    pub fn capacity(&self) -> usize {
        self.keys.capacity()
    }

    /// True if `key` is held (computes the key's hash; the hot path passes it instead).
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key, key.key_hash(&KeyHasher::get()) as u32)
            .is_ok()
    }
}

impl<K: Copy + Eq> Index<K> {
    fn new(cap: usize) -> Self {
        assert!(cap < 0xffff, "index capacity {cap}");
        let size = (4 * cap).next_power_of_two().max(16);
        Index {
            table: vec![0u32; size].into_boxed_slice(),
            mask: size - 1,
            keys: Vec::with_capacity(cap),
            hashes: Vec::with_capacity(cap),
        }
    }

    fn clear(&mut self) {
        self.table.fill(0);
        self.keys.clear();
        self.hashes.clear();
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    #[inline(always)]
    fn tag(h: u32) -> u32 {
        h & 0xffff_0000
    }

    /// `Ok(slot)` if `key` is held, else `Err(position)` of the empty entry ending its probe.
    #[inline]
    fn find(&self, key: &K, h: u32) -> Result<usize, usize> {
        let mut i = h as usize & self.mask;
        loop {
            let e = self.table[i];
            if e == 0 {
                return Err(i);
            }
            if e & 0xffff_0000 == Self::tag(h) {
                let s = (e & 0xffff) as usize - 1;
                if self.keys[s] == *key {
                    return Ok(s);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Appends `key` as the next slot at the empty `position` returned by `find`.
    #[inline]
    fn push_at(&mut self, position: usize, key: K, h: u32) -> usize {
        let s = self.keys.len();
        self.keys.push(key);
        self.hashes.push(h);
        self.table[position] = Self::tag(h) | (s as u32 + 1);
        s
    }

    /// Re-keys `slot` to `key` (not held): unlinks the old key, links the new one.
    #[inline]
    fn replace(&mut self, slot: usize, key: K, h: u32) {
        self.unlink(slot);
        let mut i = h as usize & self.mask;
        while self.table[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.keys[slot] = key;
        self.hashes[slot] = h;
        self.table[i] = Self::tag(h) | (slot as u32 + 1);
    }

    /// Removes the table entry of `slot` by backward-shift deletion: every following entry of the
    /// run that may legally sit earlier (its home bucket is not between the hole and itself)
    /// moves into the hole, so lookups never need tombstones.
    fn unlink(&mut self, slot: usize) {
        let want = slot as u32 + 1;
        let mut hole = self.hashes[slot] as usize & self.mask;
        while self.table[hole] & 0xffff != want {
            hole = (hole + 1) & self.mask;
        }
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let e = self.table[j];
            if e == 0 {
                self.table[hole] = 0;
                return;
            }
            let home = self.hashes[(e & 0xffff) as usize - 1] as usize & self.mask;
            // Movable iff the hole lies cyclically within [home, j].
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.table[hole] = e;
                hole = j;
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.table.len() * 4 + self.keys.capacity() * (std::mem::size_of::<K>() + 4)
    }
}

pub struct SpaceSaving<K> {
    cap: usize,
    index: Index<K>,
    errors: Vec<u64>,
    aux: Vec<u64>,
    /// Min-heap of counts; `heap_slots[i]` is the counter slot whose count is `heap_counts[i]`.
    heap_counts: Vec<u64>,
    heap_slots: Vec<u16>,
    /// `pos[slot]` = position of `slot` in the heap.
    pos: Vec<u16>,
    total: u64,
}

#[cfg(test)]
impl<K: KeyHash> SpaceSaving<K> {
    /// Adds `w` to `key` (and `aux` to its side sum), hashing the key itself.
    pub fn add(&mut self, key: K, w: u64, aux: u64) {
        let h = key.key_hash(&KeyHasher::get());
        self.add_hashed(key, h, w, aux);
    }
}

impl<K: Copy + Eq> SpaceSaving<K> {
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        SpaceSaving {
            cap,
            index: Index::new(cap),
            errors: Vec::with_capacity(cap),
            aux: Vec::with_capacity(cap),
            heap_counts: Vec::with_capacity(cap),
            heap_slots: Vec::with_capacity(cap),
            pos: Vec::with_capacity(cap),
            total: 0,
        }
    }

    pub fn clear(&mut self) {
        self.index.clear();
        self.errors.clear();
        self.aux.clear();
        self.heap_counts.clear();
        self.heap_slots.clear();
        self.pos.clear();
        self.total = 0;
    }

    /// Number of monitored keys (never above `cap`).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Total weight added.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Upper bound on the weight of any key *not* monitored (0 while not full).
    pub fn min(&self) -> u64 {
        if self.len() < self.cap {
            0
        } else {
            self.heap_counts[0]
        }
    }

    /// Adds `w` to `key` (and `aux` to its side sum); `hash` is the key's hash from
    /// [`KeyHasher::get`](super::keyhash::KeyHasher::get), computed once by the caller.
    #[inline]
    pub fn add_hashed(&mut self, key: K, hash: u64, w: u64, aux: u64) {
        let h = hash as u32;
        self.total += w;
        match self.index.find(&key, h) {
            Ok(s) => {
                self.aux[s] += aux;
                let p = self.pos[s] as usize;
                self.heap_counts[p] += w;
                self.sift_down(p);
            }
            Err(position) if self.len() < self.cap => {
                let s = self.index.push_at(position, key, h);
                self.errors.push(0);
                self.aux.push(aux);
                self.heap_counts.push(w);
                self.heap_slots.push(s as u16);
                self.pos.push(s as u16);
                self.sift_up(s);
            }
            Err(_) => {
                // Full: the new key takes over the minimum counter and inherits its count as
                // error.
                let s = self.heap_slots[0] as usize;
                let min = self.heap_counts[0];
                self.index.replace(s, key, h);
                self.errors[s] = min;
                self.aux[s] = aux;
                self.heap_counts[0] = min + w;
                self.sift_down(0);
            }
        }
    }

    /// `(key, count, error, aux)` of every monitored key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (K, u64, u64, u64)> + '_ {
        (0..self.len()).map(|s| {
            (
                self.index.keys[s],
                self.heap_counts[self.pos[s] as usize],
                self.errors[s],
                self.aux[s],
            )
        })
    }

    /// Restores the heap after the count at `i` grew. Hole-moving: the sifted element is written
    /// once, at its final position. (A 4-ary heap was tried: more instructions for the same work.)
    #[inline]
    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap_counts.len();
        let hc = &mut self.heap_counts[..n];
        let hs = &mut self.heap_slots[..n];
        let pos = &mut self.pos[..];
        let (c, s) = (hc[i], hs[i]);
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let m = if r < n && hc[r] < hc[l] { r } else { l };
            let mc = hc[m];
            if mc >= c {
                break;
            }
            hc[i] = mc;
            hs[i] = hs[m];
            pos[hs[m] as usize] = i as u16;
            i = m;
        }
        hc[i] = c;
        hs[i] = s;
        pos[s as usize] = i as u16;
    }

    fn sift_up(&mut self, mut i: usize) {
        let n = self.heap_counts.len();
        let hc = &mut self.heap_counts[..n];
        let hs = &mut self.heap_slots[..n];
        let pos = &mut self.pos[..];
        let (c, s) = (hc[i], hs[i]);
        while i > 0 {
            let p = (i - 1) / 2;
            if c >= hc[p] {
                break;
            }
            hc[i] = hc[p];
            hs[i] = hs[p];
            pos[hs[p] as usize] = i as u16;
            i = p;
        }
        hc[i] = c;
        hs[i] = s;
        pos[s as usize] = i as u16;
    }

    /// Bytes held (for `memory_estimate`): the counter arrays plus the index.
    pub fn heap_bytes(&self) -> usize {
        self.errors.capacity() * (3 * 8 + 2 * 2) + self.index.heap_bytes()
    }
}

/// One merged entry: `count` over-estimates, `count - error` under-estimates the true weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged<K> {
    pub key: K,
    pub count: u64,
    pub error: u64,
    pub aux: u64,
}

#[derive(Default, Clone, Copy)]
struct Acc {
    count: u64,
    error: u64,
    aux: u64,
    /// Sum of the `min` of the summaries that monitored this key.
    min_present: u64,
}

/// Merges summaries of disjoint sub-streams (time slots). For a key missing from summary i its
/// weight there is at most `min_i`, so merged `count = Σ_present count_i + Σ_absent min_i` and
/// `error = Σ_present error_i + Σ_absent min_i`; keeping one running `Σ min_i` makes the absent
/// part a subtraction. Bound: `error <= Σ min_i <= Σ total_i / cap = total / cap`, and every key
/// whose true weight exceeds `Σ min_i` is monitored in some slot, hence present here.
pub struct Merger<K> {
    map: HashMap<K, Acc, RandomState>,
    total_min: u64,
}

impl<K: Copy + Eq + Hash + Ord> Merger<K> {
    pub fn new() -> Self {
        Merger {
            map: HashMap::default(),
            total_min: 0,
        }
    }

    pub fn add(&mut self, ss: &SpaceSaving<K>) {
        let m = ss.min();
        self.total_min += m;
        for (k, c, e, a) in ss.iter() {
            let acc = self.map.entry(k).or_default();
            acc.count += c;
            acc.error += e;
            acc.aux += a;
            acc.min_present += m;
        }
    }

    /// The `n` keys with the largest merged count, largest first (ties by key, for stability).
    pub fn top(&self, n: usize) -> Vec<Merged<K>> {
        let mut all: Vec<Merged<K>> = self
            .map
            .iter()
            .map(|(&key, a)| {
                let absent = self.total_min - a.min_present;
                Merged {
                    key,
                    count: a.count + absent,
                    error: a.error + absent,
                    aux: a.aux,
                }
            })
            .collect();
        let order = |a: &Merged<K>, b: &Merged<K>| b.count.cmp(&a.count).then(a.key.cmp(&b.key));
        if all.len() > n && n > 0 {
            all.select_nth_unstable_by(n - 1, order);
        }
        all.truncate(n);
        all.sort_unstable_by(order);
        all
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Tiny deterministic PRNG (xorshift64*), so tests need no extra crate.
    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn exact_when_not_full() {
        let mut ss = SpaceSaving::new(8);
        for (k, n) in [(1u32, 5u64), (2, 3), (3, 9)] {
            for _ in 0..n {
                ss.add(k, 1, 10);
            }
        }
        assert_eq!(ss.min(), 0);
        let mut m = Merger::new();
        m.add(&ss);
        let top = m.top(2);
        assert_eq!(
            top,
            vec![
                Merged {
                    key: 3,
                    count: 9,
                    error: 0,
                    aux: 90
                },
                Merged {
                    key: 1,
                    count: 5,
                    error: 0,
                    aux: 50
                },
            ]
        );
    }

    /// Skewed stream: 1M records over 100k distinct keys, 5 heavy hitters with 4 % each,
    /// the rest Zipf-like. Checks the per-key bounds, the global bound, and that every heavy
    /// hitter is monitored — for one summary and for the merge of 10 slot summaries.
    #[test]
    fn error_bound_on_skewed_stream() {
        const CAP: usize = 128;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut truth: HashMap<u32, u64> = HashMap::new();
        let mut whole = SpaceSaving::new(CAP);
        let mut slots: Vec<SpaceSaving<u32>> = (0..10).map(|_| SpaceSaving::new(CAP)).collect();
        let n = 1_000_000u64;
        for i in 0..n {
            let r = rng.next();
            let key = if r % 100 < 20 {
                (r >> 32) as u32 % 5 // heavy hitters 0..5: 4 % each
            } else {
                // Rough Zipf over 100k keys: square a uniform to skew toward small ids.
                let u = (r >> 11) as f64 / (1u64 << 53) as f64;
                5 + (u * u * 99_995.0) as u32
            };
            let w = 1 + (r >> 60); // weighted: 1..16
            *truth.entry(key).or_default() += w;
            whole.add(key, w, 0);
            slots[(i * 10 / n) as usize].add(key, w, 0);
        }
        assert!(truth.len() > 50_000, "{} distinct", truth.len());
        let total = whole.total();
        assert_eq!(total, truth.values().sum::<u64>());

        // Single summary.
        assert!(whole.min() <= total / CAP as u64);
        for (k, c, e, _) in whole.iter() {
            let t = truth[&k];
            assert!(
                c >= t && c - e <= t,
                "key {k}: count {c} error {e} true {t}"
            );
            assert!(e <= whole.min());
        }
        for (&k, &t) in &truth {
            if t > whole.min() {
                assert!(
                    whole.index.contains_key(&k),
                    "heavy key {k} ({t}) not monitored"
                );
            }
        }

        // Merge of slots.
        let mut m = Merger::new();
        for s in &slots {
            m.add(s);
        }
        let bound = total / CAP as u64;
        assert!(m.total_min <= bound);
        let top = m.top(usize::MAX);
        for e in &top {
            let t = truth[&e.key];
            assert!(e.count >= t && e.count - e.error <= t, "{e:?} true {t}");
            assert!(e.error <= bound);
        }
        for (&k, &t) in &truth {
            if t > m.total_min {
                assert!(m.map.contains_key(&k), "heavy key {k} ({t}) lost in merge");
            }
        }
        let top5: Vec<u32> = {
            let mut v: Vec<u32> = m.top(5).iter().map(|e| e.key).collect();
            v.sort();
            v
        };
        assert_eq!(top5, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn never_exceeds_cap() {
        let mut ss = SpaceSaving::new(16);
        let mut rng = Rng(7);
        for _ in 0..100_000 {
            ss.add(rng.next() as u128, 1, 0);
        }
        assert_eq!(ss.len(), 16);
        assert_eq!(ss.index.len(), 16);
        assert!(ss.index.capacity() < 64);
    }
}
