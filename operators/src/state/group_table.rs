//! Group keys to dense group ids.
//!
//! Contract: [`GroupTable::intern`] maps each row of a batch of key columns to a
//! group id in `0..len()`, ids given in order of first appearance; equal keys
//! (NULL equal to NULL, as GROUP BY treats them) get equal ids. Each row's
//! key is hashed and compared straight from the batch's columns: small keys
//! (a few numbers and strings of up to 8 bytes) packed into a few words
//! ([`super::packed`]), others column by column. Only a new group's key is
//! stored: its packed words, or else its encoding in one byte arena (a table
//! whose keys stop packing re-encodes the groups it has, once). There is no
//! heap object per group.

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::NullBuffer;
use bumpalo::Bump;
use hashbrown::HashTable;

use super::packed::{short_str, PackedKeys};
use crate::column::ColumnBuilder;
use crate::gather::Pool;
use crate::types::SqlType;

pub struct GroupTable {
    types: Vec<SqlType>,
    map: HashTable<u32>,
    hashes: Vec<u64>,
    /// Where the encoded keys live.
    arena: Bump,
    /// Group g's encoded key, in `arena` (unless keys are packed).
    keys: Vec<KeyRef>,
    /// While every key has packed: packed key → group id (the key kept in
    /// the table itself: one memory access per probe), and `map` is unused.
    /// `None` once a key did not pack (or the types never do); `map` then
    /// holds the groups, by the hash of their columns.
    packed: Option<PackedKeys>,
    // Scratch buffers reused across batches.
    row_hashes: Vec<u64>,
    key_buf: Vec<u8>,
}

/// The group tables' hash seed; routing uses another ([`hash_keys`]).
const TABLE_SEED: u64 = 0x5eed_c0de;
/// The routing hash's seed.
const ROUTE_SEED: u64 = 0x0dd_c0de_5eed;

impl GroupTable {
    pub fn new(types: Vec<SqlType>) -> Self {
        GroupTable {
            packed: PackedKeys::new(&types),
            types,
            map: HashTable::new(),
            hashes: Vec::new(),
            arena: Bump::new(),
            keys: Vec::new(),
            row_hashes: Vec::new(),
            key_buf: Vec::new(),
        }
    }

    /// Number of groups seen.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Forgets every group; the arena's memory is kept for the next ones.
    pub fn clear(&mut self) {
        self.map.clear();
        self.hashes.clear();
        // Every reference into the arena goes before it is reset.
        self.keys.clear();
        self.arena.reset();
        match &mut self.packed {
            Some(p) => p.clear(),
            None => self.packed = PackedKeys::new(&self.types),
        }
    }

    /// Bytes the arena holds (in use or kept for reuse).
    pub fn arena_bytes(&self) -> usize {
        self.arena.allocated_bytes()
    }

    /// The key columns' types.
    pub fn types(&self) -> &[SqlType] {
        &self.types
    }

    /// Number of key columns.
    pub fn width(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
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
        let cols = key_cols(keys, &self.types);
        if self.packed.is_some() {
            if self.intern_packed(&cols, num_rows, None, out) {
                return;
            }
            self.unpack();
        }
        let mut hashes = std::mem::take(&mut self.row_hashes);
        hash_columns(&cols, num_rows, TABLE_SEED, &mut hashes);
        for (i, &h) in hashes.iter().enumerate() {
            let keys = &self.keys;
            let found = self
                .map
                .find(h, |&g| row_matches(&cols, i, keys[g as usize].bytes()));
            let id = match found {
                Some(&g) => g,
                None => self.insert(&cols, i, h),
            };
            out.push(id);
        }
        self.row_hashes = hashes;
    }

