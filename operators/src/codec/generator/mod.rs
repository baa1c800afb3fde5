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

//!
//! Layout: this module holds the generator and its rows one at a time;
//! `draw` the hash and the draws a row's values come from; `batch`
//! builds whole batches, column by column.

mod batch;
mod draw;
use draw::{
    below, below32, fill_nominal, halves, market_nominal, mix, order_row, symbol_name, NominalTimes,
};

pub use batch::MarketDraws;
#[cfg(test)]
mod tests;

use arrow_array::{new_null_array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

use strength_reduce::StrengthReducedU64;

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

/// The row numbers of one batch: `first + k * stride` for `k` in `0..len`
/// (an exact-size iterator, so columns are allocated once at their size).
#[derive(Clone, Copy, Debug)]
pub struct RowIds {
    first: u64,
    stride: u64,
    len: usize,
}

impl RowIds {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = u64> + Clone {
        let (first, stride) = (self.first, self.stride);
        (0..self.len).map(move |k| first + k as u64 * stride)
    }
}

/// Iterator of generated batches over rows `start..end`.
#[derive(Clone)]
pub struct Generator {
    dataset: Dataset,
    seed: u64,
    next: u64,
    /// Distance between consecutive rows generated (1: every row).
    stride: u64,
    /// Blocks of consecutive rows (see [`Generator::with_blocks`]): rows a
    /// block, and the rows skipped after each; `block` 0 when not in blocks.
    block: u64,
    skip: u64,
    /// The rows of the last batch made (see [`Generator::last_rows`]).
    last: Option<RowIds>,
    end: u64,
    batch_size: usize,
    config: MarketConfig,
    /// `config.rows_per_minute`, as a divisor.
    per_minute: StrengthReducedU64,
    /// How many milliseconds a row's times may lag its nominal time, plus
    /// one (at most 2^32).
    spread: u64,
    symbols: Vec<String>,
    dates: Vec<String>,
    /// Each symbol's base price (DECIMAL(18,4) units), between 10 and 1,000.
    bases: Vec<i64>,
    /// Which schema columns batches hold values in (`None`: all; see
    /// [`Generator::reading_only`]).
    read: Option<Vec<bool>>,
    /// An all-NULL array per unread column, sliced for each batch.
    nulls: Vec<Option<ArrayRef>>,
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
            block: 0,
            skip: 0,
            last: None,
            end,
            batch_size: batch_size.max(1),
            symbols: (0..config.symbols).map(symbol_name).collect(),
            dates: (1..=28).map(|d| format!("2024-01-{d:02}")).collect(),
            bases: (0..config.symbols as u64)
                .map(|k| 10_0000 + below(mix(seed, k, 7), 990_0000) as i64)
                .collect(),
            per_minute: StrengthReducedU64::new(config.rows_per_minute.max(1)),
            spread: (config.disorder_ms.max(0) as u64 + 1).min(1 << 32),
            config,
            read: None,
            nulls: Vec::new(),
        }
    }

    /// Makes values only in the schema columns `cols` (the columns a query
    /// reads, [`crate::Plan::inputs`]); every other column is NULL in every
    /// batch, as with the CSV reader's `reading_only`. Rows stay the same
    /// rows: a column read holds what it holds without this. Unread columns
    /// cost nothing to draw (`market_data` without either time draws one
    /// hash a row fewer); their NULL arrays are shared between batches.
    pub fn reading_only(mut self, cols: &[usize]) -> Self {
        let width = self.schema().fields().len();
        self.read = Some((0..width).map(|c| cols.contains(&c)).collect());
        self.nulls = vec![None; width];
        self
    }

    fn schema(&self) -> arrow_schema::SchemaRef {
        let name = match self.dataset {
            Dataset::Orders => "orders",
            Dataset::MarketData => "market_data",
        };
        arrow_schema(&builtin_stream(name).expect("built-in stream").columns)
    }

    /// Column `c` of `n` rows, all NULL (of the schema's type `ty`).
    fn null_column(&mut self, c: usize, ty: &DataType, n: usize) -> ArrayRef {
        if let Some(a) = self.nulls[c].as_ref().filter(|a| a.len() >= n) {
            return a.slice(0, n);
        }
        let a = new_null_array(ty, n.max(self.batch_size));
        self.nulls[c] = Some(a.clone());
        a.slice(0, n)
    }

    /// The name of symbol index `k`.
    pub fn symbol(&self, k: u32) -> &str {
        &self.symbols[k as usize]
    }

    /// The text of date index `k`.
    pub fn date(&self, k: u32) -> &str {
        &self.dates[k as usize]
    }

    /// Row `i` of `market_data`: three hashes of `(seed, i)`, two fields
    /// from each.
    #[inline(always)]
    pub fn market_row(&self, i: u64) -> MarketRow {
        self.market_row_at(i, market_nominal(self.per_minute, i))
    }

    /// Row `i` of `market_data`, its nominal time given.
    #[inline(always)]
    fn market_row_at(&self, i: u64, nominal: i64) -> MarketRow {
        let (s, c, spread) = (self.seed, self.config, self.spread);
        let (sym, trader) = halves(mix(s, i, 1));
        let (price, quantity) = halves(mix(s, i, 2));
        let (late_ts, late_tt) = halves(mix(s, i, 3));
        let symbol = below32(sym, c.symbols as u64) as u32;
        MarketRow {
            symbol,
            trader_id: below32(trader, c.traders as u64) as i64 + 1,
            price: (self.bases[symbol as usize] + below32(price, 20_001) as i64 - 10_000) as i128,
            quantity: below32(quantity, 1_000) as i64 + 1,
            timestamp: nominal - below32(late_ts, spread) as i64,
            trade_time: nominal - below32(late_tt, spread) as i64,
        }
    }

    /// Row `i` of `orders`: two hashes of `(seed, i)`.
    #[inline(always)]
    pub fn order_row(&self, i: u64) -> OrderRow {
        order_row(self.seed, i)
    }

    /// The numbers of the next (at most) `n` rows, taken from this generator
    /// (in blocks, never past the end of the current block).
    pub fn take_rows(&mut self, n: usize) -> RowIds {
        let mut left = self.remaining().min(n as u64);
        if self.block > 0 {
            left = left.min(self.block - self.next % self.block);
        }
        let ids = RowIds {
            first: self.next,
            stride: self.stride,
            len: left as usize,
        };
        self.next = self.next.saturating_add(left * self.stride);
        if self.block > 0 && left > 0 && self.next.is_multiple_of(self.block) {
            self.next = self.next.saturating_add(self.skip);
        }
        ids
    }

    /// Blocks of `block` consecutive rows, every `parts`-th block from the
    /// one holding the first row, which should start a block (share `p`
    /// starts at row `p * block`): `parts` partitions that each take one
    /// residue of the block number advance through event time together, a
    /// block apart. Each batch holds consecutive rows of one block.
    ///
    /// # Panics
    /// When the generator already has a stride, or `block` is 0.
    pub fn with_blocks(mut self, block: u64, parts: u64) -> Self {
        assert!(self.stride == 1 && block > 0, "blocks of consecutive rows");
        self.block = block;
        self.skip = block * (parts.max(1) - 1);
        self
    }

    /// Makes rows from row `row` on: the next batch starts there (in
    /// blocks, `row` should start a block; a share claiming blocks one by
    /// one moves to each block it claims).
    pub fn seek(&mut self, row: u64) {
        self.next = row;
    }

    /// The numbers of the first and last row of the last batch made, whose
    /// rows follow one another: `None` before the first batch, after an
    /// empty one, and always with a stride.
    pub fn last_rows(&self) -> Option<(u64, u64)> {
        let r = self.last.filter(|r| r.stride == 1 && r.len > 0)?;
        Some((r.first, r.first + r.len as u64 - 1))
    }

    /// Every `stride`-th row from here on (`stride` partitions that each take
    /// one residue advance through event time together).
    pub fn with_stride(mut self, stride: u64) -> Self {
        self.stride = stride.max(1);
        self
    }
}

