//! Chains a plan's operators: `WHERE → stage → HAVING → SELECT list`.
//!
//! Contract: [`Pipeline::push`] takes one input batch and returns the output
//! batches it produced ([`Pipeline::push_rows`] the same for some rows of a
//! batch); [`Pipeline::finish`] is the end of a bounded input (a
//! final watermark) and returns everything still held. Input batches are the
//! stream as declared (cut here to the columns the query reads) unless the
//! options say otherwise; output batches have the plan's output schema.

use arrow_array::RecordBatch;

use super::{Closed, Filter, GroupBy, Operator, Project, RowsWindow, Tumbling};
use crate::error::Result;
use crate::plan::{Plan, Stage};
use crate::state::Prepare;
use crate::types::arrow_schema;

/// Counters of one pipeline (single writer: the pipeline's owner).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    pub records_in: u64,
    pub records_out: u64,
    pub late_rows: u64,
}

/// How a pipeline is driven when it is one of several (one per core).
#[derive(Clone, Copy, Debug, Default)]
pub struct PipelineOptions {
    /// Leave WHERE out: it already ran before the exchange.
    pub skip_filter: bool,
    /// Watermarks come from [`Pipeline::on_watermark`], not from the rows.
    pub external_watermark: bool,
    /// A column (after the source's own) holding each row's global sequence
    /// number, which breaks event-time ties.
    pub seq_column: Option<usize>,
    /// The stage (an EMIT FINAL aggregate) takes partial states made by
    /// [`super::PartialAgg`] on the sending cores, not rows.
    pub partial_input: bool,
    /// With `partial_input`: this core's own partials are adopted whole
    /// ([`Pipeline::adopt`]) rather than sent as pieces; pieces from other
    /// cores for a window wait until this core closes it.
    pub own_partials: bool,
    /// Input rows are already cut to the columns the query reads
    /// ([`Plan::read`]); otherwise they are batches of the stream as declared.
    pub input_read: bool,
    /// With `external_watermark`: what turns a batch held for the watermark
    /// into the form a release reads, applied when a release first takes
    /// rows of it ([`crate::state::EventTimeBuffer::preparing`]).
    pub prepare: Option<Prepare>,
}

pub struct Pipeline {
    /// The source columns to keep of each input batch ([`Plan::inputs`]),
    /// when input batches hold more.
    read: Option<Vec<usize>>,
    ops: Vec<Box<dyn Operator>>,
    stats: PipelineStats,
}

impl Pipeline {
    /// The whole query on one core, watermarks taken from the rows.
    pub fn new(plan: &Plan) -> Self {
        Self::with_options(plan, PipelineOptions::default())
    }

    pub fn with_options(plan: &Plan, opt: PipelineOptions) -> Self {
        let mut ops: Vec<Box<dyn Operator>> = Vec::new();
        if let (Some(f), false) = (&plan.filter, opt.skip_filter) {
            ops.push(Box::new(Filter::new(f.clone())));
        }
        let stage_schema = arrow_schema(&plan.stage_columns());
        let lateness = plan.source.lateness_ms;
        let ext = opt.external_watermark;
        let seq = opt.seq_column;
        match &plan.stage {
            Stage::Select => {}
            Stage::Rows(r) => {
                let op = RowsWindow::new(r, lateness, stage_schema);
                ops.push(Box::new(if ext {
                    op.externally_driven(seq, opt.prepare)
                } else {
                    op
                }))
            }
            Stage::Aggregate(a) if a.window.is_some() => {
                let op = Tumbling::new(a, lateness, stage_schema);
                let op = if ext {
                    op.externally_driven(seq, opt.prepare)
                } else {
                    op
                };
                ops.push(Box::new(match (opt.partial_input, opt.own_partials) {
                    (true, true) => op.merging_partials().adopting_own_partials(),
                    (true, false) => op.merging_partials(),
                    _ => op,
                }))
            }
            Stage::Aggregate(a) => {
                let op = GroupBy::new(a, lateness, stage_schema);
                let op = if ext {
                    op.externally_driven(seq, opt.prepare)
                } else {
                    op
                };
                ops.push(Box::new(if opt.partial_input {
                    op.merging_partials()
                } else {
                    op
                }))
            }
        }
        if let Some(h) = &plan.having {
            ops.push(Box::new(Filter::new(h.clone())));
        }
        ops.push(Box::new(Project::new(
            plan.projection.clone(),
            arrow_schema(&plan.output),
        )));
        let cut = plan.inputs.len() < plan.source.columns.len();
        Pipeline {
            read: (cut && !opt.input_read && !opt.partial_input).then(|| plan.inputs.clone()),
            ops,
            stats: PipelineStats::default(),
        }
    }

