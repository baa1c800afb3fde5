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

mod csv_rows;
mod number;
pub use csv_rows::write_csv_rows;
use number::{put_i64, Decimals};

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
    Dec(&'a [i128], Decimals),
    Str(&'a arrow_array::StringArray),
    Bool(&'a arrow_array::BooleanArray),
    /// With the last time written and its quoted text (window bounds repeat).
    Ts(&'a [i64], Option<(i64, Piece)>),
}

/// One output column: its key (with the separator before it and the colon
/// after), typed values and NULLs.
struct OutColumn<'a> {
    key: Key,
    values: Values<'a>,
    nulls: Option<&'a arrow_buffer::NullBuffer>,
}

/// A column's key text: one fixed-size copy when it is short enough.
enum Key {
    Short(Piece),
    Long(Vec<u8>),
}

impl Key {
    fn new(text: Vec<u8>) -> Key {
        Piece::new(&text).map_or(Key::Long(text), Key::Short)
    }

    /// Appends the key; false when it took the general path, which
    /// grows `out` as needed but may leave less spare capacity than before.
    ///
    /// # Safety
    /// `out` must have at least 32 bytes of spare capacity.
    #[inline(always)]
    unsafe fn put(&self, out: &mut Vec<u8>) -> bool {
        match self {
            // SAFETY: the caller's room.
            Key::Short(p) => unsafe { p.put(out) },
            Key::Long(text) => {
                out.extend_from_slice(text);
                return false;
            }
        }
        true
    }
}

/// Up to [`Piece::MAX`] bytes held in a fixed array, so appending them is one
/// fixed-size copy instead of a call to `memcpy` with a length.
#[derive(Clone, Copy)]
struct Piece {
    bytes: [u8; 32],
    len: usize,
}

impl Piece {
    const MAX: usize = 32;

    fn new(text: &[u8]) -> Option<Piece> {
        let mut bytes = [0u8; Self::MAX];
        bytes.get_mut(..text.len())?.copy_from_slice(text);
        Some(Piece {
            bytes,
            len: text.len(),
        })
    }

    /// # Safety
    /// `out` must have at least 32 bytes of spare capacity.
    #[inline(always)]
    unsafe fn put(&self, out: &mut Vec<u8>) {
        // SAFETY: the caller's room.
        unsafe { put_fixed(out, &self.bytes, self.len) };
    }
}

/// Appends `src[..len]` (`len <= 32`) by copying all 32 bytes into spare
/// capacity and counting only `len` of them.
///
/// # Safety
/// `out` must have at least 32 bytes of spare capacity.
#[inline(always)]
unsafe fn put_fixed(out: &mut Vec<u8>, src: &[u8; 32], len: usize) {
    debug_assert!(len <= 32 && out.capacity() - out.len() >= 32);
    let at = out.len();
    // SAFETY: the caller left at least 32 bytes of capacity after `at`, so
    // the copy stays inside the allocation; `src` is 32 readable bytes and
    // cannot overlap `out`'s buffer (it is borrowed separately). The first
    // `len` bytes copied are initialised before `set_len` covers them; the
    // rest stay spare capacity.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), out.as_mut_ptr().add(at), 32);
        out.set_len(at + len.min(32));
    }
}

/// Appends `text`.
///
/// # Safety
/// `out` must have at least `text.len()` bytes of spare capacity.
#[inline(always)]
unsafe fn put_small(out: &mut Vec<u8>, text: &[u8]) {
    debug_assert!(out.capacity() - out.len() >= text.len());
    let at = out.len();
    // SAFETY: the caller's room; `text` is borrowed apart from `out`.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), out.as_mut_ptr().add(at), text.len());
        out.set_len(at + text.len());
    }
}

/// Spare capacity one column's fast writes may touch: its key (a 32-byte
/// copy) and a value of at most 32 bytes stored (a number with the bytes a
/// digit store reaches past it, a time's 32-byte copy, `false`, `null`).
const COLUMN_ROOM: usize = 64;
const _: () = assert!(COLUMN_ROOM >= 32 + number::I64_ROOM);
const _: () = assert!(COLUMN_ROOM >= 32 + number::DEC_ROOM);

