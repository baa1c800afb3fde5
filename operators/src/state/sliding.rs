//! Per-partition state of one ROWS-frame window function.
//!
//! Contract: rows arrive in event-time order; for each row, the function's
//! value over that partition's last `frame` rows (the row itself included;
//! all rows so far when the frame is unbounded) is produced. SUM/AVG/COUNT
//! keep a running total updated by the row entering and the row leaving the
//! frame; MIN/MAX keep a monotonic deque, so every row costs amortised O(1).
//! NULL values occupy a place in the frame but do not contribute.

use std::collections::VecDeque;

use arrow_array::{Array, ArrayRef};

use super::accumulators::{float_in, AggFunc, ExactIn, Out};
use crate::decimal;
use crate::error::{Error, Result};
use crate::types::SqlType;

trait Val: Copy + PartialOrd + Default {
    fn checked_add(self, o: Self) -> Option<Self>;
    fn sub(self, o: Self) -> Self;
}

impl Val for i128 {
    fn checked_add(self, o: Self) -> Option<Self> {
        i128::checked_add(self, o)
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
}

impl Val for f64 {
    fn checked_add(self, o: Self) -> Option<Self> {
        Some(self + o)
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
}

#[derive(Default)]
struct Part<T> {
    /// Values in the frame, oldest first (only for SUM/AVG/COUNT over a bounded frame).
    ring: VecDeque<(T, bool)>,
    sum: T,
    nn: i64,
    /// Rows seen in this partition.
    seq: u64,
    /// (row seq, value) with values monotonic from the front: the frame's MIN or MAX.
    mono: VecDeque<(u64, T)>,
}

enum Parts {
    Exact(Vec<Part<i128>>),
    Float(Vec<Part<f64>>),
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
        let parts = if input == Some(SqlType::Double) {
            Parts::Float(Vec::new())
        } else {
            Parts::Exact(Vec::new())
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

    /// For rows in event-time order with partition ids `parts`, the function's
    /// value for each row.
    pub fn update_and_snapshot(
        &mut self,
        pids: &[u32],
        arg: Option<&ArrayRef>,
        num_parts: usize,
    ) -> Result<ArrayRef> {
        let mut out = Out::new(pids.len(), self.output);
        let valid = |i: usize| arg.is_none_or(|a| a.is_valid(i));
        let ctx = Ctx {
            func: self.func,
            frame: self.frame,
            in_scale: self.input.and_then(|t| t.exact_scale()).unwrap_or(0),
            output: self.output,
            text: &self.text,
        };
        match &mut self.parts {
            Parts::Exact(parts) => {
                parts.resize_with(num_parts, Part::default);
                match arg {
                    Some(a) => {
                        let x = ExactIn::of(a.as_ref(), self.input.expect("typed argument"));
                        run(parts, pids, |i| x.get(i), valid, &ctx, &mut out)?
                    }
                    None => run(parts, pids, |_| 0, valid, &ctx, &mut out)?,
                }
            }
            Parts::Float(parts) => {
                parts.resize_with(num_parts, Part::default);
                let x = float_in(arg.expect("typed argument").as_ref());
                run(parts, pids, |i| x[i], valid, &ctx, &mut out)?
            }
        }
        out.finish(self.output, &self.text)
    }
}

struct Ctx<'a> {
    func: AggFunc,
    frame: Option<u64>,
    in_scale: u8,
    output: SqlType,
    text: &'a str,
}

trait Emit: Val {
    fn emit(self, out: &mut Out);
    fn avg(sum: Self, nn: i64, ctx: &Ctx<'_>, out: &mut Out) -> Result<()>;
}

impl Emit for i128 {
    fn emit(self, out: &mut Out) {
        out.push_exact(self)
    }
    fn avg(sum: Self, nn: i64, ctx: &Ctx<'_>, out: &mut Out) -> Result<()> {
        match ctx.output {
            SqlType::Decimal { scale, .. } => {
                let q = decimal::div_scaled(sum, ctx.in_scale, nn as i128, 0, scale)
                    .ok_or_else(|| Error::eval(ctx.text, "average overflows"))?;
                out.push_exact(q);
            }
            _ => out.push_float(sum as f64 / nn as f64),
        }
        Ok(())
    }
}

impl Emit for f64 {
    fn emit(self, out: &mut Out) {
        out.push_float(self)
    }
    fn avg(sum: Self, nn: i64, _: &Ctx<'_>, out: &mut Out) -> Result<()> {
        out.push_float(sum / nn as f64);
        Ok(())
    }
}

fn run<T: Emit>(
    parts: &mut [Part<T>],
    pids: &[u32],
    get: impl Fn(usize) -> T,
    valid: impl Fn(usize) -> bool,
    ctx: &Ctx<'_>,
    out: &mut Out,
) -> Result<()> {
    let is_min = ctx.func == AggFunc::Min;
    let keeps_ring = matches!(ctx.func, AggFunc::Sum | AggFunc::Avg | AggFunc::Count);
    for (i, &p) in pids.iter().enumerate() {
        let part = &mut parts[p as usize];
        let seq = part.seq;
        part.seq += 1;
        let ok = valid(i);
        let x = if ok { get(i) } else { T::default() };
        match ctx.func {
            AggFunc::Min | AggFunc::Max => {
                if ok {
                    while let Some(&(_, back)) = part.mono.back() {
                        let dominated = if is_min { back >= x } else { back <= x };
                        if !dominated {
                            break;
                        }
                        part.mono.pop_back();
                    }
                    part.mono.push_back((seq, x));
                }
                if let Some(n) = ctx.frame {
                    while part.mono.front().is_some_and(|&(s, _)| s + n <= seq) {
                        part.mono.pop_front();
                    }
                }
                match part.mono.front() {
                    Some(&(_, v)) => v.emit(out),
                    None => out.push_null(),
                }
                continue;
            }
            AggFunc::CountStar => {
                let rows = match ctx.frame {
                    Some(n) => (seq + 1).min(n),
                    None => seq + 1,
                };
                out.push_exact(rows as i128);
                continue;
            }
            _ => {}
        }
        if ok {
            part.sum = part
                .sum
                .checked_add(x)
                .ok_or_else(|| Error::eval(ctx.text, "sum overflows 128 bits"))?;
            part.nn += 1;
        }
        if let (Some(n), true) = (ctx.frame, keeps_ring) {
            part.ring.push_back((x, ok));
            if part.ring.len() as u64 > n {
                let (y, was_valid) = part.ring.pop_front().expect("non-empty ring");
                if was_valid {
                    part.sum = part.sum.sub(y);
                    part.nn -= 1;
                }
            }
        }
        match ctx.func {
            AggFunc::Count => out.push_exact(part.nn as i128),
            _ if part.nn == 0 => out.push_null(),
            AggFunc::Sum => part.sum.emit(out),
            AggFunc::Avg => T::avg(part.sum, part.nn, ctx, out)?,
            _ => unreachable!("handled above"),
        }
    }
    Ok(())
}
