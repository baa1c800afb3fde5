//! Gathering rows from several batches into one, in a given order: the
//! copy behind releasing merged event-time runs and behind the exchange's
//! per-destination batches.
//!
//! Contract: row `k` of the result is row `rows[k].1` of source
//! `rows[k].0`; types, values and NULLs are those of the sources, which
//! share a schema. The (source, row) pairs are checked to lie within their
//! sources once ([`Rows::check`]), then every column is copied without a
//! bounds check per value: primitive values one load and store each,
//! strings by hand (`strings.rs`: a fixed 16-byte copy for the short ones,
//! where a per-value `memcpy` costs more than the copy, and no length test
//! at all when none is longer). Output vectors come from a
//! [`Pool`] when it has them; types without a hand-written gather (none of
//! percore's SQL types) go through Arrow's `interleave`. [`scatter_columns_but`]
//! is the reverse: rows read in list order, each written to its place.

mod filter;
mod kept;
mod pool;
mod scatter;
mod strings;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{Array, ArrayRef, PrimitiveArray, RecordBatch, StringArray};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::DataType;

pub use filter::{filter_batch, take_batch};
use kept::kept_rows;
pub use pool::{reclaim, Pool, POOL_MAX};
pub use scatter::{scatter_columns_but, Slots};
use strings::concat_strings;

use crate::cpu::by_cpu;

/// Strings up to this long are copied as one fixed-size block.
const SHORT: usize = std::mem::size_of::<u128>();

/// A row of one of several sources: (source, row), 32 bits each (half the
/// bytes of a `usize` pair to write, sort and read).
pub type Pair = (u32, u32);

/// (source, row) pairs checked, once for all the columns gathered, to lie
/// within sources of the given lengths; each gather then checks only that
/// its columns have those lengths (once per source, not per row).
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    pairs: &'a [Pair],
    lens: &'a [usize],
}

/// Pairs checked a chunk at a time ([`chunk_within`]).
const CHECK_CHUNK: usize = 256;

/// Whether every pair of `c` lies within its own source (of `lens`, the
/// least of them `shortest`). The chunk's least and greatest source and
/// greatest row first, in a pass without a branch (vectorised, with
/// AVX2 where the CPU has it): within the fewest sources and the shortest
/// one, every pair lies within its own (sources of one length); a chunk
/// of one source's pairs — a release takes its rows run by run, and its
/// own runs are longer than the rows another core sent — within that
/// source when its greatest row is; any other chunk pair by pair.
fn chunk_within(c: &[Pair], lens: &[usize], shortest: usize) -> bool {
    let (least_b, most_b, most_r) = by_cpu!(
        ["avx2"] => bounds_avx2(c);
        bounds_any(c)
    );
    if c.is_empty() || ((most_b as usize) < lens.len() && (most_r as usize) < shortest) {
        return true;
    }
    if least_b == most_b {
        return lens
            .get(least_b as usize)
            .is_some_and(|&n| (most_r as usize) < n);
    }
    c.iter()
        .all(|&(b, r)| lens.get(b as usize).is_some_and(|&n| (r as usize) < n))
}

/// The least and greatest source and the greatest row of `c` (`u32::MAX`,
/// 0, 0 when empty).
#[inline(always)]
fn bounds_any(c: &[Pair]) -> (u32, u32, u32) {
    c.iter()
        .fold((u32::MAX, 0u32, 0u32), |(lb, mb, mr), &(b, r)| {
            (lb.min(b), mb.max(b), mr.max(r))
        })
}

/// [`bounds_any`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn bounds_avx2(c: &[Pair]) -> (u32, u32, u32) {
    bounds_any(c)
}

impl<'a> Rows<'a> {
    /// `pairs` against sources of `lens` rows each.
    ///
    /// # Panics
    /// When a pair names a source or row that is not there.
    pub fn check(pairs: &'a [Pair], lens: &'a [usize]) -> Self {
        let shortest = lens.iter().copied().min().unwrap_or(0);
        let within = pairs
            .chunks(CHECK_CHUNK)
            .all(|c| chunk_within(c, lens, shortest));
        assert!(within, "gathered rows lie within their sources");
        Rows { pairs, lens }
    }

    pub fn pairs(&self) -> &'a [Pair] {
        self.pairs
    }

    /// Panics unless there is one column per source, each at least as long
    /// as its source was checked to be (`len` gives a column's length):
    /// what lets a gather index the columns unchecked.
    fn assert_fits<C>(&self, cols: &[C], len: impl Fn(&C) -> usize) {
        assert!(
            cols.len() == self.lens.len() && cols.iter().zip(self.lens).all(|(c, &n)| len(c) >= n),
            "one column of each source, as long as the source"
        );
    }
}

