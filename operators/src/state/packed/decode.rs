//! Packed keys back into columns: the key columns of a list of groups,
//! decoded from the words [`super::pack`] laid out, and the routing hash of
//! each key, read from the words.
//!
//! Contract: a column decoded from a group's words holds the value the
//! group's first row had (NULL, the string, the number); a routing hash read
//! from the words equals the one `hash_columns` gives the key's columns.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};

use super::super::group_table::{mix, mix_i128, mix_short, NULL_WORD};
use super::TAG_BITS;
use crate::column::ColumnBuilder;
use crate::gather::Pool;
use crate::state::assert_ids_below;
use crate::types::SqlType;

/// Appends the keys of `groups` (indexes into `keys`) to one builder per key
/// column, decoding the words as [`super::pack`] laid them out: a column at a time,
/// its builder's type matched once.
pub(super) fn append_keys<const W: usize>(
    keys: &[[u64; W]],
    groups: &[u32],
    builders: &mut [ColumnBuilder],
) {
    let mut w = 0;
    for (c, b) in builders.iter_mut().enumerate() {
        let shift = c * TAG_BITS;
        let tag = |g: u32| keys[g as usize][W - 1] >> shift;
        let valid = |g: u32| tag(g) & 1 == 1;
        let word = |g: u32| keys[g as usize][w];
        match b {
            ColumnBuilder::BigInt(b) => each(
                b,
                groups,
                valid,
                |b| b.append_null(),
                |b, g| b.append_value(word(g) as i64),
            ),
            ColumnBuilder::Timestamp(b) => each(
                b,
                groups,
                valid,
                |b| b.append_null(),
                |b, g| b.append_value(word(g) as i64),
            ),
            ColumnBuilder::Double(b) => each(
                b,
                groups,
                valid,
                |b| b.append_null(),
                |b, g| b.append_value(f64::from_bits(word(g))),
            ),
            ColumnBuilder::Boolean(b) => each(
                b,
                groups,
                valid,
                |b| b.append_null(),
                |b, g| b.append_value(word(g) != 0),
            ),
            ColumnBuilder::Decimal(b, ..) => each(
                b,
                groups,
                valid,
                |b| b.append_null(),
                |b, g| {
                    let high = keys[g as usize][w + 1];
                    b.append_value((word(g) as u128 | (high as u128) << 64) as i128)
                },
            ),
            ColumnBuilder::Varchar(b) => each(
                b,
                groups,
                valid,
                |b| b.append_null(),
                |b, g| {
                    let len = ((tag(g) >> 1) & 0xf) as usize;
                    let bytes = word(g).to_le_bytes();
                    let bytes = &bytes[..len];
                    if word(g) & 0x8080_8080_8080_8080 == 0 {
                        // SAFETY: no byte has its high bit set: ASCII,
                        // which is UTF-8 (the common case, checked in one
                        // operation instead of a validation call).
                        b.append_value(unsafe { std::str::from_utf8_unchecked(bytes) })
                    } else {
                        let text = std::str::from_utf8(bytes);
                        b.append_value(text.expect("a key packed from a whole UTF-8 string"))
                    }
                },
            ),
        }
        w += match b {
            ColumnBuilder::Decimal(..) => 2,
            _ => 1,
        };
    }
}

/// Appends to `b`, for each of `groups`, `value` of it, or `null` where
/// the key's column is NULL.
#[inline(always)]
fn each<B>(
    b: &mut B,
    groups: &[u32],
    valid: impl Fn(u32) -> bool,
    null: impl Fn(&mut B),
    value: impl Fn(&mut B, u32),
) {
    for &g in groups {
        if valid(g) {
            value(b, g)
        } else {
            null(b)
        }
    }
}

/// [`super::PackedKeys::route_hashes`]: a loop per column over the keys, each
/// column's word(s) mixed as `hash_columns` mixes its value (a NULL as
/// [`NULL_WORD`], a short string as the word and length `mix_str` reads).
pub(super) fn route_hashes<const W: usize>(
    keys: &[[u64; W]],
    types: &[SqlType],
    seed: u64,
    out: &mut Vec<u64>,
) {
    out.clear();
    out.resize(keys.len(), seed);
    let mut w = 0;
    for (c, t) in types.iter().enumerate() {
        let shift = c * TAG_BITS;
        let pairs = out.iter_mut().zip(keys);
        match t {
            SqlType::Decimal { .. } => {
                for (h, k) in pairs {
                    *h = if (k[W - 1] >> shift) & 1 == 0 {
                        mix(*h, NULL_WORD)
                    } else {
                        mix_i128(*h, (k[w] as u128 | (k[w + 1] as u128) << 64) as i128)
                    };
                }
                w += 2;
                continue;
            }
            SqlType::Varchar => {
                for (h, k) in pairs {
                    let tag = k[W - 1] >> shift;
                    *h = if tag & 1 == 0 {
                        mix(*h, NULL_WORD)
                    } else {
                        mix_short(*h, k[w], (tag >> 1) & 0xf)
                    };
                }
            }
            _ => {
                for (h, k) in pairs {
                    let word = if (k[W - 1] >> shift) & 1 == 0 {
                        NULL_WORD
                    } else {
                        k[w]
                    };
                    *h = mix(*h, word);
                }
            }
        }
        w += 1;
    }
}

