//! Small group keys packed into a few machine words.
//!
//! Contract: [`pack`] turns each row of a batch's key columns into a fixed
//! array of words — one per BIGINT, TIMESTAMP, DOUBLE or BOOLEAN value, one
//! per VARCHAR of at most 8 bytes, two per DECIMAL — plus a last word holding
//! each column's validity bit and string length. Two rows get equal arrays
//! exactly when their keys are equal as GROUP BY sees them (NULL equal to
//! NULL, -0.0 equal to 0.0, every NaN equal). A batch holding a longer string
//! does not pack (`false`): the table then keeps byte-encoded keys instead.
//! Packing is column at a time (a tight loop per column); a packed key is
//! hashed with a few multiplies and compared as a handful of words.

use super::group_table::{fold, key_f64, KeyCol, K1, K2};
use crate::column::ColumnBuilder;
use crate::types::SqlType;

/// Data words of a packed key (the tag word comes after them).
pub(super) const WORDS: usize = 4;

/// A packed key: `WORDS` data words, then the tag word.
pub(super) type Packed = [u64; WORDS + 1];

/// Bits of the tag word per column: the validity bit, then a string length
/// (0..=8).
const TAG_BITS: usize = 5;

/// Whether keys of these types can pack (strings permitting).
pub(super) fn packable(types: &[SqlType]) -> bool {
    let words: usize = types
        .iter()
        .map(|t| match t {
            SqlType::Decimal { .. } => 2,
            _ => 1,
        })
        .sum();
    words <= WORDS && types.len() * TAG_BITS <= 64
}

/// Packs every row of `cols` into `rows`; `false` (and `rows` unspecified)
/// when a string is longer than 8 bytes.
pub(super) fn pack(cols: &[KeyCol<'_>], n: usize, rows: &mut Vec<Packed>) -> bool {
    rows.clear();
    rows.resize(n, [0; WORDS + 1]);
    let mut w = 0;
    for (c, col) in cols.iter().enumerate() {
        let shift = c * TAG_BITS;
        match col {
            KeyCol::I64(v, None) => {
                for (r, x) in rows.iter_mut().zip(&v[..n]) {
                    r[w] = *x as u64;
                    r[WORDS] |= 1 << shift;
                }
            }
            KeyCol::Str {
                offsets,
                data,
                nulls: None,
            } => {
                let ends = offsets[..n + 1].windows(2);
                for (r, e) in rows.iter_mut().zip(ends) {
                    let Some((word, len)) = short_str(data, e[0], e[1]) else {
                        return false;
                    };
                    r[w] = word;
                    r[WORDS] |= (len << 1 | 1) << shift;
                }
            }
            col => {
                for (i, r) in rows.iter_mut().enumerate() {
                    if !col.valid(i) {
                        continue;
                    }
                    let mut tag = 1;
                    match col {
                        KeyCol::I64(v, _) => r[w] = v[i] as u64,
                        KeyCol::F64(v, _) => r[w] = key_f64(v[i]).to_bits(),
                        KeyCol::Bool(b) => r[w] = b.value(i) as u64,
                        KeyCol::I128(v, _) => {
                            r[w] = v[i] as u64;
                            r[w + 1] = (v[i] >> 64) as u64;
                        }
                        KeyCol::Str { offsets, data, .. } => {
                            let Some((word, len)) = short_str(data, offsets[i], offsets[i + 1])
                            else {
                                return false;
                            };
                            r[w] = word;
                            tag |= len << 1;
                        }
                    }
                    r[WORDS] |= tag << shift;
                }
            }
        }
        w += match col {
            KeyCol::I128(..) => 2,
            _ => 1,
        };
    }
    true
}

/// The string at `data[lo..hi]` (offsets of a string column) as a
/// little-endian word, zero above its bytes, and its length; `None` when it
/// is longer than 8 bytes. One unaligned load where 8 bytes are there to
/// read, no `memcpy` call.
#[inline(always)]
fn short_str(data: &[u8], lo: i32, hi: i32) -> Option<(u64, u64)> {
    let (lo, len) = (lo as usize, (hi - lo) as usize);
    if len > 8 {
        return None;
    }
    let word = if let Some(w) = data.get(lo..lo + 8) {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        // The low `len` bytes (all 8 included) without a branch.
        w & ((1u128 << (len * 8)) - 1) as u64
    } else {
        data[lo..lo + len]
            .iter()
            .rev()
            .fold(0, |acc, b| acc << 8 | *b as u64)
    };
    Some((word, len as u64))
}

/// Whether two packed keys are equal (word by word, no `memcmp` call).
#[inline(always)]
pub(super) fn same(a: &Packed, b: &Packed) -> bool {
    a.iter().zip(b).fold(0, |d, (x, y)| d | (x ^ y)) == 0
}

/// A packed key's hash.
#[inline(always)]
pub(super) fn hash(k: &Packed) -> u64 {
    /// The upper words' fold when both are zero (keys of up to two words).
    const UPPER_ZERO: u64 = fold(K2, K1);
    let a = fold(k[0] ^ K1, k[1] ^ K2);
    let b = if k[2] | k[3] == 0 {
        UPPER_ZERO
    } else {
        fold(k[2] ^ K2, k[3] ^ K1)
    };
    fold(a ^ k[WORDS], b ^ K1)
}

/// Appends the keys of `groups` (indexes into `keys`) to one builder per key
/// column, decoding the words as [`pack`] laid them out.
pub(super) fn append_keys(keys: &[Packed], groups: &[u32], builders: &mut [ColumnBuilder]) {
    let mut w = 0;
    for (c, b) in builders.iter_mut().enumerate() {
        let shift = c * TAG_BITS;
        for &g in groups {
            let k = &keys[g as usize];
            let tag = k[WORDS] >> shift;
            if tag & 1 == 0 {
                b.push_null();
                continue;
            }
            match b {
                ColumnBuilder::BigInt(b) => b.append_value(k[w] as i64),
                ColumnBuilder::Timestamp(b) => b.append_value(k[w] as i64),
                ColumnBuilder::Double(b) => b.append_value(f64::from_bits(k[w])),
                ColumnBuilder::Boolean(b) => b.append_value(k[w] != 0),
                ColumnBuilder::Decimal(b, ..) => {
                    b.append_value((k[w] as u128 | (k[w + 1] as u128) << 64) as i128)
                }
                ColumnBuilder::Varchar(b) => {
                    let len = ((tag >> 1) & 0xf) as usize;
                    let bytes = k[w].to_le_bytes();
                    b.append_value(String::from_utf8_lossy(&bytes[..len]))
                }
            }
        }
        w += match b {
            ColumnBuilder::Decimal(..) => 2,
            _ => 1,
        };
    }
}
