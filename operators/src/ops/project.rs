//! The SELECT list: one output column per expression. A bare column is passed
//! through without copying (the Arrow buffer is shared).

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::{eval_all, Operator};
use crate::error::Result;
use crate::expr::Expr;

pub struct Project {
    exprs: Vec<Expr>,
    schema: SchemaRef,
}

impl Project {
    pub fn new(exprs: Vec<Expr>, schema: SchemaRef) -> Self {
        Project { exprs, schema }
    }
}

impl Operator for Project {
    fn on_batch(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let cols = eval_all(&self.exprs, &batch)?;
        let b = RecordBatch::try_new_with_options(
            self.schema.clone(),
            cols,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .expect("projection matches the output schema");
        out.push(b);
        Ok(())
    }
}
