//! GROUP BY over event-time TUMBLING windows `[k·size, (k+1)·size)`, aligned
//! to the Unix epoch. Output columns: `window_start, window_end`, the keys,
//! the aggregates.
//!
//! Contract:
//! - `EMIT FINAL` (the default): one row per group per window, emitted when the
//!   watermark reaches the window's end, windows in time order and groups in
//!   order of first appearance (see below); every window still open is
//!   emitted at the end of a bounded input. A row whose window had already
//!   closed by the watermark before it arrived is late: counted and dropped,
//!   never folded into another window.
//! - `EMIT CHANGES`: rows released in event-time order by the watermark; one
//!   output row per input row with its own group's values in its own window.
//!   A row older than the watermark is late.
//!
//! - Merging partials (EMIT FINAL on several cores, see [`super::PartialAgg`]):
//!   pieces merge into their windows; with [`Tumbling::adopting_own_partials`]
//!   this core's own closed windows come whole ([`Operator::adopt_partials`])
//!   and become the windows' groups — the window then emits only the groups
//!   this core owns — and a piece for a window this core has not closed yet
//!   waits until it has (or until the watermark fires the window).
//!
//! Each window owns its own group table; when the window closes, the table is
//! reused by a later window. It keeps its keys, values reset (see
//! [`super::windows`]), so under EMIT FINAL "order of first appearance" is
//! the order in which that table first met each key, over the windows it
//! served.
//!
//! Layout: this module holds the operator, its rows and its windows'
//! firing; [`partials`] the partial states merged or adopted from cores.

use std::collections::BTreeMap;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;

use super::group_by::eval_args;
use super::windows::{window_starts, StartOf, Starts, Windows};
use super::{eval_all, Closed, Operator};
use crate::error::Result;
use crate::plan::{AggPlan, Emit, Tumble};
use crate::state::{EventTimeBuffer, KeepMask, Prepare};

mod bounds;
mod partials;
#[cfg(test)]
mod tests;

pub struct Tumbling {
    plan: AggPlan,
    window: Tumble,
    lateness: i64,
    windows: Windows,
    max_seen: Option<i64>,
    late: u64,
    buffer: Option<EventTimeBuffer>,
    schema: SchemaRef,
    /// `Some` when the watermark comes from [`Operator::on_watermark`].
    external: Option<Option<i64>>,
    /// Input rows are partial states from [`super::PartialAgg`] (EMIT FINAL).
    partial_input: bool,
    /// This core's own partials come whole ([`Operator::adopt_partials`]):
    /// pieces for a window this core has not closed yet wait in `pending`,
    /// each with the end of its latest window (looked up once: a piece may
    /// wait through many watermarks).
    adopting: bool,
    /// This core's partial aggregation closed every window ending at or
    /// before this.
    own_through: Option<i64>,
    pending: Vec<(i64, RecordBatch)>,
    /// Adopted windows: the ids of the groups this core owns, and how many
    /// groups the window had when adopted (later ones came in pieces sent
    /// here, so this core owns them too).
    owned: BTreeMap<i64, (Vec<u32>, usize)>,
    /// The last window's start and end columns, shared by its batches.
    bounds: bounds::Bounds,
}

impl Tumbling {
    pub fn new(plan: &AggPlan, lateness_ms: i64, schema: SchemaRef) -> Self {
        let window = plan.window.clone().expect("tumbling plan has a window");
        let buffer = (plan.emit == Emit::Changes)
            .then(|| EventTimeBuffer::new(window.time.clone(), lateness_ms));
        Tumbling {
            plan: plan.clone(),
            window,
            lateness: lateness_ms,
            windows: Windows::new(plan),
            max_seen: None,
            late: 0,
            buffer,
            schema,
            external: None,
            partial_input: false,
            adopting: false,
            own_through: None,
            pending: Vec::new(),
            owned: BTreeMap::new(),
            bounds: bounds::Bounds::default(),
        }
    }

