//! Reading final values out of the accumulators, as Arrow columns.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array};

use super::{values, Acc, AggFunc, Out, State};
use crate::decimal;
use crate::error::{Error, Result};
use crate::types::SqlType;

/// The groups whose values are read: the first `n` (every group of a
/// table, read as slices), or those listed.
#[derive(Clone, Copy)]
enum Picked<'a> {
    First(usize),
    Ids(&'a [u32]),
}

impl Picked<'_> {
    fn len(self) -> usize {
        match self {
            Picked::First(n) => n,
            Picked::Ids(ids) => ids.len(),
        }
    }

    /// `src`'s values of these groups, in order, onto `out`.
    #[inline(always)]
    fn gather<T: Copy>(self, src: &[T], out: &mut Vec<T>) {
        match self {
            Picked::First(n) => out.extend_from_slice(&src[..n]),
            Picked::Ids(ids) => out.extend(ids.iter().map(|&g| src[g as usize])),
        }
    }

    /// Whether `f` holds for every group.
    #[inline(always)]
    fn all(self, f: impl Fn(usize) -> bool) -> bool {
        match self {
            Picked::First(n) => (0..n).all(f),
            Picked::Ids(ids) => ids.iter().all(|&g| f(g as usize)),
        }
    }
}

/// The averager of an AVG from `input` to the DECIMAL `output` (the input's
/// scale to the output's).
///
/// # Panics
/// When `output` is not DECIMAL.
pub(super) fn averager(input: Option<SqlType>, output: SqlType) -> decimal::Averager {
    let in_scale = input.and_then(|t| t.exact_scale()).unwrap_or(0);
    decimal::Averager::new(in_scale, output.exact_scale().expect("a DECIMAL average"))
}

impl Acc {
    /// This AVG's column of the sums in `out` (its exact values), each
    /// divided by its count in `counts`: every average in one pass
    /// (vectorised where they fit 53 bits), the fit check skipped where
    /// [`Self::averages_fit`].
    pub(super) fn averages(&self, mut out: Out, counts: &[i64]) -> Result<ArrayRef> {
        averager(self.input, self.output)
            .avg_all(&mut out.exact, counts)
            .map_err(|_| Error::eval(&self.text, "average overflows"))?;
        out.finish_fitting(self.output, &self.text, self.averages_fit())
    }

    /// The values of groups `groups`, in that order (`rows`: every group's
    /// row count).
    pub fn emit(&mut self, groups: &[u32], rows: &[i64]) -> Result<ArrayRef> {
        self.settle();
        self.emit_picked(Picked::Ids(groups), rows)
    }

    /// [`Acc::emit`] of groups `0..n`: the same values, read as slices.
    pub fn emit_first(&mut self, n: usize, rows: &[i64]) -> Result<ArrayRef> {
        self.settle();
        self.emit_picked(Picked::First(n), rows)
    }

    fn emit_picked(&self, groups: Picked<'_>, rows: &[i64]) -> Result<ArrayRef> {
        // The common shapes (COUNT; exact SUM and AVG where every group has
        // a value) in one loop each; group by group otherwise.
        let nn = |nulls: &[i64], g: usize| values(rows[g], nulls, g);
        match &self.state {
            State::Rows if self.output == SqlType::BigInt => {
                let mut counts = Vec::with_capacity(groups.len());
                groups.gather(rows, &mut counts);
                return Ok(Arc::new(Int64Array::from(counts)));
            }
            State::Count(c) if self.output == SqlType::BigInt => {
                let mut counts = Vec::with_capacity(groups.len());
                groups.gather(c, &mut counts);
                return Ok(Arc::new(Int64Array::from(counts)));
            }
            State::Exact { sum, nulls, .. }
                if !self.overflow && groups.all(|g| nn(nulls, g) > 0) =>
            {
                let mut out = Out::new(groups.len(), self.output);
                match (self.func, self.output) {
                    (AggFunc::Sum, _) => groups.gather(sum, &mut out.exact),
                    (AggFunc::Avg, SqlType::Decimal { .. }) => {
                        // The sums and counts gathered (no NULL came: the
                        // row counts are the counts), then every average in
                        // one pass (vectorised where they fit 53 bits).
                        groups.gather(sum, &mut out.exact);
                        let mut counts = Vec::with_capacity(groups.len());
                        if nulls.is_empty() {
                            groups.gather(rows, &mut counts);
                        } else {
                            let each = |g: usize| nn(nulls, g);
                            match groups {
                                Picked::First(n) => counts.extend((0..n).map(each)),
                                Picked::Ids(ids) => {
                                    counts.extend(ids.iter().map(|&g| each(g as usize)))
                                }
                            }
                        }
                        return self.averages(out, &counts);
                    }
                    _ => return self.emit_each(groups, rows),
                }
                return out.finish_fitting(self.output, &self.text, self.averages_fit());
            }
            _ => {}
        }
        self.emit_each(groups, rows)
    }

    /// [`Acc::emit`], group by group.
    fn emit_each(&self, groups: Picked<'_>, rows: &[i64]) -> Result<ArrayRef> {
        let mut out = Out::new(groups.len(), self.output);
        let mut each = |g: usize| self.value_into(g, rows[g], &mut out);
        match groups {
            Picked::First(n) => (0..n).try_for_each(&mut each)?,
            Picked::Ids(ids) => ids.iter().try_for_each(|&g| each(g as usize))?,
        }
        out.finish(self.output, &self.text)
    }

    /// Group `g`'s value (`rows`: its row count) into `out`.
    #[inline]
    pub(super) fn value_into(&self, g: usize, rows: i64, out: &mut Out) -> Result<()> {
        let nn = |nulls: &[i64]| values(rows, nulls, g);
        match &self.state {
            State::Rows => out.push_exact(rows as i128),
            State::Count(c) => out.push_exact(c[g] as i128),
            State::Exact { sum, nulls, .. } => {
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
