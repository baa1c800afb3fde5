//! The word-mixing steps every hash of keys is built from (the routing
//! hash, the group tables' hash, packed keys' hash, and their vectorised
//! forms): a 128-bit multiply folded to 64 bits, as foldhash and wyhash.

use super::super::packed::short_str;

/// Multiplies to 128 bits and folds the halves: the mixing step of
/// foldhash and wyhash.
#[inline(always)]
pub(in crate::state) const fn fold(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

pub(in crate::state) const K1: u64 = 0x243f_6a88_85a3_08d3;

pub(in crate::state) const K2: u64 = 0x1319_8a2e_0370_7344;

/// What a NULL contributes to a hash (its equality is settled by comparing).
pub(in crate::state) const NULL_WORD: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
pub(in crate::state) fn mix(h: u64, word: u64) -> u64 {
    fold(h ^ word, K1)
}

#[inline(always)]
pub(in crate::state) fn mix_i128(h: u64, x: i128) -> u64 {
    fold(h ^ x as u64, K1 ^ (x >> 64) as u64)
}

/// A double as a key: -0.0 and 0.0 are one group; all NaNs are one group.
#[inline(always)]
pub(in crate::state) fn key_f64(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if x.is_nan() {
        f64::NAN
    } else {
        x
    }
}

/// `h` with the string `data[lo..hi]` (offsets of a string column) mixed
/// in: a string of up to 8 bytes is one word (read as [`short_str`] packs
/// it) folded into `h` at once, its length in the multiplier ([`mix_short`]);
/// a longer one is hashed by [`hash_long`], then mixed.
#[inline(always)]
pub(in crate::state) fn mix_str(h: u64, data: &[u8], lo: i32, hi: i32) -> u64 {
    match short_str(data, lo, hi) {
        Some((word, len)) => mix_short(h, word, len),
        None => mix(h, hash_long(&data[lo as usize..hi as usize])),
    }
}

/// `h` with a string of up to 8 bytes (`word`, `len`) mixed in: one folded
/// multiply (where a hash of the string, then [`mix`], took two).
#[inline(always)]
pub(in crate::state) fn mix_short(h: u64, word: u64, len: u64) -> u64 {
    fold(h ^ word, K1 ^ K2 ^ len)
}

/// The hash of a string longer than 8 bytes: its first and last 8 bytes up
/// to 16, then its length, each folded in turn; foldhash beyond. (The
/// length XORed into the first word, as until session 46, cancelled a
/// first byte that differed as the lengths did: "iéééééé" and "oééééé",
/// whose last 8 bytes are alike, hashed alike.)
pub(super) fn hash_long(b: &[u8]) -> u64 {
    let n = b.len();
    if n > 16 {
        use std::hash::BuildHasher;
        return foldhash::quality::FixedState::with_seed(K2).hash_one(b);
    }
    let w = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    fold(fold(w(0) ^ K2, w(n - 8) ^ K1), K2 ^ n as u64)
}
