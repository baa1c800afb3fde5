//! Holds rows until the watermark passes them, then releases them in
//! event-time order.
//!
//! Contract: the watermark is `max event time seen − lateness`. A row whose
//! time is below the watermark as it stood before the row arrived is late:
//! counted and dropped, never reordered into rows already released. A row
//! whose time is NULL is dropped and counted as late as well. Rows at or
//! below the current watermark are released sorted by time, ties kept in
//! arrival order; [`EventTimeBuffer::finish`] releases the rest (the end of a
//! bounded input is a watermark of +∞).
//!
//! With an external watermark (several cores feeding one operator), the
//! watermark is only what [`EventTimeBuffer::advance`] says: a row below it
//! is late, and rows strictly below it are released (a row exactly at the
//! watermark may still arrive from another core). Ties are then broken by
//! the row's sequence column, so the order is the same however the input was
//! split. That column must be a batch's last; released rows leave it out
//! (nothing after the buffer reads it, and gathering it cost a column).
//! When every held batch's sequences ascend, each batch in a range of its
//! own (batches of consecutive input rows, as the generator's blocks and a
//! file's chunks are), the rows are taken batch by batch in sequence order
//! and sorted on time alone: ties then need no sequences at all.
//!
//! Held rows are kept as runs, one per accepted batch, in arrival order:
//! a batch that came in order stays a sorted run whose released rows are a
//! prefix; any other is not sorted when it arrives, only its rows' least and
//! greatest times are noted. A release takes, from each run, the rows at or
//! below the limit (all of them, none, or those a pass over the run picks),
//! and sorts what it took once — a row is sorted once and copied once (a
//! plain time column not even once: the sorted times are that column). When
//! no tie needs ordering by sequence, the sort notes each taken row's place
//! and the rows are copied to their places in taken order
//! ([`crate::gather::scatter_columns_but`]): each run read in order, not at
//! scattered places. It is zero-copy when one in-order run holds every
//! released row.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::DataType;

use super::KeepMask;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::gather::Pair;
use crate::types::SqlType;

/// The event-time column of an operator (TIMESTAMP, or BIGINT milliseconds).
#[derive(Clone, Debug)]
pub struct TimeColumn(pub Expr);

impl TimeColumn {
    /// Times of every row of `batch` and which of them are NULL; a column
    /// of the batch is shared, not copied.
    pub fn eval(&self, batch: &RecordBatch) -> Result<(ScalarBuffer<i64>, Option<NullBuffer>)> {
        let a = self.0.eval(batch)?;
        let values = match self.0.ty() {
            SqlType::Timestamp => a
                .as_primitive::<TimestampMillisecondType>()
                .values()
                .clone(),
            SqlType::BigInt => a.as_primitive::<Int64Type>().values().clone(),
            t => {
                return Err(Error::Config(format!(
                    "event time must be TIMESTAMP or BIGINT, found {t}"
                )))
            }
        };
        Ok((values, a.nulls().cloned()))
    }
}

/// A batch of released rows with their event times, in event-time order.
pub struct Released {
    pub batch: RecordBatch,
    pub times: ScalarBuffer<i64>,
}

/// Rows of one accepted batch still held.
struct Run {
    batch: RecordBatch,
    /// Each row's time and sequence number, in batch order.
    times: ScalarBuffer<i64>,
    seqs: Option<ScalarBuffer<i64>>,
    /// The least and greatest sequence of the held rows when they ascend
    /// in batch order (`None` when they do not, or there are none).
    seq_span: Option<(i64, i64)>,
    held: Held,
}

/// Which rows of a run are held.
enum Held {
    /// The batch came in (time, sequence) order: rows `start..`.
    Sorted { start: usize },
    /// Any order: every row (`rows` is `None`) or the rows listed, in batch
    /// order; `min` and `max` bound their times.
    Unsorted {
        rows: Option<Vec<u32>>,
        min: i64,
        max: i64,
    },
}

/// Rows taken for a release, in arrival order: (run, batch row), time and
/// sequence of each.
#[derive(Default)]
struct Taken {
    rows: Vec<Pair>,
    times: Vec<i64>,
    seqs: Option<Vec<i64>>,
}

impl Taken {
    /// Appends rows `range` of run `k` (`r`), every one of them.
    fn take_all(&mut self, k: usize, r: &Run, range: std::ops::Range<usize>) {
        self.rows
            .extend(range.clone().map(|i| (k as u32, i as u32)));
        self.times.extend_from_slice(&r.times[range.clone()]);
        if let (Some(all), Some(s)) = (&mut self.seqs, &r.seqs) {
            all.extend_from_slice(&s[range]);
        }
    }