/// [`super::PackedKeys::key_columns`] for keys of BIGINT, TIMESTAMP and VARCHAR
/// columns only: one word per column, each read once per key. The group
/// ids are checked once; each column is then one loop over them. (A global
/// aggregate's one group has no key and no columns.)
pub(super) fn direct_columns<const W: usize>(
    keys: &[[u64; W]],
    groups: &[u32],
    types: &[SqlType],
    pool: &mut Pool,
) -> Vec<ArrayRef> {
    if types.is_empty() {
        return Vec::new();
    }
    assert_ids_below(groups, keys.len());
    // SAFETY: every id in `groups` is below `keys.len()` (checked above).
    let key = |g: u32| unsafe { keys.get_unchecked(g as usize) };
    types
        .iter()
        .enumerate()
        .map(|(c, t)| {
            // BIGINT, TIMESTAMP and VARCHAR take one word each: column `c`'s
            // is word `c`, before the tag word.
            assert!(c < W - 1, "a data word per column");
            let shift = c * TAG_BITS;
            let tag = |g: u32| key(g)[W - 1] >> shift;
            let nulls = if groups.iter().all(|&g| tag(g) & 1 == 1) {
                None
            } else {
                Some(NullBuffer::from_iter(
                    groups.iter().map(|&g| tag(g) & 1 == 1),
                ))
            };
            let word = |g: u32| key(g)[c];
            let mut ints = || -> ScalarBuffer<i64> {
                let mut v = Pool::take(&mut pool.i64s, groups.len());
                v.extend(groups.iter().map(|&g| word(g) as i64));
                v.into()
            };
            let col: ArrayRef = match t {
                SqlType::BigInt => Arc::new(Int64Array::new(ints(), nulls)),
                SqlType::Timestamp => Arc::new(TimestampMillisecondArray::new(ints(), nulls)),
                _ => Arc::new(short_keys(
                    groups,
                    word,
                    |g| (tag(g) >> 1) & 0xf,
                    nulls,
                    pool,
                )),
            };
            col
        })
        .collect()
}

/// The VARCHAR keys of `groups` (`word(g)` the bytes, `len(g)` how many:
/// 0 for a NULL) as a string column, each written as one 8-byte store.
fn short_keys(
    groups: &[u32],
    word: impl Fn(u32) -> u64,
    len: impl Fn(u32) -> u64,
    nulls: Option<NullBuffer>,
    pool: &mut Pool,
) -> StringArray {
    let n = groups.len();
    // At most 8 bytes a key: every offset fits an i32.
    assert!(n < (i32::MAX as usize) / 8, "key bytes fit i32 offsets");
    let mut offsets: Vec<i32> = Pool::take(&mut pool.i32s, n + 1);
    offsets.push(0);
    let mut bytes: Vec<u8> = Pool::take(&mut pool.bytes, n * 8 + 8);
    let dst = bytes.as_mut_ptr();
    let (mut pos, mut high) = (0usize, 0u64);
    offsets.extend(groups.iter().map(|&g| {
        let w = word(g);
        high |= w;
        // SAFETY: each key before this one advanced `pos` by at most 8, so
        // `pos + 8 <= 8 * n + 8`, the capacity of `bytes`.
        unsafe { (dst.add(pos) as *mut u64).write_unaligned(w.to_le()) };
        pos += len(g).min(8) as usize;
        pos as i32
    }));
    // SAFETY: every byte below `pos` was written: each key wrote 8 bytes
    // from its start, at least its length.
    unsafe { bytes.set_len(pos) };
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    let values = arrow_buffer::Buffer::from_vec(bytes);
    if high & 0x8080_8080_8080_8080 == 0 {
        // SAFETY: the offsets start at 0 and never decrease, the last is
        // the values' length (checked by `OffsetBuffer::new` and the loop);
        // no byte has its high bit set, so every range is ASCII: UTF-8.
        unsafe { StringArray::new_unchecked(offsets, values, nulls) }
    } else {
        StringArray::new(offsets, values, nulls)
    }
}
