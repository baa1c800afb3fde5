//! Gathering rows from several batches into one, in a given order: the
//! copy behind releasing merged event-time runs and behind the exchange's
//! per-destination batches.
//!
//! Contract: row `k` of the result is row `rows[k].1` of source
//! `rows[k].0`; types, values and NULLs are those of the sources, which
//! share a schema. Strings are copied by hand (a fixed 16-byte copy for
//! the short ones, where a per-value `memcpy` costs more than the copy);
//! other types go through Arrow's `interleave`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;

/// Strings up to this long are copied as one fixed-size block.
const SHORT: usize = 16;

/// The rows `rows` (source, row) of `batches`, as one batch.
pub fn gather_batch(batches: &[&RecordBatch], rows: &[(usize, usize)]) -> RecordBatch {
    let schema = batches[0].schema();
    let cols: Vec<ArrayRef> = (0..schema.fields().len())
        .map(|c| {
            let srcs: Vec<&ArrayRef> = batches.iter().map(|b| b.column(c)).collect();
            match srcs[0].data_type() {
                DataType::Utf8 => {
                    let strs: Vec<&StringArray> =
                        srcs.iter().map(|a| a.as_string::<i32>()).collect();
                    let nulls = gather_nulls(&srcs, rows);
                    Arc::new(gather_strings(&strs, rows, Vec::new(), Vec::new(), nulls))
                }
                _ => {
                    let dyns: Vec<&dyn Array> = srcs.iter().map(|a| a.as_ref()).collect();
                    arrow_select::interleave::interleave(&dyns, rows).expect("sources share a type")
                }
            }
        })
        .collect();
    RecordBatch::try_new(schema, cols).expect("gathered columns keep the schema")
}

/// Which gathered rows are valid (`None`: every source is NULL-free).
pub fn gather_nulls(srcs: &[&ArrayRef], rows: &[(usize, usize)]) -> Option<NullBuffer> {
    if srcs.iter().all(|a| a.null_count() == 0) {
        return None;
    }
    Some(NullBuffer::from_iter(
        rows.iter().map(|&(b, r)| srcs[b].is_valid(r)),
    ))
}