    /// Runs `batches` through operators `from..`.
    fn run_from(&mut self, from: usize, mut batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        for op in &mut self.ops[from..] {
            let mut next = Vec::new();
            for b in batches {
                op.on_batch(b, &mut next)?;
            }
            batches = next;
        }
        Ok(batches)
    }

    /// An input batch cut to the columns the query reads, when it holds more.
    fn read(&self, batch: RecordBatch) -> RecordBatch {
        match &self.read {
            Some(cols) => batch
                .project(cols)
                .expect("input batches are of the stream as declared"),
            None => batch,
        }
    }

    /// Processes one input batch.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        self.stats.records_in += batch.num_rows() as u64;
        let batch = self.read(batch);
        let out = self.run_from(0, vec![batch])?;
        self.count(&out);
        Ok(out)
    }

    /// Processes rows `rows` (ascending) of one input batch, as [`Self::push`]
    /// processes a batch of those rows alone.
    pub fn push_rows(&mut self, batch: RecordBatch, rows: Vec<u32>) -> Result<Vec<RecordBatch>> {
        self.stats.records_in += rows.len() as u64;
        let batch = self.read(batch);
        let mut first = Vec::new();
        self.ops[0].on_rows(batch, rows, &mut first)?;
        let out = self.run_from(1, first)?;
        self.count(&out);
        Ok(out)
    }

    /// Whether [`Self::push_rows`] holds the rows by reference (the first
    /// operator buffers rows by event time) instead of copying them first.
    pub fn holds_rows(&self) -> bool {
        self.ops[0].holds_rows()
    }

    /// The watermark reached `w` (externally driven pipelines).
    /// Hands this core's closed windows (`closed`, through watermark `w`)
    /// to the merging aggregate, if it adopts them (see
    /// [`Operator::adopt_partials`]); `false` when nothing took them.
    pub fn adopt(&mut self, w: i64, closed: &mut Closed, core: usize) -> Result<bool> {
        for op in &mut self.ops {
            if op.adopt_partials(w, closed, core)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub fn on_watermark(&mut self, w: i64) -> Result<Vec<RecordBatch>> {
        let mut all = Vec::new();
        for i in 0..self.ops.len() {
            let mut fired = Vec::new();
            self.ops[i].on_watermark(w, &mut fired)?;
            all.extend(self.run_from(i + 1, fired)?);
        }
        self.count(&all);
        Ok(all)
    }

    /// End of input: flushes every operator in order.
    pub fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        let mut all = Vec::new();
        for i in 0..self.ops.len() {
            let mut flushed = Vec::new();
            self.ops[i].on_end(&mut flushed)?;
            all.extend(self.run_from(i + 1, flushed)?);
        }
        self.count(&all);
        Ok(all)
    }

    fn count(&mut self, out: &[RecordBatch]) {
        self.stats.records_out += out.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        self.stats.late_rows = self.ops.iter().map(|o| o.late_rows()).sum();
    }

    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// Input rows the operators hold now, waiting for the watermark.
    pub fn held_rows(&self) -> usize {
        self.ops.iter().map(|o| o.held_rows()).sum()
    }
}
