//! Folding input rows into the accumulators: one tight loop per aggregate
//! over (group id, value) pairs, and the running values EMIT CHANGES reads
//! after each row.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array};
use arrow_buffer::ScalarBuffer;

use super::emit::averager;
use super::{float_max, float_min, null_into, Acc, AggFunc, ExactIn, GroupIds, Input, Out, State};
use crate::error::{Error, Result};
use crate::types::SqlType;

impl Acc {
    /// Folds row `i` (value from `arg`) into group `g` of `groups`. Rows
    /// with NULL values are skipped (SUM and AVG count them).
    #[inline(always)]
    pub(super) fn fold(&mut self, g: usize, i: usize, arg: &Input<'_>, groups: usize) {
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
            (State::Exact { sum, wide, .. }, Input::Exact(x, _)) => {
                *wide = true;
                match sum[g].checked_add(x.get(i)) {
                    Some(v) => sum[g] = v,
                    None => self.overflow = true,
                }
            }
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
    ///
    /// # Panics
    /// Unless every id of `groups` is below `num_groups`.
    pub fn update(&mut self, groups: &[u32], arg: Option<&ArrayRef>, num_groups: usize) {
        self.update_ids(GroupIds::check(groups, num_groups), arg);
    }

    /// [`Self::update`] with ids checked already: the state is kept for
    /// `ids.bound()` groups.
    pub fn update_ids(&mut self, ids: GroupIds<'_>, arg: Option<&ArrayRef>) {
        self.update_at(ids, arg, None);
    }

    /// [`Self::update_ids`] where row `i`'s value is `arg`'s row `at[i]`:
    /// the values read where they lie (rows of a batch split between
    /// windows), not taken out into arrays of their own first.
    ///
    /// # Panics
    /// Unless there is a row of `at` for every id and every one is a row
    /// of `arg`.
    pub fn update_ids_at(&mut self, ids: GroupIds<'_>, arg: Option<&ArrayRef>, at: &[u32]) {
        assert_eq!(at.len(), ids.ids().len(), "a row for every id");
        // No argument (COUNT(*)): no value to read.
        let at = arg.map(|a| GroupIds::check(at, a.len()));
        self.update_at(ids, arg, at);
    }

    /// [`Self::update_ids`] with row `i`'s value at `at[i]` (checked rows
    /// of `arg`) when given, at `i` otherwise.
    fn update_at(&mut self, ids: GroupIds<'_>, arg: Option<&ArrayRef>, at: Option<GroupIds<'_>>) {
        let (groups, num_groups) = (ids.ids(), ids.bound());
        self.resize(num_groups);
        let input = Input::of(arg, self.input);
        // Every group id is below `num_groups` (checked when `ids` was
        // made), the length of each state vector after the resize; every
        // row of `at` below the input's length (checked when `at` was
        // made): so the specialised loops below index unchecked.
        // Specialised loops for the common cases; the general fold otherwise.
        match (&mut self.state, &input) {
            (State::Rows, _) => {}
            (State::Count(c), Input::Exact(_, None) | Input::Float(_, None)) => {
                debug_assert!(c.len() >= num_groups);
                let c = c.as_mut_slice();
                for &g in groups {
                    // SAFETY: `g < num_groups <= c.len()` (checked ids, and
                    // the resize above).
                    unsafe { *c.get_unchecked_mut(g as usize) += 1 };
                }
            }
            (
                State::Exact {
                    sum, pending, wide, ..
                },
                Input::Exact(x, None),
            ) => {
                debug_assert!(sum.len() >= num_groups);
                // Set even when every value goes to the pending sums: an
                // add that leaves 64 bits goes to `sum`.
                *wide = true;
                // As a slice: the loops then keep its base pointer in a
                // register (through the vector they reloaded it from memory
                // after every store).
                let sum = sum.as_mut_slice();
                // One loop per input width, values zipped with group ids; an
                // overflow is remembered and reported at emission.
                let mut overflow = false;
                let mut fold = |g: u32, v: i128| {
                    // SAFETY: `g < num_groups` (checked ids), the length of
                    // `sum` after the resize above.
                    let s = unsafe { sum.get_unchecked_mut(g as usize) };
                    let (v, o) = s.overflowing_add(v);
                    *s = v;
                    overflow |= o;
                };
                // 64-bit values added to the 64-bit pending sums: an add
                // that would leave 64 bits moves the pending sum and the
                // value into the 128-bit sum instead (a branch taken
                // about never).
                if matches!(x, ExactIn::I64(_)) && pending.len() < num_groups {
                    pending.resize(num_groups, 0);
                }
                let pending = pending.as_mut_slice();
                let mut add = |g: u32, v: i64| {
                    // SAFETY: `g < num_groups` (checked ids), at most the
                    // length of `pending` (resized just above) and of `sum`.
                    let p = unsafe { pending.get_unchecked_mut(g as usize) };
                    let (y, o) = p.overflowing_add(v);
                    if o {
                        fold(g, *p as i128 + v as i128);
                        *p = 0;
                    } else {
                        *p = y;
                    }
                };
                match (x, at) {
                    (ExactIn::I64(v), None) => {
                        for (&g, &v) in groups.iter().zip(v.iter()) {
                            add(g, v);
                        }
                    }
                    (ExactIn::I128(v), None) => {
                        for (&g, &v) in groups.iter().zip(v.iter()) {
                            fold(g, v);
                        }
                    }
                    (ExactIn::I64(v), Some(at)) => {
                        for (&g, &r) in groups.iter().zip(at.ids()) {
                            // SAFETY: `r` is below the input's length, that
                            // of `v` (checked rows).
                            add(g, unsafe { *v.get_unchecked(r as usize) });
                        }
                    }
                    (ExactIn::I128(v), Some(at)) => {
                        for (&g, &r) in groups.iter().zip(at.ids()) {
                            // SAFETY: as just above.
                            fold(g, unsafe { *v.get_unchecked(r as usize) });
                        }
                    }
                    (ExactIn::Bool(_), _) => {
                        for (i, &g) in groups.iter().enumerate() {
                            fold(g, x.get(at.map_or(i, |a| a.ids()[i] as usize)));
                        }
                    }
                }
                self.overflow |= overflow;
            }
            _ => {
                for (i, &g) in groups.iter().enumerate() {
                    let row = at.map_or(i, |a| a.ids()[i] as usize);
                    self.fold(g as usize, row, &input, num_groups);
                }
            }
        }
    }

    /// Folds rows one at a time and returns, for each row, its group's value
    /// right after that row (the EMIT CHANGES changelog); `rows_after[i]`
    /// is row `i`'s group's row count right after it.
    ///
    /// # Panics
    /// Unless every id of `groups` is below `num_groups`, and unless there
    /// is a row count for every row.
    pub fn update_and_snapshot(
        &mut self,
        groups: &[u32],
        arg: Option<&ArrayRef>,
        num_groups: usize,
        rows_after: &[i64],
    ) -> Result<ArrayRef> {
        let rows_after = ScalarBuffer::from(rows_after.to_vec());
        self.update_and_snapshot_ids(GroupIds::check(groups, num_groups), arg, &rows_after)
    }

    /// [`Self::update_and_snapshot`] with ids checked already: the state
    /// is kept for `ids.bound()` groups. COUNT(*) gives `rows_after`
    /// itself (shared, not copied).
    pub fn update_and_snapshot_ids(
        &mut self,
        ids: GroupIds<'_>,
        arg: Option<&ArrayRef>,
        rows_after: &ScalarBuffer<i64>,
    ) -> Result<ArrayRef> {
        let (groups, num_groups) = (ids.ids(), ids.bound());
        self.resize(num_groups);
        assert_eq!(rows_after.len(), groups.len(), "a row count for every row");
        let input = Input::of(arg, self.input);
        if let Some(col) = self.running_narrow(ids, &input, rows_after)? {
            return Ok(col);
        }
        // The running values read the sums (and the running loops below
        // write them).
        self.settle();
        if let State::Exact { wide, .. } = &mut self.state {
            *wide = true;
        }
        // Room for the values only where the general fold pushes them (the
        // running loops reserve their own; the arms that return early
        // build their columns themselves).
        let mut out = Out::new(0, self.output);
        // `running`'s failure: a sum past 128 bits, or `value` giving none
        // (`other` says why).
        let text = &self.text;
        let failed = |other: &'static str| {
            move |sum_overflowed: bool| {
                let what = if sum_overflowed {
                    "sum overflows 128 bits"
                } else {
                    other
                };
                Error::eval(text, what)
            }
        };
        // The common shapes in one tight loop each (no NULL input, so every
        // value is non-NULL: `out.valid` stays empty); the general fold
        // otherwise.
        match (&mut self.state, &input, self.func) {
            (State::Rows, _, _) if self.output == SqlType::BigInt => {
                return Ok(Arc::new(Int64Array::new(rows_after.clone(), None)));
            }
            (State::Count(c), Input::Exact(_, None) | Input::Float(_, None), _)
                if self.output == SqlType::BigInt =>
            {
                assert_eq!(c.len(), num_groups, "a count for every group");
                let counts: Vec<i64> = groups
                    .iter()
                    .map(|&g| {
                        // SAFETY: `g < num_groups` (checked ids), the
                        // length of `c` (asserted just above).
                        let n = unsafe { c.get_unchecked_mut(g as usize) };
                        *n += 1;
                        *n
                    })
                    .collect();
                return Ok(Arc::new(Int64Array::from(counts)));
            }
            // A BIGINT sum written as BIGINT values straight away (each
            // checked as it comes), not as 128-bit values checked and
            // narrowed in two more passes.
            (State::Exact { sum, nulls, .. }, Input::Exact(x, None), AggFunc::Sum)
                if self.output == SqlType::BigInt =>
            {
                let mut v: Vec<i64> = Vec::new();
                running(ids, x, sum, rows_after, nulls, &mut v, |s, _| {
                    i64::try_from(s).ok()
                })
                .map_err(failed("result overflows BIGINT"))?;
                return Ok(Arc::new(Int64Array::from(v)));
            }
            (State::Exact { sum, nulls, .. }, Input::Exact(x, None), AggFunc::Sum) => {
                running(ids, x, sum, rows_after, nulls, &mut out.exact, |s, _| {
                    Some(s)
                })
                .map_err(|_| Error::eval(&self.text, "sum overflows 128 bits"))?;
            }
            (State::Exact { sum, nulls, .. }, Input::Exact(x, None), AggFunc::Avg)
                if matches!(self.output, SqlType::Decimal { .. }) =>
            {
                let averager = averager(self.input, self.output);
                if nulls.is_empty() {
                    // No NULL came: each row's count is its group's row
                    // count. The running sums first, then every average
                    // in one pass.
                    running(ids, x, sum, rows_after, nulls, &mut out.exact, |s, _| {
                        Some(s)
                    })
                    .map_err(|_| Error::eval(&self.text, "sum overflows 128 bits"))?;
                    return self.averages(out, rows_after);
                }
                running(ids, x, sum, rows_after, nulls, &mut out.exact, |s, n| {
                    averager.avg(s, n)
                })
                .map_err(failed("average overflows"))?;
            }
            _ => {
                out = Out::new(groups.len(), self.output);
                for (i, &g) in groups.iter().enumerate() {
                    self.fold(g as usize, i, &input, num_groups);
                    self.value_into(g as usize, rows_after[i], &mut out)?;
                }
            }
        }
        out.finish(self.output, &self.text)
    }
}