    /// Appends the rows `src` (`count` of them, row numbers of run `k`)
    /// whose time is at or below `limit`, in order; the others go to `stay`
    /// (when given). Returns the least time of those that stay. Every row
    /// is written to both sides and only one side's length advances: no
    /// branch per row on its verdict.
    fn take_rows(
        &mut self,
        k: usize,
        r: &Run,
        src: impl Iterator<Item = usize>,
        count: usize,
        limit: i64,
        mut stay: Option<&mut Vec<u32>>,
    ) -> i64 {
        let at = self.rows.len();
        self.rows.reserve(count);
        self.times.reserve(count);
        let (rows, times) = (
            &mut self.rows.spare_capacity_mut()[..count],
            &mut self.times.spare_capacity_mut()[..count],
        );
        let mut seqs = match (&mut self.seqs, &r.seqs) {
            (Some(all), Some(s)) => {
                all.reserve(count);
                Some((&mut all.spare_capacity_mut()[..count], s))
            }
            _ => None,
        };
        let keeping = stay.is_some();
        let kept = match &mut stay {
            Some(v) => {
                v.clear();
                v.reserve(count);
                &mut v.spare_capacity_mut()[..count]
            }
            None => &mut [][..],
        };
        let (mut w, mut u, mut min) = (0, 0, i64::MAX);
        for i in src.take(count) {
            let t = r.times[i];
            rows[w].write((k as u32, i as u32));
            times[w].write(t);
            if let Some((out, s)) = &mut seqs {
                out[w].write(s[i]);
            }
            let go = t <= limit;
            w += go as usize;
            if keeping {
                kept[u].write(i as u32);
                min = if go { min } else { min.min(t) };
                u += !go as usize;
            }
        }
        // SAFETY: each vector had `count` slots reserved past its length
        // and the first `w` (resp. `u`) of them were written above.
        unsafe {
            self.rows.set_len(at + w);
            self.times.set_len(at + w);
            if let Some(all) = &mut self.seqs {
                if r.seqs.is_some() {
                    all.set_len(at + w);
                }
            }
            if let Some(v) = stay {
                v.set_len(u);
            }
        }
        min
    }
}

pub struct EventTimeBuffer {
    time: TimeColumn,
    lateness: i64,
    max_seen: Option<i64>,
    /// Runs in arrival order.
    pending: std::collections::VecDeque<Run>,
    /// Scratch of a release: the rows taken, and the counting sort's counts.
    taken: Taken,
    counts: Vec<u32>,
    late: u64,
    /// `Some` when the watermark comes from outside (see [`Self::advance`]).
    external: Option<Option<i64>>,
    /// Column holding each row's global sequence number, for ties: the
    /// batches' last, left out of released rows.
    seq: Option<usize>,
    /// Scratch of a release: the runs in sequence order.
    order: Vec<(i64, i64, u32)>,
}

impl EventTimeBuffer {
    pub fn new(time: TimeColumn, lateness_ms: i64) -> Self {
        EventTimeBuffer {
            time,
            lateness: lateness_ms,
            max_seen: None,
            pending: std::collections::VecDeque::new(),
            taken: Taken::default(),
            counts: Vec::new(),
            late: 0,
            external: None,
            seq: None,
            order: Vec::new(),
        }
    }

    /// Takes the watermark from [`Self::advance`] instead of the rows, and
    /// breaks time ties by the sequence column `seq`.
    pub fn externally_driven(mut self, seq: Option<usize>) -> Self {
        self.external = Some(None);
        self.seq = seq;
        self
    }

    /// Raises the external watermark to `w`; returns the rows it releases.
    pub fn advance(&mut self, w: i64) -> Option<Released> {
        let cur = self
            .external
            .expect("advance needs an externally driven buffer");
        let w = cur.map_or(w, |c| c.max(w));
        self.external = Some(Some(w));
        self.release(Some(w.saturating_sub(1)))
    }

    /// Current watermark, `None` before the first row.
    pub fn watermark(&self) -> Option<i64> {
        if let Some(ext) = self.external {
            return ext;
        }
        self.max_seen.map(|m| m.saturating_sub(self.lateness))
    }

    /// Rows dropped as late (or with a NULL time) so far.
    pub fn late_rows(&self) -> u64 {
        self.late
    }

