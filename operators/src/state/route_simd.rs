//! The routing hash's column loops, eight rows a step where the CPU has
//! AVX-512.
//!
//! Contract: [`mix_ints`] sets each `out[i]` to `mix(out[i], v[i])` and
//! [`mix_strs`] each `out[i]` to `mix_str(out[i], data, offsets[i],
//! offsets[i + 1])` — bit for bit what the scalar functions of
//! [`super::group_table`] give, so every core routes a key alike whichever
//! path it took. With AVX-512 F the 64 × 64 → 128-bit multiply of `fold`
//! is built from four 32 × 32 → 64-bit ones, and a string of up to 8 bytes
//! is read as one word (a gather), its bytes past its length shifted out;
//! eight rows holding a longer string, and the last rows, whose word would
//! read past the text, are mixed one by one. Without AVX-512, the scalar
//! loops.

use super::group_table::{mix, mix_str};

/// Whether `mix_ints` and `mix_strs` run eight rows a step (the CPU
/// has AVX-512 F).
pub fn vectorised() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `out[i] = mix(out[i], v[i])` for every row of `out`.
///
/// # Panics
/// When `v` is shorter than `out`.
pub(super) fn mix_ints(out: &mut [u64], v: &[i64]) {
    let v = &v[..out.len()];
    #[cfg(target_arch = "x86_64")]
    if vectorised() {
        // SAFETY: the CPU has AVX-512 F (checked just above); `v` is as
        // long as `out` (sliced above).
        unsafe { avx512::mix_ints(out, v) };
        return;
    }
    mix_ints_any(out, v);
}

/// [`mix_ints`] row by row.
pub(super) fn mix_ints_any(out: &mut [u64], v: &[i64]) {
    for (h, x) in out.iter_mut().zip(v) {
        *h = mix(*h, *x as u64);
    }
}

/// `out[i] = mix_str(out[i], data, offsets[i], offsets[i + 1])` for every
/// row of `out`: `offsets` and `data` are a valid string array's (offsets
/// ascending, each within `data`).
///
/// # Panics
/// When there are not `out.len() + 1` offsets, or the first or last lies
/// outside `data`.
pub(super) fn mix_strs(out: &mut [u64], offsets: &[i32], data: &[u8]) {
    let offsets = &offsets[..out.len() + 1];
    let (first, last) = (offsets[0], offsets[out.len()]);
    assert!(
        0 <= first && first <= last && last as usize <= data.len(),
        "offsets within the text"
    );
    #[cfg(target_arch = "x86_64")]
    if vectorised() {
        // SAFETY: the CPU has AVX-512 F (checked just above); there are
        // `out.len() + 1` offsets (sliced above), the first and last within
        // `data` (asserted above), and they ascend (a valid array's).
        unsafe { avx512::mix_strs(out, offsets, data) };
        return;
    }
    mix_strs_any(out, offsets, data);
}

