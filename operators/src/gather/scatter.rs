//! Rows written to their places in taken order: the reverse of a gather.
//!
//! Contract: row `i` of a list of (source, row) pairs becomes row
//! `slots[i]` of the result, where [`Slots`] is a permutation of `0..n`
//! (checked, or promised by the sort that made it); types, values and
//! NULLs are those of the sources, as [`super::gather_batch`] gives them in
//! the permuted order.
//!
//! Why: a release takes its rows run by run, each run's rows in batch order,
//! then sorts them by time. Gathered in time order, each value is read at a
//! scattered place of its run; when the run was written by another core,
//! every such read waits for a cache line to cross between cores, one after
//! another. Scattered, the reads walk each run in order (the hardware
//! streams the lines in) and the scattered writes land in the new columns,
//! which this core owns. Primitive columns are written straight to their
//! slots; short strings go first to a block per slot (8 bytes when the
//! sources' strings are that short on average, else 16), then one pass in
//! output order lays the blocks out as Arrow text. NULL columns and other
//! types are gathered in output order.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::types::{ArrowPrimitiveType, Decimal128Type, Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, PrimitiveArray, RecordBatch, StringArray};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;

use super::{columns_but, gather_column, Pair, Pool, Rows, SHORT};

/// The result row of each listed row: a permutation of `0..len`.
#[derive(Clone, Copy, Debug)]
pub struct Slots<'a>(&'a [u32]);

impl<'a> Slots<'a> {
    /// `slots`, checked to be a permutation of `0..slots.len()`.
    ///
    /// # Panics
    /// When a slot is out of range or repeated.
    pub fn check(slots: &'a [u32]) -> Self {
        let n = slots.len();
        let mut seen = vec![false; n];
        for &s in slots {
            let s = s as usize;
            assert!(s < n && !seen[s], "slots are a permutation");
            seen[s] = true;
        }
        Slots(slots)
    }

