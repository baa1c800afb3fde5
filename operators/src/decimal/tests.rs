use super::*;
use proptest::strategy::{Just, Strategy};

/// The 128-bit rounding division, as written before the 64-bit path.
fn div_round_128(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    let (r_abs, d_abs) = (r.unsigned_abs(), d.unsigned_abs());
    if r_abs >= d_abs - r_abs {
        if (n < 0) != (d < 0) {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    }
}

#[test]
fn the_64_bit_path_rounds_like_the_128_bit_one() {
    let ns = [
        0i128,
        1,
        -1,
        2,
        -2,
        5,
        -5,
        7,
        -7,
        99,
        -99,
        1_000_001,
        -1_000_001,
        i64::MAX as i128,
        i64::MIN as i128 + 1,
        i64::MIN as i128,
        i64::MAX as i128 + 1,
    ];
    let ds = [
        1i128,
        -1,
        2,
        -2,
        3,
        -3,
        10,
        -10,
        7,
        1_000_000,
        i64::MAX as i128,
        i64::MIN as i128,
    ];
    for &n in &ns {
        for &d in &ds {
            assert_eq!(div_round(n, d), div_round_128(n, d), "{n} / {d}");
        }
    }
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..100_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let n = (x as i64 >> (x % 50)) as i128;
        let d = ((x.rotate_left(17) as i64) >> (x % 61)) as i128;
        if d != 0 {
            assert_eq!(div_round(n, d), div_round_128(n, d), "{n} / {d}");
        }
    }
}

proptest::proptest! {
    /// The averager equals the plain 128-bit computation: the sum
    /// scaled up exactly, then divided with rounding half away from zero.
    #[test]
    fn averager_is_the_128_bit_average(
        sum in proptest::prop_oneof![-100_000i128..100_000, -(1i128 << 80)..(1i128 << 80)],
        count in proptest::prop_oneof![1i64..=RECIPROCALS as i64, 1i64..50_000],
        sa in 0u8..=6,
        out in 0u8..=12,
    ) {
        let got = Averager::new(sa, out).avg(sum, count);
        let want = if out >= sa {
            Some(div_round_128(sum * 10i128.pow((out - sa) as u32), count as i128))
        } else {
            Some(div_round_128(sum, count as i128 * 10i128.pow((sa - out) as u32)))
        };
        proptest::prop_assert_eq!(got, want);
    }
}

/// Digits of `v` (none for 0).
fn digits(v: i128) -> u8 {
    if v == 0 {
        0
    } else {
        v.unsigned_abs().to_string().len() as u8
    }
}

/// The branch-free check agrees with counting the digits, at the limits
/// of every precision (each power of ten, ±2, either sign) and at the
/// ends of the i128 range.
#[test]
fn all_fit_is_every_value_at_most_precision_digits_at_the_limits() {
    let mut values = vec![0, i128::MIN, i128::MAX, i128::MIN + 1];
    for q in 0..=38 {
        for d in -2..=2 {
            let v = 10i128.pow(q) + d;
            values.extend([v, -v]);
        }
    }
    for precision in 0..=40u8 {
        for &v in &values {
            let want = digits(v) <= precision.min(38);
            assert_eq!(
                all_fit(&[v], precision),
                want,
                "{v} at precision {precision}"
            );
        }
    }
}

/// A value at a digit boundary (`±(10^q + d)`), at the ends of the 64-
/// and 128-bit ranges, or anywhere in them.
fn value() -> impl Strategy<Value = i128> {
    proptest::prop_oneof![
        (0u32..=38, -2i128..=2, proptest::bool::ANY).prop_map(|(q, d, neg)| {
            let v = 10i128.pow(q) + d;
            if neg {
                -v
            } else {
                v
            }
        }),
        proptest::prop_oneof![
            Just(i64::MIN as i128),
            Just(i64::MAX as i128),
            Just(i64::MIN as i128 - 1),
            Just(i64::MAX as i128 + 1),
            Just(i128::MIN),
            Just(i128::MAX),
        ],
        proptest::num::i64::ANY.prop_map(i128::from),
        proptest::num::i128::ANY,
    ]
}

/// Up to 19 values, most of them with at most `precision` digits (so
/// that whole lists fit as often as not), the others from [`value`].
fn values(precision: u8) -> impl Strategy<Value = Vec<i128>> {
    let most = 10i128.pow(precision.min(38) as u32) - 1;
    let v = proptest::prop_oneof![12 => -most..=most, 1 => value()];
    proptest::collection::vec(v, 0..20)
}

