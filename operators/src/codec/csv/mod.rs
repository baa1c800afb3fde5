//! CSV with a header row into typed batches.
//!
//! Columns are matched to the schema by header name (case-insensitive); extra
//! columns are ignored, a missing one is an error. An empty field is NULL,
//! except for VARCHAR, where it is the empty string.

mod lines;
mod marks;

use std::io::Read;

use arrow_array::RecordBatch;

use super::{Batches, OnError, Step, TypedRows};
use crate::decimal;
use crate::error::{Error, Result};
use crate::types::{Column, SqlType};
use crate::value::{parse_decimal_field, parse_field, parse_int_field, plain_int, CanonicalTimes};

pub use lines::CsvLines;

pub struct CsvReader<R: Read> {
    src: CsvRows<R>,
    batches: Batches,
}

/// The CSV side of a reader: records to typed rows.
struct CsvRows<R: Read> {
    spec: RowSpec,
    reader: csv::Reader<R>,
    record: csv::ByteRecord,
    rows_read: u64,
}

/// What turns one record's fields into a row of the schema: shared by the
/// csv-crate reader and the line splitter ([`lines`]).
pub(super) struct RowSpec {
    name: String,
    columns: Vec<Column>,
    /// For each schema column, its index in the file's records.
    index: Vec<usize>,
    /// Which schema columns are parsed (all unless [`CsvReader::reading_only`]).
    parse: Vec<bool>,
    /// Per schema column, the minute of the last canonical time read (used
    /// by TIMESTAMP columns only).
    times: Vec<CanonicalTimes>,
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
                spec: RowSpec::new(name, columns, index),
                reader,
                record: csv::ByteRecord::new(),
                rows_read: 0,
            },
            batches: Batches::new(columns, batch_size, on_error),
        }
    }

    /// Parses only the schema columns `cols` (indices into the schema, as
    /// [`crate::Plan::inputs`]): the others are NULL in every batch, their
    /// text not read, so a malformed value there is no error — the query
    /// never sees it. A row must still have a field for every column.
    pub fn reading_only(mut self, cols: &[usize]) -> Self {
        self.src.spec.read_only(cols);
        self.batches.read_only(&self.src.spec.parse);
        self
    }

    /// For each schema column, its field index in the file's records.
    pub fn header_index(&self) -> &[usize] {
        &self.src.spec.index
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
    fn next_row(&mut self, row: &mut TypedRows) -> Result<Step> {
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                Error::Input {
                    source_name: self.spec.name.clone(),
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
        let line = self.record.position().map_or(0, |p| p.line());
        let record = &self.record;
        let fields = (record.len(), |i| record.get(i));
        Ok(match self.spec.fill(self.rows_read, line, fields, row) {
            Ok(()) => Step::Row(pos),
            Err(e) => Step::Malformed(e),
        })
    }
}

impl RowSpec {
    pub(super) fn new(name: String, columns: &[Column], index: Vec<usize>) -> Self {
        RowSpec {
            name,
            columns: columns.to_vec(),
            index,
            parse: vec![true; columns.len()],
            times: vec![CanonicalTimes::default(); columns.len()],
        }
    }

    /// Parses only the schema columns `cols` (see [`CsvReader::reading_only`]).
    pub(super) fn read_only(&mut self, cols: &[usize]) {
        self.parse = (0..self.columns.len()).map(|c| cols.contains(&c)).collect();
    }

    /// Appends one record to every column of `rows`, data row `row_no` at
    /// `line`, given as its number of fields and a way to get field `i`.
    /// On an error some columns may hold a value of the row: the caller
    /// rolls it back.
    pub(super) fn fill<'f>(
        &mut self,
        row_no: u64,
        line: u64,
        (count, field): (usize, impl Fn(usize) -> Option<&'f [u8]>),
        rows: &mut TypedRows,
    ) -> Result<()> {
        let cols = self.columns.iter().zip(&self.index).zip(&self.parse);
        for (k, (((c, &i), &parse), times)) in cols.zip(&mut self.times).enumerate() {
            let err = |msg: String| Error::Input {
                source_name: self.name.clone(),
                row: row_no,
                line,
                column: c.name.clone(),
                msg,
            };
            let field = field(i)
                .ok_or_else(|| err(format!("the row has {count} fields, fewer than the header")))?;
            if !parse {
                continue;
            }
            let col = rows.column(k);
            match c.ty {
                SqlType::Varchar => {
                    let text =
                        std::str::from_utf8(field).map_err(|_| err("not valid UTF-8".into()))?;
                    col.push_text(text)
                }
                _ if field.is_empty() => col.push_null(),
                // Numbers and times from the bytes (UTF-8 is checked only
                // where the fast shapes do not apply).
                SqlType::Timestamp => match times.parse(field) {
                    Some(ms) => col.push_i64(ms),
                    None => col.push_i64(parse_int_field(field, c.ty).map_err(err)?),
                },
                // Plain digits inline; anything else the general way.
                ty @ SqlType::BigInt => col.push_i64(match plain_int(field) {
                    Some(v) => v,
                    None => parse_int_field(field, ty).map_err(err)?,
                }),
                SqlType::Decimal { precision, scale } => {
                    let plain = decimal::parse_plain(field, scale);
                    col.push_i128(match plain.filter(|v| decimal::fits(*v, precision)) {
                        Some(v) => v,
                        None => parse_decimal_field(field, precision, scale).map_err(err)?,
                    })
                }
                ty => col.push(parse_field(field, ty).map_err(err)?),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
