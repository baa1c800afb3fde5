use super::*;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type};
use arrow_array::Decimal128Array;
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array};
use arrow_schema::DataType;

/// Each of `n` groups' row count once rows of `groups` came.
fn rows_of(groups: &[u32], n: usize) -> Vec<i64> {
    let mut rows = vec![0; n];
    for &g in groups {
        rows[g as usize] += 1;
    }
    rows
}

/// Each row's group's row count right after it (from none).
fn after(groups: &[u32]) -> Vec<i64> {
    let mut seen = std::collections::HashMap::new();
    groups
        .iter()
        .map(|g| {
            let c = seen.entry(*g).or_insert(0);
            *c += 1;
            *c
        })
        .collect()
}

proptest::proptest! {
    /// Whether every id is below a bound is the plain `all`, on both
    /// paths (the AVX2 one where this CPU has it), for lists of every
    /// length around the vector widths, lists below the bound but for
    /// one id just below, at or just above it, and bounds of zero and
    /// past `u32::MAX`.
    #[test]
    fn ids_below_is_a_plain_all(
        ids in proptest::collection::vec(
            proptest::prop_oneof![0u32..70, proptest::num::u32::ANY],
            0..140,
        ),
        bound in proptest::prop_oneof![
            0usize..72,
            proptest::strategy::Strategy::prop_map(proptest::num::u32::ANY, |b| b as usize),
            proptest::strategy::Just(u32::MAX as usize + 1),
            proptest::strategy::Just(usize::MAX),
        ],
        at in 0usize..140,
        near in proptest::prop_oneof![
            proptest::strategy::Just(None),
            proptest::strategy::Strategy::prop_map(0u32..3, Some),
        ],
    ) {
        // Optionally every id below the bound but one, just below, at
        // or just above it, anywhere.
        let mut ids = ids;
        if let (Some(d), Ok(b)) = (near, u32::try_from(bound)) {
            if b > 0 && !ids.is_empty() {
                ids.iter_mut().for_each(|g| *g %= b);
                let k = at % ids.len();
                ids[k] = (b - 1).saturating_add(d);
            }
        }
        let all = ids.iter().all(|&g| (g as usize) < bound);
        proptest::prop_assert_eq!(ids_below(&ids, bound), all);
        if let Ok(b) = u32::try_from(bound) {
            proptest::prop_assert_eq!(ids_below_any(&ids, b), all);
        }
    }

    /// Partials merge to what one accumulator over every row gives, in
    /// each of their shapes: sums within 64 bits (sent as BIGINT) or
    /// beyond (as DECIMAL), counts elided while no NULL came (a
    /// NULL-typed column) or sent; exact and DOUBLE sums and averages,
    /// split at any row between two accumulators.
    #[test]
    fn partials_in_every_shape_merge_to_one_aggregate(
        rows in proptest::collection::vec(
            (0u32..4, proptest::option::weighted(0.8, -1_000i64..1_000)),
            1..60,
        ),
        nulls in proptest::bool::ANY,
        big in proptest::bool::ANY,
        split in 0usize..60,
    ) {
        use proptest::prelude::*;
        // Values scaled past 64 bits when `big`; NULLs only when `nulls`.
        let value = |v: Option<i64>| -> Option<i128> {
            let v = if nulls { v } else { Some(v.unwrap_or(7)) };
            v.map(|x| if big { x as i128 * (1i128 << 70) } else { x as i128 })
        };
        let groups: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let vals: Vec<Option<i128>> = rows.iter().map(|r| value(r.1)).collect();
        let n = 4;
        let dec = SqlType::Decimal { precision: 38, scale: 2 };
        let cases = [
            (AggFunc::Sum, dec, dec),
            (AggFunc::Avg, dec, SqlType::Decimal { precision: 38, scale: 6 }),
            (AggFunc::Sum, SqlType::Double, SqlType::Double),
            (AggFunc::Avg, SqlType::Double, SqlType::Double),
        ];
        for (func, input, output) in cases {
            let arg = |v: &[Option<i128>]| -> ArrayRef {
                match input {
                    SqlType::Double => Arc::new(Float64Array::from_iter(
                        v.iter().map(|x| x.map(|x| (x >> 60) as f64)),
                    )),
                    _ => Arc::new(
                        Decimal128Array::from_iter(v.iter().copied())
                            .with_precision_and_scale(38, 2)
                            .unwrap(),
                    ),
                }
            };
            let acc = || Acc::new(func, Some(input), output, "f(x)".into());
            let cut = split.min(rows.len());
            let (g1, g2) = groups.split_at(cut);
            let (v1, v2) = vals.split_at(cut);
            let mut whole = acc();
            whole.update(&groups, Some(&arg(&vals)), n);
            let (mut a, mut b) = (acc(), acc());
            a.update(g1, Some(&arg(v1)), n);
            b.update(g2, Some(&arg(v2)), n);
            // b's partials of every group, merged into a.
            let all: Vec<u32> = (0..n as u32).collect();
            let (rows_a, rows_b) = (rows_of(g1, n), rows_of(g2, n));
            let cols = b.partial(&all, &mut Pool::default(), &rows_b).unwrap();
            if matches!(input, SqlType::Decimal { .. }) {
                let mut sums = vec![0i128; n];
                for (&g, v) in g2.iter().zip(v2) {
                    sums[g as usize] += v.unwrap_or(0);
                }
                let fits = sums.iter().all(|&x| x as i64 as i128 == x);
                prop_assert_eq!(cols[0].data_type() == &DataType::Int64, fits, "sums' width");
            }
            let had_nulls = nulls && v2.iter().any(Option::is_none);
            prop_assert_eq!(cols[1].data_type() == &DataType::Null, !had_nulls, "counts elided");
            a.merge(&all, &cols, n, &rows_b);
            let total: Vec<i64> = rows_a.iter().zip(&rows_b).map(|(x, y)| x + y).collect();
            let want = whole.emit(&all, &rows_of(&groups, n)).unwrap();
            let got = a.emit(&all, &total).unwrap();
            prop_assert_eq!(got.to_data(), want.to_data(), "{:?} {:?}", func, input);
        }
    }
}

