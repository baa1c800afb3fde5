//! Arithmetic kernels: `+`, `-`, `*`, `/`, `%` over BIGINT, DOUBLE and exact
//! numbers (DECIMAL at a common scale), and unary minus.
//!
//! Contract: as the parent module states: one loop per operation over typed
//! slices or a broadcast literal; the null mask is the union of the inputs';
//! overflow and division by zero are errors (naming the expression) only on
//! rows that are not NULL. A product that cannot overflow (its operands'
//! digits say so) is computed unchecked.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type};
use arrow_array::{new_null_array, Array, ArrayRef, Decimal128Array, Float64Array, Int64Array};
use arrow_buffer::NullBuffer;

use super::super::{ArithOp, Operand};
use super::{
    decimal_and_bigint, exact_lane, float_lane, i64_lane, is_null_literal, nulls_of, Lane,
};
use crate::decimal;
use crate::error::{Error, Result};
use crate::types::SqlType;

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
    let (d, i) = decimal_and_bigint(l, r)?;
    if crate::decimal::fits_i64(&d) {
        // Both factors of 64 bits (the common DECIMAL(18) and less): one
        // widening multiply a row, where 128 by 128 bits takes three. The
        // product of two 64-bit values always fits 128 bits.
        return Some(
            d.iter()
                .zip(i.iter())
                .map(|(x, y)| (*x as i64 as i128) * (*y as i128))
                .collect(),
        );
    }
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