    /// Accepts a batch; returns the rows the advanced watermark releases.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Option<Released>> {
        self.accept(batch, None)
    }

    /// Accepts rows `rows` (ascending) of `batch` as [`Self::push`] accepts
    /// a batch of those rows alone; they are held by reference to `batch`
    /// and copied once, when released.
    ///
    /// # Panics
    /// When a row is not below the batch's length.
    pub fn push_rows(&mut self, batch: RecordBatch, rows: Vec<u32>) -> Result<Option<Released>> {
        assert!(
            rows.last().is_none_or(|&r| (r as usize) < batch.num_rows()),
            "rows within the batch"
        );
        self.accept(batch, Some(rows))
    }

    /// Admits rows `rows` of `batch` (every row when `None`) and holds those
    /// not late as one run: a batch that lost rows is held as the list of
    /// the rows it kept, not copied.
    fn accept(&mut self, batch: RecordBatch, rows: Option<Vec<u32>>) -> Result<Option<Released>> {
        if let Some(seq) = self.seq {
            assert_eq!(
                seq + 1,
                batch.num_columns(),
                "the sequence column is the last"
            );
        }
        let (times, nulls) = self.time.eval(&batch)?;
        let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
        let no_nulls = nulls.as_ref().is_none_or(|n| n.null_count() == 0);
        // Rows without NULL times (a whole batch, or the rows listed):
        // their range, found once, judges admission and bounds the run.
        // Under an external watermark the range of listed rows may be the
        // whole batch's (one vectorised pass where a pass over the list
        // reads scattered rows): a wider range only admits row by row
        // what it cannot admit at once, and bounds the run loosely (a
        // release may look at it before its rows are due); the highest
        // time seen, which a wider range would overstate, is not the
        // watermark then.
        let range = match &rows {
            _ if !no_nulls => None,
            None => time_range(&times),
            Some(_) if self.external.is_some() => time_range(&times),
            Some(r) => listed_range(&times, r),
        };
        // One admission loop per shape: every row, or the rows listed; none
        // when the rows' time range shows no row can be late.
        let keep = match &rows {
            _ if no_nulls && self.admits_all(range) => KeepMask::default(),
            None => self.admit(times.iter().enumerate().map(|(i, &t)| (t, valid(i)))),
            Some(r) => self.admit(r.iter().map(|&r| (times[r as usize], valid(r as usize)))),
        };
        self.late += keep.dropped() as u64;
        // The range bounds the run only when no row was dropped.
        let range = range.filter(|_| keep.dropped() == 0);
        let kept = |rows: &mut dyn Iterator<Item = u32>, mask: Vec<bool>| -> Vec<u32> {
            rows.zip(mask).filter_map(|(r, k)| k.then_some(r)).collect()
        };
        let held = match (rows, keep.into_mask()) {
            (rows, None) => rows,
            (None, Some(mask)) => Some(kept(&mut (0..times.len() as u32), mask)),
            (Some(rows), Some(mask)) => Some(kept(&mut rows.into_iter(), mask)),
        };
        if held.as_ref().map_or(batch.num_rows(), Vec::len) > 0 {
            let run = self.run(batch, times, held, range);
            self.pending.push_back(run);
        }
        self.released()
    }

    /// What accepting rows released: nothing when the watermark comes from
    /// outside, else the rows at or below the watermark.
    fn released(&mut self) -> Result<Option<Released>> {
        if self.external.is_some() {
            return Ok(None);
        }
        Ok(self.release(self.watermark()))
    }

    /// Which of the rows (time, and whether it is not NULL) stay, each
    /// judged against the watermark as it stood when it arrived; the
    /// highest time seen is advanced.
    fn admit(&mut self, rows: impl Iterator<Item = (i64, bool)>) -> KeepMask {
        let lateness = self.lateness;
        let external = self.external.map(|w| w.unwrap_or(i64::MIN));
        let (mut max, mut seen) = (self.max_seen.unwrap_or(i64::MIN), self.max_seen.is_some());
        let mut keep = KeepMask::default();
        for (i, (t, valid)) in rows.enumerate() {
            let late = !valid
                || match external {
                    Some(w) => t < w,
                    None => seen && t < max.saturating_sub(lateness),
                };
            if valid {
                max = max.max(t);
                seen = true;
            }
            keep.push(i, !late);
        }
        self.max_seen = seen.then_some(max);
        keep
    }

    /// Whether every time of a batch (none NULL; `range` their least and
    /// greatest, `None` when there are none) is admitted, judged from the
    /// range alone: the watermark a row meets never passes the one the
    /// greatest time sets (or the external one), so when the least time is
    /// not below that, no row is late. The highest time seen is advanced
    /// then; `false` (nothing changed) otherwise, and [`Self::admit`] judges
    /// row by row.
    fn admits_all(&mut self, range: Option<(i64, i64)>) -> bool {
        let Some((lo, hi)) = range else {
            return true;
        };
        let max = self.max_seen.map_or(hi, |m| m.max(hi));
        let all = match self.external {
            Some(w) => lo >= w.unwrap_or(i64::MIN),
            None => lo >= max.saturating_sub(self.lateness),
        };
        if all {
            self.max_seen = Some(max);
        }
        all
    }

    /// Releases every row still held, in event-time order.
    pub fn finish(&mut self) -> Option<Released> {
        self.release(None)
    }

    /// The run holding rows `rows` of `batch` (every row when `None`):
    /// sorted when a whole batch came in (time, sequence) order, else with
    /// the bounds of its times (`range`, when given, bounds them: their
    /// least and greatest, or those of the whole batch).
    fn run(
        &self,
        batch: RecordBatch,
        times: ScalarBuffer<i64>,
        rows: Option<Vec<u32>>,
        range: Option<(i64, i64)>,
    ) -> Run {
        let seqs: Option<ScalarBuffer<i64>> = self
            .seq
            .map(|c| batch.column(c).as_primitive::<Int64Type>().values().clone());
        let key = |i: usize| (times[i], seqs.as_ref().map_or(0, |s| s[i]));
        let seq_span = seqs.as_ref().and_then(|s| {
            let (first, last) = match &rows {
                Some(r) => (*r.first()? as usize, *r.last()? as usize),
                None => (0, s.len().checked_sub(1)?),
            };
            ascends(s).then(|| (s[first], s[last]))
        });
        let held = match rows {
            Some(rows) => {
                let (min, max) = range
                    .or_else(|| listed_range(&times, &rows))
                    .unwrap_or((i64::MAX, i64::MIN));
                Held::Unsorted {
                    rows: Some(rows),
                    min,
                    max,
                }
            }
            None if (1..times.len()).all(|i| key(i - 1) <= key(i)) => Held::Sorted { start: 0 },
            None => {
                let (min, max) = range
                    .or_else(|| time_range(&times))
                    .unwrap_or((i64::MAX, i64::MIN));
                Held::Unsorted {
                    rows: None,
                    min,
                    max,
                }
            }
        };
        Run {
            batch,
            times,
            seqs,
            seq_span,
            held,
        }
    }

    /// Releases every held row with time at or below `limit` (all with
    /// `None`) in (time, sequence, arrival) order.
    fn release(&mut self, limit: Option<i64>) -> Option<Released> {
        let limit = limit.unwrap_or(i64::MAX);
        // One in-order run holding every row released: a zero-copy slice.
        let mut from = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, r)| match r.held {
                Held::Sorted { start } => start < r.times.len() && r.times[start] <= limit,
                Held::Unsorted { min, .. } => min <= limit,
            });
        let (k, _) = from.next()?;
        if from.next().is_none() {
            let r = &mut self.pending[k];
            if let Held::Sorted { start } = &mut r.held {
                let end = *start + r.times[*start..].partition_point(|&t| t <= limit);
                let released = Released {
                    batch: without(r.batch.slice(*start, end - *start), self.seq),
                    times: r.times.slice(*start, end - *start),
                };
                *start = end;
                self.pending.retain(|r| !r.is_empty());
                return Some(released);
            }
        }
        // The scratch of the last release, emptied, with room for every
        // row that may go. Runs whose sequences ascend, each in a range of
        // its own, are taken in sequence order: the rows taken then ascend
        // in sequence, and a stable sort on time alone orders ties.
        let in_order = self.seq.is_some() && self.sequence_order();
        let mut taken = std::mem::take(&mut self.taken);
        taken.rows.clear();
        taken.times.clear();
        let seqs = taken.seqs.get_or_insert_with(Vec::new);
        seqs.clear();
        if self.seq.is_none() || in_order {
            taken.seqs = None;
        }
        let most: usize = self.pending.iter().map(Run::held).sum();
        taken.rows.reserve(most);
        taken.times.reserve(most);
        if let Some(q) = &mut taken.seqs {
            q.reserve(most);
        }
        if in_order {
            for &(_, _, k) in &self.order {
                self.pending[k as usize].take(k as usize, limit, &mut taken);
            }
        } else {
            for (k, r) in self.pending.iter_mut().enumerate() {
                r.take(k, limit, &mut taken);
            }
        }
        // The sequences (sorted too when the sort moved them) served only
        // to order ties: the released rows leave that column out.
        let (order, times, _) = sort_taken(&taken, &mut self.counts);
        let batches: Vec<&RecordBatch> = self.pending.iter().map(|r| &r.batch).collect();
        let times: ScalarBuffer<i64> = times.into();
        // A plain time column is the sorted times (a released row has a
        // time: NULL times are late), shared rather than gathered again.
        let mut known: Vec<(usize, ArrayRef)> = Vec::with_capacity(1);
        if let Expr::Column { index, .. } = &self.time.0 {
            let ty = batches[0].column(*index).data_type().clone();
            let col: ArrayRef = match ty {
                DataType::Int64 => Arc::new(Int64Array::new(times.clone(), None)),
                _ => {
                    Arc::new(TimestampMillisecondArray::new(times.clone(), None).with_data_type(ty))
                }
            };
            known.push((*index, col));
        }
        // Every column but the sequence (the last).
        let cols = batches[0].num_columns() - self.seq.is_some() as usize;
        let batch = match &order {
            Order::Sorted(rows) => crate::gather::gather_columns_but(&batches, rows, known, cols),
            Order::Slots(slots) => {
                // SAFETY: the counting sort gave each of the `n` taken rows
                // the next place of its time's range, the ranges tiling
                // `0..n`: a permutation.
                let slots = unsafe { crate::gather::Slots::new_unchecked(slots) };
                crate::gather::scatter_columns_but(&batches, &taken.rows, slots, known, cols)
            }
        };
        drop(batches);
        self.taken = taken;
        let released = Released { batch, times };
        self.pending.retain(|r| !r.is_empty());
        Some(released)
    }

    /// Whether every held run's sequences ascend, in ranges that do not
    /// overlap; `order` then lists the runs by sequence (least, greatest,
    /// run). Sources whose batches are consecutive rows of the input (a
    /// file's chunks, the generator's blocks) hold runs like that.
    fn sequence_order(&mut self) -> bool {
        self.order.clear();
        for (k, r) in self.pending.iter().enumerate() {
            let Some((lo, hi)) = r.seq_span else {
                return false;
            };
            self.order.push((lo, hi, k as u32));
        }
        self.order.sort_unstable();
        self.order.windows(2).all(|w| w[0].1 < w[1].0)
    }
}

