//! Partial aggregation before the exchange (EMIT FINAL, with or without a
//! TUMBLING window).
//!
//! Contract:
//! - [`PartialAgg::push`] folds rows — cut to the columns the query reads,
//!   [`crate::Plan::read`] — into this core's own groups (per window when
//!   windowed); nothing is emitted per row;
//! - [`PartialAgg::flush_through`] turns every window ending at or before the
//!   watermark `w` into partial-state batches and forgets it; a row arriving
//!   later for such a window is late (counted, dropped) — the owner fires a
//!   window only after every sender's watermark passed it, so it always has
//!   every sender's partials by then;
//! - [`PartialAgg::flush_all`] does so for every group (end of input, or when
//!   more than [`PartialAgg::MAX_GROUPS`] groups are held, so memory stays
//!   bounded: partials of one group may be sent several times and merge);
//! - output batches: `[window_start]` (windowed only), the group keys, then
//!   each aggregate's partial columns (see [`crate::state::Acc::partial`]);
//!   the owning core merges them with `GroupBy`/`Tumbling` built by
//!   [`super::PipelineOptions::partial_input`].

use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{Field, Schema};

use super::eval_all;
use super::group_by::{eval_args, Groups};
use super::windows::{StartOf, Windows};
use crate::error::Result;
use crate::plan::{AggPlan, Emit, Plan, Stage};
use crate::state::KeepMask;

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

    /// Where the group keys sit in the output batches.
    pub fn key_range(&self) -> Range<usize> {
        let first = self.plan.window.is_some() as usize;
        first..first + self.plan.keys.len()
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
        let mut starts = Vec::with_capacity(n);
        let mut keep = KeepMask::default();
        let mut start_of = StartOf::new(size);
        for (i, &t) in times.iter().enumerate() {
            let start = start_of.start(t);
            let null = nulls.as_ref().is_some_and(|b| b.is_null(i));
            let closed = self
                .flushed
                .is_some_and(|w| start.saturating_add(size) <= w);
            keep.push(i, !(null || closed));
            if !(null || closed) {
                starts.push(start);
            }
        }
        self.late += keep.dropped() as u64;
        let batch = keep.filter(batch.clone());
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

    /// Partials of every window that ends at or before `w`.
    pub fn flush_through(&mut self, w: i64) -> Result<Vec<RecordBatch>> {
        let Some(win) = &self.plan.window else {
            return Ok(Vec::new());
        };
        let size = win.size_ms;
        self.flushed = Some(self.flushed.map_or(w, |f| f.max(w)));
        let mut out = Vec::new();
        while let Some((start, groups)) = self.windows.pop_closed(size, w) {
            out.push(self.partial_batch(start, &groups)?);
            self.windows.recycle(groups);
        }
        Ok(out)
    }

    /// Partials of every group held.
    pub fn flush_all(&mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for (start, groups) in self.windows.take_all() {
            if groups.len() > 0 {
                out.push(self.partial_batch(start, &groups)?);
            }
            self.windows.recycle(groups);
        }
        Ok(out)
    }

    fn partial_batch(&self, start: i64, groups: &Groups) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = Vec::new();
        if self.plan.window.is_some() {
            cols.push(Arc::new(TimestampMillisecondArray::from_value(
                start,
                groups.len(),
            )));
        }
        cols.extend(groups.partial_all()?);
        let fields: Vec<Field> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("p{i}"), c.data_type().clone(), true))
            .collect();
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("partial schema"))
    }

    /// Rows dropped because their window had already been flushed.
    pub fn late_rows(&self) -> u64 {
        self.late
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::csv::CsvReader;
    use crate::codec::OnError;
    use crate::ops::testing::rows_text;
    use crate::ops::{Pipeline, PipelineOptions};

    const DDL: &str = "CREATE STREAM t (k VARCHAR, ts BIGINT, v DECIMAL(10,2), d DOUBLE) \
                       WITH (lateness = '5ms', event_time = 'ts');";

    fn rows(batches: &[RecordBatch]) -> Vec<String> {
        let mut out = rows_text(batches);
        out.sort();
        out
    }

    /// Splits the input over `parts` pre-aggregating senders, flushing at a
    /// watermark and at the end, and merges everything in one pipeline.
    fn split_and_merge(sql: &str, csv: &str, parts: usize) -> (Vec<String>, Vec<String>) {
        let plan = crate::sql::compile(sql).unwrap();
        let read = || {
            let mut r = CsvReader::new(
                "t.csv",
                csv.as_bytes(),
                &plan.source.columns,
                1,
                OnError::Fail,
            )
            .unwrap();
            std::iter::from_fn(move || r.next_batch().unwrap()).collect::<Vec<_>>()
        };
        let mut direct = Pipeline::new(&plan);
        let mut want = Vec::new();
        for b in read() {
            want.extend(direct.push(b).unwrap());
        }
        want.extend(direct.finish().unwrap());

        let mut senders: Vec<PartialAgg> = (0..parts)
            .map(|_| PartialAgg::for_plan(&plan).unwrap())
            .collect();
        let mut merge = Pipeline::with_options(
            &plan,
            PipelineOptions {
                external_watermark: true,
                partial_input: true,
                ..PipelineOptions::default()
            },
        );
        let mut got = Vec::new();
        for (i, b) in read().into_iter().enumerate() {
            senders[i % parts].push(&plan.read(&b)).unwrap();
        }
        // Everything before the watermark 10 first, then the rest.
        for s in &mut senders {
            for p in s.flush_through(10).unwrap() {
                got.extend(merge.push(p).unwrap());
            }
        }
        got.extend(merge.on_watermark(10).unwrap());
        for s in &mut senders {
            for p in s.flush_all().unwrap() {
                got.extend(merge.push(p).unwrap());
            }
        }
        got.extend(merge.finish().unwrap());
        (rows(&got), rows(&want))
    }

    const CSV: &str = "k,ts,v,d\na,1,1.50,0.5\nb,2,,\na,3,-2.25,1.5\nc,4,7.00,\na,12,3.10,2\nb,13,0.01,4\nc,25,,\n";

    #[test]
    fn merged_partials_equal_one_aggregate() {
        let aggs = "COUNT(*) AS n, COUNT(v) AS nv, SUM(v) AS s, AVG(v) AS a, MIN(v) AS lo, \
                    MAX(k) AS hi, SUM(d) AS sd, MIN(d) AS md";
        for parts in 1..4 {
            let (got, want) = split_and_merge(
                &format!("{DDL} SELECT k, {aggs} FROM t GROUP BY k EMIT FINAL"),
                CSV,
                parts,
            );
            assert_eq!(got, want);
            assert_eq!(got.len(), 3);
            let (got, want) = split_and_merge(
                &format!(
                    "{DDL} SELECT k, {aggs} FROM t GROUP BY k \
                     WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
                ),
                CSV,
                parts,
            );
            assert_eq!(got, want);
            assert_eq!(got.len(), 6);
        }
    }

    #[test]
    fn a_row_for_a_flushed_window_is_late() {
        let plan = crate::sql::compile(&format!(
            "{DDL} SELECT k, COUNT(*) AS n FROM t GROUP BY k \
             WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
        ))
        .unwrap();
        let mut r = CsvReader::new(
            "t.csv",
            "k,ts,v,d\na,1,,\na,11,,\na,2,,\n".as_bytes(),
            &plan.source.columns,
            1,
            OnError::Fail,
        )
        .unwrap();
        let mut p = PartialAgg::for_plan(&plan).unwrap();
        p.push(&plan.read(&r.next_batch().unwrap().unwrap()))
            .unwrap();
        p.push(&plan.read(&r.next_batch().unwrap().unwrap()))
            .unwrap();
        let flushed = p.flush_through(10).unwrap();
        assert_eq!(rows(&flushed), vec!["1970-01-01T00:00:00.000Z|a|1"]);
        p.push(&plan.read(&r.next_batch().unwrap().unwrap()))
            .unwrap();
        assert_eq!(p.late_rows(), 1);
        assert_eq!(p.groups(), 1);
    }
}
