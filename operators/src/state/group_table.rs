//! Group keys to dense group ids.
//!
//! Contract: [`GroupTable::intern`] maps each row of a batch of key columns to a
//! group id in `0..len()`, ids given in order of first appearance; equal keys
//! (NULL equal to NULL, as GROUP BY treats them) get equal ids. Keys are
//! encoded column-at-a-time into one byte arena; the hash table stores only
//! ids, so there is no heap object per group.

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::NullBuffer;
use bumpalo::Bump;
use hashbrown::HashTable;

use crate::column::ColumnBuilder;
use crate::types::SqlType;
use crate::value::Scalar;

pub struct GroupTable {
    types: Vec<SqlType>,
    map: HashTable<u32>,
    hashes: Vec<u64>,
    /// Where the encoded keys live.
    arena: Bump,
    /// Group g's encoded key, in `arena`.
    keys: Vec<KeyRef>,
    state: foldhash::quality::FixedState,
    // Scratch buffers reused across batches.
    rows: Vec<u8>,
    offsets: Vec<usize>,
}

impl GroupTable {
    pub fn new(types: Vec<SqlType>) -> Self {
        GroupTable {
            types,
            map: HashTable::new(),
            hashes: Vec::new(),
            arena: Bump::new(),
            keys: Vec::new(),
            state: foldhash::quality::FixedState::with_seed(0x5eed_c0de),
            rows: Vec::new(),
            offsets: Vec::new(),
        }
    }

    /// Number of groups seen.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Forgets every group; the arena's memory is kept for the next ones.
    pub fn clear(&mut self) {
        self.map.clear();
        self.hashes.clear();
        // Every reference into the arena goes before it is reset.
        self.keys.clear();
        self.arena.reset();
    }

    /// Bytes the arena holds (in use or kept for reuse).
    pub fn arena_bytes(&self) -> usize {
        self.arena.allocated_bytes()
    }

    /// Number of key columns.
    pub fn width(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn key(&self, g: usize) -> &[u8] {
        self.keys[g].bytes()
    }

    /// Appends the group id of every row of `keys` to `out`.
    pub fn intern(&mut self, keys: &[ArrayRef], num_rows: usize, out: &mut Vec<u32>) {
        out.clear();
        out.reserve(num_rows);
        if keys.is_empty() {
            // A global aggregate: one group.
            if self.keys.is_empty() && num_rows > 0 {
                self.keys.push(KeyRef::EMPTY);
                self.hashes.push(0);
            }
            out.extend(std::iter::repeat_n(0, num_rows));
            return;
        }
        let mut rows = std::mem::take(&mut self.rows);
        let mut offsets = std::mem::take(&mut self.offsets);
        encode_rows(keys, &self.types, num_rows, &mut rows, &mut offsets);
        use std::hash::BuildHasher;
        for i in 0..num_rows {
            let key = &rows[offsets[i]..offsets[i + 1]];
            let h = self.state.hash_one(key);
            let keys = &self.keys;
            let found = self
                .map
                .find(h, |&g| same_key(keys[g as usize].bytes(), key));
            let id = match found {
                Some(&g) => g,
                None => {
                    let g = self.keys.len() as u32;
                    let stored: &[u8] = self.arena.alloc_slice_copy(key);
                    self.keys.push(KeyRef::new(stored));
                    self.hashes.push(h);
                    let hashes = &self.hashes;
                    self.map.insert_unique(h, g, |&x| hashes[x as usize]);
                    g
                }
            };
            out.push(id);
        }
        self.rows = rows;
        self.offsets = offsets;
    }

    /// The key columns of groups `groups`, in that order.
    pub fn key_columns(&self, groups: &[u32]) -> Vec<ArrayRef> {
        let mut builders: Vec<ColumnBuilder> = self
            .types
            .iter()
            .map(|t| ColumnBuilder::new(*t, groups.len()))
            .collect();
        for &g in groups {
            let mut key = self.key(g as usize);
            for (b, t) in builders.iter_mut().zip(&self.types) {
                let (v, rest) = decode_value(key, *t);
                key = rest;
                b.push(&v);
            }
        }
        builders.into_iter().map(ColumnBuilder::finish).collect()
    }
}

/// A group's encoded key in its table's arena.
#[derive(Clone, Copy)]
struct KeyRef {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: a KeyRef points into the bump arena of the GroupTable holding it
// (or is the dangling pointer of an empty slice); the table owns the arena and
// every KeyRef, so they only ever move between threads together, and the
// bytes are never written after the copy. Nothing is shared: GroupTable is
// `Send`, not `Sync`.
unsafe impl Send for KeyRef {}

impl KeyRef {
    const EMPTY: KeyRef = KeyRef {
        ptr: std::ptr::NonNull::dangling(),
        len: 0,
    };

