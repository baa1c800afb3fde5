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

use std::mem::MaybeUninit;

use arrow_array::{Array, ArrayRef, FixedSizeBinaryArray};
use arrow_buffer::Buffer;
use hashbrown::HashTable;

use super::group_table::{fold, key_f64, KeyCol, K1, K2};
use crate::column::ColumnBuilder;
use crate::cpu::by_cpu;
use crate::gather::Pool;
use crate::state::assert_ids_below;
use crate::types::SqlType;

mod decode;
mod pair;
use decode::{append_keys, direct_columns, route_hashes};
use pair::pack_pair;

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
    // The common two-column key, a NULL-free BIGINT and a NULL-free
    // VARCHAR in either order (trader and symbol), every row: each row's
    // three words written at once, where the general passes below set
    // every row to a blank, then read and rewrite it once per column.
    let pair = match cols {
        [KeyCol::I64(v, None), KeyCol::Str {
            offsets,
            data,
            nulls: None,
        }] => Some((v, offsets, data, 1)),
        [KeyCol::Str {
            offsets,
            data,
            nulls: None,
        }, KeyCol::I64(v, None)] => Some((v, offsets, data, 0)),
        _ => None,
    };
    if let (3, None, Some((v, offsets, data, si))) = (W, sel, pair) {
        return match si {
            1 => pack_pair::<W, 1>(v, offsets, data, n, rows),
            _ => pack_pair::<W, 0>(v, offsets, data, n, rows),
        };
    }
    // A NULL-free BIGINT's tag bits (valid, no length) are the same on
    // every row: set with the rows, not or-ed in a row at a time.
    let fixed = cols
        .iter()
        .enumerate()
        .filter(|(_, col)| matches!(col, KeyCol::I64(_, None)))
        .fold(0, |tag, (c, _)| tag | 1 << (c * TAG_BITS));
    let mut blank = [0; W];
    blank[tag_at] = fixed;
    rows.clear();
    rows.resize(n, blank);
    let mut w = 0;
    for (c, col) in cols.iter().enumerate() {
        let shift = c * TAG_BITS;
        match (col, sel) {
            (KeyCol::I64(v, None), Some(sel)) => {
                for (r, &i) in rows.iter_mut().zip(sel) {
                    r[w] = v[i as usize] as u64;
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
        let packed = pack(cols, n, sel, &mut rows);
        if packed {
            self.find_into(&rows, hashes, out);
        }
        self.rows = rows;
        packed
    }

    /// Appends the group id of each of `rows` to `out` ([`Self::find_all`]).
    fn find_into(&mut self, rows: &[[u64; W]], hashes: &mut Vec<u64>, out: &mut Vec<u32>) {
        // Ids written into `out`'s room and its length set once after: a
        // push a row kept `out`'s length in memory, stored and reloaded
        // around each row (`extend` did little better).
        let start = out.len();
        out.reserve(rows.len());
        let room = &mut out.spare_capacity_mut()[..rows.len()];
        self.find_all(rows, hashes, room);
        // SAFETY: `find_all` wrote each of the `rows.len()` slots after
        // `start` (room reserved for them above).
        unsafe { out.set_len(start + rows.len()) };
    }

    /// The words of `groups`' keys, one key's `W` after another's.
    fn words_of(&self, groups: &[u32]) -> Vec<u64> {
        assert_ids_below(groups, self.keys.len());
        let mut words = Vec::with_capacity(groups.len() * W);
        for &g in groups {
            words.extend_from_slice(&self.keys[g as usize]);
        }
        words
    }

    /// [`Self::intern`] for keys given as their words (`W` a key, native
    /// byte order, as [`Self::words_of`] lays them out).
    fn intern_words(&mut self, words: &[u8], hashes: &mut Vec<u64>, out: &mut Vec<u32>) {
        let mut rows = std::mem::take(&mut self.rows);
        rows.clear();
        rows.extend(words.chunks_exact(W * 8).map(key_of::<W>));
        self.find_into(&rows, hashes, out);
        self.rows = rows;
    }

    /// Writes the group id of each of `rows` into the same slot of `room`,
    /// adding the keys not there yet (their hashes pushed to `hashes`):
    /// compiled for AVX2 and BMI where the CPU has them (a run-time check),
    /// where hashbrown's probe broadcasts a tag in one instruction (four
    /// with SSE2) and the hash multiplies without register shuffles.
    fn find_all(
        &mut self,
        rows: &[[u64; W]],
        hashes: &mut Vec<u64>,
        room: &mut [MaybeUninit<u32>],
    ) {
        by_cpu!(
            ["avx2", "bmi1", "bmi2"] => self.find_all_avx2(rows, hashes, room);
            self.find_all_any(rows, hashes, room)
        )
    }

    /// [`Self::find_all_any`] compiled for AVX2 and BMI.
    ///
    /// # Safety
    /// The CPU must have AVX2, BMI1 and BMI2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2")]
    unsafe fn find_all_avx2(
        &mut self,
        rows: &[[u64; W]],
        hashes: &mut Vec<u64>,
        room: &mut [MaybeUninit<u32>],
    ) {
        self.find_all_any(rows, hashes, room)
    }

    /// [`Self::find_all`]'s loop.
    #[inline(always)]
    fn find_all_any(
        &mut self,
        rows: &[[u64; W]],
        hashes: &mut Vec<u64>,
        room: &mut [MaybeUninit<u32>],
    ) {
        for (row, slot) in rows.iter().zip(room) {
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
            slot.write(id);
        }
    }
}

/// A key's `W` words from their `W * 8` bytes (native byte order).
fn key_of<const W: usize>(bytes: &[u8]) -> [u64; W] {
    std::array::from_fn(|i| {
        u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
    })
}

/// Keys given as words ([`PackedKeys::key_words`]) decoded into key columns
/// of `types`, as a table of those types would give them.
///
/// # Panics
/// When the words are not as wide as keys of `types` pack.
pub(super) fn words_to_columns(words: &FixedSizeBinaryArray, types: &[SqlType]) -> Vec<ArrayRef> {
    fn decode<const W: usize>(bytes: &[u8], types: &[SqlType]) -> Vec<ArrayRef> {
        let keys: Vec<[u64; W]> = bytes.chunks_exact(W * 8).map(key_of::<W>).collect();
        let all: Vec<u32> = (0..keys.len() as u32).collect();
        let mut builders: Vec<ColumnBuilder> = types
            .iter()
            .map(|t| ColumnBuilder::new(*t, keys.len()))
            .collect();
        append_keys(&keys, &all, &mut builders);
        builders.into_iter().map(ColumnBuilder::finish).collect()
    }
    let bytes = words_bytes(words);
    match (width(types), words.value_length()) {
        (Some(2), 16) => decode::<2>(bytes, types),
        (Some(3), 24) => decode::<3>(bytes, types),
        (Some(5), 40) => decode::<5>(bytes, types),
        (w, l) => panic!("key words of {l} bytes for keys of width {w:?}"),
    }
}

/// The bytes of every value of a column of key words, in order.
fn words_bytes(words: &FixedSizeBinaryArray) -> &[u8] {
    let size = words.value_length() as usize;
    &words.value_data()[..words.len() * size]
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

    /// The keys of `groups` as one column of their words: a
    /// fixed-size binary value of `W * 8` bytes per key (see
    /// [`Self::intern_words`]).
    pub(super) fn key_words(&self, groups: &[u32]) -> FixedSizeBinaryArray {
        let (words, w) = match self {
            PackedKeys::W2(p) => (p.words_of(groups), 2),
            PackedKeys::W3(p) => (p.words_of(groups), 3),
            PackedKeys::W5(p) => (p.words_of(groups), 5),
        };
        FixedSizeBinaryArray::new(w * 8, Buffer::from_vec(words), None)
    }

    /// Appends the group id of each key given as its words (a
    /// [`Self::key_words`] column of keys of the same types) to `out`, as
    /// [`Self::intern`] does for the key columns; `false` (nothing done)
    /// when the words are not this table's width.
    pub(super) fn intern_words(
        &mut self,
        words: &FixedSizeBinaryArray,
        hashes: &mut Vec<u64>,
        out: &mut Vec<u32>,
    ) -> bool {
        let bytes = words_bytes(words);
        match (self, words.value_length()) {
            (PackedKeys::W2(p), 16) => p.intern_words(bytes, hashes, out),
            (PackedKeys::W3(p), 24) => p.intern_words(bytes, hashes, out),
            (PackedKeys::W5(p), 40) => p.intern_words(bytes, hashes, out),
            _ => return false,
        }
        true
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
