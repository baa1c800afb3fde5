//! Keeping the rows of a batch that a mask marks, in order.
//!
//! Contract: [`filter_batch`] returns the rows of `batch` whose mask value
//! is TRUE (FALSE and NULL drop), with the columns, types and NULLs Arrow's
//! `filter_record_batch` gives. String columns are copied as the gathers
//! copy them (one fixed 16-byte copy per short string, where Arrow's filter
//! calls `memcpy` for every row), walking the mask's set bits; the other
//! columns go through Arrow's filter, its plan built once for all of them.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, StringArray};
use arrow_buffer::NullBuffer;
use arrow_select::filter::{filter_record_batch, FilterBuilder, FilterPredicate};

use super::concat_strings;

/// The rows of `batch` where `mask` is TRUE.
///
/// # Panics
/// When `mask` is not as long as the batch.
pub fn filter_batch(batch: &RecordBatch, mask: &BooleanArray) -> RecordBatch {
    assert_eq!(mask.len(), batch.num_rows(), "one mask value per row");
    let strings = |c: &ArrayRef| c.as_string_opt::<i32>().is_some();
    if !batch.columns().iter().any(strings) {
        return filter_record_batch(batch, mask).expect("a mask of the batch's length");
    }
    // NULL drops: the mask's values and its validity together.
    let keep = match mask.nulls() {
        Some(n) => mask.values() & n.inner(),
        None => mask.values().clone(),
    };
    let kept = keep.count_set_bits();
    let keep = BooleanArray::new(keep, None);
    let plan = FilterBuilder::new(&keep).optimize().build();
    let cols: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| match c.as_string_opt::<i32>() {
            Some(s) => Arc::new(take_strings(s, &keep, &plan)) as ArrayRef,
            None => plan.filter(c).expect("a column of the batch's length"),
        })
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(kept));
    RecordBatch::try_new_with_options(batch.schema(), cols, &options)
        .expect("filtered columns keep the schema")
}

/// The strings of `s` where `keep` (as long, no NULLs) is TRUE; their
/// validity filtered by `plan` (`keep`'s plan).
fn take_strings(s: &StringArray, keep: &BooleanArray, plan: &FilterPredicate) -> StringArray {
    let (text, offsets) = (s.values().as_slice(), s.value_offsets());
    assert_eq!(offsets.len(), keep.len() + 1, "one mask value per string");
    // The kept rows listed once (the spans are walked twice).
    let mut rows: Vec<u32> = Vec::with_capacity(keep.true_count());
    rows.extend(keep.values().set_indices().map(|i| i as u32));
    let spans = || {
        rows.iter().map(|&i| {
            let i = i as usize;
            // SAFETY: `i` is below the mask's length, so `i + 1` indexes the
            // offsets (asserted one longer).
            let (from, to) = unsafe { (*offsets.get_unchecked(i), *offsets.get_unchecked(i + 1)) };
            (text, from as usize, (to - from) as usize)
        })
    };
    let nulls = s.nulls().map(|n| {
        let valid = plan
            .filter(&BooleanArray::new(n.inner().clone(), None))
            .expect("validity of the batch's length");
        NullBuffer::new(valid.as_boolean().values().clone())
    });
    // SAFETY: each span lies between two offsets of a valid string array:
    // in bounds of its text, one whole UTF-8 value.
    unsafe { concat_strings(spans, Vec::new(), Vec::new(), nulls) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Decimal128Array, Int64Array, StringArray};
    use proptest::prelude::*;

    proptest! {
        /// The kept rows are Arrow's `filter_record_batch`'s: strings of
        /// every length around the block size, NULLs in the columns and in
        /// the mask, sliced batches.
        #[test]
        fn keeps_what_arrow_keeps(
            rows in prop::collection::vec(
                (
                    any::<Option<i64>>(),
                    prop::option::weighted(0.9, "[a-zé]{0,40}"),
                    any::<Option<i128>>(),
                    prop::option::weighted(0.9, any::<bool>()),
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
