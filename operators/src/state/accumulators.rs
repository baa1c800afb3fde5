//! Vectorised per-group accumulators for COUNT, SUM, AVG, MIN and MAX.
//!
//! Contract: state for group `g` sits at index `g` of plain vectors; a batch is
//! folded with one tight loop per aggregate over `(group id, value)` pairs.
//! Exact inputs (BIGINT, DECIMAL) are summed in `i128` at the input's scale, so
//! SUM is exact and AVG is the exact quotient rounded half away from zero.
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

use std::fmt;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, NullArray, PrimitiveArray, StringArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::DataType;

use crate::decimal;
use crate::error::{Error, Result};
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
            SqlType::Decimal { .. } => ExactIn::I128(a.as_primitive::<Decimal128Type>().values()),
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
    /// `nulls` stays empty until a NULL comes (see [`null_into`]).
    Exact {
        sum: Vec<i128>,
        nulls: Vec<i64>,
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

    fn resize(&mut self, n: usize) {
        match &mut self.state {
            State::Rows => {}
            State::Count(c) => c.resize(n, 0),
            State::Exact { sum, nulls } => {
                sum.resize(n, 0);
                resize_nulls(nulls, n);
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

    /// Folds row `i` (value from `arg`) into group `g` of `groups`. Rows
    /// with NULL values are skipped (SUM and AVG count them).
    #[inline(always)]
    fn fold(&mut self, g: usize, i: usize, arg: &Input<'_>, groups: usize) {
        if !arg.valid(i) {
            if let State::Exact { nulls, .. } | State::Float { nulls, .. } = &mut self.state {
                null_into(nulls, g, 1, groups);
            }
            return;
        }
        let is_min = self.func == AggFunc::Min;
        match (&mut self.state, arg) {
            (State::Rows, _) => {}
            (State::Count(c), _) => c[g] += 1,
            (State::Exact { sum, .. }, Input::Exact(x, _)) => match sum[g].checked_add(x.get(i)) {
                Some(v) => sum[g] = v,
                None => self.overflow = true,
            },
            (State::Float { sum, .. }, Input::Float(x, _)) => sum[g] += x[i],
            (State::ExactMinMax { v, has }, Input::Exact(x, _)) => {
                let x = x.get(i);
                if !has[g] || (is_min && x < v[g]) || (!is_min && x > v[g]) {
                    v[g] = x;
                    has[g] = true;
                }
            }
            (State::FloatMinMax { v, has }, Input::Float(x, _)) => {
                let x = x[i];
                v[g] = match (has[g], is_min) {
                    (false, _) => x,
                    (true, true) => float_min(v[g], x),
                    (true, false) => float_max(v[g], x),
                };
                has[g] = true;
            }
            (State::StrMinMax(v), Input::Str(s)) => {
                let x = s.value(i);
                let replace = match &v[g] {
                    None => true,
                    Some(cur) => (is_min && x < cur.as_str()) || (!is_min && x > cur.as_str()),
                };
                if replace {
                    v[g] = Some(x.to_string());
                }
            }
            _ => unreachable!("accumulator state matches its input type"),
        }
    }

    /// Folds every row into its group.
    pub fn update(&mut self, groups: &[u32], arg: Option<&ArrayRef>, num_groups: usize) {
        self.resize(num_groups);
        let input = Input::of(arg, self.input);
        // Every group id is below `num_groups`, the length of each state
        // vector after the resize: so the specialised loops below index
        // unchecked.
        assert_ids_below(groups, num_groups);
        // Specialised loops for the common cases; the general fold otherwise.
        match (&mut self.state, &input) {
            (State::Rows, _) => {}
            (State::Count(c), Input::Exact(_, None) | Input::Float(_, None)) => {
                debug_assert!(c.len() >= num_groups);
                let c = c.as_mut_slice();
                for &g in groups {
                    // SAFETY: `g < num_groups <= c.len()` (asserted above).
                    unsafe { *c.get_unchecked_mut(g as usize) += 1 };
                }
            }
            (State::Exact { sum, .. }, Input::Exact(x, None)) => {
                debug_assert!(sum.len() >= num_groups);
                // As a slice: the loops then keep its base pointer in a
                // register (through the vector they reloaded it from memory
                // after every store).
                let sum = sum.as_mut_slice();
                // One loop per input width, values zipped with group ids; an
                // overflow is remembered and reported at emission.
                let mut overflow = false;
                let mut fold = |g: u32, v: i128| {
                    // SAFETY: `g < num_groups`, at most the length of `sum`
                    // (asserted above; `resize` made it so).
                    let s = unsafe { sum.get_unchecked_mut(g as usize) };
                    let (v, o) = s.overflowing_add(v);
                    *s = v;
                    overflow |= o;
                };
                match x {
                    ExactIn::I64(v) => {
                        for (&g, &v) in groups.iter().zip(v.iter()) {
                            fold(g, v as i128);
                        }
                    }
                    ExactIn::I128(v) => {
                        for (&g, &v) in groups.iter().zip(v.iter()) {
                            fold(g, v);
                        }
                    }
                    ExactIn::Bool(_) => {
                        for (i, &g) in groups.iter().enumerate() {
                            fold(g, x.get(i));
                        }
                    }
                }
                self.overflow |= overflow;
            }
            _ => {
                for (i, &g) in groups.iter().enumerate() {
                    self.fold(g as usize, i, &input, num_groups);
                }
            }
        }
    }

    /// Folds rows one at a time and returns, for each row, its group's value
    /// right after that row (the EMIT CHANGES changelog); `rows_after[i]`
    /// is row `i`'s group's row count right after it.
    pub fn update_and_snapshot(
        &mut self,
        groups: &[u32],
        arg: Option<&ArrayRef>,
        num_groups: usize,
        rows_after: &[i64],
    ) -> Result<ArrayRef> {
        self.resize(num_groups);
        assert_eq!(rows_after.len(), groups.len(), "a row count for every row");
        let input = Input::of(arg, self.input);
        let mut out = Out::new(groups.len(), self.output);
        // The common shapes in one tight loop each (no NULL input, so every
        // value is non-NULL: `out.valid` stays empty); the general fold
        // otherwise.
        match (&mut self.state, &input, self.func) {
            (State::Rows, _, _) if self.output == SqlType::BigInt => {
                assert_ids_below(groups, num_groups);
                return Ok(Arc::new(Int64Array::from(rows_after.to_vec())));
            }
            (State::Count(c), Input::Exact(_, None) | Input::Float(_, None), _)
                if self.output == SqlType::BigInt =>
            {
                assert_ids_below(groups, c.len());
                let counts: Vec<i64> = groups
                    .iter()
                    .map(|&g| {
                        // SAFETY: `g < c.len()`, asserted just above.
                        let n = unsafe { c.get_unchecked_mut(g as usize) };
                        *n += 1;
                        *n
                    })
                    .collect();
                return Ok(Arc::new(Int64Array::from(counts)));
            }
            (State::Exact { sum, nulls }, Input::Exact(x, None), AggFunc::Sum) => {
                running(groups, x, sum, rows_after, nulls, &mut out.exact, |s, _| {
                    Some(s)
                })
                .map_err(|_| Error::eval(&self.text, "sum overflows 128 bits"))?;
            }
            (State::Exact { sum, nulls }, Input::Exact(x, None), AggFunc::Avg)
                if matches!(self.output, SqlType::Decimal { .. }) =>
            {
                let in_scale = self.input.and_then(|t| t.exact_scale()).unwrap_or(0);
                let scale = self.output.exact_scale().expect("decimal");
                let averager = decimal::Averager::new(in_scale, scale);
                running(groups, x, sum, rows_after, nulls, &mut out.exact, |s, n| {
                    averager.avg(s, n)
                })
                .map_err(|sum_overflowed| {
                    let what = if sum_overflowed {
                        "sum overflows 128 bits"
                    } else {
                        "average overflows"
                    };
                    Error::eval(&self.text, what)
                })?;
            }
            _ => {
                assert_ids_below(groups, num_groups);
                for (i, &g) in groups.iter().enumerate() {
                    self.fold(g as usize, i, &input, num_groups);
                    self.value_into(g as usize, rows_after[i], &mut out)?;
                }
            }
        }
        out.finish(self.output, &self.text)
    }

    /// The values of groups `groups`, in that order (`rows`: every group's
    /// row count).
    pub fn emit(&self, groups: &[u32], rows: &[i64]) -> Result<ArrayRef> {
        // The common shapes (COUNT; exact SUM and AVG where every group has
        // a value) in one loop each; group by group otherwise.
        let nn = |nulls: &[i64], g: usize| values(rows[g], nulls, g);
        match &self.state {
            State::Rows if self.output == SqlType::BigInt => {
                let counts: Vec<i64> = groups.iter().map(|&g| rows[g as usize]).collect();
                return Ok(Arc::new(Int64Array::from(counts)));
            }
            State::Count(c) if self.output == SqlType::BigInt => {
                let counts: Vec<i64> = groups.iter().map(|&g| c[g as usize]).collect();
                return Ok(Arc::new(Int64Array::from(counts)));
            }
            State::Exact { sum, nulls }
                if !self.overflow && groups.iter().all(|&g| nn(nulls, g as usize) > 0) =>
            {
                let mut out = Out::new(groups.len(), self.output);
                match (self.func, self.output) {
                    (AggFunc::Sum, _) => out.exact.extend(groups.iter().map(|&g| sum[g as usize])),
                    (AggFunc::Avg, SqlType::Decimal { scale, .. }) => {
                        let in_scale = self.input.and_then(|t| t.exact_scale()).unwrap_or(0);
                        let averager = decimal::Averager::new(in_scale, scale);
                        for &g in groups {
                            let q = averager
                                .avg(sum[g as usize], nn(nulls, g as usize))
                                .ok_or_else(|| Error::eval(&self.text, "average overflows"))?;
                            out.exact.push(q);
                        }
                    }
                    _ => return self.emit_each(groups, rows),
                }
                return out.finish(self.output, &self.text);
            }
            _ => {}
        }
        self.emit_each(groups, rows)
    }

    /// [`Acc::emit`], group by group.
    fn emit_each(&self, groups: &[u32], rows: &[i64]) -> Result<ArrayRef> {
        let mut out = Out::new(groups.len(), self.output);
        for &g in groups {
            self.value_into(g as usize, rows[g as usize], &mut out)?;
        }
        out.finish(self.output, &self.text)
    }

    /// This aggregate's partial state for groups `groups` (`rows`: every
    /// group's row count), as columns another core can [`Acc::merge`]:
    /// COUNT(*) none (the row counts go once for all aggregates); COUNT
    /// `[count]`; SUM/AVG `[sum, non-NULL count]` (exact sums as raw
    /// `i128`, or as BIGINT when every one of them fits 64 bits; the count
    /// a column of type NULL, without values, when no group has had a NULL:
    /// then it is each group's row count); MIN/MAX `[value or NULL]`.
    /// Numeric columns are written into vectors from `pool` (which the
    /// receiving core sends back, see [`crate::gather::reclaim`]).
    pub fn partial(&self, groups: &[u32], pool: &mut Pool, rows: &[i64]) -> Result<Vec<ArrayRef>> {
        let nn = |nulls: &[i64], g: usize| values(rows[g], nulls, g);
        let has_nulls = |has: &[bool]| -> Option<NullBuffer> {
            let valid: Vec<bool> = groups.iter().map(|&g| has[g as usize]).collect();
            (!valid.iter().all(|v| *v)).then(|| NullBuffer::from(valid))
        };
        // The non-NULL counts: none to send while no group had a NULL (a
        // NULL count is kept only from the first NULL on).
        let counts = |nulls: &[i64], pool: &mut Pool| {
            if nulls.is_empty() {
                Arc::new(NullArray::new(groups.len())) as ArrayRef
            } else {
                pooled::<Int64Type>(&mut pool.i64s, groups, |g| nn(nulls, g), None)
            }
        };
        Ok(match &self.state {
            State::Rows => Vec::new(),
            State::Count(c) => vec![pooled::<Int64Type>(&mut pool.i64s, groups, |g| c[g], None)],
            State::Exact { sum, nulls } => {
                if self.overflow {
                    return Err(Error::eval(&self.text, "sum overflows 128 bits"));
                }
                // The sums' width: every sum of the table fits 64 bits (one
                // vectorised pass over the whole table, cheaper than a
                // fold through the listed groups), else the listed ones
                // are checked.
                let narrow = crate::decimal::fits_i64(sum)
                    || groups.iter().fold(true, |ok, &g| {
                        ok & (sum[g as usize] as i64 as i128 == sum[g as usize])
                    });
                let sums = if narrow {
                    pooled::<Int64Type>(&mut pool.i64s, groups, |g| sum[g] as i64, None)
                } else {
                    pooled::<Decimal128Type>(&mut pool.i128s, groups, |g| sum[g], None)
                };
                vec![sums, counts(nulls, pool)]
            }
            State::Float { sum, nulls } => vec![
                pooled::<Float64Type>(&mut pool.f64s, groups, |g| sum[g], None),
                counts(nulls, pool),
            ],
            State::ExactMinMax { v, has } => {
                vec![pooled::<Decimal128Type>(
                    &mut pool.i128s,
                    groups,
                    |g| v[g],
                    has_nulls(has),
                )]
            }
            State::FloatMinMax { v, has } => {
                vec![pooled::<Float64Type>(
                    &mut pool.f64s,
                    groups,
                    |g| v[g],
                    has_nulls(has),
                )]
            }
            State::StrMinMax(v) => vec![Arc::new(StringArray::from_iter(
                groups.iter().map(|&g| v[g as usize].as_deref()),
            ))],
        })
    }

    /// How many columns [`Acc::partial`] produces.
    pub fn partial_width(&self) -> usize {
        match self.state {
            State::Rows => 0,
            State::Exact { .. } | State::Float { .. } => 2,
            _ => 1,
        }
    }

    /// Merges partial states (columns as [`Acc::partial`] makes them) into
    /// groups `groups`: row `i` of `cols` (a partial of `rows[i]` rows) goes
    /// into group `groups[i]`.
    pub fn merge(&mut self, groups: &[u32], cols: &[ArrayRef], num_groups: usize, rows: &[i64]) {
        self.resize(num_groups);
        assert_ids_below(groups, num_groups);
        let is_min = self.func == AggFunc::Min;
        let i64s = |a: &ArrayRef| a.as_primitive::<Int64Type>().values().clone();
        match &mut self.state {
            // State as slices, so the loops keep their base pointers in
            // registers (see `update`).
            State::Rows => {}
            State::Count(c) => {
                let c = c.as_mut_slice();
                for (&g, x) in groups.iter().zip(i64s(&cols[0]).iter()) {
                    c[g as usize] += x;
                }
            }
            State::Exact { sum, nulls } => {
                assert!(
                    cols[0].len() == groups.len()
                        && cols[1].len() == groups.len()
                        && rows.len() == groups.len()
                );
                // Sums in one tight loop (an overflow remembered, as in
                // `update`), NULL counts only where a partial had NULLs.
                let sum = sum.as_mut_slice();
                self.overflow |= match cols[0].data_type() {
                    DataType::Int64 => {
                        let xs = cols[0].as_primitive::<Int64Type>().values();
                        add_sums(sum, groups, xs.iter().map(|&x| x as i128))
                    }
                    _ => {
                        let xs = cols[0].as_primitive::<Decimal128Type>().values();
                        add_sums(sum, groups, xs.iter().copied())
                    }
                };
                // A NULL-typed count: every value of the partial was there.
                if cols[1].data_type() != &DataType::Null {
                    let nn = i64s(&cols[1]);
                    if nn.iter().zip(rows).any(|(n, r)| n != r) {
                        for ((&g, &n), &r) in groups.iter().zip(nn.iter()).zip(rows) {
                            if n != r {
                                null_into(nulls, g as usize, r - n, num_groups);
                            }
                        }
                    }
                }
            }
            State::Float { sum, nulls } => {
                let s = float_in(cols[0].as_ref());
                for (i, &g) in groups.iter().enumerate() {
                    sum[g as usize] += s[i];
                }
                if cols[1].data_type() != &DataType::Null {
                    let nn = i64s(&cols[1]);
                    for (i, &g) in groups.iter().enumerate() {
                        if nn[i] != rows[i] {
                            null_into(nulls, g as usize, rows[i] - nn[i], num_groups);
                        }
                    }
                }
            }
            State::ExactMinMax { v, has } => {
                let a = cols[0].as_primitive::<Decimal128Type>();
                for (i, &g) in groups.iter().enumerate() {
                    let (g, x) = (g as usize, a.value(i));
                    if a.is_valid(i) && (!has[g] || (is_min && x < v[g]) || (!is_min && x > v[g])) {
                        v[g] = x;
                        has[g] = true;
                    }
                }
            }
            State::FloatMinMax { v, has } => {
                let a = cols[0].as_primitive::<Float64Type>();
                for (i, &g) in groups.iter().enumerate() {
                    let (g, x) = (g as usize, a.value(i));
                    if a.is_valid(i) {
                        v[g] = match (has[g], is_min) {
                            (false, _) => x,
                            (true, true) => float_min(v[g], x),
                            (true, false) => float_max(v[g], x),
                        };
                        has[g] = true;
                    }
                }
            }
            State::StrMinMax(v) => {
                let a = cols[0].as_string::<i32>();
                for (i, &g) in groups.iter().enumerate() {
                    if !a.is_valid(i) {
                        continue;
                    }
                    let x = a.value(i);
                    let g = g as usize;
                    let replace = match &v[g] {
                        None => true,
                        Some(cur) => (is_min && x < cur.as_str()) || (!is_min && x > cur.as_str()),
                    };
                    if replace {
                        v[g] = Some(x.to_string());
                    }
                }
            }
        }
    }

    /// Group `g`'s value (`rows`: its row count) into `out`.
    #[inline]
    fn value_into(&self, g: usize, rows: i64, out: &mut Out) -> Result<()> {
        let nn = |nulls: &[i64]| values(rows, nulls, g);
        match &self.state {
            State::Rows => out.push_exact(rows as i128),
            State::Count(c) => out.push_exact(c[g] as i128),
            State::Exact { sum, nulls } => {
                let nn = nn(nulls);
                if nn == 0 {
                    out.push_null();
                } else if self.overflow {
                    return Err(Error::eval(&self.text, "sum overflows 128 bits"));
                } else if self.func == AggFunc::Sum {
                    out.push_exact(sum[g]);
                } else {
                    match self.output {
                        SqlType::Decimal { scale, .. } => {
                            let in_scale = self.input.and_then(|t| t.exact_scale()).unwrap_or(0);
                            let q = decimal::div_scaled(sum[g], in_scale, nn as i128, 0, scale)
                                .ok_or_else(|| Error::eval(&self.text, "average overflows"))?;
                            out.push_exact(q);
                        }
                        _ => out.push_float(sum[g] as f64 / nn as f64),
                    }
                }
            }
            State::Float { sum, nulls } => {
                let nn = nn(nulls);
                if nn == 0 {
                    out.push_null();
                } else if self.func == AggFunc::Sum {
                    out.push_float(sum[g]);
                } else {
                    out.push_float(sum[g] / nn as f64);
                }
            }
            State::ExactMinMax { v, has } => {
                if has[g] {
                    out.push_exact(v[g])
                } else {
                    out.push_null()
                }
            }
            State::FloatMinMax { v, has } => {
                if has[g] {
                    out.push_float(v[g])
                } else {
                    out.push_null()
                }
            }
            State::StrMinMax(v) => out.push_str(v[g].as_deref()),
        }
        Ok(())
    }
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

/// Folds `x[i]` (no NULL among them) into the sum of group `groups[i]`, row
/// by row, and appends `value(sum, count of values)` of the group right
/// after each row to `out` (the count: `rows_after[i]` less the group's
/// `nulls`, see [`null_into`]): one loop per input width. `Err(true)`: a sum
/// left 128 bits; `Err(false)`: `value` gave `None`.
fn running(
    groups: &[u32],
    x: &ExactIn<'_>,
    sum: &mut [i128],
    rows_after: &[i64],
    nulls: &[i64],
    out: &mut Vec<i128>,
    value: impl Fn(i128, i64) -> Option<i128>,
) -> std::result::Result<(), bool> {
    if nulls.is_empty() {
        running_with(groups, x, sum, rows_after, |_| 0, out, value)
    } else {
        assert_ids_below(groups, nulls.len());
        // SAFETY: every id is below `nulls.len()` (asserted just above).
        let nulls_of = |g: u32| unsafe { *nulls.get_unchecked(g as usize) };
        running_with(groups, x, sum, rows_after, nulls_of, out, value)
    }
}

/// [`running`], group `g`'s NULLs `nulls_of(g)`.
#[inline(always)]
fn running_with(
    groups: &[u32],
    x: &ExactIn<'_>,
    sum: &mut [i128],
    rows_after: &[i64],
    nulls_of: impl Fn(u32) -> i64,
    out: &mut Vec<i128>,
    value: impl Fn(i128, i64) -> Option<i128>,
) -> std::result::Result<(), bool> {
    assert_ids_below(groups, sum.len());
    // Values written by index into spare capacity (a push per row kept the
    // vector's pointer, length and capacity in memory), the length set once
    // every row is in.
    let n = groups.len();
    assert!(x.len() >= n, "a value for every row");
    assert!(rows_after.len() >= n, "a row count for every row");
    out.clear();
    out.reserve(n);
    let dst = &mut out.spare_capacity_mut()[..n];
    let mut step = |g: u32, v: i128, rows: i64| {
        // SAFETY: `g` is below the length of `sum` (asserted above).
        let sg = unsafe { sum.get_unchecked_mut(g as usize) };
        let s = sg.checked_add(v).ok_or(true)?;
        *sg = s;
        value(s, rows - nulls_of(g)).ok_or(false)
    };
    let rows = &rows_after[..n];
    match x {
        ExactIn::I64(v) => {
            for (((d, &g), &v), &r) in dst.iter_mut().zip(groups).zip(v.iter()).zip(rows) {
                d.write(step(g, v as i128, r)?);
            }
        }
        ExactIn::I128(v) => {
            for (((d, &g), &v), &r) in dst.iter_mut().zip(groups).zip(v.iter()).zip(rows) {
                d.write(step(g, v, r)?);
            }
        }
        ExactIn::Bool(_) => {
            for (i, ((d, &g), &r)) in dst.iter_mut().zip(groups).zip(rows).enumerate() {
                d.write(step(g, x.get(i), r)?);
            }
        }
    }
    // SAFETY: the first `n` slots were each written above: the zips run
    // over `dst` and `groups` (both `n` long) and the values (at least `n`,
    // asserted before the loops).
    unsafe { out.set_len(n) };
    Ok(())
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
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above), the only target
        // feature `ids_below_avx2` enables.
        return unsafe { ids_below_avx2(groups, n) };
    }
    ids_below_any(groups, n)
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

/// Output values of one aggregate, typed by its SQL output type.
pub(crate) struct Out {
    exact: Vec<i128>,
    float: Vec<f64>,
    strs: Vec<Option<String>>,
    /// Which values are valid: left empty while all are (filled in at the
    /// first NULL), so a NULL-free result pushes one vector, not two.
    valid: Vec<bool>,
}

impl Out {
    pub(crate) fn new(n: usize, ty: SqlType) -> Self {
        let (e, f) = match ty {
            SqlType::Double => (0, n),
            SqlType::Varchar => (0, 0),
            _ => (n, 0),
        };
        Out {
            exact: Vec::with_capacity(e),
            float: Vec::with_capacity(f),
            strs: Vec::new(),
            valid: Vec::new(),
        }
    }
    #[inline(always)]
    pub(crate) fn push_exact(&mut self, v: i128) {
        self.exact.push(v);
    }
    #[inline(always)]
    pub(crate) fn push_float(&mut self, v: f64) {
        self.float.push(v);
    }
    pub(crate) fn push_null(&mut self) {
        // Values so far: a NULL goes to every vector, a value to its own.
        let n = self.exact.len().max(self.float.len()).max(self.strs.len());
        self.valid.resize(n, true);
        self.valid.push(false);
        self.exact.push(0);
        self.float.push(0.0);
        self.strs.push(None);
    }
    pub(crate) fn push_str(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.strs.push(Some(v.to_string())),
            None => self.push_null(),
        }
    }

    pub(crate) fn finish(mut self, ty: SqlType, text: &str) -> Result<ArrayRef> {
        let n = match ty {
            SqlType::Double => self.float.len(),
            SqlType::Varchar => self.strs.len(),
            _ => self.exact.len(),
        };
        let nulls = if self.valid.is_empty() {
            None
        } else {
            self.valid.resize(n, true);
            Some(NullBuffer::from(std::mem::take(&mut self.valid)))
        };
        Ok(match ty {
            SqlType::BigInt | SqlType::Timestamp => {
                // Checked in one branch-free pass, then narrowed in another.
                if !decimal::fits_i64(&self.exact) {
                    return Err(Error::eval(text, "result overflows BIGINT"));
                }
                let v: Vec<i64> = self.exact.iter().map(|&x| x as i64).collect();
                if ty == SqlType::BigInt {
                    Arc::new(Int64Array::new(v.into(), nulls))
                } else {
                    Arc::new(arrow_array::TimestampMillisecondArray::new(v.into(), nulls))
                }
            }
            SqlType::Decimal { precision, scale } => {
                if !decimal::all_fit(&self.exact, precision) {
                    let bad = self.exact.iter().find(|x| !decimal::fits(**x, precision));
                    let bad = bad.expect("a value that does not fit");
                    return Err(Error::eval(
                        text,
                        format!("{} does not fit {ty}", decimal::format(*bad, scale)),
                    ));
                }
                Arc::new(
                    arrow_array::Decimal128Array::new(self.exact.into(), nulls)
                        .with_precision_and_scale(precision, scale as i8)
                        .expect("valid decimal type"),
                )
            }
            SqlType::Double => Arc::new(Float64Array::new(self.float.into(), nulls)),
            SqlType::Boolean => Arc::new(BooleanArray::new(
                self.exact.iter().map(|x| *x != 0).collect(),
                nulls,
            )),
            SqlType::Varchar => Arc::new(StringArray::from(self.strs)),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Decimal128Array;

    /// Each of `n` groups' row count once rows of `groups` came.
    fn rows_of(groups: &[u32], n: usize) -> Vec<i64> {
        let mut rows = vec![0; n];
        for &g in groups {
            rows[g as usize] += 1;
        }
        rows
    }

    /// Each row's group's row count right after it (from none).
    fn after(groups: &[u32]) -> Vec<i64> {
        let mut seen = std::collections::HashMap::new();
        groups
            .iter()
            .map(|g| {
                let c = seen.entry(*g).or_insert(0);
                *c += 1;
                *c
            })
            .collect()
    }

    proptest::proptest! {
        /// Whether every id is below a bound is the plain `all`, on both
        /// paths (the AVX2 one where this CPU has it), for lists of every
        /// length around the vector widths, lists below the bound but for
        /// one id just below, at or just above it, and bounds of zero and
        /// past `u32::MAX`.
        #[test]
        fn ids_below_is_a_plain_all(
            ids in proptest::collection::vec(
                proptest::prop_oneof![0u32..70, proptest::num::u32::ANY],
                0..140,
            ),
            bound in proptest::prop_oneof![
                0usize..72,
                proptest::strategy::Strategy::prop_map(proptest::num::u32::ANY, |b| b as usize),
                proptest::strategy::Just(u32::MAX as usize + 1),
                proptest::strategy::Just(usize::MAX),
            ],
            at in 0usize..140,
            near in proptest::prop_oneof![
                proptest::strategy::Just(None),
                proptest::strategy::Strategy::prop_map(0u32..3, Some),
            ],
        ) {
            // Optionally every id below the bound but one, just below, at
            // or just above it, anywhere.
            let mut ids = ids;
            if let (Some(d), Ok(b)) = (near, u32::try_from(bound)) {
                if b > 0 && !ids.is_empty() {
                    ids.iter_mut().for_each(|g| *g %= b);
                    let k = at % ids.len();
                    ids[k] = (b - 1).saturating_add(d);
                }
            }
            let all = ids.iter().all(|&g| (g as usize) < bound);
            proptest::prop_assert_eq!(ids_below(&ids, bound), all);
            if let Ok(b) = u32::try_from(bound) {
                proptest::prop_assert_eq!(ids_below_any(&ids, b), all);
            }
        }

        /// Partials merge to what one accumulator over every row gives, in
        /// each of their shapes: sums within 64 bits (sent as BIGINT) or
        /// beyond (as DECIMAL), counts elided while no NULL came (a
        /// NULL-typed column) or sent; exact and DOUBLE sums and averages,
        /// split at any row between two accumulators.
        #[test]
        fn partials_in_every_shape_merge_to_one_aggregate(
            rows in proptest::collection::vec(
                (0u32..4, proptest::option::weighted(0.8, -1_000i64..1_000)),
                1..60,
            ),
            nulls in proptest::bool::ANY,
            big in proptest::bool::ANY,
            split in 0usize..60,
        ) {
            use proptest::prelude::*;
            // Values scaled past 64 bits when `big`; NULLs only when `nulls`.
            let value = |v: Option<i64>| -> Option<i128> {
                let v = if nulls { v } else { Some(v.unwrap_or(7)) };
                v.map(|x| if big { x as i128 * (1i128 << 70) } else { x as i128 })
            };
            let groups: Vec<u32> = rows.iter().map(|r| r.0).collect();
            let vals: Vec<Option<i128>> = rows.iter().map(|r| value(r.1)).collect();
            let n = 4;
            let dec = SqlType::Decimal { precision: 38, scale: 2 };
            let cases = [
                (AggFunc::Sum, dec, dec),
                (AggFunc::Avg, dec, SqlType::Decimal { precision: 38, scale: 6 }),
                (AggFunc::Sum, SqlType::Double, SqlType::Double),
                (AggFunc::Avg, SqlType::Double, SqlType::Double),
            ];
            for (func, input, output) in cases {
                let arg = |v: &[Option<i128>]| -> ArrayRef {
                    match input {
                        SqlType::Double => Arc::new(Float64Array::from_iter(
                            v.iter().map(|x| x.map(|x| (x >> 60) as f64)),
                        )),
                        _ => Arc::new(
                            Decimal128Array::from_iter(v.iter().copied())
                                .with_precision_and_scale(38, 2)
                                .unwrap(),
                        ),
                    }
                };
                let acc = || Acc::new(func, Some(input), output, "f(x)".into());
                let cut = split.min(rows.len());
                let (g1, g2) = groups.split_at(cut);
                let (v1, v2) = vals.split_at(cut);
                let mut whole = acc();
                whole.update(&groups, Some(&arg(&vals)), n);
                let (mut a, mut b) = (acc(), acc());
                a.update(g1, Some(&arg(v1)), n);
                b.update(g2, Some(&arg(v2)), n);
                // b's partials of every group, merged into a.
                let all: Vec<u32> = (0..n as u32).collect();
                let (rows_a, rows_b) = (rows_of(g1, n), rows_of(g2, n));
                let cols = b.partial(&all, &mut Pool::default(), &rows_b).unwrap();
                if matches!(input, SqlType::Decimal { .. }) {
                    let mut sums = vec![0i128; n];
                    for (&g, v) in g2.iter().zip(v2) {
                        sums[g as usize] += v.unwrap_or(0);
                    }
                    let fits = sums.iter().all(|&x| x as i64 as i128 == x);
                    prop_assert_eq!(cols[0].data_type() == &DataType::Int64, fits, "sums' width");
                }
                let had_nulls = nulls && v2.iter().any(Option::is_none);
                prop_assert_eq!(cols[1].data_type() == &DataType::Null, !had_nulls, "counts elided");
                a.merge(&all, &cols, n, &rows_b);
                let total: Vec<i64> = rows_a.iter().zip(&rows_b).map(|(x, y)| x + y).collect();
                let want = whole.emit(&all, &rows_of(&groups, n)).unwrap();
                let got = a.emit(&all, &total).unwrap();
                prop_assert_eq!(got.to_data(), want.to_data(), "{:?} {:?}", func, input);
            }
        }
    }

    /// The unchecked loops rely on this check: an id past the group count
    /// panics instead of writing out of bounds.
    #[test]
    #[should_panic(expected = "group ids below the number of groups")]
    fn a_group_id_past_the_group_count_panics() {
        let ty = SqlType::BigInt;
        let arg: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        acc.update(&[0, 2], Some(&arg), 2);
    }

    /// The same for the changelog's running COUNT and SUM.
    #[test]
    #[should_panic(expected = "group ids below the number of groups")]
    fn a_running_count_past_the_group_count_panics() {
        let ty = SqlType::BigInt;
        let mut acc = Acc::new(AggFunc::Count, None, ty, "COUNT(*)".into());
        let _ = acc.update_and_snapshot(&[0, 2], None, 2, &[1, 1]);
    }

    #[test]
    #[should_panic(expected = "group ids below the number of groups")]
    fn a_running_sum_past_the_group_count_panics() {
        let ty = SqlType::BigInt;
        let arg: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        let _ = acc.update_and_snapshot(&[0, 2], Some(&arg), 2, &[1, 1]);
    }

    /// A BIGINT result beyond 64 bits is an error, at emission and in the
    /// changelog alike, not a truncated value.
    #[test]
    fn a_bigint_sum_beyond_64_bits_is_an_error() {
        let ty = SqlType::BigInt;
        let arg: ArrayRef = Arc::new(Int64Array::from(vec![1, i64::MAX, 1]));
        let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        acc.update(&[0, 1, 1], Some(&arg), 2);
        let rows = rows_of(&[0, 1, 1], 2);
        let err = acc.emit(&[0, 1], &rows).unwrap_err();
        assert!(err.to_string().contains("result overflows BIGINT"), "{err}");
        assert_eq!(
            acc.emit(&[0], &rows)
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0),
            1
        );
        let mut running = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        let g = [0, 1, 1];
        let err = running
            .update_and_snapshot(&g, Some(&arg), 2, &after(&g))
            .unwrap_err();
        assert!(err.to_string().contains("result overflows BIGINT"), "{err}");
        let mut ok = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        let g = [0, 1, 0];
        let got = ok
            .update_and_snapshot(&g, Some(&arg), 2, &after(&g))
            .unwrap();
        let got: Vec<i64> = got.as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(got, vec![1, i64::MAX, 2]);
    }

    #[test]
    fn an_exact_sum_that_leaves_128_bits_is_an_error_not_a_wrapped_value() {
        let ty = SqlType::decimal(38, 0);
        let big = i128::MAX / 2 + 1;
        let arg: ArrayRef = Arc::new(
            Decimal128Array::from(vec![big, big, 1])
                .with_precision_and_scale(38, 0)
                .unwrap(),
        );
        // Group 0 gets both halves (overflows); group 1 a lone 1.
        let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        acc.update(&[0, 0, 1], Some(&arg), 2);
        let err = acc.emit(&[0], &rows_of(&[0, 0, 1], 2)).unwrap_err();
        assert!(err.to_string().contains("sum overflows 128 bits"), "{err}");
        // Merged partial states overflow the same way.
        let mut a = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        a.update(&[0], Some(&arg.slice(0, 1)), 1);
        let part = a.partial(&[0], &mut Pool::default(), &[1]).unwrap();
        let mut owner = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        owner.merge(&[0], &part, 1, &[1]);
        assert!(owner.emit(&[0], &[1]).is_ok());
        owner.merge(&[0], &part, 1, &[1]);
        assert!(owner.emit(&[0], &[2]).is_err());
        // Row by row (EMIT CHANGES): the row that overflows is the error.
        let mut rows = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        let err = rows
            .update_and_snapshot(&[0, 0, 1], Some(&arg), 2, &[1, 2, 1])
            .unwrap_err();
        assert!(err.to_string().contains("sum overflows 128 bits"), "{err}");
        let ok = rows
            .update_and_snapshot(&[1, 1], Some(&arg.slice(1, 2)), 2, &[2, 3])
            .unwrap();
        assert_eq!(ok.len(), 2);
        // A running AVG names its sum when that overflows (the second
        // row), its average when that does not fit (at scale 4, 10^4 times
        // the first row).
        let mut avg = Acc::new(AggFunc::Avg, Some(ty), ty, "AVG(x)".into());
        let err = avg
            .update_and_snapshot(&[0, 0], Some(&arg.slice(0, 2)), 1, &[1, 2])
            .unwrap_err();
        assert!(err.to_string().contains("sum overflows 128 bits"), "{err}");
        let scaled = SqlType::decimal(38, 4);
        let mut avg = Acc::new(AggFunc::Avg, Some(ty), scaled, "AVG(x)".into());
        let err = avg
            .update_and_snapshot(&[0], Some(&arg.slice(0, 1)), 1, &[1])
            .unwrap_err();
        assert!(err.to_string().contains("average overflows"), "{err}");
    }

    #[test]
    fn double_min_max_take_nan_as_the_greatest_value() {
        let arg: ArrayRef = Arc::new(Float64Array::from(vec![
            f64::NAN,
            2.0,
            -1.0,
            f64::NAN,
            f64::NAN,
        ]));
        // Group 0: NaN, 2, -1; group 1: NaN, NaN.
        let groups = [0, 0, 0, 1, 1];
        let run = |func| {
            let mut acc = Acc::new(func, Some(SqlType::Double), SqlType::Double, "f(x)".into());
            acc.update(&groups, Some(&arg), 2);
            let rows = rows_of(&groups, 2);
            let out = acc.emit(&[0, 1], &rows).unwrap();
            // Merged from partials of single rows: the same answer.
            let mut merged = Acc::new(func, Some(SqlType::Double), SqlType::Double, "f(x)".into());
            for (i, &g) in groups.iter().enumerate() {
                let mut one = Acc::new(func, Some(SqlType::Double), SqlType::Double, "f(x)".into());
                one.update(&[0], Some(&arg.slice(i, 1)), 1);
                let part = one.partial(&[0], &mut Pool::default(), &[1]).unwrap();
                merged.merge(&[g], &part, 2, &[1]);
            }
            let m = merged.emit(&[0, 1], &rows).unwrap();
            let v = |a: &ArrayRef| a.as_primitive::<Float64Type>().values().to_vec();
            (v(&out), v(&m))
        };
        let (min, min_merged) = run(AggFunc::Min);
        assert_eq!(min[0], -1.0);
        assert!(min[1].is_nan());
        assert_eq!(min_merged[0], -1.0);
        assert!(min_merged[1].is_nan());
        let (max, max_merged) = run(AggFunc::Max);
        assert!(max[0].is_nan() && max[1].is_nan());
        assert!(max_merged[0].is_nan() && max_merged[1].is_nan());
    }

    #[test]
    fn changes_carry_each_rows_running_value() {
        let ty = SqlType::decimal(18, 2);
        let arg: ArrayRef = Arc::new(
            Decimal128Array::from(vec![150, -25, 1000, 1])
                .with_precision_and_scale(18, 2)
                .unwrap(),
        );
        let mut sum = Acc::new(
            AggFunc::Sum,
            Some(ty),
            SqlType::decimal(38, 2),
            "SUM(x)".into(),
        );
        let mut n = Acc::new(AggFunc::CountStar, None, SqlType::BigInt, "COUNT(*)".into());
        let mut avg = Acc::new(
            AggFunc::Avg,
            Some(ty),
            SqlType::decimal(38, 6),
            "AVG(x)".into(),
        );
        let g = [0, 0, 1, 0];
        let rows = after(&g);
        let s = sum.update_and_snapshot(&g, Some(&arg), 2, &rows).unwrap();
        let c = n.update_and_snapshot(&g, None, 2, &rows).unwrap();
        let a = avg.update_and_snapshot(&g, Some(&arg), 2, &rows).unwrap();
        let dec = |a: &ArrayRef| a.as_primitive::<Decimal128Type>().values().to_vec();
        assert_eq!(dec(&s), vec![150, 125, 1000, 126]);
        assert_eq!(
            c.as_primitive::<Int64Type>().values().to_vec(),
            vec![1, 2, 1, 3]
        );
        // 1.50, 0.625, 10.00, 0.42 at scale 6.
        assert_eq!(dec(&a), vec![1_500_000, 625_000, 10_000_000, 420_000]);
    }
}
