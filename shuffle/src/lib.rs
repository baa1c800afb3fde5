//! # percore-shuffle
//!
//! Moves data between cores: the mapping of key hashes to destination cores,
//! and (to come with the thread-per-core runtime) the N×N mesh of bounded SPSC
//! rings carrying batches. Knows nothing of SQL.

#![deny(unsafe_op_in_unsafe_fn)]

/// The core that owns a key with hash `hash` among `cores` cores.
///
/// Multiply-shift range reduction: uniform for uniform hashes, and stable for
/// a given `(hash, cores)`, so every core routes a key to the same owner.
#[inline]
pub fn owner_of(hash: u64, cores: usize) -> usize {
    debug_assert!(cores > 0, "at least one core");
    ((hash as u128 * cores as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_in_range_and_spread() {
        use std::hash::BuildHasher;
        let state = foldhash::quality::FixedState::with_seed(1);
        for cores in 1..=8 {
            let mut counts = vec![0usize; cores];
            for k in 0..80_000u64 {
                let o = owner_of(state.hash_one(k), cores);
                assert!(o < cores);
                counts[o] += 1;
            }
            let expected = 80_000 / cores;
            for c in counts {
                assert!(
                    c > expected * 9 / 10 && c < expected * 11 / 10,
                    "skewed: {c} vs {expected}"
                );
            }
        }
    }
}
