//! Keeping the rows of a batch that a mask marks, or that a list names, in
//! order.
//!
//! Contract: [`filter_batch`] returns the rows of `batch` whose mask value
//! is TRUE (FALSE and NULL drop), with the columns, types and NULLs Arrow's
//! `filter_record_batch` gives; [`take_batch`] the rows an ascending list
//! names. The kept rows are listed once from the mask's set bits; then each
//! column is copied row by row from that list:
//! strings as the gathers copy them (one fixed 16-byte copy per short
//! string, where Arrow's filter calls `memcpy` for every row), primitive
//! values one load and store each, other types by Arrow's `take`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, PrimitiveArray, RecordBatch, RecordBatchOptions, StringArray,
    UInt32Array,
};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow_schema::DataType;

use super::concat_strings;

/// The rows of `batch` where `mask` is TRUE.
///
/// # Panics
/// When `mask` is not as long as the batch.
pub fn filter_batch(batch: &RecordBatch, mask: &BooleanArray) -> RecordBatch {
    let n = batch.num_rows();
    assert_eq!(mask.len(), n, "one mask value per row");
    // NULL drops: the mask's values and its validity together.
    let keep = match mask.nulls() {
        Some(v) => mask.values() & v.inner(),
        None => mask.values().clone(),
    };
    let mut rows: Vec<u32> = Vec::with_capacity(keep.count_set_bits());
    rows.extend(keep.set_indices().map(|i| i as u32));
    take_batch(batch, &rows)
}

/// Rows `rows` (ascending) of `batch`, as one batch.
///
/// # Panics
/// When a row is not below the batch's length.
pub fn take_batch(batch: &RecordBatch, rows: &[u32]) -> RecordBatch {
    let cols: Vec<ArrayRef> = batch.columns().iter().map(|c| take(c, rows)).collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(batch.schema(), cols, &options)
        .expect("taken columns keep the schema")
}

/// Rows `rows` (ascending, each below `c`'s length) of `c`.
fn take(c: &ArrayRef, rows: &[u32]) -> ArrayRef {
    match c.data_type() {
        DataType::Utf8 => Arc::new(take_strings(c.as_string::<i32>(), rows)),
        DataType::Int64 => Arc::new(take_prim::<Int64Type>(c, rows)),
        DataType::Float64 => Arc::new(take_prim::<Float64Type>(c, rows)),
        DataType::Decimal128(..) => Arc::new(take_prim::<Decimal128Type>(c, rows)),
        DataType::Timestamp(..) => Arc::new(take_prim::<TimestampMillisecondType>(c, rows)),
        _ => arrow_select::take::take(c, &UInt32Array::from(rows.to_vec()), None)
            .expect("rows within the column"),
    }
}

/// The validity of rows `rows` of `c` (`None` when it has no NULL).
fn take_nulls(c: &dyn Array, rows: &[u32]) -> Option<NullBuffer> {
    let nulls = c.nulls().filter(|n| n.null_count() > 0)?;
    let valid = BooleanBuffer::collect_bool(rows.len(), |k| nulls.is_valid(rows[k] as usize));
    Some(NullBuffer::new(valid))
}

/// Rows `rows` of a primitive column (of `T`'s physical type; its data
/// type, decimal precision and scale or time unit, kept).
fn take_prim<T: ArrowPrimitiveType>(c: &ArrayRef, rows: &[u32]) -> PrimitiveArray<T> {
    let values = c.as_primitive::<T>().values();
    // Ascending rows: the last is the greatest.
    assert!(
        rows.last().is_none_or(|&r| (r as usize) < values.len()),
        "rows within the column"
    );
    // SAFETY: every row is at most the last, which is below the length
    // (asserted just above).
    let v: Vec<T::Native> = rows
        .iter()
        .map(|&r| unsafe { *values.get_unchecked(r as usize) })
        .collect();
    PrimitiveArray::<T>::new(ScalarBuffer::from(v), take_nulls(c, rows))
        .with_data_type(c.data_type().clone())
}

/// Rows `rows` (ascending) of `s`.
fn take_strings(s: &StringArray, rows: &[u32]) -> StringArray {
    let (text, offsets) = (s.values().as_slice(), s.value_offsets());
    assert!(
        rows.last().is_none_or(|&r| (r as usize) < s.len()),
        "rows within the column"
    );
    let spans = || {
        rows.iter().map(|&i| {
            let i = i as usize;
            // SAFETY: `i` is below the array's length (every row is at most
            // the last, asserted), so `i + 1` indexes its offsets.
            let (from, to) = unsafe { (*offsets.get_unchecked(i), *offsets.get_unchecked(i + 1)) };
            (text, from as usize, (to - from) as usize)
        })
    };
    // SAFETY: each span lies between two offsets of a valid string array:
    // in bounds of its text, one whole UTF-8 value.
    unsafe { concat_strings(spans, Vec::new(), Vec::new(), take_nulls(s, rows)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Decimal128Array, Int64Array, StringArray};
    use arrow_select::filter::filter_record_batch;
    use proptest::prelude::*;

    proptest! {
        /// The kept rows are Arrow's `filter_record_batch`'s: strings of
        /// every length around the block size, NULLs in the columns and in
        /// the mask, a type without a hand-written copy (BOOLEAN), sliced
        /// batches.
        #[test]
        fn keeps_what_arrow_keeps(
            rows in prop::collection::vec(
                (
                    any::<Option<i64>>(),
                    prop::option::weighted(0.9, "[a-zé]{0,40}"),
                    any::<Option<i128>>(),
                    prop::option::weighted(0.9, any::<bool>()),
                    any::<Option<bool>>(),
                ),
                1..200,
            ),
            skip in 0usize..3,
        ) {
            let batch = RecordBatch::try_from_iter_with_nullable([
                ("a", Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0))) as ArrayRef, true),
                ("s", Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1.clone()))) as ArrayRef, true),
                (
                    "d",
                    Arc::new(
                        Decimal128Array::from_iter(rows.iter().map(|r| r.2))
                            .with_precision_and_scale(38, 2)
                            .unwrap(),
                    ) as ArrayRef,
                    true,
                ),
                ("b", Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.4))) as ArrayRef, true),
            ])
            .unwrap();
            let mask = BooleanArray::from_iter(rows.iter().map(|r| r.3));
            let s = skip.min(rows.len() - 1);
            let (batch, mask) = (batch.slice(s, rows.len() - s), mask.slice(s, rows.len() - s));
            let got = filter_batch(&batch, &mask);
            let want = filter_record_batch(&batch, &mask).unwrap();
            prop_assert_eq!(&got, &want);
            for c in got.columns() {
                c.to_data().validate_full().unwrap();
            }
        }
    }

    #[test]
    fn a_batch_without_strings_or_rows_left() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let s: ArrayRef = Arc::new(StringArray::from(vec!["x", "y", "z"]));
        let none = BooleanArray::from(vec![false, false, false]);
        let batch = RecordBatch::try_from_iter([("a", a.clone())]).unwrap();
        assert_eq!(filter_batch(&batch, &none).num_rows(), 0);
        let batch = RecordBatch::try_from_iter([("a", a), ("s", s)]).unwrap();
        let got = filter_batch(&batch, &none);
        assert_eq!(got.num_rows(), 0);
        assert_eq!(got.schema(), batch.schema());
    }
}
