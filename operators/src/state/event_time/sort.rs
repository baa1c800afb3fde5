//! The release's sort: where the rows taken from the runs go in (time,
//! sequence, position) order — a counting sort when their times lie close
//! together (a release's lie within seconds), a sort of packed keys else —
//! and the ordering of time ties by sequence.

use super::kernels::time_range;
use super::run::Taken;
use crate::cpu::by_cpu;
use crate::gather::Pair;

/// The least value and the width of the range of values ((0, 0) when
/// empty: callers check for rows before they use it).
fn span(v: &[i64]) -> (i64, u128) {
    let (lo, hi) = time_range(v).unwrap_or((0, 0));
    (lo, (hi as i128 - lo as i128) as u128)
}

/// Where the taken rows go in (time, sequence, position) order.
pub(super) enum Order {
    /// The taken rows in that order.
    Sorted(Vec<Pair>),
    /// The place of each taken row: a permutation of `0..n`.
    Slots(Vec<u32>),
}

impl Order {
    /// The taken rows `rows` in order.
    #[cfg(test)]
    pub(super) fn rows(&self, rows: &[Pair]) -> Vec<Pair> {
        match self {
            Order::Sorted(r) => r.clone(),
            Order::Slots(s) => crate::gather::Slots::check(s).order(rows),
        }
    }
}

/// The order of the taken rows, their times in (time, sequence, position)
/// order, and their sequences in that order when the sort had to move them
/// (`None` when there are none, or when they already ascended: then they
/// were not moved, and the arrival order settles ties).
///
/// When the times span less than four times the rows (a release's times lie
/// within seconds): a counting sort on time that notes each row's place
/// ([`Order::Slots`]: the rows are then copied to their places in taken
/// order, each run read in order) and moves the times there — stable, so
/// ties stay in arrival order. When the sequences do not already ascend,
/// it moves them and each row's number too, puts each run of equal times
/// (a few rows) in sequence order by insertion, and notes the new place of
/// each row the insertion moves. Else the order from [`sort_order`], applied
/// ([`Order::Sorted`]). `counts` is scratch kept between calls.
pub(super) fn sort_taken(
    taken: &Taken,
    counts: &mut Vec<u32>,
) -> (Order, Vec<i64>, Option<Vec<i64>>) {
    let Taken { rows, times, seqs } = taken;
    let n = times.len();
    let (t0, t_range) = span(times);
    // Sequences that do not ascend: the sort moves them, and hands them back.
    let unordered = seqs
        .as_deref()
        .filter(|q| q.windows(2).any(|w| w[0] > w[1]));
    if n == 0 || t_range >= 4 * n as u128 {
        let idx = sort_order(times, seqs.as_deref());
        return (
            Order::Sorted(idx.iter().map(|&i| rows[i as usize]).collect()),
            idx.iter().map(|&i| times[i as usize]).collect(),
            unordered.map(|q| idx.iter().map(|&i| q[i as usize]).collect()),
        );
    }
    counts.clear();
    counts.resize(t_range as usize + 2, 0);
    let starts = counts.as_mut_slice();
    for &t in times {
        starts[(t - t0) as usize + 1] += 1;
    }
    for k in 1..starts.len() {
        starts[k] += starts[k - 1];
    }
    let mut sorted_times: Vec<i64> = Vec::with_capacity(n);
    let t_out = &mut sorted_times.spare_capacity_mut()[..n];
    // Each row's slot is read into a register and its successor stored
    // back before the row is written: written through the count, the slot
    // is loaded again after every store (which, to the compiler, may have
    // changed it).
    match &unordered {
        None => {
            let mut slots: Vec<u32> = Vec::with_capacity(n);
            // Every bucket `t - t0` is below `starts.len()` (the span covers
            // every time) and every slot below `n` (the counts sum to `n`);
            // checked once here, then written unchecked.
            assert!(starts.len() > t_range as usize);
            let (st, so, to) = (
                starts.as_mut_ptr(),
                slots.as_mut_ptr(),
                t_out.as_mut_ptr() as *mut i64,
            );
            for (i, &t) in times.iter().enumerate() {
                // SAFETY: `t - t0` lies in `0..=t_range` (`span` gave the
                // least time and the range), below `starts.len()`; the slot
                // `at` is below `n` (each of the `n` rows takes the next
                // slot of its bucket's range, the ranges tiling `0..n`),
                // within `t_out`; `i < n`, within `slots`' reserved room.
                unsafe {
                    let b = st.add((t - t0) as usize);
                    let at = *b as usize;
                    *b = at as u32 + 1;
                    so.add(i).write(at as u32);
                    to.add(at).write(t);
                }
            }
            // SAFETY: all `n` places were written above, in order, and
            // every one of the first `n` times (each row took the next slot
            // of its time's range, the ranges tiling `0..n`).
            unsafe {
                slots.set_len(n);
                sorted_times.set_len(n);
            }
            (Order::Slots(slots), sorted_times, None)
        }
        Some(q) => {
            // Each row's place, the taken row at each place, and the times
            // and sequences in place order; ties then put in sequence
            // order, each row moved noting its new place. The rows
            // themselves are scattered, as above.
            let mut slots: Vec<u32> = Vec::with_capacity(n);
            let mut taken_at: Vec<u32> = Vec::with_capacity(n);
            let mut sorted_seqs: Vec<i64> = Vec::with_capacity(n);
            // As above, every bucket and slot is in range (checked once);
            // one sequence per taken row.
            assert!(starts.len() > t_range as usize);
            assert_eq!(q.len(), n, "a sequence per taken row");
            let (st, so, io, to, qo) = (
                starts.as_mut_ptr(),
                slots.as_mut_ptr(),
                taken_at.as_mut_ptr(),
                t_out.as_mut_ptr() as *mut i64,
                sorted_seqs.as_mut_ptr(),
            );
            for (i, (&t, &s)) in times.iter().zip(q.iter()).enumerate() {
                // SAFETY: as in the loop above: the bucket `t - t0` is
                // below `starts.len()`, the slot `at` below `n` (within
                // the room of `taken_at`, `t_out` and `sorted_seqs`), and
                // `i < n` within `slots`' room.
                unsafe {
                    let b = st.add((t - t0) as usize);
                    let at = *b as usize;
                    *b = at as u32 + 1;
                    so.add(i).write(at as u32);
                    io.add(at).write(i as u32);
                    to.add(at).write(t);
                    qo.add(at).write(s);
                }
            }
            // SAFETY: the counts summed to `n` and each row took the next
            // slot of its time's range, so each of the first `n` slots of
            // the four vectors was written.
            unsafe {
                slots.set_len(n);
                taken_at.set_len(n);
                sorted_seqs.set_len(n);
                sorted_times.set_len(n);
            }
            // The insertion only moves rows among places, so `slots` stays
            // the inverse of `taken_at`, a permutation of `0..n`.
            order_ties(
                &mut taken_at,
                &sorted_times,
                &mut sorted_seqs,
                counts,
                |i, at| slots[i as usize] = at as u32,
            );
            (Order::Slots(slots), sorted_times, Some(sorted_seqs))
        }
    }
}

