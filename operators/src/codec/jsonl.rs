//! JSON lines (one object per line) into typed batches.
//!
//! Keys are matched to the schema by name (exact first, then
//! case-insensitive); a missing key or `null` is NULL; other keys are ignored.
//! Numbers keep their exact text, so a DECIMAL read from `101.25` is exact.
//! Timestamps may be ISO-8601 strings or integer epoch milliseconds. Blank
//! lines are skipped.

use std::io::BufRead;

use arrow_array::RecordBatch;
use serde_json::Value;

use super::{Batches, OnError, Step, TypedRows};
use crate::error::{Error, Result};
use crate::types::{Column, SqlType};
use crate::value::{parse_text, Scalar};

pub struct JsonLinesReader<R: BufRead> {
    src: JsonRows<R>,
    batches: Batches,
}

/// The JSON side of a reader: lines to typed rows.
struct JsonRows<R: BufRead> {
    name: String,
    input: R,
    columns: Vec<Column>,
    line: String,
    line_no: u64,
    rows_read: u64,
    /// Bytes read so far.
    offset: u64,
}

impl<R: BufRead> JsonLinesReader<R> {
    pub fn new(
        name: impl Into<String>,
        input: R,
        columns: &[Column],
        batch_size: usize,
        on_error: OnError,
    ) -> Self {
        JsonLinesReader {
            src: JsonRows {
                name: name.into(),
                input,
                columns: columns.to_vec(),
                line: String::new(),
                line_no: 0,
                rows_read: 0,
                offset: 0,
            },
            batches: Batches::new(columns, batch_size, on_error),
        }
    }

    pub fn malformed_rows(&self) -> u64 {
        self.batches.malformed()
    }

    pub fn rows_read(&self) -> u64 {
        self.src.rows_read
    }

    /// Byte positions (in this reader's input) where the last batch's rows start.
    pub fn positions(&self) -> &[i64] {
        self.batches.positions()
    }

    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let src = &mut self.src;
        self.batches.next(|rows| src.next_row(rows))
    }
}

impl<R: BufRead> JsonRows<R> {
    fn err(&self, column: &str, msg: String) -> Error {
        Error::Input {
            source_name: self.name.clone(),
            row: self.rows_read,
            line: self.line_no,
            column: column.to_string(),
            msg,
        }
    }

    fn next_row(&mut self, rows: &mut TypedRows) -> Result<Step> {
        loop {
            self.line.clear();
            let n = self
                .input
                .read_line(&mut self.line)
                .map_err(|e| Error::Io {
                    context: format!("{}: line {}", self.name, self.line_no + 1),
                    source: e,
                })?;
            if n == 0 {
                return Ok(Step::End);
            }
            let pos = self.offset;
            self.offset += n as u64;
            self.line_no += 1;
            if self.line.trim().is_empty() {
                continue;
            }
            self.rows_read += 1;
            return Ok(match self.parse_row(rows) {
                Ok(()) => Step::Row(pos),
                Err(e) => Step::Malformed(e),
            });
        }
    }

    /// Appends the line's object to every column of `rows`; on an error
    /// some columns may hold a value of it (the caller rolls it back).
    fn parse_row(&self, rows: &mut TypedRows) -> Result<()> {
        let obj: serde_json::Map<String, Value> = serde_json::from_str(&self.line)
            .map_err(|e| self.err("-", format!("invalid JSON object: {e}")))?;
        for (k, c) in self.columns.iter().enumerate() {
            let v = obj.get(&c.name).or_else(|| {
                obj.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&c.name))
                    .map(|(_, v)| v)
            });
            let s = match v {
                None | Some(Value::Null) => Scalar::Null,
                Some(Value::String(s)) => parse_text(s, c.ty).map_err(|m| self.err(&c.name, m))?,
                Some(Value::Number(n)) => {
                    if matches!(c.ty, SqlType::Varchar | SqlType::Boolean) {
                        return Err(
                            self.err(&c.name, format!("expected {}, found the number {n}", c.ty))
                        );
                    }
                    parse_text(&n.to_string(), c.ty).map_err(|m| self.err(&c.name, m))?
                }
                Some(Value::Bool(b)) if c.ty == SqlType::Boolean => Scalar::Boolean(*b),
                Some(other) => {
                    return Err(self.err(&c.name, format!("expected {}, found {other}", c.ty)))
                }
            };
            rows.column(k).push(s);
        }
        Ok(())
    }
}
