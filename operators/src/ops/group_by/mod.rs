//! GROUP BY without a window.
//!
//! Contract:
//! - `EMIT CHANGES` (the default): one output row per input row, carrying that
//!   row's group key and the group's aggregates right after the row. With an
//!   event-time column, rows are taken in event-time order (released by the
//!   watermark, late rows dropped); without one, in arrival order.
//! - `EMIT FINAL`: one row per group when the bounded input ends, groups in
//!   order of first appearance.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_buffer::ScalarBuffer;
use arrow_schema::SchemaRef;

use super::partial_agg::Route;
use super::{eval_all, Operator};
use crate::error::Result;
use crate::expr::Expr;
use crate::gather::Pool;
use crate::plan::{AggCall, AggPlan, Emit};
use crate::state::{Acc, AggFunc, EventTimeBuffer, GroupIds, GroupTable, Prepare};

/// Group table plus one accumulator per aggregate: the state of one set of
/// groups. Each group's row count is kept here, once for all aggregates
/// (see [`crate::state::Acc`]).
pub(crate) struct Groups {
    table: GroupTable,
    accs: Vec<Acc>,
    rows: Vec<i64>,
    ids: Vec<u32>,
    /// The groups [`Self::owners`] has routed so far (ids below `routed`),
    /// listed per core owning their keys.
    owned: Vec<Vec<u32>>,
    routed: usize,
    /// The key columns of every group (ids `0..n`, `n` kept beside them)
    /// as [`Self::emit`] last built them: a table kept across windows
    /// ([`Self::reset_values`]) whose keys are all live again and none
    /// new emits the same columns, shared, not decoded again. Keys are
    /// only appended until [`Self::clear`], which drops them.
    all_keys: Option<(usize, Vec<ArrayRef>)>,
}

impl Groups {
    pub(crate) fn new(plan: &AggPlan) -> Self {
        Groups {
            table: GroupTable::new(plan.keys.iter().map(Expr::ty).collect()),
            accs: plan
                .aggs
                .iter()
                .map(|c| {
                    Acc::new(
                        c.func,
                        c.arg.as_ref().map(Expr::ty),
                        c.output,
                        c.text.clone(),
                    )
                })
                .collect(),
            rows: Vec::new(),
            ids: Vec::new(),
            owned: Vec::new(),
            routed: 0,
            all_keys: None,
        }
    }

    /// Group ids of `n` rows of `keys` into `self.ids`, new groups added;
    /// the number of groups.
    fn intern(&mut self, keys: &[ArrayRef], n: usize) -> usize {
        self.table.intern(keys, n, &mut self.ids);
        self.grown()
    }

    /// The number of groups, each with a row count (new groups' at 0).
    fn grown(&mut self) -> usize {
        let groups = self.table.len();
        self.rows.resize(groups, 0);
        groups
    }

    pub(crate) fn update(&mut self, keys: &[ArrayRef], args: &[Option<ArrayRef>], n: usize) {
        let groups = self.intern(keys, n);
        self.fold(args, groups, None);
    }

    /// [`Self::update`] with rows `rows` of `keys` and `args` (both read
    /// where they lie).
    pub(crate) fn update_rows(
        &mut self,
        keys: &[ArrayRef],
        rows: &[u32],
        args: &[Option<ArrayRef>],
    ) {
        self.table.intern_rows(keys, rows, &mut self.ids);
        let groups = self.table.len();
        self.rows.resize(groups, 0);
        self.fold(args, groups, Some(rows));
    }

