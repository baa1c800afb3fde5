//! Exact decimal arithmetic on scaled integers.
//!
//! A DECIMAL(p,s) value `v` stands for `v / 10^s`, held in an `i128`. Nothing
//! here goes through floating point: rescaling up is a checked multiply,
//! rescaling down and division round half away from zero, and every
//! operation reports overflow instead of wrapping.

use strength_reduce::StrengthReducedU64;

use crate::cpu::by_cpu;

/// `10^n` for `n` in `0..=38`.
pub const fn pow10(n: u8) -> i128 {
    let mut v: i128 = 1;
    let mut i = 0;
    while i < n {
        v *= 10;
        i += 1;
    }
    v
}

const POW10: [i128; 39] = {
    let mut t = [0i128; 39];
    let mut i = 0;
    while i < 39 {
        t[i] = pow10(i as u8);
        i += 1;
    }
    t
};

/// `10^n` from a table; `n` must be at most 38.
#[inline]
pub fn p10(n: u8) -> i128 {
    POW10[n as usize]
}

/// True when `v` has at most `precision` digits.
#[inline]
pub fn fits(v: i128, precision: u8) -> bool {
    let limit = POW10[precision.min(38) as usize];
    v > -limit && v < limit
}

/// True when every value of `vs` has at most `precision` digits, checked
/// in 64-bit words where it can be (AVX2 where the CPU has it, a run-time
/// check): at most 18 digits, a value fits when it fits 64 bits and its
/// low word is within the limit; at 19 and more, every value of 64 bits
/// but the least fits, and only a list holding another value is checked
/// in 128 bits. Each check ORs every value's verdict in, no branch per
/// value (`|v| < limit` exactly when `v + limit − 1`, wrapping, lies in
/// `0..=2·limit − 2`).
pub fn all_fit(vs: &[i128], precision: u8) -> bool {
    let p = precision.min(38) as usize;
    if p <= 18 {
        let limit = POW10[p] as u64;
        return fit_64(vs, limit - 1, 2 * limit - 2);
    }
    // `2^63 − 1` added, `2^64 − 2` the span: every 64-bit value passes but
    // the least, −2^63 (which fits 19 digits too, and is left to the
    // 128-bit check below).
    if fit_64(vs, (1 << 63) - 1, u64::MAX - 1) {
        return true;
    }
    let limit = POW10[p] as u128;
    let span = 2 * limit - 2;
    vs.iter().fold(true, |ok, &v| {
        ok & ((v as u128).wrapping_add(limit - 1) <= span)
    })
}

/// Whether every value of `vs` fits 64 bits (a BIGINT result, say).
pub fn fits_i64(vs: &[i128]) -> bool {
    fit_64(vs, 0, u64::MAX)
}

/// Whether every value of `vs` fits 64 bits with its low word `w`
/// satisfying `w + add <= span` (wrapping, unsigned).
fn fit_64(vs: &[i128], add: u64, span: u64) -> bool {
    by_cpu!(["avx2"] => fit_64_avx2(vs, add, span); fit_64_any(vs, add, span))
}

/// [`fit_64`]'s portable pass: a value fits 64 bits when its high word is
/// its low word's sign.
#[inline(always)]
fn fit_64_any(vs: &[i128], add: u64, span: u64) -> bool {
    vs.iter().fold(0u64, |bad, &v| {
        let (lo, hi) = (v as i64, (v >> 64) as i64);
        bad | (hi != lo >> 63) as u64 | ((lo as u64).wrapping_add(add) > span) as u64
    }) == 0
}

/// [`fit_64`] with AVX2: four values a step, their low and high words
/// split by two unpacks; a low word's sign is a signed compare with zero,
/// the unsigned compare a signed one with both sides' top bits flipped.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fit_64_avx2(vs: &[i128], add: u64, span: u64) -> bool {
    use std::arch::x86_64::*;
    let (chunks, rest) = vs.as_chunks::<4>();
    let (zero, top) = (_mm256_setzero_si256(), _mm256_set1_epi64x(i64::MIN));
    let (add_v, span_x) = (
        _mm256_set1_epi64x(add as i64),
        _mm256_set1_epi64x((span ^ (1 << 63)) as i64),
    );
    let mut bad = zero;
    for c in chunks {
        let (lo, hi) = words_of_four(c);
        let sign = _mm256_cmpgt_epi64(zero, lo);
        let x = _mm256_xor_si256(_mm256_add_epi64(lo, add_v), top);
        bad = _mm256_or_si256(bad, _mm256_xor_si256(hi, sign));
        bad = _mm256_or_si256(bad, _mm256_cmpgt_epi64(x, span_x));
    }
    _mm256_testz_si256(bad, bad) == 1 && fit_64_any(rest, add, span)
}

/// The low and high words of four `i128` values as two vectors, split by
/// two unpacks of two unaligned loads. The unpacks work within each
/// 128-bit half, so the lanes hold values 0, 2, 1, 3 in that order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn words_of_four(
    four: &[i128; 4],
) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
    use std::arch::x86_64::*;
    // SAFETY: `four` is 64 bytes: two unaligned 32-byte loads within it.
    let (a, b) = unsafe {
        let p = four.as_ptr() as *const __m256i;
        (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
    };
    (_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b))
}