/// Puts each run of equal times `t` in sequence order `q`, moving the rows
/// `r` (whatever names them) with them and calling `moved(row, place)`
/// for each row that changes place; everything else is in order already.
/// `scratch` is kept between calls.
///
/// On two cores a third of the rows tie with the row before (both cores'
/// rows of one millisecond) and a quarter of those are out of sequence
/// order, neither predictable. So one pass without a branch per row lists
/// the rows out of order with their predecessor ([`list_out_of_order`], 64
/// rows to a word), and only those are moved
/// back among their equals by insertion. A row moved back leaves the
/// greatest of its equals in its place, which may put the next row out of
/// order although it was not listed: the rows after a moved one are
/// checked until one is in order.
fn order_ties<R: Copy>(
    r: &mut [R],
    t: &[i64],
    q: &mut [i64],
    scratch: &mut Vec<u32>,
    mut moved: impl FnMut(R, usize),
) {
    let n = t.len();
    let (r, q) = (&mut r[..n], &mut q[..n]);
    list_out_of_order(t, q, scratch);
    let out_of_order = |q: &[i64], k: usize| k < n && t[k] == t[k - 1] && q[k] < q[k - 1];
    let mut next = 0;
    for &k in scratch.iter() {
        let mut k = (k as usize).max(next);
        while out_of_order(q, k) {
            let (row, s) = (r[k], q[k]);
            let mut j = k;
            while j > 0 && t[j - 1] == t[k] && q[j - 1] > s {
                r[j] = r[j - 1];
                q[j] = q[j - 1];
                moved(r[j], j);
                j -= 1;
            }
            r[j] = row;
            q[j] = s;
            moved(row, j);
            k += 1;
        }
        next = k;
    }
}

