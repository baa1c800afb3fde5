//! Row access to typed columns: read one value as a [`Scalar`], and build a
//! column from values. For edges (readers, casts, tests), not hot loops.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};

use crate::types::SqlType;
use crate::value::Scalar;

/// The value at row `i` of column `a` (of SQL type `ty`).
pub fn scalar_at(a: &dyn Array, ty: SqlType, i: usize) -> Scalar {
    if a.is_null(i) {
        return Scalar::Null;
    }
    match ty {
        SqlType::BigInt => Scalar::BigInt(a.as_primitive::<Int64Type>().value(i)),
        SqlType::Double => Scalar::Double(a.as_primitive::<Float64Type>().value(i)),
        SqlType::Decimal { scale, .. } => {
            Scalar::Decimal(a.as_primitive::<Decimal128Type>().value(i), scale)
        }
        SqlType::Varchar => Scalar::Varchar(a.as_string::<i32>().value(i).to_string()),
        SqlType::Boolean => Scalar::Boolean(a.as_boolean().value(i)),
        SqlType::Timestamp => {
            Scalar::Timestamp(a.as_primitive::<TimestampMillisecondType>().value(i))
        }
    }
}

/// Builds one column of a fixed SQL type, value by value.
pub enum ColumnBuilder {
    BigInt(Int64Builder),
    Double(Float64Builder),
    Decimal(Decimal128Builder, u8, u8),
    Varchar(StringBuilder),
    Boolean(BooleanBuilder),
    Timestamp(TimestampMillisecondBuilder),
}

impl ColumnBuilder {
    pub fn new(ty: SqlType, capacity: usize) -> Self {
        match ty {
            SqlType::BigInt => ColumnBuilder::BigInt(Int64Builder::with_capacity(capacity)),
            SqlType::Double => ColumnBuilder::Double(Float64Builder::with_capacity(capacity)),
            SqlType::Decimal { precision, scale } => {
                ColumnBuilder::Decimal(Decimal128Builder::with_capacity(capacity), precision, scale)
            }
            SqlType::Varchar => {
                ColumnBuilder::Varchar(StringBuilder::with_capacity(capacity, capacity * 8))
            }
            SqlType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            SqlType::Timestamp => {
                ColumnBuilder::Timestamp(TimestampMillisecondBuilder::with_capacity(capacity))
            }
        }
    }

    pub fn push_null(&mut self) {
        match self {
            ColumnBuilder::BigInt(b) => b.append_null(),
            ColumnBuilder::Double(b) => b.append_null(),
            ColumnBuilder::Decimal(b, ..) => b.append_null(),
            ColumnBuilder::Varchar(b) => b.append_null(),
            ColumnBuilder::Boolean(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
        }
    }

    /// Appends `v`, which must be NULL or of this column's type.
    pub fn push(&mut self, v: &Scalar) {
        match (self, v) {
            (b, Scalar::Null) => b.push_null(),
            (ColumnBuilder::BigInt(b), Scalar::BigInt(x)) => b.append_value(*x),
            (ColumnBuilder::Double(b), Scalar::Double(x)) => b.append_value(*x),
            (ColumnBuilder::Decimal(b, _, s), Scalar::Decimal(x, xs)) => {
                debug_assert_eq!(s, xs);
                b.append_value(*x)
            }
            (ColumnBuilder::Varchar(b), Scalar::Varchar(x)) => b.append_value(x),
            (ColumnBuilder::Boolean(b), Scalar::Boolean(x)) => b.append_value(*x),
            (ColumnBuilder::Timestamp(b), Scalar::Timestamp(x)) => b.append_value(*x),
            (_, v) => panic!("value {v:?} does not match the column type"),
        }
    }

    pub fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::BigInt(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Double(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(mut b, p, s) => Arc::new(
                b.finish()
                    .with_precision_and_scale(p, s as i8)
                    .expect("valid decimal type"),
            ),
            ColumnBuilder::Varchar(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Boolean(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(mut b) => Arc::new(b.finish()),
        }
    }
}
