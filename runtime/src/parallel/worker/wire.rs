//! Rows crossing to another core, narrowed for the trip.
//!
//! Contract:
//! - [`narrow`] turns every DECIMAL column of precision 18 or less (Arrow's
//!   16-byte `Decimal128`, whose values then fit 8 bytes: |v| < 10¹⁸ <
//!   2⁶³) into a BIGINT column of the same values and nulls, its field
//!   marked with the decimal's precision and scale; [`widen`] turns marked
//!   columns back. `widen(narrow(b))` is `b`: types, values, nulls and
//!   field metadata;
//! - a batch with nothing to narrow (or widen) passes through as it is;
//! - only the runtime's own messages are narrowed: the receiving core
//!   widens a batch before any operator sees it.
//!
//! Why: rows held for the watermark (ROWS windows, EMIT CHANGES) cross to
//! the core owning their key, and what crosses costs the receiver a cache
//! miss to the other core per line read. A market-data price (DECIMAL(18,
//! 4)) is 16 of the ~50 bytes an EMIT CHANGES row carries; sending 8
//! bytes of it took two-core EMIT CHANGES to 0.930 of the time and ROWS to
//! 0.969 (a two-pass probe, 12 interleaved pairs each, in a phase whose
//! cache-line round trip between the vCPUs was ~260–350 ns).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type};
use arrow_array::{Array, ArrayRef, Decimal128Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

/// Field metadata of a narrowed column: `"precision,scale"`.
const NARROWED: &str = "percore.wire.decimal";

/// The widest DECIMAL whose values fit an `i64`.
const MAX_PRECISION: u8 = 18;

/// `b` with its DECIMAL columns of precision up to 18 sent as BIGINT.
pub(super) fn narrow(b: RecordBatch) -> RecordBatch {
    let schema = b.schema();
    let narrowable =
        |f: &Field| matches!(f.data_type(), DataType::Decimal128(p, _) if *p <= MAX_PRECISION);
    if !schema.fields().iter().any(|f| narrowable(f)) {
        return b;
    }
    let (fields, cols): (Vec<_>, Vec<ArrayRef>) = schema
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(f, c)| match f.data_type() {
            DataType::Decimal128(p, s) if *p <= MAX_PRECISION => {
                let d = c.as_primitive::<Decimal128Type>();
                let values: Vec<i64> = d.values().iter().map(|&v| v as i64).collect();
                let mut meta = f.metadata().clone();
                meta.insert(NARROWED.to_string(), format!("{p},{s}"));
                let field =
                    Field::new(f.name(), DataType::Int64, f.is_nullable()).with_metadata(meta);
                let col: ArrayRef = Arc::new(Int64Array::new(values.into(), d.nulls().cloned()));
                (Arc::new(field), col)
            }
            _ => (f.clone(), c.clone()),
        })
        .unzip();
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    RecordBatch::try_new(Arc::new(schema), cols).expect("same rows, same column count")
}

/// `b` with the columns [`narrow`] marked turned back into DECIMAL.
pub(super) fn widen(b: RecordBatch) -> RecordBatch {
    let schema = b.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| f.metadata().contains_key(NARROWED))
    {
        return b;
    }
    let (fields, cols): (Vec<_>, Vec<ArrayRef>) = schema
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(f, c)| match f.metadata().get(NARROWED) {
            Some(ps) => {
                let (p, s) = ps
                    .split_once(',')
                    .and_then(|(p, s)| Some((p.parse::<u8>().ok()?, s.parse::<i8>().ok()?)))
                    .expect("a mark narrow wrote");
                let n = c.as_primitive::<Int64Type>();
                let values: Vec<i128> = n.values().iter().map(|&v| v as i128).collect();
                let col = Decimal128Array::new(values.into(), n.nulls().cloned())
                    .with_precision_and_scale(p, s)
                    .expect("the precision and scale narrow took");
                let mut meta = f.metadata().clone();
                meta.remove(NARROWED);
                let field = Field::new(f.name(), DataType::Decimal128(p, s), f.is_nullable())
                    .with_metadata(meta);
                (Arc::new(field), Arc::new(col) as ArrayRef)
            }
            None => (f.clone(), c.clone()),
        })
        .unzip();
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    RecordBatch::try_new(Arc::new(schema), cols).expect("same rows, same column count")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow_array::StringArray;
    use proptest::prelude::*;

    use super::*;

    fn batch(prices: &[Option<i128>], wide: &[Option<i128>]) -> RecordBatch {
        let meta = HashMap::from([("k".to_string(), "v".to_string())]);
        let fields = vec![
            Field::new("price", DataType::Decimal128(18, 4), true).with_metadata(meta),
            Field::new("wide", DataType::Decimal128(38, 2), true),
            Field::new("s", DataType::Utf8, false),
        ];
        let cols: Vec<ArrayRef> = vec![
            Arc::new(
                Decimal128Array::from(prices.to_vec())
                    .with_precision_and_scale(18, 4)
                    .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from(wide.to_vec())
                    .with_precision_and_scale(38, 2)
                    .unwrap(),
            ),
            Arc::new(StringArray::from_iter_values(
                prices.iter().map(|p| format!("{p:?}")),
            )),
        ];
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    }

    proptest! {
        /// Narrowed, a batch's DECIMAL(18, 4) column crosses as BIGINT
        /// (a DECIMAL(38, 2) one as it is); widened, the batch is the one
        /// sent, at the extremes of 18 digits and with NULLs.
        #[test]
        fn a_narrowed_batch_widens_to_itself(
            rows in prop::collection::vec(
                (
                    prop::option::of(prop_oneof![
                        Just(999_999_999_999_999_999i128),
                        Just(-999_999_999_999_999_999i128),
                        -1_000_000i128..1_000_000,
                    ]),
                    prop::option::of(any::<i64>().prop_map(|v| v as i128 * 1_000)),
                ),
                0..50,
            ),
        ) {
            let prices: Vec<_> = rows.iter().map(|r| r.0).collect();
            let wide: Vec<_> = rows.iter().map(|r| r.1).collect();
            let b = batch(&prices, &wide);
            let n = narrow(b.clone());
            prop_assert_eq!(n.column(0).data_type(), &DataType::Int64);
            prop_assert_eq!(n.column(1).data_type(), &DataType::Decimal128(38, 2));
            prop_assert_eq!(widen(n), b);
        }
    }

    #[test]
    fn a_batch_with_nothing_to_narrow_passes_as_it_is() {
        let s: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        let b = RecordBatch::try_from_iter([("s", s)]).unwrap();
        assert_eq!(narrow(b.clone()), b);
        assert_eq!(widen(b.clone()), b);
    }
}
