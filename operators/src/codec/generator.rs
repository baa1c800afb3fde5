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

/// Row `i` of `orders` drawn with `seed`: two hashes of `(seed, i)`.
#[inline(always)]
fn order_row(seed: u64, i: u64) -> OrderRow {
    let (customer, date) = halves(mix(seed, i, 1));
    let (amount, _) = halves(mix(seed, i, 2));
    OrderRow {
        order_id: i as i64 + 1,
        customer_id: below32(customer, 10_000) as i64 + 1,
        date: below32(date, 28) as u32,
        total_amount: below32(amount, 20_000) as i128 + 1,
    }
}

/// `h` reduced to `0..n` by multiply-shift (no division; uniform for a
/// uniform `h`).
#[inline(always)]
fn below(h: u64, n: u64) -> u64 {
    ((h as u128 * n as u128) >> 64) as u64
}

/// 32 hash bits reduced to `0..n` by multiply-shift: each 64-bit hash
/// feeds two fields. `n` must be at most 2^32.
#[inline(always)]
fn below32(h: u32, n: u64) -> u64 {
    debug_assert!(n <= 1 << 32);
    (h as u64 * n) >> 32
}

/// Nominal times of rows `first, first + stride, ...` one after another
/// ([`market_nominal`]'s values, by adding instead of dividing).
struct NominalTimes {
    /// The next row's `row * 60_000` as quotient and remainder by `per_minute`.
    q: u128,
    r: u64,
    /// `stride * 60_000` the same way.
    dq: u128,
    dr: u64,
    per_minute: u64,
}

impl NominalTimes {
    fn new(first: u64, stride: u64, per_minute: u64) -> Self {
        let (x, d) = (first as u128 * 60_000, stride as u128 * 60_000);
        let m = per_minute as u128;
        NominalTimes {
            q: x / m,
            r: (x % m) as u64,
            dq: d / m,
            dr: (d % m) as u64,
            per_minute,
        }
    }

    #[inline(always)]
    fn next(&mut self) -> i64 {
        let t = START_MS + self.q as i64;
        self.q += self.dq;
        self.r += self.dr;
        if self.r >= self.per_minute {
            self.r -= self.per_minute;
            self.q += 1;
        }
        t
    }
}

/// The low and high halves of a hash.
#[inline(always)]
fn halves(h: u64) -> (u32, u32) {
    (h as u32, (h >> 32) as u32)
}