/// `n / d` rounded half away from zero. `d` must be non-zero.
#[inline]
pub fn div_round(n: i128, d: i128) -> i128 {
    let away = (n < 0) != (d < 0);
    // Most quotients (averages, ratios of prices) fit 64 bits: one hardware
    // division instead of two 128-bit library calls. (`i64::MIN / -1` would
    // overflow, so that numerator takes the 128-bit path.)
    if let (Ok(n), Ok(d)) = (i64::try_from(n), i64::try_from(d)) {
        if n != i64::MIN {
            let (q, r) = (n / d, n % d);
            return round_quotient(
                q as i128,
                r.unsigned_abs() as u128,
                d.unsigned_abs() as u128,
                away,
            );
        }
    }
    round_quotient(n / d, (n % d).unsigned_abs(), d.unsigned_abs(), away)
}

/// The truncated quotient `q` moved one step away from zero when the
/// remainder is at least half the divisor (`|2r| >= |d|`, compared without
/// overflowing); `negative`: the exact quotient is below zero.
#[inline(always)]
fn round_quotient(q: i128, r_abs: u128, d_abs: u128, negative: bool) -> i128 {
    if r_abs >= d_abs - r_abs {
        if negative {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    }
}

/// Changes the scale of `v` from `from` to `to`: exact when scaling up
/// (`None` on overflow), rounded half away from zero when scaling down.
#[inline]
pub fn rescale(v: i128, from: u8, to: u8) -> Option<i128> {
    if to >= from {
        let k = to - from;
        if k > 38 {
            return if v == 0 { Some(0) } else { None };
        }
        v.checked_mul(p10(k))
    } else {
        let k = from - to;
        if k > 38 {
            return Some(0);
        }
        Some(div_round(v, p10(k)))
    }
}

/// Exact quotient `(a / 10^sa) / (b / 10^sb)` at scale `out`, rounded half away
/// from zero. `None` on overflow; `b` must be non-zero.
pub fn div_scaled(a: i128, sa: u8, b: i128, sb: u8, out: u8) -> Option<i128> {
    // result * 10^out = a * 10^(out - sa + sb) / b
    let shift = out as i32 - sa as i32 + sb as i32;
    if shift >= 0 {
        let p = *POW10.get(shift as usize)?;
        // |a| < 2^63 and p <= 10^18 < 2^60: the product fits 128 bits.
        let n = if i64::try_from(a).is_ok() && shift <= 18 {
            a * p
        } else {
            a.checked_mul(p)?
        };
        Some(div_round(n, b))
    } else {
        let d = b.checked_mul(*POW10.get((-shift) as usize)?)?;
        Some(div_round(a, d))
    }
}

/// An average: a sum at scale `sa` divided by a positive count, at scale
/// `out` — [`div_scaled`] for one pair of scales, with the power of ten
/// looked up once, and, when the scaled sum fits 64 bits (as running
/// averages of prices do), one 64-bit division: a multiplication by a
/// precomputed reciprocal for counts up to [`RECIPROCALS`], a hardware
/// division above.
#[derive(Clone, Copy, Debug)]
pub struct Averager {
    sa: u8,
    out: u8,
    /// `10^(out - sa)` when that is non-negative and fits 64 bits, else 0.
    p: i64,
    /// `reciprocals[d - 1]` divides by `d`.
    reciprocals: &'static [StrengthReducedU64],
}

/// Counts whose division is a multiplication (a running average's count is
/// mostly small: a ROWS frame, the rows of a group in a window).
pub const RECIPROCALS: u64 = 1024;

fn reciprocals() -> &'static [StrengthReducedU64] {
    static TABLE: std::sync::OnceLock<Vec<StrengthReducedU64>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| (1..=RECIPROCALS).map(StrengthReducedU64::new).collect())
}

impl Averager {
    pub fn new(sa: u8, out: u8) -> Self {
        let p = out
            .checked_sub(sa)
            .filter(|k| *k <= 18)
            .map_or(0, |k| p10(k) as i64);
        Averager {
            sa,
            out,
            p,
            reciprocals: reciprocals(),
        }
    }

    /// `None` on overflow; `count` must be positive.
    #[inline(always)]
    pub fn avg(self, sum: i128, count: i64) -> Option<i128> {
        if self.p != 0 && count > 0 {
            if let Some(n) = i64::try_from(sum).ok().and_then(|s| s.checked_mul(self.p)) {
                // |n| / count, rounded half up, signed back: half away from zero.
                let (a, d) = (n.unsigned_abs(), count as u64);
                let (q, r) = match self.reciprocals.get(d as usize - 1) {
                    Some(&rd) => StrengthReducedU64::div_rem(a, rd),
                    None => (a / d, a % d),
                };
                let q = (q + (r >= d - r) as u64) as i128;
                return Some(if n < 0 { -q } else { q });
            }
        }
        div_scaled(sum, self.sa, count as i128, 0, self.out)
    }
}

mod average;
#[cfg(test)]
use average::exact_paths;
mod parse;
mod text;

pub(crate) use parse::split_sign;
pub use parse::{parse, parse_plain, ParseError};
#[cfg(test)]
pub(crate) use text::digits_text;
pub(crate) use text::POW10_U64;
pub use text::{format, text_into, write_to, TEXT_MAX};

#[cfg(test)]
mod tests;