    fn new(bytes: &[u8]) -> Self {
        KeyRef {
            ptr: std::ptr::NonNull::from(bytes).cast(),
            len: bytes.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` was copied into the owning table's bump
        // arena (or is the empty slice's dangling pointer, valid for len 0).
        // A bump arena never moves or frees an allocation until it is reset
        // or dropped, and the table drops every KeyRef (`keys.clear()`)
        // before resetting its arena; the KeyRefs never leave the table, so
        // none outlives the arena. The bytes are never written after the copy.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

/// Byte equality of two encoded keys; keys up to 32 bytes (most group keys)
/// are compared with a few overlapping 8-byte loads instead of a `memcmp`
/// call.
#[inline(always)]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        17..=32 => {
            word(a, 0) == word(b, 0)
                && word(a, 8) == word(b, 8)
                && word(a, n - 16) == word(b, n - 16)
                && word(a, n - 8) == word(b, n - 8)
        }
        _ => a == b,
    }
}

/// A hash of each row's key that every core computes alike (for routing rows
/// to the core that owns their key). Seeded apart from the group tables' own
/// hash, so routing does not thin out the bits those tables use.
pub fn hash_keys(keys: &[ArrayRef], types: &[SqlType], num_rows: usize, out: &mut Vec<u64>) {
    use std::hash::BuildHasher;
    out.clear();
    if keys.is_empty() {
        out.resize(num_rows, 0);
        return;
    }
    let state = foldhash::quality::FixedState::with_seed(0x0dd_c0de_5eed);
    let (mut rows, mut offsets) = (Vec::new(), Vec::new());
    encode_rows(keys, types, num_rows, &mut rows, &mut offsets);
    out.extend((0..num_rows).map(|i| state.hash_one(&rows[offsets[i]..offsets[i + 1]])));
}

/// Encodes each row's key as `[valid byte, value bytes]` per column, column by column.
fn encode_rows(
    keys: &[ArrayRef],
    types: &[SqlType],
    n: usize,
    rows: &mut Vec<u8>,
    offsets: &mut Vec<usize>,
) {
    // Typed views of the columns once; then each row is appended in turn
    // (no per-row width pass, no zero fill, no cursor array).
    let cols: Vec<KeyCol<'_>> = keys
        .iter()
        .zip(types)
        .map(|(a, t)| KeyCol::of(a, *t))
        .collect();
    // The exact size: fixed widths, plus each string's length.
    let mut total = 0usize;
    for (c, t) in cols.iter().zip(types) {
        total += n * match t {
            SqlType::Varchar => 1 + 4,
            t => 1 + fixed_width(*t),
        };
        if let KeyCol::Str { offsets, .. } = c {
            total += (offsets[n] - offsets[0]) as usize;
        }
    }
    // Every byte up to `total` is written below, so a buffer kept from the
    // last batch is reused as it is (zeroed only where it grows).
    if rows.len() < total {
        rows.resize(total, 0);
    } else {
        rows.truncate(total);
    }
    offsets.clear();
    offsets.reserve(n + 1);
    offsets.push(0);
    let mut pos = 0;
    for i in 0..n {
        for c in &cols {
            pos = c.write(i, rows, pos);
        }
        offsets.push(pos);
    }
    debug_assert_eq!(pos, total);
}

/// A key column, typed once per batch, appending `[valid byte, value bytes]`.
enum KeyCol<'a> {
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
    fn of(a: &'a ArrayRef, t: SqlType) -> Self {
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

    /// Writes row `i`'s encoding at `out[at..]`; returns where it ends.
    #[inline(always)]
    fn write(&self, i: usize, out: &mut [u8], at: usize) -> usize {
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
                let x = v[i];
                let x = if !ok || x == 0.0 {
                    0.0
                } else if x.is_nan() {
                    f64::NAN
                } else {
                    x
                };
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

fn fixed_width(t: SqlType) -> usize {
    match t {
        SqlType::BigInt | SqlType::Timestamp | SqlType::Double => 8,
        SqlType::Decimal { .. } => 16,
        SqlType::Boolean => 1,
        SqlType::Varchar => unreachable!("variable width"),
    }
}

fn decode_value(key: &[u8], t: SqlType) -> (Scalar, &[u8]) {
    let valid = key[0] == 1;
    let body = &key[1..];
    let (len, v) = match t {
        SqlType::Varchar => {
            let l = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
            (
                4 + l,
                Scalar::Varchar(String::from_utf8_lossy(&body[4..4 + l]).into_owned()),
            )
        }
        SqlType::BigInt => (
            8,
            Scalar::BigInt(i64::from_le_bytes(body[..8].try_into().unwrap())),
        ),
        SqlType::Timestamp => (
            8,
            Scalar::Timestamp(i64::from_le_bytes(body[..8].try_into().unwrap())),
        ),
        SqlType::Double => (
            8,
            Scalar::Double(f64::from_bits(u64::from_le_bytes(
                body[..8].try_into().unwrap(),
            ))),
        ),
        SqlType::Decimal { scale, .. } => (
            16,
            Scalar::Decimal(i128::from_le_bytes(body[..16].try_into().unwrap()), scale),
        ),
        SqlType::Boolean => (1, Scalar::Boolean(body[0] != 0)),
    };
    (if valid { v } else { Scalar::Null }, &body[len..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn equal_keys_share_ids_in_first_seen_order() {
        let mut t = GroupTable::new(vec![SqlType::Varchar, SqlType::BigInt]);
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("x"),
            Some("y"),
            Some("x"),
            None,
            None,
        ]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
        ]));
        let mut ids = Vec::new();
        t.intern(&[a, b], 5, &mut ids);
        assert_eq!(ids, vec![0, 1, 0, 2, 2]);
        let cols = t.key_columns(&[2, 0]);
        assert!(cols[0].is_null(0));
        assert_eq!(cols[0].as_string::<i32>().value(1), "x");
        assert_eq!(cols[1].as_primitive::<Int64Type>().value(0), 2);
    }

    #[test]
    fn a_cleared_table_starts_afresh_and_reuses_its_arena() {
        let mut t = GroupTable::new(vec![SqlType::Varchar]);
        let mut ids = Vec::new();
        let mut peak = 0;
        for round in 0..50 {
            let keys: ArrayRef = Arc::new(StringArray::from_iter_values(
                (0..1000).map(|i| format!("key-{round}-{}", i % 300)),
            ));
            t.intern(&[keys], 1000, &mut ids);
            assert_eq!(t.len(), 300);
            assert_eq!(ids[299], 299);
            assert_eq!(ids[300], 0);
            let cols = t.key_columns(&[0, 299]);
            assert_eq!(
                cols[0].as_string::<i32>().value(1),
                format!("key-{round}-299")
            );
            if round == 1 {
                peak = t.arena_bytes();
            }
            if round > 1 {
                assert!(t.arena_bytes() <= peak, "the arena is reused, not grown");
            }
            t.clear();
            assert!(t.is_empty());
        }
    }

    #[test]
    fn short_keys_compare_like_bytes() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(same_key(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 1;
                assert!(!same_key(&a, &b), "length {n}, byte {i}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same_key(&a, &longer));
        }
    }
}