/// Row `i`'s nominal event time: `per_minute` rows per minute from START_MS
/// (`per_minute` divides by multiplying; batches add instead, see
/// [`NominalTimes`]).
#[inline(always)]
fn market_nominal(per_minute: StrengthReducedU64, i: u64) -> i64 {
    START_MS
        + match i.checked_mul(60_000) {
            Some(x) => (x / per_minute) as i64,
            None => (i as u128 * 60_000 / per_minute.get() as u128) as i64,
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
    /// The first row of the last batch made (see [`Generator::last_first_row`]).
    last_first: Option<u64>,
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
            block: 0,
            skip: 0,
            last_first: None,
            end,
            batch_size: batch_size.max(1),
            symbols: (0..config.symbols).map(symbol_name).collect(),
            dates: (1..=28).map(|d| format!("2024-01-{d:02}")).collect(),
            bases: (0..config.symbols as u64)
                .map(|k| 10_0000 + below(mix(seed, k, 7), 990_0000) as i128)
                .collect(),
            per_minute: StrengthReducedU64::new(config.rows_per_minute.max(1)),
            spread: (config.disorder_ms.max(0) as u64 + 1).min(1 << 32),
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
            price: self.bases[symbol as usize] + below32(price, 20_001) as i128 - 10_000,
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

    /// The number of the first row of the last batch made, whose rows
    /// follow it one after another: `None` before the first batch, and
    /// always with a stride.
    pub fn last_first_row(&self) -> Option<u64> {
        self.last_first.filter(|_| self.stride == 1)
    }

    /// Every `stride`-th row from here on (`stride` partitions that each take
    /// one residue advance through event time together).
    pub fn with_stride(mut self, stride: u64) -> Self {
        self.stride = stride.max(1);
        self
    }

    /// One pass over the rows filling every column ([`Generator::order_row`]
    /// each): the row's hashes are computed once for all its columns.
    fn orders_batch(&self, rows: RowIds) -> Vec<ArrayRef> {
        let n = rows.len();
        // Written by index into spare capacity, as market rows.
        let (mut ids, mut customers) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut dates, mut amounts) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (id, cu) = (
            &mut ids.spare_capacity_mut()[..n],
            &mut customers.spare_capacity_mut()[..n],
        );
        let (da, am) = (
            &mut dates.spare_capacity_mut()[..n],
            &mut amounts.spare_capacity_mut()[..n],
        );
        let (seed, stride) = (self.seed, rows.stride);
        let mut i = rows.first;
        for k in 0..n {
            let o = order_row(seed, i);
            i += stride;
            id[k].write(o.order_id);
            cu[k].write(o.customer_id);
            da[k].write(o.date);
            am[k].write(o.total_amount);
        }
        // SAFETY: each vector was allocated for `n` values and the loop
        // above wrote every one of its first `n` slots.
        unsafe {
            ids.set_len(n);
            customers.set_len(n);
            dates.set_len(n);
            amounts.set_len(n);
        }
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Int64Array::from(customers)),
            Arc::new(short_strings(&self.dates, &dates)),
            Arc::new(
                Decimal128Array::from(amounts)
                    .with_precision_and_scale(18, 2)
                    .expect("valid decimal"),
            ),
        ]
    }

    /// Every column of rows `rows` ([`Generator::market_row`] each), in two
    /// passes: [`Self::draw_market`] draws each row's hashed fields (a loop of
    /// multiplies, shifts and stores, vectorised), then one pass adds the
    /// nominal times and the symbols' base prices.
    fn market_batch(&self, rows: RowIds) -> Vec<ArrayRef> {
        let n = rows.len();
        // Columns allocated for `n` values and written by index into their
        // spare capacity: a push per value per column, or zeroing them
        // first, cost more.
        let mut d = MarketDraws::with_capacity(n);
        self.draw_market(rows, &mut d);
        let (mut stamps, mut trade_times) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut prices = Vec::with_capacity(n);
        let (st, tt) = (
            &mut stamps.spare_capacity_mut()[..n],
            &mut trade_times.spare_capacity_mut()[..n],
        );
        let pr = &mut prices.spare_capacity_mut()[..n];
        let mut nominal = NominalTimes::new(rows.first, rows.stride, self.per_minute.get());
        let (sym, off) = (&d.symbols[..n], &d.price_offsets[..n]);
        let (lag_ts, lag_tt) = (&d.lags_ts[..n], &d.lags_tt[..n]);
        for k in 0..n {
            let t = nominal.next();
            st[k].write(t - lag_ts[k] as i64);
            tt[k].write(t - lag_tt[k] as i64);
            pr[k].write(self.bases[sym[k] as usize] + off[k] as i128 - 10_000);
        }
        // SAFETY: each vector was allocated for `n` values and the loop
        // above wrote every one of its first `n` slots.
        unsafe {
            prices.set_len(n);
            stamps.set_len(n);
            trade_times.set_len(n);
        }
        vec![
            Arc::new(short_strings(&self.symbols, &d.symbols)),
            Arc::new(Int64Array::from(d.traders)),
            Arc::new(
                Decimal128Array::from(prices)
                    .with_precision_and_scale(18, 4)
                    .expect("valid decimal"),
            ),
            Arc::new(Int64Array::from(d.quantities)),
            Arc::new(TimestampMillisecondArray::from(stamps)),
            Arc::new(TimestampMillisecondArray::from(trade_times)),
        ]
    }

    /// Fills `d` with the hashed fields of rows `rows` (as
    /// [`Generator::market_row`] draws them; what it held before is
    /// dropped, its memory kept), with AVX-512 where the CPU has it:
    /// [`MarketDraws::rows`] then gives the rows themselves.
    pub fn draw_market(&self, rows: RowIds, d: &mut MarketDraws) {
        d.first = rows.first;
        d.stride = rows.stride;
        d.per_minute = self.per_minute.get();
        let (seed, symbols, traders, spread) = (
            self.seed,
            self.config.symbols as u64,
            self.config.traders as u64,
            self.spread,
        );
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has AVX-512 F, DQ and VL (checked just above),
            // every target feature `draw_market_avx512` enables.
            unsafe { draw_market_avx512(seed, symbols, traders, spread, rows, d) };
            return;
        }
        draw_market_any(seed, symbols, traders, spread, rows, d);
    }
}

/// The hash-drawn fields of a batch of `market_data` rows, column by column
/// ([`Generator::draw_market`]): symbol index, trader, quantity, the price's
/// offset above its symbol's base less 10,000, and how many milliseconds
/// each time lags the nominal time.
#[derive(Default)]
pub struct MarketDraws {
    symbols: Vec<u32>,
    traders: Vec<i64>,
    quantities: Vec<i64>,
    price_offsets: Vec<u32>,
    lags_ts: Vec<u32>,
    lags_tt: Vec<u32>,
    /// The rows drawn: `first, first + stride, ...`, `per_minute` of them a
    /// minute.
    first: u64,
    stride: u64,
    per_minute: u64,
}

