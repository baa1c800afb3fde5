//! Hashing rows' keys: the routing hash every core computes alike (and
//! the split of a batch's rows between two cores by it), and the group
//! tables' own hash, column by column.

use arrow_array::ArrayRef;
use arrow_buffer::NullBuffer;

use super::hash::{mix, mix_i128, mix_str};
use super::{key_cols, KeyCol, ROUTE_SEED};
use crate::types::SqlType;

/// A hash of each row's key that every core computes alike (for routing rows
/// to the core that owns their key). Seeded apart from the group tables' own
/// hash, so routing does not thin out the bits those tables use.
pub fn hash_keys(keys: &[ArrayRef], types: &[SqlType], num_rows: usize, out: &mut Vec<u64>) {
    let cols = key_cols(keys, types);
    hash_columns(&cols, num_rows, ROUTE_SEED, out);
}

/// The rows of a batch split two ways by their key's routing hash (the one
/// [`hash_keys`] gives): row `i` listed in `b` when `second(hash)`, else in
/// `a`, each list ascending (emptied first). Keys of one or two NULL-free
/// BIGINT, TIMESTAMP or VARCHAR columns (the common keys: a symbol; a
/// trader and a symbol) are hashed and split in one pass, no hash stored
/// per row; others are hashed into `scratch` first.
pub fn split_keys(
    keys: &[ArrayRef],
    types: &[SqlType],
    num_rows: usize,
    scratch: &mut Vec<u64>,
    second: impl Fn(u64) -> bool,
    a: &mut Vec<u32>,
    b: &mut Vec<u32>,
) {
    let cols = key_cols(keys, types);
    let no_nulls = |n: Option<&NullBuffer>| n.is_none_or(|b| b.null_count() == 0);
    let parts: Option<Vec<Part<'_>>> = cols
        .iter()
        .map(|c| match *c {
            KeyCol::I64(v, nulls) if no_nulls(nulls) => Some(Part::Int(v)),
            KeyCol::Str {
                offsets,
                data,
                nulls,
            } if no_nulls(nulls) => Some(Part::Str(offsets, data)),
            _ => None,
        })
        .collect();
    let n = num_rows;
    match parts.as_deref() {
        Some(&[Part::Int(x)]) => split_parts(Ints(x), Nothing, n, second, a, b),
        Some(&[Part::Str(o, d)]) => split_parts(Strs(o, d), Nothing, n, second, a, b),
        Some(&[Part::Int(x), Part::Int(y)]) => split_parts(Ints(x), Ints(y), n, second, a, b),
        Some(&[Part::Int(x), Part::Str(o, d)]) => split_parts(Ints(x), Strs(o, d), n, second, a, b),
        Some(&[Part::Str(o, d), Part::Int(y)]) => split_parts(Strs(o, d), Ints(y), n, second, a, b),
        Some(&[Part::Str(o, d), Part::Str(p, e)]) => {
            split_parts(Strs(o, d), Strs(p, e), n, second, a, b)
        }
        _ => {
            hash_columns(&cols, n, ROUTE_SEED, scratch);
            crate::gather::split_rows(scratch.iter().map(|&h| second(h)), a, b);
        }
    }
}

/// A NULL-free key column [`split_keys`] hashes in its one pass.
#[derive(Clone, Copy)]
enum Part<'a> {
    Int(&'a [i64]),
    Str(&'a [i32], &'a [u8]),
}

/// One key column's part of a row's routing hash, mixed in as
/// [`hash_columns`] mixes it.
trait Mix {
    /// Whether the column has a value for each of `n` rows.
    fn covers(&self, n: usize) -> bool;
    /// `h` with row `i`'s value mixed in.
    ///
    /// # Safety
    /// `i` must be below an `n` the column [`Mix::covers`].
    unsafe fn mix(&self, h: u64, i: usize) -> u64;
}

