//! Rows parsed straight into typed columns: what every reader fills.
//!
//! Contract: a reader appends one value to each column of a row, in schema
//! order, then [`TypedRows::commit`]s the row; a row it cannot finish (a
//! malformed one) is [`TypedRows::rollback`]ed, which drops whatever part of
//! it was appended. Every [`TypedRows::new`]`(.., batch_size)` committed
//! rows make a batch whose columns are Arrow arrays of their SQL types
//! (those left unread all NULL), the batch Arrow's builders make of the
//! same rows (the tests compare the two). No value goes through a row of
//! [`Scalar`]s or a builder per value type: numbers go to a vector of
//! their native type (the CSV readers hand them over as such, the JSON
//! lines reader as one [`Scalar`] each), text to one byte buffer and its
//! offsets.

use std::sync::Arc;

use arrow_array::{
    new_null_array, ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampMillisecondArray,
};
use arrow_buffer::{BooleanBufferBuilder, NullBufferBuilder, OffsetBuffer, ScalarBuffer};

use crate::types::{arrow_schema, Column, SqlType};
use crate::value::Scalar;

/// Committed rows, column by column, and the row being appended.
pub(crate) struct TypedRows {
    columns: Vec<Column>,
    cols: Vec<Built>,
    read: Vec<bool>,
    /// Rows committed since the last batch.
    rows: usize,
    batch_size: usize,
}

/// One column's values so far.
pub(crate) enum Built {
    /// A column the query does not read: NULL in every row.
    Unread,
    /// BIGINT or TIMESTAMP (milliseconds).
    Int(Vec<i64>, NullBufferBuilder),
    Double(Vec<f64>, NullBufferBuilder),
    Decimal(Vec<i128>, NullBufferBuilder),
    /// VARCHAR: each value's end in the bytes (the first offset is 0).
    Text(Vec<i32>, Vec<u8>, NullBufferBuilder),
    Bool(BooleanBufferBuilder, NullBufferBuilder),
}

impl Built {
    fn new(ty: SqlType, capacity: usize) -> Self {
        let nulls = NullBufferBuilder::new(capacity);
        match ty {
            SqlType::BigInt | SqlType::Timestamp => Built::Int(Vec::with_capacity(capacity), nulls),
            SqlType::Double => Built::Double(Vec::with_capacity(capacity), nulls),
            SqlType::Decimal { .. } => Built::Decimal(Vec::with_capacity(capacity), nulls),
            SqlType::Varchar => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                Built::Text(offsets, Vec::with_capacity(capacity * 8), nulls)
            }
            SqlType::Boolean => Built::Bool(BooleanBufferBuilder::new(capacity), nulls),
        }
    }

    /// Appends NULL.
    #[inline]
    pub(crate) fn push_null(&mut self) {
        match self {
            Built::Unread => {}
            Built::Int(v, n) => {
                v.push(0);
                n.append_null();
            }
            Built::Double(v, n) => {
                v.push(0.0);
                n.append_null();
            }
            Built::Decimal(v, n) => {
                v.push(0);
                n.append_null();
            }
            Built::Text(o, d, n) => {
                o.push(d.len() as i32);
                n.append_null();
            }
            Built::Bool(v, n) => {
                v.append(false);
                n.append_null();
            }
        }
    }

    /// Appends the text of a VARCHAR column.
    #[inline]
    pub(crate) fn push_text(&mut self, s: &str) {
        match self {
            Built::Text(o, d, n) => {
                d.extend_from_slice(s.as_bytes());
                let end = i32::try_from(d.len()).expect("a batch's text under 2 GiB");
                o.push(end);
                n.append_non_null();
            }
            _ => panic!("text for a column that is not VARCHAR"),
        }
    }

    /// Appends a BIGINT's or TIMESTAMP's value.
    #[inline(always)]
    pub(crate) fn push_i64(&mut self, x: i64) {
        match self {
            Built::Int(v, n) => {
                v.push(x);
                n.append_non_null();
            }
            _ => panic!("an integer for a column that is not BIGINT or TIMESTAMP"),
        }
    }

    /// Appends a DECIMAL's scaled integer.
    #[inline(always)]
    pub(crate) fn push_i128(&mut self, x: i128) {
        match self {
            Built::Decimal(v, n) => {
                v.push(x);
                n.append_non_null();
            }
            _ => panic!("a scaled integer for a column that is not DECIMAL"),
        }
    }

    /// Appends `v`, NULL or a value of the column's type.
    #[inline]
    pub(crate) fn push(&mut self, v: Scalar) {
        match (self, v) {
            (b, Scalar::Null) => b.push_null(),
            (b @ Built::Text(..), Scalar::Varchar(s)) => b.push_text(&s),
            (Built::Int(b, n), Scalar::BigInt(x) | Scalar::Timestamp(x)) => {
                b.push(x);
                n.append_non_null();
            }
            (Built::Double(b, n), Scalar::Double(x)) => {
                b.push(x);
                n.append_non_null();
            }
            (Built::Decimal(b, n), Scalar::Decimal(x, _)) => {
                b.push(x);
                n.append_non_null();
            }
            (Built::Bool(b, n), Scalar::Boolean(x)) => {
                b.append(x);
                n.append_non_null();
            }
            (_, v) => panic!("value {v:?} does not match the column type"),
        }
    }

    /// Drops every value past the first `rows`.
    fn truncate(&mut self, rows: usize) {
        match self {
            Built::Unread => {}
            Built::Int(v, n) => {
                v.truncate(rows);
                n.truncate(rows);
            }
            Built::Double(v, n) => {
                v.truncate(rows);
                n.truncate(rows);
            }
            Built::Decimal(v, n) => {
                v.truncate(rows);
                n.truncate(rows);
            }
            Built::Text(o, d, n) => {
                o.truncate(rows + 1);
                d.truncate(o[rows] as usize);
                n.truncate(rows);
            }
            Built::Bool(v, n) => {
                v.truncate(rows);
                n.truncate(rows);
            }
        }
    }

    /// The column as an Arrow array of type `ty`, `rows` long.
    fn finish(self, ty: SqlType, rows: usize) -> ArrayRef {
        match self {
            Built::Unread => new_null_array(&ty.to_arrow(), rows),
            Built::Int(v, mut n) if ty == SqlType::Timestamp => Arc::new(
                TimestampMillisecondArray::new(ScalarBuffer::from(v), n.finish()),
            ),
            Built::Int(v, mut n) => Arc::new(Int64Array::new(ScalarBuffer::from(v), n.finish())),
            Built::Double(v, mut n) => {
                Arc::new(Float64Array::new(ScalarBuffer::from(v), n.finish()))
            }
            Built::Decimal(v, mut n) => {
                let SqlType::Decimal { precision, scale } = ty else {
                    unreachable!("a DECIMAL column's values")
                };
                Arc::new(
                    Decimal128Array::new(ScalarBuffer::from(v), n.finish())
                        .with_precision_and_scale(precision, scale as i8)
                        .expect("valid decimal type"),
                )
            }
            Built::Text(o, d, mut n) => {
                let offsets = OffsetBuffer::new(ScalarBuffer::from(o));
                // SAFETY: the offsets start at 0 and each is the end of the
                // bytes after a value was appended, so they ascend and end
                // at the bytes' length; each value was appended from a
                // `&str`, so every range between offsets is UTF-8.
                Arc::new(unsafe { StringArray::new_unchecked(offsets, d.into(), n.finish()) })
            }
            Built::Bool(mut v, mut n) => Arc::new(BooleanArray::new(v.finish(), n.finish())),
        }
    }
}

