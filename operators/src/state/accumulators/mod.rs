//! Vectorised per-group accumulators for COUNT, SUM, AVG, MIN and MAX.
//!
//! Contract: state for group `g` sits at index `g` of plain vectors; a batch is
//! folded with one tight loop per aggregate over `(group id, value)` pairs.
//! Exact inputs (BIGINT, DECIMAL) are summed in `i128` at the input's scale, so
//! SUM is exact and AVG is the exact quotient rounded half away from zero.
//! Values that come as 64-bit integers are first added to a 64-bit pending
//! sum per group (half the bytes for a batch's scattered adds to touch),
//! which moves into the 128-bit sum when an add would leave 64 bits and
//! before anything reads a value ([`Acc::settle`]); EMIT CHANGES' running
//! values stay in the 64-bit sums while no 128-bit one holds anything.
//! NULL inputs are skipped; an aggregate over no non-NULL value is NULL
//! (COUNT is 0). Results that do not fit their type are errors. For DOUBLE,
//! NaN is the greatest value (MAX is NaN once one is seen; MIN passes over
//! it unless every value is NaN), as in ROWS windows.
//!
//! Every group's row count is kept once for all of a query's aggregates, by
//! their owner ([`crate::ops`]' group state), and passed in where a value is
//! read: COUNT(*) is that count, and SUM and AVG keep only how many NULLs
//! each group had (nothing while none came), their count of values being
//! rows less NULLs. A row then updates one count, not one per aggregate.
//!
//! Layout: this module holds the state and its shape; [`update`] folds
//! input rows in; [`emit`] reads final values out (collected in an
//! [`Out`]); [`partial`] writes and merges the partial aggregates that
//! cross between cores.

mod emit;
mod out;
mod partial;
#[cfg(test)]
mod tests;
mod update;

pub(crate) use out::Out;

use std::fmt;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, BooleanArray, PrimitiveArray, StringArray};
use arrow_buffer::NullBuffer;

use crate::cpu::by_cpu;
use crate::gather::Pool;
use crate::types::SqlType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl fmt::Display for AggFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggFunc::CountStar => "COUNT(*)",
            AggFunc::Count => "COUNT",
            AggFunc::Sum => "SUM",
            AggFunc::Avg => "AVG",
            AggFunc::Min => "MIN",
            AggFunc::Max => "MAX",
        })
    }
}