impl MarketDraws {
    fn with_capacity(n: usize) -> Self {
        MarketDraws {
            symbols: Vec::with_capacity(n),
            traders: Vec::with_capacity(n),
            quantities: Vec::with_capacity(n),
            price_offsets: Vec::with_capacity(n),
            lags_ts: Vec::with_capacity(n),
            lags_tt: Vec::with_capacity(n),
            first: 0,
            stride: 1,
            per_minute: 1,
        }
    }

    /// The rows drawn, in order, each what [`Generator::market_row`] of
    /// generator `g` (the one that drew them) gives.
    pub fn rows<'a>(&'a self, g: &'a Generator) -> impl Iterator<Item = MarketRow> + 'a {
        let mut nominal = NominalTimes::new(self.first, self.stride, self.per_minute);
        (0..self.symbols.len()).map(move |k| {
            let t = nominal.next();
            let symbol = self.symbols[k];
            MarketRow {
                symbol,
                trader_id: self.traders[k],
                price: g.bases[symbol as usize] + self.price_offsets[k] as i128 - 10_000,
                quantity: self.quantities[k],
                timestamp: t - self.lags_ts[k] as i64,
                trade_time: t - self.lags_tt[k] as i64,
            }
        })
    }
}

/// [`draw_market_any`] compiled for AVX-512 (eight rows a step: 64-bit
/// multiplies are one instruction there).
///
/// # Safety
/// The CPU must have AVX-512 F, DQ and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn draw_market_avx512(
    seed: u64,
    symbols: u64,
    traders: u64,
    spread: u64,
    rows: RowIds,
    d: &mut MarketDraws,
) {
    draw_market_any(seed, symbols, traders, spread, rows, d)
}

/// Fills `d` with the fields of rows `rows` that [`Generator::market_row_at`]
/// draws from the row's three hashes: one pass of multiplies, shifts and
/// stores, no branch, so it vectorises.
#[inline(always)]
fn draw_market_any(
    seed: u64,
    symbols: u64,
    traders: u64,
    spread: u64,
    rows: RowIds,
    d: &mut MarketDraws,
) {
    let n = rows.len();
    for v in [
        &mut d.symbols,
        &mut d.price_offsets,
        &mut d.lags_ts,
        &mut d.lags_tt,
    ] {
        v.clear();
        v.reserve(n);
    }
    for v in [&mut d.traders, &mut d.quantities] {
        v.clear();
        v.reserve(n);
    }
    let sy = &mut d.symbols.spare_capacity_mut()[..n];
    let (tr, qu) = (
        &mut d.traders.spare_capacity_mut()[..n],
        &mut d.quantities.spare_capacity_mut()[..n],
    );
    let po = &mut d.price_offsets.spare_capacity_mut()[..n];
    let (lt, lq) = (
        &mut d.lags_ts.spare_capacity_mut()[..n],
        &mut d.lags_tt.spare_capacity_mut()[..n],
    );
    for k in 0..n {
        let i = rows.first + k as u64 * rows.stride;
        let (sym, trader) = halves(mix(seed, i, 1));
        let (price, quantity) = halves(mix(seed, i, 2));
        let (late_ts, late_tt) = halves(mix(seed, i, 3));
        sy[k].write(below32(sym, symbols) as u32);
        tr[k].write(below32(trader, traders) as i64 + 1);
        po[k].write(below32(price, 20_001) as u32);
        qu[k].write(below32(quantity, 1_000) as i64 + 1);
        lt[k].write(below32(late_ts, spread) as u32);
        lq[k].write(below32(late_tt, spread) as u32);
    }
    // SAFETY: each vector has capacity for `n` values (reserved above) and
    // the loop above wrote every one of its first `n` slots.
    unsafe {
        d.symbols.set_len(n);
        d.traders.set_len(n);
        d.quantities.set_len(n);
        d.price_offsets.set_len(n);
        d.lags_ts.set_len(n);
        d.lags_tt.set_len(n);
    }
}

