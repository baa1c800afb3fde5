//! The rows a filter keeps, listed: the positions of a mask's set bits.
//!
//! Contract: [`kept_rows`] fills `out` with every `i` below `keep.len()`
//! whose bit is set, ascending; bits of the buffer outside the mask's range
//! are ignored.
//!
//! With AVX2, eight rows a step and no branch per row: a byte of the mask
//! picks from a table the positions of its set bits (up to eight, as
//! bytes, in order); they are widened to 32 bits, offset by the byte's
//! first row and stored as eight values, of which as many as the byte has
//! set bits are kept (the next store overwrites the rest). Elsewhere, and
//! for a mask that does not start on a byte, Arrow's set-bit iterator.

use arrow_buffer::BooleanBuffer;

/// `POSITIONS[b]`: the positions (0..8) of byte `b`'s set bits, lowest
/// first, one per byte of the word from its low end.
static POSITIONS: [u64; 256] = positions();

const fn positions() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let (mut word, mut k, mut bit) = (0u64, 0, 0);
        while bit < 8 {
            if (b >> bit) & 1 == 1 {
                word |= (bit as u64) << (8 * k);
                k += 1;
            }
            bit += 1;
        }
        table[b] = word;
        b += 1;
    }
    table
}

/// Lists the set bits of `keep` in `out` (emptied first), ascending.
///
/// # Panics
/// When the mask is longer than `u32::MAX` rows.
pub(super) fn kept_rows(keep: &BooleanBuffer, out: &mut Vec<u32>) {
    out.clear();
    let n = keep.len();
    assert!(n <= u32::MAX as usize, "rows numbered in 32 bits");
    #[cfg(target_arch = "x86_64")]
    if keep.offset().is_multiple_of(8)
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("popcnt")
    {
        let count = keep.count_set_bits();
        // Room for the last store's eight values past the last kept row.
        out.reserve(count + 8);
        let from = keep.offset() / 8;
        let bytes = &keep.values()[from..from + n.div_ceil(8)];
        // SAFETY: the CPU has AVX2 and POPCNT (checked just above), the
        // target features `kept_avx2` enables; `out` has room for `count`
        // rows plus eight, and `count` is the number of set bits among the
        // first `n` bits of `bytes`, the ones `kept_avx2` reads.
        let written = unsafe { kept_avx2(bytes, n, out.as_mut_ptr()) };
        assert_eq!(written, count, "one row per set bit");
        // SAFETY: `kept_avx2` wrote the first `written` values.
        unsafe { out.set_len(written) };
        return;
    }
    out.reserve(keep.count_set_bits());
    out.extend(keep.set_indices().map(|i| i as u32));
}

/// Writes, from `out` on, the positions of the set bits among the first
/// `n` bits of `bytes` (bit `i` is bit `i % 8` of byte `i / 8`), ascending;
/// returns how many. Each step stores eight values at once.
///
/// # Safety
/// The CPU must have AVX2 and POPCNT; `bytes` must hold `n.div_ceil(8)`
/// bytes; `out` must have room for the set bits among the first `n`, plus
/// eight values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn kept_avx2(bytes: &[u8], n: usize, out: *mut u32) -> usize {
    use std::arch::x86_64::*;
    let (mut k, mut base) = (0usize, _mm256_setzero_si256());
    let eight = _mm256_set1_epi32(8);
    let mut step = |b: u8| {
        let pos = _mm_cvtsi64_si128(POSITIONS[b as usize] as i64);
        let rows = _mm256_add_epi32(_mm256_cvtepu8_epi32(pos), base);
        // SAFETY: `k` counts the set bits before this byte, so the eight
        // values stored at it lie within the room the caller gave (its set
        // bits, plus eight).
        unsafe { _mm256_storeu_si256(out.add(k) as *mut __m256i, rows) };
        k += b.count_ones() as usize;
        base = _mm256_add_epi32(base, eight);
    };
    let whole = n / 8;
    for &b in &bytes[..whole] {
        step(b);
    }
    if !n.is_multiple_of(8) {
        // The last byte's bits past the mask's end do not count.
        step(bytes[whole] & ((1u8 << (n % 8)) - 1));
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_buffer::Buffer;
    use proptest::prelude::*;

    proptest! {
        /// The rows listed are exactly the set bits within the mask's
        /// range, ascending: masks of every length, starting on a byte or
        /// not, over buffers whose bits around the range are set.
        #[test]
        fn the_rows_listed_are_the_set_bits(
            bits in prop::collection::vec(any::<bool>(), 0..300),
            dense in any::<bool>(),
            offset in 0usize..20,
        ) {
            // Bits before `offset` and after the mask all set, to be ignored.
            let mut bytes = vec![0xffu8; (offset + bits.len()).div_ceil(8) + 2];
            for (i, &b) in bits.iter().enumerate() {
                let (at, bit) = ((offset + i) / 8, (offset + i) % 8);
                let b = b || dense;
                bytes[at] = (bytes[at] & !(1 << bit)) | ((b as u8) << bit);
            }
            let keep = BooleanBuffer::new(Buffer::from_vec(bytes), offset, bits.len());
            let want: Vec<u32> = (0..bits.len() as u32).filter(|&i| bits[i as usize] || dense).collect();
            let mut got = vec![7, 7];
            kept_rows(&keep, &mut got);
            prop_assert_eq!(got, want);
        }
    }
}
