//! Column kernels: arithmetic, comparison, boolean logic, negation.
//!
//! Each kernel works on typed slices (or a broadcast literal) in one loop per
//! operation; the null mask is the union of the inputs' masks. Overflow and
//! division by zero are errors only on rows that are not NULL.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    new_null_array, Array, ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array,
    StringArray, TimestampMillisecondArray,
};
use arrow_buffer::NullBuffer;

use super::{ArithOp, Operand};
use crate::decimal;
use crate::error::{Error, Result};
use crate::types::SqlType;
use crate::value::Scalar;

mod compare;
mod exact_cmp;
pub(crate) use compare::{and_kleene, compare, or_kleene};

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

/// Most decimal digits a value of exact type `t` can have.
fn max_digits(t: SqlType) -> Option<u32> {
    match t {
        SqlType::Decimal { precision, .. } => Some(precision as u32),
        // |i64| < 2^63 < 10^19.
        SqlType::BigInt => Some(19),
        SqlType::Boolean => Some(1),
        _ => None,
    }
}

/// Runs `f` on every row, turning `None` into an error on non-NULL rows.
fn checked_loop<T: Default>(
    n: usize,
    nulls: Option<&NullBuffer>,
    text: &str,
    what: &str,
    mut f: impl FnMut(usize) -> Option<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        match f(i) {
            Some(v) => out.push(v),
            None if nulls.is_some_and(|nb| nb.is_null(i)) => out.push(T::default()),
            None => return Err(Error::eval(text, what)),
        }
    }
    Ok(out)
}