/// [`mix_strs`] row by row.
pub(super) fn mix_strs_any(out: &mut [u64], offsets: &[i32], data: &[u8]) {
    for (h, e) in out.iter_mut().zip(offsets.windows(2)) {
        *h = mix_str(*h, data, e[0], e[1]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::super::group_table::{K1, K2};
    use super::{mix_ints_any, mix_strs_any};

    /// The lanes' `fold(a, b)`: the 128-bit product's halves XORed.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fold8(a: __m512i, b: __m512i) -> __m512i {
        let low = _mm512_set1_epi64(0xffff_ffff);
        let (ah, bh) = (_mm512_srli_epi64::<32>(a), _mm512_srli_epi64::<32>(b));
        // The four 32 × 32-bit products of the halves.
        let ll = _mm512_mul_epu32(a, b);
        let lh = _mm512_mul_epu32(a, bh);
        let hl = _mm512_mul_epu32(ah, b);
        let hh = _mm512_mul_epu32(ah, bh);
        // Bits 32..96: the cross products' low halves and `ll`'s high one
        // (under 2^34, so no carry is lost).
        let mid = _mm512_add_epi64(
            _mm512_srli_epi64::<32>(ll),
            _mm512_add_epi64(_mm512_and_si512(lh, low), _mm512_and_si512(hl, low)),
        );
        let lo = _mm512_or_si512(_mm512_and_si512(ll, low), _mm512_slli_epi64::<32>(mid));
        let hi = _mm512_add_epi64(
            _mm512_add_epi64(hh, _mm512_srli_epi64::<32>(mid)),
            _mm512_add_epi64(_mm512_srli_epi64::<32>(lh), _mm512_srli_epi64::<32>(hl)),
        );
        _mm512_xor_si512(lo, hi)
    }

    /// [`super::mix_ints`] with AVX-512 F.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F; `v` must be as long as `out`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn mix_ints(out: &mut [u64], v: &[i64]) {
        let n = out.len();
        let k = _mm512_set1_epi64(K1 as i64);
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: rows `i..i + 8` are within `out` and `v` (as long).
            unsafe {
                let h = _mm512_loadu_si512(out.as_ptr().add(i).cast());
                let x = _mm512_loadu_si512(v.as_ptr().add(i).cast());
                let r = fold8(_mm512_xor_si512(h, x), k);
                _mm512_storeu_si512(out.as_mut_ptr().add(i).cast(), r);
            }
            i += 8;
        }
        mix_ints_any(&mut out[i..], &v[i..]);
    }

    /// [`super::mix_strs`] with AVX-512 F.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F; there must be `out.len() + 1` offsets,
    /// ascending, the first at least 0 and the last at most `data.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn mix_strs(out: &mut [u64], offsets: &[i32], data: &[u8]) {
        let n = out.len();
        // Rows whose string starts 8 bytes or more before the text's end:
        // the offsets ascend, so those before the first that does not.
        let mut whole = n;
        while whole > 0 && offsets[whole - 1] as usize + 8 > data.len() {
            whole -= 1;
        }
        let eight = _mm512_set1_epi64(8);
        let sixty_four = _mm512_set1_epi64(64);
        let c = _mm512_set1_epi64((K1 ^ K2) as i64);
        let mut i = 0;
        while i + 8 <= whole {
            // SAFETY: offsets `i..i + 9` exist (`i + 8 <= n`, and there are
            // `n + 1`).
            let (lo, hi) = unsafe {
                let at = offsets.as_ptr().add(i);
                (
                    _mm256_loadu_si256(at.cast()),
                    _mm256_loadu_si256(at.add(1).cast()),
                )
            };
            let len = _mm512_sub_epi64(_mm512_cvtepi32_epi64(hi), _mm512_cvtepi32_epi64(lo));
            if _mm512_cmpgt_epu64_mask(len, eight) != 0 {
                // A longer string among the eight (or a length that is not
                // one, which the scalar mix rejects): row by row.
                mix_strs_any(&mut out[i..i + 8], &offsets[i..i + 9], data);
                i += 8;
                continue;
            }
            // SAFETY: each of the eight rows starts at an offset (at least
            // 0, the offsets ascending from the first) at most that of row
            // `whole - 1`, which lies 8 or more bytes before the text's end:
            // each 8-byte read is within `data`.
            let words = unsafe { _mm512_i32gather_epi64::<1>(lo, data.as_ptr().cast()) };
            // The low `len` bytes of each word: shifted up past the rest,
            // then back (a shift by 64 leaves 0, the empty string's word).
            let gone = _mm512_sub_epi64(sixty_four, _mm512_slli_epi64::<3>(len));
            let word = _mm512_srlv_epi64(_mm512_sllv_epi64(words, gone), gone);
            // SAFETY: rows `i..i + 8` are within `out`.
            unsafe {
                let h = _mm512_loadu_si512(out.as_ptr().add(i).cast());
                let r = fold8(_mm512_xor_si512(h, word), _mm512_xor_si512(c, len));
                _mm512_storeu_si512(out.as_mut_ptr().add(i).cast(), r);
            }
            i += 8;
        }
        mix_strs_any(&mut out[i..], &offsets[i..], data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Both paths give what the scalar mix gives row by row: strings
        /// mostly of up to 8 bytes (so most steps of eight take the vector
        /// path), now and then one of up to 40 (a step with a longer one),
        /// at the text's very end, from a text whose first offset is not 0,
        /// and any 64-bit values; row counts around the eight-row step.
        #[test]
        fn both_paths_mix_as_the_scalar_mix(
            strs in prop::collection::vec(
                prop_oneof![30 => "[a-z]{0,8}", 1 => "[a-zé]{0,20}"],
                0..40,
            ),
            skip in 0usize..3,
            seeds in prop::collection::vec(any::<u64>(), 40),
            ints in prop::collection::vec(any::<i64>(), 40),
        ) {
            let mut offsets = vec![skip as i32];
            let mut data = vec![b'#'; skip];
            for s in &strs {
                data.extend_from_slice(s.as_bytes());
                offsets.push(data.len() as i32);
            }
            let n = strs.len();
            let want: Vec<u64> = (0..n)
                .map(|i| mix_str(seeds[i], &data, offsets[i], offsets[i + 1]))
                .collect();
            let mut got = seeds[..n].to_vec();
            mix_strs(&mut got, &offsets, &data);
            prop_assert_eq!(&got, &want);
            let mut any = seeds[..n].to_vec();
            mix_strs_any(&mut any, &offsets, &data);
            prop_assert_eq!(&any, &want);

            let want: Vec<u64> = (0..n).map(|i| mix(seeds[i], ints[i] as u64)).collect();
            let mut got = seeds[..n].to_vec();
            mix_ints(&mut got, &ints);
            prop_assert_eq!(&got, &want);
        }
    }
}
