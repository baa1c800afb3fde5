//! Rows crossing to another core, narrowed for the trip.
//!
//! Contract:
//! - [`narrow`] sends each BIGINT, TIMESTAMP and DECIMAL (precision 18 or
//!   less: Arrow's 16-byte `Decimal128`, whose values then fit 8 bytes,
//!   |v| < 10¹⁸ < 2⁶³) column in fewer bytes: as offsets from the
//!   column's least value, in 1, 2 or 4 bytes, when its values (NULL slots
//!   included) span less than 2⁸, 2¹⁶ or 2³², else a DECIMAL as its 8-byte
//!   values (one holding a value `i64` cannot, as it is), else as it is;
//!   a VARCHAR column whose values all have one length (ticker symbols,
//!   codes) as that many bytes a value, without its 4-byte offsets; the
//!   field is marked with what it was. [`widen`] turns marked columns
//!   back: `widen(narrow(b))` is `b` — types, values, nulls, field
//!   metadata;
//! - a batch with nothing to narrow (or widen) passes through as it is;
//! - only the runtime's own messages are narrowed: the receiving core
//!   widens a batch before any operator sees it; with
//!   `ParallelConfig::narrow_rows` off, nothing is narrowed (and [`widen`]
//!   passes every batch through).
//!
//! Why: rows held for the watermark (ROWS windows, EMIT CHANGES) cross to
//! the core owning their key, and the receiver reads every line of them
//! from the other core's cache. An EMIT CHANGES row of the market data
//! carried 47 bytes (a 16-byte price, three 8-byte numbers, a 3-letter
//! symbol and its 4-byte offset); narrowed, 12 (trader 1, quantity and a
//! batch's times 2 each, price 4, symbol 3). Two cores, in a phase where
//! a cache line's round trip between the vCPUs took ~330 ns: EMIT CHANGES
//! 0.740 of the time and ROWS 0.819 with the numbers narrowed, 0.975 and
//! 0.993 more with the symbols (12 interleaved pairs of 10M-row runs
//! each). The two passes (narrowing after the sender's gather, widening on
//! arrival) are plain loops over local memory, compiled for AVX2 where the
//! CPU has it (callgrind, two-core EMIT CHANGES, 2M rows: 4.4% more
//! instructions than without narrowing); a fixed-width VARCHAR's bytes
//! are shared both ways, only its offsets checked and rebuilt; a DECIMAL's
//! range and fit are taken in one pass over its 16-byte values, its
//! offsets written from them and widened straight back.
//!
//! The cost: where the cores share a cache cheaply (a round trip of ~65
//! ns), those passes are not repaid — EMIT CHANGES 1.041 of the time of
//! the same binary not narrowing, ROWS 1.024 (session 43, 267 and 180
//! pairs), against 0.88 and 0.97 in the far phase of the same hour.
//! Narrowing stays the default (on EMIT CHANGES the loss where it loses,
//! 4%, is under the gain where it gains, 12–26%);
//! `ParallelConfig::narrow_rows` turns it off.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal128Type, Int64Type, TimestampMillisecondType, UInt16Type, UInt32Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, Decimal128Array, FixedSizeBinaryArray, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, UInt16Array, UInt32Array, UInt8Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use percore_operators::state::time_range;

/// Field metadata of a narrowed column: what it was and how it travels,
/// `"<offsets from BASE: BASE | wide: ->;<type>"`.
const NARROWED: &str = "percore.wire";

/// [`NARROWED`]'s mark of a VARCHAR column crossing as fixed-width bytes.
const STRINGS: &str = "-;utf8";

/// The widest DECIMAL whose values fit an `i64`.
const MAX_PRECISION: u8 = 18;

/// A column's type as it crosses, and back.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wide {
    BigInt,
    Timestamp,
    Decimal(u8, i8),
}

impl Wide {
    fn of(t: &DataType) -> Option<Self> {
        match t {
            DataType::Int64 => Some(Wide::BigInt),
            DataType::Timestamp(TimeUnit::Millisecond, None) => Some(Wide::Timestamp),
            DataType::Decimal128(p, s) if *p <= MAX_PRECISION => Some(Wide::Decimal(*p, *s)),
            _ => None,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Wide::BigInt => DataType::Int64,
            Wide::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            Wide::Decimal(p, s) => DataType::Decimal128(p, s),
        }
    }