/// The rows `k` (ascending, into `out`, emptied first) tied in time with
/// the row before and below it in sequence: `t[k] == t[k - 1]` and
/// `q[k] < q[k - 1]`. 64 rows at a time, their verdicts gathered into a
/// word without a branch (compiled for AVX-512 or else AVX2 where the CPU
/// has it), then
/// the word's set bits listed.
fn list_out_of_order(t: &[i64], q: &[i64], out: &mut Vec<u32>) {
    by_cpu!(
        ["avx512f"] => list_avx512(t, q, out),
        ["avx2"] => list_avx2(t, q, out);
        list_any(t, q, out)
    )
}

#[inline(always)]
fn list_any(t: &[i64], q: &[i64], out: &mut Vec<u32>) {
    out.clear();
    let n = t.len().min(q.len());
    let mut k = 1;
    while k < n {
        let end = (k + 64).min(n);
        let (now, before) = (&t[k..end], &t[k - 1..end - 1]);
        let (seq, seq_before) = (&q[k..end], &q[k - 1..end - 1]);
        let mut bits = 0u64;
        for j in 0..now.len() {
            let late = (now[j] == before[j]) & (seq[j] < seq_before[j]);
            bits |= (late as u64) << j;
        }
        while bits != 0 {
            out.push((k + bits.trailing_zeros() as usize) as u32);
            bits &= bits - 1;
        }
        k = end;
    }
}

/// [`list_any`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn list_avx512(t: &[i64], q: &[i64], out: &mut Vec<u32>) {
    list_any(t, q, out)
}

/// [`list_any`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn list_avx2(t: &[i64], q: &[i64], out: &mut Vec<u32>) {
    list_any(t, q, out)
}

/// The positions of rows ordered by (time, sequence, position), for times
/// too far apart to count: unique keys, so an unstable sort keeps ties in
/// arrival order. When the spans of the three fit in 64 bits together, each
/// row's key packed into one `u64` and those sorted — one integer compare
/// per step instead of a tuple's; else the tuples sorted.
fn sort_order(times: &[i64], seqs: Option<&[i64]>) -> Vec<u32> {
    let n = times.len();
    let bits = |range: u128| 128 - range.leading_zeros();
    let (t0, t_range) = span(times);
    let (s0, s_range) = seqs.map_or((0, 0), span);
    let (bt, bs, bi) = (bits(t_range), bits(s_range), bits(n as u128));
    if n > 0 && bt + bs + bi < 64 {
        let mut keys: Vec<u64> = (0..n)
            .map(|i| {
                let t = (times[i] - t0) as u64;
                let s = seqs.map_or(0, |q| (q[i] - s0) as u64);
                (t << (bs + bi)) | (s << bi) | i as u64
            })
            .collect();
        keys.sort_unstable();
        let mask = (1u64 << bi) - 1;
        return keys.iter().map(|k| (k & mask) as u32).collect();
    }
    let mut keyed: Vec<(i64, i64, u32)> = (0..n)
        .map(|i| (times[i], seqs.map_or(0, |q| q[i]), i as u32))
        .collect();
    keyed.sort_unstable();
    keyed.iter().map(|k| k.2).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// portable one, over lengths around the 64-row words.
        #[test]
        fn ties_out_of_order_are_listed_exactly(
            rows in prop::collection::vec((0i64..4, 0i64..4), 0..300),
        ) {
            let (t, q): (Vec<i64>, Vec<i64>) = rows.into_iter().unzip();
            let want: Vec<u32> = (1..t.len())
                .filter(|&k| t[k] == t[k - 1] && q[k] < q[k - 1])
                .map(|k| k as u32)
                .collect();
            let mut got = vec![7];
            super::list_out_of_order(&t, &q, &mut got);
            prop_assert_eq!(&got, &want);
            let mut any = vec![7];
            super::list_any(&t, &q, &mut any);
            prop_assert_eq!(&any, &want);
        }

    }
}