/// Appends one JSON object per row of `batch` to `out`.
///
/// Each column is typed once per batch and its key written with the
/// separator before it as one piece; numbers are written without the
/// formatting machinery, their digits stored straight into `out`, and keys
/// and times ([`crate::value::timestamp_text`]) go out as fixed-size copies.
pub fn write_jsonl(batch: &RecordBatch, out: &mut Vec<u8>) {
    let schema = batch.schema();
    let types = types_of(batch);
    let mut cols: Vec<OutColumn<'_>> = batch
        .columns()
        .iter()
        .zip(&types)
        .zip(schema.fields())
        .enumerate()
        .map(|(c, ((col, ty), field))| {
            let mut key = vec![if c == 0 { b'{' } else { b',' }];
            serde_json::to_writer(&mut key, field.name()).expect("string keys serialise");
            key.push(b':');
            let values = match ty {
                SqlType::BigInt => Values::I64(col.as_primitive::<Int64Type>().values()),
                SqlType::Double => Values::F64(col.as_primitive::<Float64Type>().values()),
                SqlType::Decimal { scale, .. } => Values::Dec(
                    col.as_primitive::<Decimal128Type>().values(),
                    Decimals::new(*scale),
                ),
                SqlType::Varchar => Values::Str(col.as_string::<i32>()),
                SqlType::Boolean => Values::Bool(col.as_boolean()),
                SqlType::Timestamp => Values::Ts(
                    col.as_primitive::<TimestampMillisecondType>().values(),
                    None,
                ),
            };
            OutColumn {
                key: Key::new(key),
                values,
                nulls: col.nulls(),
            }
        })
        .collect();
    let mut text = String::new();
    // Each row starts with room for every column's fast writes and its end;
    // a write that takes a general path (which may grow `out` and use up
    // its spare capacity) reserves that room again after itself, so the
    // room left always covers the rest of the row's fast writes.
    let row_room = COLUMN_ROOM * cols.len() + 3;
    for i in 0..batch.num_rows() {
        out.reserve(row_room);
        // SAFETY (every unsafe call in the row): the room reasoning above.
        if cols.is_empty() {
            unsafe { put_small(out, b"{") };
        }
        for OutColumn { key, values, nulls } in cols.iter_mut() {
            if !unsafe { key.put(out) } {
                out.reserve(row_room);
            }
            if nulls.is_some_and(|n| n.is_null(i)) {
                unsafe { put_small(out, b"null") };
                continue;
            }
            match values {
                Values::I64(v) => unsafe { put_i64(out, v[i]) },
                Values::F64(v) => {
                    if v[i].is_finite() {
                        let _ = write!(out, "{}", v[i]);
                    } else {
                        out.extend_from_slice(b"null");
                    }
                    out.reserve(row_room);
                }
                Values::Dec(v, dec) => {
                    if !unsafe { dec.put::<true>(out, v[i]) } {
                        dec.put_wide(out, v[i], true);
                        out.reserve(row_room);
                    }
                }
                Values::Str(a) => {
                    let s = a.value(i);
                    // Text with nothing to escape (symbols, ids) as it is.
                    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
                        out.reserve(s.len() + 2 + row_room);
                        unsafe {
                            put_small(out, b"\"");
                            put_small(out, s.as_bytes());
                            put_small(out, b"\"");
                        }
                    } else {
                        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
                        out.reserve(row_room);
                    }
                }
                Values::Bool(b) => unsafe {
                    put_small(out, if b.value(i) { b"true" } else { b"false" })
                },
                Values::Ts(v, last) => {
                    let ms = v[i];
                    match last {
                        Some((at, t)) if *at == ms => unsafe { t.put(out) },
                        _ => match timestamp_text(ms) {
                            Some(t) => {
                                let mut q = [b'"'; 26];
                                q[1..25].copy_from_slice(&t);
                                let t = Piece::new(&q).expect("26 bytes");
                                unsafe { t.put(out) };
                                *last = Some((ms, t));
                            }
                            None => {
                                text.clear();
                                write_timestamp(&mut text, ms);
                                out.push(b'"');
                                out.extend_from_slice(text.as_bytes());
                                out.push(b'"');
                                out.reserve(row_room);
                            }
                        },
                    }
                }
            }
        }
        unsafe { put_small(out, b"}\n") };
    }
}

/// A CSV writer that emits the header before the first row.
pub struct CsvWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    header_written: bool,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(w: W) -> Self {
        CsvWriter {
            inner: w,
            buf: Vec::new(),
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
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            w.write_record(names)?;
            let header = w
                .into_inner()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            self.inner.write_all(&header)?;
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
        self.buf.clear();
        write_csv_rows(batch, &mut self.buf);
        self.inner.write_all(&self.buf)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;