    fn mark(self, base: Option<i64>) -> String {
        let how = base.map_or("-".to_string(), |b| b.to_string());
        match self {
            Wide::BigInt => format!("{how};i64"),
            Wide::Timestamp => format!("{how};ts"),
            Wide::Decimal(p, s) => format!("{how};d{p},{s}"),
        }
    }

    fn unmark(m: &str) -> Option<(Option<i64>, Self)> {
        let (how, ty) = m.split_once(';')?;
        let base = match how {
            "-" => None,
            b => Some(b.parse().ok()?),
        };
        let wide = match ty {
            "i64" => Wide::BigInt,
            "ts" => Wide::Timestamp,
            d => {
                let (p, s) = d.strip_prefix('d')?.split_once(',')?;
                Wide::Decimal(p.parse().ok()?, s.parse().ok()?)
            }
        };
        Some((base, wide))
    }

    /// The column of this type holding `values` (and `nulls`).
    fn array(self, values: Values, nulls: Option<NullBuffer>) -> ArrayRef {
        match (self, values) {
            (Wide::BigInt, Values::Wide(v)) => Arc::new(Int64Array::new(v.into(), nulls)),
            (Wide::Timestamp, Values::Wide(v)) => {
                Arc::new(TimestampMillisecondArray::new(v.into(), nulls))
            }
            (Wide::Decimal(p, s), Values::Decimal(v)) => Arc::new(
                Decimal128Array::new(v.into(), nulls)
                    .with_precision_and_scale(p, s)
                    .expect("the precision and scale narrow took"),
            ),
            (w, v) => unreachable!("{w:?} widened to {v:?}"),
        }
    }
}

/// A widened column's values: `i64`s, or a DECIMAL's `i128`s.
#[derive(Debug)]
enum Values {
    Wide(Vec<i64>),
    Decimal(Vec<i128>),
}

/// How a column's values are stored: `i64`s, or a DECIMAL's `i128`s
/// (narrowed only when every one fits an `i64`, read as its lower half).
trait Lane: Copy + Sized {
    /// The value (its lower 64 bits).
    fn low(self) -> i64;
    /// `values` − `lo` in one byte each (the span fits).
    fn to_u8(values: &[Self], lo: i64) -> Vec<u8>;
    /// `values` − `lo` in two bytes each (the span fits).
    fn to_u16(values: &[Self], lo: i64) -> Vec<u16>;
    /// `values` − `lo` in four bytes each (the span fits).
    fn to_u32(values: &[Self], lo: i64) -> Vec<u32>;
}

impl Lane for i64 {
    #[inline(always)]
    fn low(self) -> i64 {
        self
    }
    fn to_u8(values: &[i64], lo: i64) -> Vec<u8> {
        to_u8(values, lo)
    }
    fn to_u16(values: &[i64], lo: i64) -> Vec<u16> {
        to_u16(values, lo)
    }
    fn to_u32(values: &[i64], lo: i64) -> Vec<u32> {
        to_u32(values, lo)
    }
}

impl Lane for i128 {
    #[inline(always)]
    fn low(self) -> i64 {
        self as i64
    }
    fn to_u8(values: &[i128], lo: i64) -> Vec<u8> {
        dec_to_u8(values, lo)
    }
    fn to_u16(values: &[i128], lo: i64) -> Vec<u16> {
        dec_to_u16(values, lo)
    }
    fn to_u32(values: &[i128], lo: i64) -> Vec<u32> {
        dec_to_u32(values, lo)
    }
}

/// A BIGINT or TIMESTAMP column's values (every slot, NULLs too).
fn values_of(c: &ArrayRef, wide: Wide) -> &[i64] {
    match wide {
        Wide::Timestamp => c.as_primitive::<TimestampMillisecondType>().values(),
        _ => c.as_primitive::<Int64Type>().values(),
    }
}

