//! CSV rows split at newlines and commas, for text that holds no quote and
//! no carriage return: what `percore gen` writes and most machine-made CSV.
//!
//! Contract: for text [`CsvLines::applies`] accepts, the batches, row
//! positions, errors and skipped rows are the ones [`super::CsvReader`]
//! gives for the same text without a header (the tests compare the two on
//! random text). Such text has one record per line and one field per comma,
//! so the splitting needs no state machine and no copy of the fields: each
//! is a slice of the text between the commas and newlines [`Marks`] finds
//! 64 bytes a step. Empty lines are skipped, as the csv crate does; a row
//! after them is placed (byte and line) where its own text starts, where
//! the csv crate gives where the empty lines before it start.

use arrow_array::RecordBatch;

use super::super::{Batches, OnError, Step, TypedRows};
use super::marks::Marks;
use super::RowSpec;
use crate::error::Result;
use crate::types::Column;

/// A reader of headerless CSV text that [`CsvLines::applies`] to.
pub struct CsvLines<'a> {
    src: LineRows<'a>,
    batches: Batches,
}

struct LineRows<'a> {
    spec: RowSpec,
    text: &'a [u8],
    /// The text's commas and newlines from where the next line starts.
    marks: Marks<'a>,
    /// Where the next line starts.
    at: usize,
    /// Lines passed so far (empty ones included).
    line: u64,
    rows_read: u64,
    /// The current line's fields, as ranges of the text.
    bounds: Vec<(usize, usize)>,
}

impl<'a> CsvLines<'a> {
    /// Whether `text` can be split this way: it holds no `"` and no `\r`.
    pub fn applies(text: &[u8]) -> bool {
        memchr::memchr2(b'"', b'\r', text).is_none()
    }

    /// A reader of `text` (which [`CsvLines::applies`] to), whose schema
    /// columns sit at `index` in each record.
    pub fn new(
        name: impl Into<String>,
        text: &'a [u8],
        columns: &[Column],
        index: Vec<usize>,
        batch_size: usize,
        on_error: OnError,
    ) -> Self {
        debug_assert!(Self::applies(text));
        CsvLines {
            src: LineRows {
                spec: RowSpec::new(name.into(), columns, index),
                text,
                marks: Marks::new(text),
                at: 0,
                line: 0,
                rows_read: 0,
                bounds: Vec::new(),
            },
            batches: Batches::new(columns, batch_size, on_error),
        }
    }

    /// Parses only the schema columns `cols` (see
    /// [`super::CsvReader::reading_only`]).
    pub fn reading_only(mut self, cols: &[usize]) -> Self {
        self.src.spec.read_only(cols);
        self.batches.read_only(&self.src.spec.parse);
        self
    }

    /// Byte positions (in the text) where the last batch's rows start.
    pub fn positions(&self) -> &[i64] {
        self.batches.positions()
    }

    /// Malformed rows skipped so far (with [`OnError::Skip`]).
    pub fn malformed_rows(&self) -> u64 {
        self.batches.malformed()
    }

    /// The next batch, `None` at the end of the text.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let src = &mut self.src;
        self.batches.next(|row| src.next_row(row))
    }
}

impl LineRows<'_> {
    fn next_row(&mut self, row: &mut TypedRows) -> Result<Step> {
        let text = self.text;
        loop {
            let start = self.at;
            if start >= text.len() {
                return Ok(Step::End);
            }
            // The line's fields end at its commas, the last at its newline
            // (or at the end of the text).
            self.bounds.clear();
            let mut from = start;
            let end = loop {
                match self.marks.next() {
                    Some((at, false)) => {
                        self.bounds.push((from, at));
                        from = at + 1;
                    }
                    Some((at, true)) => break at,
                    None => break text.len(),
                }
            };
            self.bounds.push((from, end));
            self.at = end + 1;
            self.line += 1;
            if end == start {
                continue;
            }
            self.rows_read += 1;
            let bounds = &self.bounds;
            let fields = (bounds.len(), |i: usize| {
                bounds.get(i).map(|&(a, b)| &text[a..b])
            });
            return Ok(
                match self.spec.fill(self.rows_read, self.line, fields, row) {
                    Ok(()) => Step::Row(start as u64),
                    Err(e) => Step::Malformed(e),
                },
            );
        }
    }
}