    /// Folds the rows whose group ids `self.ids` holds, their arguments
    /// at rows `at` of `args` when given (else the first ones, in order).
    fn fold(&mut self, args: &[Option<ArrayRef>], groups: usize, at: Option<&[u32]>) {
        // Checked once for the row counts and every accumulator.
        let ids = GroupIds::check(&self.ids, groups);
        let rows = self.rows.as_mut_slice();
        assert_eq!(rows.len(), groups, "a row count for every group");
        for &g in ids.ids() {
            // SAFETY: every id is below `groups` (checked ids), the length
            // of `rows` (asserted just above).
            unsafe { *rows.get_unchecked_mut(g as usize) += 1 };
        }
        for (acc, arg) in self.accs.iter_mut().zip(args) {
            match at {
                None => acc.update_ids(ids, arg.as_ref()),
                Some(at) => acc.update_ids_at(ids, arg.as_ref(), at),
            }
        }
    }

    /// Folds rows one by one; the key columns followed by each aggregate's value after each row.
    pub(crate) fn changes(
        &mut self,
        keys: Vec<ArrayRef>,
        args: &[Option<ArrayRef>],
        n: usize,
    ) -> Result<Vec<ArrayRef>> {
        let groups = self.intern(&keys, n);
        // Checked once for the row counts and every accumulator.
        let ids = GroupIds::check(&self.ids, groups);
        let rows = self.rows.as_mut_slice();
        assert_eq!(rows.len(), groups, "a row count for every group");
        let after: ScalarBuffer<i64> = ids
            .ids()
            .iter()
            .map(|&g| {
                // SAFETY: every id is below `groups` (checked ids), the
                // length of `rows` (asserted above).
                let r = unsafe { rows.get_unchecked_mut(g as usize) };
                *r += 1;
                *r
            })
            .collect::<Vec<i64>>()
            .into();
        let mut cols = keys;
        for (acc, arg) in self.accs.iter_mut().zip(args) {
            cols.push(acc.update_and_snapshot_ids(ids, arg.as_ref(), &after)?);
        }
        Ok(cols)
    }

    /// Key columns and aggregate values of every group a row reached, in
    /// id order (order of first appearance in the table: see
    /// [`Self::reset_values`]).
    pub(crate) fn emit_all(&mut self) -> Result<Vec<ArrayRef>> {
        self.emit(&self.live(0..self.table.len() as u32))
    }

    /// Those of `ids` that a row (or a partial of rows) reached: a table
    /// kept through [`Self::reset_values`] holds keys none did.
    pub(crate) fn live(&self, ids: impl IntoIterator<Item = u32>) -> Vec<u32> {
        let rows = &self.rows;
        ids.into_iter()
            .filter(|&g| rows.get(g as usize).is_some_and(|&r| r > 0))
            .collect()
    }

    /// Key columns and aggregate values of groups `ids`, in that order.
    pub(crate) fn emit(&mut self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        let n = self.table.len();
        let every = ids.len() == n && ids.iter().zip(0..).all(|(&g, i)| g == i);
        let mut cols = match &self.all_keys {
            Some((len, cols)) if every && *len == n => cols.clone(),
            _ => {
                let cols = self.table.key_columns(ids);
                if every {
                    self.all_keys = Some((n, cols.clone()));
                }
                cols
            }
        };
        for acc in &mut self.accs {
            cols.push(if every {
                acc.emit_first(n, &self.rows)?
            } else {
                acc.emit(ids, &self.rows)?
            });
        }
        Ok(cols)
    }

    /// Every group's id on the list of the core owning its key
    /// (`route.owner` of its [`crate::state::hash_keys`] hash), one list per
    /// core, each in order of first appearance. A key's owner is found once
    /// and its group listed then (a table that keeps its keys across
    /// windows is asked again each window, and hands out copies of the
    /// same lists), so every call must route alike: one run's route.
    pub(crate) fn owners(&mut self, route: &Route<'_>) -> Vec<Vec<u32>> {
        self.owned.resize_with(route.cores.max(1), Vec::new);
        let known = self.routed;
        if known < self.table.len() {
            let mut hashes = Vec::new();
            self.table.route_hashes_from(known, &mut hashes);
            for (g, &h) in (known..).zip(&hashes) {
                self.owned[(route.owner)(h)].push(g as u32);
            }
            self.routed = self.table.len();
        }
        self.owned.clone()
    }