/// No column (a key of one column has no second).
struct Nothing;
/// A BIGINT or TIMESTAMP column's values.
struct Ints<'a>(&'a [i64]);
/// A VARCHAR column's offsets and text.
struct Strs<'a>(&'a [i32], &'a [u8]);

impl Mix for Nothing {
    fn covers(&self, _: usize) -> bool {
        true
    }
    #[inline(always)]
    unsafe fn mix(&self, h: u64, _: usize) -> u64 {
        h
    }
}

impl Mix for Ints<'_> {
    fn covers(&self, n: usize) -> bool {
        self.0.len() >= n
    }
    #[inline(always)]
    unsafe fn mix(&self, h: u64, i: usize) -> u64 {
        // SAFETY: `i < n <= len` (the caller's promise).
        mix(h, unsafe { *self.0.get_unchecked(i) } as u64)
    }
}

impl Mix for Strs<'_> {
    fn covers(&self, n: usize) -> bool {
        self.0.len() > n
    }
    #[inline(always)]
    unsafe fn mix(&self, h: u64, i: usize) -> u64 {
        // SAFETY: `i < n` and there are more than `n` offsets (the
        // caller's promise); `mix_str` checks the text's bounds itself.
        let (lo, hi) = unsafe { (*self.0.get_unchecked(i), *self.0.get_unchecked(i + 1)) };
        mix_str(h, self.1, lo, hi)
    }
}

/// [`split_keys`]' one pass for a key of columns `p` then `q`: each row's
/// hash mixed from its values, then its row number written to both lists,
/// only its own list's length advancing (no branch on the owner).
fn split_parts(
    p: impl Mix,
    q: impl Mix,
    n: usize,
    second: impl Fn(u64) -> bool,
    a: &mut Vec<u32>,
    b: &mut Vec<u32>,
) {
    assert!(n <= u32::MAX as usize, "rows numbered in 32 bits");
    assert!(p.covers(n) && q.covers(n), "a value of each column per row");
    for l in [&mut *a, &mut *b] {
        l.clear();
        l.reserve(n);
    }
    let (sa, sb) = (a.spare_capacity_mut(), b.spare_capacity_mut());
    let (mut na, mut nb) = (0usize, 0usize);
    for i in 0..n {
        // SAFETY: `i < n`, which both columns cover (asserted above).
        let h = unsafe { q.mix(p.mix(ROUTE_SEED, i), i) };
        let to_b = second(h);
        // SAFETY: `na + nb == i < n`, and both lists have room for `n`.
        unsafe {
            sa.get_unchecked_mut(na).write(i as u32);
            sb.get_unchecked_mut(nb).write(i as u32);
        }
        na += !to_b as usize;
        nb += to_b as usize;
    }
    // SAFETY: a length advanced (by one) only past a slot just written, and
    // the first `na` (`nb`) slots of each list's room were written.
    unsafe {
        a.set_len(na);
        b.set_len(nb);
    }
}

/// Every row's hash of `cols` into `out`, one column at a time: a tight
/// loop per column over the batch, no per-row encoding. A row hashes alike
/// whether or not its column has a null buffer.
pub(super) fn hash_columns(cols: &[KeyCol<'_>], n: usize, seed: u64, out: &mut Vec<u64>) {
    out.clear();
    out.resize(n, seed);
    let no_nulls = |n: &Option<&NullBuffer>| n.is_none_or(|b| b.null_count() == 0);
    for c in cols {
        match c {
            KeyCol::I64(v, nulls) if no_nulls(nulls) => super::super::route_simd::mix_ints(out, v),
            KeyCol::I128(v, None) => {
                for (h, x) in out.iter_mut().zip(&v[..n]) {
                    *h = mix_i128(*h, *x);
                }
            }
            KeyCol::Str {
                offsets,
                data,
                nulls,
            } if no_nulls(nulls) => super::super::route_simd::mix_strs(out, offsets, data),
            // Nullable or rarer key types: row by row.
            c => {
                for (i, h) in out.iter_mut().enumerate() {
                    *h = c.mix_row(*h, i);
                }
            }
        }
    }
}