/// The unchecked loops rely on this check: an id past the group count
/// panics instead of writing out of bounds.
#[test]
#[should_panic(expected = "group ids below the number of groups")]
fn a_group_id_past_the_group_count_panics() {
    let ty = SqlType::BigInt;
    let arg: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    acc.update(&[0, 2], Some(&arg), 2);
}

/// The same for the changelog's running COUNT and SUM.
#[test]
#[should_panic(expected = "group ids below the number of groups")]
fn a_running_count_past_the_group_count_panics() {
    let ty = SqlType::BigInt;
    let mut acc = Acc::new(AggFunc::Count, None, ty, "COUNT(*)".into());
    let _ = acc.update_and_snapshot(&[0, 2], None, 2, &[1, 1]);
}

#[test]
#[should_panic(expected = "group ids below the number of groups")]
fn a_running_sum_past_the_group_count_panics() {
    let ty = SqlType::BigInt;
    let arg: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    let _ = acc.update_and_snapshot(&[0, 2], Some(&arg), 2, &[1, 1]);
}

/// A BIGINT result beyond 64 bits is an error, at emission and in the
/// changelog alike, not a truncated value.
#[test]
fn a_bigint_sum_beyond_64_bits_is_an_error() {
    let ty = SqlType::BigInt;
    let arg: ArrayRef = Arc::new(Int64Array::from(vec![1, i64::MAX, 1]));
    let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    acc.update(&[0, 1, 1], Some(&arg), 2);
    let rows = rows_of(&[0, 1, 1], 2);
    let err = acc.emit(&[0, 1], &rows).unwrap_err();
    assert!(err.to_string().contains("result overflows BIGINT"), "{err}");
    assert_eq!(
        acc.emit(&[0], &rows)
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(0),
        1
    );
    let mut running = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    let g = [0, 1, 1];
    let err = running
        .update_and_snapshot(&g, Some(&arg), 2, &after(&g))
        .unwrap_err();
    assert!(err.to_string().contains("result overflows BIGINT"), "{err}");
    let mut ok = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    let g = [0, 1, 0];
    let got = ok
        .update_and_snapshot(&g, Some(&arg), 2, &after(&g))
        .unwrap();
    let got: Vec<i64> = got.as_primitive::<Int64Type>().values().to_vec();
    assert_eq!(got, vec![1, i64::MAX, 2]);
}

