//! A [`Tumbling`] operator's partial states (EMIT FINAL on several cores):
//! pieces from other cores merged into their windows, or held until this
//! core has closed the window; this core's own closed windows adopted whole.
//!
//! Contract: as the parent module states under "Merging partials".

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::RecordBatch;

use super::super::Closed;
use super::Tumbling;
use crate::error::Result;
use crate::gather::Pool;
use crate::state::{time_range, KeepMask};

impl Tumbling {
    /// Merges the pending pieces of windows ending at or before `limit`.
    pub(super) fn merge_pending(&mut self, limit: i64) {
        if self.pending.is_empty() {
            return;
        }
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(end, _)| *end <= limit);
        self.pending = wait;
        for (_, b) in ready {
            self.merge_partials(&b);
        }
    }

    pub(super) fn merge_partials(&mut self, batch: &RecordBatch) {
        self.windows
            .merge(partial_starts(batch), &batch.columns()[1..]);
    }

    /// Merges partial states into their windows. A partial for a window the
    /// watermark already closed cannot happen (senders flush a window before
    /// their watermark passes it); were it to, its groups count as late.
    pub(super) fn on_partials(&mut self, batch: RecordBatch) -> Result<()> {
        let starts = partial_starts(&batch);
        // The least and latest window start (the latest stays when any row
        // does: the rows dropped below are the earliest windows').
        let Some((first, last)) = time_range(starts) else {
            return Ok(());
        };
        let size = self.window.size_ms;
        let w = self.watermark();
        let batch = if w.is_none_or(|w| first.saturating_add(size) > w) {
            batch
        } else {
            let mut keep = KeepMask::default();
            for (i, s) in starts.iter().enumerate() {
                keep.push(i, w.is_none_or(|w| s.saturating_add(size) > w));
            }
            self.late += keep.dropped() as u64;
            keep.filter(batch)
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // A window this core has not closed yet waits for its own groups.
        if self.adopting {
            let end = last.saturating_add(size);
            if end > self.own_through.unwrap_or(i64::MIN) {
                self.pending.push((end, batch));
                return Ok(());
            }
        }
        self.merge_partials(&batch);
        Ok(())
    }

    /// [`super::super::Operator::adopt_partials`]: each closed window's groups become this
    /// window's (or, were the window already open, their owned part merges
    /// into it as a piece would); pending pieces of windows through `w`
    /// merge; cleared group sets go back with `closed`.
    pub(super) fn adopt(&mut self, w: i64, closed: &mut Closed, core: usize) -> Result<()> {
        for (start, groups, ids) in closed.take_own(core) {
            let adopted = groups.len();
            match self.windows.adopt(start, groups) {
                None => {
                    self.owned.insert(start, (ids, adopted));
                }
                Some(mut groups) => {
                    let ids = groups.live(ids);
                    if !ids.is_empty() {
                        groups.settle();
                        let cols = groups.partial(&ids, &mut Pool::default())?;
                        self.windows.entry(start).merge(&cols, ids.len());
                    }
                    self.windows.recycle(groups);
                }
            }
        }
        self.own_through = Some(self.own_through.map_or(w, |o| o.max(w)));
        self.merge_pending(w);
        closed.give_spares(self.windows.take_spares());
        Ok(())
    }
}

/// The window start of each row of a partial batch (its first column).
fn partial_starts(batch: &RecordBatch) -> &[i64] {
    batch
        .column(0)
        .as_primitive::<TimestampMillisecondType>()
        .values()
}