    /// [`Self::intern`] on packed keys (rows `sel` when given); `false`
    /// (nothing done) when a key of the batch does not pack.
    fn intern_packed(
        &mut self,
        cols: &[KeyCol<'_>],
        n: usize,
        sel: Option<&[u32]>,
        out: &mut Vec<u32>,
    ) -> bool {
        let keys = self.packed.as_mut().expect("packed mode");
        keys.intern(cols, n, sel, &mut self.hashes, out)
    }

    /// [`Self::intern`] for rows `rows` of `keys` only, as if they were
    /// taken out first (packed keys are read in place).
    pub fn intern_rows(&mut self, keys: &[ArrayRef], rows: &[u32], out: &mut Vec<u32>) {
        if !keys.is_empty() && self.packed.is_some() {
            out.clear();
            out.reserve(rows.len());
            let cols = key_cols(keys, &self.types);
            if self.intern_packed(&cols, rows.len(), Some(rows), out) {
                return;
            }
        }
        let idx = arrow_array::UInt32Array::from(rows.to_vec());
        let taken: Vec<ArrayRef> = keys
            .iter()
            .map(|k| arrow_select::take::take(k, &idx, None).expect("take"))
            .collect();
        self.intern(&taken, rows.len(), out);
    }

    /// Adds row `i` of `cols` as a new group with hash `h`.
    fn insert(&mut self, cols: &[KeyCol<'_>], i: usize, h: u64) -> u32 {
        let g = self.hashes.len() as u32;
        self.encode(cols, i);
        self.hashes.push(h);
        let group_hashes = &self.hashes;
        self.map.insert_unique(h, g, |&x| group_hashes[x as usize]);
        g
    }

    /// Stores row `i`'s encoded key as the next group's.
    fn encode(&mut self, cols: &[KeyCol<'_>], i: usize) {
        self.key_buf.clear();
        let width: usize = cols.iter().map(|c| c.width(i)).sum();
        self.key_buf.resize(width, 0);
        let mut at = 0;
        for c in cols {
            at = c.write(i, &mut self.key_buf, at);
        }
        let stored: &[u8] = self.arena.alloc_slice_copy(&self.key_buf);
        self.keys.push(KeyRef::new(stored));
    }

    /// Leaves packed mode for good (until [`Self::clear`]): every group is
    /// hashed again from its columns, as unpacked rows are.
    fn unpack(&mut self) {
        let all: Vec<u32> = (0..self.len() as u32).collect();
        let arrays = self.key_columns(&all);
        self.packed = None;
        let cols = key_cols(&arrays, &self.types);
        for i in 0..all.len() {
            self.encode(&cols, i);
        }
        hash_columns(&cols, all.len(), TABLE_SEED, &mut self.hashes);
        self.map.clear();
        for g in all {
            let hashes = &self.hashes;
            self.map
                .insert_unique(hashes[g as usize], g, |&x| hashes[x as usize]);
        }
    }

    /// The key columns of groups `groups`, in that order.
    pub fn key_columns(&self, groups: &[u32]) -> Vec<ArrayRef> {
        self.key_columns_in(groups, &mut Pool::default())
    }

    /// [`Self::key_columns`], in vectors from `pool` where it can.
    pub fn key_columns_in(&self, groups: &[u32], pool: &mut Pool) -> Vec<ArrayRef> {
        if let Some(cols) = self
            .packed
            .as_ref()
            .and_then(|p| p.key_columns(groups, &self.types, pool))
        {
            return cols;
        }
        let mut builders: Vec<ColumnBuilder> = self
            .types
            .iter()
            .map(|t| ColumnBuilder::new(*t, groups.len()))
            .collect();
        if let Some(p) = &self.packed {
            p.append_keys(groups, &mut builders);
        } else {
            for &g in groups {
                let mut key = self.keys[g as usize].bytes();
                for b in builders.iter_mut() {
                    key = decode_into(key, b);
                }
            }
        }
        builders.into_iter().map(ColumnBuilder::finish).collect()
    }

    /// Every group's routing hash, in id order: [`hash_keys`] of its key
    /// (read from the packed words when keys are packed).
    pub fn route_hashes(&self, out: &mut Vec<u64>) {
        self.route_hashes_from(0, out);
    }

    /// [`Self::route_hashes`] of the groups from id `from` on.
    ///
    /// # Panics
    /// When `from` is past the last group.
    pub fn route_hashes_from(&self, from: usize, out: &mut Vec<u64>) {
        assert!(from <= self.len(), "groups from an id up to their number");
        match &self.packed {
            // A global aggregate's one group has no key words.
            _ if self.types.is_empty() => {
                out.clear();
                out.resize(self.len() - from, ROUTE_SEED);
            }
            Some(p) => p.route_hashes(from, &self.types, ROUTE_SEED, out),
            None => {
                let ids: Vec<u32> = (from as u32..self.len() as u32).collect();
                let cols = self.key_columns(&ids);
                hash_keys(&cols, &self.types, ids.len(), out);
            }
        }
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

/// Each of `keys` typed once, as a key column of its type in `types`.
fn key_cols<'a>(keys: &'a [ArrayRef], types: &[SqlType]) -> Vec<KeyCol<'a>> {
    keys.iter()
        .zip(types)
        .map(|(a, t)| KeyCol::of(a, *t))
        .collect()
}

/// A hash of each row's key that every core computes alike (for routing rows
/// to the core that owns their key). Seeded apart from the group tables' own
/// hash, so routing does not thin out the bits those tables use.
pub fn hash_keys(keys: &[ArrayRef], types: &[SqlType], num_rows: usize, out: &mut Vec<u64>) {
    let cols = key_cols(keys, types);
    hash_columns(&cols, num_rows, ROUTE_SEED, out);
}

/// The rows of a batch split two ways by their key's routing hash (the one
/// [`hash_keys`] gives): row `i` listed in `b` when `second(hash)`, else in
/// `a`, each list ascending (emptied first). Keys of one or two NULL-free
/// BIGINT, TIMESTAMP or VARCHAR columns (the common keys: a symbol; a
/// trader and a symbol) are hashed and split in one pass, no hash stored
/// per row; others are hashed into `scratch` first.
pub fn split_keys(
    keys: &[ArrayRef],
    types: &[SqlType],
    num_rows: usize,
    scratch: &mut Vec<u64>,
    second: impl Fn(u64) -> bool,
    a: &mut Vec<u32>,
    b: &mut Vec<u32>,
) {
    let cols = key_cols(keys, types);
    let no_nulls = |n: Option<&NullBuffer>| n.is_none_or(|b| b.null_count() == 0);
    let parts: Option<Vec<Part<'_>>> = cols
        .iter()
        .map(|c| match *c {
            KeyCol::I64(v, nulls) if no_nulls(nulls) => Some(Part::Int(v)),
            KeyCol::Str {
                offsets,
                data,
                nulls,
            } if no_nulls(nulls) => Some(Part::Str(offsets, data)),
            _ => None,
        })
        .collect();
    let n = num_rows;
    match parts.as_deref() {
        Some(&[Part::Int(x)]) => split_parts(Ints(x), Nothing, n, second, a, b),
        Some(&[Part::Str(o, d)]) => split_parts(Strs(o, d), Nothing, n, second, a, b),
        Some(&[Part::Int(x), Part::Int(y)]) => split_parts(Ints(x), Ints(y), n, second, a, b),
        Some(&[Part::Int(x), Part::Str(o, d)]) => split_parts(Ints(x), Strs(o, d), n, second, a, b),
        Some(&[Part::Str(o, d), Part::Int(y)]) => split_parts(Strs(o, d), Ints(y), n, second, a, b),
        Some(&[Part::Str(o, d), Part::Str(p, e)]) => {
            split_parts(Strs(o, d), Strs(p, e), n, second, a, b)
        }
        _ => {
            hash_columns(&cols, n, ROUTE_SEED, scratch);
            crate::gather::split_rows(scratch.iter().map(|&h| second(h)), a, b);
        }
    }
}

/// A NULL-free key column [`split_keys`] hashes in its one pass.
#[derive(Clone, Copy)]
enum Part<'a> {
    Int(&'a [i64]),
    Str(&'a [i32], &'a [u8]),
}

/// One key column's part of a row's routing hash, mixed in as
/// [`hash_columns`] mixes it.
trait Mix {
    /// Whether the column has a value for each of `n` rows.
    fn covers(&self, n: usize) -> bool;
    /// `h` with row `i`'s value mixed in.
    ///
    /// # Safety
    /// `i` must be below an `n` the column [`Mix::covers`].
    unsafe fn mix(&self, h: u64, i: usize) -> u64;
}

/// No column (a key of one column has no second).
struct Nothing;
/// A BIGINT or TIMESTAMP column's values.
struct Ints<'a>(&'a [i64]);
/// A VARCHAR column's offsets and text.
struct Strs<'a>(&'a [i32], &'a [u8]);

impl Mix for Nothing {
    fn covers(&self, _: usize) -> bool {
        true
    }
    #[inline(always)]
    unsafe fn mix(&self, h: u64, _: usize) -> u64 {
        h
    }
}

impl Mix for Ints<'_> {
    fn covers(&self, n: usize) -> bool {
        self.0.len() >= n
    }
    #[inline(always)]
    unsafe fn mix(&self, h: u64, i: usize) -> u64 {
        // SAFETY: `i < n <= len` (the caller's promise).
        mix(h, unsafe { *self.0.get_unchecked(i) } as u64)
    }
}

impl Mix for Strs<'_> {
    fn covers(&self, n: usize) -> bool {
        self.0.len() > n
    }
    #[inline(always)]
    unsafe fn mix(&self, h: u64, i: usize) -> u64 {
        // SAFETY: `i < n` and there are more than `n` offsets (the
        // caller's promise); `mix_str` checks the text's bounds itself.
        let (lo, hi) = unsafe { (*self.0.get_unchecked(i), *self.0.get_unchecked(i + 1)) };
        mix_str(h, self.1, lo, hi)
    }
}

