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
        let kept = crate::gather::filter_batch(&batch, &mask);
        if kept.num_rows() > 0 {
            out.push(kept);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::run;

    const DDL: &str = "CREATE STREAM t (id BIGINT, x DECIMAL(10,2));";

    #[test]
    fn keeps_true_drops_false_and_null() {
        let csv = "id,x\n1,5.00\n2,\n3,0.50\n4,1.01\n";
        let (rows, _) = run(&format!("{DDL} SELECT id FROM t WHERE x > 1"), csv, 2);
        assert_eq!(rows, vec!["1", "4"]);
        let (rows, _) = run(
            &format!("{DDL} SELECT id FROM t WHERE NOT (x > 1)"),
            csv,
            10,
        );
        assert_eq!(rows, vec!["3"], "NOT NULL is NULL, so row 2 stays out");
        let (rows, _) = run(
            &format!("{DDL} SELECT id FROM t WHERE x IS NULL OR id = 3"),
            csv,
            10,
        );
        assert_eq!(rows, vec!["2", "3"]);
    }
}
