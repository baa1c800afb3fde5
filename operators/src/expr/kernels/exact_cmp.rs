//! Exact numbers against one literal: `v op c` for a column of DECIMAL
//! values (as `i128` at a common scale), the filter's usual comparison
//! (`WHERE total_amount > 100`).
//!
//! Contract: [`column_vs_literal`] gives the bits [`super::compare::collect_bits`]
//! would give for `v op c` on each value, bits past the last value clear.
//! Every operator is `>`, `<` or `=` of the two, or its negation (`<=` is
//! not `>`). With AVX2, four values a step: their low and high words split
//! by two unpacks, a 128-bit order read off a signed compare of the high
//! words and an unsigned one of the low words (a signed compare with both
//! sides' top bits flipped). Elsewhere, or for the last few values, a plain
//! loop.

use arrow_buffer::{BooleanBuffer, Buffer};

use super::super::CmpOp;
use crate::cpu::by_cpu;

/// The three comparisons every operator is one of, or its negation.
#[derive(Clone, Copy)]
enum Base {
    Gt,
    Lt,
    Eq,
}

/// `v op c` for each of `vs`, as bits.
pub(super) fn column_vs_literal(op: CmpOp, vs: &[i128], c: i128) -> BooleanBuffer {
    let (base, negate) = match op {
        CmpOp::Gt => (Base::Gt, false),
        CmpOp::LtEq => (Base::Gt, true),
        CmpOp::Lt => (Base::Lt, false),
        CmpOp::GtEq => (Base::Lt, true),
        CmpOp::Eq => (Base::Eq, false),
        CmpOp::NotEq => (Base::Eq, true),
    };
    let mut words = words(vs, c, base);
    let flip = if negate { u64::MAX } else { 0 };
    for w in &mut words {
        *w ^= flip;
    }
    // Bits past the last value clear.
    if let Some(last) = words.last_mut().filter(|_| !vs.len().is_multiple_of(64)) {
        *last &= (1u64 << (vs.len() % 64)) - 1;
    }
    BooleanBuffer::new(Buffer::from_vec(words), 0, vs.len())
}

/// `v base c` for each of `vs`, 64 values a word.
fn words(vs: &[i128], c: i128, base: Base) -> Vec<u64> {
    by_cpu!(["avx2"] => words_avx2(vs, c, base); words_any(vs, c, base))
}

/// One value's bit.
#[inline(always)]
fn bit(v: i128, c: i128, base: Base) -> bool {
    match base {
        Base::Gt => v > c,
        Base::Lt => v < c,
        Base::Eq => v == c,
    }
}

/// [`words`]' portable loop.
fn words_any(vs: &[i128], c: i128, base: Base) -> Vec<u64> {
    vs.chunks(64)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0u64, |w, (k, &v)| w | (bit(v, c, base) as u64) << k)
        })
        .collect()
}

/// [`words`] with AVX2, four values a step.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn words_avx2(vs: &[i128], c: i128, base: Base) -> Vec<u64> {
    use std::arch::x86_64::*;

    use crate::decimal::words_of_four;
    /// [`words_of_four`] leaves values 0, 2, 1, 3 in the lanes: bits 1
    /// and 2 of a lane mask swapped back.
    const ORDER: [u64; 16] = {
        let mut t = [0u64; 16];
        let mut m = 0;
        while m < 16 {
            t[m] = (m & 0b1001 | (m & 2) << 1 | (m & 4) >> 1) as u64;
            m += 1;
        }
        t
    };
    let top = _mm256_set1_epi64x(i64::MIN);
    let c_hi = _mm256_set1_epi64x((c >> 64) as i64);
    let c_lo = _mm256_set1_epi64x(c as i64);
    // The low word with its top bit flipped: unsigned order as signed.
    let c_lo_x = _mm256_xor_si256(c_lo, top);
    let mut out = Vec::with_capacity(vs.len().div_ceil(64));
    let blocks = vs.chunks_exact(64);
    let rest = blocks.remainder();
    for block in blocks {
        let mut w = 0u64;
        for (q, four) in block.as_chunks::<4>().0.iter().enumerate() {
            let (lo, hi) = words_of_four(four);
            let hi_eq = _mm256_cmpeq_epi64(hi, c_hi);
            let r = match base {
                Base::Gt => _mm256_or_si256(
                    _mm256_cmpgt_epi64(hi, c_hi),
                    _mm256_and_si256(hi_eq, _mm256_cmpgt_epi64(_mm256_xor_si256(lo, top), c_lo_x)),
                ),
                Base::Lt => _mm256_or_si256(
                    _mm256_cmpgt_epi64(c_hi, hi),
                    _mm256_and_si256(hi_eq, _mm256_cmpgt_epi64(c_lo_x, _mm256_xor_si256(lo, top))),
                ),
                Base::Eq => _mm256_and_si256(hi_eq, _mm256_cmpeq_epi64(lo, c_lo)),
            };
            let m = _mm256_movemask_pd(_mm256_castsi256_pd(r)) as usize;
            w |= ORDER[m & 15] << (4 * q);
        }
        out.push(w);
    }
    if !rest.is_empty() {
        out.extend(words_any(rest, c, base));
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn value() -> impl Strategy<Value = i128> {
        prop_oneof![
            -3i128..3,
            any::<i64>().prop_map(i128::from),
            any::<i128>(),
            Just(i128::MIN),
            Just(i128::MAX),
            // Equal high words, low words either side of the top bit.
            (any::<i64>(), any::<u64>()).prop_map(|(h, l)| ((h as i128) << 64) | l as i128),
        ]
    }

    proptest! {
        /// Each bit is the plain comparison's, for every operator, on
        /// lengths around the 4-value step and the 64-value word.
        #[test]
        fn bits_are_the_plain_comparisons(
            vs in proptest::collection::vec(value(), 0..200),
            c in value(),
            pick in proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
        ) {
            // Some values equal to the literal, and some sharing its high word.
            let mut vs = vs;
            for (k, p) in pick.iter().enumerate() {
                if !vs.is_empty() {
                    let i = p.index(vs.len());
                    vs[i] = if k % 2 == 0 { c } else { c ^ 0x8000_0000_0000_0001 };
                }
            }
            for op in [CmpOp::Eq, CmpOp::NotEq, CmpOp::Lt, CmpOp::LtEq, CmpOp::Gt, CmpOp::GtEq] {
                let got = column_vs_literal(op, &vs, c);
                let want: Vec<bool> = vs
                    .iter()
                    .map(|&v| match op {
                        CmpOp::Eq => v == c,
                        CmpOp::NotEq => v != c,
                        CmpOp::Lt => v < c,
                        CmpOp::LtEq => v <= c,
                        CmpOp::Gt => v > c,
                        CmpOp::GtEq => v >= c,
                    })
                    .collect();
                prop_assert_eq!(got.iter().collect::<Vec<_>>(), want);
                // No bit set past the last value.
                let all: u32 = got.values().iter().map(|b| b.count_ones()).sum();
                prop_assert_eq!(all as usize, got.iter().filter(|b| *b).count());
            }
        }
    }
}
