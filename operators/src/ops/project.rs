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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch};

    use super::*;
    use crate::types::{arrow_schema, Column, SqlType};

    #[test]
    fn bare_columns_share_buffers_and_expressions_compute() {
        let cols = vec![Column::new("a", SqlType::BigInt)];
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let batch = RecordBatch::try_new(arrow_schema(&cols), vec![a.clone()]).unwrap();
        let plan =
            crate::sql::compile("CREATE STREAM s (a BIGINT); SELECT a, a * 2 AS b FROM s").unwrap();
        let mut p = Project::new(plan.projection.clone(), arrow_schema(&plan.output));
        let mut out = Vec::new();
        p.on_batch(batch, &mut out).unwrap();
        assert!(
            Arc::ptr_eq(out[0].column(0), &a),
            "projection copied a bare column"
        );
        let b = out[0]
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(b.values().to_vec(), vec![2, 4, 6]);
        assert_eq!(out[0].schema().field(1).name(), "b");
    }
}
