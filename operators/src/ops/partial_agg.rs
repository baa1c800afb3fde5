//! Partial aggregation before the exchange (EMIT FINAL, with or without a
//! TUMBLING window).
//!
//! Contract:
//! - [`PartialAgg::push`] folds rows — cut to the columns the query reads,
//!   [`crate::Plan::read`] — into this core's own groups (per window when
//!   windowed); nothing is emitted per row;
//! - [`PartialAgg::close_through`] takes out every window ending at or
//!   before the watermark `w`, its groups split by the core owning their keys
//!   ([`Route`]: a key always to the same core); [`PartialAgg::pieces`] then
//!   turns one core's share into partial-state batches (a sender can send
//!   each core its pieces, then its watermark, one core at a time), and
//!   [`PartialAgg::recycle`] takes the windows back. The closing core's own
//!   share can go whole to its merging aggregate instead
//!   ([`super::Pipeline::adopt`], after the other cores' pieces are built),
//!   which sends cleared group sets back with the [`Closed`]. A row arriving later
//!   for a closed window is late (counted, dropped) — the owner fires a
//!   window only after every sender's watermark passed it, so it always has
//!   every sender's partials by then;
//! - [`PartialAgg::close_all`] does so for every group (end of input, or when
//!   more than [`PartialAgg::MAX_GROUPS`] groups are held, so memory stays
//!   bounded: partials of one group may be sent several times and merge);
//!   [`PartialAgg::flush_through`] and [`PartialAgg::flush_all`] build every
//!   core's pieces at once;
//! - output batches: `[window_start]` (windowed only), the group keys (one
//!   column of their packed words where the table packs them,
//!   [`crate::state::GroupTable::key_words`], else the key columns), each
//!   group's row count, then each aggregate's partial columns (see
//!   [`crate::state::Acc::partial`]);
//!   the owning core merges them with `GroupBy`/`Tumbling` built by
//!   [`super::PipelineOptions::partial_input`].

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{Field, Schema};

use super::eval_all;
use super::group_by::{eval_args, Groups};
use super::windows::{window_starts, Starts, Windows};
use crate::error::Result;
use crate::gather::Pool;
use crate::plan::{AggPlan, Emit, Plan, Stage};
use crate::state::KeepMask;

/// Where partial states go: core `owner(hash)` of `cores`, for a key's
/// routing hash ([`crate::state::hash_keys`]). Every sender must route
/// alike, so all partials of a key meet on one core, and on every call
/// alike: a window's table remembers its keys' owners for the windows it
/// serves after.
pub struct Route<'a> {
    pub cores: usize,
    pub owner: &'a dyn Fn(u64) -> usize,
}

impl Route<'static> {
    /// Everything to core 0.
    pub const ONE: Route<'static> = Route {
        cores: 1,
        owner: &|_| 0,
    };
}

/// Windows taken out of a [`PartialAgg`] (closed), each with its groups'
/// ids listed per owning core, until their pieces are built and they are
/// recycled. The core that closed them may instead hand a window's groups
/// whole to its own merging aggregate ([`super::Pipeline::adopt`], after every
/// other core's pieces are built), which then sends cleared group sets back
/// for reuse.
pub struct Closed {
    windows: Vec<(i64, Option<Groups>, Vec<Vec<u32>>)>,
    spares: Vec<Groups>,
    /// Whether the windows' groups keep their keys when recycled (not when
    /// every group was closed: at the end of input, or because too many
    /// were held, when kept keys would fill the tables again at once).
    keep_keys: bool,
}

impl Closed {
    fn new(keep_keys: bool) -> Self {
        Closed {
            windows: Vec::new(),
            spares: Vec::new(),
            keep_keys,
        }
    }

    /// Takes out every window's groups whole, with the ids of those core
    /// `core` owns: no pieces can be built from them afterwards.
    pub(crate) fn take_own(&mut self, core: usize) -> Vec<(i64, Groups, Vec<u32>)> {
        self.windows
            .iter_mut()
            .filter_map(|(start, groups, owned)| {
                let ids = owned.get_mut(core).map(std::mem::take).unwrap_or_default();
                groups.take().map(|g| (*start, g, ids))
            })
            .collect()
    }

    /// Cleared group sets for the [`PartialAgg`] to reuse.
    pub(crate) fn give_spares(&mut self, spares: Vec<Groups>) {
        self.spares.extend(spares);
    }
}

/// Groups key for an unwindowed aggregate's single "window".
const ALL: i64 = i64::MIN;

pub struct PartialAgg {
    plan: AggPlan,
    windows: Windows,
    /// Windows ending at or before this have been flushed.
    flushed: Option<i64>,
    late: u64,
}

impl PartialAgg {
    /// Above this many groups held, everything is flushed.
    pub const MAX_GROUPS: usize = 1 << 16;

