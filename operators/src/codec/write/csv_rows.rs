//! CSV data rows written from typed columns.
//!
//! Contract: [`write_csv_rows`] appends exactly what the `csv` crate's
//! default writer (fields quoted only when they hold a comma, a quote, a
//! carriage return or a newline; quotes doubled; `\n` after each record)
//! writes for the rows' [`value_text`](super::value_text)s, NULL as an
//! empty field — byte for byte, without a `String` per value.

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};

use super::number::{put_i64, Decimals};
use super::{put_small, types_of, COLUMN_ROOM};
use crate::types::SqlType;
use crate::value::{timestamp_text, write_timestamp};

/// One column's values, typed once per batch.
enum Values<'a> {
    I64(&'a [i64]),
    F64(&'a [f64]),
    Dec(&'a [i128], Decimals),
    Str(&'a arrow_array::StringArray),
    Bool(&'a arrow_array::BooleanArray),
    Ts(&'a [i64]),
}

/// Whether a text field must be quoted: it holds a delimiter, a quote or a
/// line break.
fn needs_quotes(s: &[u8]) -> bool {
    s.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

/// Appends the batch's rows as CSV records (no header).
pub fn write_csv_rows(batch: &RecordBatch, out: &mut Vec<u8>) {
    let types = types_of(batch);
    let cols: Vec<(Values<'_>, Option<&arrow_buffer::NullBuffer>)> = batch
        .columns()
        .iter()
        .zip(&types)
        .map(|(col, ty)| {
            let values = match ty {
                SqlType::BigInt => Values::I64(col.as_primitive::<Int64Type>().values()),
                SqlType::Double => Values::F64(col.as_primitive::<Float64Type>().values()),
                SqlType::Decimal { scale, .. } => Values::Dec(
                    col.as_primitive::<Decimal128Type>().values(),
                    Decimals::new(*scale),
                ),
                SqlType::Varchar => Values::Str(col.as_string::<i32>()),
                SqlType::Boolean => Values::Bool(col.as_boolean()),
                SqlType::Timestamp => {
                    Values::Ts(col.as_primitive::<TimestampMillisecondType>().values())
                }
            };
            (values, col.nulls())
        })
        .collect();
    let mut text = String::new();
    // As in the JSON writer: room for every column's fast writes at the
    // row's start, reserved again after any write that takes a general
    // path.
    let row_room = COLUMN_ROOM * cols.len() + 3;
    for i in 0..batch.num_rows() {
        out.reserve(row_room);
        let start = out.len();
        // SAFETY (every unsafe call in the row): the room reasoning above.
        for (c, (values, nulls)) in cols.iter().enumerate() {
            if c > 0 {
                unsafe { put_small(out, b",") };
            }
            if nulls.is_some_and(|n| n.is_null(i)) {
                continue;
            }
            match values {
                Values::I64(v) => unsafe { put_i64(out, v[i]) },
                Values::F64(v) => {
                    use std::io::Write;
                    let _ = write!(out, "{}", v[i]);
                    out.reserve(row_room);
                }
                Values::Dec(v, dec) => {
                    if !unsafe { dec.put::<false>(out, v[i]) } {
                        dec.put_wide(out, v[i], false);
                        out.reserve(row_room);
                    }
                }
                Values::Str(a) => {
                    let s = a.value(i).as_bytes();
                    if needs_quotes(s) {
                        out.push(b'"');
                        for &b in s {
                            if b == b'"' {
                                out.push(b'"');
                            }
                            out.push(b);
                        }
                        out.push(b'"');
                        out.reserve(row_room);
                    } else {
                        out.reserve(s.len() + row_room);
                        unsafe { put_small(out, s) };
                    }
                }
                Values::Bool(b) => unsafe {
                    put_small(out, if b.value(i) { b"true" } else { b"false" })
                },
                Values::Ts(v) => match timestamp_text(v[i]) {
                    Some(t) => unsafe { put_small(out, &t) },
                    None => {
                        text.clear();
                        write_timestamp(&mut text, v[i]);
                        out.extend_from_slice(text.as_bytes());
                        out.reserve(row_room);
                    }
                },
            }
        }
        // A record of nothing at all (one empty field) is written as `""`,
        // or it would read back as no record.
        if out.len() == start {
            unsafe { put_small(out, b"\"\"") };
        }
        unsafe { put_small(out, b"\n") };
    }
}
