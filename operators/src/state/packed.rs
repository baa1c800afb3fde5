//! Small group keys packed into a few machine words.
//!
//! Contract: [`pack`] turns each row of a batch's key columns into a fixed
//! array of words — one per BIGINT, TIMESTAMP, DOUBLE or BOOLEAN value, one
//! per VARCHAR of at most 8 bytes, two per DECIMAL — plus a last word holding
//! each column's validity bit and string length; the array is as narrow as
//! the key types allow (2, 3 or 5 words, see [`PackedKeys`]). Two rows get equal arrays
//! exactly when their keys are equal as GROUP BY sees them (NULL equal to
//! NULL, -0.0 equal to 0.0, every NaN equal). A batch holding a longer string
//! does not pack (`false`): the table then keeps byte-encoded keys instead.
//! Packing is column at a time (a tight loop per column); a packed key is
//! hashed with a few multiplies and compared as a handful of words.

use hashbrown::HashTable;

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};

use super::group_table::{fold, key_f64, mix, mix_i128, mix_short, KeyCol, K1, K2, NULL_WORD};
use crate::column::ColumnBuilder;
use crate::gather::Pool;
use crate::state::assert_ids_below;
use crate::types::SqlType;

/// Most data words a packed key has (the tag word comes after them).
const MAX_WORDS: usize = 4;

/// Bits of the tag word per column: the validity bit, then a string length
/// (0..=8).
const TAG_BITS: usize = 5;

/// The width (data words and tag word) keys of these types pack into —
/// 2, 3 or 5 words — or `None` when they cannot pack.
fn width(types: &[SqlType]) -> Option<usize> {
    let words: usize = types
        .iter()
        .map(|t| match t {
            SqlType::Decimal { .. } => 2,
            _ => 1,
        })
        .sum();
    (words <= MAX_WORDS && types.len() * TAG_BITS <= 64).then_some(match words {
        0 | 1 => 2,
        2 => 3,
        _ => MAX_WORDS + 1,
    })
}