/// `b` with its numeric columns sent in fewer bytes (see the contract).
pub(super) fn narrow(b: RecordBatch) -> RecordBatch {
    let schema = b.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| Wide::of(f.data_type()).is_some() || f.data_type() == &DataType::Utf8)
    {
        return b;
    }
    let (fields, cols): (Vec<_>, Vec<ArrayRef>) = schema
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(f, c)| {
            if f.data_type() == &DataType::Utf8 {
                let Some(fixed) = fixed_strings(c) else {
                    return (f.clone(), c.clone());
                };
                let mut meta = f.metadata().clone();
                meta.insert(NARROWED.to_string(), STRINGS.to_string());
                let field = Field::new(f.name(), fixed.data_type().clone(), f.is_nullable())
                    .with_metadata(meta);
                return (Arc::new(field), fixed);
            }
            let Some(wide) = Wide::of(f.data_type()) else {
                return (f.clone(), c.clone());
            };
            let nulls = c.nulls().cloned();
            let narrowed = match wide {
                Wide::Decimal(..) => {
                    let values = c.as_primitive::<Decimal128Type>().values();
                    // A value beyond `i64` (beyond the precision: Arrow
                    // does not insist on it) leaves the column as it is.
                    dec_range(values).map(|(lo, hi)| {
                        let col: ArrayRef = match offsets(values, lo, hi, nulls.clone()) {
                            Some(col) => return (Some(lo), col),
                            None => Arc::new(Int64Array::new(dec_to_i64(values).into(), nulls)),
                        };
                        (None, col)
                    })
                }
                _ => {
                    let values = values_of(c, wide);
                    let (lo, hi) = time_range(values).unwrap_or((0, 0));
                    offsets(values, lo, hi, nulls).map(|col| (Some(lo), col))
                }
            };
            let Some((base, col)) = narrowed else {
                return (f.clone(), c.clone());
            };
            let mut meta = f.metadata().clone();
            meta.insert(NARROWED.to_string(), wide.mark(base));
            let field =
                Field::new(f.name(), col.data_type().clone(), f.is_nullable()).with_metadata(meta);
            (Arc::new(field), col)
        })
        .unzip();
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    RecordBatch::try_new(Arc::new(schema), cols).expect("same rows, same column count")
}

/// `values` (from `lo` to `hi`) as offsets from `lo` in the narrowest of
/// 1, 2 and 4 bytes that holds their span; `None` when it is 2³² or more.
fn offsets<L: Lane>(values: &[L], lo: i64, hi: i64, nulls: Option<NullBuffer>) -> Option<ArrayRef> {
    let span = hi.abs_diff(lo);
    Some(if span <= u8::MAX as u64 {
        Arc::new(UInt8Array::new(L::to_u8(values, lo).into(), nulls))
    } else if span <= u16::MAX as u64 {
        Arc::new(UInt16Array::new(L::to_u16(values, lo).into(), nulls))
    } else if span <= u32::MAX as u64 {
        Arc::new(UInt32Array::new(L::to_u32(values, lo).into(), nulls))
    } else {
        return None;
    })
}

