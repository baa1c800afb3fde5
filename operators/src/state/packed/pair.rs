//! Packing the common two-column key — a NULL-free BIGINT and a NULL-free
//! VARCHAR of at most 8 bytes, in either order — a row at a time.
//!
//! Contract: [`pack_pair`] gives each row the three words the general
//! passes of [`super::pack`] give it (the number, the string's bytes as a
//! little-endian word, the tag word: both validity bits and the string's
//! length), or `false` when a string is longer than 8 bytes. Each row is
//! written whole, once, where the general passes set every row to a blank
//! and then read and rewrite it once per column. With AVX-512 (F, VL),
//! eight rows a step: their strings' words gathered, masked to their
//! lengths, and the three columns interleaved into rows by permutes; a
//! step whose strings are not all short, or whose last word would read
//! past the text, goes row by row, as the rest does.

use std::mem::MaybeUninit;

use super::{short_str, TAG_BITS};
use crate::cpu::by_cpu;

/// See the [module docs](self): the first `n` rows of the number column
/// `v` and the string column (`offsets`, `data`), the string at word
/// `SI` (0 or 1), the number at the other.
#[inline(always)]
pub(super) fn pack_pair<const W: usize, const SI: usize>(
    v: &[i64],
    offsets: &[i32],
    data: &[u8],
    n: usize,
    rows: &mut Vec<[u64; W]>,
) -> bool {
    let (ii, tag_at) = (1 - SI, W - 1);
    let int_tag = 1 << (ii * TAG_BITS);
    rows.clear();
    rows.reserve(n);
    let room = &mut rows.spare_capacity_mut()[..n];
    let (v, offsets) = (&v[..n], &offsets[..n + 1]);
    // Whole steps of eight rows where the CPU has AVX-512 (three words a
    // row only: the layout the permutes write).
    let done = if W == 3 {
        // SAFETY: `[u64; W]` is `[u64; 3]` here (checked just above): the
        // same size and alignment as the `[u64; 3]` slots written.
        let room3 = unsafe {
            std::slice::from_raw_parts_mut(room.as_mut_ptr() as *mut MaybeUninit<[u64; 3]>, n)
        };
        by_cpu!(
            ["avx2", "avx512f", "avx512vl"] => pair_rows_avx512::<SI>(v, offsets, data, room3);
            0
        )
    } else {
        0
    };
    let ends = offsets[done..].windows(2);
    for ((r, x), e) in room[done..].iter_mut().zip(&v[done..]).zip(ends) {
        let Some((word, len)) = short_str(data, e[0], e[1]) else {
            return false;
        };
        let mut row = [0; W];
        row[ii] = *x as u64;
        row[SI] = word;
        row[tag_at] = int_tag | (len << 1 | 1) << (SI * TAG_BITS);
        r.write(row);
    }
    // SAFETY: the steps above wrote the first `done` slots reserved and
    // the loop each of the others (a zip over the `n - done` slots left,
    // as many values and pairs of offsets).
    unsafe { rows.set_len(n) };
    true
}

/// [`pack_pair`]'s rows eight at a time from the first: writes whole
/// steps while every string of a step is at most 8 bytes and its word
/// can be read whole within `data`; returns how many rows it wrote (a
/// multiple of eight, at most `out.len()`). `v` holds `out.len()` values
/// and `offsets` one more.
///
/// # Safety
/// The CPU must have AVX2, AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
unsafe fn pair_rows_avx512<const SI: usize>(
    v: &[i64],
    offsets: &[i32],
    data: &[u8],
    out: &mut [MaybeUninit<[u64; 3]>],
) -> usize {
    use std::arch::x86_64::*;
    let n = out.len();
    assert!(
        v.len() >= n && offsets.len() > n,
        "a value and two offsets a row"
    );
    let (ones, one) = (_mm512_set1_epi64(-1), _mm512_set1_epi64(1));
    let int_tag = _mm512_set1_epi64(1 << ((1 - SI) * TAG_BITS));
    let str_shift = _mm512_set1_epi64((SI * TAG_BITS) as i64);
    let eight = _mm256_set1_epi32(8);
    // Rows j of columns a (word 0), b (word 1), c (tag) go to words 3j,
    // 3j + 1, 3j + 2: the first two by a two-source permute (index 8 and
    // up: b), the tags put in by a masked one.
    let ab = [
        _mm512_setr_epi64(0, 8, 0, 1, 9, 0, 2, 10),
        _mm512_setr_epi64(0, 3, 11, 0, 4, 12, 0, 5),
        _mm512_setr_epi64(13, 0, 6, 14, 0, 7, 15, 0),
    ];
    let cs = [
        (0b0010_0100, _mm512_setr_epi64(0, 0, 0, 0, 0, 1, 0, 0)),
        (0b0100_1001, _mm512_setr_epi64(2, 0, 0, 3, 0, 0, 4, 0)),
        (0b1001_0010, _mm512_setr_epi64(0, 5, 0, 0, 6, 0, 0, 7)),
    ];
    let mut k = 0;
    while k + 8 <= n {
        // SAFETY: `k + 8 <= n`: offsets `k..k + 9` and values `k..k + 8`
        // lie within the slices (asserted above); unaligned loads.
        let (lo, hi, ints) = unsafe {
            let o = offsets.as_ptr().add(k);
            (
                _mm256_loadu_si256(o as *const __m256i),
                _mm256_loadu_si256(o.add(1) as *const __m256i),
                _mm512_loadu_si512(v.as_ptr().add(k) as *const _),
            )
        };
        let len = _mm256_sub_epi32(hi, lo);
        // Offsets ascend: the step's last string starts last.
        let last = offsets[k + 7] as usize;
        if _mm256_movemask_epi8(_mm256_cmpgt_epi32(len, eight)) != 0 || last + 8 > data.len() {
            break;
        }
        // SAFETY: every start is at least 0 and at most `last` (valid
        // offsets ascend from 0), and `last + 8 <= data.len()` (checked
        // just above): each 8-byte read lies within `data`.
        let words = unsafe { _mm512_i32gather_epi64::<1>(lo, data.as_ptr() as _) };
        let len = _mm512_cvtepi32_epi64(len);
        // The low `len` bytes: all but `!0 << 8·len` (0 for a length of 8).
        let word = _mm512_andnot_si512(_mm512_sllv_epi64(ones, _mm512_slli_epi64::<3>(len)), words);
        let tag = _mm512_or_si512(
            int_tag,
            _mm512_sllv_epi64(_mm512_or_si512(_mm512_slli_epi64::<1>(len), one), str_shift),
        );
        let (a, b) = if SI == 1 { (ints, word) } else { (word, ints) };
        let dst = out[k..k + 8].as_mut_ptr() as *mut __m512i;
        for (s, (&idx, &(mask, cidx))) in ab.iter().zip(&cs).enumerate() {
            let rows = _mm512_mask_permutexvar_epi64(
                _mm512_permutex2var_epi64(a, idx, b),
                mask,
                cidx,
                tag,
            );
            // SAFETY: the eight slots `k..k + 8` of `out` are 24 words,
            // three 64-byte stores (unaligned) at `dst`.
            unsafe { _mm512_storeu_si512(dst.add(s), rows) };
        }
        k += 8;
    }
    k
}