/// Division by zero on any non-NULL row is an error naming the expression.
fn check_divisors<T: Copy + PartialEq + Default>(
    b: &Lane<'_, T>,
    n: usize,
    nulls: Option<&NullBuffer>,
    text: &str,
) -> Result<()> {
    if (0..n).any(|i| b.get(i) == T::default() && !nulls.is_some_and(|x| x.is_null(i))) {
        return Err(Error::eval(text, "division by zero"));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn arith(
    op: ArithOp,
    l: &Operand,
    lty: SqlType,
    r: &Operand,
    rty: SqlType,
    out: SqlType,
    n: usize,
    text: &str,
) -> Result<ArrayRef> {
    if is_null_literal(l) || is_null_literal(r) {
        return Ok(new_null_array(&out.to_arrow(), n));
    }
    let nulls = NullBuffer::union(nulls_of(l), nulls_of(r));
    let nb = nulls.as_ref();
    match out {
        SqlType::Double => {
            let a = float_lane(l, lty);
            let b = float_lane(r, rty);
            let v: Vec<f64> = match op {
                ArithOp::Add => (0..n).map(|i| a.get(i) + b.get(i)).collect(),
                ArithOp::Sub => (0..n).map(|i| a.get(i) - b.get(i)).collect(),
                ArithOp::Mul => (0..n).map(|i| a.get(i) * b.get(i)).collect(),
                ArithOp::Div => checked_loop(n, nb, text, "division by zero", |i| {
                    let d = b.get(i);
                    (d != 0.0).then(|| a.get(i) / d)
                })?,
                ArithOp::Mod => checked_loop(n, nb, text, "division by zero", |i| {
                    let d = b.get(i);
                    (d != 0.0).then(|| a.get(i) % d)
                })?,
            };
            Ok(Arc::new(Float64Array::new(v.into(), nulls)))
        }
        SqlType::BigInt => {
            let a = i64_lane(l);
            let b = i64_lane(r);
            let ovf = "BIGINT overflow";
            let v = match op {
                ArithOp::Add => checked_loop(n, nb, text, ovf, |i| a.get(i).checked_add(b.get(i)))?,
                ArithOp::Sub => checked_loop(n, nb, text, ovf, |i| a.get(i).checked_sub(b.get(i)))?,
                ArithOp::Mul => checked_loop(n, nb, text, ovf, |i| a.get(i).checked_mul(b.get(i)))?,
                ArithOp::Div | ArithOp::Mod => {
                    check_divisors(&b, n, nb, text)?;
                    let div = op == ArithOp::Div;
                    checked_loop(n, nb, text, ovf, |i| {
                        let d = b.get(i);
                        if d == 0 {
                            return Some(0);
                        }
                        if div {
                            a.get(i).checked_div(d)
                        } else {
                            a.get(i).checked_rem(d)
                        }
                    })?
                }
            };
            Ok(Arc::new(Int64Array::new(v.into(), nulls)))
        }
        SqlType::Decimal { precision, scale } => {
            let ls = lty.exact_scale().expect("exact");
            let rs = rty.exact_scale().expect("exact");
            let ovf = format!("result does not fit DECIMAL({precision},{scale})");
            let fit = |v: Option<i128>| v.filter(|x| decimal::fits(*x, precision));
            let v = match op {
                ArithOp::Add | ArithOp::Sub => {
                    let a = exact_lane(l, lty, scale, text)?;
                    let b = exact_lane(r, rty, scale, text)?;
                    if op == ArithOp::Add {
                        checked_loop(n, nb, text, &ovf, |i| fit(a.get(i).checked_add(b.get(i))))?
                    } else {
                        checked_loop(n, nb, text, &ovf, |i| fit(a.get(i).checked_sub(b.get(i))))?
                    }
                }
                ArithOp::Mul => {
                    // Scales add: (a/10^ls)(b/10^rs) = ab/10^(ls+rs); the planner set scale = ls+rs.
                    // |a| < 10^p and |b| < 10^q, so |ab| < 10^(p+q): when that fits
                    // the result, no row can overflow and the loop needs no checks.
                    // (Wrapping only matters on NULL rows, whose values are unused.)
                    let unchecked = matches!(
                        (max_digits(lty), max_digits(rty)),
                        (Some(p), Some(q)) if p + q <= precision as u32
                    );
                    match unchecked.then(|| decimal_times_bigint(l, r)).flatten() {
                        Some(v) => v,
                        None => {
                            let a = exact_lane(l, lty, ls, text)?;
                            let b = exact_lane(r, rty, rs, text)?;
                            if unchecked {
                                (0..n).map(|i| a.get(i).wrapping_mul(b.get(i))).collect()
                            } else {
                                checked_loop(n, nb, text, &ovf, |i| {
                                    fit(a.get(i).checked_mul(b.get(i)))
                                })?
                            }
                        }
                    }
                }
                ArithOp::Div => {
                    let a = exact_lane(l, lty, ls, text)?;
                    let b = exact_lane(r, rty, rs, text)?;
                    check_divisors(&b, n, nb, text)?;
                    checked_loop(n, nb, text, &ovf, |i| {
                        let d = b.get(i);
                        if d == 0 {
                            return Some(0);
                        }
                        fit(decimal::div_scaled(a.get(i), ls, d, rs, scale))
                    })?
                }
                ArithOp::Mod => {
                    // Both sides at the result scale: the remainder is then exact.
                    let a = exact_lane(l, lty, scale, text)?;
                    let b = exact_lane(r, rty, scale, text)?;
                    check_divisors(&b, n, nb, text)?;
                    checked_loop(n, nb, text, &ovf, |i| {
                        let d = b.get(i);
                        if d == 0 {
                            return Some(0);
                        }
                        a.get(i).checked_rem(d)
                    })?
                }
            };
            Ok(Arc::new(
                Decimal128Array::new(v.into(), nulls)
                    .with_precision_and_scale(precision, scale as i8)
                    .expect("valid decimal type"),
            ))
        }
        t => Err(Error::eval(
            text,
            format!("arithmetic on {t} is not supported"),
        )),
    }
}

/// A DECIMAL column times a BIGINT column (either side), as the unscaled
/// products — the result's scale is the decimal's, so no value is rescaled —
/// in one zip loop over the two value buffers; `None` for other operands.
/// Only called where no row's product can overflow.
fn decimal_times_bigint(l: &Operand, r: &Operand) -> Option<Vec<i128>> {
    let (Operand::Array(a), Operand::Array(b)) = (l, r) else {
        return None;
    };
    let pair = |d: &ArrayRef, i: &ArrayRef| {
        Some((
            d.as_primitive_opt::<Decimal128Type>()?.values().clone(),
            i.as_primitive_opt::<Int64Type>()?.values().clone(),
        ))
    };
    let (d, i) = pair(a, b).or_else(|| pair(b, a))?;
    Some(
        d.iter()
            .zip(i.iter())
            .map(|(x, y)| x.wrapping_mul(*y as i128))
            .collect(),
    )
}

pub(crate) fn negate(a: &ArrayRef, ty: SqlType, text: &str) -> Result<ArrayRef> {
    let nulls = a.nulls().cloned();
    let nb = nulls.as_ref();
    match ty {
        SqlType::BigInt => {
            let p = a.as_primitive::<Int64Type>();
            let v = checked_loop(p.len(), nb, text, "BIGINT overflow", |i| {
                p.value(i).checked_neg()
            })?;
            Ok(Arc::new(Int64Array::new(v.into(), nulls)))
        }
        SqlType::Double => {
            let p = a.as_primitive::<Float64Type>();
            Ok(Arc::new(Float64Array::new(
                p.values().iter().map(|v| -v).collect(),
                nulls,
            )))
        }
        SqlType::Decimal { precision, scale } => {
            let p = a.as_primitive::<Decimal128Type>();
            Ok(Arc::new(
                Decimal128Array::new(p.values().iter().map(|v| -v).collect(), nulls)
                    .with_precision_and_scale(precision, scale as i8)
                    .expect("valid decimal type"),
            ))
        }
        t => Err(Error::eval(text, format!("cannot negate {t}"))),
    }
}

#[cfg(test)]
mod tests;
