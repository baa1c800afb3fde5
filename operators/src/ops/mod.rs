//! The operators, one per file, and the pipeline that chains them.
//!
//! Each operator takes whole batches and emits whole batches; stateful ones
//! also act on end of input (the final watermark). Lifecycle hooks have no-op
//! defaults, as in arroyo's operator trait.

mod filter;
mod group_by;
mod partial_agg;
mod pipeline;
mod project;
mod rows_window;
mod tumbling;
mod windows;

pub use filter::Filter;
pub use group_by::GroupBy;
pub use partial_agg::{Closed, PartialAgg, Route};
pub use pipeline::{Pipeline, PipelineOptions, PipelineStats};
pub use project::Project;
pub use rows_window::RowsWindow;
pub use tumbling::Tumbling;

use arrow_array::{ArrayRef, RecordBatch};

use crate::error::Result;
use crate::expr::Expr;

/// A batch-at-a-time operator. `Send`, so an engine can be moved whole to
/// the thread that owns it (percore builds each core's on that core; the
/// lock-based benchmark baselines share one).
pub trait Operator: Send {
    /// Processes one batch, appending any output batches to `out`.
    fn on_batch(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()>;

    /// Processes rows `rows` (ascending) of `batch` as [`Self::on_batch`]
    /// processes a batch of those rows alone. An operator that holds rows
    /// (see [`Self::holds_rows`]) keeps them by reference and copies them
    /// once, when it releases them; the default copies them now.
    fn on_rows(
        &mut self,
        batch: RecordBatch,
        rows: Vec<u32>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        rows_as_batch(self, batch, rows, out)
    }

    /// Whether [`Self::on_rows`] holds rows by reference (an event-time
    /// buffer) rather than copying them first: rows routed to this operator
    /// then travel as row lists of the batch they came in.
    fn holds_rows(&self) -> bool {
        false
    }

    /// This core's own partial aggregation closed its windows through `w`
    /// ([`PartialAgg::close_through`]): a merging aggregate that takes
    /// partials whole ([`PipelineOptions::own_partials`]) adopts the groups
    /// of `closed` as its own windows' (emitting only those core `core`
    /// owns), so no piece of them is built or merged, and returns `true`;
    /// others return `false` (the pieces are then sent as for other cores).
    /// Adoption emits nothing: the watermark still fires the windows.
    fn adopt_partials(&mut self, _w: i64, _closed: &mut Closed, _core: usize) -> Result<bool> {
        Ok(false)
    }

    /// The watermark (from outside) reached `w`: release or fire what it passes.
    fn on_watermark(&mut self, _w: i64, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// End of a bounded input: flush everything still held.
    fn on_end(&mut self, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// Rows dropped because they arrived after the watermark had passed them.
    fn late_rows(&self) -> u64 {
        0
    }

    /// Input rows held now, waiting for the watermark (an event-time
    /// buffer's): the memory a core spends on rows it cannot release yet.
    fn held_rows(&self) -> usize {
        0
    }
}

/// [`Operator::on_rows`] for an operator that does not hold rows: the rows
/// copied into a batch of their own, then [`Operator::on_batch`].
pub(crate) fn rows_as_batch<O: Operator + ?Sized>(
    op: &mut O,
    batch: RecordBatch,
    rows: Vec<u32>,
    out: &mut Vec<RecordBatch>,
) -> Result<()> {
    op.on_batch(crate::gather::take_batch(&batch, &rows), out)
}

pub(crate) fn eval_all(exprs: &[Expr], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs.iter().map(|e| e.eval(batch)).collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Small helpers for operator unit tests: SQL in, CSV rows in, text rows out.

    use arrow_array::RecordBatch;

    use crate::codec::csv::CsvReader;
    use crate::codec::write::value_text;
    use crate::codec::OnError;
    use crate::ops::Pipeline;
    use crate::types::SqlType;

    /// Runs `sql` (whose script declares the stream) over `csv` rows split into
    /// batches of `batch_size`; returns output rows as `a|b|c` text and late rows.
    pub(crate) fn run(sql: &str, csv: &str, batch_size: usize) -> (Vec<String>, u64) {
        let plan = crate::sql::compile(sql).unwrap();
        let mut r = CsvReader::new(
            "test.csv",
            csv.as_bytes(),
            &plan.source.columns,
            batch_size,
            OnError::Fail,
        )
        .unwrap();
        let mut p = Pipeline::new(&plan);
        let mut out: Vec<RecordBatch> = Vec::new();
        while let Some(b) = r.next_batch().unwrap() {
            out.extend(p.push(b).unwrap());
        }
        out.extend(p.finish().unwrap());
        let rows = rows_text(&out);
        (rows, p.stats().late_rows)
    }

    /// Every row of `batches` as `a|b|c` text (NULL as `NULL`), in order.
    pub(crate) fn rows_text(batches: &[RecordBatch]) -> Vec<String> {
        let mut rows = Vec::new();
        for b in batches {
            let types: Vec<SqlType> = b
                .schema()
                .fields()
                .iter()
                .map(|f| SqlType::from_arrow(f.data_type()).unwrap())
                .collect();
            for i in 0..b.num_rows() {
                let cells: Vec<String> = b
                    .columns()
                    .iter()
                    .zip(&types)
                    .map(|(c, t)| value_text(c.as_ref(), *t, i).unwrap_or_else(|| "NULL".into()))
                    .collect();
                rows.push(cells.join("|"));
            }
        }
        rows
    }
}