/// Exact input values (BIGINT, TIMESTAMP, DECIMAL, BOOLEAN) widened to i128.
pub(crate) enum ExactIn<'a> {
    I64(&'a [i64]),
    I128(&'a [i128]),
    Bool(&'a BooleanArray),
}

impl ExactIn<'_> {
    fn len(&self) -> usize {
        match self {
            ExactIn::I64(v) => v.len(),
            ExactIn::I128(v) => v.len(),
            ExactIn::Bool(b) => b.len(),
        }
    }

    pub(crate) fn of(a: &dyn Array, ty: SqlType) -> ExactIn<'_> {
        match ty {
            SqlType::BigInt => ExactIn::I64(a.as_primitive::<Int64Type>().values()),
            SqlType::Timestamp => {
                ExactIn::I64(a.as_primitive::<TimestampMillisecondType>().values())
            }
            // A DECIMAL argument whose values all fit 64 bits may come as
            // a BIGINT column of them ([`crate::expr::Expr::eval_exact_arg`]).
            SqlType::Decimal { .. } => match a.as_primitive_opt::<Int64Type>() {
                Some(v) => ExactIn::I64(v.values()),
                None => ExactIn::I128(a.as_primitive::<Decimal128Type>().values()),
            },
            SqlType::Boolean => ExactIn::Bool(a.as_boolean()),
            t => panic!("{t} is not an exact type"),
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> i128 {
        match self {
            ExactIn::I64(v) => v[i] as i128,
            ExactIn::I128(v) => v[i],
            ExactIn::Bool(b) => b.value(i) as i128,
        }
    }
}

/// MIN of two DOUBLEs with NaN the greatest value: the other one unless
/// both are NaN.
#[inline(always)]
pub(crate) fn float_min(a: f64, b: f64) -> f64 {
    // `f64::min` returns the other operand when one is NaN.
    a.min(b)
}

/// MAX of two DOUBLEs with NaN the greatest value: NaN if either is.
#[inline(always)]
pub(crate) fn float_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

pub(crate) fn float_in(a: &dyn Array) -> &[f64] {
    a.as_primitive::<Float64Type>().values()
}

enum State {
    /// COUNT(*): the shared row count, nothing of its own.
    Rows,
    Count(Vec<i64>),
    /// `nulls` stays empty until a NULL comes (see [`null_into`]). A
    /// group's sum is `sum[g]` plus `pending[g]` where `pending` reaches
    /// `g`: 64-bit values are added to `pending` (half the bytes of the
    /// 128-bit sums for the scattered adds of a batch to touch), folded
    /// into `sum` when an add would leave 64 bits, and all of it before
    /// any value is read ([`Acc::settle`]).
    ///
    /// `wide` is unset while every `sum[g]` is 0 (nothing was added to
    /// them since the state was cleared): the running values of EMIT
    /// CHANGES then read and write the pending sums alone, 64 bits a group.
    Exact {
        sum: Vec<i128>,
        nulls: Vec<i64>,
        pending: Vec<i64>,
        wide: bool,
    },
    Float {
        sum: Vec<f64>,
        nulls: Vec<i64>,
    },
    ExactMinMax {
        v: Vec<i128>,
        has: Vec<bool>,
    },
    FloatMinMax {
        v: Vec<f64>,
        has: Vec<bool>,
    },
    StrMinMax(Vec<Option<String>>),
}

/// One aggregate's state for every group.
pub struct Acc {
    func: AggFunc,
    input: Option<SqlType>,
    output: SqlType,
    text: String,
    state: State,
    /// Set when an exact sum left 128 bits; reported at the next emission.
    overflow: bool,
}

impl Acc {
    /// Whether every average this AVG can give fits its output type, so
    /// need not be checked: an average lies within its values' range, and
    /// rounding to the output's scale (no smaller than the input's) cannot
    /// pass the greatest value, so it has at most the input's digits plus
    /// the scale added (DECIMAL(18,4) to DECIMAL(38,6): 20 of 38).
    pub(super) fn averages_fit(&self) -> bool {
        match (self.func, self.input, self.output) {
            (
                AggFunc::Avg,
                Some(SqlType::Decimal { precision, scale }),
                SqlType::Decimal {
                    precision: out_precision,
                    scale: out_scale,
                },
            ) => {
                out_scale >= scale
                    && precision as u32 + (out_scale - scale) as u32 <= out_precision as u32
            }
            _ => false,
        }
    }

    pub fn new(func: AggFunc, input: Option<SqlType>, output: SqlType, text: String) -> Self {
        let state = match (func, input) {
            (AggFunc::CountStar, _) | (AggFunc::Count, None) => State::Rows,
            (AggFunc::Count, _) => State::Count(Vec::new()),
            (AggFunc::Sum | AggFunc::Avg, Some(SqlType::Double)) => State::Float {
                sum: Vec::new(),
                nulls: Vec::new(),
            },
            (AggFunc::Sum | AggFunc::Avg, _) => State::Exact {
                sum: Vec::new(),
                nulls: Vec::new(),
                pending: Vec::new(),
                wide: false,
            },
            (_, Some(SqlType::Double)) => State::FloatMinMax {
                v: Vec::new(),
                has: Vec::new(),
            },
            (_, Some(SqlType::Varchar)) => State::StrMinMax(Vec::new()),
            _ => State::ExactMinMax {
                v: Vec::new(),
                has: Vec::new(),
            },
        };
        Acc {
            func,
            input,
            output,
            text,
            state,
            overflow: false,
        }
    }

    /// Forgets every group's state, keeping the vectors' memory.
    pub fn clear(&mut self) {
        self.resize(0);
        self.overflow = false;
    }

    /// Every one of `n` groups back to the state of a group no row reached.
    pub fn reset(&mut self, n: usize) {
        self.clear();
        self.resize(n);
    }

    /// Folds the pending 64-bit adds into the 128-bit sums (an overflow
    /// remembered, as in `update`): every reader of the sums calls it
    /// first.
    pub fn settle(&mut self) {
        if let State::Exact {
            sum, pending, wide, ..
        } = &mut self.state
        {
            if pending.is_empty() {
                return;
            }
            *wide = true;
            self.overflow |= add_pending(sum, pending);
            pending.clear();
        }
    }

    fn resize(&mut self, n: usize) {
        match &mut self.state {
            State::Rows => {}
            State::Count(c) => c.resize(n, 0),
            State::Exact {
                sum,
                nulls,
                pending,
                wide,
            } => {
                sum.resize(n, 0);
                resize_nulls(nulls, n);
                // Grown lazily, by the adds that use it.
                pending.truncate(n);
                // Emptied: every sum is 0 again (groups added later start
                // at 0).
                *wide &= n > 0;
            }
            State::Float { sum, nulls } => {
                sum.resize(n, 0.0);
                resize_nulls(nulls, n);
            }
            State::ExactMinMax { v, has } => {
                v.resize(n, 0);
                has.resize(n, false);
            }
            State::FloatMinMax { v, has } => {
                v.resize(n, 0.0);
                has.resize(n, false);
            }
            State::StrMinMax(v) => v.resize(n, None),
        }
    }
}

/// Adds each pending 64-bit sum to the 128-bit sum of its group (those
/// `pending` reaches); whether an add overflowed (its sum then wrapped).
fn add_pending(sum: &mut [i128], pending: &[i64]) -> bool {
    let mut overflow = false;
    for (s, p) in sum.iter_mut().zip(pending) {
        let (v, o) = s.overflowing_add(*p as i128);
        *s = v;
        overflow |= o;
    }
    overflow
}

/// An aggregate's argument column, typed once per batch.
enum Input<'a> {
    None,
    Exact(ExactIn<'a>, Option<&'a NullBuffer>),
    Float(&'a [f64], Option<&'a NullBuffer>),
    Str(&'a StringArray),
}

impl<'a> Input<'a> {
    fn of(arg: Option<&'a ArrayRef>, ty: Option<SqlType>) -> Self {
        match (arg, ty) {
            (Some(a), Some(SqlType::Double)) => Input::Float(float_in(a.as_ref()), a.nulls()),
            (Some(a), Some(SqlType::Varchar)) => Input::Str(a.as_string::<i32>()),
            (Some(a), Some(t)) => Input::Exact(ExactIn::of(a.as_ref(), t), a.nulls()),
            _ => Input::None,
        }
    }

    #[inline(always)]
    fn valid(&self, i: usize) -> bool {
        match self {
            Input::None => true,
            Input::Exact(_, n) | Input::Float(_, n) => n.is_none_or(|n| n.is_valid(i)),
            Input::Str(s) => s.is_valid(i),
        }
    }
}

/// How many values (non-NULL inputs) group `g` of `rows` rows has, its
/// NULL counts `nulls` (empty: none yet, see [`null_into`]).
#[inline(always)]
fn values(rows: i64, nulls: &[i64], g: usize) -> i64 {
    rows - nulls.get(g).copied().unwrap_or(0)
}

/// Counts `n` more NULLs for group `g` of `groups`, making the NULL counts
/// (one per group) at the first: until then they are all zero and kept as
/// an empty vector, so NULL-free input never touches them.
fn null_into(nulls: &mut Vec<i64>, g: usize, n: i64, groups: usize) {
    if nulls.len() < groups {
        nulls.resize(groups, 0);
    }
    nulls[g] += n;
}

/// The NULL counts kept for `n` groups: none while there are none.
fn resize_nulls(nulls: &mut Vec<i64>, n: usize) {
    if !nulls.is_empty() || n == 0 {
        nulls.resize(n, 0);
    }
}

/// A batch's group ids, each checked below `bound` when made (one
/// vectorised pass): loops over them index state of at least `bound`
/// entries unchecked. Made once a batch and handed to every accumulator,
/// where each accumulator checking the ids itself passed over them once
/// per aggregate.
#[derive(Clone, Copy, Debug)]
pub struct GroupIds<'a> {
    ids: &'a [u32],
    bound: usize,
}

impl<'a> GroupIds<'a> {
    /// `ids`, checked below `bound`.
    ///
    /// # Panics
    /// Unless every id is below `bound`.
    pub fn check(ids: &'a [u32], bound: usize) -> Self {
        assert_ids_below(ids, bound);
        GroupIds { ids, bound }
    }

    pub fn ids(&self) -> &'a [u32] {
        self.ids
    }

    /// What every id is below.
    pub fn bound(&self) -> usize {
        self.bound
    }
}