    /// Driven by [`Operator::on_watermark`]; time ties broken by column `seq`.
    pub fn externally_driven(mut self, seq: Option<usize>, prepare: Option<Prepare>) -> Self {
        self.buffer = self
            .buffer
            .map(|b| b.externally_driven(seq).preparing(prepare));
        self.external = Some(None);
        self
    }

    /// Takes partial states (`window_start, keys, partials`) instead of rows.
    pub fn merging_partials(mut self) -> Self {
        assert_eq!(
            self.plan.emit,
            Emit::Final,
            "only EMIT FINAL merges partials"
        );
        self.partial_input = true;
        self
    }

    /// Adopts this core's own partials whole (see
    /// [`Operator::adopt_partials`]); only after [`Self::merging_partials`].
    pub fn adopting_own_partials(mut self) -> Self {
        assert!(self.partial_input, "adopting needs partial input");
        self.adopting = true;
        self
    }

    fn watermark(&self) -> Option<i64> {
        if let Some(ext) = self.external {
            return ext;
        }
        self.max_seen.map(|m| m.saturating_sub(self.lateness))
    }

    fn window_columns(&mut self, start: i64, n: usize) -> [ArrayRef; 2] {
        let end = start + self.window.size_ms;
        self.bounds.columns(start, end, n)
    }

    /// Emits and drops every window whose end is at or below `limit`.
    fn fire(&mut self, limit: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.merge_pending(limit);
        while let Some((start, mut groups)) = self.windows.pop_closed(self.window.size_ms, limit) {
            // An adopted window emits the groups this core owns; any window
            // only groups rows reached (a reused table keeps other keys).
            let owned = self.owned.remove(&start);
            let final_ids = (self.plan.emit == Emit::Final).then(|| match owned {
                Some((ids, adopted)) => {
                    groups.live(ids.into_iter().chain(adopted as u32..groups.len() as u32))
                }
                None => groups.live(0..groups.len() as u32),
            });
            if let Some(ids) = final_ids.filter(|ids| !ids.is_empty()) {
                let mut cols = self.window_columns(start, ids.len()).to_vec();
                cols.extend(groups.emit(&ids)?);
                out.push(RecordBatch::try_new(self.schema.clone(), cols).expect("window schema"));
            }
            self.windows.recycle(groups);
        }
        Ok(())
    }

    fn on_batch_final(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let (times, nulls) = self.window.time.eval(&batch)?;
        let size = self.window.size_ms;
        let (starts, range) = window_starts(&times, size);
        // The watermark only rises through a batch: a row whose window ends
        // after the watermark the whole batch leaves was open when it came,
        // whatever came before it. So when every row's window does (the
        // window of the least start does) and no time is NULL, every row
        // stays (the common case, no verdict per row); otherwise row by row.
        let max_seen = self.max_seen.max(range.map(|(_, latest)| latest));
        let last = match self.external {
            Some(w) => w,
            None => max_seen.map(|m| m.saturating_sub(self.lateness)),
        };
        let no_nulls = nulls.as_ref().is_none_or(|n| n.null_count() == 0);
        let (batch, starts) = if no_nulls
            && last.is_none_or(|w| range.is_none_or(|(s, _)| s.saturating_add(size) > w))
        {
            self.max_seen = max_seen;
            (batch, starts)
        } else {
            let (batch, kept) = self.keep_open(batch, &times, nulls.as_ref(), &starts);
            (batch, Starts::Each(kept))
        };
        if batch.num_rows() > 0 {
            let keys = eval_all(&self.plan.keys, &batch)?;
            let args = eval_args(&self.plan.aggs, &batch)?;
            self.windows.fold(&starts, &keys, &args);
        }
        if let (None, Some(w)) = (self.external, self.watermark()) {
            self.fire(w, out)?;
        }
        Ok(())
    }

