//! Per-partition state of one ROWS-frame window function.
//!
//! Contract: rows arrive in event-time order; for each row, the function's
//! value over that partition's last `frame` rows (the row itself included;
//! all rows so far when the frame is unbounded) is produced. NULL values
//! occupy a place in the frame but do not contribute; a frame without a
//! non-NULL value gives NULL (COUNT gives 0). Exact SUM/AVG are exact (an
//! `i128` running total; AVG rounded half away from zero at the output
//! scale); a DOUBLE NaN is the greatest value (MAX is NaN when a NaN is in
//! the frame, MIN skips it unless the frame holds only NaNs).
//!
//! Every row costs O(1) with no data-dependent branch:
//! - SUM/AVG/COUNT keep a running total, plus a ring of the frame's values
//!   to subtract the row leaving it;
//! - MIN/MAX split each partition's rows into blocks of `frame` rows (van
//!   Herk / Gil-Werman): the frame ending at position `p` of block `b` is
//!   block `b`'s rows `0..=p` (a running minimum) and block `b-1`'s rows
//!   `p+1..` (that block's suffix minima, computed once when it completed,
//!   in the same slots the current block overwrites from the front).
//!
//! State per partition is the frame's values at most (fewer for a partition
//! that has seen fewer rows).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};

use super::accumulators::{float_max, float_min, AggFunc, Out};
use crate::decimal;
use crate::error::{Error, Result};
use crate::types::SqlType;

/// A value kept in a frame: `i64` (BIGINT, TIMESTAMP, DECIMAL up to 18
/// digits), `i128` (wider DECIMAL) or `f64` (DOUBLE).
trait Val: Copy + Default {
    /// The running total of SUM/AVG.
    type Sum: Copy + Default;
    /// No value is above it (MIN's identity) / below it (MAX's identity).
    const TOP: Self;
    const BOTTOM: Self;
    fn min(a: Self, b: Self) -> Self;
    fn max(a: Self, b: Self) -> Self;
    fn add(s: Self::Sum, x: Self) -> Option<Self::Sum>;
    fn sub(s: Self::Sum, x: Self) -> Option<Self::Sum>;
    fn emit(self, out: &mut Out);
    fn emit_sum(s: Self::Sum, out: &mut Out);
    fn avg(s: Self::Sum, nn: i64, ctx: &Ctx<'_>, out: &mut Out) -> Result<()>;
}

#[inline(always)]
fn exact_avg(s: i128, nn: i64, ctx: &Ctx<'_>, out: &mut Out) -> Result<()> {
    match ctx.averager {
        Some(a) => {
            let q = a
                .avg(s, nn)
                .ok_or_else(|| Error::eval(ctx.text, "average overflows"))?;
            out.push_exact(q);
        }
        None => out.push_float(s as f64 / nn as f64),
    }
    Ok(())
}

/// The exact kinds: totals in `i128`, whatever the value's width.
macro_rules! exact_val {
    ($t:ty) => {
        impl Val for $t {
            type Sum = i128;
            const TOP: $t = <$t>::MAX;
            const BOTTOM: $t = <$t>::MIN;
            #[inline(always)]
            fn min(a: $t, b: $t) -> $t {
                a.min(b)
            }
            #[inline(always)]
            fn max(a: $t, b: $t) -> $t {
                a.max(b)
            }
            #[inline(always)]
            fn add(s: i128, x: $t) -> Option<i128> {
                s.checked_add(i128::from(x))
            }
            #[inline(always)]
            fn sub(s: i128, x: $t) -> Option<i128> {
                s.checked_sub(i128::from(x))
            }
            fn emit(self, out: &mut Out) {
                out.push_exact(i128::from(self))
            }
            fn emit_sum(s: i128, out: &mut Out) {
                out.push_exact(s)
            }
            #[inline(always)]
            fn avg(s: i128, nn: i64, ctx: &Ctx<'_>, out: &mut Out) -> Result<()> {
                exact_avg(s, nn, ctx, out)
            }
        }
    };
}

exact_val!(i64);
exact_val!(i128);

/// A DOUBLE frame's total: finite values summed, NaN and infinities counted,
/// so one that leaves the frame stops affecting the total.
#[derive(Clone, Copy, Default)]
struct FloatSum {
    finite: f64,
    nan: u32,
    pos_inf: u32,
    neg_inf: u32,
}

impl FloatSum {
    #[inline(always)]
    fn step(mut self, x: f64, by: i32) -> FloatSum {
        if x.is_finite() {
            self.finite += by as f64 * x;
        } else if x.is_nan() {
            self.nan = self.nan.wrapping_add_signed(by);
        } else if x > 0.0 {
            self.pos_inf = self.pos_inf.wrapping_add_signed(by);
        } else {
            self.neg_inf = self.neg_inf.wrapping_add_signed(by);
        }
        self
    }

