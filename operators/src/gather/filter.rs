//! Keeping the rows of a batch that a mask marks, or that a list names, in
//! order.
//!
//! Contract: [`filter_batch`] returns the rows of `batch` whose mask value
//! is TRUE (FALSE and NULL drop), with the columns, types and NULLs Arrow's
//! `filter_record_batch` gives; [`take_batch`] the rows a list names, in
//! its order. The kept rows are listed once from the mask's set bits, and
//! the list's greatest row checked once against the batch; then each
//! column is copied row by row from that list: strings as the gathers copy
//! them (one fixed 16-byte copy per short string, where Arrow's filter
//! calls `memcpy` for every row), primitive values one load and store
//! each, a column of `Null` type by its length alone, other types by
//! Arrow's `take`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, NullArray, PrimitiveArray, RecordBatch, RecordBatchOptions,
    StringArray, UInt32Array,
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
    let mut rows = Vec::new();
    super::kept_rows(&keep, &mut rows);
    take_batch(batch, &rows)
}

/// Rows `rows` of `batch`, in that order (ascending, for the callers
/// here), as one batch.
///
/// # Panics
/// When a row is not below the batch's length.
pub fn take_batch(batch: &RecordBatch, rows: &[u32]) -> RecordBatch {
    // Checked once for every column: the greatest row (a loop the compiler
    // vectorises; the copies below do not rely on the order).
    let greatest = rows.iter().fold(0, |m, &r| m.max(r));
    assert!(
        rows.is_empty() || (greatest as usize) < batch.num_rows(),
        "rows within the batch"
    );
    let rows = Within {
        rows,
        len: batch.num_rows(),
    };
    let cols: Vec<ArrayRef> = batch.columns().iter().map(|c| take(c, rows)).collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows.rows.len()));
    RecordBatch::try_new_with_options(batch.schema(), cols, &options)
        .expect("taken columns keep the schema")
}

/// Rows each below `len`, checked once ([`take_batch`]); a column as long
/// as `len` is then read at them without a check per row.
#[derive(Clone, Copy)]
struct Within<'a> {
    rows: &'a [u32],
    len: usize,
}

impl Within<'_> {
    /// Panics unless `c` has at least `len` values.
    fn assert_fits(&self, c: &dyn Array) {
        assert!(c.len() >= self.len, "a column as long as its batch");
    }
}

/// Rows `rows` of `c`.
fn take(c: &ArrayRef, rows: Within) -> ArrayRef {
    match c.data_type() {
        DataType::Utf8 => Arc::new(take_strings(c.as_string::<i32>(), rows)),
        DataType::Int64 => Arc::new(take_prim::<Int64Type>(c, rows)),
        DataType::Float64 => Arc::new(take_prim::<Float64Type>(c, rows)),
        DataType::Decimal128(..) => Arc::new(take_prim::<Decimal128Type>(c, rows)),
        DataType::Timestamp(..) => Arc::new(take_prim::<TimestampMillisecondType>(c, rows)),
        // No values to copy (a range-numbered sequence column).
        DataType::Null => Arc::new(NullArray::new(rows.rows.len())),
        _ => arrow_select::take::take(c, &UInt32Array::from(rows.rows.to_vec()), None)
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
fn take_prim<T: ArrowPrimitiveType>(c: &ArrayRef, rows: Within) -> PrimitiveArray<T> {
    rows.assert_fits(c);
    // A slice, moved into the loop: through the buffer's reference, its
    // pointer was reloaded for every value.
    let values: &[T::Native] = c.as_primitive::<T>().values();
    // SAFETY: every row is below `rows.len`, at most the column's length
    // (asserted just above), which is its values' length.
    let v: Vec<T::Native> = rows
        .rows
        .iter()
        .map(move |&r| unsafe { *values.get_unchecked(r as usize) })
        .collect();
    PrimitiveArray::<T>::new(ScalarBuffer::from(v), take_nulls(c, rows.rows))
        .with_data_type(c.data_type().clone())
}

/// Rows `rows` of `s`.
fn take_strings(s: &StringArray, rows: Within) -> StringArray {
    rows.assert_fits(s);
    let (text, offsets, nulls) = (
        s.values().as_slice(),
        s.value_offsets(),
        take_nulls(s, rows.rows),
    );
    let rows = rows.rows;
    let spans = move |k: usize| {
        // SAFETY: `concat_strings` asks only for `k` below `rows.len()`,
        // and every row is below the array's length (`assert_fits`), so
        // `i + 1` indexes its offsets.
        let (from, to) = unsafe {
            let i = *rows.get_unchecked(k) as usize;
            (*offsets.get_unchecked(i), *offsets.get_unchecked(i + 1))
        };
        (text, from as usize, (to - from) as usize)
    };
    // SAFETY: each span lies between two offsets of a valid string array:
    // in bounds of its text, one whole UTF-8 value; the offsets are
    // immutable, so every walk gives the same spans.
    unsafe { concat_strings(rows.len(), spans, Vec::new(), Vec::new(), nulls) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Decimal128Array, Int64Array, StringArray};
    use arrow_select::filter::filter_record_batch;
    use proptest::prelude::*;

    proptest! {
        /// The kept rows are Arrow's `filter_record_batch`'s: strings of
        /// every length around the block size (with `short`, none longer
        /// than 16 bytes: the block-only copies), NULLs in the columns and
        /// in the mask, a type without a hand-written copy (BOOLEAN),
        /// sliced batches.
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
            short in any::<bool>(),
        ) {
            let cap = if short { 8 } else { usize::MAX };
            let text = |s: &Option<String>| s.as_ref().map(|s| s.chars().take(cap).collect::<String>());
            let batch = RecordBatch::try_from_iter_with_nullable([
                ("a", Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0))) as ArrayRef, true),
                ("s", Arc::new(StringArray::from_iter(rows.iter().map(|r| text(&r.1)))) as ArrayRef, true),
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

    /// The copies take the rows in the order given (only the greatest is
    /// checked against the batch, so an order other than ascending must
    /// still read nothing past the end).
    #[test]
    fn rows_in_any_order_are_taken_in_that_order() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![10, 11, 12, 13]));
        let s: ArrayRef = Arc::new(StringArray::from(vec!["w", "x", "yyyy", "z"]));
        let batch = RecordBatch::try_from_iter([("a", a), ("s", s)]).unwrap();
        let got = take_batch(&batch, &[3, 0, 2, 2]);
        let a = got.column(0).as_primitive::<Int64Type>();
        assert_eq!(a.values().to_vec(), vec![13, 10, 12, 12]);
        let s: Vec<&str> = got.column(1).as_string::<i32>().iter().flatten().collect();
        assert_eq!(s, vec!["z", "w", "yyyy", "yyyy"]);
    }

    #[test]
    #[should_panic(expected = "rows within the batch")]
    fn a_row_past_the_batch_is_refused_wherever_it_stands() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let batch = RecordBatch::try_from_iter([("a", a)]).unwrap();
        take_batch(&batch, &[0, 7, 1]);
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