/// [`split_keys`]' one pass for a key of columns `p` then `q`: each row's
/// hash mixed from its values, then its row number written to both lists,
/// only its own list's length advancing (no branch on the owner).
fn split_parts(
    p: impl Mix,
    q: impl Mix,
    n: usize,
    second: impl Fn(u64) -> bool,
    a: &mut Vec<u32>,
    b: &mut Vec<u32>,
) {
    assert!(n <= u32::MAX as usize, "rows numbered in 32 bits");
    assert!(p.covers(n) && q.covers(n), "a value of each column per row");
    for l in [&mut *a, &mut *b] {
        l.clear();
        l.reserve(n);
    }
    let (sa, sb) = (a.spare_capacity_mut(), b.spare_capacity_mut());
    let (mut na, mut nb) = (0usize, 0usize);
    for i in 0..n {
        // SAFETY: `i < n`, which both columns cover (asserted above).
        let h = unsafe { q.mix(p.mix(ROUTE_SEED, i), i) };
        let to_b = second(h);
        // SAFETY: `na + nb == i < n`, and both lists have room for `n`.
        unsafe {
            sa.get_unchecked_mut(na).write(i as u32);
            sb.get_unchecked_mut(nb).write(i as u32);
        }
        na += !to_b as usize;
        nb += to_b as usize;
    }
    // SAFETY: a length advanced (by one) only past a slot just written, and
    // the first `na` (`nb`) slots of each list's room were written.
    unsafe {
        a.set_len(na);
        b.set_len(nb);
    }
}

