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
//!   widens a batch before any operator reads it — whole on arrival, or,
//!   for an operator holding the rows for the watermark, the columns its
//!   admission reads (a plain time column, the sequence) on arrival
//!   ([`widen_only`]) and the rest when a release first takes rows of the
//!   batch ([`widened`], the event-time buffer's `Prepare`), so the rows
//!   wait narrowed; with `ParallelConfig::narrow_rows` off, nothing is
//!   narrowed (and [`widen`] passes every batch through).
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
//! `ParallelConfig::narrow_rows` turns it off. Held narrowed until
//! released (session 44) instead of widened on arrival: EMIT CHANGES
//! 0.981 of the time, ROWS 1.004 (near phase, 311 and 308 pairs); the
//! same widening, later (callgrind +0.4%), the held rows in fewer bytes.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Decimal128Type, Int64Type, TimestampMillisecondType, UInt16Type,
    UInt32Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, Decimal128Array, FixedSizeBinaryArray, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, UInt16Array, UInt32Array, UInt8Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef, Schema, TimeUnit};
use percore_operators::state::time_range;

use lanes::{dec_range, dec_to_i64, i64_to_i128, Lane, Offset};

mod lanes;
#[cfg(test)]
mod tests;

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

/// A BIGINT or TIMESTAMP column's values (every slot, NULLs too).
fn values_of(c: &ArrayRef, wide: Wide) -> &[i64] {
    match wide {
        Wide::Timestamp => c.as_primitive::<TimestampMillisecondType>().values(),
        _ => c.as_primitive::<Int64Type>().values(),
    }
}

/// `b` with its numeric columns sent in fewer bytes (see the contract).
pub(super) fn narrow(b: RecordBatch) -> RecordBatch {
    if !b
        .schema()
        .fields()
        .iter()
        .any(|f| Wide::of(f.data_type()).is_some() || f.data_type() == &DataType::Utf8)
    {
        return b;
    }
    each_column(&b, |_, f, c| {
        if f.data_type() == &DataType::Utf8 {
            let fixed = fixed_strings(c)?;
            let ty = fixed.data_type().clone();
            return Some((retyped(f, ty, Some(STRINGS.to_string())), fixed));
        }
        let wide = Wide::of(f.data_type())?;
        let nulls = c.nulls().cloned();
        let (base, col) = match wide {
            Wide::Decimal(..) => {
                let values = c.as_primitive::<Decimal128Type>().values();
                // A value beyond `i64` (beyond the precision: Arrow does
                // not insist on it) leaves the column as it is.
                let (lo, hi) = dec_range(values)?;
                match offsets(values, lo, hi, nulls.clone()) {
                    Some(col) => (Some(lo), col),
                    None => (
                        None,
                        Arc::new(Int64Array::new(dec_to_i64(values).into(), nulls)) as ArrayRef,
                    ),
                }
            }
            _ => {
                let values = values_of(c, wide);
                let (lo, hi) = time_range(values).unwrap_or((0, 0));
                (Some(lo), offsets(values, lo, hi, nulls)?)
            }
        };
        let ty = col.data_type().clone();
        Some((retyped(f, ty, Some(wide.mark(base))), col))
    })
}

/// `b` with each column `each` turns into another (`None`: as it is),
/// given its index, field and values.
fn each_column(
    b: &RecordBatch,
    each: impl Fn(usize, &Field, &ArrayRef) -> Option<(FieldRef, ArrayRef)>,
) -> RecordBatch {
    let schema = b.schema();
    let (fields, cols): (Vec<_>, Vec<ArrayRef>) = schema
        .fields()
        .iter()
        .zip(b.columns())
        .enumerate()
        .map(|(i, (f, c))| each(i, f, c).unwrap_or_else(|| (f.clone(), c.clone())))
        .unzip();
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    RecordBatch::try_new(Arc::new(schema), cols).expect("same rows, same column count")
}

/// Field `f` as a column of type `ty`, its metadata marked with `mark`, or
/// with [`NARROWED`]'s mark taken away (`None`).
fn retyped(f: &Field, ty: DataType, mark: Option<String>) -> FieldRef {
    let mut meta = f.metadata().clone();
    match mark {
        Some(m) => meta.insert(NARROWED.to_string(), m),
        None => meta.remove(NARROWED),
    };
    Arc::new(Field::new(f.name(), ty, f.is_nullable()).with_metadata(meta))
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
    widen_where(b, |_| true)
}

/// `b` with the marked columns among `cols` turned back, the others left
/// narrow (for an operator that reads only those on arrival and widens the
/// rest with [`widened`] when it releases the rows).
pub(super) fn widen_only(b: RecordBatch, cols: &[usize]) -> RecordBatch {
    widen_where(b, |i| cols.contains(&i))
}

/// `b` widened, when some column of it is still narrow (`None`: it is
/// not); an event-time buffer's `Prepare`.
pub(super) fn widened(b: &RecordBatch) -> Option<RecordBatch> {
    is_narrow(b).then(|| widen(b.clone()))
}

/// Whether some column of `b` is marked narrow.
fn is_narrow(b: &RecordBatch) -> bool {
    b.schema()
        .fields()
        .iter()
        .any(|f| f.metadata().contains_key(NARROWED))
}

/// `b` with the marked columns whose index `which` takes turned back.
fn widen_where(b: RecordBatch, which: impl Fn(usize) -> bool) -> RecordBatch {
    if !is_narrow(&b) {
        return b;
    }
    each_column(&b, |i, f, c| {
        if !which(i) {
            return None;
        }
        let mark = f.metadata().get(NARROWED)?;
        if mark == STRINGS {
            return Some((retyped(f, DataType::Utf8, None), strings_back(c)));
        }
        let (base, wide) = Wide::unmark(mark).expect("a mark narrow wrote");
        let values = match (base, c.data_type()) {
            (Some(lo), DataType::UInt8) => back::<UInt8Type>(c, lo, wide),
            (Some(lo), DataType::UInt16) => back::<UInt16Type>(c, lo, wide),
            (Some(lo), _) => back::<UInt32Type>(c, lo, wide),
            (None, _) => Values::Decimal(i64_to_i128(c.as_primitive::<Int64Type>().values())),
        };
        let col = wide.array(values, c.nulls().cloned());
        Some((retyped(f, wide.data_type(), None), col))
    })
}

/// A column of offsets (of type `T`) from `lo` back to `wide`'s values.
fn back<T: ArrowPrimitiveType>(c: &ArrayRef, lo: i64, wide: Wide) -> Values
where
    T::Native: Offset,
{
    let offsets = c.as_primitive::<T>().values();
    match wide {
        Wide::Decimal(..) => Values::Decimal(T::Native::to_i128(offsets, lo)),
        _ => Values::Wide(T::Native::to_i64(offsets, lo)),
    }
}