impl Acc {
    /// EMIT CHANGES' running SUM or AVG of values that fit 64 bits (no
    /// NULL among them, none before) while no 128-bit sum holds anything
    /// (`wide` unset): each group's sum is its pending 64-bit sum, read and
    /// written as such (half the bytes the 128-bit sums' scattered reads
    /// and writes touch). `None` (nothing done) where that does not hold,
    /// or when a value or a sum would leave 64 bits in this batch (the
    /// batch's adds are then taken back, and the caller's 128-bit path
    /// runs instead).
    fn running_narrow(
        &mut self,
        ids: GroupIds<'_>,
        input: &Input<'_>,
        rows_after: &[i64],
    ) -> Result<Option<ArrayRef>> {
        let (
            State::Exact {
                pending,
                nulls,
                wide: false,
                ..
            },
            Input::Exact(x, None),
        ) = (&mut self.state, input)
        else {
            return Ok(None);
        };
        if !nulls.is_empty() || !matches!(self.func, AggFunc::Sum | AggFunc::Avg) {
            return Ok(None);
        }
        if pending.len() < ids.bound() {
            pending.resize(ids.bound(), 0);
        }
        match (self.func, self.output) {
            (AggFunc::Sum, SqlType::BigInt) => {
                let mut v: Vec<i64> = Vec::new();
                if !running64(ids, x, pending, &mut v, |s| s) {
                    return Ok(None);
                }
                Ok(Some(Arc::new(Int64Array::from(v))))
            }
            (AggFunc::Sum, _) => {
                let mut out = Out::new(0, self.output);
                if !running64(ids, x, pending, &mut out.exact, |s| s as i128) {
                    return Ok(None);
                }
                out.finish(self.output, &self.text).map(Some)
            }
            (AggFunc::Avg, SqlType::Decimal { .. }) => {
                let mut out = Out::new(0, self.output);
                if !running64(ids, x, pending, &mut out.exact, |s| s as i128) {
                    return Ok(None);
                }
                // No NULL came: each row's count is its group's row count.
                self.averages(out, rows_after).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// Adds `x[i]` to the 64-bit sum `sum[groups[i]]` row by row and appends
/// `value` of the sum right after each row to `out`; `false` when a value
/// does not fit 64 bits or an add would leave them, every add of the batch
/// then taken back (`sum` as it was; `out` unspecified).
fn running64<T>(
    ids: GroupIds<'_>,
    x: &ExactIn<'_>,
    sum: &mut [i64],
    out: &mut Vec<T>,
    value: impl Fn(i64) -> T,
) -> bool {
    match x {
        ExactIn::I64(v) => running64_of(ids, v, Some, sum, out, value),
        // A DECIMAL of up to 18 digits (AVG(price)): every value fits,
        // checked as it comes all the same.
        ExactIn::I128(v) => running64_of(ids, v, |v| i64::try_from(v).ok(), sum, out, value),
        ExactIn::Bool(_) => false,
    }
}

/// [`running64`] of values `x`, each read as 64 bits by `narrow`.
#[inline(always)]
fn running64_of<T, V: Copy>(
    ids: GroupIds<'_>,
    x: &[V],
    narrow: impl Fn(V) -> Option<i64>,
    sum: &mut [i64],
    out: &mut Vec<T>,
    value: impl Fn(i64) -> T,
) -> bool {
    let groups = ids.ids();
    let n = groups.len();
    assert!(sum.len() >= ids.bound(), "a sum for every group");
    assert!(x.len() >= n, "a value for every row");
    out.clear();
    out.reserve(n);
    let dst = &mut out.spare_capacity_mut()[..n];
    let mut failed = None;
    for (i, ((d, &g), &v)) in dst.iter_mut().zip(groups).zip(x).enumerate() {
        // SAFETY: `g` is below `ids.bound()` (checked ids), at most the
        // length of `sum` (asserted above).
        let s = unsafe { sum.get_unchecked_mut(g as usize) };
        let Some((y, false)) = narrow(v).map(|v| s.overflowing_add(v)) else {
            failed = Some(i);
            break;
        };
        *s = y;
        d.write(value(y));
    }
    if let Some(i) = failed {
        // The rows before `i` added; taken back in reverse (each sum as
        // it was before the batch: wrapping arithmetic undoes exactly).
        for (&g, &v) in groups[..i].iter().zip(x).rev() {
            let s = &mut sum[g as usize];
            *s = s.wrapping_sub(narrow(v).expect("added, so it fits"));
        }
        return false;
    }
    // SAFETY: every one of the first `n` slots was written above (no add
    // failed).
    unsafe { out.set_len(n) };
    true
}

/// Folds `x[i]` (no NULL among them) into the sum of group `groups[i]`, row
/// by row, and appends `value(sum, count of values)` of the group right
/// after each row to `out` (the count: `rows_after[i]` less the group's
/// `nulls`, see [`null_into`]): one loop per input width. `Err(true)`: a sum
/// left 128 bits; `Err(false)`: `value` gave `None`.
fn running<T>(
    ids: GroupIds<'_>,
    x: &ExactIn<'_>,
    sum: &mut [i128],
    rows_after: &[i64],
    nulls: &[i64],
    out: &mut Vec<T>,
    value: impl Fn(i128, i64) -> Option<T>,
) -> std::result::Result<(), bool> {
    if nulls.is_empty() {
        running_with(ids, x, sum, rows_after, |_| 0, out, value)
    } else {
        assert!(nulls.len() >= ids.bound(), "a NULL count for every group");
        // SAFETY: every id is below `ids.bound()` (checked ids), at most
        // `nulls.len()` (asserted just above).
        let nulls_of = |g: u32| unsafe { *nulls.get_unchecked(g as usize) };
        running_with(ids, x, sum, rows_after, nulls_of, out, value)
    }
}

/// [`running`], group `g`'s NULLs `nulls_of(g)`.
#[inline(always)]
fn running_with<T>(
    ids: GroupIds<'_>,
    x: &ExactIn<'_>,
    sum: &mut [i128],
    rows_after: &[i64],
    nulls_of: impl Fn(u32) -> i64,
    out: &mut Vec<T>,
    value: impl Fn(i128, i64) -> Option<T>,
) -> std::result::Result<(), bool> {
    assert!(sum.len() >= ids.bound(), "a sum for every group");
    let groups = ids.ids();
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
        // SAFETY: `g` is below `ids.bound()` (checked ids), at most the
        // length of `sum` (asserted above).
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
