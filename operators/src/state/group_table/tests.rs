use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::Array;
use arrow_array::{Int64Array, StringArray};
use arrow_buffer::NullBuffer;
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

    /// Keys sent as their packed words ([`GroupTable::key_words`]) intern
    /// into another table as their key columns do: a table that still
    /// packs (looking the words up as they are) or one a long string
    /// unpacked (decoding them first), fresh or holding keys already, for
    /// keys of one, two and three columns (widths 2, 3 and 5), NULLs,
    /// NaNs and every string length up to 8 bytes; the words decode into
    /// the sender's key columns, of a slice of the column too.
    #[test]
    fn key_words_intern_as_their_key_columns(
        sent in proptest::collection::vec(cell(false), 1..60),
        held in proptest::collection::vec(cell(false), 0..30),
        picks in proptest::collection::vec(any::<proptest::sample::Index>(), 0..40),
        used in prop_oneof![Just([true, false, false]), Just([false, true, false]),
            Just([true, true, false]), Just([true, true, true])],
        unpacked in any::<bool>(),
    ) {
        let types: Vec<SqlType> = [SqlType::BigInt, SqlType::Varchar, SqlType::Double]
            .into_iter()
            .zip(used)
            .filter_map(|(t, u)| u.then_some(t))
            .collect();
        let columns = |rows: &[(Option<i64>, Option<String>, Option<f64>)]| -> Vec<ArrayRef> {
            let a: ArrayRef = Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
            let b: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>()));
            let c: ArrayRef = Arc::new(arrow_array::Float64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()));
            [a, b, c].into_iter().zip(used).filter_map(|(k, u)| u.then_some(k)).collect()
        };
        let mut ids = Vec::new();
        let mut sender = GroupTable::new(types.clone());
        sender.intern(&columns(&sent), sent.len(), &mut ids);
        let groups: Vec<u32> = picks.iter().map(|p| p.index(sender.len()) as u32).collect();
        let words = sender.key_words(&groups).expect("short keys pack");
        prop_assert!(GroupTable::is_key_words(&words));
        let decoded = GroupTable::decode_key_words(&words, &types);
        prop_assert_eq!(&decoded, &sender.key_columns(&groups));
        if groups.len() > 1 {
            let tail = GroupTable::decode_key_words(&words.slice(1, groups.len() - 1), &types);
            prop_assert_eq!(tail, sender.key_columns(&groups[1..]));
        }
        // Two receivers with the same past: one takes the words, the
        // other the key columns.
        let (mut by_words, mut by_columns) = (GroupTable::new(types.clone()), GroupTable::new(types.clone()));
        let mut past = held.clone();
        if unpacked && used[1] {
            past.push((None, Some("a string past 8 bytes".into()), None));
        }
        for t in [&mut by_words, &mut by_columns] {
            t.intern(&columns(&past), past.len(), &mut ids);
        }
        let mut want = Vec::new();
        by_words.intern_words(&words, &mut ids);
        by_columns.intern(&decoded, groups.len(), &mut want);
        prop_assert_eq!(&ids, &want);
        prop_assert_eq!(by_words.len(), by_columns.len());
        let all: Vec<u32> = (0..by_words.len() as u32).collect();
        prop_assert_eq!(by_words.key_columns(&all), by_columns.key_columns(&all));
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

/// Strings of 9 to 16 bytes whose last 8 bytes are alike and whose first
/// bytes differ exactly as their lengths do hash apart (the length once
/// cancelled the first byte: proptest found "iéééééé" and "oééééé"), and
/// route apart.
#[test]
fn a_first_byte_differing_as_the_length_does_still_hashes_apart() {
    let mut seen = std::collections::HashMap::new();
    for n in 9..=16usize {
        for first in 0x40u8..0x80 {
            let mut s = vec![first];
            s.extend(std::iter::repeat_n(b'z', n - 1));
            let h = super::hash::hash_long(&s);
            if let Some(other) = seen.insert(h, s.clone()) {
                panic!("{:?} and {:?} hash alike", other, s);
            }
        }
    }
    let strs = ["iéééééé", "oééééé"];
    let mut h = Vec::new();
    hash_keys(
        &[Arc::new(StringArray::from(strs.to_vec())) as ArrayRef],
        &[SqlType::Varchar],
        2,
        &mut h,
    );
    assert_ne!(h[0], h[1]);
}

proptest! {
    /// A NULL-free BIGINT and a NULL-free VARCHAR key, in either order
    /// (packed a row at a time, whole): each row's group is the one of
    /// its first equal key, numbered in order of first appearance (a
    /// plain map), the same ids as the rows picked out one by one (the
    /// general passes), and the key columns give the keys back; strings
    /// over 8 bytes (in half the cases) leave packed mode, the others run
    /// eight rows a step where the CPU has AVX-512.
    #[test]
    fn number_and_string_keys_group_by_first_appearance(
        rows in any::<bool>().prop_flat_map(|long| proptest::collection::vec(
            (
                prop_oneof![-3i64..3, Just(i64::MIN), Just(i64::MAX)],
                if long { "[ab]{0,3}|[aé]{1,4}|[ab]{8}|[ab]{9,12}" } else { "[ab]{0,3}|[aé]{1,4}|[ab]{7,8}" },
            ),
            1..120,
        )),
        flip in any::<bool>(),
    ) {
        let nums: ArrayRef = Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
        let strs: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>()));
        let (keys, types) = if flip {
            ([strs, nums], vec![SqlType::Varchar, SqlType::BigInt])
        } else {
            ([nums, strs], vec![SqlType::BigInt, SqlType::Varchar])
        };
        let mut first = std::collections::HashMap::new();
        let want: Vec<u32> = rows
            .iter()
            .map(|r| {
                let next = first.len() as u32;
                *first.entry(r.clone()).or_insert(next)
            })
            .collect();
        let n = rows.len();
        let mut whole = GroupTable::new(types.clone());
        let mut ids = Vec::new();
        whole.intern(&keys, n, &mut ids);
        prop_assert_eq!(&ids, &want);
        let mut picked = GroupTable::new(types);
        let mut each = Vec::new();
        let all_rows: Vec<u32> = (0..n as u32).collect();
        picked.intern_rows(&keys, &all_rows, &mut each);
        prop_assert_eq!(&each, &want);
        let back = whole.key_columns(&ids);
        prop_assert_eq!(back[0].to_data(), keys[0].to_data());
        prop_assert_eq!(back[1].to_data(), keys[1].to_data());
    }
}
