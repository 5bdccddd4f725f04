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
//! Bounds: the map holds at most `cap` keys (hosts: `HOST_CAP` ≈ 0.9M; ports: the 4 port-carrying protocols ×
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
        if self.map.len() >= self.cap {
            if sec.saturating_sub(self.last_sweep) >= 60 {
                self.sweep(sec);
            }
            if self.map.len() >= self.cap {
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
