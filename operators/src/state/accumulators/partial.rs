//! Partial aggregates: what a core writes for the core owning a group, and
//! how the owner merges them into its own state.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, NullArray, StringArray};
use arrow_buffer::NullBuffer;
use arrow_schema::DataType;

use super::{
    add_pending, add_sums, assert_ids_below, float_in, float_max, float_min, null_into, pooled,
    values, Acc, AggFunc, State,
};
use crate::error::{Error, Result};
use crate::gather::Pool;

impl Acc {
    /// This aggregate's partial state for groups `groups` (`rows`: every
    /// group's row count), as columns another core can [`Acc::merge`]:
    /// COUNT(*) none (the row counts go once for all aggregates); COUNT
    /// `[count]`; SUM/AVG `[sum, non-NULL count]` (exact sums as raw
    /// `i128`, or as BIGINT when every one of them fits 64 bits; the count
    /// a column of type NULL, without values, when no group has had a NULL:
    /// then it is each group's row count); MIN/MAX `[value or NULL]`.
    /// Numeric columns are written into vectors from `pool` (which the
    /// receiving core sends back, see [`crate::gather::reclaim`]).
    /// Reads settled sums as they are; pending adds (see [`Acc::settle`],
    /// which the engine calls as a window closes) are added to a copy.
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
            State::Exact {
                sum,
                nulls,
                pending,
                ..
            } => {
                let overflow = || Error::eval(&self.text, "sum overflows 128 bits");
                if self.overflow {
                    return Err(overflow());
                }
                let mut settled: Vec<i128>;
                let sum = if pending.is_empty() {
                    sum
                } else {
                    settled = sum.clone();
                    if add_pending(&mut settled, pending) {
                        return Err(overflow());
                    }
                    &settled
                };
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
            State::Exact {
                sum, nulls, wide, ..
            } => {
                *wide = true;
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
}
