//! First-seen detection: destination ports and internal hosts not seen in the retained history
//! (7 days), reported for the last hour, newest first.
//!
//! One hash map per kind from key to `{first, last, count}` (seconds since the epoch as `u32`,
//! good until 2106, to keep entries small). A key is *new* when it is absent or its `last` sighting
//! is older than the retention; it then (re)starts with `first = now`. A bounded ring of recent
//! novelties (`RECENT_CAP`) makes the report O(ring) instead of a scan of the whole map; an entry of
//! the ring is reported only if the map still agrees on its `first` (so a key that expired and came
//! back is listed once, at its newest `first`).
//!
//! Bounds: the map holds at most `cap` keys (hosts: `HOST_CAP` ≈ 0.9M over both families, kept in
//! two sets ([`Hosts`]) so IPv4 entries are half the size, IPv6 at most `HOST_CAP_V6`; ports: the 4
//! port-carrying protocols ×
//! 65536 fits in 262144). When full, expired keys are swept (at most once a minute, so an attacker
//! cannot make every record pay for a full scan); if it is still full the newcomer is *not*
//! remembered and not reported, and `dropped` counts it (shown as `first_seen.host_dropped`).
//! Keys are attacker-controlled, so the map uses a randomly seeded hasher.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use foldhash::fast::RandomState;

/// Novelties remembered for the report (the report shows at most `REPORT_MAX`).
pub const RECENT_CAP: usize = 4096;
/// Entries per list in the snapshot.
pub const REPORT_MAX: usize = 50;

#[derive(Clone, Copy)]
struct Seen {
    first: u32,
    last: u32,
    count: u32,
}

pub struct FirstSeen<K> {
    map: HashMap<K, Seen, RandomState>,
    cap: usize,
    retention_s: u32,
    recent: VecDeque<(K, u32)>,
    dropped: u64,
    last_sweep: u32,
}