/// Panics unless every id of `groups` is below `n` (one pass the compiler
/// vectorises): what lets the loops after it index state unchecked.
pub(crate) fn assert_ids_below(groups: &[u32], n: usize) {
    assert!(ids_below(groups, n), "group ids below the number of groups");
}

/// Whether every id of `groups` is below `n`: with AVX2 where the CPU has
/// it (a run-time check).
fn ids_below(groups: &[u32], n: usize) -> bool {
    // Every id is below a bound past the largest `u32`.
    let Ok(n) = u32::try_from(n) else {
        return true;
    };
    by_cpu!(["avx2"] => ids_below_avx2(groups, n); ids_below_any(groups, n))
}

/// [`ids_below`]'s pass: every id's comparison OR-ed in, no early exit, so
/// no step waits on the one before but for a bitwise OR.
#[inline(always)]
fn ids_below_any(groups: &[u32], n: u32) -> bool {
    groups.iter().fold(0u32, |out, &g| out | (g >= n) as u32) == 0
}

/// [`ids_below_any`] compiled for AVX2 (eight ids a compare, where the
/// baseline's SSE2 has no unsigned 32-bit compare and emulates each).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn ids_below_avx2(groups: &[u32], n: u32) -> bool {
    ids_below_any(groups, n)
}