    /// The rows of `batch` (their times and window starts given) whose time
    /// is not NULL and whose window the watermark had not closed when they
    /// came, row by row, and their starts; the others counted late.
    fn keep_open(
        &mut self,
        batch: RecordBatch,
        times: &[i64],
        nulls: Option<&arrow_buffer::NullBuffer>,
        starts: &Starts,
    ) -> (RecordBatch, Vec<i64>) {
        let mut keep = KeepMask::default();
        let mut kept = Vec::with_capacity(times.len());
        for (i, (&t, start)) in times.iter().zip(starts.each()).enumerate() {
            let null = nulls.is_some_and(|n| n.is_null(i));
            let closed = self
                .watermark()
                .is_some_and(|w| start.saturating_add(self.window.size_ms) <= w);
            if null || closed {
                keep.push(i, false);
                self.late += 1;
                continue;
            }
            self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
            keep.push(i, true);
            kept.push(start);
        }
        (keep.filter(batch), kept)
    }

    /// Processes released rows (in event-time order), one window run at a time.
    fn changes(
        &mut self,
        batch: RecordBatch,
        times: &[i64],
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let mut lo = 0;
        let mut start_of = StartOf::new(self.window.size_ms);
        while lo < times.len() {
            let start = start_of.start(times[lo]);
            let end = start + self.window.size_ms;
            let hi = lo + times[lo..].partition_point(|&t| t < end);
            let part = batch.slice(lo, hi - lo);
            let keys = eval_all(&self.plan.keys, &part)?;
            let args = eval_args(&self.plan.aggs, &part)?;
            let vals = self.windows.entry(start).changes(keys, &args, hi - lo)?;
            let mut cols = self.window_columns(start, hi - lo).to_vec();
            cols.extend(vals);
            out.push(RecordBatch::try_new(self.schema.clone(), cols).expect("window schema"));
            lo = hi;
        }
        Ok(())
    }

    /// EMIT CHANGES: a batch (its rows `rows`, when listed) into the
    /// event-time buffer; what that releases is processed in time order.
    fn accept(
        &mut self,
        batch: RecordBatch,
        rows: Option<Vec<u32>>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let buffer = self.buffer.as_mut().expect("changes mode buffers");
        let released = match rows {
            None => buffer.push(batch)?,
            Some(rows) => buffer.push_rows(batch, rows)?,
        };
        let wm = buffer.watermark();
        if let Some(r) = released {
            self.changes(r.batch, &r.times, out)?;
        }
        if let Some(w) = wm {
            self.fire(w, out)?;
        }
        Ok(())
    }
}

impl Operator for Tumbling {
    fn on_batch(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        match self.plan.emit {
            Emit::Final if self.partial_input => self.on_partials(batch),
            Emit::Final => self.on_batch_final(batch, out),
            Emit::Changes => self.accept(batch, None, out),
        }
    }

    fn on_rows(
        &mut self,
        batch: RecordBatch,
        rows: Vec<u32>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        match self.plan.emit {
            Emit::Changes => self.accept(batch, Some(rows), out),
            Emit::Final => super::rows_as_batch(self, batch, rows, out),
        }
    }

    fn holds_rows(&self) -> bool {
        self.buffer.is_some()
    }

    fn adopt_partials(&mut self, w: i64, closed: &mut Closed, core: usize) -> Result<bool> {
        if !self.adopting {
            return Ok(false);
        }
        self.adopt(w, closed, core)?;
        Ok(true)
    }

    fn on_watermark(&mut self, w: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        if let Some(b) = self.buffer.as_mut() {
            if let Some(r) = b.advance(w) {
                self.changes(r.batch, &r.times, out)?;
            }
        } else {
            let w = self.external.flatten().map_or(w, |c| c.max(w));
            self.external = Some(Some(w));
        }
        self.fire(w, out)
    }

    fn on_end(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        if let Some(r) = self.buffer.as_mut().and_then(|b| b.finish()) {
            self.changes(r.batch, &r.times, out)?;
        }
        self.fire(i64::MAX, out)
    }

    fn late_rows(&self) -> u64 {
        self.late + self.buffer.as_ref().map_or(0, |b| b.late_rows())
    }

    fn held_rows(&self) -> usize {
        self.buffer.as_ref().map_or(0, |b| b.held_rows())
    }
}
