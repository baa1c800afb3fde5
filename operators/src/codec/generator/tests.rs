use super::*;

#[test]
fn native_rows_are_the_batch_rows() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, Int64Type, TimestampMillisecondType};
    let g = Generator::range(
        Dataset::MarketData,
        9,
        3,
        5_000,
        700,
        MarketConfig::default(),
    )
    .with_stride(3);
    let rows: Vec<u64> = (3..5_000).step_by(3).collect();
    let batches: Vec<RecordBatch> = g.clone().collect();
    let mut k = 0;
    for b in &batches {
        for r in 0..b.num_rows() {
            let m = g.market_row(rows[k]);
            assert_eq!(b.column(0).as_string::<i32>().value(r), g.symbol(m.symbol));
            assert_eq!(
                b.column(1).as_primitive::<Int64Type>().value(r),
                m.trader_id
            );
            assert_eq!(
                b.column(2).as_primitive::<Decimal128Type>().value(r),
                m.price
            );
            assert_eq!(b.column(3).as_primitive::<Int64Type>().value(r), m.quantity);
            assert_eq!(
                b.column(4)
                    .as_primitive::<TimestampMillisecondType>()
                    .value(r),
                m.timestamp
            );
            assert_eq!(
                b.column(5)
                    .as_primitive::<TimestampMillisecondType>()
                    .value(r),
                m.trade_time
            );
            k += 1;
        }
    }
    assert_eq!(k, rows.len());
    let g = Generator::new(Dataset::Orders, 5, 3_000, 512);
    let mut k = 0;
    for b in g.clone() {
        for r in 0..b.num_rows() {
            let o = g.order_row(k);
            assert_eq!(b.column(0).as_primitive::<Int64Type>().value(r), o.order_id);
            assert_eq!(
                b.column(1).as_primitive::<Int64Type>().value(r),
                o.customer_id
            );
            assert_eq!(b.column(2).as_string::<i32>().value(r), g.date(o.date));
            assert_eq!(
                b.column(3).as_primitive::<Decimal128Type>().value(r),
                o.total_amount
            );
            k += 1;
        }
    }
    assert_eq!(k, 3_000);
}

#[test]
fn partitions_concatenate_to_the_whole() {
    let whole: Vec<RecordBatch> = Generator::market_data(7, 1000, 1000).collect();
    let a = Generator::range(
        Dataset::MarketData,
        7,
        0,
        400,
        1000,
        MarketConfig::default(),
    );
    let b = Generator::range(
        Dataset::MarketData,
        7,
        400,
        1000,
        1000,
        MarketConfig::default(),
    );
    let parts: Vec<RecordBatch> = a.chain(b).collect();
    let schema = whole[0].schema();
    let joined = arrow_select::concat::concat_batches(&schema, &parts).unwrap();
    assert_eq!(joined, whole[0]);
}

#[test]
fn interleaved_partitions_cover_every_row_once() {
    let whole: Vec<RecordBatch> = Generator::market_data(3, 1001, 100).collect();
    let whole = arrow_select::concat::concat_batches(&whole[0].schema(), &whole).unwrap();
    for parts in 1..=4u64 {
        let mut rows = 0;
        for p in 0..parts {
            let g = Generator::range(Dataset::MarketData, 3, p, 1001, 64, MarketConfig::default())
                .with_stride(parts);
            let mut k = 0;
            for b in g {
                for i in 0..b.num_rows() {
                    let global = (p + (k + i as u64) * parts) as usize;
                    assert_eq!(b.slice(i, 1), whole.slice(global, 1));
                }
                k += b.num_rows() as u64;
            }
            rows += k;
        }
        assert_eq!(rows, 1001);
    }
}

/// Shares in blocks: every row once, each batch consecutive rows of one
/// block of its share (numbered by `last_rows`), the rows the
/// whole data set has there; `remaining` counts down to the end.
#[test]
fn block_partitions_cover_every_row_once() {
    let whole: Vec<RecordBatch> = Generator::market_data(3, 1001, 100).collect();
    let whole = arrow_select::concat::concat_batches(&whole[0].schema(), &whole).unwrap();
    for (parts, block, batch) in [
        (1, 64, 64),
        (2, 64, 64),
        (2, 50, 64),
        (3, 7, 5),
        (4, 300, 1000),
    ] {
        let mut seen = vec![0; 1001];
        for p in 0..parts {
            let mut g = Generator::range(
                Dataset::MarketData,
                3,
                p * block,
                1001,
                batch,
                MarketConfig::default(),
            )
            .with_blocks(block, parts);
            let share = (0..1001u64).filter(|i| i / block % parts == p).count() as u64;
            assert_eq!(g.remaining(), share, "{parts} parts of {block}, share {p}");
            let mut made = 0;
            while let Some(b) = g.next() {
                let (first, last) = g.last_rows().unwrap();
                assert_eq!(last - first + 1, b.num_rows() as u64);
                assert!(b.num_rows() <= batch);
                assert_eq!(first / block, (first + b.num_rows() as u64 - 1) / block);
                assert_eq!(first / block % parts, p);
                assert_eq!(b, whole.slice(first as usize, b.num_rows()));
                for i in first..first + b.num_rows() as u64 {
                    seen[i as usize] += 1;
                }
                made += b.num_rows() as u64;
                assert_eq!(g.remaining(), share - made);
            }
            assert_eq!(made, share);
        }
        assert!(seen.iter().all(|&n| n == 1), "{parts} parts of {block}");
    }
}