#[test]
fn an_exact_sum_that_leaves_128_bits_is_an_error_not_a_wrapped_value() {
    let ty = SqlType::decimal(38, 0);
    let big = i128::MAX / 2 + 1;
    let arg: ArrayRef = Arc::new(
        Decimal128Array::from(vec![big, big, 1])
            .with_precision_and_scale(38, 0)
            .unwrap(),
    );
    // Group 0 gets both halves (overflows); group 1 a lone 1.
    let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    acc.update(&[0, 0, 1], Some(&arg), 2);
    let err = acc.emit(&[0], &rows_of(&[0, 0, 1], 2)).unwrap_err();
    assert!(err.to_string().contains("sum overflows 128 bits"), "{err}");
    // Merged partial states overflow the same way.
    let mut a = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    a.update(&[0], Some(&arg.slice(0, 1)), 1);
    let part = a.partial(&[0], &mut Pool::default(), &[1]).unwrap();
    let mut owner = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    owner.merge(&[0], &part, 1, &[1]);
    assert!(owner.emit(&[0], &[1]).is_ok());
    owner.merge(&[0], &part, 1, &[1]);
    assert!(owner.emit(&[0], &[2]).is_err());
    // Row by row (EMIT CHANGES): the row that overflows is the error.
    let mut rows = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    let err = rows
        .update_and_snapshot(&[0, 0, 1], Some(&arg), 2, &[1, 2, 1])
        .unwrap_err();
    assert!(err.to_string().contains("sum overflows 128 bits"), "{err}");
    let ok = rows
        .update_and_snapshot(&[1, 1], Some(&arg.slice(1, 2)), 2, &[2, 3])
        .unwrap();
    assert_eq!(ok.len(), 2);
    // A running AVG names its sum when that overflows (the second
    // row), its average when that does not fit (at scale 4, 10^4 times
    // the first row).
    let mut avg = Acc::new(AggFunc::Avg, Some(ty), ty, "AVG(x)".into());
    let err = avg
        .update_and_snapshot(&[0, 0], Some(&arg.slice(0, 2)), 1, &[1, 2])
        .unwrap_err();
    assert!(err.to_string().contains("sum overflows 128 bits"), "{err}");
    let scaled = SqlType::decimal(38, 4);
    let mut avg = Acc::new(AggFunc::Avg, Some(ty), scaled, "AVG(x)".into());
    let err = avg
        .update_and_snapshot(&[0], Some(&arg.slice(0, 1)), 1, &[1])
        .unwrap_err();
    assert!(err.to_string().contains("average overflows"), "{err}");
}

#[test]
fn double_min_max_take_nan_as_the_greatest_value() {
    let arg: ArrayRef = Arc::new(Float64Array::from(vec![
        f64::NAN,
        2.0,
        -1.0,
        f64::NAN,
        f64::NAN,
    ]));
    // Group 0: NaN, 2, -1; group 1: NaN, NaN.
    let groups = [0, 0, 0, 1, 1];
    let run = |func| {
        let mut acc = Acc::new(func, Some(SqlType::Double), SqlType::Double, "f(x)".into());
        acc.update(&groups, Some(&arg), 2);
        let rows = rows_of(&groups, 2);
        let out = acc.emit(&[0, 1], &rows).unwrap();
        // Merged from partials of single rows: the same answer.
        let mut merged = Acc::new(func, Some(SqlType::Double), SqlType::Double, "f(x)".into());
        for (i, &g) in groups.iter().enumerate() {
            let mut one = Acc::new(func, Some(SqlType::Double), SqlType::Double, "f(x)".into());
            one.update(&[0], Some(&arg.slice(i, 1)), 1);
            let part = one.partial(&[0], &mut Pool::default(), &[1]).unwrap();
            merged.merge(&[g], &part, 2, &[1]);
        }
        let m = merged.emit(&[0, 1], &rows).unwrap();
        let v = |a: &ArrayRef| a.as_primitive::<Float64Type>().values().to_vec();
        (v(&out), v(&m))
    };
    let (min, min_merged) = run(AggFunc::Min);
    assert_eq!(min[0], -1.0);
    assert!(min[1].is_nan());
    assert_eq!(min_merged[0], -1.0);
    assert!(min_merged[1].is_nan());
    let (max, max_merged) = run(AggFunc::Max);
    assert!(max[0].is_nan() && max[1].is_nan());
    assert!(max_merged[0].is_nan() && max_merged[1].is_nan());
}

