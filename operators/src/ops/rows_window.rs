//! ROWS window functions: `AVG/MIN/MAX/SUM/COUNT(..) OVER (PARTITION BY k
//! ORDER BY t ROWS BETWEEN n-1 PRECEDING AND CURRENT ROW)`.
//!
//! Contract: every input row that is not late yields exactly one output row:
//! its own columns followed by one value per window function, computed over
//! the last `n` rows of its partition in event-time order. Rows are held until
//! the watermark passes them and released sorted by time, so the answer does
//! not depend on how the input was split or interleaved.

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;

use super::{eval_all, Operator};
use crate::error::Result;
use crate::expr::Expr;
use crate::plan::RowsPlan;
use crate::state::{EventTimeBuffer, GroupTable, Sliding};

pub struct RowsWindow {
    partition_by: Vec<Expr>,
    funcs: Vec<(Sliding, Option<Expr>)>,
    partitions: GroupTable,
    buffer: EventTimeBuffer,
    schema: SchemaRef,
    ids: Vec<u32>,
}

impl RowsWindow {
    pub fn new(plan: &RowsPlan, lateness_ms: i64, schema: SchemaRef) -> Self {
        let funcs = plan
            .funcs
            .iter()
            .map(|c| {
                let s = Sliding::new(
                    c.func,
                    c.arg.as_ref().map(Expr::ty),
                    c.output,
                    plan.frame,
                    c.text.clone(),
                );
                (s, c.arg.clone())
            })
            .collect();
        RowsWindow {
            partitions: GroupTable::new(plan.partition_by.iter().map(Expr::ty).collect()),
            partition_by: plan.partition_by.clone(),
            funcs,
            buffer: EventTimeBuffer::new(plan.order_by.clone(), lateness_ms),
            schema,
            ids: Vec::new(),
        }
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let n = batch.num_rows();
        let keys = eval_all(&self.partition_by, &batch)?;
        self.partitions.intern(&keys, n, &mut self.ids);
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        for (f, arg) in &mut self.funcs {
            let a = arg.as_ref().map(|e| e.eval(&batch)).transpose()?;
            cols.push(f.update_and_snapshot(&self.ids, a.as_ref(), self.partitions.len())?);
        }
        out.push(RecordBatch::try_new(self.schema.clone(), cols).expect("window output schema"));
        Ok(())
    }
}

impl Operator for RowsWindow {
    fn on_batch(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        if let Some(r) = self.buffer.push(batch)? {
            self.process(r.batch, out)?;
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        if let Some(r) = self.buffer.finish() {
            self.process(r.batch, out)?;
        }
        Ok(())
    }

    fn late_rows(&self) -> u64 {
        self.buffer.late_rows()
    }
}