    /// `slots` unchecked.
    ///
    /// # Safety
    /// `slots` must be a permutation of `0..slots.len()`.
    pub unsafe fn new_unchecked(slots: &'a [u32]) -> Self {
        Slots(slots)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs in result order: `rows[i]` at `slots[i]`.
    pub fn order(&self, rows: &[Pair]) -> Vec<Pair> {
        assert_eq!(rows.len(), self.len(), "one slot per row");
        let mut out = vec![(0, 0); rows.len()];
        for (&p, &s) in rows.iter().zip(self.0) {
            out[s as usize] = p;
        }
        out
    }
}

/// The first `n` columns of `batches` with row `rows[i]` (source, row) at
/// row `slots[i]`, but the columns in `known` (index, values in result
/// order), as [`super::gather_columns_but`] gives them for the pairs in
/// result order.
///
/// # Panics
/// When a pair names a source or row that is not there; when `slots` is
/// not as long as `rows`; as [`super::gather_columns_but`].
pub fn scatter_columns_but(
    batches: &[&RecordBatch],
    rows: &[Pair],
    slots: Slots<'_>,
    known: Vec<(usize, ArrayRef)>,
    n: usize,
) -> RecordBatch {
    assert_eq!(rows.len(), slots.len(), "one slot per row");
    let lens: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
    let checked = Rows::check(rows, &lens);
    let mut pool = Pool::default();
    // The pairs in result order, made the first time a column needs them.
    let mut ordered: Option<Vec<Pair>> = None;
    columns_but(batches, known, n, rows.len(), |srcs| {
        scatter_column(srcs, checked, slots, &mut pool).unwrap_or_else(|| {
            let ordered = ordered.get_or_insert_with(|| slots.order(rows));
            // A permutation of checked pairs lies within the sources too.
            let in_order = Rows {
                pairs: ordered,
                lens: &lens,
            };
            gather_column(srcs, in_order, &mut pool)
        })
    })
}

/// One NULL-free column of a scattered type scattered (`None` for the
/// others).
fn scatter_column(
    srcs: &[&ArrayRef],
    rows: Rows<'_>,
    slots: Slots<'_>,
    pool: &mut Pool,
) -> Option<ArrayRef> {
    if srcs.iter().any(|a| a.null_count() > 0) {
        return None;
    }
    Some(match srcs[0].data_type() {
        DataType::Int64 => Arc::new(scatter_prim::<Int64Type>(srcs, rows, slots, &mut pool.i64s)),
        DataType::Timestamp(_, _) => Arc::new(scatter_prim::<TimestampMillisecondType>(
            srcs,
            rows,
            slots,
            &mut pool.i64s,
        )),
        DataType::Float64 => Arc::new(scatter_prim::<Float64Type>(
            srcs,
            rows,
            slots,
            &mut pool.f64s,
        )),
        DataType::Decimal128(_, _) => Arc::new(scatter_prim::<Decimal128Type>(
            srcs,
            rows,
            slots,
            &mut pool.i128s,
        )),
        DataType::Utf8 => {
            let strs: Vec<&StringArray> = srcs.iter().map(|a| a.as_string::<i32>()).collect();
            Arc::new(scatter_strings(&strs, rows, slots))
        }
        _ => return None,
    })
}

/// NULL-free primitive values scattered into a vector from `pool`; the
/// result has the first source's data type.
// Kept out of `scatter_column`: inlined there, its loop ran ~5
// instructions a row slower (callgrind).
#[inline(never)]
fn scatter_prim<T: ArrowPrimitiveType>(
    srcs: &[&ArrayRef],
    rows: Rows<'_>,
    slots: Slots<'_>,
    pool: &mut Vec<Vec<T::Native>>,
) -> PrimitiveArray<T> {
    let vals: Vec<&[T::Native]> = srcs
        .iter()
        .map(|a| a.as_primitive::<T>().values().as_ref())
        .collect();
    rows.assert_fits(&vals, |v| v.len());
    let n = rows.pairs.len();
    assert_eq!(slots.len(), n, "one slot per row");
    let mut v = Pool::take(pool, n);
    let out = v.as_mut_ptr();
    for (&(b, r), &s) in rows.pairs.iter().zip(slots.0) {
        // SAFETY: `Rows::check` found every `b` below the number of sources
        // and every `r` below source `b`'s length, `assert_fits` one column
        // per source at least that long; `s < n` (a permutation of `0..n`),
        // within the `n` slots `Pool::take` reserved.
        unsafe {
            out.add(s as usize)
                .write(*vals.get_unchecked(b as usize).get_unchecked(r as usize))
        };
    }
    // SAFETY: the slots are a permutation of `0..n`: each of the first `n`
    // elements was written once above.
    unsafe { v.set_len(n) };
    PrimitiveArray::<T>::new(ScalarBuffer::from(v), None)
        .with_data_type(srcs[0].data_type().clone())
}

/// NULL-free strings scattered: each string's length and text (a block
/// read at its start) go to its slot in taken order; then one pass in slot
/// order lays the blocks out. A string too long for a block, or too near
/// its text's end to read a whole one, is marked and copied from its source
/// in that pass. Blocks are 8 bytes when the sources' strings average at
/// most [`WORD_AVERAGE`] bytes (tickers, codes: half the bytes written and
/// read again), else 16.
fn scatter_strings(strs: &[&StringArray], rows: Rows<'_>, slots: Slots<'_>) -> StringArray {
    let (text, count) = strs.iter().fold((0usize, 0usize), |(t, c), a| {
        let o = a.value_offsets();
        (t + (o[a.len()] - o[0]) as usize, c + a.len())
    });
    if text <= count * WORD_AVERAGE {
        scatter_blocks::<u64>(strs, rows, slots)
    } else {
        scatter_blocks::<u128>(strs, rows, slots)
    }
}

/// The average string length (over the sources) up to which
/// [`scatter_strings`] uses 8-byte blocks.
const WORD_AVERAGE: usize = 6;

/// A string's first bytes, read as one unaligned word, or a marked
/// string's (source, row).
trait Block: Copy {
    /// Bytes in a block.
    const SIZE: usize;
    /// # Safety
    /// `p` must be readable for [`Self::SIZE`] bytes.
    unsafe fn read(p: *const u8) -> Self;
    /// # Safety
    /// `p` must be writable for [`Self::SIZE`] bytes.
    unsafe fn write(self, p: *mut u8);
    fn mark(b: u32, r: u32) -> Self;
    fn marked(self) -> (usize, usize);
}

impl Block for u64 {
    const SIZE: usize = 8;
    unsafe fn read(p: *const u8) -> Self {
        // SAFETY: readable for 8 bytes (the caller's promise).
        unsafe { (p as *const u64).read_unaligned() }
    }
    unsafe fn write(self, p: *mut u8) {
        // SAFETY: writable for 8 bytes (the caller's promise).
        unsafe { (p as *mut u64).write_unaligned(self) }
    }
    fn mark(b: u32, r: u32) -> Self {
        b as u64 | (r as u64) << 32
    }
    fn marked(self) -> (usize, usize) {
        (self as u32 as usize, (self >> 32) as u32 as usize)
    }
}

impl Block for u128 {
    const SIZE: usize = SHORT;
    unsafe fn read(p: *const u8) -> Self {
        // SAFETY: readable for 16 bytes (the caller's promise).
        unsafe { (p as *const u128).read_unaligned() }
    }
    unsafe fn write(self, p: *mut u8) {
        // SAFETY: writable for 16 bytes (the caller's promise).
        unsafe { (p as *mut u128).write_unaligned(self) }
    }
    fn mark(b: u32, r: u32) -> Self {
        b as u128 | (r as u128) << 32
    }
    fn marked(self) -> (usize, usize) {
        (self as u32 as usize, (self >> 32) as u32 as usize)
    }
}

/// [`scatter_strings`] with blocks of `B`.
#[inline(never)]
fn scatter_blocks<B: Block>(
    strs: &[&StringArray],
    rows: Rows<'_>,
    slots: Slots<'_>,
) -> StringArray {
    rows.assert_fits(strs, |a| a.len());
    /// A source's text, its offsets, and the last start a block can be
    /// read at (negative when none can).
    struct Src {
        text: *const u8,
        offsets: *const i32,
        last: isize,
    }
    let srcs: Vec<Src> = strs
        .iter()
        .map(|a| Src {
            text: a.values().as_ptr(),
            offsets: a.value_offsets().as_ptr(),
            last: a.values().len() as isize - B::SIZE as isize,
        })
        .collect();
    let n = rows.pairs.len();
    assert_eq!(slots.len(), n, "one slot per row");
    // Each slot's length (`i32::MIN` set: copied from the source) at
    // `offsets[s + 1]`, turned into the offsets in slot order below.
    let mut offsets: Vec<i32> = Vec::with_capacity(n + 1);
    let mut blocks: Vec<B> = Vec::with_capacity(n);
    let (op, bp) = (offsets.as_mut_ptr(), blocks.as_mut_ptr());
    let mut total = 0usize;
    for (&(b, r), &s) in rows.pairs.iter().zip(slots.0) {
        // SAFETY: `b` is below `srcs.len()` and `r` below array `b`'s
        // length (`Rows::check`, `assert_fits`), so `r + 1` indexes its
        // offsets; a valid array's offsets lie within its text, so a block
        // read at `from <= last` is in bounds; `s` is below `n` (a
        // permutation), within both vectors' reserved room.
        unsafe {
            let src = srcs.get_unchecked(b as usize);
            let o = src.offsets.add(r as usize);
            let (from, len) = (*o, *o.add(1) - *o);
            total += len as usize;
            if len as usize <= B::SIZE && from as isize <= src.last {
                bp.add(s as usize)
                    .write(B::read(src.text.add(from as usize)));
                op.add(s as usize + 1).write(len);
            } else {
                bp.add(s as usize).write(B::mark(b, r));
                op.add(s as usize + 1).write(len | i32::MIN);
            }
        }
    }
    assert!(total <= i32::MAX as usize, "scattered strings exceed 2 GiB");
    // SAFETY: the slots are a permutation of `0..n`: every block and every
    // offset but the first was written once above.
    unsafe {
        op.write(0);
        offsets.set_len(n + 1);
        blocks.set_len(n);
    }
    // Room for a block past the last string, not zeroed: every byte below
    // `total` is written below, and the length set to `total` after.
    let mut values: Vec<u8> = Vec::with_capacity(total + B::SIZE);
    let dst = values.as_mut_ptr();
    let mut pos = 0usize;
    for (o, &block) in offsets[1..].iter_mut().zip(&blocks) {
        let len = (*o & i32::MAX) as usize;
        // SAFETY: `pos + len` is at most `total` (the lengths summed above),
        // so a block at `pos` lies within the `total + B::SIZE` bytes
        // reserved. A marked string's block holds its (source, row), which
        // were checked; its text `from..from + len` is a valid array's
        // value.
        unsafe {
            let d = dst.add(pos);
            if *o >= 0 {
                // Bytes past `len` are overwritten by the next strings or
                // left beyond the length.
                block.write(d);
            } else {
                let (b, r) = block.marked();
                let src = srcs.get_unchecked(b);
                let from = *src.offsets.add(r) as usize;
                std::ptr::copy_nonoverlapping(src.text.add(from), d, len);
            }
        }
        pos += len;
        *o = pos as i32;
    }
    // SAFETY: the strings' spans tile `0..total`, each written in slot
    // order after the one before, within the capacity reserved above.
    unsafe { values.set_len(total) };
    // SAFETY: the offsets start at 0 and never decrease (each adds a
    // string's length; their sum fits i32, checked above).
    let offsets = unsafe { OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)) };
    // SAFETY: each string's bytes are the first `len` bytes of its source
    // value's block (or the value itself), whole UTF-8 values of valid
    // arrays, and later blocks start past them; the offsets mark exactly
    // their boundaries and end at `values.len()`.
    unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(values), None) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gather::gather_batch;
    use crate::gather::tests::pick_pairs;
    use arrow_array::{Decimal128Array, Float64Array, Int64Array, TimestampMillisecondArray};
    use arrow_schema::{Field, Schema};
    use proptest::prelude::*;

    /// A batch of every scattered type, NULLs where `nulls` says, strings
    /// of every length around the block size.
    fn batch(rows: &[(i64, Option<String>)], nulls: bool) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, true),
            Field::new("d", DataType::Decimal128(18, 4), true),
            Field::new("f", DataType::Float64, true),
            Field::new(
                "t",
                DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, None),
                true,
            ),
            Field::new("s", DataType::Utf8, true),
        ]));
        let null = |i: usize| nulls && i % 3 == 1;
        let ints: Int64Array = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (!null(i)).then_some(r.0))
            .collect();
        let decs: Decimal128Array = rows
            .iter()
            .map(|r| Some(r.0 as i128 * 1_000_000_007))
            .collect::<Decimal128Array>()
            .with_precision_and_scale(18, 4)
            .unwrap();
        let floats: Float64Array = rows.iter().map(|r| Some(r.0 as f64 / 3.0)).collect();
        let times: TimestampMillisecondArray =
            rows.iter().map(|r| Some(r.0.wrapping_mul(7))).collect();
        let strs: StringArray = rows.iter().map(|r| r.1.clone()).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(ints),
                Arc::new(decs),
                Arc::new(floats),
                Arc::new(times),
                Arc::new(strs),
            ],
        )
        .unwrap()
    }

    proptest! {
        /// A scatter gives what gathering the pairs in slot order gives:
        /// every type, NULL-free and not, strings short and long (up to 10
        /// characters, so mostly 8-byte blocks, or up to 24: 16-byte ones),
        /// from sliced sources, a permutation drawn at random.
        #[test]
        fn a_scatter_is_the_gather_of_the_permuted_rows(
            sources in prop::collection::vec(
                prop::collection::vec((any::<i64>(), prop::option::weighted(0.95, "[a-zé]{0,24}")), 1..30),
                1..4,
            ),
            longest in prop::sample::select(vec![10usize, 24]),
            picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..80),
            shuffle in any::<u64>(),
            skip in 0usize..3,
            nulls in any::<bool>(),
        ) {
            let batches: Vec<RecordBatch> = sources
                .iter()
                .map(|rows| {
                    let rows: Vec<(i64, Option<String>)> = rows
                        .iter()
                        .map(|(i, s)| (*i, s.as_ref().map(|s| s.chars().take(longest).collect())))
                        .collect();
                    let b = batch(&rows, nulls);
                    let s = skip.min(b.num_rows() - 1);
                    b.slice(s, b.num_rows() - s)
                })
                .collect();
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            let lens: Vec<usize> = refs.iter().map(|b| b.num_rows()).collect();
            let rows = pick_pairs(&picks, &lens);
            // A permutation from a seeded shuffle.
            let mut slots: Vec<u32> = (0..rows.len() as u32).collect();
            let mut x = shuffle | 1;
            for i in (1..slots.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                slots.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let slots = Slots::check(&slots);
            let got = scatter_columns_but(&refs, &rows, slots, Vec::new(), 5);
            let want = gather_batch(&refs, &slots.order(&rows));
            prop_assert_eq!(&got, &want);
            for c in got.columns() {
                c.to_data().validate_full().unwrap();
            }
        }
    }

    #[test]
    fn slots_must_be_a_permutation() {
        for bad in [vec![0u32, 0], vec![0, 2], vec![1]] {
            assert!(std::panic::catch_unwind(|| Slots::check(&bad)).is_err());
        }
        Slots::check(&[2, 0, 1]);
    }
}