/// The strings `rows` (source, row) of `strs`, built in `offsets` and
/// `values` (emptied first; vectors to reuse, or new ones), with `nulls`.
///
/// # Panics
/// When the gathered text exceeds `i32::MAX` bytes.
pub fn gather_strings(
    strs: &[&StringArray],
    rows: &[(usize, usize)],
    mut offsets: Vec<i32>,
    mut values: Vec<u8>,
    nulls: Option<NullBuffer>,
) -> StringArray {
    // Each source's text and offsets, looked up once.
    let parts: Vec<(&[u8], &[i32])> = strs
        .iter()
        .map(|a| (a.values().as_slice(), a.value_offsets()))
        .collect();
    let total: usize = rows
        .iter()
        .map(|&(b, r)| {
            let o = parts[b].1;
            (o[r + 1] - o[r]) as usize
        })
        .sum();
    assert!(total <= i32::MAX as usize, "gathered strings exceed 2 GiB");
    offsets.clear();
    offsets.reserve(rows.len() + 1);
    offsets.push(0);
    // Room for a full block past the last string.
    values.clear();
    values.resize(total + SHORT, 0);
    let mut pos = 0;
    let dst = values.as_mut_ptr();
    for &(b, r) in rows {
        // SAFETY: the pass above indexed `parts[b]` and `o[r + 1]` (so
        // `o[r]`) for this same row, with bounds checks.
        let (src, o) = unsafe { *parts.get_unchecked(b) };
        let (from, to) = unsafe { (*o.get_unchecked(r) as usize, *o.get_unchecked(r + 1)) };
        let len = to as usize - from;
        // SAFETY: `from` is an offset of a valid array, at most its values'
        // length, and `pos` at most `total`, below `values`' length: both
        // pointers stay within their allocations.
        let (s, d) = unsafe { (src.as_ptr().add(from), dst.add(pos)) };
        if len <= SHORT && from + SHORT <= src.len() {
            // A whole block (a fixed-size copy, no call): its bytes past
            // `len` are overwritten by the strings after this one or cut
            // off below.
            // SAFETY: `src[from..from + SHORT]` was checked just above;
            // `values[pos..pos + SHORT]` is in bounds since `pos + len` is
            // at most `total` (the lengths summed above) and `values` holds
            // `total + SHORT` bytes. Distinct allocations.
            unsafe { std::ptr::copy_nonoverlapping(s, d, SHORT) };
        } else {
            // SAFETY: `src[from..to]` is a valid array's value, within its
            // values; `values[pos..pos + len]` is within `total`, as above.
            unsafe { std::ptr::copy_nonoverlapping(s, d, len) };
        }
        pos += len;
        offsets.push(pos as i32);
    }
    values.truncate(total);
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    // SAFETY: every byte of `values` was last written by the copy of the
    // string it belongs to (later copies start past it; block bytes past
    // the last string were truncated), so `values` is the concatenation of
    // whole `&str` values: valid UTF-8. `offsets` start at 0, never
    // decrease, end at `values.len()` (at most i32::MAX, checked above) and
    // mark exactly the strings' boundaries.
    unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(values), nulls) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Each gathered row is its source row (text and NULL), for strings
        /// of every length around the block size, from sliced sources.
        #[test]
        fn gathered_rows_are_their_source_rows(
            sources in prop::collection::vec(
                prop::collection::vec(prop::option::weighted(0.9, "[a-zé]{0,40}"), 1..30),
                1..4,
            ),
            picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..80),
            skip in 0usize..3,
        ) {
            let arrays: Vec<StringArray> = sources
                .iter()
                .map(|v| {
                    let a = StringArray::from(v.clone());
                    let s = skip.min(a.len() - 1);
                    a.slice(s, a.len() - s)
                })
                .collect();
            let rows: Vec<(usize, usize)> = picks
                .iter()
                .map(|(b, r)| {
                    let b = b.index(arrays.len());
                    (b, r.index(arrays[b].len()))
                })
                .collect();
            let cols: Vec<ArrayRef> = arrays.iter().map(|a| Arc::new(a.clone()) as ArrayRef).collect();
            let srcs: Vec<&ArrayRef> = cols.iter().collect();
            let strs: Vec<&StringArray> = arrays.iter().collect();
            let got = gather_strings(&strs, &rows, vec![7], vec![1, 2], gather_nulls(&srcs, &rows));
            let want: Vec<Option<&str>> = rows
                .iter()
                .map(|&(b, r)| arrays[b].is_valid(r).then(|| arrays[b].value(r)))
                .collect();
            let got_rows: Vec<Option<&str>> = got.iter().collect();
            prop_assert_eq!(got_rows, want);
            got.to_data().validate_full().unwrap();
        }
    }

    #[test]
    fn a_batch_gathers_every_column() {
        let batch = |s: Vec<Option<&str>>, n: Vec<i64>| {
            RecordBatch::try_from_iter_with_nullable([
                ("s", Arc::new(StringArray::from(s)) as ArrayRef, true),
                (
                    "n",
                    Arc::new(arrow_array::Int64Array::from(n)) as ArrayRef,
                    true,
                ),
            ])
            .unwrap()
        };
        let a = batch(vec![Some("x"), Some("yy")], vec![1, 2]);
        let b = batch(vec![Some("zzz"), None], vec![3, 4]);
        let got = gather_batch(&[&a, &b], &[(1, 0), (0, 1), (1, 1), (0, 0)]);
        let s: Vec<Option<&str>> = got.column(0).as_string::<i32>().iter().collect();
        assert_eq!(s, vec![Some("zzz"), Some("yy"), None, Some("x")]);
        let n = got
            .column(1)
            .as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(n.values().to_vec(), vec![3, 2, 4, 1]);
    }
}