#[test]
fn changes_carry_each_rows_running_value() {
    let ty = SqlType::decimal(18, 2);
    let arg: ArrayRef = Arc::new(
        Decimal128Array::from(vec![150, -25, 1000, 1])
            .with_precision_and_scale(18, 2)
            .unwrap(),
    );
    let mut sum = Acc::new(
        AggFunc::Sum,
        Some(ty),
        SqlType::decimal(38, 2),
        "SUM(x)".into(),
    );
    let mut n = Acc::new(AggFunc::CountStar, None, SqlType::BigInt, "COUNT(*)".into());
    let mut avg = Acc::new(
        AggFunc::Avg,
        Some(ty),
        SqlType::decimal(38, 6),
        "AVG(x)".into(),
    );
    let g = [0, 0, 1, 0];
    let rows = after(&g);
    let s = sum.update_and_snapshot(&g, Some(&arg), 2, &rows).unwrap();
    let c = n.update_and_snapshot(&g, None, 2, &rows).unwrap();
    let a = avg.update_and_snapshot(&g, Some(&arg), 2, &rows).unwrap();
    let dec = |a: &ArrayRef| a.as_primitive::<Decimal128Type>().values().to_vec();
    assert_eq!(dec(&s), vec![150, 125, 1000, 126]);
    assert_eq!(
        c.as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2, 1, 3]
    );
    // 1.50, 0.625, 10.00, 0.42 at scale 6.
    assert_eq!(dec(&a), vec![1_500_000, 625_000, 10_000_000, 420_000]);
}

proptest::proptest! {
    /// Rows folded with their values read where they lie (`update_ids_at`)
    /// give each group what a plain fold of those rows' values gives: SUM
    /// (the fast loop, and with NULLs the general one), COUNT and MAX over
    /// BIGINT, SUM over DECIMAL, COUNT(*) (no argument).
    #[test]
    fn values_read_at_their_rows_fold_as_plain_sums(
        values in proptest::collection::vec(proptest::option::weighted(0.9, -1_000_000i64..1_000_000), 1..120),
        picks in proptest::collection::vec((0usize..1_000, 0u32..6), 0..150),
        nulls in proptest::bool::ANY,
    ) {
        let n = values.len();
        let values: Vec<Option<i64>> = if nulls { values } else { values.into_iter().map(|v| v.or(Some(7))).collect() };
        let at: Vec<u32> = picks.iter().map(|p| (p.0 % n) as u32).collect();
        let ids: Vec<u32> = picks.iter().map(|p| p.1).collect();
        let groups = 6;
        let big: ArrayRef = Arc::new(Int64Array::from(values.clone()));
        let dec: ArrayRef = Arc::new(
            Decimal128Array::from(values.iter().map(|v| v.map(|x| x as i128 * 1_000)).collect::<Vec<_>>())
                .with_precision_and_scale(38, 3)
                .unwrap(),
        );
        let counts = rows_of(&ids, groups);
        let reached: Vec<u32> = (0..groups as u32).filter(|&g| counts[g as usize] > 0).collect();
        let checked = GroupIds::check(&ids, groups);
        // (function, argument and its type, output type, output units a value)
        type Case<'a> = (AggFunc, Option<(&'a ArrayRef, SqlType)>, SqlType, i128);
        let cases: Vec<Case<'_>> = vec![
            (AggFunc::Sum, Some((&big, SqlType::BigInt)), SqlType::BigInt, 1),
            (AggFunc::Count, Some((&big, SqlType::BigInt)), SqlType::BigInt, 1),
            (AggFunc::Max, Some((&big, SqlType::BigInt)), SqlType::BigInt, 1),
            (AggFunc::Sum, Some((&dec, SqlType::decimal(38, 3))), SqlType::decimal(38, 3), 1_000),
            (AggFunc::Count, None, SqlType::BigInt, 1),
        ];
        for (func, arg, out, unit) in cases {
            let mut acc = Acc::new(func, arg.map(|a| a.1), out, "f(x)".into());
            acc.update_ids_at(checked, arg.map(|a| a.0), &at);
            // The plain fold: each group's values at its rows.
            let want: Vec<Option<i128>> = reached
                .iter()
                .map(|&g| {
                    let vals: Vec<Option<i64>> = ids
                        .iter()
                        .zip(&at)
                        .filter(|(&i, _)| i == g)
                        .map(|(_, &r)| if arg.is_some() { values[r as usize] } else { Some(1) })
                        .collect();
                    let some: Vec<i128> = vals.iter().flatten().map(|&v| v as i128).collect();
                    match (func, arg.is_some()) {
                        (AggFunc::Count, _) => Some(some.len() as i128),
                        (_, _) if some.is_empty() => None,
                        (AggFunc::Sum, _) => Some(some.iter().sum::<i128>() * unit),
                        (AggFunc::Max, _) => some.iter().max().copied(),
                        _ => unreachable!(),
                    }
                })
                .collect();
            let got = acc.emit(&reached, &counts).unwrap();
            let got: Vec<Option<i128>> = match out {
                SqlType::BigInt => got.as_primitive::<Int64Type>().iter().map(|v| v.map(|v| v as i128)).collect(),
                _ => got.as_primitive::<Decimal128Type>().iter().collect(),
            };
            proptest::prop_assert_eq!(got, want, "{:?}", func);
        }
    }
}

