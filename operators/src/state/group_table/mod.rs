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
//! heap object per group. Keys can leave a table as their packed words
//! ([`GroupTable::key_words`]) and enter another table of the same types
//! as they are ([`GroupTable::intern_words`]): the ids are those the key
//! columns would get.

//!
//! Layout: this module holds the table; [`key_col`] reads, compares and
//! encodes one key column of a batch; [`route`] hashes keys for routing rows
//! between cores (and the tables' own hash, column by column), from the
//! steps in [`hash`].

mod hash;
mod key_col;
mod route;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, FixedSizeBinaryArray};
use arrow_schema::DataType;
use bumpalo::Bump;
use hashbrown::HashTable;

use super::packed::{words_to_columns, PackedKeys};
use crate::column::ColumnBuilder;
use crate::gather::Pool;
use crate::types::SqlType;

pub(super) use hash::{fold, key_f64, mix, mix_i128, mix_short, mix_str, K1, K2, NULL_WORD};
pub(super) use key_col::KeyCol;
use key_col::{decode_into, row_matches};
use route::hash_columns;
pub use route::{hash_keys, split_keys};

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

    /// The keys of `groups` as one column of their packed words (a
    /// fixed-size binary value per key), for [`Self::intern_words`] of a
    /// table of the same types — no column decoded here nor packed again
    /// there; `None` when this table's keys are not packed (or there are
    /// no key columns).
    pub fn key_words(&self, groups: &[u32]) -> Option<ArrayRef> {
        let p = self.packed.as_ref().filter(|_| !self.types.is_empty())?;
        Some(Arc::new(p.key_words(groups)))
    }

    /// Whether `col` is a column of packed key words ([`Self::key_words`])
    /// rather than a key column (no key column is of a binary type).
    pub fn is_key_words(col: &ArrayRef) -> bool {
        matches!(col.data_type(), DataType::FixedSizeBinary(_))
    }

    /// The key columns (of `types`) of keys given as their packed words
    /// (a [`Self::key_words`] column of a table of those types).
    ///
    /// # Panics
    /// When `words` is not such a column.
    pub fn decode_key_words(words: &ArrayRef, types: &[SqlType]) -> Vec<ArrayRef> {
        let words = as_key_words(words);
        words_to_columns(words, types)
    }

    /// [`Self::intern`] for keys given as their packed words (a
    /// [`Self::key_words`] column of a table of the same types): looked up
    /// as they are while this table's keys pack, else decoded into key
    /// columns first.
    ///
    /// # Panics
    /// When `words` is not such a column.
    pub fn intern_words(&mut self, words: &ArrayRef, out: &mut Vec<u32>) {
        let words = as_key_words(words);
        out.clear();
        out.reserve(words.len());
        if let Some(p) = &mut self.packed {
            if p.intern_words(words, &mut self.hashes, out) {
                return;
            }
        }
        let cols = words_to_columns(words, &self.types);
        self.intern(&cols, words.len(), out);
        debug_assert_eq!(out.len(), words.len(), "an id per key");
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

/// A column of packed key words ([`GroupTable::key_words`]).
///
/// # Panics
/// When `col` is not one.
fn as_key_words(col: &ArrayRef) -> &FixedSizeBinaryArray {
    col.as_any()
        .downcast_ref::<FixedSizeBinaryArray>()
        .expect("a column of key words")
}

/// Each of `keys` typed once, as a key column of its type in `types`.
fn key_cols<'a>(keys: &'a [ArrayRef], types: &[SqlType]) -> Vec<KeyCol<'a>> {
    keys.iter()
        .zip(types)
        .map(|(a, t)| KeyCol::of(a, *t))
        .collect()
}
