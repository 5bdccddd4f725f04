//! One keyed 64-bit hash per address, port and pair, computed once per record and reused by
//! every table that holds that key (the Space-Saving indices of all nine summaries, the rare-port
//! counter, the first-seen sets).
//!
//! Why not a `BuildHasher` per map: with one randomly seeded hasher per map (what
//! `foldhash::fast::RandomState` gives) each record pays one hash per summary — up to nine for the
//! same source address. Sharing one secret per process keeps the flooding protection (the keys
//! are attacker-controlled; the seeds are random and never leave the process) and turns those
//! into one hash per key.
//!
//! The mixing is foldhash's "fast" core: a folded multiply (`lo × hi` of the 128-bit product
//! XORed together) of the two key halves with the secret seeds, so quality equals the
//! `foldhash::fast::RandomState` maps it replaces. A pair hashes its two address hashes again.

use std::hash::BuildHasher;
use std::sync::OnceLock;

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The per-process secret hasher (cheap to copy: four words).
#[derive(Clone, Copy)]
pub struct KeyHasher {
    k: [u64; 4],
}

impl KeyHasher {
    /// The process-wide instance: random seeds drawn once (from std's `RandomState`, which is
    /// seeded from the OS), shared by every table so a hash computed once fits all of them.
    #[inline]
    pub fn get() -> KeyHasher {
        static SEEDS: OnceLock<KeyHasher> = OnceLock::new();
        *SEEDS.get_or_init(|| {
            let s = std::collections::hash_map::RandomState::new();
            let mut k = [0u64, 1, 2, 3].map(|i| s.hash_one(i));
            // An IPv4-mapped key has a zero high half, so `k[1]` alone is the multiplier: odd,
            // the low bits of the product (what the tables index by) are a bijection of the
            // key's low bits; an even one would lose a bit per trailing zero.
            k[1] |= 1;
            k[3] |= 1;
            KeyHasher { k }
        })
    }

    /// Hash of an address key (`u128`, IPv4 as IPv4-mapped).
    #[inline(always)]
    pub fn addr(&self, key: u128) -> u64 {
        folded_multiply((key as u64) ^ self.k[0], ((key >> 64) as u64) ^ self.k[1])
    }

    /// Hash of a port key (`proto << 16 | port`).
    #[inline(always)]
    pub fn port(&self, key: u32) -> u64 {
        folded_multiply(u64::from(key) ^ self.k[2], self.k[1])
    }

    /// Hash of a `(src, dst)` pair from the two address hashes.
    #[inline(always)]
    pub fn pair(&self, src: u64, dst: u64) -> u64 {
        folded_multiply(src ^ self.k[2], dst ^ self.k[3])
    }
}

/// Keys that the shared hasher knows how to hash (for the test-only entry points that are not
/// handed a precomputed hash).
#[cfg(test)]
pub trait KeyHash: Copy + Eq {
    fn key_hash(&self, h: &KeyHasher) -> u64;
}

#[cfg(test)]
impl KeyHash for u128 {
    #[inline(always)]
    fn key_hash(&self, h: &KeyHasher) -> u64 {
        h.addr(*self)
    }
}

#[cfg(test)]
impl KeyHash for u32 {
    #[inline(always)]
    fn key_hash(&self, h: &KeyHasher) -> u64 {
        h.port(*self)
    }
}

#[cfg(test)]
impl KeyHash for (u128, u128) {
    #[inline(always)]
    fn key_hash(&self, h: &KeyHasher) -> u64 {
        h.pair(h.addr(self.0), h.addr(self.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_within_process_and_spread() {
        let h = KeyHasher::get();
        assert_eq!(h.addr(42), KeyHasher::get().addr(42));
        // Sequential IPv4 keys spread over the low bits (what the tables index by).
        let mut seen = std::collections::HashSet::new();
        for i in 0..1024u32 {
            seen.insert(h.addr(0xffff_0a00_0000u128 | u128::from(i)) & 4095);
        }
        assert!(seen.len() > 700, "{} of 1024 buckets", seen.len());
        assert_ne!(h.pair(1, 2), h.pair(2, 1));
    }
}