/// A string column of `names[k]` for each `k` of `keys`, built straight into
/// its buffers: names of up to 16 bytes (tickers, dates) as one fixed 16-byte
/// copy each, where a per-value builder would call `memcpy` for every row.
fn short_strings(names: &[String], keys: &[u32]) -> StringArray {
    let n = keys.len();
    if names.iter().any(|n| n.len() > 16) || n >= (i32::MAX as usize) / 16 {
        return StringArray::from_iter_values(keys.iter().map(|&k| &names[k as usize]));
    }
    // Each name as the 16 bytes to store (zero past its length), the table
    // padded to a power of two so that a key masked to it needs no bounds
    // check (every key names a name: the padding is never read).
    let mut table: Vec<(u128, usize)> = names
        .iter()
        .map(|n| {
            let mut w = [0u8; 16];
            w[..n.len()].copy_from_slice(n.as_bytes());
            (u128::from_ne_bytes(w), n.len())
        })
        .collect();
    let mask = table.len().next_power_of_two() - 1;
    table.resize(mask + 1, (0, 0));
    debug_assert!(keys.iter().all(|&k| (k as usize) < names.len()));
    let mut offsets: Vec<i32> = Vec::with_capacity(n + 1);
    // Written into spare capacity, 16 bytes a row (one store): zeroing the
    // buffer first cost more than the copies.
    let mut bytes: Vec<u8> = Vec::with_capacity(n * 16 + 16);
    let (dst, off) = (bytes.as_mut_ptr(), offsets.as_mut_ptr());
    // SAFETY: `offsets` has room for `n + 1` values.
    unsafe { off.write(0) };
    let mut pos = 0;
    for (i, &k) in keys.iter().enumerate() {
        // SAFETY: `k & mask` is below the table's length, `mask + 1`; each
        // row before this one advanced `pos` by at most 16, so `pos + 16 <=
        // 16 * n + 16`, the capacity of `bytes`; `i + 1 <= n` indexes the
        // room for `n + 1` offsets.
        unsafe {
            let (w, len) = *table.get_unchecked(k as usize & mask);
            (dst.add(pos) as *mut u128).write_unaligned(w);
            pos += len;
            off.add(i + 1).write(pos as i32);
        }
    }
    // SAFETY: every byte below `pos` was written: each row wrote 16 bytes
    // from its start, more than its length; the first `n + 1` offsets were
    // written above.
    unsafe {
        bytes.set_len(pos);
        offsets.set_len(n + 1);
    }
    // SAFETY: the offsets start at 0 and never decrease (each adds a
    // name's length); the last is `bytes.len()`, at most 16 bytes a row for
    // fewer than i32::MAX / 16 rows: no offset wraps.
    let offsets = unsafe {
        arrow_buffer::OffsetBuffer::new_unchecked(arrow_buffer::ScalarBuffer::from(offsets))
    };
    // SAFETY: each range between the offsets holds exactly one whole
    // `String`'s bytes — valid UTF-8, on char boundaries; no nulls.
    unsafe { StringArray::new_unchecked(offsets, arrow_buffer::Buffer::from_vec(bytes), None) }
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
        self.last_first = Some(rows.first);
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

    /// A batch of native rows is row by row what `market_row` gives, and
    /// the draws compiled for this CPU (AVX-512 where it has it) equal the
    /// portable loop's.
    #[test]
    fn batched_native_rows_and_draws_agree_with_row_by_row() {
        for (first, len, stride) in [(0, 1, 1), (3, 1_001, 3), (1 << 40, 77, 1), (5, 8_192, 2)] {
            let g = Generator::market_data(11, 0, 1);
            let rows = RowIds { first, stride, len };
            // Drawn into draws that held another batch before.
            let mut a = MarketDraws::default();
            g.draw_market(
                RowIds {
                    first: 9,
                    stride: 1,
                    len: 100,
                },
                &mut a,
            );
            g.draw_market(rows, &mut a);
            let got: Vec<MarketRow> = a.rows(&g).collect();
            let want: Vec<MarketRow> = rows.iter().map(|i| g.market_row(i)).collect();
            assert_eq!(got, want);
            let mut b = MarketDraws::with_capacity(len);
            let c = g.config;
            draw_market_any(
                g.seed,
                c.symbols as u64,
                c.traders as u64,
                g.spread,
                rows,
                &mut b,
            );
            assert_eq!(a.symbols, b.symbols);
            assert_eq!(a.traders, b.traders);
            assert_eq!(a.quantities, b.quantities);
            assert_eq!(a.price_offsets, b.price_offsets);
            assert_eq!(a.lags_ts, b.lags_ts);
            assert_eq!(a.lags_tt, b.lags_tt);
        }
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

    /// Shares in blocks: every row once, each batch consecutive rows of one
    /// block of its share (numbered by `last_first_row`), the rows the
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
                    let first = g.last_first_row().unwrap();
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
            let base = g.bases[m.symbol as usize];
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

    #[test]
    fn short_strings_match_a_plain_string_column() {
        let names: Vec<String> = ["", "A", "ABCD", "2024-01-15", "ABCDEFGHIJKLMNOP", "é"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let keys = [0u32, 5, 1, 4, 2, 3, 3, 0, 4];
        let want = StringArray::from_iter_values(keys.iter().map(|&k| &names[k as usize]));
        assert_eq!(short_strings(&names, &keys), want);
        let long = vec!["x".repeat(17), "y".to_string()];
        let want = StringArray::from_iter_values(["y", &long[0]]);
        assert_eq!(short_strings(&long, &[1, 0]), want);
    }
}