/// Defines `$name`, which runs the loop `$any` compiled for AVX2 where the
/// CPU has it (so it vectorises 4–8 values a step), else as it is.
macro_rules! avx2_or_portable {
    ($(#[$doc:meta])* fn $name:ident($($a:ident: $t:ty),*) -> $r:ty = $any:path) => {
        $(#[$doc])*
        fn $name($($a: $t),*) -> $r {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                #[target_feature(enable = "avx2")]
                unsafe fn fast($($a: $t),*) -> $r {
                    $any($($a),*)
                }
                // SAFETY: the CPU has AVX2 (checked just above), the only
                // condition of a function whose sole unsafety is the
                // target feature it is compiled for.
                return unsafe { fast($($a),*) };
            }
            $any($($a),*)
        }
    };
}

avx2_or_portable!(
    /// `values` − `lo` in one byte each (the span fits).
    fn to_u8(values: &[i64], lo: i64) -> Vec<u8> = narrow_any::<i64, u8>
);
avx2_or_portable!(
    /// `values` − `lo` in two bytes each (the span fits).
    fn to_u16(values: &[i64], lo: i64) -> Vec<u16> = narrow_any::<i64, u16>
);
avx2_or_portable!(
    /// `values` − `lo` in four bytes each (the span fits).
    fn to_u32(values: &[i64], lo: i64) -> Vec<u32> = narrow_any::<i64, u32>
);
avx2_or_portable!(
    /// DECIMAL `values` − `lo` in one byte each (each fits `i64`, the span fits).
    fn dec_to_u8(values: &[i128], lo: i64) -> Vec<u8> = narrow_any::<i128, u8>
);
avx2_or_portable!(
    /// DECIMAL `values` − `lo` in two bytes each (each fits `i64`, the span fits).
    fn dec_to_u16(values: &[i128], lo: i64) -> Vec<u16> = narrow_any::<i128, u16>
);
avx2_or_portable!(
    /// DECIMAL `values` − `lo` in four bytes each (each fits `i64`, the span fits).
    fn dec_to_u32(values: &[i128], lo: i64) -> Vec<u32> = narrow_any::<i128, u32>
);
avx2_or_portable!(
    /// DECIMAL `values` as `i64`s (each fits).
    fn dec_to_i64(values: &[i128]) -> Vec<i64> = dec_to_i64_any
);
avx2_or_portable!(
    /// The least and greatest of DECIMAL `values` (`(0, 0)` for none);
    /// `None` when one does not fit an `i64`.
    fn dec_range(values: &[i128]) -> Option<(i64, i64)> = dec_range_any
);
avx2_or_portable!(
    /// `lo` + each of `offsets`.
    fn u8_to_i64(offsets: &[u8], lo: i64) -> Vec<i64> = widen_any::<u8, i64>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`.
    fn u16_to_i64(offsets: &[u16], lo: i64) -> Vec<i64> = widen_any::<u16, i64>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`.
    fn u32_to_i64(offsets: &[u32], lo: i64) -> Vec<i64> = widen_any::<u32, i64>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`, as DECIMAL's `i128`s.
    fn u8_to_i128(offsets: &[u8], lo: i64) -> Vec<i128> = widen_any::<u8, i128>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`, as DECIMAL's `i128`s.
    fn u16_to_i128(offsets: &[u16], lo: i64) -> Vec<i128> = widen_any::<u16, i128>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`, as DECIMAL's `i128`s.
    fn u32_to_i128(offsets: &[u32], lo: i64) -> Vec<i128> = widen_any::<u32, i128>
);
avx2_or_portable!(
    /// `values` widened to DECIMAL's `i128`s.
    fn i64_to_i128(values: &[i64]) -> Vec<i128> = i64_to_i128_any
);

#[inline(always)]
fn narrow_any<L: Lane, O: Offset>(values: &[L], lo: i64) -> Vec<O> {
    values
        .iter()
        .map(|v| O::low_bits(v.low().wrapping_sub(lo)))
        .collect()
}

/// An offset's width: 1, 2 or 4 bytes.
trait Offset: Copy {
    /// `v`'s low bits (`v` fits: it is within the span).
    fn low_bits(v: i64) -> Self;
}

impl Offset for u8 {
    #[inline(always)]
    fn low_bits(v: i64) -> u8 {
        v as u8
    }
}

impl Offset for u16 {
    #[inline(always)]
    fn low_bits(v: i64) -> u16 {
        v as u16
    }
}

impl Offset for u32 {
    #[inline(always)]
    fn low_bits(v: i64) -> u32 {
        v as u32
    }
}

#[inline(always)]
fn dec_to_i64_any(values: &[i128]) -> Vec<i64> {
    values.iter().map(|&v| v as i64).collect()
}

#[inline(always)]
fn dec_range_any(values: &[i128]) -> Option<(i64, i64)> {
    if values.is_empty() {
        return Some((0, 0));
    }
    // A value fits when its upper 64 bits are its lower half's sign.
    let (lost, lo, hi) = values
        .iter()
        .fold((0i64, i64::MAX, i64::MIN), |(lost, lo, hi), &v| {
            let low = v as i64;
            (
                lost | (((v >> 64) as i64) ^ (low >> 63)),
                lo.min(low),
                hi.max(low),
            )
        });
    (lost == 0).then_some((lo, hi))
}

#[inline(always)]
fn widen_any<O: Copy + Into<i64>, W: From<i64>>(offsets: &[O], lo: i64) -> Vec<W> {
    offsets
        .iter()
        .map(|&o| W::from(lo.wrapping_add(o.into())))
        .collect()
}

#[inline(always)]
fn i64_to_i128_any(values: &[i64]) -> Vec<i128> {
    values.iter().map(|&v| v as i128).collect()
}

/// A VARCHAR column whose every value (NULL slots too) has the same
/// length, at least one byte, as that many bytes a value and no offsets
/// (its bytes shared, not copied); `None` when the lengths differ.
fn fixed_strings(c: &ArrayRef) -> Option<ArrayRef> {
    let a = c.as_string::<i32>();
    let offsets = a.value_offsets();
    let width = *offsets.get(1)? - offsets[0];
    let mut same = width > 0;
    for w in offsets.windows(2) {
        same &= w[1] - w[0] == width;
    }
    if !same {
        return None;
    }
    let start = offsets[0] as usize;
    let bytes = a
        .values()
        .slice_with_length(start, a.len() * width as usize);
    Some(Arc::new(FixedSizeBinaryArray::new(
        width,
        bytes,
        a.nulls().cloned(),
    )))
}

/// [`fixed_strings`]' column back as VARCHAR (its bytes shared).
fn strings_back(c: &ArrayRef) -> ArrayRef {
    let a = c.as_fixed_size_binary();
    let width = a.value_length();
    let ends: ScalarBuffer<i32> = (0..=a.len() as i32).map(|k| k * width).collect();
    let bytes = a.values().clone();
    // SAFETY: the offsets ascend from 0 by `width` to `len × width` (the
    // bytes' length: `fixed_strings` took `len` values of `width` bytes
    // from a VARCHAR column whose offsets fit i32); the bytes and their
    // boundaries are that column's, which Arrow had checked, each value
    // valid UTF-8.
    let offsets = unsafe { OffsetBuffer::new_unchecked(ends) };
    // SAFETY: as above.
    Arc::new(unsafe { StringArray::new_unchecked(offsets, bytes, a.nulls().cloned()) })
}

/// `b` with the columns [`narrow`] marked turned back.
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
        .map(|(f, c)| {
            let Some(mark) = f.metadata().get(NARROWED) else {
                return (f.clone(), c.clone());
            };
            if mark == STRINGS {
                let mut meta = f.metadata().clone();
                meta.remove(NARROWED);
                let field =
                    Field::new(f.name(), DataType::Utf8, f.is_nullable()).with_metadata(meta);
                return (Arc::new(field), strings_back(c));
            }
            let (base, wide) = Wide::unmark(mark).expect("a mark narrow wrote");
            let decimal = matches!(wide, Wide::Decimal(..));
            let values = match (base, c.data_type()) {
                (Some(lo), DataType::UInt8) => {
                    let o = c.as_primitive::<UInt8Type>().values();
                    if decimal {
                        Values::Decimal(u8_to_i128(o, lo))
                    } else {
                        Values::Wide(u8_to_i64(o, lo))
                    }
                }
                (Some(lo), DataType::UInt16) => {
                    let o = c.as_primitive::<UInt16Type>().values();
                    if decimal {
                        Values::Decimal(u16_to_i128(o, lo))
                    } else {
                        Values::Wide(u16_to_i64(o, lo))
                    }
                }
                (Some(lo), _) => {
                    let o = c.as_primitive::<UInt32Type>().values();
                    if decimal {
                        Values::Decimal(u32_to_i128(o, lo))
                    } else {
                        Values::Wide(u32_to_i64(o, lo))
                    }
                }
                (None, _) => Values::Decimal(i64_to_i128(c.as_primitive::<Int64Type>().values())),
            };
            let col = wide.array(values, c.nulls().cloned());
            let mut meta = f.metadata().clone();
            meta.remove(NARROWED);
            let field = Field::new(f.name(), wide.data_type(), f.is_nullable()).with_metadata(meta);
            (Arc::new(field), col)
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
            prop_assert_eq!(widen(n), b);
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
}