impl Run {
    /// How many rows are held.
    fn held(&self) -> usize {
        match &self.held {
            Held::Sorted { start } => self.times.len() - start,
            Held::Unsorted { rows: None, .. } => self.times.len(),
            Held::Unsorted { rows: Some(r), .. } => r.len(),
        }
    }

    /// Whether every row has been released.
    fn is_empty(&self) -> bool {
        match &self.held {
            Held::Sorted { start } => *start == self.times.len(),
            Held::Unsorted { rows, .. } => rows.as_ref().is_some_and(|r| r.is_empty()),
        }
    }

    /// Moves the held rows with time at or below `limit` to `taken` (this
    /// is run `k`), in batch order.
    fn take(&mut self, k: usize, limit: i64, taken: &mut Taken) {
        let n = self.times.len();
        let held = std::mem::replace(&mut self.held, Held::Sorted { start: n });
        self.held = match held {
            Held::Sorted { start } => {
                let end = start + self.times[start..].partition_point(|&t| t <= limit);
                taken.take_all(k, self, start..end);
                Held::Sorted { start: end }
            }
            Held::Unsorted { rows, min, max } if min > limit => Held::Unsorted { rows, min, max },
            Held::Unsorted { rows, max, .. } => {
                // Every row goes when the greatest time does; else one
                // pass picks them and lists the rows that stay.
                let mut stay = (max > limit).then(Vec::new);
                let min = match &rows {
                    None if stay.is_none() => {
                        taken.take_all(k, self, 0..n);
                        i64::MAX
                    }
                    None => taken.take_rows(k, self, 0..n, n, limit, stay.as_mut()),
                    Some(rows) => {
                        let src = rows.iter().map(|&i| i as usize);
                        taken.take_rows(k, self, src, rows.len(), limit, stay.as_mut())
                    }
                };
                match stay {
                    None => Held::Sorted { start: n },
                    Some(rows) => Held::Unsorted {
                        rows: Some(rows),
                        min,
                        max,
                    },
                }
            }
        };
    }
}

