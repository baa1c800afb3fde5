//! Reading final values out of the accumulators, as Arrow columns.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array};

use super::{values, Acc, AggFunc, Out, State};
use crate::decimal;
use crate::error::{Error, Result};
use crate::types::SqlType;

impl Acc {
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
    pub(super) fn emit_each(&self, groups: &[u32], rows: &[i64]) -> Result<ArrayRef> {
        let mut out = Out::new(groups.len(), self.output);
        for &g in groups {
            self.value_into(g as usize, rows[g as usize], &mut out)?;
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
