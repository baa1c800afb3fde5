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

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, BooleanArray, RecordBatch, UInt32Array};
use arrow_buffer::NullBuffer;

use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::types::SqlType;

/// The event-time column of an operator (TIMESTAMP, or BIGINT milliseconds).
#[derive(Clone, Debug)]
pub struct TimeColumn(pub Expr);

impl TimeColumn {
    /// Times of every row of `batch` and which of them are NULL.
    pub fn eval(&self, batch: &RecordBatch) -> Result<(Vec<i64>, Option<NullBuffer>)> {
        let a = self.0.eval(batch)?;
        let values = match self.0.ty() {
            SqlType::Timestamp => a
                .as_primitive::<TimestampMillisecondType>()
                .values()
                .to_vec(),
            SqlType::BigInt => a.as_primitive::<Int64Type>().values().to_vec(),
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
    pub times: Vec<i64>,
}

pub struct EventTimeBuffer {
    time: TimeColumn,
    lateness: i64,
    max_seen: Option<i64>,
    pending: Vec<Released>,
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
            pending: Vec::new(),
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
        let mut keep = Vec::with_capacity(times.len());
        let mut dropped = 0u64;
        for (i, &t) in times.iter().enumerate() {
            let null = nulls.as_ref().is_some_and(|n| n.is_null(i));
            let late = null || self.watermark().is_some_and(|w| t < w);
            if !null {
                self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
            }
            keep.push(!late);
            dropped += late as u64;
        }
        self.late += dropped;
        let (batch, times) = if dropped == 0 {
            (batch, times)
        } else {
            let mask = BooleanArray::from(keep.clone());
            let b = arrow_select::filter::filter_record_batch(&batch, &mask)
                .expect("filter with a mask of the batch's length");
            let t = times
                .into_iter()
                .zip(&keep)
                .filter_map(|(t, k)| k.then_some(t))
                .collect();
            (b, t)
        };
        if batch.num_rows() > 0 {
            self.pending.push(Released { batch, times });
        }
        if self.external.is_some() {
            return Ok(None);
        }
        Ok(self.release(self.watermark()))
    }

    /// Releases every row still held, in event-time order.
    pub fn finish(&mut self) -> Option<Released> {
        self.release(None)
    }

    fn release(&mut self, limit: Option<i64>) -> Option<Released> {
        let limit = limit.unwrap_or(i64::MAX);
        if self.pending.is_empty() {
            return None;
        }
        // In-order input: one pending batch, sorted, all released.
        if self.pending.len() == 1 {
            let p = &self.pending[0];
            if p.times.windows(2).all(|w| w[0] <= w[1])
                && p.times.last().is_some_and(|t| *t <= limit)
            {
                return self.pending.pop();
            }
        }
        let schema = self.pending[0].batch.schema();
        let batch =
            arrow_select::concat::concat_batches(&schema, self.pending.iter().map(|p| &p.batch))
                .expect("pending batches share a schema");
        let times: Vec<i64> = self
            .pending
            .iter()
            .flat_map(|p| p.times.iter().copied())
            .collect();
        self.pending.clear();
        let mut idx: Vec<u32> = (0..times.len() as u32).collect();
        match self.seq {
            Some(c) => {
                let seqs = batch.column(c).as_primitive::<Int64Type>().values();
                idx.sort_by_key(|&i| (times[i as usize], seqs[i as usize]));
            }
            None => idx.sort_by_key(|&i| times[i as usize]), // stable: ties keep arrival order
        }
        let k = idx.partition_point(|&i| times[i as usize] <= limit);
        let take = |ix: &[u32]| Released {
            batch: arrow_select::take::take_record_batch(&batch, &UInt32Array::from(ix.to_vec()))
                .expect("indices within the batch"),
            times: ix.iter().map(|&i| times[i as usize]).collect(),
        };
        if k < idx.len() {
            self.pending.push(take(&idx[k..]));
        }
        (k > 0).then(|| take(&idx[..k]))
    }
}
