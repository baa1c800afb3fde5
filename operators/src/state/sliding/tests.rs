use super::*;
use arrow_array::{Decimal128Array, Float64Array, Int64Array, StringArray};
use proptest::prelude::*;
use std::sync::Arc;

/// A value in a test row: exact (at the input's scale) or DOUBLE.
#[derive(Clone, Copy, Debug, PartialEq)]
enum V {
    E(i128),
    F(f64),
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    BigInt,
    /// DECIMAL(10,2): kept in 64 bits.
    Dec10,
    /// DECIMAL(38,0): kept in 128 bits.
    Dec38,
    Double,
}

impl Kind {
    fn ty(self) -> SqlType {
        match self {
            Kind::BigInt => SqlType::BigInt,
            Kind::Dec10 => SqlType::decimal(10, 2),
            Kind::Dec38 => SqlType::decimal(38, 0),
            Kind::Double => SqlType::Double,
        }
    }

    fn array(self, vals: &[Option<V>]) -> ArrayRef {
        let e = |v: &Option<V>| match v {
            Some(V::E(x)) => Some(*x),
            _ => None,
        };
        match self {
            Kind::BigInt => Arc::new(Int64Array::from_iter(
                vals.iter().map(|v| e(v).map(|x| x as i64)),
            )),
            Kind::Dec10 | Kind::Dec38 => {
                let SqlType::Decimal { precision, scale } = self.ty() else {
                    unreachable!()
                };
                Arc::new(
                    Decimal128Array::from_iter(vals.iter().map(e))
                        .with_precision_and_scale(precision, scale as i8)
                        .unwrap(),
                )
            }
            Kind::Double => Arc::new(Float64Array::from_iter(vals.iter().map(|v| match v {
                Some(V::F(x)) => Some(*x),
                _ => None,
            }))),
        }
    }
}

fn output_type(func: AggFunc, kind: Kind) -> SqlType {
    match (func, kind) {
        (AggFunc::Count | AggFunc::CountStar, _) => SqlType::BigInt,
        (_, Kind::Double) => SqlType::Double,
        (AggFunc::Min | AggFunc::Max, k) => k.ty(),
        (AggFunc::Sum, Kind::BigInt) => SqlType::BigInt,
        (AggFunc::Sum, k) => SqlType::decimal(38, k.ty().exact_scale().unwrap()),
        // Values near 10^37 leave no room for fraction digits.
        (AggFunc::Avg, Kind::Dec38) => SqlType::decimal(38, 0),
        (AggFunc::Avg, _) => SqlType::decimal(38, 6),
    }
}

/// The function over one frame's values, computed directly.
fn over_frame(func: AggFunc, kind: Kind, frame: &[Option<V>]) -> Option<V> {
    let vals: Vec<V> = frame.iter().flatten().copied().collect();
    let exact: Vec<i128> = vals
        .iter()
        .filter_map(|v| if let V::E(x) = v { Some(*x) } else { None })
        .collect();
    let floats: Vec<f64> = vals
        .iter()
        .filter_map(|v| if let V::F(x) = v { Some(*x) } else { None })
        .collect();
    let double = matches!(kind, Kind::Double);
    match func {
        AggFunc::CountStar => Some(V::E(frame.len() as i128)),
        AggFunc::Count => Some(V::E(vals.len() as i128)),
        _ if vals.is_empty() => None,
        // NaN is the greatest DOUBLE.
        AggFunc::Min if double => {
            let non_nan: Vec<f64> = floats.iter().copied().filter(|x| !x.is_nan()).collect();
            Some(V::F(if non_nan.is_empty() {
                f64::NAN
            } else {
                non_nan.iter().copied().fold(f64::INFINITY, f64::min)
            }))
        }
        AggFunc::Max if double => Some(V::F(if floats.iter().any(|x| x.is_nan()) {
            f64::NAN
        } else {
            floats.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        })),
        AggFunc::Min => exact.iter().min().map(|x| V::E(*x)),
        AggFunc::Max => exact.iter().max().map(|x| V::E(*x)),
        AggFunc::Sum if double => Some(V::F(floats.iter().sum())),
        AggFunc::Sum => Some(V::E(exact.iter().sum())),
        AggFunc::Avg if double => Some(V::F(floats.iter().sum::<f64>() / floats.len() as f64)),
        AggFunc::Avg => {
            // Rounded half away from zero at the output's scale.
            let scale = kind.ty().exact_scale().unwrap() as u32;
            let out = output_type(func, kind).exact_scale().unwrap() as u32;
            let num = exact.iter().sum::<i128>() * 10i128.pow(out - scale);
            let (n, d) = (num.abs(), exact.len() as i128);
            Some(V::E(num.signum() * ((2 * n + d) / (2 * d))))
        }
    }
}

