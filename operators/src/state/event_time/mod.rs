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
//! own (batches of consecutive input rows, as the generator's blocks, or
//! of a file's consecutive lines numbered by byte position), the rows are
//! taken batch by batch in sequence order and sorted on time alone: ties
//! then need no sequences at all. Such a batch may carry just its range
//! instead of a number per row ([`rows_in_range`]): its rows, and any taken
//! or filtered out of it, are numbered by the range's first plus their
//! place in the batch where a release needs numbers (ascending within the
//! range, which holds at least as many numbers as the batch has rows and
//! which no other batch's range overlaps when each input row is read once).
//!
//! Held rows are kept as runs, one per accepted batch, in arrival order:
//! a batch that came in order stays a sorted run whose released rows are a
//! prefix; any other is not sorted when it arrives, only its rows' least and
//! greatest times are noted. A release takes, from each run, the rows at or
//! below the limit (all of them, none, or those a pass over the run picks),
//! and sorts what it took once — a row is sorted once and copied once (a
//! plain time column not even once: the sorted times are that column). The
//! sort notes each taken row's place (ties ordered by sequence where they
//! need it) and the rows are copied to their places in taken order
//! ([`crate::gather::scatter_columns_but`]): each run read in order, not at
//! scattered places. It is zero-copy when one in-order run holds every
//! released row.
//!
//! Layout: this module holds the buffer and its admission; [`run`] the
//! held runs and what a release takes from them; [`release`] the release
//! itself; [`sort`] the release's sort of the taken rows; [`kernels`] the passes over a column of times
//! or sequences (vectorised where the CPU allows).

mod kernels;
mod release;
mod run;
mod sort;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, NullArray, RecordBatch};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef};

use super::KeepMask;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::types::SqlType;
pub use kernels::time_range;
use kernels::{ascends, listed_range};
use run::{Held, Run, Taken};

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

    /// The latest time of `batch` that is not NULL (`None` when there is
    /// none): one vectorised pass over the column when nothing is NULL.
    pub fn latest(&self, batch: &RecordBatch) -> Result<Option<i64>> {
        let (times, nulls) = self.eval(batch)?;
        Ok(match nulls.filter(|n| n.null_count() > 0) {
            None => time_range(&times).map(|(_, hi)| hi),
            Some(n) => times
                .iter()
                .zip(n.iter())
                .filter_map(|(&t, valid)| valid.then_some(t))
                .max(),
        })
    }
}

/// Field metadata keys of a [`rows_in_range`] column: the numbers of the
/// first and last input row of the batch.
const FIRST_ROW: &str = "percore.first_row";
const LAST_ROW: &str = "percore.last_row";

/// The hidden sequence column (field and values) of a batch of `rows`
/// input rows numbered ascending from `first` to `last` (consecutive rows:
/// `last = first + rows − 1`; a file's lines: their byte positions): a
/// column of no values (Arrow's `Null` type) whose field notes the range,
/// so nothing is written, copied or checked per row. Taking or filtering
/// rows of the batch keeps its schema, so the range stays with them. The
/// range must hold at least `rows` numbers.
pub fn rows_in_range(first: i64, last: i64, rows: usize) -> (FieldRef, ArrayRef) {
    debug_assert!(
        rows == 0
            || last
                .checked_sub(first)
                .is_some_and(|d| d >= rows as i64 - 1),
        "{rows} rows in the range {first}..={last}"
    );
    let mut meta = HashMap::with_capacity(2);
    meta.insert(FIRST_ROW.to_owned(), first.to_string());
    meta.insert(LAST_ROW.to_owned(), last.to_string());
    let field = Field::new("__seq", DataType::Null, true).with_metadata(meta);
    (Arc::new(field), Arc::new(NullArray::new(rows)))
}

/// The range a [`rows_in_range`] field notes; `None` for an empty range
/// or a field without one.
fn noted_range(field: &Field) -> Option<(i64, i64)> {
    let at = |k: &str| field.metadata().get(k)?.parse::<i64>().ok();
    let (first, last) = (at(FIRST_ROW)?, at(LAST_ROW)?);
    (first <= last).then_some((first, last))
}

/// A batch of released rows with their event times, in event-time order.
pub struct Released {
    pub batch: RecordBatch,
    pub times: ScalarBuffer<i64>,
}

/// Turns a held batch into the form a release reads, when it is not in it
/// already (`None`: as it is): see [`EventTimeBuffer::preparing`].
pub type Prepare = fn(&RecordBatch) -> Option<RecordBatch>;

pub struct EventTimeBuffer {
    time: TimeColumn,
    /// Applied to a held batch before a release first takes rows of it.
    prepare: Option<Prepare>,
    lateness: i64,
    max_seen: Option<i64>,
    /// Runs in arrival order.
    pending: std::collections::VecDeque<Run>,
    /// Rows the runs hold, all told.
    held: usize,
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
            prepare: None,
            lateness: lateness_ms,
            max_seen: None,
            pending: std::collections::VecDeque::new(),
            held: 0,
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

    /// Holds each batch as it comes and turns it with `prepare` only when a
    /// release is about to take rows of it: batches held in a compact form
    /// (another core's rows, narrowed for the trip) stay compact while they
    /// wait. Their time column (and sequence column) must be readable as
    /// they come: admission reads them; `prepare` must keep every row and
    /// value and give the columns their declared types.
    pub fn preparing(mut self, prepare: Option<Prepare>) -> Self {
        self.prepare = prepare;
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

    /// Rows held now: accepted, not yet released.
    pub fn held_rows(&self) -> usize {
        debug_assert_eq!(
            self.held,
            self.pending.iter().map(Run::held).sum::<usize>(),
            "the count of held rows follows the runs"
        );
        self.held
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
            self.held += run.held();
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
        // Numbered per row, or by a range the batch's rows lie in, ascending
        // (ties within the batch then need no sequence: its order is theirs).
        let noted = self
            .seq
            .filter(|&c| batch.column(c).data_type() == &DataType::Null)
            .map(|c| noted_range(batch.schema_ref().field(c)));
        let seqs: Option<ScalarBuffer<i64>> = self
            .seq
            .filter(|_| noted.is_none())
            .map(|c| batch.column(c).as_primitive::<Int64Type>().values().clone());
        let key = |i: usize| (times[i], seqs.as_ref().map_or(0, |s| s[i]));
        let seq_span = noted.flatten().or_else(|| {
            let s = seqs.as_ref()?;
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
            raw: self.prepare.is_some(),
            times,
            seqs,
            seq_span,
            held,
        }
    }
}
