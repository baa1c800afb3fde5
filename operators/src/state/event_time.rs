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
//! split.
//!
//! Held rows are kept as sorted runs (one per accepted batch as it arrived,
//! with its sorted order of rows unless it came in order); a release takes
//! each run's prefix up to the watermark — zero-copy when one in-order run
//! holds them all, else gathered into one batch in merged order — so a row
//! is copied at most once.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_buffer::{NullBuffer, ScalarBuffer};

use super::KeepMask;
use crate::error::{Error, Result};
use crate::expr::Expr;
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

/// Held rows of one accepted batch, in (time, sequence) order: the `i`-th
/// is row `order[i]` of `batch` (row `i` when `order` is `None`: the batch
/// arrived in order). The first `start` have been released.
struct Run {
    batch: RecordBatch,
    order: Option<Vec<u32>>,
    /// Times and sequence numbers in that order.
    times: ScalarBuffer<i64>,
    seqs: Option<ScalarBuffer<i64>>,
    start: usize,
}

impl Run {
    fn key(&self, i: usize) -> (i64, i64) {
        (self.times[i], self.seqs.as_ref().map_or(0, |s| s[i]))
    }

    /// The batch row of the `i`-th held row.
    #[inline]
    fn row(&self, i: usize) -> usize {
        self.order.as_ref().map_or(i, |o| o[i] as usize)
    }
}

pub struct EventTimeBuffer {
    time: TimeColumn,
    lateness: i64,
    max_seen: Option<i64>,
    /// Sorted runs in arrival order.
    pending: std::collections::VecDeque<Run>,
    late: u64,
    /// `Some` when the watermark comes from outside (see [`Self::advance`]).
    external: Option<Option<i64>>,
    /// Column holding each row's global sequence number, for ties.
    seq: Option<usize>,
}