    fn value(self) -> f64 {
        match (self.nan, self.pos_inf, self.neg_inf) {
            (0, 0, 0) => self.finite,
            (0, _, 0) => f64::INFINITY,
            (0, 0, _) => f64::NEG_INFINITY,
            _ => f64::NAN,
        }
    }
}

impl Val for f64 {
    type Sum = FloatSum;
    // NaN is the greatest value: MIN's identity, and MAX's answer once seen.
    const TOP: f64 = f64::NAN;
    const BOTTOM: f64 = f64::NEG_INFINITY;
    #[inline(always)]
    fn min(a: f64, b: f64) -> f64 {
        float_min(a, b)
    }
    #[inline(always)]
    fn max(a: f64, b: f64) -> f64 {
        float_max(a, b)
    }
    #[inline(always)]
    fn add(s: FloatSum, x: f64) -> Option<FloatSum> {
        Some(s.step(x, 1))
    }
    #[inline(always)]
    fn sub(s: FloatSum, x: f64) -> Option<FloatSum> {
        Some(s.step(x, -1))
    }
    fn emit(self, out: &mut Out) {
        out.push_float(self)
    }
    fn emit_sum(s: FloatSum, out: &mut Out) {
        out.push_float(s.value())
    }
    fn avg(s: FloatSum, nn: i64, _: &Ctx<'_>, out: &mut Out) -> Result<()> {
        out.push_float(s.value() / nn as f64);
        Ok(())
    }
}

/// One partition's state.
#[derive(Default)]
struct Part<T: Val> {
    /// Rows seen.
    seq: u64,
    /// The next row's slot: `seq % frame` once the first frame is full.
    pos: usize,
    /// 1 + seq of the latest non-NULL row; 0 before any.
    last_valid: u64,
    /// MIN/MAX: the running value of the current block.
    run: T,
    /// SUM/AVG/COUNT: the frame's total and its non-NULL rows.
    sum: T::Sum,
    nn: i64,
    /// MIN/MAX: the current block's values at `0..pos`, the previous block's
    /// suffix values from `pos`; SUM/AVG/COUNT: the frame's values, a ring.
    slots: Vec<T>,
    /// SUM/AVG/COUNT: which ring slots hold a non-NULL value.
    valid: Vec<bool>,
}

enum Parts {
    I64(Vec<Part<i64>>),
    I128(Vec<Part<i128>>),
    F64(Vec<Part<f64>>),
}

pub struct Sliding {
    func: AggFunc,
    input: Option<SqlType>,
    output: SqlType,
    /// Rows in the frame including the current one; `None` is unbounded.
    frame: Option<u64>,
    text: String,
    parts: Parts,
}

impl Sliding {
    pub fn new(
        func: AggFunc,
        input: Option<SqlType>,
        output: SqlType,
        frame: Option<u64>,
        text: String,
    ) -> Self {
        // COUNT reads only validity, so its values are never kept.
        let parts = match (func, input) {
            (AggFunc::Count | AggFunc::CountStar, _) => Parts::I64(Vec::new()),
            (_, Some(SqlType::Double)) => Parts::F64(Vec::new()),
            (_, Some(SqlType::Decimal { precision, .. })) if precision > 18 => {
                Parts::I128(Vec::new())
            }
            _ => Parts::I64(Vec::new()),
        };
        Sliding {
            func,
            input,
            output,
            frame,
            text,
            parts,
        }
    }

    /// [`Self::update_and_snapshot_in`] with nothing known to fit (the
    /// tests' form).
    #[cfg(test)]
    pub fn update_and_snapshot(
        &mut self,
        pids: &[u32],
        arg: Option<&ArrayRef>,
        num_parts: usize,
    ) -> Result<ArrayRef> {
        self.update_and_snapshot_in(pids, arg, num_parts, &mut Vec::new())
    }

