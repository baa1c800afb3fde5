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

use crate::error::{Error, Result};
use crate::types::Column;
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

/// What every reader shares: rows into batches, the [`OnError`] policy, and
/// the rule that rows before a bad one are handed out before its error.
pub(crate) struct Batches {
    /// The rows of the batch being built, column by column.
    store: TypedRows,
    on_error: OnError,
    malformed: u64,
    done: bool,
    pending_error: Option<Error>,
    /// Byte positions of the rows collected so far, and of the last batch's.
    collecting: Vec<i64>,
    last_positions: Vec<i64>,
}

impl Batches {
    pub(crate) fn new(columns: &[Column], batch_size: usize, on_error: OnError) -> Self {
        Batches {
            store: TypedRows::new(columns, batch_size),
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
    /// in them).
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
        mut read: impl FnMut(&mut TypedRows) -> Result<Step>,
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