/// Packs rows of `cols` into `rows`: the first `n`, or rows `sel` when
/// given (`n` of them); `false` (and `rows` unspecified) when a string is
/// longer than 8 bytes.
fn pack<const W: usize>(
    cols: &[KeyCol<'_>],
    n: usize,
    sel: Option<&[u32]>,
    rows: &mut Vec<[u64; W]>,
) -> bool {
    let tag_at = W - 1;
    rows.clear();
    rows.resize(n, [0; W]);
    let mut w = 0;
    for (c, col) in cols.iter().enumerate() {
        let shift = c * TAG_BITS;
        match (col, sel) {
            (KeyCol::I64(v, None), Some(sel)) => {
                for (r, &i) in rows.iter_mut().zip(sel) {
                    r[w] = v[i as usize] as u64;
                    r[tag_at] |= 1 << shift;
                }
            }
            (
                KeyCol::Str {
                    offsets,
                    data,
                    nulls: None,
                },
                Some(sel),
            ) => {
                for (r, &i) in rows.iter_mut().zip(sel) {
                    let i = i as usize;
                    let Some((word, len)) = short_str(data, offsets[i], offsets[i + 1]) else {
                        return false;
                    };
                    r[w] = word;
                    r[tag_at] |= (len << 1 | 1) << shift;
                }
            }
            (KeyCol::I64(v, None), None) => {
                for (r, x) in rows.iter_mut().zip(&v[..n]) {
                    r[w] = *x as u64;
                    r[tag_at] |= 1 << shift;
                }
            }
            (
                KeyCol::Str {
                    offsets,
                    data,
                    nulls: None,
                },
                None,
            ) => {
                let ends = offsets[..n + 1].windows(2);
                for (r, e) in rows.iter_mut().zip(ends) {
                    let Some((word, len)) = short_str(data, e[0], e[1]) else {
                        return false;
                    };
                    r[w] = word;
                    r[tag_at] |= (len << 1 | 1) << shift;
                }
            }
            (col, sel) => {
                for (k, r) in rows.iter_mut().enumerate() {
                    let i = sel.map_or(k, |s| s[k] as usize);
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
                    r[tag_at] |= tag << shift;
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

/// `LOW_BYTES[k]`: the low `k` bytes of a word set (`k` in 0..=8).
const LOW_BYTES: [u64; 9] = {
    let mut m = [0u64; 9];
    let mut k = 1;
    while k < 9 {
        m[k] = (m[k - 1] << 8) | 0xff;
        k += 1;
    }
    m
};

/// The string at `data[lo..hi]` (offsets of a string column) as a
/// little-endian word, zero above its bytes, and its length; `None` when it
/// is longer than 8 bytes. One unaligned load where 8 bytes are there to
/// read, no `memcpy` call.
#[inline(always)]
pub(super) fn short_str(data: &[u8], lo: i32, hi: i32) -> Option<(u64, u64)> {
    let (lo, len) = (lo as usize, (hi - lo) as usize);
    if len > 8 {
        return None;
    }
    let word = if let Some(w) = data.get(lo..lo + 8) {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        // The low `len` bytes (all 8 included) without a branch.
        w & LOW_BYTES[len]
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
fn same<const W: usize>(a: &[u64; W], b: &[u64; W]) -> bool {
    a.iter().zip(b).fold(0, |d, (x, y)| d | (x ^ y)) == 0
}

/// A packed key's hash.
#[inline(always)]
fn hash<const W: usize>(k: &[u64; W]) -> u64 {
    /// The upper words' fold when both are zero (keys of up to two words).
    const UPPER_ZERO: u64 = fold(K2, K1);
    // Data word `i`, zero beyond this width's (a constant once `W` is).
    let word = |i: usize| if i < W - 1 { k[i] } else { 0 };
    let a = fold(word(0) ^ K1, word(1) ^ K2);
    let b = if word(2) | word(3) == 0 {
        UPPER_ZERO
    } else {
        fold(word(2) ^ K2, word(3) ^ K1)
    };
    fold(a ^ k[W - 1], b ^ K1)
}

/// Appends the keys of `groups` (indexes into `keys`) to one builder per key
/// column, decoding the words as [`pack`] laid them out: a column at a time,
/// its builder's type matched once.
fn append_keys<const W: usize>(keys: &[[u64; W]], groups: &[u32], builders: &mut [ColumnBuilder]) {
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

/// Packed keys of one width: the groups' keys (a group's id is its index)
/// and the table finding them, the key kept in the table itself (one memory
/// access per probe).
pub(super) struct PackedSet<const W: usize> {
    table: HashTable<([u64; W], u32)>,
    keys: Vec<[u64; W]>,
    /// Scratch: a batch's rows, packed.
    rows: Vec<[u64; W]>,
}

impl<const W: usize> PackedSet<W> {
    fn new() -> Self {
        PackedSet {
            table: HashTable::new(),
            keys: Vec::new(),
            rows: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.table.clear();
        self.keys.clear();
    }

    /// See [`PackedKeys::intern`].
    fn intern(
        &mut self,
        cols: &[KeyCol<'_>],
        n: usize,
        sel: Option<&[u32]>,
        hashes: &mut Vec<u64>,
        out: &mut Vec<u32>,
    ) -> bool {
        let mut rows = std::mem::take(&mut self.rows);
        if !pack(cols, n, sel, &mut rows) {
            self.rows = rows;
            return false;
        }
        for row in &rows {
            let h = hash(row);
            let id = match self.table.find(h, |(k, _)| same(k, row)) {
                Some(&(_, g)) => g,
                None => {
                    let g = self.keys.len() as u32;
                    self.table.insert_unique(h, (*row, g), |(k, _)| hash(k));
                    self.keys.push(*row);
                    hashes.push(h);
                    g
                }
            };
            out.push(id);
        }
        self.rows = rows;
        true
    }
}

/// A group table's packed keys, in the narrowest width their types allow:
/// keys of one word (a BIGINT, a short VARCHAR) pack into two words with
/// the tag, of two into three, of up to four into five — fewer bytes to
/// pack, hash, compare and keep in the table.
pub(super) enum PackedKeys {
    W2(PackedSet<2>),
    W3(PackedSet<3>),
    W5(PackedSet<5>),
}

impl PackedKeys {
    /// `None` when keys of these types cannot pack.
    pub(super) fn new(types: &[SqlType]) -> Option<Self> {
        Some(match width(types)? {
            2 => PackedKeys::W2(PackedSet::new()),
            3 => PackedKeys::W3(PackedSet::new()),
            _ => PackedKeys::W5(PackedSet::new()),
        })
    }

    /// Forgets every key, keeping memory.
    pub(super) fn clear(&mut self) {
        match self {
            PackedKeys::W2(p) => p.clear(),
            PackedKeys::W3(p) => p.clear(),
            PackedKeys::W5(p) => p.clear(),
        }
    }

    /// Appends the group id of each of the first `n` rows (or of rows
    /// `sel`, `n` of them) to `out` (a new group's key added, its hash
    /// pushed to `hashes`, so ids are positions in `hashes`); `false` (and
    /// nothing done) when a key of the batch does not pack.
    pub(super) fn intern(
        &mut self,
        cols: &[KeyCol<'_>],
        n: usize,
        sel: Option<&[u32]>,
        hashes: &mut Vec<u64>,
        out: &mut Vec<u32>,
    ) -> bool {
        match self {
            PackedKeys::W2(p) => p.intern(cols, n, sel, hashes, out),
            PackedKeys::W3(p) => p.intern(cols, n, sel, hashes, out),
            PackedKeys::W5(p) => p.intern(cols, n, sel, hashes, out),
        }
    }

    /// Appends the keys of `groups` to one builder per key column.
    pub(super) fn append_keys(&self, groups: &[u32], builders: &mut [ColumnBuilder]) {
        match self {
            PackedKeys::W2(p) => append_keys(&p.keys, groups, builders),
            PackedKeys::W3(p) => append_keys(&p.keys, groups, builders),
            PackedKeys::W5(p) => append_keys(&p.keys, groups, builders),
        }
    }

    /// The key columns (of `types`) of `groups`, written straight from the
    /// words when every column is BIGINT, TIMESTAMP or VARCHAR (the common
    /// keys); `None` otherwise (then [`Self::append_keys`] builds them).
    /// Their vectors come from `pool`.
    pub(super) fn key_columns(
        &self,
        groups: &[u32],
        types: &[SqlType],
        pool: &mut Pool,
    ) -> Option<Vec<ArrayRef>> {
        let direct =
            |t: &SqlType| matches!(t, SqlType::BigInt | SqlType::Timestamp | SqlType::Varchar);
        if !types.iter().all(direct) {
            return None;
        }
        Some(match self {
            PackedKeys::W2(p) => direct_columns(&p.keys, groups, types, pool),
            PackedKeys::W3(p) => direct_columns(&p.keys, groups, types, pool),
            PackedKeys::W5(p) => direct_columns(&p.keys, groups, types, pool),
        })
    }

    /// The routing hash of every key from id `from` on, in id order: what
    /// `hash_columns` with `seed` gives for the key's columns (of `types`),
    /// read from the words.
    pub(super) fn route_hashes(
        &self,
        from: usize,
        types: &[SqlType],
        seed: u64,
        out: &mut Vec<u64>,
    ) {
        match self {
            PackedKeys::W2(p) => route_hashes(&p.keys[from..], types, seed, out),
            PackedKeys::W3(p) => route_hashes(&p.keys[from..], types, seed, out),
            PackedKeys::W5(p) => route_hashes(&p.keys[from..], types, seed, out),
        }
    }
}

/// [`PackedKeys::route_hashes`]: a loop per column over the keys, each
/// column's word(s) mixed as `hash_columns` mixes its value (a NULL as
/// [`NULL_WORD`], a short string as the word and length `mix_str` reads).
fn route_hashes<const W: usize>(
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

/// [`PackedKeys::key_columns`] for keys of BIGINT, TIMESTAMP and VARCHAR
/// columns only: one word per column, each read once per key. The group
/// ids are checked once; each column is then one loop over them. (A global
/// aggregate's one group has no key and no columns.)
fn direct_columns<const W: usize>(
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