    /// Keys, row counts and partial states of `groups` (for the core
    /// owning their keys to [`Groups::merge`]): the keys as one column of
    /// their packed words where the table packs them
    /// ([`GroupTable::key_words`]), else as key columns; written into vectors from
    /// `pool` (so their receiver can send them back whole, see
    /// [`crate::gather::reclaim`]).
    pub(crate) fn partial(&self, groups: &[u32], pool: &mut Pool) -> Result<Vec<ArrayRef>> {
        // Packed keys go as their words, looked up as they are by the
        // owner (no column decoded here and packed again there).
        let mut cols = match self.table.key_words(groups) {
            Some(words) => vec![words],
            None => self.table.key_columns_in(groups, pool),
        };
        let mut rows = Pool::take(&mut pool.i64s, groups.len());
        rows.extend(groups.iter().map(|&g| self.rows[g as usize]));
        cols.push(Arc::new(Int64Array::new(rows.into(), None)));
        for acc in &self.accs {
            cols.extend(acc.partial(groups, pool, &self.rows)?);
        }
        Ok(cols)
    }

    /// Folds every aggregate's pending adds into its sums, so that
    /// [`Self::partial`] reads them as they are (not through a copy each
    /// time it is called).
    pub(crate) fn settle(&mut self) {
        for acc in &mut self.accs {
            acc.settle();
        }
    }

    /// Merges partial states: `cols` holds the keys (a column of packed
    /// key words, or the key columns), the row counts, then each
    /// aggregate's partial columns, as [`Groups::partial`] makes them.
    pub(crate) fn merge(&mut self, cols: &[ArrayRef], n: usize) {
        let (k, groups) = match cols.first() {
            Some(c) if GroupTable::is_key_words(c) => {
                self.table.intern_words(c, &mut self.ids);
                (1, self.grown())
            }
            _ => {
                let k = self.table.width();
                (k, self.intern(&cols[..k], n))
            }
        };
        let counts = cols[k].as_primitive::<Int64Type>().values();
        for (&g, &c) in self.ids.iter().zip(counts.iter()) {
            self.rows[g as usize] += c;
        }
        let mut at = k + 1;
        for acc in &mut self.accs {
            let w = acc.partial_width();
            acc.merge(&self.ids, &cols[at..at + w], groups, counts);
            at += w;
        }
    }

    /// Every group's values back to those of a group no row reached, its key
    /// kept: the next window's rows mostly find their keys instead of
    /// inserting them. Groups no row reaches stay out of what is emitted
    /// ([`Self::live`]).
    pub(crate) fn reset_values(&mut self) {
        let n = self.table.len();
        self.rows.clear();
        self.rows.resize(n, 0);
        for acc in &mut self.accs {
            acc.reset(n);
        }
    }

    /// How many groups a row reached.
    pub(crate) fn live_len(&self) -> usize {
        self.rows.iter().filter(|&&r| r > 0).count()
    }

