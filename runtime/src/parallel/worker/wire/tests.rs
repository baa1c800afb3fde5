//! The round trip `widen(narrow(b)) == b`, the widths chosen, and what
//! passes through as it is.

use std::collections::HashMap;

use arrow_array::StringArray;
use proptest::prelude::*;

use super::*;

/// A row of [`batch`]: price, wide, n, t.
type Row = (Option<i128>, Option<i128>, Option<i64>, i64);

/// Columns: a DECIMAL(18, 4) price (with field metadata), a
/// DECIMAL(38, 2), a BIGINT, a TIMESTAMP and a VARCHAR.
fn batch(rows: &[Row]) -> RecordBatch {
    let meta = HashMap::from([("k".to_string(), "v".to_string())]);
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    let fields = vec![
        Field::new("price", DataType::Decimal128(18, 4), true).with_metadata(meta),
        Field::new("wide", DataType::Decimal128(38, 2), true),
        Field::new("n", DataType::Int64, true),
        Field::new("t", ts, false),
        Field::new("s", DataType::Utf8, false),
        Field::new("sym", DataType::Utf8, false),
    ];
    let dec = |v: Vec<Option<i128>>, p, s| -> ArrayRef {
        Arc::new(
            Decimal128Array::from(v)
                .with_precision_and_scale(p, s)
                .unwrap(),
        )
    };
    let cols: Vec<ArrayRef> = vec![
        dec(rows.iter().map(|r| r.0).collect(), 18, 4),
        dec(rows.iter().map(|r| r.1).collect(), 38, 2),
        Arc::new(rows.iter().map(|r| r.2).collect::<Int64Array>()),
        Arc::new(TimestampMillisecondArray::from_iter_values(
            rows.iter().map(|r| r.3),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| format!("{:?}", r.0)),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| format!("{:03}", r.3.rem_euclid(1000))),
        )),
    ];
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// A number drawn near `at` (within ±`near`) or anywhere in `i64`.
fn num(at: i64, near: i64) -> impl Strategy<Value = i64> {
    prop_oneof![3 => (at - near)..=(at + near), 1 => any::<i64>()]
}

proptest! {
    /// Narrowed, a batch's numeric columns cross as 4-byte offsets
    /// when their values span less than 2³², a DECIMAL(18, 4) as 8
    /// bytes when not, the rest as they are; widened, the batch is the
    /// one sent — at the extremes of 18 digits and of `i64`, with
    /// NULLs.
    #[test]
    fn a_narrowed_batch_widens_to_itself(
        rows in prop::collection::vec(
            (
                prop::option::of(prop_oneof![
                    Just(999_999_999_999_999_999i128),
                    Just(-999_999_999_999_999_999i128),
                    (-1_000_000i64..1_000_000).prop_map(i128::from),
                ]),
                prop::option::of(any::<i64>().prop_map(|v| v as i128 * 1_000)),
                prop::option::of(num(0, 3_000_000_000)),
                num(1_705_312_800_000, 60_000),
            ),
            0..50,
        ),
    ) {
        let b = batch(&rows);
        let n = narrow(b.clone());
        // What column `k` should cross as: offsets of the narrowest
        // width its values' span fits, else `None`.
        let narrowed = |k: usize| {
            let vals: Vec<i128> = match k {
                0 => rows.iter().map(|r| r.0.unwrap_or(0)).collect(),
                2 => rows.iter().map(|r| r.2.unwrap_or(0) as i128).collect(),
                _ => rows.iter().map(|r| r.3 as i128).collect(),
            };
            let lo = vals.iter().min().copied().unwrap_or(0);
            let hi = vals.iter().max().copied().unwrap_or(0);
            match hi - lo {
                d if d <= u8::MAX as i128 => Some(DataType::UInt8),
                d if d <= u16::MAX as i128 => Some(DataType::UInt16),
                d if d <= u32::MAX as i128 => Some(DataType::UInt32),
                _ => None,
            }
        };
        prop_assert_eq!(n.column(0).data_type(), &narrowed(0).unwrap_or(DataType::Int64));
        prop_assert_eq!(n.column(1).data_type(), &DataType::Decimal128(38, 2));
        for k in [2, 3] {
            let want = narrowed(k).unwrap_or_else(|| b.column(k).data_type().clone());
            prop_assert_eq!(n.column(k).data_type(), &want, "column {}", k);
        }
        // Symbols of three letters cross as three bytes each; the
        // debug strings (of lengths that differ) as they are.
        let sym = if rows.is_empty() { DataType::Utf8 } else { DataType::FixedSizeBinary(3) };
        prop_assert_eq!(n.column(5).data_type(), &sym);
        let lengths: Vec<usize> = rows.iter().map(|r| format!("{:?}", r.0).len()).collect();
        if lengths.windows(2).any(|w| w[0] != w[1]) {
            prop_assert_eq!(n.column(4).data_type(), &DataType::Utf8);
        }
        prop_assert_eq!(widen(n.clone()), b.clone());
        // Widened in two steps, as a core holding the rows does: the time
        // column on arrival, the rest when a release takes them.
        let part = widen_only(n.clone(), &[3]);
        prop_assert_eq!(part.column(3), b.column(3));
        prop_assert_eq!(part.schema_ref().field(3), b.schema_ref().field(3));
        for k in [0, 2, 5] {
            prop_assert_eq!(part.column(k).data_type(), n.column(k).data_type(), "column {} stays", k);
        }
        let rest = widened(&part);
        prop_assert_eq!(rest.is_some(), n != b, "widened only when still narrow");
        prop_assert_eq!(rest.unwrap_or(part), b.clone());
        prop_assert!(widened(&b).is_none());
    }
}