impl EventTimeBuffer {
    pub fn new(time: TimeColumn, lateness_ms: i64) -> Self {
        EventTimeBuffer {
            time,
            lateness: lateness_ms,
            max_seen: None,
            pending: std::collections::VecDeque::new(),
            late: 0,
            external: None,
            seq: None,
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
        let (times, nulls) = self.time.eval(&batch)?;
        let keep = self.admit(&times, nulls.as_ref());
        self.late += keep.dropped() as u64;
        let (batch, times) = match keep.into_mask() {
            None => (batch, times),
            Some(keep) => {
                let t = times
                    .iter()
                    .zip(&keep)
                    .filter_map(|(t, k)| k.then_some(*t))
                    .collect();
                let b = arrow_select::filter::filter_record_batch(&batch, &keep.into())
                    .expect("filter with a mask of the batch's length");
                (b, t)
            }
        };
        if batch.num_rows() > 0 {
            let run = self.sorted_run(batch, times);
            self.pending.push_back(run);
        }
        if self.external.is_some() {
            return Ok(None);
        }
        Ok(self.release(self.watermark()))
    }

    /// Which of the rows with `times` (NULL where `nulls` says) stay, each
    /// judged against the watermark as it stood when it arrived; the
    /// highest time seen is advanced.
    fn admit(&mut self, times: &[i64], nulls: Option<&NullBuffer>) -> KeepMask {
        let lateness = self.lateness;
        let external = self.external.map(|w| w.unwrap_or(i64::MIN));
        let (mut max, mut seen) = (self.max_seen.unwrap_or(i64::MIN), self.max_seen.is_some());
        let mut keep = KeepMask::default();
        for (i, &t) in times.iter().enumerate() {
            let valid = nulls.is_none_or(|n| n.is_valid(i));
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

    /// Releases every row still held, in event-time order.
    pub fn finish(&mut self) -> Option<Released> {
        self.release(None)
    }

    /// The batch as a run sorted by (time, sequence); ties without a
    /// sequence column keep arrival order.
    fn sorted_run(&self, batch: RecordBatch, times: ScalarBuffer<i64>) -> Run {
        let seqs: Option<ScalarBuffer<i64>> = self
            .seq
            .map(|c| batch.column(c).as_primitive::<Int64Type>().values().clone());
        let key = |i: usize| (times[i], seqs.as_ref().map_or(0, |s| s[i]));
        if (1..times.len()).all(|i| key(i - 1) <= key(i)) {
            return Run {
                batch,
                order: None,
                times,
                seqs,
                start: 0,
            };
        }
        // Only the order is sorted; rows are copied once, when released.
        let idx = sort_order(&times, seqs.as_deref());
        Run {
            batch,
            times: idx.iter().map(|&i| times[i as usize]).collect(),
            seqs: seqs.map(|s| idx.iter().map(|&i| s[i as usize]).collect()),
            order: Some(idx),
            start: 0,
        }
    }

    /// Releases every held row with time at or below `limit` (all with
    /// `None`), merged from the runs in (time, sequence, arrival) order.
    fn release(&mut self, limit: Option<i64>) -> Option<Released> {
        let limit = limit.unwrap_or(i64::MAX);
        let ends: Vec<usize> = self
            .pending
            .iter()
            .map(|r| r.start + r.times[r.start..].partition_point(|&t| t <= limit))
            .collect();
        let with_rows: Vec<usize> = (0..ends.len())
            .filter(|&k| ends[k] > self.pending[k].start)
            .collect();
        let released = match with_rows.as_slice() {
            [] => return None,
            // One run holds them all: a zero-copy slice when the batch
            // came in order, else its rows taken in order.
            [k] => {
                let r = &self.pending[*k];
                let (from, to) = (r.start, ends[*k]);
                let batch = match &r.order {
                    None => r.batch.slice(from, to - from),
                    Some(o) => arrow_select::take::take_record_batch(
                        &r.batch,
                        &UInt32Array::from(o[from..to].to_vec()),
                    )
                    .expect("indices within the batch"),
                };
                Released {
                    batch,
                    times: r.times.slice(from, to - from),
                }
            }
            _ => {
                let (order, times) = self.merged(&with_rows, &ends);
                let batches: Vec<&RecordBatch> = self.pending.iter().map(|r| &r.batch).collect();
                Released {
                    batch: crate::gather::gather_batch(&batches, &order),
                    times: times.into(),
                }
            }
        };
        for (r, end) in self.pending.iter_mut().zip(ends) {
            r.start = end;
        }
        self.pending.retain(|r| r.start < r.times.len());
        Some(released)
    }
}
impl EventTimeBuffer {
    /// The held rows `start..ends[k]` of runs `with_rows` (at least two) in
    /// (time, sequence, arrival) order: (run, batch row) of each, and its
    /// time. Ties between runs go to the earlier run.
    fn merged(&self, with_rows: &[usize], ends: &[usize]) -> (Vec<(usize, usize)>, Vec<i64>) {
        let runs = &self.pending;
        let total: usize = with_rows.iter().map(|&k| ends[k] - runs[k].start).sum();
        if with_rows.len() > 2 {
            // Many runs (rows from several cores): their prefixes
            // concatenated in arrival order and sorted by (time, sequence,
            // position).
            let mut rows: Vec<(usize, usize)> = Vec::with_capacity(total);
            let mut times = Vec::with_capacity(total);
            let mut seqs = self.seq.map(|_| Vec::with_capacity(total));
            for &k in with_rows {
                let r = &runs[k];
                rows.extend((r.start..ends[k]).map(|i| (k, r.row(i))));
                times.extend_from_slice(&r.times[r.start..ends[k]]);
                if let (Some(all), Some(s)) = (&mut seqs, &r.seqs) {
                    all.extend_from_slice(&s[r.start..ends[k]]);
                }
            }
            let idx = sort_order(&times, seqs.as_deref());
            return (
                idx.iter().map(|&i| rows[i as usize]).collect(),
                idx.iter().map(|&i| times[i as usize]).collect(),
            );
        }
        // Two runs: merge their prefixes, the smaller head each step (ties
        // to the earlier run).
        let (ka, kb) = (with_rows[0], with_rows[1]);
        let (a, b) = (&runs[ka], &runs[kb]);
        let (ea, eb) = (ends[ka], ends[kb]);
        let (mut i, mut j) = (a.start, b.start);
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(total);
        let mut times = Vec::with_capacity(total);
        while i < ea && j < eb {
            if b.key(j) < a.key(i) {
                order.push((kb, b.row(j)));
                times.push(b.times[j]);
                j += 1;
            } else {
                order.push((ka, a.row(i)));
                times.push(a.times[i]);
                i += 1;
            }
        }
        order.extend((i..ea).map(|i| (ka, a.row(i))));
        times.extend_from_slice(&a.times[i..ea]);
        order.extend((j..eb).map(|j| (kb, b.row(j))));
        times.extend_from_slice(&b.times[j..eb]);
        (order, times)
    }
}

/// The positions of rows ordered by (time, sequence, position): unique keys,
/// so an unstable sort keeps ties in arrival order. Three ways, cheapest
/// first: a counting sort on time when the times span less than four times
/// the rows (equal times then put in sequence order); else, when the spans of
/// the three fit in 64 bits together (a batch's times lie within seconds),
/// each row's key packed into one `u64` and those sorted — one integer
/// compare per step instead of a tuple's; else the tuples sorted.
fn sort_order(times: &[i64], seqs: Option<&[i64]>) -> Vec<u32> {
    let n = times.len();
    let span = |v: &[i64]| {
        let (lo, hi) = v
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        (lo, (hi as i128 - lo as i128) as u128)
    };
    let bits = |range: u128| 128 - range.leading_zeros();
    let (t0, t_range) = span(times);
    // Times within a few times the row count of each other (a batch's times
    // span seconds): a counting sort on time (stable: ties stay in arrival
    // order), then, if sequences do not already ascend, each run of equal
    // times (a few rows) sorted by sequence.
    if n > 0 && t_range < 4 * n as u128 {
        let mut starts = vec![0u32; t_range as usize + 2];
        for &t in times {
            starts[(t - t0) as usize + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut order = vec![0u32; n];
        for (i, &t) in times.iter().enumerate() {
            let at = &mut starts[(t - t0) as usize];
            order[*at as usize] = i as u32;
            *at += 1;
        }
        if let Some(q) = seqs.filter(|q| q.windows(2).any(|w| w[0] > w[1])) {
            // Equal times into sequence order: one pass, a row with a smaller
            // sequence than the row before it (same time) moved back among
            // its equals by insertion — groups of a few rows.
            let (mut pt, mut ps) = (times[order[0] as usize], q[order[0] as usize]);
            for k in 1..n {
                let x = order[k];
                let (t, s) = (times[x as usize], q[x as usize]);
                if t == pt && s < ps {
                    // (pt, ps) stays the greatest of the group.
                    let mut j = k;
                    while j > 0 && {
                        let y = order[j - 1] as usize;
                        times[y] == t && q[y] > s
                    } {
                        order[j] = order[j - 1];
                        j -= 1;
                    }
                    order[j] = x;
                } else {
                    (pt, ps) = (t, s);
                }
            }
        }
        return order;
    }
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
    use super::sort_order;
    use proptest::prelude::*;

    proptest! {
        /// The packed sort orders rows as sorting (time, sequence, position)
        /// tuples does: narrow spans (packed) and spans too wide to pack.
        #[test]
        fn packed_order_is_the_tuple_order(
            rows in proptest::collection::vec((0i64..50, 0i64..5), 0..300),
            spread in prop_oneof![Just(1i64), Just(1_000), Just(i64::MAX / 64)],
            seq_kind in 0..3,
        ) {
            // Spreads: counting sort (unless sequences are out of order),
            // packed keys, tuples.
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
            prop_assert_eq!(sort_order(&times, seqs), want);
        }
    }
}
