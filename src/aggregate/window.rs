//! Fixed-size time rings: the per-second (1 h) and per-minute (7 days) counter buckets, and the
//! generic [`Ring`] the feeds and sketches reuse.
//!
//! Every slot carries the absolute index (second or minute since the epoch) it currently holds.
//! A slot whose tag does not match the requested index is stale and reads as zero; writing to it
//! resets it first. So nothing ever has to "tick": after a gap of days the ring is simply all
//! stale, with no catch-up loop, and memory is allocated once at start.

/// A ring of `len` slots indexed by an absolute, monotonically advancing slot number.
pub struct Ring<T> {
    tags: Vec<i64>,
    vals: Vec<T>,
}

impl<T: Default + Clone> Ring<T> {
    pub fn new(len: usize) -> Self {
        Ring {
            tags: vec![i64::MIN; len],
            vals: vec![T::default(); len],
        }
    }

    pub fn len(&self) -> usize {
        self.tags.len()
    }

    #[inline]
    fn pos(&self, idx: i64) -> usize {
        idx.rem_euclid(self.tags.len() as i64) as usize
    }

    /// The slot for `idx`, reset to default if it held an older index.
    #[inline]
    pub fn slot_mut(&mut self, idx: i64) -> &mut T {
        let i = self.pos(idx);
        if self.tags[i] != idx {
            self.tags[i] = idx;
            self.vals[i] = T::default();
        }
        &mut self.vals[i]
    }

    /// The slot for `idx` if the ring still holds it.
    #[inline]
    pub fn get(&self, idx: i64) -> Option<&T> {
        let i = self.pos(idx);
        (self.tags[i] == idx).then(|| &self.vals[i])
    }

    /// Bytes held (for `memory_estimate`).
    pub fn heap_bytes(&self) -> usize {
        self.tags.capacity() * 8 + self.vals.capacity() * std::mem::size_of::<T>()
    }
}

/// Protocol classes kept per bucket: compact on purpose (four, not 256).
pub const PROTO_CLASSES: [&str; 4] = ["tcp", "udp", "icmp", "other"];

/// Counters of one time bucket (by arrival time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub lines: u64,
    pub events: u64,
    pub bytes: u64,
    pub packets: u64,
    pub allowed: u64,
    pub denied: u64,
    pub no_verdict: u64,
    pub proto_events: [u64; 4],
    pub proto_bytes: [u64; 4],
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.lines += o.lines;
        self.events += o.events;
        self.bytes += o.bytes;
        self.packets += o.packets;
        self.allowed += o.allowed;
        self.denied += o.denied;
        self.no_verdict += o.no_verdict;
        for i in 0..4 {
            self.proto_events[i] += o.proto_events[i];
            self.proto_bytes[i] += o.proto_bytes[i];
        }
    }
}

/// Sums `ring` over slot indices `from..=to` (stale slots count zero).
pub fn sum(ring: &Ring<Counts>, from: i64, to: i64) -> Counts {
    let mut acc = Counts::default();
    let from = from.max(to - ring.len() as i64 + 1);
    for i in from..=to {
        if let Some(c) = ring.get(i) {
            acc.add(c);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_slots_read_zero_and_reset_on_write() {
        let mut r: Ring<u64> = Ring::new(4);
        *r.slot_mut(10) += 5;
        assert_eq!(r.get(10), Some(&5));
        assert_eq!(r.get(14), None); // same position, newer index
        assert_eq!(r.get(6), None); // same position, older index
        *r.slot_mut(14) += 1;
        assert_eq!(r.get(14), Some(&1));
        assert_eq!(r.get(10), None);
        // Negative indices (before 1970) still map into the ring.
        *r.slot_mut(-3) += 2;
        assert_eq!(r.get(-3), Some(&2));
    }
}
