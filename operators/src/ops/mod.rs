//! The operators, one per file, and the pipeline that chains them.
//!
//! Each operator takes whole batches and emits whole batches; stateful ones
//! also act on end of input (the final watermark). Lifecycle hooks have no-op
//! defaults, as in arroyo's operator trait.

mod filter;
mod group_by;
mod pipeline;
mod project;
mod rows_window;
mod tumbling;

pub use filter::Filter;
pub use group_by::GroupBy;
pub use pipeline::{Pipeline, PipelineStats};
pub use project::Project;
pub use rows_window::RowsWindow;
pub use tumbling::Tumbling;

use arrow_array::{ArrayRef, RecordBatch};

use crate::error::Result;
use crate::expr::Expr;

/// A batch-at-a-time operator.
pub trait Operator {
    /// Processes one batch, appending any output batches to `out`.
    fn on_batch(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()>;

    /// End of a bounded input: flush everything still held.
    fn on_end(&mut self, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// Rows dropped because they arrived after the watermark had passed them.
    fn late_rows(&self) -> u64 {
        0
    }
}

pub(crate) fn eval_all(exprs: &[Expr], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs.iter().map(|e| e.eval(batch)).collect()
}