    /// Forgets every group, keeping memory (key arena, accumulator vectors).
    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.all_keys = None;
        self.owned.iter_mut().for_each(Vec::clear);
        self.routed = 0;
        self.rows.clear();
        for acc in &mut self.accs {
            acc.clear();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

/// Each aggregate's argument over `batch`; SUM's and AVG's exact ones as
/// [`Expr::eval_exact_arg`] gives them (they read only the numbers).
pub(crate) fn eval_args(aggs: &[AggCall], batch: &RecordBatch) -> Result<Vec<Option<ArrayRef>>> {
    aggs.iter()
        .map(|c| {
            c.arg
                .as_ref()
                .map(|e| match c.func {
                    AggFunc::Sum | AggFunc::Avg => e.eval_exact_arg(batch),
                    _ => e.eval(batch),
                })
                .transpose()
        })
        .collect()
}

pub struct GroupBy {
    plan: AggPlan,
    groups: Groups,
    buffer: Option<EventTimeBuffer>,
    schema: SchemaRef,
    /// Input rows are partial states from [`super::PartialAgg`] (EMIT FINAL).
    partial_input: bool,
}

impl GroupBy {
    pub fn new(plan: &AggPlan, lateness_ms: i64, schema: SchemaRef) -> Self {
        let buffer = match (plan.emit, &plan.order) {
            (Emit::Changes, Some(t)) => Some(EventTimeBuffer::new(t.clone(), lateness_ms)),
            _ => None,
        };
        GroupBy {
            groups: Groups::new(plan),
            plan: plan.clone(),
            buffer,
            schema,
            partial_input: false,
        }
    }

    /// Takes partial states (`keys, partials`) instead of rows.
    pub fn merging_partials(mut self) -> Self {
        assert_eq!(
            self.plan.emit,
            Emit::Final,
            "only EMIT FINAL merges partials"
        );
        self.partial_input = true;
        self
    }

    /// Driven by [`Operator::on_watermark`]; time ties broken by column `seq`.
    pub fn externally_driven(mut self, seq: Option<usize>, prepare: Option<Prepare>) -> Self {
        self.buffer = self
            .buffer
            .map(|b| b.externally_driven(seq).preparing(prepare));
        self
    }

    fn changes(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let keys = eval_all(&self.plan.keys, &batch)?;
        let args = eval_args(&self.plan.aggs, &batch)?;
        let cols = self.groups.changes(keys, &args, n)?;
        out.push(RecordBatch::try_new(self.schema.clone(), cols).expect("aggregate schema"));
        Ok(())
    }
}

impl Operator for GroupBy {
    fn on_batch(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        match self.plan.emit {
            Emit::Final if self.partial_input => {
                self.groups.merge(batch.columns(), batch.num_rows());
                Ok(())
            }
            Emit::Final => {
                let keys = eval_all(&self.plan.keys, &batch)?;
                let args = eval_args(&self.plan.aggs, &batch)?;
                self.groups.update(&keys, &args, batch.num_rows());
                Ok(())
            }
            Emit::Changes => match &mut self.buffer {
                Some(b) => match b.push(batch)? {
                    Some(r) => self.changes(r.batch, out),
                    None => Ok(()),
                },
                None => self.changes(batch, out),
            },
        }
    }

    fn on_rows(
        &mut self,
        batch: RecordBatch,
        rows: Vec<u32>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        match (&mut self.buffer, self.plan.emit) {
            (Some(b), Emit::Changes) => match b.push_rows(batch, rows)? {
                Some(r) => self.changes(r.batch, out),
                None => Ok(()),
            },
            _ => super::rows_as_batch(self, batch, rows, out),
        }
    }

    fn holds_rows(&self) -> bool {
        self.buffer.is_some() && self.plan.emit == Emit::Changes
    }

    fn on_watermark(&mut self, w: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        match self.buffer.as_mut().and_then(|b| b.advance(w)) {
            Some(r) => self.changes(r.batch, out),
            None => Ok(()),
        }
    }

    fn on_end(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        match self.plan.emit {
            Emit::Final => {
                if self.groups.len() > 0 {
                    let cols = self.groups.emit_all()?;
                    out.push(
                        RecordBatch::try_new(self.schema.clone(), cols).expect("aggregate schema"),
                    );
                }
                Ok(())
            }
            Emit::Changes => match self.buffer.as_mut().and_then(|b| b.finish()) {
                Some(r) => self.changes(r.batch, out),
                None => Ok(()),
            },
        }
    }

    fn late_rows(&self) -> u64 {
        self.buffer.as_ref().map_or(0, |b| b.late_rows())
    }

    fn held_rows(&self) -> usize {
        self.buffer.as_ref().map_or(0, |b| b.held_rows())
    }
}

#[cfg(test)]
mod tests;
