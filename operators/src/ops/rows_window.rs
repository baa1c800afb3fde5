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
use crate::state::{EventTimeBuffer, GroupTable, Prepare, Sliding};

pub struct RowsWindow {
    partition_by: Vec<Expr>,
    funcs: Vec<(Sliding, Option<Expr>)>,
    partitions: GroupTable,
    buffer: EventTimeBuffer,
    schema: SchemaRef,
    ids: Vec<u32>,
    /// Input columns passed through (a hidden sequence column is not).
    passthrough: usize,
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
            passthrough: schema.fields().len() - plan.funcs.len(),
            schema,
            ids: Vec::new(),
        }
    }

    /// Driven by [`Operator::on_watermark`]; time ties broken by column
    /// `seq`; held batches turned by `prepare` when first released from
    /// ([`EventTimeBuffer::preparing`]).
    pub fn externally_driven(mut self, seq: Option<usize>, prepare: Option<Prepare>) -> Self {
        self.buffer = self.buffer.externally_driven(seq).preparing(prepare);
        self
    }

    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let n = batch.num_rows();
        let keys = eval_all(&self.partition_by, &batch)?;
        self.partitions.intern(&keys, n, &mut self.ids);
        let mut cols: Vec<ArrayRef> = batch.columns()[..self.passthrough].to_vec();
        // Arguments found to fit their DECIMAL precision (AVG, MIN and MAX of
        // one column check it once).
        let mut fitting = Vec::new();
        for (f, arg) in &mut self.funcs {
            let a = arg.as_ref().map(|e| e.eval(&batch)).transpose()?;
            let parts = self.partitions.len();
            cols.push(f.update_and_snapshot_in(&self.ids, a.as_ref(), parts, &mut fitting)?);
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

    fn on_rows(
        &mut self,
        batch: RecordBatch,
        rows: Vec<u32>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if let Some(r) = self.buffer.push_rows(batch, rows)? {
            self.process(r.batch, out)?;
        }
        Ok(())
    }

    fn holds_rows(&self) -> bool {
        true
    }

    fn on_watermark(&mut self, w: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        if let Some(r) = self.buffer.advance(w) {
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

    fn held_rows(&self) -> usize {
        self.buffer.held_rows()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::run;

    const DDL: &str =
        "CREATE STREAM t (k VARCHAR, v DECIMAL(10,2), ts BIGINT) WITH (lateness = '10ms');";
    const Q: &str = "SELECT k, v, MIN(v) OVER w AS mn, MAX(v) OVER w AS mx, AVG(v) OVER w AS a, COUNT(*) OVER w AS c FROM t";

    fn sql(frame: &str) -> String {
        format!(
            "{DDL} {}",
            Q.replace(
                "OVER w",
                &format!("OVER (PARTITION BY k ORDER BY ts {frame})")
            )
        )
    }

    #[test]
    fn frames_slide_and_min_max_expire() {
        let csv = "k,v,ts\na,3,1\na,1,2\na,2,3\na,5,4\nb,9,4\na,4,5\n";
        let (rows, late) = run(&sql("ROWS BETWEEN 1 PRECEDING AND CURRENT ROW"), csv, 2);
        assert_eq!(late, 0);
        assert_eq!(
            rows,
            vec![
                "a|3.00|3.00|3.00|3.000000|1",
                "a|1.00|1.00|3.00|2.000000|2",
                "a|2.00|1.00|2.00|1.500000|2",
                "a|5.00|2.00|5.00|3.500000|2",
                "b|9.00|9.00|9.00|9.000000|1",
                "a|4.00|4.00|5.00|4.500000|2",
            ]
        );
    }

    #[test]
    fn rows_are_taken_in_event_time_order_and_late_ones_dropped() {
        // ts 3 arrives before ts 2 (within the 10 ms lateness); ts 1 arrives after 30 (late).
        let csv = "k,v,ts\na,3,3\na,2,2\na,7,30\na,1,1\n";
        let (rows, late) = run(&sql("ROWS UNBOUNDED PRECEDING"), csv, 1);
        assert_eq!(late, 1);
        assert_eq!(
            rows,
            vec![
                "a|2.00|2.00|2.00|2.000000|1",
                "a|3.00|2.00|3.00|2.500000|2",
                "a|7.00|2.00|7.00|4.000000|3"
            ]
        );
    }
}