/// `batch` without its sequence column (column `seq`, the last) when it has
/// one.
fn without(batch: RecordBatch, seq: Option<usize>) -> RecordBatch {
    match seq {
        Some(seq) => {
            let keep: Vec<usize> = (0..seq).collect();
            batch.project(&keep).expect("columns before the sequence")
        }
        None => batch,
    }
}

/// Whether `s` never descends: every pair compared, without a branch, in
/// a loop compiled for AVX-512 (eight pairs a compare) where the CPU has it
/// (a run-time check, as for [`time_range`]).
fn ascends(s: &[i64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512 F (checked just above), the only
        // target feature `ascends_avx512` enables.
        return unsafe { ascends_avx512(s) };
    }
    ascends_any(s)
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

/// The least and greatest of the times of rows `rows` (`None` when there
/// are none).
fn listed_range(times: &[i64], rows: &[u32]) -> Option<(i64, i64)> {
    rows.iter().map(|&r| times[r as usize]).fold(None, |b, t| {
        Some(b.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))))
    })
}

/// The least value and the width of the range of values ((0, 0) when
/// empty: callers check for rows before they use it).
fn span(v: &[i64]) -> (i64, u128) {
    let (lo, hi) = time_range(v).unwrap_or((0, 0));
    (lo, (hi as i128 - lo as i128) as u128)
}

/// Where the taken rows go in (time, sequence, position) order.
enum Order {
    /// The taken rows in that order.
    Sorted(Vec<Pair>),
    /// The place of each taken row: a permutation of `0..n`.
    Slots(Vec<u32>),
}

