//! Output formats for result batches.
//!
//! JSON lines: one object per row, keys are the output column names; DECIMAL
//! is a string with exactly its scale's digits (`"101.2500"`), TIMESTAMP an
//! ISO-8601 UTC string with milliseconds, DOUBLE a number (NaN and infinities
//! become `null`), NULL is `null`. CSV uses the same text forms, with an empty
//! field for NULL.

use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};

use crate::decimal;
use crate::types::SqlType;
use crate::value::write_timestamp;

fn types_of(batch: &RecordBatch) -> Vec<SqlType> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| SqlType::from_arrow(f.data_type()).expect("percore batch types"))
        .collect()
}

/// The text of one value (`None` for NULL), as CSV and tables show it.
pub fn value_text(a: &dyn Array, ty: SqlType, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    Some(match ty {
        SqlType::BigInt => a.as_primitive::<Int64Type>().value(i).to_string(),
        SqlType::Double => a.as_primitive::<Float64Type>().value(i).to_string(),
        SqlType::Decimal { scale, .. } => {
            decimal::format(a.as_primitive::<Decimal128Type>().value(i), scale)
        }
        SqlType::Varchar => a.as_string::<i32>().value(i).to_string(),
        SqlType::Boolean => a.as_boolean().value(i).to_string(),
        SqlType::Timestamp => {
            let mut s = String::new();
            write_timestamp(
                &mut s,
                a.as_primitive::<TimestampMillisecondType>().value(i),
            );
            s
        }
    })
}

/// Appends one JSON object per row of `batch` to `out`.
pub fn write_jsonl(batch: &RecordBatch, out: &mut Vec<u8>) {
    let schema = batch.schema();
    let types = types_of(batch);
    let keys: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| serde_json::to_string(f.name()).expect("string keys serialise"))
        .collect();
    let mut text = String::new();
    for i in 0..batch.num_rows() {
        out.push(b'{');
        for (c, (col, ty)) in batch.columns().iter().zip(&types).enumerate() {
            if c > 0 {
                out.push(b',');
            }
            out.extend_from_slice(keys[c].as_bytes());
            out.push(b':');
            if col.is_null(i) {
                out.extend_from_slice(b"null");
                continue;
            }
            match ty {
                SqlType::BigInt => {
                    let _ = write!(out, "{}", col.as_primitive::<Int64Type>().value(i));
                }
                SqlType::Double => {
                    let v = col.as_primitive::<Float64Type>().value(i);
                    if v.is_finite() {
                        let _ = write!(out, "{v}");
                    } else {
                        out.extend_from_slice(b"null");
                    }
                }
                SqlType::Decimal { scale, .. } => {
                    text.clear();
                    decimal::write_to(
                        &mut text,
                        col.as_primitive::<Decimal128Type>().value(i),
                        *scale,
                    );
                    out.push(b'"');
                    out.extend_from_slice(text.as_bytes());
                    out.push(b'"');
                }
                SqlType::Varchar => {
                    serde_json::to_writer(&mut *out, col.as_string::<i32>().value(i))
                        .expect("writing to a Vec cannot fail");
                }
                SqlType::Boolean => out.extend_from_slice(if col.as_boolean().value(i) {
                    b"true"
                } else {
                    b"false"
                }),
                SqlType::Timestamp => {
                    text.clear();
                    write_timestamp(
                        &mut text,
                        col.as_primitive::<TimestampMillisecondType>().value(i),
                    );
                    out.push(b'"');
                    out.extend_from_slice(text.as_bytes());
                    out.push(b'"');
                }
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

/// A CSV writer that emits the header before the first row.
pub struct CsvWriter<W: Write> {
    inner: csv::Writer<W>,
    header_written: bool,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(w: W) -> Self {
        CsvWriter {
            inner: csv::WriterBuilder::new().has_headers(false).from_writer(w),
            header_written: false,
        }
    }

    /// A writer of data rows only (the header is written elsewhere).
    pub fn rows_only(w: W) -> Self {
        let mut c = Self::new(w);
        c.header_written = true;
        c
    }

    /// Writes the header (column names) if it has not been written yet.
    pub fn header(&mut self, names: &[String]) -> std::io::Result<()> {
        if !self.header_written {
            self.inner.write_record(names)?;
            self.header_written = true;
        }
        Ok(())
    }

    pub fn write(&mut self, batch: &RecordBatch) -> std::io::Result<()> {
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        self.header(&names)?;
        let types = types_of(batch);
        for i in 0..batch.num_rows() {
            for (col, ty) in batch.columns().iter().zip(&types) {
                self.inner
                    .write_field(value_text(col.as_ref(), *ty, i).unwrap_or_default())?;
            }
            self.inner.write_record(None::<&[u8]>)?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
