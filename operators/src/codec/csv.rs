//! CSV with a header row into typed batches.
//!
//! Columns are matched to the schema by header name (case-insensitive); extra
//! columns are ignored, a missing one is an error. An empty field is NULL,
//! except for VARCHAR, where it is the empty string.

use std::io::Read;

use arrow_array::RecordBatch;

use super::{OnError, RowBatcher};
use crate::error::{Error, Result};
use crate::types::{Column, SqlType};
use crate::value::{parse_text, Scalar};

pub struct CsvReader<R: Read> {
    name: String,
    reader: csv::Reader<R>,
    columns: Vec<Column>,
    /// For each schema column, its index in the file's records.
    index: Vec<usize>,
    batcher: RowBatcher,
    on_error: OnError,
    record: csv::ByteRecord,
    row: Vec<Scalar>,
    rows_read: u64,
    malformed: u64,
    done: bool,
    pending_error: Option<Error>,
}

impl<R: Read> CsvReader<R> {
    /// Reads the header and checks it covers `columns`.
    pub fn new(
        name: impl Into<String>,
        input: R,
        columns: &[Column],
        batch_size: usize,
        on_error: OnError,
    ) -> Result<Self> {
        let name = name.into();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| Error::Config(format!("{name}: cannot read the CSV header: {e}")))?
            .clone();
        let mut index = Vec::new();
        for c in columns {
            let i = headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(&c.name))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "{name}: the CSV header has no column `{}` (header: {})",
                        c.name,
                        headers.iter().collect::<Vec<_>>().join(",")
                    ))
                })?;
            index.push(i);
        }
        Ok(CsvReader {
            name,
            reader,
            columns: columns.to_vec(),
            index,
            batcher: RowBatcher::new(columns, batch_size),
            on_error,
            record: csv::ByteRecord::new(),
            row: Vec::with_capacity(columns.len()),
            rows_read: 0,
            malformed: 0,
            done: false,
            pending_error: None,
        })
    }

    /// Malformed rows skipped so far (with [`OnError::Skip`]).
    pub fn malformed_rows(&self) -> u64 {
        self.malformed
    }

    /// Data rows read so far, malformed ones included.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    fn parse_row(&mut self) -> Result<()> {
        self.row.clear();
        let line = self.record.position().map_or(0, |p| p.line());
        for (c, &i) in self.columns.iter().zip(&self.index) {
            let err = |msg: String| Error::Input {
                source_name: self.name.clone(),
                row: self.rows_read,
                line,
                column: c.name.clone(),
                msg,
            };
            let field = self.record.get(i).ok_or_else(|| {
                err(format!(
                    "the row has {} fields, fewer than the header",
                    self.record.len()
                ))
            })?;
            let text = std::str::from_utf8(field).map_err(|_| err("not valid UTF-8".into()))?;
            let v = if text.is_empty() && c.ty != SqlType::Varchar {
                Scalar::Null
            } else {
                parse_text(text, c.ty).map_err(err)?
            };
            self.row.push(v);
        }
        Ok(())
    }

    /// The next batch, `None` at the end of the input.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        if self.done {
            return Ok(None);
        }
        loop {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| {
                    let line = e.position().map_or(0, |p| p.line());
                    Error::Input {
                        source_name: self.name.clone(),
                        row: self.rows_read + 1,
                        line,
                        column: "-".into(),
                        msg: e.to_string(),
                    }
                })?;
            if !more {
                self.done = true;
                return Ok(self.batcher.flush());
            }
            self.rows_read += 1;
            match self.parse_row() {
                Ok(()) => {
                    if let Some(b) = self.batcher.push(&self.row) {
                        return Ok(Some(b));
                    }
                }
                Err(_) if self.on_error == OnError::Skip => self.malformed += 1,
                Err(e) => {
                    // Rows before the bad one still count: hand them out first.
                    self.done = true;
                    return match self.batcher.flush() {
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