impl Order {
    /// The taken rows `rows` in order.
    #[cfg(test)]
    fn rows(&self, rows: &[Pair]) -> Vec<Pair> {
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
/// within seconds): a counting sort on time that moves the times and
/// (when they do not already ascend) the rows and sequences straight to
/// their places — stable, so ties stay in arrival order — then each run of
/// equal times (a few rows) put in sequence order by insertion; with no
/// ties to order, it notes each row's place instead of moving it
/// ([`Order::Slots`]). Else the order from [`sort_order`], applied.
/// `counts` is scratch kept between calls.
fn sort_taken(taken: &Taken, counts: &mut Vec<u32>) -> (Order, Vec<i64>, Option<Vec<i64>>) {
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
            let mut sorted_rows: Vec<Pair> = Vec::with_capacity(n);
            let mut sorted_seqs: Vec<i64> = Vec::with_capacity(n);
            let (r_out, s_out) = (
                &mut sorted_rows.spare_capacity_mut()[..n],
                &mut sorted_seqs.spare_capacity_mut()[..n],
            );
            for (i, &t) in times.iter().enumerate() {
                let b = (t - t0) as usize;
                let at = starts[b] as usize;
                starts[b] = at as u32 + 1;
                r_out[at].write(rows[i]);
                t_out[at].write(t);
                s_out[at].write(q[i]);
            }
            // SAFETY: the counts summed to `n` and each row took the next
            // slot of its time's range, so each of the first `n` slots of
            // the three vectors was written.
            unsafe {
                sorted_rows.set_len(n);
                sorted_seqs.set_len(n);
                sorted_times.set_len(n);
            }
            order_ties(&mut sorted_rows, &sorted_times, &mut sorted_seqs, counts);
            (Order::Sorted(sorted_rows), sorted_times, Some(sorted_seqs))
        }
    }
}

/// Puts each run of equal times `t` in sequence order `q`, moving the rows
/// `r` with them; everything else is in order already. `scratch` is kept
/// between calls.
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
fn order_ties(r: &mut [Pair], t: &[i64], q: &mut [i64], scratch: &mut Vec<u32>) {
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
                j -= 1;
            }
            r[j] = row;
            q[j] = s;
            k += 1;
        }
        next = k;
    }
}

/// The rows `k` (ascending, into `out`, emptied first) tied in time with
/// the row before and below it in sequence: `t[k] == t[k - 1]` and
/// `q[k] < q[k - 1]`. 64 rows at a time, their verdicts gathered into a
/// word without a branch (compiled for AVX-512 where the CPU has it), then
/// the word's set bits listed.
fn list_out_of_order(t: &[i64], q: &[i64], out: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512 F (checked just above), the only
        // target feature `list_avx512` enables.
        return unsafe { list_avx512(t, q, out) };
    }
    list_any(t, q, out)
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

/// The least and greatest of `times` (`None` when there are none): one
/// pass, compiled for AVX-512 (eight times a compare) where the CPU has it
/// (a run-time check; the same loop portably otherwise).
pub fn time_range(times: &[i64]) -> Option<(i64, i64)> {
    if times.is_empty() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512 F (checked just above), the only
        // target feature `range_avx512` enables.
        return Some(unsafe { range_avx512(times) });
    }
    Some(range_any(times))
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

#[cfg(test)]
mod tests {
    use super::{sort_taken, EventTimeBuffer, Released, Taken, TimeColumn};
    use crate::expr::Expr;
    use crate::types::SqlType;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use proptest::prelude::*;
    use std::sync::Arc;

    /// A step fed to a buffer: a batch of rows (time or NULL, sequence), or
    /// an external watermark.
    #[derive(Clone, Debug)]
    enum Step {
        Push(Vec<(Option<i64>, i64)>),
        /// A batch of which only the rows marked are pushed, as a row list.
        PushRows(Vec<((Option<i64>, i64), bool)>),
        Advance(i64),
    }

    fn step(external: bool) -> impl Strategy<Value = Step> {
        // Half the batches without NULL times: those are judged from their
        // time range at once, the others row by row.
        let clean = || ((0i64..60).prop_map(Some), 0i64..4);
        let nulls = || (prop::option::weighted(0.9, 0i64..60), 0i64..4);
        let push = prop_oneof![
            prop::collection::vec(clean(), 0..40),
            prop::collection::vec(nulls(), 0..40),
        ]
        .prop_map(Step::Push);
        let picked = prop_oneof![
            prop::collection::vec((clean(), any::<bool>()), 0..40),
            prop::collection::vec((nulls(), any::<bool>()), 0..40),
        ]
        .prop_map(Step::PushRows);
        if external {
            prop_oneof![push, picked, (0i64..70).prop_map(Step::Advance)].boxed()
        } else {
            prop_oneof![push, picked].boxed()
        }
    }

    /// A step like [`step`]'s, but each batch holds consecutive rows of the
    /// input: its sequences ascend from the start of one of a few blocks.
    /// Batches of different blocks are runs in ranges of their own (taken
    /// in sequence order); two of one block overlap, and so does a batch
    /// that skips rows of another's range.
    fn block_step() -> impl Strategy<Value = Step> {
        let times = || prop::option::weighted(0.95, 0i64..60);
        let numbered = |rows: Vec<Option<i64>>, block: i64| -> Vec<(Option<i64>, i64)> {
            rows.into_iter().zip(block * 100..).collect()
        };
        prop_oneof![
            (prop::collection::vec(times(), 0..40), 0i64..8)
                .prop_map(move |(r, b)| Step::Push(numbered(r, b))),
            (
                prop::collection::vec((times(), any::<bool>()), 0..40),
                0i64..8
            )
                .prop_map(move |(r, b)| {
                    let (t, pick): (Vec<_>, Vec<_>) = r.into_iter().unzip();
                    Step::PushRows(numbered(t, b).into_iter().zip(pick).collect())
                }),
            (0i64..70).prop_map(Step::Advance),
        ]
    }