/// Multiplies to 128 bits and folds the halves: the mixing step of
/// foldhash and wyhash.
#[inline(always)]
pub(super) const fn fold(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

pub(super) const K1: u64 = 0x243f_6a88_85a3_08d3;
pub(super) const K2: u64 = 0x1319_8a2e_0370_7344;
/// What a NULL contributes to a hash (its equality is settled by comparing).
pub(super) const NULL_WORD: u64 = 0x9e37_79b9_7f4a_7c15;

/// Every row's hash of `cols` into `out`, one column at a time: a tight
/// loop per column over the batch, no per-row encoding. A row hashes alike
/// whether or not its column has a null buffer.
fn hash_columns(cols: &[KeyCol<'_>], n: usize, seed: u64, out: &mut Vec<u64>) {
    out.clear();
    out.resize(n, seed);
    let no_nulls = |n: &Option<&NullBuffer>| n.is_none_or(|b| b.null_count() == 0);
    for c in cols {
        match c {
            KeyCol::I64(v, nulls) if no_nulls(nulls) => super::route_simd::mix_ints(out, v),
            KeyCol::I128(v, None) => {
                for (h, x) in out.iter_mut().zip(&v[..n]) {
                    *h = mix_i128(*h, *x);
                }
            }
            KeyCol::Str {
                offsets,
                data,
                nulls,
            } if no_nulls(nulls) => super::route_simd::mix_strs(out, offsets, data),
            // Nullable or rarer key types: row by row.
            c => {
                for (i, h) in out.iter_mut().enumerate() {
                    *h = c.mix_row(*h, i);
                }
            }
        }
    }
}

#[inline(always)]
pub(super) fn mix(h: u64, word: u64) -> u64 {
    fold(h ^ word, K1)
}

#[inline(always)]
pub(super) fn mix_i128(h: u64, x: i128) -> u64 {
    fold(h ^ x as u64, K1 ^ (x >> 64) as u64)
}

/// A double as a key: -0.0 and 0.0 are one group; all NaNs are one group.
#[inline(always)]
pub(super) fn key_f64(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if x.is_nan() {
        f64::NAN
    } else {
        x
    }
}

/// `h` with the string `data[lo..hi]` (offsets of a string column) mixed
/// in: a string of up to 8 bytes is one word (read as [`short_str`] packs
/// it) folded into `h` at once, its length in the multiplier ([`mix_short`]);
/// a longer one is hashed by [`hash_long`], then mixed.
#[inline(always)]
pub(super) fn mix_str(h: u64, data: &[u8], lo: i32, hi: i32) -> u64 {
    match short_str(data, lo, hi) {
        Some((word, len)) => mix_short(h, word, len),
        None => mix(h, hash_long(&data[lo as usize..hi as usize])),
    }
}

/// `h` with a string of up to 8 bytes (`word`, `len`) mixed in: one folded
/// multiply (where a hash of the string, then [`mix`], took two).
#[inline(always)]
pub(super) fn mix_short(h: u64, word: u64, len: u64) -> u64 {
    fold(h ^ word, K1 ^ K2 ^ len)
}

/// The hash of a string longer than 8 bytes: its first and last 8 bytes up
/// to 16, foldhash beyond.
fn hash_long(b: &[u8]) -> u64 {
    let n = b.len();
    if n > 16 {
        use std::hash::BuildHasher;
        return foldhash::quality::FixedState::with_seed(K2).hash_one(b);
    }
    let w = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    fold(w(0) ^ K2 ^ n as u64, w(n - 8) ^ K1)
}

/// Whether row `i` of `cols` has the encoded key `stored`.
#[inline(always)]
fn row_matches(cols: &[KeyCol<'_>], i: usize, stored: &[u8]) -> bool {
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
pub(super) enum KeyCol<'a> {
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

    pub(super) fn valid(&self, i: usize) -> bool {
        match self {
            KeyCol::I64(_, n) | KeyCol::F64(_, n) | KeyCol::I128(_, n) => {
                n.is_none_or(|n| n.is_valid(i))
            }
            KeyCol::Bool(b) => b.is_valid(i),
            KeyCol::Str { nulls, .. } => nulls.is_none_or(|n| n.is_valid(i)),
        }
    }

    /// `h` mixed with row `i`'s value (what [`hash_columns`] does).
    #[inline(always)]
    fn mix_row(&self, h: u64, i: usize) -> u64 {
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
    fn width(&self, i: usize) -> usize {
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
    fn matches(&self, i: usize, stored: &[u8], at: usize) -> Option<usize> {
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
fn decode_into<'k>(key: &'k [u8], b: &mut ColumnBuilder) -> &'k [u8] {
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

    use proptest::prelude::*;

    /// A reference key: the BIGINT, the VARCHAR, the DOUBLE's bits as a key.
    type Key = (Option<i64>, Option<String>, Option<u64>);

    /// One key cell: NULL or a value; strings of every length class (up to
    /// 8 bytes unless `long`: keys that stay packed), ASCII or not.
    fn cell(long: bool) -> impl Strategy<Value = (Option<i64>, Option<String>, Option<f64>)> {
        (
            proptest::option::of(-3i64..3),
            proptest::option::of(prop_oneof![
                Just(String::new()),
                // Up to 6 bytes: packed, not ASCII.
                "[aé]{1,3}",
                "[ab]{4,8}",
                if long { "[ab]{9,16}" } else { "[ab]{5,8}" },
                if long { "[ab]{17,40}" } else { "[ab]{0,8}" },
            ]),
            proptest::option::of(prop_oneof![
                Just(0.0),
                Just(-0.0),
                Just(f64::NAN),
                Just(-f64::NAN),
                Just(1.5)
            ]),
        )
    }

    proptest! {
        /// Each row is listed once, ascending, on the side its routing hash
        /// (`hash_keys`') picks: keys of one or two BIGINT and VARCHAR
        /// columns in every order (split in one pass; strings short, long,
        /// of up to 16 bytes at the text's end, empty, with and without a
        /// null buffer holding no NULL), and keys with NULLs, of three
        /// columns or of a DOUBLE (hashed first).
        #[test]
        fn split_keys_lists_rows_by_their_routing_hash(
            rows in proptest::collection::vec(
                (proptest::option::weighted(0.9, "[a-z]{0,12}"), "[a-z]{0,9}", any::<i64>()),
                0..80,
            ),
            shape in 0..9,
            bit in 0..64u32,
        ) {
            let n = rows.len();
            let firsts: Vec<Option<String>> = rows.iter().map(|r| r.0.clone()).collect();
            let seconds: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
            let nums: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2)));
            let doubles: ArrayRef = Arc::new(arrow_array::Float64Array::from_iter_values(
                rows.iter().map(|r| r.2 as f64),
            ));
            let strings = StringArray::from(seconds.clone());
            // The same strings with a null buffer that holds no NULL.
            let second_nb: ArrayRef = Arc::new(StringArray::new(
                strings.offsets().clone(),
                strings.values().clone(),
                Some(NullBuffer::new_valid(n)),
            ));
            prop_assert!(second_nb.nulls().is_some());
            let second: ArrayRef = Arc::new(strings);
            let first: ArrayRef = Arc::new(StringArray::from(firsts));
            let (keys, types): (Vec<ArrayRef>, Vec<SqlType>) = match shape {
                0 => (vec![second], vec![SqlType::Varchar]),
                1 => (vec![second_nb, second], vec![SqlType::Varchar, SqlType::Varchar]),
                2 => (vec![first, second], vec![SqlType::Varchar, SqlType::Varchar]),
                3 => (vec![second, nums], vec![SqlType::Varchar, SqlType::BigInt]),
                4 => (vec![nums.clone(), second], vec![SqlType::BigInt, SqlType::Varchar]),
                5 => (vec![nums.clone(), nums], vec![SqlType::BigInt, SqlType::BigInt]),
                6 => (vec![nums], vec![SqlType::BigInt]),
                // Three columns, and a DOUBLE: hashed first.
                7 => (
                    vec![second_nb, nums, second],
                    vec![SqlType::Varchar, SqlType::BigInt, SqlType::Varchar],
                ),
                _ => (vec![doubles], vec![SqlType::Double]),
            };
            let pick = |h: u64| (h >> bit) & 1 == 1;
            let mut hashes = Vec::new();
            hash_keys(&keys, &types, n, &mut hashes);
            let want_b: Vec<u32> = (0..n as u32).filter(|&i| pick(hashes[i as usize])).collect();
            let want_a: Vec<u32> = (0..n as u32).filter(|&i| !pick(hashes[i as usize])).collect();
            let (mut a, mut b) = (vec![7u32], vec![9u32]);
            split_keys(&keys, &types, n, &mut Vec::new(), pick, &mut a, &mut b);
            prop_assert_eq!(a, want_a);
            prop_assert_eq!(b, want_b);
        }
    }

    proptest! {
        /// Ids agree with a map from each row's key (NULL equal to NULL,
        /// -0.0 equal to 0.0, NaNs equal) to its first row, over batches
        /// with and without null buffers, packed or not, and across the
        /// switch from packed keys to encoded ones.
        #[test]
        fn ids_match_a_map_of_keys(batches in proptest::collection::vec(
            (any::<bool>(), 0..60usize), 1..5).prop_flat_map(|shapes| {
                shapes.into_iter().map(|(long, n)| proptest::collection::vec(cell(long), n)).collect::<Vec<_>>()
            }), used in prop_oneof![Just([true, false, false]), Just([false, true, false]),
                Just([true, true, false]), Just([true, true, true])]) {
            // Which of (BIGINT, VARCHAR, DOUBLE) form the key: one, two or
            // three words when packed (widths 2, 3 and 5).
            let types: Vec<SqlType> = [SqlType::BigInt, SqlType::Varchar, SqlType::Double]
                .into_iter()
                .zip(used)
                .filter_map(|(t, u)| u.then_some(t))
                .collect();
            let mut t = GroupTable::new(types);
            let mut reference: std::collections::HashMap<Key, u32> = Default::default();
            let mut first_seen: Vec<Key> = Vec::new();
            let norm = |x: Option<f64>| x.map(|x| key_f64(x).to_bits());
            let mut ids = Vec::new();
            for rows in batches {
                let a: ArrayRef = Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
                let b: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>()));
                let c: ArrayRef = Arc::new(arrow_array::Float64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()));
                let keys: Vec<ArrayRef> = [a, b, c].into_iter().zip(used).filter_map(|(k, u)| u.then_some(k)).collect();
                t.intern(&keys, rows.len(), &mut ids);
                for (row, id) in rows.iter().zip(&ids) {
                    let next = reference.len() as u32;
                    let key = (
                        row.0.filter(|_| used[0]),
                        row.1.clone().filter(|_| used[1]),
                        norm(row.2).filter(|_| used[2]),
                    );
                    let want = *reference.entry(key.clone()).or_insert_with(|| {
                        first_seen.push(key);
                        next
                    });
                    prop_assert_eq!(*id, want);
                }
            }
            prop_assert_eq!(t.len(), reference.len());
            // Every group's key comes back, in id order.
            let all: Vec<u32> = (0..t.len() as u32).collect();
            let mut cols = t.key_columns(&all).into_iter();
            let mut next_col = |u: bool| u.then(|| cols.next().expect("a key column"));
            let (a, b, c) = (next_col(used[0]), next_col(used[1]), next_col(used[2]));
            let back: Vec<Key> = (0..all.len())
                .map(|i| {
                    let a = a.as_ref().map(|a| a.as_primitive::<Int64Type>());
                    let b = b.as_ref().map(|b| b.as_string::<i32>());
                    let c = c.as_ref().map(|c| c.as_primitive::<Float64Type>());
                    (
                        a.filter(|a| a.is_valid(i)).map(|a| a.value(i)),
                        b.filter(|b| b.is_valid(i)).map(|b| b.value(i).to_string()),
                        c.filter(|c| c.is_valid(i)).map(|c| key_f64(c.value(i)).to_bits()),
                    )
                })
                .collect();
            prop_assert_eq!(back, first_seen);
            // Each group's routing hash is its key columns' (read from the
            // packed words when packed).
            let (mut route, mut want) = (Vec::new(), Vec::new());
            t.route_hashes(&mut route);
            hash_keys(&t.key_columns(&all), t.types(), all.len(), &mut want);
            prop_assert_eq!(route, want);
            // Routing hashes: equal keys, equal hashes, null buffer or not.
            let with_nulls: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None]));
            let without: ArrayRef = Arc::new(Int64Array::from(vec![7]));
            let (mut h1, mut h2) = (Vec::new(), Vec::new());
            hash_keys(&[with_nulls], &[SqlType::BigInt], 2, &mut h1);
            hash_keys(&[without], &[SqlType::BigInt], 1, &mut h2);
            prop_assert_eq!(h1[0], h2[0]);
            prop_assert_ne!(h1[0], h1[1]);
        }

        /// Interning rows picked out of a batch in place gives the ids and
        /// keys that interning them taken out gives, packed or not (a string
        /// over 8 bytes), over two rounds of picks.
        #[test]
        fn picked_rows_intern_as_taken_rows(
            (cells, picks) in any::<bool>().prop_flat_map(|long| (
                proptest::collection::vec(cell(long), 1..60),
                proptest::collection::vec(
                    proptest::collection::vec(any::<proptest::sample::Index>(), 0..40),
                    2,
                ),
            )),
        ) {
            let a: ArrayRef = Arc::new(Int64Array::from(cells.iter().map(|r| r.0).collect::<Vec<_>>()));
            let b: ArrayRef = Arc::new(StringArray::from(cells.iter().map(|r| r.1.clone()).collect::<Vec<_>>()));
            let keys = [a, b];
            let types = vec![SqlType::BigInt, SqlType::Varchar];
            let (mut picked, mut taken) = (GroupTable::new(types.clone()), GroupTable::new(types));
            let (mut ids, mut want) = (Vec::new(), Vec::new());
            for round in &picks {
                let sel: Vec<u32> = round.iter().map(|p| p.index(cells.len()) as u32).collect();
                picked.intern_rows(&keys, &sel, &mut ids);
                let idx = arrow_array::UInt32Array::from(sel.clone());
                let out: Vec<ArrayRef> = keys
                    .iter()
                    .map(|k| arrow_select::take::take(k, &idx, None).unwrap())
                    .collect();
                taken.intern(&out, sel.len(), &mut want);
                prop_assert_eq!(&ids, &want);
            }
            let all: Vec<u32> = (0..taken.len() as u32).collect();
            prop_assert_eq!(picked.key_columns(&all), taken.key_columns(&all));
        }

        /// Routing hashes of DECIMAL, BOOLEAN and TIMESTAMP keys (packed
        /// into five words) are their key columns' hashes, NULLs included.
        #[test]
        fn packed_route_hashes_are_the_columns_hashes(
            rows in prop::collection::vec((
                proptest::option::of(prop_oneof![-3i128..3, Just(i128::MIN), Just(i128::MAX)]),
                proptest::option::of(any::<bool>()),
                proptest::option::of(-2i64..2),
            ), 1..40),
        ) {
            let types = vec![SqlType::Decimal { precision: 38, scale: 2 }, SqlType::Boolean, SqlType::Timestamp];
            let d: ArrayRef = Arc::new(
                arrow_array::Decimal128Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                    .with_precision_and_scale(38, 2)
                    .unwrap(),
            );
            let b: ArrayRef = Arc::new(arrow_array::BooleanArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()));
            let ts: ArrayRef = Arc::new(arrow_array::TimestampMillisecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()));
            let mut t = GroupTable::new(types.clone());
            let mut ids = Vec::new();
            t.intern(&[d, b, ts], rows.len(), &mut ids);
            let all: Vec<u32> = (0..t.len() as u32).collect();
            let (mut route, mut want) = (Vec::new(), Vec::new());
            t.route_hashes(&mut route);
            hash_keys(&t.key_columns(&all), &types, all.len(), &mut want);
            prop_assert_eq!(route, want);
        }

        /// Routing hashes of strings: equal strings hash alike wherever
        /// they sit in their column (one 8-byte read, or byte by byte at the
        /// end of its text), null buffer or not; different ones differ.
        #[test]
        fn equal_strings_route_alike(strs in prop::collection::vec("[a-zé]{0,20}", 1..20)) {
            let n = strs.len();
            let plain: ArrayRef = Arc::new(StringArray::from(strs.clone()));
            let rev: Vec<String> = strs.iter().rev().cloned().collect();
            let reversed: ArrayRef = Arc::new(StringArray::from(rev));
            let with_null: Vec<Option<&str>> =
                strs.iter().map(|s| Some(s.as_str())).chain([None]).collect();
            let nullable: ArrayRef = Arc::new(StringArray::from(with_null));
            let hash = |a: ArrayRef, rows: usize| {
                let mut h = Vec::new();
                hash_keys(&[a], &[SqlType::Varchar], rows, &mut h);
                h
            };
            let (p, r, q) = (hash(plain, n), hash(reversed, n), hash(nullable, n + 1));
            for i in 0..n {
                prop_assert_eq!(p[i], r[n - 1 - i]);
                prop_assert_eq!(p[i], q[i]);
                for j in 0..n {
                    prop_assert_eq!(p[i] == p[j], strs[i] == strs[j]);
                }
            }
        }
    }
}