#[test]
fn data_has_the_documented_shape() {
    let g = Generator::market_data(42, 0, 1);
    let c = MarketConfig::default();
    let n = 300_000u64;
    let mut groups = std::collections::HashSet::new();
    let mut per_symbol = vec![0u64; c.symbols as usize];
    for i in 0..n {
        let m = g.market_row(i);
        groups.insert((m.trader_id, m.symbol));
        per_symbol[m.symbol as usize] += 1;
        assert!((1..=c.traders as i64).contains(&m.trader_id));
        assert!((1..=1_000).contains(&m.quantity));
        let base = g.bases[m.symbol as usize] as i128;
        assert!((base - 10_000..=base + 10_000).contains(&m.price));
        let nominal = START_MS + (i * 60_000 / c.rows_per_minute) as i64;
        for t in [m.timestamp, m.trade_time] {
            assert!((nominal - c.disorder_ms..=nominal).contains(&t));
        }
    }
    assert_eq!(groups.len(), (c.symbols * c.traders) as usize);
    // Uniform symbols: each within 10% of its share.
    let share = n / c.symbols as u64;
    assert!(
        per_symbol.iter().all(|&k| k.abs_diff(share) < share / 10),
        "{per_symbol:?}"
    );
    let g = Generator::orders(42, 0, 1);
    let mut dates = std::collections::HashSet::new();
    let mut over_100 = 0;
    for i in 0..n {
        let o = g.order_row(i);
        assert!((1..=10_000).contains(&o.customer_id));
        assert!((1..=20_000).contains(&o.total_amount));
        dates.insert(o.date);
        over_100 += (o.total_amount > 10_000) as u64;
    }
    assert_eq!(dates.len(), 28);
    // Half pass `total_amount > 100`.
    assert!(over_100.abs_diff(n / 2) < n / 100, "{over_100}");
}

#[test]
fn symbol_names_are_distinct() {
    let names: std::collections::HashSet<String> = (0..1000).map(symbol_name).collect();
    assert_eq!(names.len(), 1000);
}

/// Rows a minute: any, or a multiple of 100, which shares factors with
/// 60,000 ms, so a running remainder often lands exactly on a minute's
/// worth (the carry's edge, which an arbitrary rate almost never meets).
fn per_minute() -> impl proptest::strategy::Strategy<Value = u64> {
    use proptest::strategy::Strategy;
    proptest::prop_oneof![1u64..20_000_000, (1u64..200_000).prop_map(|k| k * 100)]
}

proptest::proptest! {
    /// Nominal times filled in chains side by side (a group of eight at a
    /// time, the rest from one chain) are the ones computed for each row
    /// alone, on every path this CPU has.
    #[test]
    fn nominal_times_filled_are_those_computed_alone(
        first in 0u64..1 << 44,
        stride in 1u64..64,
        per_minute in per_minute(),
        n in 0usize..300,
    ) {
        let pm = strength_reduce::StrengthReducedU64::new(per_minute);
        let want: Vec<i64> = (0..n as u64)
            .map(|k| super::market_nominal(pm, first + k * stride))
            .collect();
        for (path, got) in super::draw::nominal_paths(first, stride, per_minute, n) {
            proptest::prop_assert_eq!(&got, &want, "{} path", path);
        }
    }

    /// Nominal times added row after row (a quotient and a remainder
    /// carried without dividing) are the ones computed for each row alone.
    #[test]
    fn nominal_times_added_up_are_those_computed_alone(
        first in 0u64..1 << 44,
        stride in 1u64..64,
        per_minute in per_minute(),
        n in 1usize..300,
    ) {
        let mut times = super::NominalTimes::new(first, stride, per_minute);
        let pm = strength_reduce::StrengthReducedU64::new(per_minute);
        for k in 0..n as u64 {
            let want = super::market_nominal(pm, first + k * stride);
            proptest::prop_assert_eq!(times.next(), want, "row {}", first + k * stride);
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// With only some columns read, those hold exactly what the whole
    /// generator makes, batch by batch, and every other column is NULL
    /// throughout (of its declared type); both data sets, any subset of
    /// columns (none, one time, both, every one), ranges, strides and batch
    /// sizes (batches longer than the last one: the shared NULL arrays are
    /// sliced, and shorter: made anew).
    #[test]
    fn columns_not_read_are_null_and_the_rest_unchanged(
        market in proptest::bool::ANY,
        mask in 0u32..64,
        start in 0u64..5_000,
        len in 0u64..3_000,
        stride in 1u64..4,
        sizes in proptest::collection::vec(1usize..900, 1..6),
    ) {
        let dataset = if market { Dataset::MarketData } else { Dataset::Orders };
        let width = if market { 6 } else { 4 };
        let cols: Vec<usize> = (0..width).filter(|c| mask >> c & 1 == 1).collect();
        let make = || {
            Generator::range(dataset, 3, start, start + len, 512, MarketConfig::default())
                .with_stride(stride)
        };
        let (mut whole, mut some) = (make(), make().reading_only(&cols));
        let mut k = 0;
        loop {
            let n = sizes[k % sizes.len()];
            k += 1;
            let (Some(a), Some(b)) = (whole.next_rows(n), some.next_rows(n)) else {
                proptest::prop_assert!(whole.next_rows(n).is_none() && some.next_rows(n).is_none());
                break;
            };
            proptest::prop_assert_eq!(a.schema(), b.schema());
            proptest::prop_assert_eq!(a.num_rows(), b.num_rows());
            for c in 0..width {
                if cols.contains(&c) {
                    proptest::prop_assert_eq!(a.column(c).as_ref(), b.column(c).as_ref());
                } else {
                    proptest::prop_assert_eq!(b.column(c).null_count(), b.num_rows());
                    proptest::prop_assert_eq!(b.column(c).len(), b.num_rows());
                }
            }
        }
    }
}