/// Adds `xs` to the sums of groups `groups` (in order), in one tight loop;
/// whether a sum overflowed (remembered, as `update` does).
///
/// # Panics
/// Unless every id of `groups` is below the number of sums.
fn add_sums(sum: &mut [i128], groups: &[u32], xs: impl Iterator<Item = i128>) -> bool {
    assert_ids_below(groups, sum.len());
    let mut overflow = false;
    for (&g, x) in groups.iter().zip(xs) {
        // SAFETY: every id is below the number of sums (asserted above).
        let t = unsafe { sum.get_unchecked_mut(g as usize) };
        let (v, o) = t.overflowing_add(x);
        *t = v;
        overflow |= o;
    }
    overflow
}

/// `state(g)` for each of `groups`, as an array over a vector from `pool`.
/// (Decimal partial sums are raw `i128`: the array keeps the default
/// precision, read back only by [`Acc::merge`].)
fn pooled<T: ArrowPrimitiveType>(
    pool: &mut Vec<Vec<T::Native>>,
    groups: &[u32],
    state: impl Fn(usize) -> T::Native,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let mut v = Pool::take(pool, groups.len());
    v.extend(groups.iter().map(|&g| state(g as usize)));
    Arc::new(PrimitiveArray::<T>::new(v.into(), nulls))
}
