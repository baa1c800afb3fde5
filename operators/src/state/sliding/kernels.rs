//! The per-row loops of a ROWS-frame function over one batch: MIN/MAX by
//! blocks (van Herk / Gil-Werman), SUM/AVG/COUNT by a running total and a
//! ring of the frame's values (the contract is the parent module's).

use arrow_buffer::NullBuffer;

use super::{Ctx, Part, Val};
use crate::error::{Error, Result};
use crate::state::accumulators::{AggFunc, Out};

pub(super) fn run<T: Val>(
    parts: &mut [Part<T>],
    pids: &[u32],
    get: impl Fn(usize) -> T,
    nulls: Option<&NullBuffer>,
    ctx: &Ctx<'_>,
    out: &mut Out,
) -> Result<()> {
    let (frame, text) = (ctx.frame, ctx.text);
    match ctx.func {
        // Each loop compiled twice: for a NULL-free batch (the common one),
        // without a validity test per row.
        AggFunc::Min if nulls.is_none() => {
            min_max::<T, true, false>(parts, pids, get, None, frame, out)
        }
        AggFunc::Min => min_max::<T, true, true>(parts, pids, get, nulls, frame, out),
        AggFunc::Max if nulls.is_none() => {
            min_max::<T, false, false>(parts, pids, get, None, frame, out)
        }
        AggFunc::Max => min_max::<T, false, true>(parts, pids, get, nulls, frame, out),
        AggFunc::CountStar => {
            let n = frame.unwrap_or(u64::MAX);
            for &p in pids {
                let part = &mut parts[p as usize];
                part.seq += 1;
                out.push_exact(part.seq.min(n) as i128);
            }
        }
        // The closures inlined into the row loops (not a call a row).
        AggFunc::Count => sums(
            parts,
            pids,
            get,
            nulls,
            frame,
            text,
            out,
            #[inline(always)]
            |_, nn, out| {
                out.push_exact(nn as i128);
                Ok(())
            },
        )?,
        AggFunc::Sum => sums(
            parts,
            pids,
            get,
            nulls,
            frame,
            text,
            out,
            #[inline(always)]
            |s, nn, out| {
                match nn {
                    0 => out.push_null(),
                    _ => T::emit_sum(s, out),
                }
                Ok(())
            },
        )?,
        AggFunc::Avg => sums(
            parts,
            pids,
            get,
            nulls,
            frame,
            text,
            out,
            #[inline(always)]
            |s, nn, out| match nn {
                0 => {
                    out.push_null();
                    Ok(())
                }
                _ => T::avg(s, nn, ctx, out),
            },
        )?,
    }
    Ok(())
}

/// MIN (`MIN = true`) or MAX over each row's frame; NULL rows hold the
/// identity, and a frame whose latest non-NULL row has left it is NULL.
/// `NULLS` false: `nulls` is `None` (every row valid).
fn min_max<T: Val, const MIN: bool, const NULLS: bool>(
    parts: &mut [Part<T>],
    pids: &[u32],
    get: impl Fn(usize) -> T,
    nulls: Option<&NullBuffer>,
    frame: Option<u64>,
    out: &mut Out,
) {
    let op = |a: T, b: T| if MIN { T::min(a, b) } else { T::max(a, b) };
    let id = if MIN { T::TOP } else { T::BOTTOM };
    for (i, &p) in pids.iter().enumerate() {
        let part = &mut parts[p as usize];
        let ok = !NULLS || nulls.is_none_or(|b| b.is_valid(i));
        let v = if ok { get(i) } else { id };
        let seq = part.seq;
        part.seq += 1;
        if ok {
            part.last_valid = part.seq;
        }
        let pos = part.pos;
        part.run = if pos == 0 { v } else { op(part.run, v) };
        let (res, n) = match frame {
            None => {
                part.pos = 1;
                (part.run, u64::MAX)
            }
            Some(n) => {
                // The previous block's rows still in the frame: `pos + 1..`.
                let older = part.slots.get(pos + 1).copied().unwrap_or(id);
                if pos < part.slots.len() {
                    part.slots[pos] = v;
                } else {
                    part.slots.push(v);
                }
                if pos + 1 == n as usize {
                    // Block complete: its suffix values, in place, for the
                    // next (slot 0's is never read: a frame ending at slot 0
                    // takes the previous block from slot 1).
                    // The running suffix stays in a register: each step
                    // waits on a compare, not on the store before it.
                    if let Some((last, rest)) = part.slots[1..=pos].split_last_mut() {
                        let mut suffix = *last;
                        for v in rest.iter_mut().rev() {
                            suffix = op(*v, suffix);
                            *v = suffix;
                        }
                    }
                    part.pos = 0;
                } else {
                    part.pos = pos + 1;
                }
                (op(part.run, older), n)
            }
        };
        // A valid row is in its own frame; else the latest valid one must be.
        if ok || (part.last_valid != 0 && seq + 1 - part.last_valid < n) {
            res.emit(out);
        } else {
            out.push_null();
        }
    }
}

/// The frame's running total and non-NULL count after each row, handed to
/// `emit`; a total that leaves 128 bits is an error.
#[allow(clippy::too_many_arguments)]
fn sums<T: Val>(
    parts: &mut [Part<T>],
    pids: &[u32],
    get: impl Fn(usize) -> T,
    nulls: Option<&NullBuffer>,
    frame: Option<u64>,
    text: &str,
    out: &mut Out,
    emit: impl FnMut(T::Sum, i64, &mut Out) -> Result<()>,
) -> Result<()> {
    // Compiled twice, as `min_max` is: a NULL-free batch tests no row.
    match nulls {
        None => sums_in::<T, false>(parts, pids, get, None, frame, text, out, emit),
        Some(_) => sums_in::<T, true>(parts, pids, get, nulls, frame, text, out, emit),
    }
}

/// [`sums`]; `NULLS` false: `nulls` is `None`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn sums_in<T: Val, const NULLS: bool>(
    parts: &mut [Part<T>],
    pids: &[u32],
    get: impl Fn(usize) -> T,
    nulls: Option<&NullBuffer>,
    frame: Option<u64>,
    text: &str,
    out: &mut Out,
    mut emit: impl FnMut(T::Sum, i64, &mut Out) -> Result<()>,
) -> Result<()> {
    let overflow = || Error::eval(text, "sum overflows 128 bits");
    for (i, &p) in pids.iter().enumerate() {
        let part = &mut parts[p as usize];
        let ok = !NULLS || nulls.is_none_or(|b| b.is_valid(i));
        let v = if ok { get(i) } else { T::default() };
        part.seq += 1;
        if let Some(n) = frame {
            let pos = part.pos;
            if part.slots.len() < n as usize {
                part.slots.push(v);
                part.valid.push(ok);
            } else {
                // The row leaving the frame.
                part.sum = T::sub(part.sum, part.slots[pos]).ok_or_else(overflow)?;
                part.nn -= part.valid[pos] as i64;
                part.slots[pos] = v;
                part.valid[pos] = ok;
            }
            part.pos = if pos + 1 == n as usize { 0 } else { pos + 1 };
        }
        part.sum = T::add(part.sum, v).ok_or_else(overflow)?;
        part.nn += ok as i64;
        emit(part.sum, part.nn, out)?;
    }
    Ok(())
}