/// A slice of a VARCHAR column (its offsets not starting at zero)
/// crosses as fixed-width bytes and comes back; NULLs or empty values
/// (lengths that differ, or none) keep it as it is.
#[test]
fn strings_of_one_length_cross_without_offsets() {
    let all: ArrayRef = Arc::new(StringArray::from(vec!["xx", "ABC", "DEF", "ghi", "é!"]));
    let b = RecordBatch::try_from_iter([("s", all.slice(1, 3))]).unwrap();
    let n = narrow(b.clone());
    assert_eq!(n.column(0).data_type(), &DataType::FixedSizeBinary(3));
    assert_eq!(widen(n), b);
    // "é!" is three bytes too.
    let b = RecordBatch::try_from_iter([("s", all.slice(3, 2))]).unwrap();
    assert_eq!(
        narrow(b.clone()).column(0).data_type(),
        &DataType::FixedSizeBinary(3)
    );
    assert_eq!(widen(narrow(b.clone())), b);
    for other in [
        StringArray::from(vec![Some("ABC"), None, Some("DEF")]),
        StringArray::from(vec!["", ""]),
        StringArray::from(vec!["AB", "ABC"]),
    ] {
        let b = RecordBatch::try_from_iter([("s", Arc::new(other) as ArrayRef)]).unwrap();
        assert_eq!(narrow(b.clone()), b);
    }
}

/// A DECIMAL(18) holding a value beyond 18 digits that `i64` cannot
/// hold (Arrow does not insist on the precision) crosses as it is.
#[test]
fn a_decimal_beyond_its_precision_is_not_narrowed() {
    let big = i64::MAX as i128 * 4;
    let d: ArrayRef = Arc::new(
        Decimal128Array::from(vec![Some(big), Some(-big)])
            .with_precision_and_scale(18, 0)
            .unwrap(),
    );
    let b = RecordBatch::try_from_iter([("d", d)]).unwrap();
    let n = narrow(b.clone());
    assert_eq!(n, b);
    assert_eq!(widen(n), b);
}

/// Values spanning exactly 2⁸ − 1, 2¹⁶ − 1 and 2³² − 1 cross as
/// offsets of 1, 2 and 4 bytes, one more in the next width (at 2³² as
/// they are): an offset never wraps.
#[test]
fn offsets_take_the_narrowest_width_that_holds_the_span() {
    let cases = [
        (u8::MAX as i64, DataType::UInt8),
        (u8::MAX as i64 + 1, DataType::UInt16),
        (u16::MAX as i64, DataType::UInt16),
        (u16::MAX as i64 + 1, DataType::UInt32),
        (u32::MAX as i64, DataType::UInt32),
        (u32::MAX as i64 + 1, DataType::Int64),
    ];
    for (span, want) in cases {
        let n: ArrayRef = Arc::new(Int64Array::from(vec![-7, span - 7, 0]));
        // A DECIMAL's offsets are taken from its 16-byte values
        // directly; past 2³² it crosses as 8-byte values.
        let d: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(-7), Some(span as i128 - 7), None])
                .with_precision_and_scale(18, 2)
                .unwrap(),
        );
        let b = RecordBatch::try_from_iter([("n", n), ("d", d)]).unwrap();
        let w = narrow(b.clone());
        assert_eq!(w.column(0).data_type(), &want, "{span}");
        assert_eq!(w.column(1).data_type(), &want, "{span}");
        assert_eq!(widen(w), b, "{span}");
    }
}

#[test]
fn a_batch_with_nothing_to_narrow_passes_as_it_is() {
    let x: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1.5, -2.0]));
    let s: ArrayRef = Arc::new(StringArray::from(vec!["a", "bc"]));
    let b = RecordBatch::try_from_iter([("x", x), ("s", s)]).unwrap();
    assert_eq!(narrow(b.clone()), b);
    assert_eq!(widen(b.clone()), b);
}
