//! Column kernels: arithmetic, comparison, boolean logic, negation.
//!
//! Each kernel works on typed slices (or a broadcast literal) in one loop per
//! operation; the null mask is the union of the inputs' masks. Overflow and
//! division by zero are errors only on rows that are not NULL.
//!
//! Layout: this module holds the operands' lanes (a column or a literal, as
//! the typed values a kernel reads); [`mod@arith`] the arithmetic and negation;
//! [`mod@compare`] the comparisons and boolean logic, with [`exact_cmp`] for a
//! DECIMAL column against a literal; [`narrow`] a DECIMAL times BIGINT
//! column's products in 64 bits, for SUM and AVG.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    new_null_array, Array, ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array,
    StringArray, TimestampMillisecondArray,
};
use arrow_buffer::{NullBuffer, ScalarBuffer};

use super::Operand;
use crate::decimal;
use crate::error::{Error, Result};
use crate::types::SqlType;
use crate::value::Scalar;

mod arith;
mod compare;
mod exact_cmp;
mod narrow;
pub(crate) use arith::{arith, negate};
pub(crate) use compare::{and_kleene, compare, or_kleene};
pub(crate) use narrow::narrow_product;

/// A column of `T`, or one value standing for every row.
pub(crate) enum Lane<'a, T> {
    Slice(&'a [T]),
    Owned(Vec<T>),
    Const(T),
}

impl<T: Copy> Lane<'_, T> {
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> T {
        match self {
            Lane::Slice(s) => s[i],
            Lane::Owned(v) => v[i],
            Lane::Const(c) => *c,
        }
    }

    /// The first `n` values as a slice, or the one value of a literal.
    fn view(&self, n: usize) -> View<'_, T> {
        match self {
            Lane::Slice(s) => View::Rows(&s[..n]),
            Lane::Owned(v) => View::Rows(&v[..n]),
            Lane::Const(c) => View::One(*c),
        }
    }
}

/// A [`Lane`] without the owned case: what a kernel's loop reads.
enum View<'a, T> {
    Rows(&'a [T]),
    One(T),
}

/// Materialises a literal as a column of `n` equal values.
pub fn scalar_to_array(value: &Scalar, ty: SqlType, n: usize) -> ArrayRef {
    match (value, ty) {
        (Scalar::Null, _) => new_null_array(&ty.to_arrow(), n),
        (Scalar::BigInt(v), SqlType::BigInt) => Arc::new(Int64Array::from_value(*v, n)),
        (Scalar::Double(v), SqlType::Double) => Arc::new(Float64Array::from_value(*v, n)),
        (Scalar::Decimal(v, _), SqlType::Decimal { precision, scale }) => Arc::new(
            Decimal128Array::from_value(*v, n)
                .with_precision_and_scale(precision, scale as i8)
                .expect("valid decimal type"),
        ),
        (Scalar::Varchar(s), _) => {
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(s, n)))
        }
        (Scalar::Boolean(b), _) => Arc::new(BooleanArray::from(vec![*b; n])),
        (Scalar::Timestamp(v), _) => Arc::new(TimestampMillisecondArray::from_value(*v, n)),
        (v, t) => panic!("literal {v:?} does not match its type {t}"),
    }
}

fn nulls_of(op: &Operand) -> Option<&NullBuffer> {
    match op {
        Operand::Array(a) => a.nulls(),
        Operand::Scalar(_) => None,
    }
}

/// The value buffers of a DECIMAL column and a BIGINT column, whichever
/// side each is on; `None` for other operands (a literal among them).
fn decimal_and_bigint(l: &Operand, r: &Operand) -> Option<(ScalarBuffer<i128>, ScalarBuffer<i64>)> {
    let (Operand::Array(a), Operand::Array(b)) = (l, r) else {
        return None;
    };
    let pair = |d: &ArrayRef, i: &ArrayRef| {
        Some((
            d.as_primitive_opt::<Decimal128Type>()?.values().clone(),
            i.as_primitive_opt::<Int64Type>()?.values().clone(),
        ))
    };
    pair(a, b).or_else(|| pair(b, a))
}

fn is_null_literal(op: &Operand) -> bool {
    matches!(op, Operand::Scalar(Scalar::Null))
}

/// Exact numeric operand as `i128` values at scale `to`.
fn exact_lane<'a>(op: &'a Operand, ty: SqlType, to: u8, text: &str) -> Result<Lane<'a, i128>> {
    let from = ty.exact_scale().expect("exact numeric operand");
    let overflow = || {
        Error::eval(
            text,
            format!("value does not fit when rescaled to scale {to}"),
        )
    };
    match op {
        Operand::Scalar(Scalar::BigInt(v)) => Ok(Lane::Const(
            decimal::rescale(*v as i128, 0, to).ok_or_else(overflow)?,
        )),
        Operand::Scalar(Scalar::Decimal(v, s)) => Ok(Lane::Const(
            decimal::rescale(*v, *s, to).ok_or_else(overflow)?,
        )),
        Operand::Scalar(other) => panic!("non-exact literal {other:?} in exact arithmetic"),
        Operand::Array(a) => {
            if let Some(d) = a.as_primitive_opt::<Decimal128Type>() {
                if from == to {
                    return Ok(Lane::Slice(d.values()));
                }
                let f = decimal::p10(to - from);
                let v = d
                    .values()
                    .iter()
                    .map(|x| x.checked_mul(f).ok_or_else(overflow))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Lane::Owned(v))
            } else {
                let ints = a.as_primitive::<Int64Type>();
                let f = decimal::p10(to);
                Ok(Lane::Owned(
                    ints.values().iter().map(|x| *x as i128 * f).collect(),
                ))
            }
        }
    }
}

/// Any numeric operand as `f64`.
fn float_lane(op: &Operand, ty: SqlType) -> Lane<'_, f64> {
    match op {
        Operand::Scalar(Scalar::Double(v)) => Lane::Const(*v),
        Operand::Scalar(Scalar::BigInt(v)) => Lane::Const(*v as f64),
        Operand::Scalar(Scalar::Decimal(v, s)) => Lane::Const(*v as f64 / decimal::p10(*s) as f64),
        Operand::Scalar(other) => panic!("non-numeric literal {other:?} in float arithmetic"),
        Operand::Array(a) => match ty {
            SqlType::Double => Lane::Slice(a.as_primitive::<Float64Type>().values()),
            SqlType::BigInt => Lane::Owned(
                a.as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|v| *v as f64)
                    .collect(),
            ),
            SqlType::Decimal { scale, .. } => {
                let d = decimal::p10(scale) as f64;
                Lane::Owned(
                    a.as_primitive::<Decimal128Type>()
                        .values()
                        .iter()
                        .map(|v| *v as f64 / d)
                        .collect(),
                )
            }
            t => panic!("non-numeric column of type {t} in float arithmetic"),
        },
    }
}

fn i64_lane(op: &Operand) -> Lane<'_, i64> {
    match op {
        Operand::Scalar(Scalar::BigInt(v)) | Operand::Scalar(Scalar::Timestamp(v)) => {
            Lane::Const(*v)
        }
        Operand::Scalar(other) => panic!("literal {other:?} is not an integer"),
        Operand::Array(a) => match a.as_primitive_opt::<Int64Type>() {
            Some(p) => Lane::Slice(p.values()),
            None => Lane::Slice(a.as_primitive::<TimestampMillisecondType>().values()),
        },
    }
}

#[cfg(test)]
mod tests;