proptest::proptest! {
    /// The same for lists of values at the boundaries and anywhere, of
    /// every length around the four values a vector step takes (the
    /// AVX2 path, where this CPU has it, then the portable one for the
    /// rest), for every precision.
    #[test]
    fn all_fit_is_every_value_at_most_precision_digits(
        (precision, vs) in (0u8..=40).prop_flat_map(|p| (Just(p), values(p))),
    ) {
        let want = vs.iter().all(|&v| digits(v) <= precision.min(38));
        proptest::prop_assert_eq!(all_fit(&vs, precision), want);
    }

    /// The 64-bit check's portable pass agrees with the one the CPU
    /// takes, on the bounds `all_fit` uses.
    #[test]
    fn fit_64_paths_agree(
        (precision, vs) in (0u8..=19).prop_flat_map(|p| (Just(p), values(p))),
    ) {
        let (add, span) = match precision {
            19 => ((1 << 63) - 1, u64::MAX - 1),
            p => {
                let limit = POW10[p as usize] as u64;
                (limit - 1, 2 * limit - 2)
            }
        };
        proptest::prop_assert_eq!(fit_64(&vs, add, span), fit_64_any(&vs, add, span));
    }

    /// A list fits 64 bits exactly when every value survives the round
    /// trip through `i64`.
    #[test]
    fn fits_i64_is_every_value_an_i64(
        vs in proptest::collection::vec(
            proptest::prop_oneof![
                12 => proptest::num::i64::ANY.prop_map(i128::from),
                1 => value(),
            ],
            0..20,
        ),
    ) {
        let want = vs.iter().all(|&v| v as i64 as i128 == v);
        proptest::prop_assert_eq!(fits_i64(&vs), want);
    }
}

proptest::proptest! {
    /// The text is the value's digits with the point `scale` places from
    /// the right (a zero before it when nothing else is), and the sign.
    #[test]
    fn text_is_the_digits_with_the_point_placed(
        v in proptest::prop_oneof![-100_000i128..100_000, proptest::num::i128::ANY],
        scale in 0u8..=38,
    ) {
        let digits = v.unsigned_abs().to_string();
        let s = scale as usize;
        let padded = format!("{digits:0>width$}", width = s + 1);
        let (int, frac) = padded.split_at(padded.len() - s);
        let want = format!(
            "{}{int}{}{frac}",
            if v < 0 { "-" } else { "" },
            if s > 0 { "." } else { "" }
        );
        proptest::prop_assert_eq!(format(v, scale), want);
    }
}

/// The greatest value of 38 digits.
const MAX_38: i128 = 10i128.pow(38) - 1;

proptest::proptest! {
    /// Any value's text (any scale) reads back as the value; with 18
    /// digits or fewer and with more.
    #[test]
    fn text_reads_back(
        v in proptest::prop_oneof![
            -1_000_000i128..1_000_000,
            -MAX_38..=MAX_38,
            proptest::prelude::Just(MAX_38),
            proptest::prelude::Just(-MAX_38),
        ],
        scale in 0u8..=38,
    ) {
        proptest::prop_assert_eq!(parse(&format(v, scale), scale), Ok(v));
    }
}

#[test]
fn averager_ties_and_overflow() {
    let a = Averager::new(2, 2);
    // Exactly half way rounds away from zero, both signs.
    assert_eq!(a.avg(1, 2), Some(1));
    assert_eq!(a.avg(-1, 2), Some(-1));
    assert_eq!(a.avg(5, 10), Some(1));
    assert_eq!(a.avg(-15, 10), Some(-2));
    assert_eq!(a.avg(14, 10), Some(1));
    // A sum too large to scale to the output takes the checked path.
    assert_eq!(Averager::new(0, 38).avg(i128::MAX / 2, 1), None);
}

#[test]
fn rounding_is_half_away_from_zero() {
    assert_eq!(div_round(5, 2), 3);
    assert_eq!(div_round(-5, 2), -3);
    assert_eq!(div_round(4, 3), 1);
    assert_eq!(div_round(-4, 3), -1);
    assert_eq!(div_round(7, -2), -4);
    assert_eq!(div_round(1, 3), 0);
    assert_eq!(div_round(i128::MAX, 1), i128::MAX);
}

proptest::proptest! {
    /// The text of any value at any scale is its integer's digits,
    /// zero-padded to more than `scale` digits, with the point `scale`
    /// from the right and a minus sign when negative.
    #[test]
    fn format_matches_the_digits_of_the_integer(
        v in proptest::prop_oneof![
            -1_000_000i128..1_000_000,
            proptest::strategy::Strategy::prop_map(proptest::num::i64::ANY, i128::from),
            proptest::num::i128::ANY,
            proptest::strategy::Strategy::prop_map(proptest::num::u64::ANY, i128::from),
        ],
        scale in 0u8..=38,
    ) {
        proptest::prop_assert_eq!(format(v, scale), digits_text(v, scale));
    }
}

#[test]
fn parse_and_format_round_trip() {
    assert_eq!(parse("101.25", 4), Ok(1012500));
    assert_eq!(format(1012500, 4), "101.2500");
    assert_eq!(parse("-0.005", 2), Ok(-1));
    assert_eq!(format(-1, 2), "-0.01");
    assert_eq!(parse("1e3", 1), Ok(10000));
    assert_eq!(parse(".5", 0), Ok(1));
    assert_eq!(format(-5, 3), "-0.005");
    assert_eq!(format(42, 0), "42");
    assert_eq!(parse("abc", 2), Err(ParseError::Invalid));
    assert_eq!(parse("", 2), Err(ParseError::Invalid));
    assert_eq!(
        parse("1000000000000000000000000000000000000000", 0),
        Err(ParseError::Overflow)
    );
}

