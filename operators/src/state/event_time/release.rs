//! The release: the held rows at or below a limit, out of their runs in
//! (time, sequence, arrival) order, as one batch.
//!
//! Contract: as the parent module states: rows at or below the limit leave
//! sorted by time, ties by sequence (or arrival); a row is sorted once and
//! copied once; one in-order run holding every released row is a
//! zero-copy slice; the released rows leave the sequence column out.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow_buffer::ScalarBuffer;
use arrow_schema::DataType;

use super::run::{Held, Run};
use super::sort::{sort_taken, Order};
use super::{EventTimeBuffer, Released};
use crate::expr::Expr;

impl EventTimeBuffer {
    /// Releases every held row with time at or below `limit` (all with
    /// `None`) in (time, sequence, arrival) order.
    pub(super) fn release(&mut self, limit: Option<i64>) -> Option<Released> {
        let limit = limit.unwrap_or(i64::MAX);
        let due = |r: &Run| match r.held {
            Held::Sorted { start } => start < r.times.len() && r.times[start] <= limit,
            Held::Unsorted { min, .. } => min <= limit,
        };
        // Runs this release takes rows of, in the form it reads.
        if let Some(prepare) = self.prepare {
            for r in self.pending.iter_mut().filter(|r| r.raw && due(r)) {
                if let Some(b) = prepare(&r.batch) {
                    r.batch = b;
                }
                r.raw = false;
            }
        }
        // One in-order run holding every row released: a zero-copy slice.
        let mut from = self.pending.iter().enumerate().filter(|(_, r)| due(r));
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
                self.held -= released.times.len();
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
        if taken.seqs.is_some() {
            self.pending.iter_mut().for_each(Run::number_rows);
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
        // A run still in its raw form has nothing due (those were prepared
        // above): an empty batch of a prepared run's columns stands in.
        let stand_in = self
            .pending
            .iter()
            .any(|r| r.raw)
            .then(|| self.pending.iter().find(|r| !r.raw))
            .flatten()
            .map(|r| RecordBatch::new_empty(r.batch.schema()));
        let batches: Vec<&RecordBatch> = self
            .pending
            .iter()
            .map(|r| match &stand_in {
                Some(empty) if r.raw => empty,
                _ => &r.batch,
            })
            .collect();
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
                // `0..n` (ties reordered by sequence only swap places
                // among rows): a permutation.
                let slots = unsafe { crate::gather::Slots::new_unchecked(slots) };
                crate::gather::scatter_columns_but(&batches, &taken.rows, slots, known, cols)
            }
        };
        drop(batches);
        self.taken = taken;
        let released = Released { batch, times };
        self.held -= released.times.len();
        self.pending.retain(|r| !r.is_empty());
        Some(released)
    }

    /// Whether every held run's sequences ascend, in ranges that do not
    /// overlap; `order` then lists the runs by sequence (least, greatest,
    /// run). Sources whose batches are consecutive rows of the input (a
    /// file's chunks, the generator's blocks) hold runs like that.
    pub(super) fn sequence_order(&mut self) -> bool {
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