proptest::proptest! {
    /// A table's values read out, of listed groups (`emit`) and of every
    /// group as slices (`emit_first`), are each group's plain fold: COUNT(*),
    /// COUNT, SUM and AVG (rounded half away from zero) over DECIMAL, with
    /// and without NULLs, groups without rows or without values among them.
    #[test]
    fn values_read_out_are_each_groups_plain_fold(
        rows in proptest::collection::vec(
            (0u32..8, proptest::option::weighted(0.85, -5_000_000i64..5_000_000)),
            0..200,
        ),
        nulls in proptest::bool::ANY,
        list in proptest::collection::vec(0u32..8, 0..12),
    ) {
        let n = 8;
        let vals: Vec<Option<i64>> = rows.iter().map(|r| if nulls { r.1 } else { Some(r.1.unwrap_or(3)) }).collect();
        let groups: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let arg: ArrayRef = Arc::new(
            Decimal128Array::from(vals.iter().map(|v| v.map(|x| x as i128)).collect::<Vec<_>>())
                .with_precision_and_scale(18, 4)
                .unwrap(),
        );
        let counts = rows_of(&groups, n);
        let dec4 = SqlType::Decimal { precision: 18, scale: 4 };
        let dec6 = SqlType::Decimal { precision: 38, scale: 6 };
        for (func, input, output) in [
            (AggFunc::CountStar, None, SqlType::BigInt),
            (AggFunc::Count, Some(dec4), SqlType::BigInt),
            (AggFunc::Sum, Some(dec4), SqlType::Decimal { precision: 38, scale: 4 }),
            (AggFunc::Avg, Some(dec4), dec6),
        ] {
            let mut acc = Acc::new(func, input, output, "f(x)".into());
            acc.update(&groups, input.map(|_| &arg), n);
            // The plain fold of group g, in the output's units.
            let want = |g: u32| -> Option<i128> {
                let mine: Vec<Option<i64>> =
                    groups.iter().zip(&vals).filter(|(&h, _)| h == g).map(|(_, v)| *v).collect();
                let some: Vec<i128> = mine.iter().flatten().map(|&v| v as i128).collect();
                let sum: i128 = some.iter().sum();
                let c = some.len() as i128;
                match func {
                    AggFunc::CountStar => Some(mine.len() as i128),
                    AggFunc::Count => Some(c),
                    _ if c == 0 => None,
                    AggFunc::Sum => Some(sum),
                    _ => {
                        // sum·100 / c, half away from zero.
                        let (a, q) = ((sum * 100).abs(), (sum * 100).abs() / c);
                        let q = if 2 * (a - q * c) >= c { q + 1 } else { q };
                        Some(if sum < 0 { -q } else { q })
                    }
                }
            };
            let read = |a: ArrayRef| -> Vec<Option<i128>> {
                match output {
                    SqlType::BigInt => a.as_primitive::<Int64Type>().iter().map(|v| v.map(|v| v as i128)).collect(),
                    _ => a.as_primitive::<Decimal128Type>().iter().collect(),
                }
            };
            let every: Vec<Option<i128>> = (0..n as u32).map(want).collect();
            proptest::prop_assert_eq!(read(acc.emit_first(n, &counts).unwrap()), every.clone(), "{:?} first", func);
            let all: Vec<u32> = (0..n as u32).collect();
            proptest::prop_assert_eq!(read(acc.emit(&all, &counts).unwrap()), every, "{:?} all", func);
            let listed: Vec<Option<i128>> = list.iter().map(|&g| want(g)).collect();
            proptest::prop_assert_eq!(read(acc.emit(&list, &counts).unwrap()), listed, "{:?} listed", func);
        }
    }
}