    /// Columns: `t` (the event time), `id` (the row's arrival number),
    /// `seq` (last, as an externally driven buffer wants it).
    fn batch(rows: &[(Option<i64>, i64)], first_id: i64) -> RecordBatch {
        let t: ArrayRef = Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>());
        let s: ArrayRef = Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>());
        let id: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..rows.len() as i64).map(|k| first_id + k),
        ));
        RecordBatch::try_from_iter([("t", t), ("id", id), ("seq", s)]).unwrap()
    }

    /// What a release gave: (id, time) of each row, checking `times`
    /// matches the batch's time column, and that the sequence column is
    /// left out when the buffer is externally driven (`external`).
    fn rows_of(r: Option<Released>, external: bool) -> Vec<(i64, i64)> {
        let Some(r) = r else { return Vec::new() };
        assert_eq!(
            r.batch.num_columns(),
            if external { 2 } else { 3 },
            "the sequence column is left out by an externally driven buffer only"
        );
        let col = |c: usize| {
            r.batch
                .column(c)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        };
        let (t, id) = (col(0), col(1));
        assert_eq!(t, r.times.to_vec(), "released times are the batch's");
        id.into_iter().zip(t).collect()
    }

    /// The contract, written plainly: every held row in a list; a release
    /// takes those at or below the limit sorted by (time, sequence when
    /// external, arrival).
    struct Model {
        lateness: i64,
        external: bool,
        max: Option<i64>,
        wm: Option<i64>,
        held: Vec<(i64, i64, i64)>,
        late: u64,
    }

    impl Model {
        /// (id, time) of the rows released, in order.
        fn release(&mut self, limit: i64) -> Vec<(i64, i64)> {
            let external = self.external;
            let key = |r: &(i64, i64, i64)| (r.0, if external { r.1 } else { 0 }, r.2);
            let (mut out, keep): (Vec<_>, Vec<_>) = self.held.iter().partition(|r| r.0 <= limit);
            self.held = keep;
            out.sort_by_key(key);
            out.iter().map(|r| (r.2, r.0)).collect()
        }

        /// Rows with their ids.
        fn push(&mut self, rows: &[((Option<i64>, i64), i64)]) -> Vec<(i64, i64)> {
            for &((t, s), id) in rows {
                let Some(t) = t else {
                    self.late += 1;
                    continue;
                };
                let late = if self.external {
                    self.wm.is_some_and(|w| t < w)
                } else {
                    self.max.is_some_and(|m| t < m - self.lateness)
                };
                self.max = Some(self.max.map_or(t, |m| m.max(t)));
                if late {
                    self.late += 1;
                } else {
                    self.held.push((t, s, id));
                }
            }
            match (self.external, self.max) {
                (false, Some(m)) => self.release(m - self.lateness),
                _ => Vec::new(),
            }
        }

        fn advance(&mut self, w: i64) -> Vec<(i64, i64)> {
            let w = self.wm.map_or(w, |c| c.max(w));
            self.wm = Some(w);
            self.release(w - 1)
        }
    }

    fn check(steps: Vec<Step>, lateness: i64, external: bool) -> Result<(), TestCaseError> {
        let time = TimeColumn(Expr::column(0, SqlType::BigInt, "t"));
        let mut buf = EventTimeBuffer::new(time, lateness);
        if external {
            buf = buf.externally_driven(Some(2));
        }
        let mut model = Model {
            lateness,
            external,
            max: None,
            wm: None,
            held: Vec::new(),
            late: 0,
        };
        let mut id = 0;
        for s in steps {
            let (got, want) = match s {
                Step::Push(rows) => {
                    let got = rows_of(buf.push(batch(&rows, id)).unwrap(), external);
                    let with_ids: Vec<_> = rows.iter().zip(id..).map(|(r, i)| (*r, i)).collect();
                    id += rows.len() as i64;
                    (got, model.push(&with_ids))
                }
                Step::PushRows(rows) => {
                    let all: Vec<_> = rows.iter().map(|r| r.0).collect();
                    let b = batch(&all, id);
                    let picked: Vec<u32> = (0..rows.len() as u32)
                        .filter(|&k| rows[k as usize].1)
                        .collect();
                    let got = rows_of(buf.push_rows(b, picked.clone()).unwrap(), external);
                    let with_ids: Vec<_> = picked
                        .iter()
                        .map(|&k| (all[k as usize], id + k as i64))
                        .collect();
                    id += rows.len() as i64;
                    (got, model.push(&with_ids))
                }
                Step::Advance(w) => (rows_of(buf.advance(w), external), model.advance(w)),
            };
            prop_assert_eq!(got, want);
            prop_assert_eq!(buf.late_rows(), model.late);
        }
        let want = model.release(i64::MAX);
        prop_assert_eq!(rows_of(buf.finish(), external), want);
        Ok(())
    }

    /// With an external watermark, a batch's rows below it are late and the
    /// others stay, at the boundary too (whole batches judged at once).
    #[test]
    fn an_external_watermark_makes_exactly_the_rows_below_it_late() {
        let time = TimeColumn(Expr::column(0, SqlType::BigInt, "t"));
        let mut buf = EventTimeBuffer::new(time, 0).externally_driven(Some(2));
        assert!(rows_of(buf.advance(10), true).is_empty());
        buf.push(batch(&[(Some(10), 0), (Some(12), 0)], 0)).unwrap();
        assert_eq!(buf.late_rows(), 0);
        buf.push(batch(&[(Some(15), 0), (Some(9), 0), (Some(11), 0)], 2))
            .unwrap();
        assert_eq!(buf.late_rows(), 1);
        assert_eq!(
            rows_of(buf.finish(), true),
            vec![(0, 10), (4, 11), (1, 12), (2, 15)]
        );
    }

    proptest! {
        /// The buffer releases what the plain model does, in its order, on
        /// random batches: its own watermark (max time seen − lateness).
        #[test]
        fn releases_as_the_model_with_its_own_watermark(
            steps in prop::collection::vec(step(false), 0..12),
            lateness in 0i64..30,
        ) {
            check(steps, lateness, false)?;
        }

        /// The same with an external watermark and ties broken by sequence.
        #[test]
        fn releases_as_the_model_with_an_external_watermark(
            steps in prop::collection::vec(step(true), 0..16),
        ) {
            check(steps, 0, true)?;
        }

        /// The same with batches of consecutive rows, mostly each in a
        /// sequence range of its own (taken in sequence order).
        #[test]
        fn releases_as_the_model_with_batches_of_consecutive_rows(
            steps in prop::collection::vec(block_step(), 0..16),
        ) {
            check(steps, 0, true)?;
        }
    }

    proptest! {
        /// Released rows are ordered as sorting (time, sequence, position)
        /// tuples orders them: narrow spans (counted), wider ones (packed)
        /// and spans too wide to pack (tuples).
        #[test]
        fn released_order_is_the_tuple_order(
            rows in proptest::collection::vec((0i64..50, 0i64..5), 0..300),
            spread in prop_oneof![Just(1i64), Just(1_000), Just(i64::MAX / 64)],
            seq_kind in 0..3,
        ) {
            // Spreads: counted (when the rows are more than a quarter of
            // the span), packed keys, tuples.
            let times: Vec<i64> = rows
                .iter()
                .map(|r| r.0 * spread + if spread > 1_000 { -(i64::MAX / 2) } else { 1_700_000_000_000 })
                .collect();
            // No sequences, sequences in arrival order, or shuffled ones.
            let seqs: Vec<i64> = match seq_kind {
                1 => rows.iter().scan(0, |acc, r| { *acc += r.1; Some(*acc) }).collect(),
                _ => rows.iter().map(|r| r.1).collect(),
            };
            let seqs = (seq_kind > 0).then_some(seqs.as_slice());
            let mut want: Vec<(i64, i64, u32)> = (0..times.len())
                .map(|i| (times[i], seqs.map_or(0, |s| s[i]), i as u32))
                .collect();
            want.sort();
            let want: Vec<u32> = want.iter().map(|k| k.2).collect();
            let taken = Taken {
                rows: (0..times.len() as u32).map(|i| (7, i)).collect(),
                times: times.clone(),
                seqs: seqs.map(|q| q.to_vec()),
            };
            let (order, sorted, sorted_seqs) = sort_taken(&taken, &mut Vec::new());
            let rows = order.rows(&taken.rows);
            prop_assert!(rows.iter().all(|r| r.0 == 7));
            let got: Vec<u32> = rows.iter().map(|r| r.1).collect();
            let want_times: Vec<i64> = want.iter().map(|&i| times[i as usize]).collect();
            let want_seqs: Option<Vec<i64>> = seqs
                .filter(|q| q.windows(2).any(|w| w[0] > w[1]))
                .map(|q| want.iter().map(|&i| q[i as usize]).collect());
            prop_assert_eq!(got, want);
            prop_assert_eq!(sorted, want_times);
            prop_assert_eq!(sorted_seqs, want_seqs);
        }
    }
}

#[cfg(test)]
mod kernel_tests {
    use proptest::prelude::*;

    proptest! {
        /// The rows listed as out of order are exactly those tied in time
        /// with the row before and below it in sequence, ascending: the
        /// vectorised listing (AVX-512 where this CPU has it) and the
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

        /// The vectorised check that sequences never descend (AVX-512 where
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
