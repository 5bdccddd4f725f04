//! Weighted Space-Saving heavy-hitter summary (Metwally, Agrawal, El Abbadi, ICDT 2005) and its
//! merge across time slots (Agarwal et al., "Mergeable Summaries", PODS 2012).
//!
//! One summary holds at most `cap` counters. For every monitored key, `count` over-estimates the
//! true weight and `count - error <= true <= count`; `error <= min <= total / cap`, where `min` is
//! the smallest counter once the summary is full (0 before). Every key whose true weight exceeds
//! `min` is monitored. The unit tests check these bounds on a skewed stream of 1M records.
//!
//! Layout: parallel arrays indexed by slot plus a binary min-heap of slots by count (so both the
//! increment of a monitored key and the eviction of the minimum are O(log cap)), and a hash map
//! from key to slot. Keys are attacker-controlled, so that map uses a randomly seeded foldhash
//! (`foldhash::fast::RandomState`) to keep adversarial collisions off the table. All storage is
//! allocated once with capacity `cap`; `clear` keeps it, so ingest never allocates.
//!
//! Each counter also carries an `aux` sum (bytes for count-ranked lists, events for the
//! byte-ranked `talkers`): what was observed while the key was monitored, a lower bound.

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::RandomState;

pub struct SpaceSaving<K> {
    cap: usize,
    index: HashMap<K, u32, RandomState>,
    keys: Vec<K>,
    counts: Vec<u64>,
    errors: Vec<u64>,
    aux: Vec<u64>,
    /// Min-heap of slot numbers ordered by `counts`.
    heap: Vec<u32>,
    /// `pos[slot]` = position of `slot` in `heap`.
    pos: Vec<u32>,
    total: u64,
}

impl<K: Copy + Eq + Hash> SpaceSaving<K> {
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        SpaceSaving {
            cap,
            // Twice the counters: evictions leave tombstones, and hashbrown rehashes in place
            // (instead of doubling the table at a random moment) only while at most half full.
            index: HashMap::with_capacity_and_hasher(2 * cap, RandomState::default()),
            keys: Vec::with_capacity(cap),
            counts: Vec::with_capacity(cap),
            errors: Vec::with_capacity(cap),
            aux: Vec::with_capacity(cap),
            heap: Vec::with_capacity(cap),
            pos: Vec::with_capacity(cap),
            total: 0,
        }
    }

    pub fn clear(&mut self) {
        self.index.clear();
        self.keys.clear();
        self.counts.clear();
        self.errors.clear();
        self.aux.clear();
        self.heap.clear();
        self.pos.clear();
        self.total = 0;
    }

    /// Number of monitored keys (never above `cap`).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Total weight added.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Upper bound on the weight of any key *not* monitored (0 while not full).
    pub fn min(&self) -> u64 {
        if self.keys.len() < self.cap {
            0
        } else {
            self.counts[self.heap[0] as usize]
        }
    }

    /// Adds `w` to `key` (and `aux` to its side sum).
    #[inline]
    pub fn add(&mut self, key: K, w: u64, aux: u64) {
        self.total += w;
        if let Some(&slot) = self.index.get(&key) {
            let s = slot as usize;
            self.counts[s] += w;
            self.aux[s] += aux;
            self.sift_down(self.pos[s] as usize);
            return;
        }
        if self.keys.len() < self.cap {
            let s = self.keys.len();
            self.keys.push(key);
            self.counts.push(w);
            self.errors.push(0);
            self.aux.push(aux);
            self.heap.push(s as u32);
            self.pos.push(s as u32);
            self.index.insert(key, s as u32);
            self.sift_up(s);
            return;
        }
        // Full: the new key takes over the minimum counter and inherits its count as error.
        let s = self.heap[0] as usize;
        let min = self.counts[s];
        self.index.remove(&self.keys[s]);
        self.index.insert(key, s as u32);
        self.keys[s] = key;
        self.counts[s] = min + w;
        self.errors[s] = min;
        self.aux[s] = aux;
        self.sift_down(0);
    }

    /// `(key, count, error, aux)` of every monitored key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (K, u64, u64, u64)> + '_ {
        (0..self.keys.len()).map(|s| (self.keys[s], self.counts[s], self.errors[s], self.aux[s]))
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.heap.swap(i, j);
        self.pos[self.heap[i] as usize] = i as u32;
        self.pos[self.heap[j] as usize] = j as u32;
    }

    #[inline]
    fn c(&self, heap_pos: usize) -> u64 {
        self.counts[self.heap[heap_pos] as usize]
    }

    /// Restores the heap after the count at `i` grew.
    #[inline]
    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                return;
            }
            let r = l + 1;
            let m = if r < n && self.c(r) < self.c(l) { r } else { l };
            if self.c(m) < self.c(i) {
                self.swap(i, m);
                i = m;
            } else {
                return;
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if self.c(i) < self.c(p) {
                self.swap(i, p);
                i = p;
            } else {
                return;
            }
        }
    }

    /// Bytes held (for `memory_estimate`): arrays plus the hash table (buckets + control bytes).
    pub fn heap_bytes(&self) -> usize {
        let k = std::mem::size_of::<K>();
        let per_slot = k + 3 * 8 + 2 * 4;
        let buckets = (self.index.capacity() * 8 / 7).next_power_of_two();
        self.keys.capacity() * per_slot + buckets * (std::mem::size_of::<(K, u32)>() + 1)
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
