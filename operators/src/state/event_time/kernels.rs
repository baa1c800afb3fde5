//! Passes over a column of times or sequences: whether it ascends, its
//! least and greatest, each compiled for AVX-512 or else AVX2 where the
//! CPU has it (a run-time check; the same loop portably otherwise).

use crate::cpu::by_cpu;

/// Whether `s` never descends: every pair compared, without a branch, in
/// a loop compiled for AVX-512 (eight pairs a compare) or else AVX2 where
/// the CPU has it (a run-time check, as for [`time_range`]).
pub(super) fn ascends(s: &[i64]) -> bool {
    by_cpu!(
        ["avx512f"] => ascends_avx512(s),
        ["avx2"] => ascends_avx2(s);
        ascends_any(s)
    )
}

#[inline(always)]
fn ascends_any(s: &[i64]) -> bool {
    let n = s.len();
    n < 2
        || !s[1..]
            .iter()
            .zip(&s[..n - 1])
            .fold(false, |down, (b, a)| down | (b < a))
}

/// [`ascends_any`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn ascends_avx512(s: &[i64]) -> bool {
    ascends_any(s)
}

/// [`ascends_any`] compiled for AVX2 (four pairs a compare).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn ascends_avx2(s: &[i64]) -> bool {
    ascends_any(s)
}

/// The least and greatest of the times of rows `rows` (`None` when there
/// are none).
pub(super) fn listed_range(times: &[i64], rows: &[u32]) -> Option<(i64, i64)> {
    rows.iter().map(|&r| times[r as usize]).fold(None, |b, t| {
        Some(b.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))))
    })
}

/// The least and greatest of `times` (`None` when there are none): one
/// pass, compiled for AVX-512 (eight times a compare) or else AVX2 where
/// the CPU has it (a run-time check; the same loop portably otherwise).
pub fn time_range(times: &[i64]) -> Option<(i64, i64)> {
    if times.is_empty() {
        return None;
    }
    Some(by_cpu!(
        ["avx512f"] => range_avx512(times),
        ["avx2"] => range_avx2(times);
        range_any(times)
    ))
}

#[inline(always)]
fn range_any(times: &[i64]) -> (i64, i64) {
    times
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)))
}

/// [`range_any`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn range_avx512(times: &[i64]) -> (i64, i64) {
    range_any(times)
}

/// [`range_any`] compiled for AVX2 (four times a compare).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn range_avx2(times: &[i64]) -> (i64, i64) {
    range_any(times)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// this CPU has it) and the portable one agree with a plain scan.
        #[test]
        fn ascends_is_a_plain_scan(
            s in prop::collection::vec(0i64..6, 0..200),
            sorted in any::<bool>(),
        ) {
            let mut s = s;
            if sorted {
                s.sort();
            }
            let want = s.windows(2).all(|w| w[0] <= w[1]);
            prop_assert_eq!(super::ascends(&s), want);
            prop_assert_eq!(super::ascends_any(&s), want);
        }

        /// The vectorised range (AVX-512 where this CPU has it) is the least
        /// and greatest time, at the ends of the i64 range too.
        #[test]
        fn time_range_is_the_least_and_greatest(
            times in prop::collection::vec(prop_oneof![
                any::<i64>(),
                Just(i64::MIN),
                Just(i64::MAX),
                -5i64..5,
            ], 0..200),
        ) {
            let want = times.iter().copied().min().zip(times.iter().copied().max());
            prop_assert_eq!(super::time_range(&times), want);
        }
    }
}
