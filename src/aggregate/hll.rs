//! HyperLogLog distinct counting (Flajolet et al. 2007, with the linear-counting small-range
//! correction). Owns nothing but register arithmetic on byte slices, so the same code serves the
//! p = 12 per-10-second slots (4096 registers, ~1.6 % standard error) and the p = 8 per-second
//! `distinct_src` sketches (256 registers, ~6.5 %).
//!
//! Why slices instead of a struct: the slots live in fixed arrays inside other structures and are
//! merged on demand (register-wise max); no allocation per insert or per merge.
//!
//! The 64-bit hash comes from the caller: foldhash's *quality* variant with a fixed seed, so
//! estimates are deterministic across restarts (registers never leave the process, so a keyed
//! hash buys nothing here; the attacker cannot make HLL use more memory).

use std::hash::BuildHasher;

/// Precision of the window sketches.
pub const P: u32 = 12;
/// Registers of a window sketch.
pub const M: usize = 1 << P;
/// Precision of the per-second series sketches.
pub const P_SMALL: u32 = 8;
/// Registers of a per-second sketch.
pub const M_SMALL: usize = 1 << P_SMALL;

/// Fixed seed: the same address always hashes alike, run after run.
const SEED: u64 = 0x50c0_a11d_15c7_1c75;

/// Deterministic 64-bit hash of an address key (see module docs).
#[inline]
pub fn hash_key(key: u128) -> u64 {
    foldhash::quality::FixedState::with_seed(SEED).hash_one(key)
}

/// Records `hash` in `regs` (length `1 << p`). The top `p` bits pick the register; the rank is
/// the position of the first 1 bit in the rest (a sentinel bit caps it at 64 - p + 1).
#[inline]
pub fn insert(regs: &mut [u8], p: u32, hash: u64) {
    let idx = (hash >> (64 - p)) as usize;
    let w = (hash << p) | (1u64 << (p - 1));
    let rank = (w.leading_zeros() + 1) as u8;
    let r = &mut regs[idx];
    if rank > *r {
        *r = rank;
    }
}

/// Register-wise max: `acc` becomes the sketch of the union.
#[inline]
pub fn merge(acc: &mut [u8], other: &[u8]) {
    for (a, &b) in acc.iter_mut().zip(other) {
        *a = (*a).max(b);
    }
}

/// Cardinality estimate. With a 64-bit hash no large-range correction is needed.
pub fn estimate(regs: &[u8]) -> f64 {
    let m = regs.len() as f64;
    let mut sum = 0.0f64;
    let mut zeros = 0usize;
    for &r in regs {
        sum += f64::from_bits((1023u64 - u64::from(r)) << 52); // 2^-r without powi
        zeros += usize::from(r == 0);
    }
    let alpha = match regs.len() {
        16 => 0.673,
        32 => 0.697,
        64 => 0.709,
        _ => 0.7213 / (1.0 + 1.079 / m),
    };
    let raw = alpha * m * m / sum;
    if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: u32, p: u32) -> f64 {
        let mut regs = vec![0u8; 1 << p];
        for i in 0..n {
            insert(&mut regs, p, hash_key(u128::from(0x0a00_0000u32 + i)));
            // Duplicates must not count.
            insert(&mut regs, p, hash_key(u128::from(0x0a00_0000u32 + i / 2)));
        }
        estimate(&regs)
    }

    #[test]
    fn accuracy_100k_within_3_percent() {
        let est = run(100_000, P);
        let rel = (est - 100_000.0).abs() / 100_000.0;
        assert!(rel < 0.03, "estimate {est}, relative error {rel}");
    }

    #[test]
    fn small_ranges_are_nearly_exact() {
        assert_eq!(estimate(&[0u8; M]), 0.0);
        let est = run(100, P);
        assert!((est - 100.0).abs() < 3.0, "{est}");
        let est = run(1000, P_SMALL);
        assert!((est - 1000.0).abs() / 1000.0 < 0.2, "{est}");
    }

    #[test]
    fn merge_is_union() {
        let mut a = vec![0u8; M];
        let mut b = vec![0u8; M];
        for i in 0..30_000u128 {
            insert(&mut a, P, hash_key(i));
            insert(&mut b, P, hash_key(i + 15_000));
        }
        merge(&mut a, &b);
        let est = estimate(&a);
        assert!((est - 45_000.0).abs() / 45_000.0 < 0.04, "{est}");
    }
}
