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
use crate::value::{parse_field, Scalar};

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
    /// Which schema columns are parsed (all unless [`CsvReader::reading_only`]).
    parse: Vec<bool>,
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
                parse: vec![true; columns.len()],
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
        self.src.parse = (0..self.src.columns.len())
            .map(|c| cols.contains(&c))
            .collect();
        self.batches.read_only(&self.src.parse);
        self
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
        let cols = self.columns.iter().zip(&self.index).zip(&self.parse);
        for (((c, &i), &parse), slot) in cols.zip(row.iter_mut()) {
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
            if !parse {
                *slot = Scalar::Null;
                continue;
            }
            let text = || std::str::from_utf8(field).map_err(|_| err("not valid UTF-8".into()));
            match (c.ty, &mut *slot) {
                (SqlType::Varchar, Scalar::Varchar(s)) => {
                    s.clear();
                    s.push_str(text()?);
                }
                (SqlType::Varchar, _) => *slot = Scalar::Varchar(text()?.to_string()),
                _ if field.is_empty() => *slot = Scalar::Null,
                // Numbers and times from the bytes (`parse_field` checks
                // UTF-8 only where its fast shapes do not apply).
                _ => *slot = parse_field(field, c.ty).map_err(err)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::Array;

    fn read(text: &str, only: Option<&[usize]>) -> Result<Vec<RecordBatch>> {
        let columns = [
            Column::new("a", SqlType::BigInt),
            Column::new("s", SqlType::Varchar),
            Column::new("b", SqlType::BigInt),
        ];
        let r = CsvReader::new("t.csv", text.as_bytes(), &columns, 2, OnError::Fail)?;
        let mut r = match only {
            Some(cols) => r.reading_only(cols),
            None => r,
        };
        std::iter::from_fn(|| r.next_batch().transpose()).collect()
    }

    #[test]
    fn columns_left_unread_are_null_and_never_parsed() {
        let text = "b,s,a\n1,x,10\nnot a number,y,20\n3,z,\n";
        // Every column read: the bad BIGINT is an error naming its row and column.
        let err = read(text, None).unwrap_err().to_string();
        assert!(err.contains("row 2") && err.contains("column `b`"), "{err}");
        // Only `a`: the same values of `a`, the others NULL, no error.
        let only_a = read(text, Some(&[0])).unwrap();
        let a: Vec<Option<i64>> = only_a
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<Int64Type>()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(a, vec![Some(10), Some(20), None]);
        for b in &only_a {
            assert_eq!(b.column(1).null_count(), b.num_rows());
            assert_eq!(b.column(2).null_count(), b.num_rows());
        }
        // A row still needs a field for every column, read or not.
        let err = read("b,s,a\n1,x\n", Some(&[0])).unwrap_err().to_string();
        assert!(err.contains("fewer than the header"), "{err}");
    }
}
