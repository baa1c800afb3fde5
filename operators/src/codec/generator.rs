//! The built-in data generator for `orders` and `market_data`.
//!
//! Contract: row `i` of a data set is a pure function of `(seed, i)` (a
//! counter-based hash, no sequential RNG state), so any range of rows can be
//! generated on its own and splitting a run into partitions yields exactly
//! the same rows. Batches come out in row order.
//!
//! `market_data`: `symbols` symbols (default 100), traders `1..=traders`
//! (default 50, so 5,000 (trader, symbol) groups), `rows_per_minute` rows per
//! minute of event time (default 100,000) starting 2024-01-15T10:00:00Z.
//! `trade_time` and `timestamp` are each up to `disorder_ms` (default 2,000,
//! the stream's built-in lateness) behind the row's nominal time, so both are
//! out of order by at most that bound. Prices are DECIMAL(18,4) around a
//! per-symbol base between 10 and 1,000; quantities 1..=1,000.
//!
//! `orders`: ids `1..=rows`, customers 1..=10,000, dates in January 2024,
//! `total_amount` uniform over 0.01..=200.00, so half pass `> 100`.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};

use crate::catalog::{builtin_stream, MARKET_DATA_DISORDER_MS};
use crate::types::arrow_schema;

/// 2024-01-15T10:00:00Z in epoch milliseconds.
pub const START_MS: i64 = 1_705_312_800_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    Orders,
    MarketData,
}

impl Dataset {
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "orders" => Some(Dataset::Orders),
            "market_data" => Some(Dataset::MarketData),
            _ => None,
        }
    }
}

/// Shape of the generated `market_data`.
#[derive(Clone, Copy, Debug)]
pub struct MarketConfig {
    pub symbols: u32,
    pub traders: u32,
    pub rows_per_minute: u64,
    pub disorder_ms: i64,
}

impl Default for MarketConfig {
    fn default() -> Self {
        MarketConfig {
            symbols: 100,
            traders: 50,
            rows_per_minute: 100_000,
            disorder_ms: MARKET_DATA_DISORDER_MS,
        }
    }
}