    /// For rows in event-time order with partition ids `pids`, the function's
    /// value for each row. `fitting` lists arguments already found to fit
    /// their declared DECIMAL precision (by another function over the same
    /// batch: one check, not one per function); an argument this call
    /// checks is added to it.
    pub fn update_and_snapshot_in(
        &mut self,
        pids: &[u32],
        arg: Option<&ArrayRef>,
        num_parts: usize,
        fitting: &mut Vec<ArrayRef>,
    ) -> Result<ArrayRef> {
        let mut out = Out::new(pids.len(), self.output);
        let nulls = arg
            .and_then(|a| a.logical_nulls())
            .filter(|n| n.null_count() > 0);
        let in_scale = self.input.and_then(|t| t.exact_scale()).unwrap_or(0);
        let ctx = Ctx {
            func: self.func,
            frame: self.frame,
            averager: match self.output {
                SqlType::Decimal { scale, .. } => Some(decimal::Averager::new(in_scale, scale)),
                _ => None,
            },
            text: &self.text,
        };
        let counts = matches!(self.func, AggFunc::Count | AggFunc::CountStar);
        // MIN and MAX give their argument's values, at its type: when those
        // are known to fit it, so are the results.
        let mut results_fit = false;
        match &mut self.parts {
            Parts::I64(parts) => {
                parts.resize_with(num_parts, Part::default);
                match (arg, self.input) {
                    (Some(a), Some(SqlType::Decimal { precision, .. })) if !counts => {
                        let v = &a.as_primitive::<Decimal128Type>().values()[..pids.len()];
                        // Up to 18 digits fit 64 bits; checked once per batch
                        // (slots under NULLs may hold anything).
                        if !fitting.iter().any(|f| Arc::ptr_eq(f, a)) {
                            let all_fit = match &nulls {
                                None => decimal::all_fit(v, precision),
                                Some(n) => v
                                    .iter()
                                    .enumerate()
                                    .all(|(i, &x)| n.is_null(i) || decimal::fits(x, precision)),
                            };
                            if !all_fit {
                                return Err(Error::eval(
                                    &self.text,
                                    "a value exceeds its declared DECIMAL precision",
                                ));
                            }
                            fitting.push(a.clone());
                        }
                        results_fit = true;
                        run(parts, pids, |i| v[i] as i64, nulls.as_ref(), &ctx, &mut out)?
                    }
                    (Some(a), Some(SqlType::BigInt)) if !counts => {
                        let v = &a.as_primitive::<Int64Type>().values()[..pids.len()];
                        results_fit = true;
                        run(parts, pids, |i| v[i], nulls.as_ref(), &ctx, &mut out)?
                    }
                    (Some(a), Some(SqlType::Timestamp)) if !counts => {
                        let v =
                            &a.as_primitive::<TimestampMillisecondType>().values()[..pids.len()];
                        results_fit = true;
                        run(parts, pids, |i| v[i], nulls.as_ref(), &ctx, &mut out)?
                    }
                    _ => run(parts, pids, |_| 0, nulls.as_ref(), &ctx, &mut out)?,
                }
            }
            Parts::I128(parts) => {
                parts.resize_with(num_parts, Part::default);
                let v = arg
                    .expect("typed argument")
                    .as_primitive::<Decimal128Type>();
                let v = v.values();
                run(parts, pids, |i| v[i], nulls.as_ref(), &ctx, &mut out)?
            }
            Parts::F64(parts) => {
                parts.resize_with(num_parts, Part::default);
                let v = arg.expect("typed argument").as_primitive::<Float64Type>();
                let v = v.values();
                run(parts, pids, |i| v[i], nulls.as_ref(), &ctx, &mut out)?
            }
        }
        let results_fit = results_fit
            && matches!(self.func, AggFunc::Min | AggFunc::Max)
            && Some(self.output) == self.input;
        out.finish_fitting(self.output, &self.text, results_fit)
    }
}

struct Ctx<'a> {
    func: AggFunc,
    frame: Option<u64>,
    /// AVG with a DECIMAL output (else a DOUBLE one).
    averager: Option<decimal::Averager>,
    text: &'a str,
}

mod kernels;

use kernels::run;

#[cfg(test)]
mod tests;