    /// The aggregate to pre-aggregate, when the plan's emit mode allows it.
    pub fn for_plan(plan: &Plan) -> Option<Self> {
        match &plan.stage {
            Stage::Aggregate(a) if a.emit == Emit::Final => Some(PartialAgg {
                plan: a.clone(),
                windows: Windows::new(a),
                flushed: None,
                late: 0,
            }),
            _ => None,
        }
    }

    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let Some(win) = &self.plan.window else {
            let keys = eval_all(&self.plan.keys, batch)?;
            let args = eval_args(&self.plan.aggs, batch)?;
            self.windows.entry(ALL).update(&keys, &args, n);
            return Ok(());
        };
        let (times, nulls) = win.time.eval(batch)?;
        let size = win.size_ms;
        let (mut starts, least) = window_starts(&times, size);
        let open = |s: i64| self.flushed.is_none_or(|w| s.saturating_add(size) > w);
        let no_nulls = nulls.as_ref().is_none_or(|b| b.null_count() == 0);
        // Every row kept (no NULL time, every window still open: the common
        // case) without a verdict per row. A window is open when its start
        // is late enough, so the least start decides for all.
        let batch = if no_nulls && least.is_none_or(|(s, _)| open(s)) {
            batch.clone()
        } else {
            let mut keep = KeepMask::default();
            let mut kept = Vec::with_capacity(n);
            for (i, s) in starts.each().into_iter().enumerate() {
                let ok = nulls.as_ref().is_none_or(|b| b.is_valid(i)) && open(s);
                keep.push(i, ok);
                if ok {
                    kept.push(s);
                }
            }
            self.late += keep.dropped() as u64;
            starts = Starts::Each(kept);
            keep.filter(batch.clone())
        };
        if batch.num_rows() > 0 {
            let keys = eval_all(&self.plan.keys, &batch)?;
            let args = eval_args(&self.plan.aggs, &batch)?;
            self.windows.fold(&starts, &keys, &args);
        }
        Ok(())
    }

    /// Groups held (over all windows).
    pub fn groups(&self) -> usize {
        self.windows.groups()
    }

    pub fn is_full(&self) -> bool {
        self.groups() > Self::MAX_GROUPS
    }

    /// Closes every window that ends at or before `w` (a row arriving later
    /// for one is late), its groups split by owning core; see
    /// [`Self::pieces`].
    pub fn close_through(&mut self, w: i64, route: &Route<'_>) -> Closed {
        let mut closed = Closed::new(true);
        let Some(win) = &self.plan.window else {
            return closed;
        };
        let size = win.size_ms;
        self.flushed = Some(self.flushed.map_or(w, |f| f.max(w)));
        while let Some((start, mut groups)) = self.windows.pop_closed(size, w) {
            // Its partials are read from here on (`Groups::partial`).
            groups.settle();
            let owned = groups.owners(route);
            closed.windows.push((start, Some(groups), owned));
        }
        closed
    }

    /// Closes every group held (end of input, or [`Self::is_full`]).
    pub fn close_all(&mut self, route: &Route<'_>) -> Closed {
        let mut closed = Closed::new(false);
        for (start, mut groups) in self.windows.take_all() {
            if groups.len() > 0 {
                groups.settle();
                let owned = groups.owners(route);
                closed.windows.push((start, Some(groups), owned));
            } else {
                self.windows.recycle_keeping(groups, false);
            }
        }
        closed
    }

    /// The partials of `closed` that core `core` owns, a batch per window,
    /// their columns in vectors from `pool`.
    pub fn pieces(
        &self,
        closed: &Closed,
        core: usize,
        pool: &mut Pool,
    ) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for (start, groups, owned) in &closed.windows {
            let Some(ids) = owned.get(core).filter(|ids| !ids.is_empty()) else {
                continue;
            };
            let groups = groups
                .as_ref()
                .expect("pieces are built before their groups are taken out");
            // Only groups rows reached (a reused table keeps other keys).
            let ids = groups.live(ids.iter().copied());
            if ids.is_empty() {
                continue;
            }
            let partials = groups.partial(&ids, pool)?;
            out.push(self.partial_batch(*start, partials, pool));
        }
        Ok(out)
    }

    /// Takes back the groups of `closed` (and the spares it carries) for
    /// reuse.
    pub fn recycle(&mut self, closed: Closed) {
        self.windows.give_spares(closed.spares);
        for (_, groups, _) in closed.windows {
            if let Some(groups) = groups {
                self.windows.recycle_keeping(groups, closed.keep_keys);
            }
        }
    }

    /// Partials of every window that ends at or before `w`, as
    /// `(owning core, batch)` pieces, their columns in vectors from `pool`.
    pub fn flush_through(
        &mut self,
        w: i64,
        route: &Route<'_>,
        pool: &mut Pool,
    ) -> Result<Vec<(usize, RecordBatch)>> {
        let closed = self.close_through(w, route);
        self.all_pieces(closed, route, pool)
    }

    /// Partials of every group held, as `(owning core, batch)` pieces.
    pub fn flush_all(
        &mut self,
        route: &Route<'_>,
        pool: &mut Pool,
    ) -> Result<Vec<(usize, RecordBatch)>> {
        let closed = self.close_all(route);
        self.all_pieces(closed, route, pool)
    }

    fn all_pieces(
        &mut self,
        closed: Closed,
        route: &Route<'_>,
        pool: &mut Pool,
    ) -> Result<Vec<(usize, RecordBatch)>> {
        let mut out = Vec::new();
        for core in 0..route.cores.max(1) {
            let pieces = self.pieces(&closed, core, pool)?;
            out.extend(pieces.into_iter().map(|b| (core, b)));
        }
        self.recycle(closed);
        Ok(out)
    }

    /// One window's partial columns as a batch (the window start first when
    /// windowed).
    fn partial_batch(&self, start: i64, partials: Vec<ArrayRef>, pool: &mut Pool) -> RecordBatch {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(partials.len() + 1);
        if self.plan.window.is_some() {
            let n = partials[0].len();
            let mut starts = Pool::take(&mut pool.i64s, n);
            starts.resize(n, start);
            cols.push(Arc::new(TimestampMillisecondArray::new(
                starts.into(),
                None,
            )));
        }
        cols.extend(partials);
        let fields: Vec<Field> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("p{i}"), c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("partial schema")
    }

    /// Rows dropped because their window had already been flushed.
    pub fn late_rows(&self) -> u64 {
        self.late
    }
}

#[cfg(test)]
mod tests;
