//! Bottom-N ("rare") destination ports: exact counts per time slot up to a hard cap of distinct
//! ports, merged on demand.
//!
//! Space-Saving cannot answer "fewest" (its errors are largest for the small counts), so each
//! 10-second slot counts the first `cap` distinct ports it sees exactly and lumps later newcomers
//! into `untracked`. Approximation: while a slot stays under the cap (the normal case — a busy
//! network shows a few hundred distinct destination ports per 10 s) the merged counts are exact;
//! once a slot overflows, ports first hit after the cap are missing from that slot, so a listed
//! count is a lower bound and a port seen only in overflowed slots is not listed at all. During a
//! port scan "rare" is noise anyway; `untracked` tells how much was dropped.

use std::collections::HashMap;

use foldhash::fast::RandomState;

pub struct Rare {
    cap: usize,
    /// port key → (events, bytes)
    map: HashMap<u32, (u64, u64), RandomState>,
    untracked: u64,
}

impl Rare {
    pub fn new(cap: usize) -> Self {
        Rare {
            cap,
            map: HashMap::with_capacity_and_hasher(cap, RandomState::default()),
            untracked: 0,
        }
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.untracked = 0;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[inline]
    pub fn add(&mut self, key: u32, bytes: u64) {
        let len = self.map.len();
        match self.map.get_mut(&key) {
            Some(v) => {
                v.0 += 1;
                v.1 += bytes;
            }
            None if len < self.cap => {
                self.map.insert(key, (1, bytes));
            }
            None => self.untracked += 1,
        }
    }

    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    pub fn heap_bytes(&self) -> usize {
        let buckets = (self.map.capacity() * 8 / 7).next_power_of_two();
        buckets * (std::mem::size_of::<(u32, (u64, u64))>() + 1)
    }
}

/// Sum of several slots.
#[derive(Default)]
pub struct RareMerger {
    map: HashMap<u32, (u64, u64), RandomState>,
}

impl RareMerger {
    pub fn add(&mut self, r: &Rare) {
        for (&k, &(c, b)) in &r.map {
            let e = self.map.entry(k).or_default();
            e.0 += c;
            e.1 += b;
        }
    }

    /// `(key, events, bytes)` of the `n` ports with the fewest events, fewest first.
    pub fn bottom(&self, n: usize) -> Vec<(u32, u64, u64)> {
        let mut all: Vec<(u32, u64, u64)> =
            self.map.iter().map(|(&k, &(c, b))| (k, c, b)).collect();
        let order = |a: &(u32, u64, u64), b: &(u32, u64, u64)| a.1.cmp(&b.1).then(a.0.cmp(&b.0));
        if all.len() > n && n > 0 {
            all.select_nth_unstable_by(n - 1, order);
        }
        all.truncate(n);
        all.sort_unstable_by(order);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottom_n_and_cap() {
        let mut r = Rare::new(3);
        for (k, n) in [(1u32, 5), (2, 1), (3, 2), (4, 7)] {
            for _ in 0..n {
                r.add(k, 10);
            }
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.untracked(), 7);
        let mut m = RareMerger::default();
        m.add(&r);
        m.add(&r);
        assert_eq!(m.bottom(2), vec![(2, 2, 20), (3, 4, 40)]);
    }
}