impl TypedRows {
    pub(crate) fn new(columns: &[Column], batch_size: usize) -> Self {
        let mut t = TypedRows {
            columns: columns.to_vec(),
            cols: Vec::new(),
            read: vec![true; columns.len()],
            rows: 0,
            batch_size: batch_size.max(1),
        };
        t.reset();
        t
    }

    /// Builds only the columns `read` marks (see
    /// [`super::Batches::read_only`]); the others take no values.
    pub(crate) fn read_only(&mut self, read: &[bool]) {
        debug_assert_eq!(self.rows, 0, "set before the first row");
        self.read = read.to_vec();
        self.reset();
    }

    fn reset(&mut self) {
        self.cols = self
            .columns
            .iter()
            .zip(&self.read)
            .map(|(c, &read)| match read {
                true => Built::new(c.ty, self.batch_size),
                false => Built::Unread,
            })
            .collect();
        self.rows = 0;
    }

    /// The column the row's next value goes to: schema column `k`.
    #[inline]
    pub(crate) fn column(&mut self, k: usize) -> &mut Built {
        &mut self.cols[k]
    }

    /// Ends the row being appended; a batch when one is full.
    pub(crate) fn commit(&mut self) -> Option<RecordBatch> {
        self.rows += 1;
        (self.rows >= self.batch_size).then(|| self.take())
    }

    /// Drops what was appended of the row since the last commit.
    pub(crate) fn rollback(&mut self) {
        let rows = self.rows;
        self.cols.iter_mut().for_each(|c| c.truncate(rows));
    }

    /// The rows committed so far, if any.
    pub(crate) fn flush(&mut self) -> Option<RecordBatch> {
        (self.rows > 0).then(|| self.take())
    }

    fn take(&mut self) -> RecordBatch {
        let cols = std::mem::take(&mut self.cols);
        let rows = self.rows;
        let arrays = cols
            .into_iter()
            .zip(&self.columns)
            .map(|(b, c)| b.finish(c.ty, rows))
            .collect();
        let batch =
            RecordBatch::try_new(arrow_schema(&self.columns), arrays).expect("typed columns");
        self.reset();
        batch
    }
}

#[cfg(test)]
mod tests;
