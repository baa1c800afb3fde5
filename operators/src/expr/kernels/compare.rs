//! Comparison and boolean kernels: `=`, `<>`, `<`, `<=`, `>`, `>=` over
//! numbers, times, strings and booleans (exact numbers compared at a common
//! scale), and AND / OR with SQL's three-valued logic.
//!
//! Contract: a row compares NULL when either side is NULL; `AND` is false
//! when either side is false, `OR` true when either side is true, NULL
//! otherwise when a side is NULL.

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, StringArray};
use arrow_buffer::{BooleanBuffer, NullBuffer};

use super::super::{CmpOp, Operand};
use super::exact_cmp::column_vs_literal;
use super::{exact_lane, float_lane, i64_lane, is_null_literal, nulls_of, Lane, View};
use crate::error::{Error, Result};
use crate::types::SqlType;
use crate::value::Scalar;

/// `a op b` for each of `n` rows, one loop per shape of the two lanes (a
/// column against a literal, the usual filter, reads one slice and no
/// `Lane` tag per row).
fn cmp_buf<T: Copy + PartialOrd>(op: CmpOp, a: &Lane<T>, b: &Lane<T>, n: usize) -> BooleanBuffer {
    match (a.view(n), b.view(n)) {
        (View::Rows(x), View::Rows(y)) => cmp_rows(op, n, |i| x[i], |i| y[i]),
        (View::Rows(x), View::One(c)) => cmp_rows(op, n, |i| x[i], |_| c),
        (View::One(c), View::Rows(y)) => cmp_rows(op, n, |_| c, |i| y[i]),
        (View::One(c), View::One(d)) => cmp_rows(op, n, |_| c, |_| d),
    }
}

#[inline(always)]
fn cmp_rows<T: PartialOrd>(
    op: CmpOp,
    n: usize,
    a: impl Fn(usize) -> T,
    b: impl Fn(usize) -> T,
) -> BooleanBuffer {
    match op {
        CmpOp::Eq => collect_bits(n, |i| a(i) == b(i)),
        CmpOp::NotEq => collect_bits(n, |i| a(i) != b(i)),
        CmpOp::Lt => collect_bits(n, |i| a(i) < b(i)),
        CmpOp::LtEq => collect_bits(n, |i| a(i) <= b(i)),
        CmpOp::Gt => collect_bits(n, |i| a(i) > b(i)),
        CmpOp::GtEq => collect_bits(n, |i| a(i) >= b(i)),
    }
}

/// `f(i)` for each of `n` rows as bits, 64 to a word: each word's bits
/// are OR-ed together in a fixed-length loop the compiler unrolls, written
/// by index into the words' spare capacity (Arrow's `collect_bool` extends
/// a vector word by word, with a length check and store per word).
#[inline(always)]
pub(super) fn collect_bits(n: usize, f: impl Fn(usize) -> bool) -> BooleanBuffer {
    let (full, rest) = (n / 64, n % 64);
    let mut words: Vec<u64> = Vec::with_capacity(n.div_ceil(64));
    let out = &mut words.spare_capacity_mut()[..n.div_ceil(64)];
    for (w, slot) in out[..full].iter_mut().enumerate() {
        let base = w * 64;
        let mut bits = 0u64;
        for b in 0..64 {
            bits |= (f(base + b) as u64) << b;
        }
        slot.write(bits);
    }
    if rest > 0 {
        let base = full * 64;
        let mut bits = 0u64;
        for b in 0..rest {
            bits |= (f(base + b) as u64) << b;
        }
        out[full].write(bits);
    }
    // SAFETY: the loops above wrote each of the `n.div_ceil(64)` words.
    unsafe { words.set_len(n.div_ceil(64)) };
    BooleanBuffer::new(arrow_buffer::Buffer::from_vec(words), 0, n)
}

enum StrLane<'a> {
    Arr(&'a StringArray),
    Const(&'a str),
}

impl StrLane<'_> {
    #[inline]
    fn get(&self, i: usize) -> &str {
        match self {
            StrLane::Arr(a) => a.value(i),
            StrLane::Const(s) => s,
        }
    }
}