fn read(a: &ArrayRef) -> Vec<Option<V>> {
    (0..a.len())
        .map(|i| {
            a.is_valid(i).then(|| match a.data_type() {
                arrow_schema::DataType::Int64 => {
                    V::E(a.as_primitive::<Int64Type>().value(i) as i128)
                }
                arrow_schema::DataType::Float64 => V::F(a.as_primitive::<Float64Type>().value(i)),
                _ => V::E(a.as_primitive::<Decimal128Type>().value(i)),
            })
        })
        .collect()
}

fn same(a: Option<V>, b: Option<V>) -> bool {
    match (a, b) {
        (Some(V::F(x)), Some(V::F(y))) => x == y || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

/// A value of `kind`, NULL one time in `1 + nulls` (never for `nulls == 0`).
fn value(kind: Kind, wide: bool, nulls: u32) -> BoxedStrategy<Option<V>> {
    let v = match kind {
        Kind::BigInt if wide => {
            prop_oneof![-50i128..50, Just(i64::MAX as i128), Just(i64::MIN as i128)]
                .prop_map(V::E)
                .boxed()
        }
        Kind::BigInt | Kind::Dec10 => (-50i128..50).prop_map(V::E).boxed(),
        Kind::Dec38 => {
            // Beyond 64 bits; small enough that 120 of them sum within 38 digits.
            let big = 10i128.pow(if wide { 37 } else { 35 });
            prop_oneof![-50i128..50, Just(big), Just(-big)]
                .prop_map(V::E)
                .boxed()
        }
        Kind::Double => prop_oneof![
            4 => (-50i32..50).prop_map(|x| x as f64),
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
        ]
        .prop_map(V::F)
        .boxed(),
    };
    match nulls {
        0 => v.prop_map(Some).boxed(),
        n => prop_oneof![n => v.prop_map(Some), 1 => Just(None)].boxed(),
    }
}

/// A function, its input kind, its frame, rows (partition, value) and
/// where the rows are cut into batches.
type Case = (
    AggFunc,
    Kind,
    Option<u64>,
    Vec<(u32, Option<V>)>,
    Vec<usize>,
);

fn case() -> impl Strategy<Value = Case> {
    let funcs = prop_oneof![
        Just(AggFunc::Min),
        Just(AggFunc::Max),
        Just(AggFunc::Sum),
        Just(AggFunc::Avg),
        Just(AggFunc::Count),
        Just(AggFunc::CountStar),
    ];
    let kinds = prop_oneof![
        Just(Kind::BigInt),
        Just(Kind::Dec10),
        Just(Kind::Dec38),
        Just(Kind::Double)
    ];
    let frames = prop_oneof![Just(None), (1u64..8).prop_map(Some)];
    // NULL in one value of 5, of 30 (most batches hold none), or never.
    let nulls = prop_oneof![Just(4u32), Just(29), Just(0)];
    (funcs, kinds, frames, nulls).prop_flat_map(|(func, kind, frame, nulls)| {
        let wide = matches!(func, AggFunc::Min | AggFunc::Max);
        let rows = prop::collection::vec((0u32..3, value(kind, wide, nulls)), 0..120);
        let cuts = prop::collection::vec(0usize..120, 0..6);
        (Just(func), Just(kind), Just(frame), rows, cuts)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Every row's value equals the function computed directly over the
    /// last `frame` rows of its partition, whatever the batch split.
    #[test]
    fn each_row_gets_its_frames_value((func, kind, frame, rows, mut cuts) in case()) {
        let out_ty = output_type(func, kind);
        let arg = (func != AggFunc::CountStar).then(|| kind.ty());
        let mut s = Sliding::new(func, arg, out_ty, frame, "f(x)".into());
        cuts.push(0);
        cuts.push(rows.len());
        cuts.retain(|c| *c <= rows.len());
        cuts.sort_unstable();
        let mut got = Vec::new();
        for w in cuts.windows(2) {
            let batch = &rows[w[0]..w[1]];
            let pids: Vec<u32> = batch.iter().map(|r| r.0).collect();
            let vals: Vec<Option<V>> = batch.iter().map(|r| r.1).collect();
            let a = arg.map(|_| kind.array(&vals));
            got.extend(read(&s.update_and_snapshot(&pids, a.as_ref(), 3).unwrap()));
        }
        let mut history: Vec<Vec<Option<V>>> = vec![Vec::new(); 3];
        for (i, (p, v)) in rows.iter().enumerate() {
            let h = &mut history[*p as usize];
            h.push(*v);
            let from = frame.map_or(0, |n| h.len().saturating_sub(n as usize));
            let want = over_frame(func, kind, &h[from..]);
            prop_assert!(same(got[i], want), "row {i} (partition {p}): got {:?}, want {want:?}", got[i]);
        }
    }
}

#[test]
fn count_reads_only_validity_so_any_argument_type_counts() {
    let mut s = Sliding::new(
        AggFunc::Count,
        Some(SqlType::Varchar),
        SqlType::BigInt,
        Some(2),
        "COUNT(s)".into(),
    );
    let a: ArrayRef = Arc::new(StringArray::from(vec![
        Some("a"),
        None,
        Some("b"),
        Some("c"),
    ]));
    let got = read(&s.update_and_snapshot(&[0, 0, 0, 0], Some(&a), 1).unwrap());
    let want = [1, 1, 1, 2].map(|x| Some(V::E(x)));
    assert_eq!(got, want);
}

#[test]
fn whatever_sits_under_a_null_decimal_is_ignored() {
    let ty = SqlType::decimal(18, 0);
    let mut s = Sliding::new(AggFunc::Max, Some(ty), ty, Some(3), "MAX(x)".into());
    // A NULL slot holding a value no DECIMAL(18) could.
    let a: ArrayRef = Arc::new(
        Decimal128Array::new(
            vec![5, i128::MAX].into(),
            Some(arrow_buffer::NullBuffer::from(vec![true, false])),
        )
        .with_precision_and_scale(18, 0)
        .unwrap(),
    );
    let got = read(&s.update_and_snapshot(&[0, 0], Some(&a), 1).unwrap());
    assert_eq!(got, [Some(V::E(5)), Some(V::E(5))]);
}

#[test]
fn a_decimal_beyond_its_declared_precision_is_an_error_not_a_truncated_value() {
    let ty = SqlType::decimal(18, 0);
    let mut s = Sliding::new(AggFunc::Max, Some(ty), ty, Some(3), "MAX(x)".into());
    // Arrow does not validate precision on construction.
    let a: ArrayRef = Arc::new(
        Decimal128Array::from(vec![1, i64::MAX as i128 + 1])
            .with_precision_and_scale(18, 0)
            .unwrap(),
    );
    let err = s.update_and_snapshot(&[0, 0], Some(&a), 1).unwrap_err();
    assert!(err.to_string().contains("precision"), "{err}");
}

#[test]
fn a_decimal_of_more_digits_than_declared_is_an_error_though_it_fits_64_bits() {
    let ty = SqlType::decimal(18, 0);
    for func in [AggFunc::Min, AggFunc::Avg] {
        let out = if func == AggFunc::Min {
            ty
        } else {
            SqlType::decimal(38, 6)
        };
        let mut s = Sliding::new(func, Some(ty), out, Some(3), "f(x)".into());
        // 10^18: nineteen digits, well inside 64 bits.
        let a: ArrayRef = Arc::new(
            Decimal128Array::from(vec![1, 1_000_000_000_000_000_000])
                .with_precision_and_scale(18, 0)
                .unwrap(),
        );
        let err = s.update_and_snapshot(&[0, 0], Some(&a), 1).unwrap_err();
        assert!(err.to_string().contains("precision"), "{err}");
    }
}
