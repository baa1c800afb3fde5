//! Averages of a whole column of sums at once ([`Averager::avg_all`]):
//! where every scaled sum and count is below 2^53, each quotient comes from
//! one `f64` division, truncated (the exact floor there, see below), its
//! remainder from one integer multiply rounding it — no loop-carried step,
//! so the loop vectorises (AVX-512 where the CPU has it: 64-bit integer ↔
//! `f64` conversions and multiplies are single instructions there; AVX2
//! converts a value at a time, still fewer instructions than a
//! reciprocal's 128-bit multiply). Otherwise value by value, as
//! [`Averager::avg`].
//!
//! Exactness: `a` and `d` below 2^53 are exact `f64`s, so `a / d` is the
//! true quotient correctly rounded. Rounding is monotonic and `⌊a/d⌋` is
//! itself an `f64`, so the rounded quotient is at least `⌊a/d⌋`; and it
//! never reaches the next integer `k`: a quotient below `k` is at least
//! `1/d` below it, while `k·d ≤ a + 1 ≤ 2^53` puts `k` in a binade
//! `[2^e, 2^(e+1))` with `d ≤ 2^(53−e)`, so `1/d ≥ 2^(e−53)` — half an
//! ulp at `k`, and a whole ulp just below `k` when `k = 2^e` (where the
//! spacing halves). So the truncated `f64` quotient is exactly `⌊a/d⌋`,
//! and the remainder `a − ⌊a/d⌋·d` gives the rounding.
//! A negative sum `−a` divides to exactly `−(a / d)` (rounding is symmetric
//! in sign), which truncates to `−⌊a/d⌋`: the loop divides the signed
//! sum and takes the sign back only in the rounding step.

use super::Averager;
use crate::cpu::by_cpu;

/// Below this, an integer is an exact `f64` (2^53).
const EXACT: u64 = 1 << 53;

impl Averager {
    /// `values[i]` (a sum) becomes its average over `counts[i]` values,
    /// each as [`Self::avg`] gives it; `Err(i)` at the first value whose
    /// average overflows (the values before it are averaged, the others
    /// left as they were).
    ///
    /// # Panics
    /// When there are fewer counts than values, or (as [`Self::avg`]) a
    /// count is zero.
    pub fn avg_all(self, values: &mut [i128], counts: &[i64]) -> Result<(), usize> {
        let counts = &counts[..values.len()];
        // Every scaled sum and count an exact f64 (and every count
        // positive): two passes without a branch per value check them.
        let fast = self.p != 0 && {
            let limit = (EXACT - 1) / self.p as u64;
            super::fit_64(values, limit, 2 * limit) && counts_exact(counts)
        };
        if fast {
            let p = self.p;
            by_cpu!(
                ["avx512f", "avx512dq", "avx512vl"] => avg_exact_avx512(values, counts, p),
                ["avx2"] => avg_exact_avx2(values, counts, p);
                avg_exact_any(values, counts, p)
            );
            return Ok(());
        }
        for (i, (v, &c)) in values.iter_mut().zip(counts).enumerate() {
            *v = self.avg(*v, c).ok_or(i)?;
        }
        Ok(())
    }
}

/// Whether every count is positive and below 2^53, with AVX-512 or AVX2
/// where the CPU has it (64-bit compares: emulated in the baseline build).
fn counts_exact(counts: &[i64]) -> bool {
    by_cpu!(
        ["avx512f", "avx512vl"] => counts_exact_avx512(counts),
        ["avx2"] => counts_exact_avx2(counts);
        counts_exact_any(counts)
    )
}

/// [`counts_exact`]'s pass: every count's verdict ANDed in, no branch.
#[inline(always)]
fn counts_exact_any(counts: &[i64]) -> bool {
    counts
        .iter()
        .fold(true, |ok, &c| ok & (c > 0) & (c < EXACT as i64))
}

/// [`counts_exact_any`] compiled for AVX-512 (F, VL).
///
/// # Safety
/// The CPU must have AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn counts_exact_avx512(counts: &[i64]) -> bool {
    counts_exact_any(counts)
}

/// [`counts_exact_any`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn counts_exact_avx2(counts: &[i64]) -> bool {
    counts_exact_any(counts)
}

/// [`avg_exact_any`] compiled for AVX-512 (F, DQ, VL).
///
/// # Safety
/// The CPU must have AVX-512 F, DQ and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn avg_exact_avx512(values: &mut [i128], counts: &[i64], p: i64) {
    avg_exact_any(values, counts, p)
}

/// [`avg_exact_any`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avg_exact_avx2(values: &mut [i128], counts: &[i64], p: i64) {
    avg_exact_any(values, counts, p)
}

/// `values[i] · p / counts[i]`, rounded half away from zero, where every
/// `|values[i] · p|` and `counts[i]` is below 2^53 and every count positive
/// (checked by the caller): the truncated `f64` quotient, which is the
/// exact floor there (see the module docs), then rounded by the
/// remainder.
#[inline(always)]
fn avg_exact_any(values: &mut [i128], counts: &[i64], p: i64) {
    for (v, &d) in values.iter_mut().zip(counts) {
        let n = *v as i64 * p;
        // `n / d` in f64 is `-(|n| / d)` for a negative `n` (division is
        // symmetric in sign), so its truncation is the floor of `|n| / d`
        // with `n`'s sign: one division, no branch on the sign.
        let f = n as f64 / d as f64;
        // SAFETY: `f` is finite and below 2^53 in magnitude (`|n| < 2^53`,
        // `d >= 1`: the caller's check), so it truncates to an `i64`
        // without the saturating `as`'s range tests (which kept the loop
        // from vectorising: a scalar compare and branch per value).
        let q: i64 = unsafe { f.to_int_unchecked() };
        // The remainder, of `n`'s sign and below `d` in magnitude (a
        // debug build's check says so): half of `d` or more rounds away
        // from zero.
        let r = (n - q * d).abs();
        debug_assert!(r < d, "the f64 quotient is the floor");
        let away = (r >= d - r) as i64;
        let sign = n >> 63;
        *v = (q + ((away ^ sign) - sign)) as i128;
    }
}

/// The exact-average loop: sums, counts, the scale factor.
#[cfg(test)]
pub(super) type ExactAvg = fn(&mut [i128], &[i64], i64);

/// The exact-average loop on every path this CPU runs (portable, AVX2,
/// AVX-512), by name, for tests to compare.
#[cfg(test)]
pub(super) fn exact_paths() -> Vec<(&'static str, ExactAvg)> {
    let mut paths: Vec<(&'static str, ExactAvg)> = vec![("portable", avg_exact_any)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: called only on this CPU, which has AVX2 (checked
            // just above).
            paths.push(("avx2", |v, c, p| unsafe { avg_exact_avx2(v, c, p) }));
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: called only on this CPU, which has AVX-512 F, DQ and
            // VL (checked just above).
            paths.push(("avx512", |v, c, p| unsafe { avg_exact_avx512(v, c, p) }));
        }
    }
    paths
}