fn str_lane(op: &Operand) -> StrLane<'_> {
    match op {
        Operand::Scalar(Scalar::Varchar(s)) => StrLane::Const(s),
        Operand::Scalar(other) => panic!("literal {other:?} is not a string"),
        Operand::Array(a) => StrLane::Arr(a.as_string::<i32>()),
    }
}

fn bool_lane(op: &Operand) -> Lane<'_, bool> {
    match op {
        Operand::Scalar(Scalar::Boolean(b)) => Lane::Const(*b),
        Operand::Scalar(other) => panic!("literal {other:?} is not a boolean"),
        Operand::Array(a) => Lane::Owned(a.as_boolean().values().iter().collect()),
    }
}

pub(crate) fn compare(
    op: CmpOp,
    l: &Operand,
    lty: SqlType,
    r: &Operand,
    rty: SqlType,
    n: usize,
    text: &str,
) -> Result<BooleanArray> {
    if is_null_literal(l) || is_null_literal(r) {
        return Ok(BooleanArray::new_null(n));
    }
    let nulls = NullBuffer::union(nulls_of(l), nulls_of(r));
    let values = match (lty, rty) {
        (SqlType::Double, _) | (_, SqlType::Double) => {
            cmp_buf(op, &float_lane(l, lty), &float_lane(r, rty), n)
        }
        (SqlType::BigInt, SqlType::BigInt) | (SqlType::Timestamp, SqlType::Timestamp) => {
            cmp_buf(op, &i64_lane(l), &i64_lane(r), n)
        }
        (a, b) if a.exact_scale().is_some() && b.exact_scale().is_some() => {
            let s = a.exact_scale().unwrap().max(b.exact_scale().unwrap());
            let (a, b) = (exact_lane(l, lty, s, text)?, exact_lane(r, rty, s, text)?);
            // A column against a literal (the usual filter): four values a
            // step where the CPU allows.
            match (a.view(n), b.view(n)) {
                (View::Rows(vs), View::One(c)) => column_vs_literal(op, vs, c),
                (View::One(c), View::Rows(vs)) => column_vs_literal(op.flipped(), vs, c),
                _ => cmp_buf(op, &a, &b, n),
            }
        }
        (SqlType::Varchar, SqlType::Varchar) => {
            let a = str_lane(l);
            let b = str_lane(r);
            match op {
                CmpOp::Eq => BooleanBuffer::collect_bool(n, |i| a.get(i) == b.get(i)),
                CmpOp::NotEq => BooleanBuffer::collect_bool(n, |i| a.get(i) != b.get(i)),
                CmpOp::Lt => BooleanBuffer::collect_bool(n, |i| a.get(i) < b.get(i)),
                CmpOp::LtEq => BooleanBuffer::collect_bool(n, |i| a.get(i) <= b.get(i)),
                CmpOp::Gt => BooleanBuffer::collect_bool(n, |i| a.get(i) > b.get(i)),
                CmpOp::GtEq => BooleanBuffer::collect_bool(n, |i| a.get(i) >= b.get(i)),
            }
        }
        (SqlType::Boolean, SqlType::Boolean) => cmp_buf(op, &bool_lane(l), &bool_lane(r), n),
        (a, b) => return Err(Error::eval(text, format!("cannot compare {a} with {b}"))),
    };
    Ok(BooleanArray::new(values, nulls))
}

/// SQL three-valued AND: FALSE wins over NULL.
pub(crate) fn and_kleene(a: &BooleanArray, b: &BooleanArray) -> BooleanArray {
    (0..a.len())
        .map(|i| {
            let x = a.is_valid(i).then(|| a.value(i));
            let y = b.is_valid(i).then(|| b.value(i));
            match (x, y) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        })
        .collect()
}

/// SQL three-valued OR: TRUE wins over NULL.
pub(crate) fn or_kleene(a: &BooleanArray, b: &BooleanArray) -> BooleanArray {
    (0..a.len())
        .map(|i| {
            let x = a.is_valid(i).then(|| a.value(i));
            let y = b.is_valid(i).then(|| b.value(i));
            match (x, y) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            }
        })
        .collect()
}
