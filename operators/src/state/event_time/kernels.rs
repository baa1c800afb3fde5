//! Passes over a column of times or sequences: whether it ascends, its
//! least and greatest, each compiled for AVX-512 or else AVX2 where the
//! CPU has it (a run-time check; the same loop portably otherwise); and a
//! release's split of a run's rows at its limit, eight rows a step with
//! AVX-512 ([`split_steps`]; the caller's loop takes the rest).

use std::mem::MaybeUninit;

use crate::cpu::by_cpu;
use crate::gather::Pair;

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

/// How far [`split_steps`] went: rows `0..done` of the pass were split,
/// `went` of them written out as taken, `stayed` listed as staying, the
/// least time among those `min_stayed` (`i64::MAX` when none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Split {
    pub(super) done: usize,
    pub(super) went: usize,
    pub(super) stayed: usize,
    pub(super) min_stayed: i64,
}

impl Split {
    const NONE: Split = Split {
        done: 0,
        went: 0,
        stayed: 0,
        min_stayed: i64::MAX,
    };
}

/// Where a split writes: for each row taken (time at or below the limit)
/// its (run, row) pair, its time and (when `seqs` is given) its sequence;
/// for each row that stays, when `stay` is given, its row number. Each
/// slice has room for every row of the pass.
pub(super) struct SplitOut<'a> {
    pub(super) rows: &'a mut [MaybeUninit<Pair>],
    pub(super) times: &'a mut [MaybeUninit<i64>],
    pub(super) seqs: Option<(&'a mut [MaybeUninit<i64>], &'a [i64])>,
    pub(super) stay: Option<&'a mut [MaybeUninit<u32>]>,
}

/// Splits rows of run `k` — rows `list[i]`, or `i` itself when there is no
/// list, for `i` in `0..out.rows.len()` — at `limit`, in whole steps of
/// eight from the first where the CPU has AVX-512 (F, VL): each step's
/// taken rows packed to the front of their outputs (a compress), in order,
/// its staying rows likewise. Returns how far it went ([`Split::NONE`]
/// elsewhere); the caller splits the rest as it splits any row.
///
/// # Panics
/// When a listed row is not below `times.len()` (or the sequences' length),
/// or an output is shorter than the pass.
pub(super) fn split_steps(
    k: u32,
    times: &[i64],
    list: Option<&[u32]>,
    limit: i64,
    out: SplitOut<'_>,
) -> Split {
    by_cpu!(
        ["avx512f", "avx512vl"] => split_avx512(k, times, list, limit, out);
        Split::NONE
    )
}