/// Averages said to fit their type without a check (`averages_fit`) do,
/// at the extremes of every input precision and scale that says so: the
/// greatest and least values, and pairs a unit apart (rounded half away
/// from zero), read out and as running changes; and the types that do
/// not qualify are the ones where an average could have more digits.
#[test]
fn averages_said_to_fit_do_fit_their_type() {
    let mut qualified = 0;
    for p in 1..=38u8 {
        for s in 0..=p {
            let input = SqlType::decimal(p, s);
            let output = crate::state::agg_output_type(AggFunc::Avg, Some(input)).unwrap();
            let mut acc = Acc::new(AggFunc::Avg, Some(input), output, "AVG(x)".into());
            let SqlType::Decimal {
                precision: po,
                scale: so,
            } = output
            else {
                panic!("a decimal average");
            };
            let grown = p as u32 + (so - s) as u32;
            assert_eq!(acc.averages_fit(), grown <= po as u32, "DECIMAL({p},{s})");
            if !acc.averages_fit() {
                continue;
            }
            qualified += 1;
            let top = 10i128.pow(p as u32) - 1;
            let vals = [top, top, top - 1, -top, -top, -top + 1, top, top - 1];
            let groups = [0u32, 0, 0, 1, 1, 1, 2, 2];
            let arg: ArrayRef = Arc::new(
                Decimal128Array::from(vals.to_vec())
                    .with_precision_and_scale(p, s as i8)
                    .unwrap(),
            );
            // A sum scaled to the output's scale past 128 bits is an error
            // (the quotient is taken of it), whatever the average.
            let scaled =
                (top.checked_mul(3)).and_then(|t| t.checked_mul(10i128.pow((so - s) as u32)));
            let changes = match acc.update_and_snapshot(&groups, Some(&arg), 3, &after(&groups)) {
                Ok(a) => a,
                Err(e) => {
                    assert!(scaled.is_none(), "DECIMAL({p},{s}): {e}");
                    continue;
                }
            };
            let read = acc.emit(&[0, 1, 2], &rows_of(&groups, 3)).unwrap();
            for a in [changes, read] {
                let v = a.as_primitive::<Decimal128Type>().values();
                assert!(crate::decimal::all_fit(v, po), "DECIMAL({p},{s}): {v:?}");
            }
        }
    }
    assert!(qualified > 500, "most input types qualify ({qualified})");
}

