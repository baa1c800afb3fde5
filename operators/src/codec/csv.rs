//! CSV with a header row into typed batches.
//!
//! Columns are matched to the schema by header name (case-insensitive); extra
//! columns are ignored, a missing one is an error. An empty field is NULL,
//! except for VARCHAR, where it is the empty string.

use std::io::Read;

use arrow_array::RecordBatch;

use super::{Batches, OnError, Step};
use crate::error::{Error, Result};
use crate::types::{Column, SqlType};
use crate::value::{parse_text, Scalar};

pub struct CsvReader<R: Read> {
    src: CsvRows<R>,
    batches: Batches,
}

/// The CSV side of a reader: records to typed rows.
struct CsvRows<R: Read> {
    name: String,
    reader: csv::Reader<R>,
    columns: Vec<Column>,
    /// For each schema column, its index in the file's records.
    index: Vec<usize>,
    record: csv::ByteRecord,
    rows_read: u64,
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
        let index = header_index(&name, &headers, columns)?;
        Ok(Self::with_index(
            name, reader, columns, index, batch_size, on_error,
        ))
    }

    /// A reader of rows without a header line, whose schema columns sit at
    /// `index` in each record (as [`CsvReader::header_index`] found them).
    pub fn headerless(
        name: impl Into<String>,
        input: R,
        columns: &[Column],
        index: Vec<usize>,
        batch_size: usize,
        on_error: OnError,
    ) -> Self {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        Self::with_index(name.into(), reader, columns, index, batch_size, on_error)
    }

    fn with_index(
        name: String,
        reader: csv::Reader<R>,
        columns: &[Column],
        index: Vec<usize>,
        batch_size: usize,
        on_error: OnError,
    ) -> Self {
        CsvReader {
            src: CsvRows {
                name,
                reader,
                columns: columns.to_vec(),
                index,
                record: csv::ByteRecord::new(),
                rows_read: 0,
            },
            batches: Batches::new(columns, batch_size, on_error),
        }
    }

    /// For each schema column, its field index in the file's records.
    pub fn header_index(&self) -> &[usize] {
        &self.src.index
    }

    /// The byte position just after the header line (where data rows start),
    /// once the reader is made.
    pub fn data_start(&self) -> u64 {
        self.src.reader.position().byte()
    }

    /// Byte positions (in this reader's input) where the last batch's rows start.
    pub fn positions(&self) -> &[i64] {
        self.batches.positions()
    }

    /// Malformed rows skipped so far (with [`OnError::Skip`]).
    pub fn malformed_rows(&self) -> u64 {
        self.batches.malformed()
    }

    /// Data rows read so far, malformed ones included.
    pub fn rows_read(&self) -> u64 {
        self.src.rows_read
    }

    /// The next batch, `None` at the end of the input.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let src = &mut self.src;
        self.batches.next(|row| src.next_row(row))
    }
}

/// Where each schema column sits among the header's names.
fn header_index(name: &str, headers: &csv::StringRecord, columns: &[Column]) -> Result<Vec<usize>> {
    columns
        .iter()
        .map(|c| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(&c.name))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "{name}: the CSV header has no column `{}` (header: {})",
                        c.name,
                        headers.iter().collect::<Vec<_>>().join(",")
                    ))
                })
        })
        .collect()
}

impl<R: Read> CsvRows<R> {
    fn next_row(&mut self, row: &mut Vec<Scalar>) -> Result<Step> {
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
            return Ok(Step::End);
        }
        self.rows_read += 1;
        let pos = self.record.position().map_or(0, |p| p.byte());
        Ok(match self.parse_row(row) {
            Ok(()) => Step::Row(pos),
            Err(e) => Step::Malformed(e),
        })
    }

    /// Sets every column of `row` from the current record; a VARCHAR
    /// column's string from the last row is reused, not reallocated.
    fn parse_row(&self, row: &mut Vec<Scalar>) -> Result<()> {
        let line = self.record.position().map_or(0, |p| p.line());
        row.resize(self.columns.len(), Scalar::Null);
        for ((c, &i), slot) in self.columns.iter().zip(&self.index).zip(row.iter_mut()) {
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
            match (c.ty, &mut *slot) {
                (SqlType::Varchar, Scalar::Varchar(s)) => {
                    s.clear();
                    s.push_str(text);
                }
                (SqlType::Varchar, _) => *slot = Scalar::Varchar(text.to_string()),
                _ if text.is_empty() => *slot = Scalar::Null,
                _ => *slot = parse_text(text, c.ty).map_err(err)?,
            }
        }
        Ok(())
    }
}