/// Rows split in two lists (emptied first), each in order: row `i` (the
/// `i`-th of `second`) in `a` when `second` gives `false` for it, else in
/// `b`. Each row is written to both lists and only its own list's length
/// advances: no branch per row, and both lengths stay in registers (a push
/// per row reloads the length it stored for the row before whenever two
/// rows in a row go to one list).
pub fn split_rows(second: impl ExactSizeIterator<Item = bool>, a: &mut Vec<u32>, b: &mut Vec<u32>) {
    let n = second.len();
    assert!(n <= u32::MAX as usize, "rows numbered in 32 bits");
    for l in [&mut *a, &mut *b] {
        l.clear();
        l.reserve(n);
    }
    let (sa, sb) = (
        &mut a.spare_capacity_mut()[..n],
        &mut b.spare_capacity_mut()[..n],
    );
    let (mut na, mut nb) = (0, 0);
    for (i, to_b) in second.enumerate() {
        sa[na].write(i as u32);
        sb[nb].write(i as u32);
        let to_b = to_b as usize;
        na += 1 - to_b;
        nb += to_b;
    }
    // SAFETY: a length advances (by one) only after the slot at it was
    // written through `sa` (`sb`), which holds the first `n` slots of the
    // reserved room, so each length is at most `n` and the first `na`
    // (`nb`) slots were written.
    unsafe {
        a.set_len(na);
        b.set_len(nb);
    }
}

/// The rows `rows` (source, row) of `batches`, as one batch.
pub fn gather_batch(batches: &[&RecordBatch], rows: &[Pair]) -> RecordBatch {
    gather_batch_but(batches, rows, Vec::new())
}

/// [`gather_batch`], except the columns in `known` (index, values), whose
/// gathered values the caller already has (of the column's type, one per
/// row).
///
/// # Panics
/// When a known column is not as long as `rows`, or its type is not the
/// column's.
pub fn gather_batch_but(
    batches: &[&RecordBatch],
    rows: &[Pair],
    known: Vec<(usize, ArrayRef)>,
) -> RecordBatch {
    gather_columns_but(batches, rows, known, batches[0].num_columns())
}

/// [`gather_batch_but`] of the first `n` columns only.
///
/// # Panics
/// As [`gather_batch_but`]; when the sources have fewer than `n` columns.
pub fn gather_columns_but(
    batches: &[&RecordBatch],
    rows: &[Pair],
    known: Vec<(usize, ArrayRef)>,
    n: usize,
) -> RecordBatch {
    let lens: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
    let rows = Rows::check(rows, &lens);
    let mut pool = Pool::default();
    columns_but(batches, known, n, rows.pairs().len(), |srcs| {
        gather_column(srcs, rows, &mut pool)
    })
}

/// The first `n` columns of `batches` as one batch of `len` rows: those in
/// `known` (index, values) as given, each other one made by `make` from
/// that column of every source.
///
/// # Panics
/// When a known column is not `len` long, or a made one does not keep the
/// schema.
fn columns_but(
    batches: &[&RecordBatch],
    mut known: Vec<(usize, ArrayRef)>,
    n: usize,
    len: usize,
    mut make: impl FnMut(&[&ArrayRef]) -> ArrayRef,
) -> RecordBatch {
    let schema = batches[0].schema();
    let schema = if n == schema.fields().len() {
        schema
    } else {
        let first: Vec<usize> = (0..n).collect();
        Arc::new(schema.project(&first).expect("the first columns"))
    };
    let cols: Vec<ArrayRef> = (0..n)
        .map(|c| match known.iter().position(|(i, _)| *i == c) {
            Some(k) => {
                let (_, col) = known.swap_remove(k);
                assert_eq!(col.len(), len, "a known value for every row");
                col
            }
            None => {
                let srcs: Vec<&ArrayRef> = batches.iter().map(|b| b.column(c)).collect();
                make(&srcs)
            }
        })
        .collect();
    RecordBatch::try_new(schema, cols).expect("gathered columns keep the schema")
}