proptest::proptest! {
    /// An exact SUM fed 64-bit values (held as 64-bit pending sums, folded
    /// into the 128-bit sums when an add would leave 64 bits) and 128-bit
    /// ones, batch after batch, in rows or at listed rows, reads out every
    /// group's exact sum whatever reads it between batches: `emit`,
    /// `emit_first`, `partial` (settled or not), the running values of
    /// `update_and_snapshot`.
    #[test]
    fn sums_of_64_bit_values_are_exact_through_every_reader(
        batches in proptest::collection::vec(
            (
                proptest::collection::vec((0u32..5, proptest::prop_oneof![
                    any_i64(),
                    proptest::strategy::Just(i64::MAX),
                    proptest::strategy::Just(i64::MIN),
                    -3i64..3,
                ]), 0..40),
                0u8..4,
                proptest::bool::weighted(0.25),
                0u8..4,
            ),
            1..8,
        ),
    ) {
        let n = 5;
        let ty = SqlType::decimal(38, 0);
        let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
        let mut want = vec![0i128; n];
        let mut counts = vec![0i64; n];
        for (rows, how, big, read) in batches {
            let groups: Vec<u32> = rows.iter().map(|r| r.0).collect();
            let vals: Vec<i64> = rows.iter().map(|r| r.1).collect();
            let arg: ArrayRef = match big {
                // 128-bit values, some past 64 bits.
                true => Arc::new(
                    Decimal128Array::from(vals.iter().map(|&v| v as i128 * (1 << 40)).collect::<Vec<_>>())
                        .with_precision_and_scale(38, 0)
                        .unwrap(),
                ),
                false => Arc::new(Int64Array::from(vals.clone())),
            };
            let scale = if big { 1i128 << 40 } else { 1 };
            let ids = GroupIds::check(&groups, n);
            match how {
                // The values at listed rows (reversed), as a split window's.
                3 => {
                    let at: Vec<u32> = (0..groups.len() as u32).rev().collect();
                    let rev: Vec<u32> = groups.iter().rev().copied().collect();
                    acc.update_ids_at(GroupIds::check(&rev, n), Some(&arg), &at);
                }
                // Running values, row by row.
                2 => {
                    let mut c = counts.clone();
                    let after: Vec<i64> = groups.iter().map(|&g| { c[g as usize] += 1; c[g as usize] }).collect();
                    let got = acc.update_and_snapshot(&groups, Some(&arg), n, &after).unwrap();
                    let mut run = want.clone();
                    let expect: Vec<i128> = rows.iter().map(|&(g, v)| { run[g as usize] += v as i128 * scale; run[g as usize] }).collect();
                    let got: Vec<i128> = got.as_primitive::<Decimal128Type>().values().to_vec();
                    proptest::prop_assert_eq!(got, expect);
                }
                _ => acc.update_ids(ids, Some(&arg)),
            }
            for (&g, &v) in groups.iter().zip(&vals) {
                want[g as usize] += v as i128 * scale;
                counts[g as usize] += 1;
            }
            let reached: Vec<u32> = (0..n as u32).filter(|&g| counts[g as usize] > 0).collect();
            let expect: Vec<i128> = reached.iter().map(|&g| want[g as usize]).collect();
            match read {
                0 => {
                    let got = acc.emit(&reached, &counts).unwrap();
                    proptest::prop_assert_eq!(got.as_primitive::<Decimal128Type>().values().to_vec(), expect);
                }
                1 if reached.len() == n => {
                    let got = acc.emit_first(n, &counts).unwrap();
                    proptest::prop_assert_eq!(got.as_primitive::<Decimal128Type>().values().to_vec(), expect);
                }
                // Partials of settled sums, and of sums with adds pending.
                2 | 3 => {
                    if read == 2 {
                        acc.settle();
                    }
                    let part = acc.partial(&reached, &mut Pool::default(), &counts).unwrap();
                    let got: Vec<i128> = match part[0].data_type() {
                        DataType::Int64 => part[0].as_primitive::<Int64Type>().values().iter().map(|&v| v as i128).collect(),
                        _ => part[0].as_primitive::<Decimal128Type>().values().to_vec(),
                    };
                    proptest::prop_assert_eq!(got, expect);
                }
                _ => {}
            }
        }
    }
}

/// Any 64-bit value.
fn any_i64() -> impl proptest::strategy::Strategy<Value = i64> {
    proptest::arbitrary::any::<i64>()
}

#[test]
fn a_running_sum_keeps_its_128_bit_part_when_64_bit_values_follow() {
    let ty = SqlType::decimal(38, 0);
    let mut acc = Acc::new(AggFunc::Sum, Some(ty), ty, "SUM(x)".into());
    let big: ArrayRef = Arc::new(
        Decimal128Array::from(vec![1i128 << 80])
            .with_precision_and_scale(38, 0)
            .unwrap(),
    );
    let small: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let got = acc.update_and_snapshot(&[0], Some(&big), 1, &[1]).unwrap();
    assert_eq!(got.as_primitive::<Decimal128Type>().value(0), 1 << 80);
    let got = acc
        .update_and_snapshot(&[0, 0], Some(&small), 1, &[2, 3])
        .unwrap();
    let want = vec![(1i128 << 80) + 1, (1 << 80) + 3];
    assert_eq!(got.as_primitive::<Decimal128Type>().values().to_vec(), want);
}