/// [`split_steps`] with AVX-512. Each step's outputs are written as whole
/// vectors at the current ends (`went`, `stayed`), which never pass the
/// step's first row: eight slots from there lie within the pass.
///
/// # Safety
/// The CPU must have AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn split_avx512(
    k: u32,
    times: &[i64],
    list: Option<&[u32]>,
    limit: i64,
    out: SplitOut<'_>,
) -> Split {
    use std::arch::x86_64::*;
    // A pair's words as this target lays out `(u32, u32)`: each field
    // shifted to its byte offset in the 8-byte pair (little-endian).
    const _: () = assert!(std::mem::size_of::<Pair>() == 8);
    const K_AT: i64 = 8 * std::mem::offset_of!(Pair, 0) as i64;
    const ROW_AT: i64 = 8 * std::mem::offset_of!(Pair, 1) as i64;
    let SplitOut {
        rows,
        times: out_times,
        mut seqs,
        mut stay,
    } = out;
    let n = rows.len();
    assert!(out_times.len() >= n, "room for every time");
    assert!(
        stay.as_ref().is_none_or(|s| s.len() >= n),
        "room for every staying row"
    );
    assert!(
        seqs.as_ref()
            .is_none_or(|(o, s)| o.len() >= n && s.len() >= times.len()),
        "room for every sequence, a sequence for every time"
    );
    assert!(times.len() <= i32::MAX as usize, "row numbers fit 31 bits");
    match list {
        Some(l) => assert!(l.len() >= n, "a listed row for every slot"),
        None => assert!(times.len() >= n, "a time for every row"),
    }
    let bound = _mm256_set1_epi32(times.len() as i32);
    let lim = _mm512_set1_epi64(limit);
    let run = _mm512_set1_epi64((k as i64) << K_AT);
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut min = _mm512_set1_epi64(i64::MAX);
    let (mut went, mut stayed, mut i) = (0usize, 0usize, 0usize);
    while i + 8 <= n {
        // The step's row numbers and times: listed rows checked below the
        // times' length (unsigned, so none is negative) before the gather.
        let (idx, t) = match list {
            Some(l) => {
                // SAFETY: `i + 8 <= n <= l.len()`: eight listed rows.
                let idx = unsafe { _mm256_loadu_si256(l.as_ptr().add(i) as *const __m256i) };
                assert!(
                    _mm256_cmpge_epu32_mask(idx, bound) == 0,
                    "listed rows lie within the run"
                );
                // SAFETY: every index is below `times.len()` (just
                // checked), so each 8-byte read lies within `times`.
                (idx, unsafe {
                    _mm512_i32gather_epi64::<8>(idx, times.as_ptr())
                })
            }
            // SAFETY: `i + 8 <= n <= times.len()`.
            None => (
                _mm256_add_epi32(_mm256_set1_epi32(i as i32), lanes),
                unsafe { _mm512_loadu_si512(times.as_ptr().add(i) as *const _) },
            ),
        };
        let go = _mm512_cmple_epi64_mask(t, lim);
        let pairs = _mm512_or_si512(
            run,
            _mm512_sllv_epi64(_mm512_cvtepu32_epi64(idx), _mm512_set1_epi64(ROW_AT)),
        );
        // SAFETY: `went <= i` (at most one row out per row in) and
        // `i + 8 <= n`: slots `went..went + 8` lie within `rows` and
        // `out_times` (at least `n` long, asserted), likewise for the
        // sequences; `stayed <= i` for the staying rows. Unaligned stores.
        unsafe {
            _mm512_storeu_si512(
                rows.as_mut_ptr().add(went) as *mut _,
                _mm512_maskz_compress_epi64(go, pairs),
            );
            _mm512_storeu_si512(
                out_times.as_mut_ptr().add(went) as *mut _,
                _mm512_maskz_compress_epi64(go, t),
            );
            if let Some((o, s)) = &mut seqs {
                let q = match list {
                    // In bounds: the indices were checked below
                    // `times.len()`, at most `s.len()` (asserted).
                    Some(_) => _mm512_i32gather_epi64::<8>(idx, s.as_ptr()),
                    None => _mm512_loadu_si512(s.as_ptr().add(i) as *const _),
                };
                _mm512_storeu_si512(
                    o.as_mut_ptr().add(went) as *mut _,
                    _mm512_maskz_compress_epi64(go, q),
                );
            }
            if let Some(st) = &mut stay {
                _mm256_storeu_si256(
                    st.as_mut_ptr().add(stayed) as *mut __m256i,
                    _mm256_maskz_compress_epi32(!go, idx),
                );
                min = _mm512_mask_min_epi64(min, !go, min, t);
            }
        }
        let g = go.count_ones() as usize;
        went += g;
        stayed += 8 - g;
        i += 8;
    }
    Split {
        done: i,
        went,
        stayed: if stay.is_some() { stayed } else { 0 },
        min_stayed: _mm512_reduce_min_epi64(min),
    }
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

        /// A split's steps (AVX-512 where this CPU has it: then every whole
        /// step of eight) give what a plain pass over the same rows gives:
        /// the taken rows' pairs, times and sequences in order, the staying
        /// rows in order and their least time; listed rows or every row,
        /// with and without staying rows and sequences.
        #[test]
        fn a_split_is_a_plain_split(
            rows in prop::collection::vec((prop_oneof![-9i64..9, Just(i64::MIN), Just(i64::MAX)], any::<bool>()), 0..90),
            listed in any::<bool>(),
            keep in any::<bool>(),
            with_seqs in any::<bool>(),
            limit in -10i64..10,
            k in 0u32..4,
        ) {
            use std::mem::MaybeUninit;
            let times: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let seqs: Vec<i64> = (0..times.len() as i64).map(|i| i * 7 - 100).collect();
            let list: Vec<u32> = (0..rows.len() as u32).filter(|&i| rows[i as usize].1).collect();
            let pass: Vec<u32> = if listed { list.clone() } else { (0..rows.len() as u32).collect() };
            let n = pass.len();
            let mut out_rows = vec![MaybeUninit::uninit(); n];
            let mut out_times = vec![MaybeUninit::uninit(); n];
            let mut out_seqs = vec![MaybeUninit::uninit(); n];
            let mut out_stay = vec![MaybeUninit::uninit(); n];
            let split = super::split_steps(k, &times, listed.then_some(&list[..]), limit, super::SplitOut {
                rows: &mut out_rows,
                times: &mut out_times,
                seqs: with_seqs.then_some((&mut out_seqs[..], &seqs[..])),
                stay: keep.then_some(&mut out_stay[..]),
            });
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl") {
                prop_assert_eq!(split.done, n / 8 * 8);
            }
            let done = &pass[..split.done];
            let went: Vec<u32> = done.iter().copied().filter(|&i| times[i as usize] <= limit).collect();
            let stayed: Vec<u32> = done.iter().copied().filter(|&i| times[i as usize] > limit).collect();
            prop_assert_eq!(split.went, went.len());
            // SAFETY: the split wrote the first `went` (and `stayed`) slots.
            let read = |v: &[MaybeUninit<i64>], m: usize| -> Vec<i64> { v[..m].iter().map(|x| unsafe { x.assume_init() }).collect() };
            let got_rows: Vec<(u32, u32)> = out_rows[..went.len()].iter().map(|x| unsafe { x.assume_init() }).collect();
            prop_assert_eq!(got_rows, went.iter().map(|&i| (k, i)).collect::<Vec<_>>());
            prop_assert_eq!(read(&out_times, went.len()), went.iter().map(|&i| times[i as usize]).collect::<Vec<_>>());
            if with_seqs {
                prop_assert_eq!(read(&out_seqs, went.len()), went.iter().map(|&i| seqs[i as usize]).collect::<Vec<_>>());
            }
            if keep {
                prop_assert_eq!(split.stayed, stayed.len());
                let got: Vec<u32> = out_stay[..stayed.len()].iter().map(|x| unsafe { x.assume_init() }).collect();
                prop_assert_eq!(got, stayed.clone());
                let least = stayed.iter().map(|&i| times[i as usize]).min().unwrap_or(i64::MAX);
                prop_assert_eq!(split.min_stayed, least);
            } else {
                prop_assert_eq!(split.stayed, 0);
            }
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