/// One column gathered (`srcs`: that column of each source `rows` was
/// checked against, in order), into vectors from `pool` when it has them.
///
/// # Panics
/// When `srcs` is not one array per source, or they differ in type.
pub fn gather_column(srcs: &[&ArrayRef], rows: Rows<'_>, pool: &mut Pool) -> ArrayRef {
    let pairs = rows.pairs;
    let nulls = gather_nulls(srcs, pairs);
    let ty = srcs[0].data_type();
    match ty {
        DataType::Int64 => Arc::new(gather_prim::<Int64Type>(srcs, rows, &mut pool.i64s, nulls)),
        DataType::Timestamp(_, _) => Arc::new(gather_prim::<TimestampMillisecondType>(
            srcs,
            rows,
            &mut pool.i64s,
            nulls,
        )),
        DataType::Float64 => Arc::new(gather_prim::<Float64Type>(
            srcs,
            rows,
            &mut pool.f64s,
            nulls,
        )),
        DataType::Decimal128(_, _) => Arc::new(gather_prim::<Decimal128Type>(
            srcs,
            rows,
            &mut pool.i128s,
            nulls,
        )),
        DataType::Utf8 => {
            let strs: Vec<&StringArray> = srcs.iter().map(|a| a.as_string::<i32>()).collect();
            let offsets = Pool::take(&mut pool.i32s, pairs.len() + 1);
            let values = Pool::take(&mut pool.bytes, 0);
            Arc::new(gather_strings(&strs, rows, offsets, values, nulls))
        }
        _ => {
            let dyns: Vec<&dyn Array> = srcs.iter().map(|a| a.as_ref()).collect();
            let wide: Vec<(usize, usize)> = pairs
                .iter()
                .map(|&(b, r)| (b as usize, r as usize))
                .collect();
            arrow_select::interleave::interleave(&dyns, &wide).expect("sources share a type")
        }
    }
}

/// Primitive values gathered into a vector from `pool`, with `nulls`; the
/// result has the first source's data type (its precision and scale, its
/// time unit).
///
/// # Panics
/// When `srcs` is not one array of type `T` per source.
pub fn gather_prim<T: ArrowPrimitiveType>(
    srcs: &[&ArrayRef],
    rows: Rows<'_>,
    pool: &mut Vec<Vec<T::Native>>,
    nulls: Option<NullBuffer>,
) -> PrimitiveArray<T> {
    let vals: Vec<&[T::Native]> = srcs
        .iter()
        .map(|a| a.as_primitive::<T>().values().as_ref())
        .collect();
    rows.assert_fits(&vals, |v| v.len());
    let mut v = Pool::take(pool, rows.pairs.len());
    // SAFETY: `Rows::check` found every `b` below the number of sources
    // and every `r` below source `b`'s length; `assert_fits` found one
    // column per source (`vals`), each at least that long.
    v.extend(
        rows.pairs
            .iter()
            .map(|&(b, r)| unsafe { *vals.get_unchecked(b as usize).get_unchecked(r as usize) }),
    );
    PrimitiveArray::<T>::new(ScalarBuffer::from(v), nulls)
        .with_data_type(srcs[0].data_type().clone())
}

/// Which gathered rows are valid (`None`: every source is NULL-free).
pub fn gather_nulls(srcs: &[&ArrayRef], rows: &[Pair]) -> Option<NullBuffer> {
    if srcs.iter().all(|a| a.null_count() == 0) {
        return None;
    }
    Some(NullBuffer::from_iter(
        rows.iter()
            .map(|&(b, r)| srcs[b as usize].is_valid(r as usize)),
    ))
}

/// The strings `rows` of `strs` (one array per source), built in `offsets`
/// and `values` (emptied first; vectors to reuse, or new ones), with
/// `nulls`.
///
/// # Panics
/// When `strs` are not one array per source, as long as `rows` was checked
/// against; when the gathered text exceeds `i32::MAX` bytes.
pub fn gather_strings(
    strs: &[&StringArray],
    rows: Rows<'_>,
    offsets: Vec<i32>,
    values: Vec<u8>,
    nulls: Option<NullBuffer>,
) -> StringArray {
    rows.assert_fits(strs, |a| a.len());
    // Each source's text and offsets, looked up once.
    let parts: Vec<(&[u8], &[i32])> = strs
        .iter()
        .map(|a| (a.values().as_slice(), a.value_offsets()))
        .collect();
    // A row's text: `r` is below its array's length (`assert_fits`), so
    // `r + 1` indexes its offsets (one more than the array's length).
    let span = |b: usize, r: usize| {
        // SAFETY: `b` is below `parts.len()` and `r` below array `b`'s
        // length (`Rows::check` and `assert_fits` above).
        unsafe {
            let (src, o) = *parts.get_unchecked(b);
            let (from, to) = (*o.get_unchecked(r), *o.get_unchecked(r + 1));
            (src, from as usize, (to - from) as usize)
        }
    };
    let pairs = rows.pairs;
    let spans = move |k: usize| {
        // SAFETY: `concat_strings` asks only for rows below `pairs.len()`.
        let (b, r) = unsafe { *pairs.get_unchecked(k) };
        span(b as usize, r as usize)
    };
    // SAFETY: each span is a valid array's value: `from + len` within the
    // text `src`, whose bytes between offsets are whole UTF-8 strings; the
    // offsets are immutable, so a row's span is the same every time.
    unsafe { concat_strings(pairs.len(), spans, offsets, values, nulls) }
}

#[cfg(test)]
mod tests;
