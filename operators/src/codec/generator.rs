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
            config,
        }
    }

    /// Every `stride`-th row from here on (`stride` partitions that each take
    /// one residue advance through event time together).
    pub fn with_stride(mut self, stride: u64) -> Self {
        self.stride = stride.max(1);
        self
    }

    fn orders_batch(&self, rows: impl Iterator<Item = u64> + Clone) -> Vec<ArrayRef> {
        let s = self.seed;
        vec![
            Arc::new(Int64Array::from_iter_values(
                rows.clone().map(|i| i as i64 + 1),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.clone().map(|i| (mix(s, i, 1) % 10_000) as i64 + 1),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.clone()
                    .map(|i| &self.dates[(mix(s, i, 2) % 28) as usize]),
            )),
            Arc::new(
                Decimal128Array::from_iter_values(
                    rows.map(|i| (mix(s, i, 3) % 20_000) as i128 + 1),
                )
                .with_precision_and_scale(18, 2)
                .expect("valid decimal"),
            ),
        ]
    }

    fn market_batch(&self, rows: impl Iterator<Item = u64> + Clone) -> Vec<ArrayRef> {
        let s = self.seed;
        let c = self.config;
        let sym = |i: u64| below(mix(s, i, 1), c.symbols as u64) as u32;
        let rpm = c.rows_per_minute;
        let nominal = |i: u64| {
            START_MS
                + match i.checked_mul(60_000) {
                    Some(x) => (x / rpm) as i64,
                    None => (i as u128 * 60_000 / rpm as u128) as i64,
                }
        };
        let spread = c.disorder_ms as u64 + 1;
        let jitter = |i: u64, salt: u64| below(mix(s, i, salt), spread) as i64;
        // Each symbol's base price, between 10 and 1,000.
        let bases: Vec<i128> = (0..c.symbols as u64)
            .map(|k| 10_0000 + below(mix(s, k, 7), 990_0000) as i128)
            .collect();
        let price = |i: u64| bases[sym(i) as usize] + below(mix(s, i, 3), 20_001) as i128 - 10_000;
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.clone().map(|i| &self.symbols[sym(i) as usize]),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.clone()
                    .map(|i| below(mix(s, i, 2), c.traders as u64) as i64 + 1),
            )),
            Arc::new(
                Decimal128Array::from_iter_values(rows.clone().map(price))
                    .with_precision_and_scale(18, 4)
                    .expect("valid decimal"),
            ),
            Arc::new(Int64Array::from_iter_values(
                rows.clone().map(|i| below(mix(s, i, 4), 1_000) as i64 + 1),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.clone().map(|i| nominal(i) - jitter(i, 5)),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.map(|i| nominal(i) - jitter(i, 6)),
            )),
        ]
    }
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
        let hi = self
            .next
            .saturating_add(n as u64 * self.stride)
            .min(self.end);
        let rows = (self.next..hi).step_by(self.stride as usize);
        let count = rows.clone().count() as u64;
        self.next += count * self.stride;
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
}
