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
use crate::value::{timestamp_text, write_timestamp};

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

/// One output column's values, typed once per batch.
enum Values<'a> {
    I64(&'a [i64]),
    F64(&'a [f64]),
    Dec(&'a [i128], u8),
    Str(&'a arrow_array::StringArray),
    Bool(&'a arrow_array::BooleanArray),
    /// With the last time written and its text (window bounds repeat).
    Ts(&'a [i64], Option<(i64, [u8; 24])>),
}

/// Appends one JSON object per row of `batch` to `out`.
///
/// Each column is typed once per batch and its key written with the
/// separator before it as one slice; numbers are written without the
/// formatting machinery (`itoa`, [`decimal::text_into`],
/// [`crate::value::timestamp_text`]).
pub fn write_jsonl(batch: &RecordBatch, out: &mut Vec<u8>) {
    let schema = batch.schema();
    let types = types_of(batch);
    let mut cols: Vec<(Vec<u8>, Values<'_>, Option<&arrow_buffer::NullBuffer>)> = batch
        .columns()
        .iter()
        .zip(&types)
        .zip(schema.fields())
        .enumerate()
        .map(|(c, ((col, ty), field))| {
            let mut prefix = vec![if c == 0 { b'{' } else { b',' }];
            serde_json::to_writer(&mut prefix, field.name()).expect("string keys serialise");
            prefix.push(b':');
            let values = match ty {
                SqlType::BigInt => Values::I64(col.as_primitive::<Int64Type>().values()),
                SqlType::Double => Values::F64(col.as_primitive::<Float64Type>().values()),
                SqlType::Decimal { scale, .. } => {
                    Values::Dec(col.as_primitive::<Decimal128Type>().values(), *scale)
                }
                SqlType::Varchar => Values::Str(col.as_string::<i32>()),
                SqlType::Boolean => Values::Bool(col.as_boolean()),
                SqlType::Timestamp => Values::Ts(
                    col.as_primitive::<TimestampMillisecondType>().values(),
                    None,
                ),
            };
            (prefix, values, col.nulls())
        })
        .collect();
    let mut int = itoa::Buffer::new();
    let mut dec = [0u8; decimal::TEXT_MAX];
    let mut text = String::new();
    for i in 0..batch.num_rows() {
        if cols.is_empty() {
            out.push(b'{');
        }
        for (prefix, values, nulls) in cols.iter_mut() {
            out.extend_from_slice(prefix);
            if nulls.is_some_and(|n| n.is_null(i)) {
                out.extend_from_slice(b"null");
                continue;
            }
            match values {
                Values::I64(v) => out.extend_from_slice(int.format(v[i]).as_bytes()),
                Values::F64(v) => {
                    if v[i].is_finite() {
                        let _ = write!(out, "{}", v[i]);
                    } else {
                        out.extend_from_slice(b"null");
                    }
                }
                Values::Dec(v, scale) => {
                    let at = decimal::text_into(v[i], *scale, &mut dec);
                    out.push(b'"');
                    out.extend_from_slice(&dec[at..]);
                    out.push(b'"');
                }
                Values::Str(a) => {
                    let s = a.value(i);
                    // Text with nothing to escape (symbols, ids) as it is.
                    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
                        out.push(b'"');
                        out.extend_from_slice(s.as_bytes());
                        out.push(b'"');
                    } else {
                        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail")
                    }
                }
                Values::Bool(b) => {
                    out.extend_from_slice(if b.value(i) { b"true" } else { b"false" })
                }
                Values::Ts(v, last) => {
                    let ms = v[i];
                    let t = match last {
                        Some((at, t)) if *at == ms => Some(*t),
                        _ => timestamp_text(ms),
                    };
                    out.push(b'"');
                    match t {
                        Some(t) => {
                            *last = Some((ms, t));
                            out.extend_from_slice(&t);
                        }
                        None => {
                            text.clear();
                            write_timestamp(&mut text, ms);
                            out.extend_from_slice(text.as_bytes());
                        }
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn strings_come_back_from_the_json_as_they_went_in() {
        let texts = [
            "AAPL",
            "",
            "say \"hi\"",
            "back\\slash",
            "tab\there",
            "line\nbreak",
            "\u{1}",
            "é→✓",
            "a/b",
        ];
        let batch = RecordBatch::try_from_iter([(
            "s",
            Arc::new(arrow_array::StringArray::from(texts.to_vec())) as arrow_array::ArrayRef,
        )])
        .unwrap();
        let mut out = Vec::new();
        write_jsonl(&batch, &mut out);
        let got: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["s"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(got, texts);
    }
}
