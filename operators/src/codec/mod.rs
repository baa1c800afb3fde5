//! Record batches to and from bytes, and the built-in generator.
//!
//! - [`generator`]: deterministic `orders` / `market_data` rows, any row range
//!   computable on its own (so partitions can generate their share).
//! - [`csv`] and [`jsonl`]: readers that turn text into typed batches, naming
//!   source, row, line and column for every malformed value.
//! - [`write`]: JSON lines, CSV and table output of batches.

pub mod csv;
pub mod generator;
pub mod jsonl;
pub mod write;

/// What a reader does with a malformed row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Stop with an error naming the row and column.
    #[default]
    Fail,
    /// Count the row and skip it.
    Skip,
}

use arrow_array::RecordBatch;

use crate::column::ColumnBuilder;
use crate::types::{arrow_schema, Column};
use crate::value::Scalar;

/// Collects parsed rows into batches of one schema.
pub(crate) struct RowBatcher {
    columns: Vec<Column>,
    builders: Vec<ColumnBuilder>,
    rows: usize,
    batch_size: usize,
}

impl RowBatcher {
    pub(crate) fn new(columns: &[Column], batch_size: usize) -> Self {
        let mut b = RowBatcher {
            columns: columns.to_vec(),
            builders: Vec::new(),
            rows: 0,
            batch_size: batch_size.max(1),
        };
        b.reset();
        b
    }

    fn reset(&mut self) {
        self.builders = self
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(c.ty, self.batch_size))
            .collect();
        self.rows = 0;
    }

    /// Appends one complete row; returns a batch when one is full.
    pub(crate) fn push(&mut self, row: &[Scalar]) -> Option<RecordBatch> {
        for (b, v) in self.builders.iter_mut().zip(row) {
            b.push(v);
        }
        self.rows += 1;
        (self.rows >= self.batch_size).then(|| self.take())
    }

    /// The rows collected so far, if any.
    pub(crate) fn flush(&mut self) -> Option<RecordBatch> {
        (self.rows > 0).then(|| self.take())
    }

    fn take(&mut self) -> RecordBatch {
        let builders = std::mem::take(&mut self.builders);
        let cols = builders.into_iter().map(ColumnBuilder::finish).collect();
        let batch = RecordBatch::try_new(arrow_schema(&self.columns), cols).expect("typed columns");
        self.reset();
        batch
    }
}
