//! Shared test helpers: random trade streams, running the engine, and a naive
//! row-at-a-time reference evaluator written independently of the engine.

#![allow(dead_code)]

pub mod reference;

use arrow_array::RecordBatch;
use percore::operators::column::{scalar_at, ColumnBuilder};
use percore::operators::types::{arrow_schema, Column};
use percore::operators::{Scalar, SqlType};
use percore::{sql, Pipeline};
use proptest::prelude::*;

/// One input trade. `price` is DECIMAL(18,4) as a scaled integer; `fprice` a DOUBLE.
#[derive(Clone, Debug)]
pub struct Trade {
    pub symbol: Option<String>,
    pub trader: Option<i64>,
    pub price: Option<i128>,
    pub qty: Option<i64>,
    pub ts: Option<i64>,
    pub fprice: Option<f64>,
}

pub fn trade_columns() -> Vec<Column> {
    vec![
        Column::new("symbol", SqlType::Varchar),
        Column::new("trader", SqlType::BigInt),
        Column::new("price", SqlType::decimal(18, 4)),
        Column::new("qty", SqlType::BigInt),
        Column::new("ts", SqlType::Timestamp),
        Column::new("fprice", SqlType::Double),
    ]
}

/// The `CREATE STREAM` for trades with the given lateness.
pub fn trades_ddl(lateness_ms: i64) -> String {
    format!(
        "CREATE STREAM trades (symbol VARCHAR, trader BIGINT, price DECIMAL(18,4), qty BIGINT, ts TIMESTAMP, fprice DOUBLE) \
         WITH (lateness = '{lateness_ms}ms', event_time = 'ts');\n"
    )
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
    null_pct: u32,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![
        null_pct => Just(None),
        (100 - null_pct) => s.prop_map(Some),
    ]
    .boxed()
}

/// Random trades: few symbols and traders (so groups repeat), prices that may
/// be large, timestamps moving forward with bounded disorder and some NULLs.
pub fn trades(max_len: usize) -> impl Strategy<Value = Vec<Trade>> {
    let row = (
        opt(
            prop::sample::select(vec!["AAPL", "MSFT", "GOOG", "X"]).prop_map(str::to_string),
            5,
        ),
        opt(1i64..4, 5),
        opt(
            prop_oneof![
                8 => 1i128..2_000_000,                              // up to 200.0000
                1 => -1_000_000i128..1_000_000,                     // negatives
                1 => 900_000_000_000_000_000i128..999_999_999_999_999_999, // near DECIMAL(18,4)'s limit
            ],
            5,
        ),
        opt(0i64..1_000, 5),
        (0i64..400, opt(0i64..1, 3)),
        opt((-400i64..400).prop_map(|v| v as f64 / 4.0), 5),
    );
    prop::collection::vec(row, 0..max_len).prop_map(|rows| {
        let mut t = 1_705_312_800_000i64;
        rows.into_iter()
            .map(|(symbol, trader, price, qty, (step, null_ts), fprice)| {
                // Mostly forward in time, sometimes backwards by up to 600 ms.
                t += step - 150;
                Trade {
                    symbol,
                    trader,
                    price,
                    qty,
                    ts: null_ts.map(|_| t),
                    fprice,
                }
            })
            .collect()
    })
}

/// The trades as batches of `batch_size` rows.
pub fn to_batches(trades: &[Trade], batch_size: usize) -> Vec<RecordBatch> {
    let cols = trade_columns();
    trades
        .chunks(batch_size.max(1))
        .map(|chunk| {
            let mut b: Vec<ColumnBuilder> = cols
                .iter()
                .map(|c| ColumnBuilder::new(c.ty, chunk.len()))
                .collect();
            for t in chunk {
                b[0].push(&t.symbol.clone().map_or(Scalar::Null, Scalar::Varchar));
                b[1].push(&t.trader.map_or(Scalar::Null, Scalar::BigInt));
                b[2].push(&t.price.map_or(Scalar::Null, |p| Scalar::Decimal(p, 4)));
                b[3].push(&t.qty.map_or(Scalar::Null, Scalar::BigInt));
                b[4].push(&t.ts.map_or(Scalar::Null, Scalar::Timestamp));
                b[5].push(&t.fprice.map_or(Scalar::Null, Scalar::Double));
            }
            RecordBatch::try_new(
                arrow_schema(&cols),
                b.into_iter().map(ColumnBuilder::finish).collect(),
            )
            .unwrap()
        })
        .collect()
}

pub type Row = Vec<Scalar>;

/// Runs `sql` over `batches` on one pipeline: the output rows in emission
/// order, and the number of late rows dropped.
pub fn run_engine(
    sql_text: &str,
    batches: &[RecordBatch],
) -> Result<(Vec<Row>, u64), percore::Error> {
    let plan = sql::compile(sql_text)?;
    let mut p = Pipeline::new(&plan);
    let mut out = Vec::new();
    for b in batches {
        out.extend(p.push(b.clone())?);
    }
    out.extend(p.finish()?);
    Ok((batches_to_rows(&out), p.stats().late_rows))
}

pub fn batches_to_rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in batches {
        let types: Vec<SqlType> = b
            .schema()
            .fields()
            .iter()
            .map(|f| SqlType::from_arrow(f.data_type()).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .zip(&types)
                    .map(|(c, t)| scalar_at(c.as_ref(), *t, i))
                    .collect(),
            );
        }
    }
    rows
}

/// Rows as sorted text lines, for multiset comparison.
pub fn sorted_text(rows: &[Row]) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    v.sort();
    v
}

/// Trades whose timestamps run behind the latest one by at most `disorder`
/// ms (no NULL times), so no row is late with lateness ≥ `disorder`.
pub fn bounded_trades(max_len: usize, disorder: i64) -> impl Strategy<Value = Vec<Trade>> {
    (
        trades(max_len),
        prop::collection::vec(0..=disorder, max_len),
        prop::collection::vec(0i64..300, max_len),
    )
        .prop_map(|(mut ts, jitter, steps)| {
            let mut nominal = 1_705_312_800_000i64;
            for (i, t) in ts.iter_mut().enumerate() {
                nominal += steps[i] / 100; // often equal times: ties must resolve alike
                t.ts = Some(nominal - jitter[i]);
            }
            ts
        })
}
