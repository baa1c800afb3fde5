//! One key column of a batch, typed once: its rows hashed, compared with a
//! stored key and encoded as `[valid byte, value bytes]`; and the decoding
//! of stored keys into columns.

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::NullBuffer;

use super::hash::{key_f64, mix, mix_i128, mix_str, NULL_WORD};
use crate::column::ColumnBuilder;
use crate::types::SqlType;

/// Whether row `i` of `cols` has the encoded key `stored`.
#[inline(always)]
pub(super) fn row_matches(cols: &[KeyCol<'_>], i: usize, stored: &[u8]) -> bool {
    let mut at = 0;
    for c in cols {
        match c.matches(i, stored, at) {
            Some(next) => at = next,
            None => return false,
        }
    }
    at == stored.len()
}

/// A key column, typed once per batch, appending `[valid byte, value bytes]`.
pub(in crate::state) enum KeyCol<'a> {
    I64(&'a [i64], Option<&'a NullBuffer>),
    F64(&'a [f64], Option<&'a NullBuffer>),
    I128(&'a [i128], Option<&'a NullBuffer>),
    Bool(&'a arrow_array::BooleanArray),
    Str {
        offsets: &'a [i32],
        data: &'a [u8],
        nulls: Option<&'a NullBuffer>,
    },
}

impl<'a> KeyCol<'a> {
    pub(super) fn of(a: &'a ArrayRef, t: SqlType) -> Self {
        match t {
            SqlType::BigInt => KeyCol::I64(a.as_primitive::<Int64Type>().values(), a.nulls()),
            SqlType::Timestamp => KeyCol::I64(
                a.as_primitive::<TimestampMillisecondType>().values(),
                a.nulls(),
            ),
            SqlType::Double => KeyCol::F64(a.as_primitive::<Float64Type>().values(), a.nulls()),
            SqlType::Decimal { .. } => {
                KeyCol::I128(a.as_primitive::<Decimal128Type>().values(), a.nulls())
            }
            SqlType::Boolean => KeyCol::Bool(a.as_boolean()),
            SqlType::Varchar => {
                let s = a.as_string::<i32>();
                KeyCol::Str {
                    offsets: s.value_offsets(),
                    data: s.value_data(),
                    nulls: s.nulls(),
                }
            }
        }
    }

    pub(in crate::state) fn valid(&self, i: usize) -> bool {
        match self {
            KeyCol::I64(_, n) | KeyCol::F64(_, n) | KeyCol::I128(_, n) => {
                n.is_none_or(|n| n.is_valid(i))
            }
            KeyCol::Bool(b) => b.is_valid(i),
            KeyCol::Str { nulls, .. } => nulls.is_none_or(|n| n.is_valid(i)),
        }
    }

    /// `h` mixed with row `i`'s value (what [`super::route::hash_columns`] does).
    #[inline(always)]
    pub(super) fn mix_row(&self, h: u64, i: usize) -> u64 {
        if !self.valid(i) {
            return mix(h, NULL_WORD);
        }
        match self {
            KeyCol::I64(v, _) => mix(h, v[i] as u64),
            KeyCol::F64(v, _) => mix(h, key_f64(v[i]).to_bits()),
            KeyCol::I128(v, _) => mix_i128(h, v[i]),
            KeyCol::Bool(b) => mix(h, b.value(i) as u64),
            KeyCol::Str { offsets, data, .. } => mix_str(h, data, offsets[i], offsets[i + 1]),
        }
    }

    /// Bytes row `i` takes in an encoded key.
    pub(super) fn width(&self, i: usize) -> usize {
        match self {
            KeyCol::I64(..) | KeyCol::F64(..) => 9,
            KeyCol::I128(..) => 17,
            KeyCol::Bool(_) => 2,
            KeyCol::Str { offsets, .. } => {
                5 + if self.valid(i) {
                    (offsets[i + 1] - offsets[i]) as usize
                } else {
                    0
                }
            }
        }
    }

    /// Whether row `i` equals the value encoded at `stored[at..]`; if so,
    /// where that value ends.
    #[inline(always)]
    pub(super) fn matches(&self, i: usize, stored: &[u8], at: usize) -> Option<usize> {
        let ok = self.valid(i);
        if stored.get(at).copied()? != ok as u8 {
            return None;
        }
        let body = &stored[at + 1..];
        let word = |b: &[u8]| {
            b.get(..8)
                .map(|w| u64::from_le_bytes(w.try_into().expect("8")))
        };
        let same = match self {
            KeyCol::I64(v, _) => word(body)? == if ok { v[i] as u64 } else { 0 },
            KeyCol::F64(v, _) => word(body)? == if ok { key_f64(v[i]).to_bits() } else { 0 },
            KeyCol::I128(v, _) => {
                let w = body.get(..16)?;
                i128::from_le_bytes(w.try_into().expect("16")) == if ok { v[i] } else { 0 }
            }
            KeyCol::Bool(b) => *body.first()? == (ok && b.value(i)) as u8,
            KeyCol::Str { offsets, data, .. } => {
                let len = u32::from_le_bytes(body.get(..4)?.try_into().expect("4")) as usize;
                let v = if ok {
                    &data[offsets[i] as usize..offsets[i + 1] as usize]
                } else {
                    &[][..]
                };
                return (len == v.len() && body.get(4..4 + len)? == v).then_some(at + 5 + len);
            }
        };
        same.then(|| at + self.width(i))
    }

    /// Writes row `i`'s encoding at `out[at..]`; returns where it ends.
    #[inline(always)]
    pub(super) fn write(&self, i: usize, out: &mut [u8], at: usize) -> usize {
        let valid = |n: &Option<&NullBuffer>| n.is_none_or(|n| n.is_valid(i));
        // A NULL writes a 0 byte and zeros, so all NULLs of a column are equal.
        match self {
            KeyCol::I64(v, n) => {
                let ok = valid(n);
                out[at] = ok as u8;
                out[at + 1..at + 9].copy_from_slice(&(if ok { v[i] } else { 0 }).to_le_bytes());
                at + 9
            }
            KeyCol::F64(v, n) => {
                let ok = valid(n);
                // -0.0 and 0.0 are one group; all NaNs are one group.
                let x = if ok { key_f64(v[i]) } else { 0.0 };
                out[at] = ok as u8;
                out[at + 1..at + 9].copy_from_slice(&x.to_bits().to_le_bytes());
                at + 9
            }
            KeyCol::I128(v, n) => {
                let ok = valid(n);
                out[at] = ok as u8;
                out[at + 1..at + 17].copy_from_slice(&(if ok { v[i] } else { 0 }).to_le_bytes());
                at + 17
            }
            KeyCol::Bool(b) => {
                let ok = b.is_valid(i);
                out[at] = ok as u8;
                out[at + 1] = (ok && b.value(i)) as u8;
                at + 2
            }
            KeyCol::Str {
                offsets,
                data,
                nulls,
            } => {
                let ok = valid(nulls);
                let (lo, hi) = (offsets[i] as usize, offsets[i + 1] as usize);
                let v = if ok { &data[lo..hi] } else { &[][..] };
                out[at] = ok as u8;
                out[at + 1..at + 5].copy_from_slice(&(v.len() as u32).to_le_bytes());
                let body = &mut out[at + 5..at + 5 + v.len()];
                if v.len() <= 16 {
                    // Short strings (tickers, codes): no memcpy call.
                    for (d, s) in body.iter_mut().zip(v) {
                        *d = *s;
                    }
                } else {
                    body.copy_from_slice(v);
                }
                at + 5 + v.len()
            }
        }
    }
}

/// Appends the value encoded at the front of `key` to `b`; returns the rest.
pub(super) fn decode_into<'k>(key: &'k [u8], b: &mut ColumnBuilder) -> &'k [u8] {
    let valid = key[0] == 1;
    let body = &key[1..];
    let word = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let len = match b {
        ColumnBuilder::Varchar(_) => {
            4 + u32::from_le_bytes(body[..4].try_into().expect("4 bytes")) as usize
        }
        ColumnBuilder::Decimal(..) => 16,
        ColumnBuilder::Boolean(_) => 1,
        _ => 8,
    };
    if !valid {
        b.push_null();
        return &body[len..];
    }
    match b {
        ColumnBuilder::BigInt(b) => b.append_value(word(0) as i64),
        ColumnBuilder::Timestamp(b) => b.append_value(word(0) as i64),
        ColumnBuilder::Double(b) => b.append_value(f64::from_bits(word(0))),
        ColumnBuilder::Decimal(b, ..) => b.append_value(i128::from_le_bytes(
            body[..16].try_into().expect("16 bytes"),
        )),
        ColumnBuilder::Boolean(b) => b.append_value(body[0] != 0),
        ColumnBuilder::Varchar(b) => b.append_value(String::from_utf8_lossy(&body[4..len])),
    }
    &body[len..]
}