#[test]
fn rescale_and_divide() {
    assert_eq!(rescale(12345, 2, 4), Some(1234500));
    assert_eq!(rescale(12345, 2, 1), Some(1235));
    assert_eq!(rescale(-12345, 2, 1), Some(-1235));
    assert_eq!(rescale(i128::MAX / 2, 0, 2), None);
    // 10.00 / 3 at scale 6 = 3.333333
    assert_eq!(div_scaled(1000, 2, 3, 0, 6), Some(3333333));
    // 2 / 3 = 0.666667
    assert_eq!(div_scaled(2, 0, 3, 0, 6), Some(666667));
    assert!(fits(p10(18) - 1, 18));
    assert!(!fits(p10(18), 18));
}

/// A sum near the largest an exact `f64` allows at scale factor `p` (the
/// averages' fast path's bound), or anywhere.
fn average_sums(p: i64) -> impl Strategy<Value = i128> {
    let limit = ((1i128 << 53) - 1) / p as i128;
    proptest::prop_oneof![
        -1_000_000i128..1_000_000,
        (limit - 3)..=(limit + 3),
        (-limit - 3)..=(-limit + 3),
        -(1i128 << 80)..(1i128 << 80),
    ]
}

proptest::proptest! {
    /// A column of sums averaged at once equals each sum averaged alone in
    /// 128 bits (the sum scaled up exactly, divided, rounded half away
    /// from zero): columns all within the `f64`-exact bound (the fast
    /// loop) and columns with a value past it, counts from 1 to just
    /// past 2^53; and the fast loop itself on every path this CPU runs
    /// (where every count is below 2^53).
    #[test]
    fn averages_of_a_column_are_each_sums_128_bit_average(
        (sa, out, rows) in (0u8..=4, 0u8..=8).prop_flat_map(|(sa, k)| {
            let p = 10i64.pow(k as u32);
            let counts = proptest::prop_oneof![
                1i64..200,
                1i64..=RECIPROCALS as i64 * 4,
                ((1i64 << 53) - 1_000)..(1i64 << 53),
                (1i64 << 53)..((1i64 << 53) + 1_000),
            ];
            (Just(sa), Just(sa + k), proptest::collection::vec((average_sums(p), counts), 0..40))
        }),
        within in proptest::bool::ANY,
    ) {
        let p = 10i128.pow((out - sa) as u32);
        let limit = ((1i128 << 53) - 1) / p;
        let rows: Vec<(i128, i64)> = if within {
            rows.into_iter().map(|(s, c)| (s.clamp(-limit, limit), c)).collect()
        } else {
            rows
        };
        let want: Vec<Option<i128>> = rows
            .iter()
            .map(|&(s, c)| s.checked_mul(p).map(|n| div_round_128(n, c as i128)))
            .collect();
        let (mut sums, counts): (Vec<i128>, Vec<i64>) = rows.iter().copied().unzip();
        match Averager::new(sa, out).avg_all(&mut sums, &counts) {
            Ok(()) => proptest::prop_assert_eq!(sums.iter().map(|&v| Some(v)).collect::<Vec<_>>(), want.clone()),
            Err(i) => {
                proptest::prop_assert_eq!(want[i], None);
                proptest::prop_assert!(want[..i].iter().all(Option::is_some));
            }
        }
        if within && rows.iter().all(|&(_, c)| c < 1 << 53) {
            for (name, avg) in exact_paths() {
                let (mut sums, counts): (Vec<i128>, Vec<i64>) = rows.iter().copied().unzip();
                avg(&mut sums, &counts, p as i64);
                let got: Vec<Option<i128>> = sums.iter().map(|&v| Some(v)).collect();
                proptest::prop_assert_eq!(&got, &want, "{}", name);
            }
        }
    }
}

/// The `f64` quotient of the fast average is the exact floor where it is
/// closest to the next integer: `a = k·d − 1` for every binade of `k` and
/// `d` at and around `2^53 / k` (a and d below 2^53), on every path.
#[test]
fn exact_averages_at_the_f64_edges() {
    let mut rows: Vec<(i128, i64)> = Vec::new();
    for e in 0..53u32 {
        for k in [1u64 << e, (1u64 << e) + 1, (2u64 << e) - 1] {
            let top = (1u64 << 53) / k;
            for d in [top.saturating_sub(1), top, top + 1, 3, 7] {
                let a = (k as u128 * d as u128).saturating_sub(1);
                if d > 0 && d < 1 << 53 && a < 1 << 53 {
                    rows.push((a as i128, d as i64));
                    rows.push((-(a as i128), d as i64));
                }
            }
        }
    }
    let want: Vec<i128> = rows
        .iter()
        .map(|&(a, d)| div_round_128(a, d as i128))
        .collect();
    for (name, avg) in exact_paths() {
        let (mut sums, counts): (Vec<i128>, Vec<i64>) = rows.iter().copied().unzip();
        avg(&mut sums, &counts, 1);
        assert_eq!(sums, want, "{name}");
    }
}