impl<K: Copy + Eq + Hash> FirstSeen<K> {
    pub fn new(cap: usize, retention_s: u32) -> Self {
        FirstSeen {
            map: HashMap::default(),
            cap,
            retention_s,
            recent: VecDeque::with_capacity(RECENT_CAP),
            dropped: 0,
            last_sweep: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn push_recent(&mut self, key: K, sec: u32) {
        if self.recent.len() == RECENT_CAP {
            self.recent.pop_front();
        }
        self.recent.push_back((key, sec));
    }

    /// Records a sighting at `sec` (seconds since the epoch).
    #[inline]
    pub fn observe(&mut self, key: K, sec: u32) {
        self.observe_shared(key, sec, 0);
    }

    /// [`observe`](Self::observe) when `others` more keys share this set's cap (the other address
    /// family of [`Hosts`]).
    #[inline]
    pub fn observe_shared(&mut self, key: K, sec: u32, others: usize) {
        if let Some(s) = self.map.get_mut(&key) {
            if sec.saturating_sub(s.last) > self.retention_s {
                *s = Seen {
                    first: sec,
                    last: sec,
                    count: 1,
                };
                self.push_recent(key, sec);
            } else {
                s.last = sec;
                s.count = s.count.saturating_add(1);
            }
            return;
        }
        if self.map.len() + others >= self.cap {
            if sec.saturating_sub(self.last_sweep) >= 60 {
                self.sweep(sec);
            }
            if self.map.len() + others >= self.cap {
                self.dropped += 1;
                return;
            }
        }
        self.map.insert(
            key,
            Seen {
                first: sec,
                last: sec,
                count: 1,
            },
        );
        self.push_recent(key, sec);
    }

    /// Forgets keys not seen within the retention.
    pub fn sweep(&mut self, sec: u32) {
        self.last_sweep = sec;
        let keep = self.retention_s;
        self.map.retain(|_, s| sec.saturating_sub(s.last) <= keep);
    }

    /// `(key, first, count)` of keys first seen at or after `since`, newest first, at most `max`.
    pub fn recent(&self, since: u32, max: usize) -> Vec<(K, u32, u32)> {
        let mut out = Vec::new();
        for &(k, at) in self.recent.iter().rev() {
            if at < since || out.len() >= max {
                break;
            }
            match self.map.get(&k) {
                Some(s) if s.first == at => out.push((k, at, s.count)),
                _ => {}
            }
        }
        out
    }

    pub fn heap_bytes(&self) -> usize {
        let buckets = (self.map.capacity() * 8 / 7).next_power_of_two();
        buckets * (std::mem::size_of::<(K, Seen)>() + 1)
            + self.recent.capacity() * std::mem::size_of::<(K, u32)>()
    }
}

/// Internal hosts, split by family so the common IPv4 entry is a 16-byte `(u32, Seen)` instead
/// of a 32-byte `(u128, Seen)`: at the cap that halves the largest structure of the aggregator
/// (2^21 buckets × 17 B ≈ 36 MB instead of × 33 B ≈ 69 MB). Both families share `cap`; IPv6 is
/// further capped at `v6_cap` (its buckets stay 33 B), so a spray of internal IPv6 addresses
/// cannot rebuild the large table.
pub struct Hosts {
    v4: FirstSeen<u32>,
    v6: FirstSeen<u128>,
    cap: usize,
}

impl Hosts {
    pub fn new(cap: usize, v6_cap: usize, retention_s: u32) -> Self {
        Hosts {
            v4: FirstSeen::new(cap, retention_s),
            v6: FirstSeen::new(v6_cap.min(cap), retention_s),
            cap,
        }
    }

    /// Records a sighting of address key `key` (IPv4-mapped keys go to the IPv4 set).
    #[inline]
    pub fn observe(&mut self, key: u128, sec: u32) {
        if key >> 32 == 0xffff {
            self.v4.observe_shared(key as u32, sec, self.v6.len());
        } else {
            // Full when v6 reaches its own cap or both together reach the shared one:
            // `v6 + max(0, v4 - (cap - v6_cap)) >= v6_cap`.
            let others = self.v4.len().saturating_sub(self.cap - self.v6.cap);
            self.v6.observe_shared(key, sec, others);
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn dropped(&self) -> u64 {
        self.v4.dropped() + self.v6.dropped()
    }

    pub fn sweep(&mut self, sec: u32) {
        self.v4.sweep(sec);
        self.v6.sweep(sec);
    }

    /// Both families' [`FirstSeen::recent`] merged, newest first.
    pub fn recent(&self, since: u32, max: usize) -> Vec<(u128, u32, u32)> {
        let a = self.v4.recent(since, max);
        let b = self.v6.recent(since, max);
        let mut out = Vec::with_capacity(max.min(a.len() + b.len()));
        let (mut i, mut j) = (0, 0);
        while out.len() < max && (i < a.len() || j < b.len()) {
            if j >= b.len() || (i < a.len() && a[i].1 >= b[j].1) {
                let (k, at, n) = a[i];
                out.push((0xffff_0000_0000 | u128::from(k), at, n));
                i += 1;
            } else {
                out.push(b[j]);
                j += 1;
            }
        }
        out
    }

    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_once_then_known_then_new_after_retention() {
        let mut f: FirstSeen<u32> = FirstSeen::new(10, 100);
        f.observe(7, 1000);
        f.observe(7, 1001);
        f.observe(8, 1002);
        assert_eq!(f.recent(0, 10), vec![(8, 1002, 1), (7, 1000, 2)]);
        assert_eq!(f.recent(1001, 10), vec![(8, 1002, 1)]);
        // Unseen for longer than the retention: new again, listed once.
        f.observe(7, 1200);
        assert_eq!(f.recent(0, 10), vec![(7, 1200, 1), (8, 1002, 1)]);
    }

    #[test]
    fn hosts_split_by_family_share_the_cap() {
        let mut h = Hosts::new(4, 2, 100);
        let v4 = |n: u32| 0xffff_0000_0000u128 | u128::from(n);
        h.observe(v4(1), 1000);
        h.observe(0xfd00 << 112, 1001);
        h.observe(v4(2), 1002);
        h.observe((0xfd00 << 112) | 1, 1002);
        h.observe((0xfd00 << 112) | 2, 1003); // v6 at its own cap of 2
        assert_eq!((h.len(), h.dropped()), (4, 1));
        h.observe(v4(3), 1003); // shared cap of 4
        assert_eq!((h.len(), h.dropped()), (4, 2));
        h.observe(v4(1), 1004); // known keys keep being tracked
        let r = h.recent(0, 10);
        assert_eq!(
            r.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![v4(2), (0xfd00 << 112) | 1, 0xfd00 << 112, v4(1)]
        );
        assert_eq!(r[3], (v4(1), 1000, 2));
        assert_eq!(h.recent(0, 2).len(), 2);
    }

    #[test]
    fn cap_drops_newcomers_until_sweep_frees_room() {
        let mut f: FirstSeen<u32> = FirstSeen::new(3, 100);
        for k in 0..5 {
            f.observe(k, 1000);
        }
        assert_eq!(f.len(), 3);
        assert_eq!(f.dropped(), 2);
        // After the retention the old keys are swept and a newcomer fits.
        f.observe(99, 1200);
        assert_eq!(f.len(), 1);
        assert_eq!(f.recent(1100, 10), vec![(99, 1200, 1)]);
    }
}
