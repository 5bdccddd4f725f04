//! A capped, set-associative table for per-key detector state: fixed memory allocated once, no
//! allocation per record, O(ways) work per lookup, and eviction of the least significant entry.
//!
//! Why set-associative rather than a hash map with a global eviction order: a map that evicts
//! "the least significant entry overall" needs a heap or a scan (O(log n) or O(n) per insert)
//! and grows until it is trimmed; here a key can only live in the [`WAYS`] slots of its bucket, so
//! a miss compares at most that many keys and, when they are all taken, replaces the one the
//! detector's `weight` ranks lowest. Keys are attacker-controlled (spoofed sources), so the bucket
//! comes from the process-secret keyed hash (`aggregate::keyhash`): nobody can aim a flood at the
//! bucket of the entry they want to push out. A flood of one-off keys then only churns the
//! low-weight slots, while an entry that keeps accumulating weight (a scanner, a beacon) stays.

/// Slots per bucket.
pub const WAYS: usize = 8;

pub struct Assoc<K, V> {
    keys: Box<[K]>,
    vals: Box<[V]>,
    /// Bit `w` of `used[b]`: way `w` of bucket `b` holds an entry.
    used: Box<[u8]>,
    mask: usize,
}

impl<K: Copy + Eq + Default, V: Default> Assoc<K, V> {
    /// A table of at least `cap` slots (rounded up to a power-of-two number of buckets).
    pub fn new(cap: usize) -> Self {
        let buckets = cap.div_ceil(WAYS).next_power_of_two().max(1);
        let n = buckets * WAYS;
        Assoc {
            keys: (0..n).map(|_| K::default()).collect(),
            vals: (0..n).map(|_| V::default()).collect(),
            used: vec![0u8; buckets].into_boxed_slice(),
            mask: buckets - 1,
        }
    }

    #[inline]
    fn bucket(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    #[inline]
    fn find(&self, key: &K, b: usize) -> Option<usize> {
        let used = self.used[b];
        let base = b * WAYS;
        (0..WAYS)
            .find(|&w| used & (1 << w) != 0 && self.keys[base + w] == *key)
            .map(|w| base + w)
    }

    /// The state of `key` (hashed with the keyed hasher by the caller), inserted as
    /// `V::default()` if absent. When the bucket is full, the slot with the smallest `weight`
    /// is given to `key`. The flag is true when the entry is new.
    #[inline]
    pub fn entry(&mut self, key: K, hash: u64, weight: impl Fn(&V) -> u64) -> (&mut V, bool) {
        let b = self.bucket(hash);
        if let Some(i) = self.find(&key, b) {
            return (&mut self.vals[i], false);
        }
        let used = self.used[b];
        let base = b * WAYS;
        let w = if used != u8::MAX {
            used.trailing_ones() as usize
        } else {
            (0..WAYS)
                .min_by_key(|&w| weight(&self.vals[base + w]))
                .unwrap_or(0)
        };
        self.used[b] = used | (1 << w);
        self.keys[base + w] = key;
        self.vals[base + w] = V::default();
        (&mut self.vals[base + w], true)
    }

    pub fn get(&self, key: &K, hash: u64) -> Option<&V> {
        self.find(key, self.bucket(hash)).map(|i| &self.vals[i])
    }

    #[inline]
    pub fn get_mut(&mut self, key: &K, hash: u64) -> Option<&mut V> {
        self.find(key, self.bucket(hash)).map(|i| &mut self.vals[i])
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.used.iter().enumerate().flat_map(move |(b, &used)| {
            (0..WAYS)
                .filter(move |w| used & (1 << w) != 0)
                .map(move |w| (&self.keys[b * WAYS + w], &self.vals[b * WAYS + w]))
        })
    }

    /// Keeps the entries for which `f` returns true (it may also update them).
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        for b in 0..self.used.len() {
            let mut used = self.used[b];
            for w in 0..WAYS {
                let i = b * WAYS + w;
                if used & (1 << w) != 0 && !f(&self.keys[i], &mut self.vals[i]) {
                    used &= !(1 << w);
                }
            }
            self.used[b] = used;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.used.iter().map(|u| u.count_ones() as usize).sum()
    }

    /// Slots (the most entries it can hold).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// Heap bytes: fixed at construction.
    pub fn memory(&self) -> usize {
        self.keys.len() * (std::mem::size_of::<K>() + std::mem::size_of::<V>()) + self.used.len()
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
        let heavy_hash = 12345u64;
        for i in 0..100_000u64 {
            // One heavy key gains weight while a flood of one-off keys churns every bucket.
            *t.entry(7, heavy_hash, |v| *v).0 += 1;
            let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            *t.entry(1_000_000 + i, h, |v| *v).0 += 1;
        }
        assert_eq!(t.len(), 64);
        assert_eq!(t.memory(), mem);
        assert_eq!(t.get(&7, heavy_hash), Some(&100_000));
        t.retain(|k, _| *k == 7);
        assert_eq!(t.len(), 1);
        assert_eq!(t.iter().count(), 1);
        let (v, new) = t.entry(8, 1, |v| *v);
        assert!(new && *v == 0);
    }
}