impl Generator {
    /// Rows this generator has still to make.
    pub fn remaining(&self) -> u64 {
        if self.block == 0 {
            return self.end.saturating_sub(self.next).div_ceil(self.stride);
        }
        // This share's rows below `x`: a block of each whole period, and
        // the part of the last period past the share's offset.
        let (period, off) = (self.block + self.skip, self.next % (self.block + self.skip));
        let off = off - off % self.block;
        let below =
            |x: u64| x / period * self.block + (x % period).saturating_sub(off).min(self.block);
        below(self.end).saturating_sub(below(self.next))
    }

    /// The next batch of at most `n` rows (`None` once every row is made).
    pub fn next_rows(&mut self, n: usize) -> Option<RecordBatch> {
        if self.next >= self.end || n == 0 {
            return None;
        }
        let rows = self.take_rows(n);
        self.last = Some(rows);
        let read = self.read.as_deref().unwrap_or(&[]);
        let cols: Vec<Option<ArrayRef>> = match self.dataset {
            Dataset::Orders => self
                .orders_batch(rows)
                .into_iter()
                .enumerate()
                .map(|(c, a)| read.get(c).is_none_or(|r| *r).then_some(a))
                .collect(),
            Dataset::MarketData => self.market_batch(rows, read),
        };
        let schema = self.schema();
        let cols = cols
            .into_iter()
            .enumerate()
            .map(|(c, a)| {
                a.unwrap_or_else(|| self.null_column(c, schema.field(c).data_type(), rows.len()))
            })
            .collect();
        Some(RecordBatch::try_new(schema, cols).expect("generator matches the built-in schema"))
    }
}

impl Iterator for Generator {
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        self.next_rows(self.batch_size)
    }
}
