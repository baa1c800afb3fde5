//! WHERE / HAVING: keeps the rows whose predicate is TRUE (NULL and FALSE drop).

use arrow_array::{Array, RecordBatch};

use super::Operator;
use crate::error::Result;
use crate::expr::{as_bool, Expr};

pub struct Filter {
    predicate: Expr,
}

impl Filter {
    pub fn new(predicate: Expr) -> Self {
        Filter { predicate }
    }
}

impl Operator for Filter {
    fn on_batch(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let mask = as_bool(&self.predicate.eval(&batch)?);
        if mask.null_count() == 0 && mask.true_count() == batch.num_rows() {
            out.push(batch);
            return Ok(());
        }
        let kept = arrow_select::filter::filter_record_batch(&batch, &mask)
            .expect("mask has the batch's length");
        if kept.num_rows() > 0 {
            out.push(kept);
        }
        Ok(())
    }
}
