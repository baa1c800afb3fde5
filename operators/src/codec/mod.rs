//! Record batches to and from bytes, and the built-in generator.
//!
//! - [`generator`]: deterministic `orders` / `market_data` rows, any row range
//!   computable on its own (so partitions can generate their share).
//! - [`csv`] and [`jsonl`]: readers that turn text into typed batches, naming
//!   source, row, line and column for every malformed value.
//! - [`write`](mod@write): JSON lines, CSV and table output of batches.

pub mod csv;
pub mod generator;
pub mod jsonl;
mod typed_rows;
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
use crate::error::{Error, Result};
use crate::types::{arrow_schema, Column};
use crate::value::Scalar;
use typed_rows::TypedRows;

/// What a reader found when asked for its next row.
pub(crate) enum Step {
    /// A row, parsed whole into the store it was given, and the byte
    /// position in the input where its text starts.
    Row(u64),
    /// A row that could not be read, and why.
    Malformed(Error),
    /// The end of the input.
    End,
}

/// Where a reader puts the rows it parses, and how they become batches.
pub(crate) trait RowStore {
    /// The row the reader just read is whole: a batch when one is full.
    fn commit(&mut self) -> Option<RecordBatch>;
    /// Drops what the reader put of a row it could not read.
    fn rollback(&mut self);
    /// The rows committed so far, if any.
    fn flush(&mut self) -> Option<RecordBatch>;
    /// Builds only the columns `read` marks; the others come out as NULL
    /// columns.
    fn read_only(&mut self, read: &[bool]);
}

/// A row of [`Scalar`]s that a reader overwrites, collected into batches
/// (the JSON lines reader's store).
pub(crate) struct ScalarRows {
    /// The row being read: the last row's values are there to be
    /// overwritten, their strings reused.
    pub(crate) row: Vec<Scalar>,
    batcher: RowBatcher,
}

impl ScalarRows {
    pub(crate) fn new(columns: &[Column], batch_size: usize) -> Self {
        ScalarRows {
            row: Vec::with_capacity(columns.len()),
            batcher: RowBatcher::new(columns, batch_size),
        }
    }
}

impl RowStore for ScalarRows {
    fn commit(&mut self) -> Option<RecordBatch> {
        self.batcher.push(&self.row)
    }
    fn rollback(&mut self) {}
    fn flush(&mut self) -> Option<RecordBatch> {
        self.batcher.flush()
    }
    fn read_only(&mut self, read: &[bool]) {
        self.batcher.read_only(read);
    }
}

impl RowStore for TypedRows {
    fn commit(&mut self) -> Option<RecordBatch> {
        TypedRows::commit(self)
    }
    fn rollback(&mut self) {
        TypedRows::rollback(self)
    }
    fn flush(&mut self) -> Option<RecordBatch> {
        TypedRows::flush(self)
    }
    fn read_only(&mut self, read: &[bool]) {
        TypedRows::read_only(self, read)
    }
}

/// What every reader shares: rows into batches, the [`OnError`] policy, and
/// the rule that rows before a bad one are handed out before its error.
pub(crate) struct Batches<S> {
    store: S,
    on_error: OnError,
    malformed: u64,
    done: bool,
    pending_error: Option<Error>,
    /// Byte positions of the rows collected so far, and of the last batch's.
    collecting: Vec<i64>,
    last_positions: Vec<i64>,
}

impl<S: RowStore> Batches<S> {
    pub(crate) fn new(store: S, on_error: OnError) -> Self {
        Batches {
            store,
            on_error,
            malformed: 0,
            done: false,
            pending_error: None,
            collecting: Vec::new(),
            last_positions: Vec::new(),
        }
    }

    /// Builds only the columns `read` marks; the others come out as NULL
    /// columns made whole at the end of each batch (a reader puts nothing
    /// in them: NULL in a [`ScalarRows`] row).
    pub(crate) fn read_only(&mut self, read: &[bool]) {
        self.store.read_only(read);
    }

    /// The byte positions where the rows of the last batch start.
    pub(crate) fn positions(&self) -> &[i64] {
        &self.last_positions
    }

    fn flush(&mut self) -> Option<RecordBatch> {
        let b = self.store.flush();
        self.last_positions = std::mem::take(&mut self.collecting);
        b
    }

    /// Malformed rows skipped so far.
    pub(crate) fn malformed(&self) -> u64 {
        self.malformed
    }

    /// The next batch from rows `read` puts into the store it is given
    /// (a whole row for [`Step::Row`], which is then committed; part of one
    /// or none for [`Step::Malformed`], which is rolled back); `None` at the
    /// end of the input.
    pub(crate) fn next(
        &mut self,
        mut read: impl FnMut(&mut S) -> Result<Step>,
    ) -> Result<Option<RecordBatch>> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        if self.done {
            return Ok(None);
        }
        loop {
            match read(&mut self.store)? {
                Step::Row(pos) => {
                    self.collecting.push(pos as i64);
                    if let Some(b) = self.store.commit() {
                        self.last_positions = std::mem::take(&mut self.collecting);
                        return Ok(Some(b));
                    }
                }
                Step::End => {
                    self.done = true;
                    return Ok(self.flush());
                }
                Step::Malformed(_) if self.on_error == OnError::Skip => {
                    self.store.rollback();
                    self.malformed += 1;
                }
                Step::Malformed(e) => {
                    // Rows before the bad one still count: hand them out first.
                    self.store.rollback();
                    self.done = true;
                    return match self.flush() {
                        Some(b) => {
                            self.pending_error = Some(e);
                            Ok(Some(b))
                        }
                        None => Err(e),
                    };
                }
            }
        }
    }
}

/// Collects parsed rows into batches of one schema.
pub(crate) struct RowBatcher {
    columns: Vec<Column>,
    /// A builder per column, `None` for a column left unread (all NULL).
    builders: Vec<Option<ColumnBuilder>>,
    read: Vec<bool>,
    rows: usize,
    batch_size: usize,
}

impl RowBatcher {
    pub(crate) fn new(columns: &[Column], batch_size: usize) -> Self {
        let mut b = RowBatcher {
            columns: columns.to_vec(),
            builders: Vec::new(),
            read: vec![true; columns.len()],
            rows: 0,
            batch_size: batch_size.max(1),
        };
        b.reset();
        b
    }

    /// Builds only the columns `read` marks (see [`Batches::read_only`]).
    fn read_only(&mut self, read: &[bool]) {
        debug_assert_eq!(self.rows, 0, "set before the first row");
        self.read = read.to_vec();
        self.reset();
    }

    fn reset(&mut self) {
        self.builders = self
            .columns
            .iter()
            .zip(&self.read)
            .map(|(c, &read)| read.then(|| ColumnBuilder::new(c.ty, self.batch_size)))
            .collect();
        self.rows = 0;
    }

    /// Appends one complete row; returns a batch when one is full.
    pub(crate) fn push(&mut self, row: &[Scalar]) -> Option<RecordBatch> {
        for (b, v) in self.builders.iter_mut().zip(row) {
            match b {
                Some(b) => b.push(v),
                None => debug_assert_eq!(*v, Scalar::Null, "an unread column holds NULL"),
            }
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
        let schema = arrow_schema(&self.columns);
        let cols = builders
            .into_iter()
            .zip(schema.fields())
            .map(|(b, f)| match b {
                Some(b) => b.finish(),
                None => arrow_array::new_null_array(f.data_type(), self.rows),
            })
            .collect();
        let batch = RecordBatch::try_new(schema, cols).expect("typed columns");
        self.reset();
        batch
    }
}