/// SplitMix64 finaliser over (seed, row, salt).
#[inline]
fn mix(seed: u64, i: u64, salt: u64) -> u64 {
    let mut z = seed
        .wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `h` reduced to `0..n` by multiply-shift (no division; uniform for a
/// uniform `h`).
#[inline(always)]
fn below(h: u64, n: u64) -> u64 {
    ((h as u128 * n as u128) >> 64) as u64
}

#[inline(always)]
fn order_customer(s: u64, i: u64) -> i64 {
    (mix(s, i, 1) % 10_000) as i64 + 1
}

#[inline(always)]
fn order_date(s: u64, i: u64) -> u32 {
    (mix(s, i, 2) % 28) as u32
}

#[inline(always)]
fn order_amount(s: u64, i: u64) -> i128 {
    (mix(s, i, 3) % 20_000) as i128 + 1
}

#[inline(always)]
fn market_symbol(s: u64, c: MarketConfig, i: u64) -> u32 {
    below(mix(s, i, 1), c.symbols as u64) as u32
}

/// Row `i`'s nominal event time: `rows_per_minute` rows per minute from START_MS.
#[inline(always)]
fn market_nominal(c: MarketConfig, i: u64) -> i64 {
    START_MS
        + match i.checked_mul(60_000) {
            Some(x) => (x / c.rows_per_minute) as i64,
            None => (i as u128 * 60_000 / c.rows_per_minute as u128) as i64,
        }
}

/// Ticker-like name of symbol `s`: three or four capital letters, distinct per `s`.
fn symbol_name(s: u32) -> String {
    let mut n = s;
    let mut name = Vec::new();
    for _ in 0..3 {
        name.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    if n > 0 {
        name.push(b'A' + (n % 26) as u8);
    }
    name.reverse();
    String::from_utf8(name).expect("ASCII")
}

/// Iterator of generated batches over rows `start..end`.
#[derive(Clone)]
pub struct Generator {
    dataset: Dataset,
    seed: u64,
    next: u64,
    /// Distance between consecutive rows generated (1: every row).
    stride: u64,
    end: u64,
    batch_size: usize,
    config: MarketConfig,
    symbols: Vec<String>,
    dates: Vec<String>,
    /// Each symbol's base price (DECIMAL(18,4) units), between 10 and 1,000.
    bases: Vec<i128>,
}

/// One `market_data` row in native form (the symbol as its index, see
/// [`Generator::symbol`]; the price in DECIMAL(18,4) units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketRow {
    pub symbol: u32,
    pub trader_id: i64,
    pub price: i128,
    pub quantity: i64,
    pub timestamp: i64,
    pub trade_time: i64,
}

/// One `orders` row in native form (the date as its index, see
/// [`Generator::date`]; the amount in DECIMAL(18,2) units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: i64,
    pub customer_id: i64,
    pub date: u32,
    pub total_amount: i128,
}

impl Generator {
    pub fn new(dataset: Dataset, seed: u64, rows: u64, batch_size: usize) -> Self {
        Self::range(dataset, seed, 0, rows, batch_size, MarketConfig::default())
    }

    pub fn market_data(seed: u64, rows: u64, batch_size: usize) -> Self {
        Self::new(Dataset::MarketData, seed, rows, batch_size)
    }

    pub fn orders(seed: u64, rows: u64, batch_size: usize) -> Self {
        Self::new(Dataset::Orders, seed, rows, batch_size)
    }

    /// Rows `start..end` only (one partition of a larger data set).
    pub fn range(
        dataset: Dataset,
        seed: u64,
        start: u64,
        end: u64,
        batch_size: usize,
        config: MarketConfig,
    ) -> Self {
        let config = MarketConfig {
            symbols: config.symbols.max(1),
            traders: config.traders.max(1),
            rows_per_minute: config.rows_per_minute.max(1),
            disorder_ms: config.disorder_ms.max(0),
        };
        Generator {
            dataset,
            seed,
            next: start,
            stride: 1,
            end,
            batch_size: batch_size.max(1),
            symbols: (0..config.symbols).map(symbol_name).collect(),
            dates: (1..=28).map(|d| format!("2024-01-{d:02}")).collect(),
            bases: (0..config.symbols as u64)
                .map(|k| 10_0000 + below(mix(seed, k, 7), 990_0000) as i128)
                .collect(),
            config,
        }
    }

    /// The name of symbol index `k`.
    pub fn symbol(&self, k: u32) -> &str {
        &self.symbols[k as usize]
    }

    /// The text of date index `k`.
    pub fn date(&self, k: u32) -> &str {
        &self.dates[k as usize]
    }

    /// Row `i` of `market_data`.
    #[inline]
    pub fn market_row(&self, i: u64) -> MarketRow {
        let (s, c) = (self.seed, self.config);
        let symbol = market_symbol(s, c, i);
        let nominal = market_nominal(c, i);
        let spread = c.disorder_ms as u64 + 1;
        MarketRow {
            symbol,
            trader_id: below(mix(s, i, 2), c.traders as u64) as i64 + 1,
            price: self.bases[symbol as usize] + below(mix(s, i, 3), 20_001) as i128 - 10_000,
            quantity: below(mix(s, i, 4), 1_000) as i64 + 1,
            timestamp: nominal - below(mix(s, i, 5), spread) as i64,
            trade_time: nominal - below(mix(s, i, 6), spread) as i64,
        }
    }

    /// Row `i` of `orders`.
    #[inline]
    pub fn order_row(&self, i: u64) -> OrderRow {
        let s = self.seed;
        OrderRow {
            order_id: i as i64 + 1,
            customer_id: order_customer(s, i),
            date: order_date(s, i),
            total_amount: order_amount(s, i),
        }
    }

    /// The numbers of the next (at most) `n` rows, taken from this generator.
    pub fn take_rows(&mut self, n: usize) -> std::iter::StepBy<std::ops::Range<u64>> {
        let hi = self
            .next
            .saturating_add(n as u64 * self.stride)
            .min(self.end)
            .max(self.next);
        let rows = (self.next..hi).step_by(self.stride as usize);
        self.next += rows.clone().count() as u64 * self.stride;
        rows
    }

    /// Every `stride`-th row from here on (`stride` partitions that each take
    /// one residue advance through event time together).
    pub fn with_stride(mut self, stride: u64) -> Self {
        self.stride = stride.max(1);
        self
    }

    /// Column by column (each column one tight loop); the values are
    /// [`Generator::order_row`]'s.
    fn orders_batch(&self, rows: impl Iterator<Item = u64> + Clone) -> Vec<ArrayRef> {
        let s = self.seed;
        vec![
            Arc::new(Int64Array::from_iter_values(
                rows.clone().map(|i| i as i64 + 1),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.clone().map(|i| order_customer(s, i)),
            )),
            Arc::new(short_strings(
                &self.dates,
                rows.clone().map(|i| order_date(s, i)),
            )),
            Arc::new(
                Decimal128Array::from_iter_values(rows.map(|i| order_amount(s, i)))
                    .with_precision_and_scale(18, 2)
                    .expect("valid decimal"),
            ),
        ]
    }

    /// Column by column (each column one tight loop); the values are
    /// [`Generator::market_row`]'s.
    fn market_batch(&self, rows: impl Iterator<Item = u64> + Clone) -> Vec<ArrayRef> {
        let (s, c) = (self.seed, self.config);
        let spread = c.disorder_ms as u64 + 1;
        let sym = |i: u64| market_symbol(s, c, i);
        vec![
            Arc::new(short_strings(&self.symbols, rows.clone().map(sym))),
            Arc::new(Int64Array::from_iter_values(
                rows.clone()
                    .map(|i| below(mix(s, i, 2), c.traders as u64) as i64 + 1),
            )),
            Arc::new(
                Decimal128Array::from_iter_values(rows.clone().map(|i| {
                    self.bases[sym(i) as usize] + below(mix(s, i, 3), 20_001) as i128 - 10_000
                }))
                .with_precision_and_scale(18, 4)
                .expect("valid decimal"),
            ),
            Arc::new(Int64Array::from_iter_values(
                rows.clone().map(|i| below(mix(s, i, 4), 1_000) as i64 + 1),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.clone()
                    .map(|i| market_nominal(c, i) - below(mix(s, i, 5), spread) as i64),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(rows.map(|i| {
                market_nominal(c, i) - below(mix(s, i, 6), spread) as i64
            }))),
        ]
    }
}

/// A string column of `names[k]` for each `k` of `keys`, built straight into
/// its buffers: names of up to 16 bytes (tickers, dates) as one fixed 16-byte
/// copy each, where a per-value builder would call `memcpy` for every row.
fn short_strings(names: &[String], keys: impl Iterator<Item = u32> + Clone) -> StringArray {
    let n = keys.clone().count();
    if names.iter().any(|n| n.len() > 16) || n >= (i32::MAX as usize) / 16 {
        return StringArray::from_iter_values(keys.map(|k| &names[k as usize]));
    }
    let table: Vec<([u8; 16], usize)> = names
        .iter()
        .map(|n| {
            let mut w = [0u8; 16];
            w[..n.len()].copy_from_slice(n.as_bytes());
            (w, n.len())
        })
        .collect();
    let mut offsets: Vec<i32> = Vec::with_capacity(n + 1);
    offsets.push(0);
    let mut bytes = vec![0u8; n * 16 + 16];
    let mut pos = 0;
    for k in keys {
        let (w, len) = &table[k as usize];
        bytes[pos..pos + 16].copy_from_slice(w);
        pos += len;
        offsets.push(pos as i32);
    }
    bytes.truncate(pos);
    let offsets = arrow_buffer::OffsetBuffer::new(arrow_buffer::ScalarBuffer::from(offsets));
    // SAFETY: `offsets` start at 0 and never decrease, the last is
    // `bytes.len()` (at most 16 bytes a row, and fewer than i32::MAX / 16
    // rows: no offset wraps), and each range between them holds exactly one
    // whole `String`'s bytes — valid UTF-8, on char boundaries; no nulls.
    unsafe { StringArray::new_unchecked(offsets, arrow_buffer::Buffer::from_vec(bytes), None) }
}

impl Generator {
    /// Rows this generator has still to make.
    pub fn remaining(&self) -> u64 {
        self.end.saturating_sub(self.next).div_ceil(self.stride)
    }

    /// The next batch of at most `n` rows (`None` once every row is made).
    pub fn next_rows(&mut self, n: usize) -> Option<RecordBatch> {
        if self.next >= self.end || n == 0 {
            return None;
        }
        let rows = self.take_rows(n);
        let (name, cols) = match self.dataset {
            Dataset::Orders => ("orders", self.orders_batch(rows)),
            Dataset::MarketData => ("market_data", self.market_batch(rows)),
        };
        let schema = arrow_schema(&builtin_stream(name).expect("built-in stream").columns);
        Some(RecordBatch::try_new(schema, cols).expect("generator matches the built-in schema"))
    }
}

impl Iterator for Generator {
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        self.next_rows(self.batch_size)
    }
}

#[cfg(test)]
mod tests {
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
                let g =
                    Generator::range(Dataset::MarketData, 3, p, 1001, 64, MarketConfig::default())
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

    #[test]
    fn symbol_names_are_distinct() {
        let names: std::collections::HashSet<String> = (0..1000).map(symbol_name).collect();
        assert_eq!(names.len(), 1000);
    }

    #[test]
    fn short_strings_match_a_plain_string_column() {
        let names: Vec<String> = ["", "A", "ABCD", "2024-01-15", "ABCDEFGHIJKLMNOP", "é"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let keys = [0u32, 5, 1, 4, 2, 3, 3, 0, 4];
        let want = StringArray::from_iter_values(keys.iter().map(|&k| &names[k as usize]));
        assert_eq!(short_strings(&names, keys.iter().copied()), want);
        let long = vec!["x".repeat(17), "y".to_string()];
        let want = StringArray::from_iter_values(["y", &long[0]]);
        assert_eq!(short_strings(&long, [1u32, 0].into_iter()), want);
    }
}
