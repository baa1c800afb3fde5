//! Whole batches of generated rows, column by column: the hashed fields and
//! prices drawn in one vectorised loop, the nominal times in chains side by
//! side, then the times' lags taken off (`orders` in [`orders`]).

mod orders;

use std::sync::Arc;

use arrow_array::{ArrayRef, Decimal128Array, Int64Array, StringArray, TimestampMillisecondArray};

use super::{below32, fill_nominal, halves, mix, Generator, MarketRow, NominalTimes, RowIds};
use crate::cpu::by_cpu;

impl Generator {
    /// The columns of rows `rows` ([`Generator::market_row`] each) that
    /// `read` names (schema order: symbol, trader_id, price, quantity,
    /// timestamp, trade_time), `None` for the others, in loops that
    /// vectorise: [`Self::draw_market`] draws each row's hashed fields and
    /// its price (multiplies, shifts, a table read and stores; the times'
    /// lags only when a time is read), [`fill_nominal`] the nominal times,
    /// then one pass a time column takes its lag off and one widens the
    /// prices for their DECIMAL column.
    pub(super) fn market_batch(&self, rows: RowIds, read: &[bool]) -> Vec<Option<ArrayRef>> {
        let n = rows.len();
        let read = |c: usize| read.get(c).copied().unwrap_or(true);
        let (read_ts, read_tt) = (read(4), read(5));
        // Columns allocated for `n` values and written by index into their
        // spare capacity: a push per value per column, or zeroing them
        // first, cost more.
        let mut d = MarketDraws::with_capacity(n);
        self.draw_fields(rows, &mut d, read_ts || read_tt);
        let (stamps, trade_times) = if read_ts || read_tt {
            self.market_times(rows, &d, read_ts, read_tt)
        } else {
            (None, None)
        };
        let prices = read(2).then(|| {
            let mut prices: Vec<i128> = Vec::with_capacity(n);
            let pr = &mut prices.spare_capacity_mut()[..n];
            for (p, &x) in pr.iter_mut().zip(&d.prices[..n]) {
                p.write(x as i128);
            }
            // SAFETY: allocated for `n` values; the loop above wrote every
            // one of its first `n` slots (a zip over `n` slots and `n`
            // prices).
            unsafe { prices.set_len(n) };
            prices
        });
        vec![
            read(0).then(|| Arc::new(short_strings(&self.symbols, &d.symbols)) as ArrayRef),
            read(1).then(|| Arc::new(Int64Array::from(d.traders)) as ArrayRef),
            prices.map(|p| {
                Arc::new(
                    Decimal128Array::from(p)
                        .with_precision_and_scale(18, 4)
                        .expect("valid decimal"),
                ) as ArrayRef
            }),
            read(3).then(|| Arc::new(Int64Array::from(d.quantities)) as ArrayRef),
            stamps.map(|t| Arc::new(TimestampMillisecondArray::from(t)) as ArrayRef),
            trade_times.map(|t| Arc::new(TimestampMillisecondArray::from(t)) as ArrayRef),
        ]
    }

    /// The `timestamp` and `trade_time` values of rows `rows` (their lags
    /// drawn in `d`), each only if asked for (at least one is): the nominal
    /// times first, in chains side by side; then loops whose rows are
    /// independent (they vectorise), where one loop doing all of it, one
    /// chain carried from row to row, ran ~37 instructions a row.
    fn market_times(
        &self,
        rows: RowIds,
        d: &MarketDraws,
        read_ts: bool,
        read_tt: bool,
    ) -> (Option<Vec<i64>>, Option<Vec<i64>>) {
        let n = rows.len();
        let mut stamps: Vec<i64> = Vec::with_capacity(n);
        fill_nominal(
            rows.first,
            rows.stride,
            self.per_minute.get(),
            &mut stamps.spare_capacity_mut()[..n],
        );
        // SAFETY: `fill_nominal` wrote each of the `n` slots it was given,
        // allocated just above.
        unsafe { stamps.set_len(n) };
        let (lag_ts, lag_tt) = (&d.lags_ts[..n], &d.lags_tt[..n]);
        let lag_off = |times: &mut [i64], lags: &[u32]| {
            for (t, &l) in times.iter_mut().zip(lags) {
                *t -= l as i64;
            }
        };
        match (read_ts, read_tt) {
            (true, false) => {
                lag_off(&mut stamps, lag_ts);
                (Some(stamps), None)
            }
            (false, _) => {
                lag_off(&mut stamps, lag_tt);
                (None, Some(stamps))
            }
            (true, true) => {
                let mut trade_times: Vec<i64> = Vec::with_capacity(n);
                let tt = &mut trade_times.spare_capacity_mut()[..n];
                for (((s, t), &a), &b) in
                    stamps.iter_mut().zip(tt.iter_mut()).zip(lag_ts).zip(lag_tt)
                {
                    let nominal = *s;
                    *s = nominal - a as i64;
                    t.write(nominal - b as i64);
                }
                // SAFETY: allocated for `n` values; the loop above wrote
                // every one of its first `n` slots (a zip over `n` of each).
                unsafe { trade_times.set_len(n) };
                (Some(stamps), Some(trade_times))
            }
        }
    }

    /// Fills `d` with the hashed fields of rows `rows` (as
    /// [`Generator::market_row`] draws them; what it held before is
    /// dropped, its memory kept), with AVX-512 or else AVX2 where the CPU has
    /// it:
    /// [`MarketDraws::rows`] then gives the rows themselves.
    pub fn draw_market(&self, rows: RowIds, d: &mut MarketDraws) {
        self.draw_fields(rows, d, true);
    }

    /// [`Self::draw_market`], the times' lags drawn only when `lags` (then
    /// [`MarketDraws::rows`] cannot give rows: their times are not drawn).
    fn draw_fields(&self, rows: RowIds, d: &mut MarketDraws, lags: bool) {
        if lags {
            self.draw_fields_lags::<true>(rows, d)
        } else {
            self.draw_fields_lags::<false>(rows, d)
        }
    }

    fn draw_fields_lags<const LAGS: bool>(&self, rows: RowIds, d: &mut MarketDraws) {
        d.first = rows.first;
        d.stride = rows.stride;
        d.per_minute = self.per_minute.get();
        let (seed, symbols, traders, spread) = (
            self.seed,
            self.config.symbols as u64,
            self.config.traders as u64,
            self.spread,
        );
        let bases = &self.bases;
        by_cpu!(
            ["avx512f", "avx512dq", "avx512vl"] =>
                draw_market_avx512::<LAGS>(seed, symbols, traders, spread, bases, rows, d),
            ["avx2"] => draw_market_avx2::<LAGS>(seed, symbols, traders, spread, bases, rows, d);
            draw_market_any::<LAGS>(seed, symbols, traders, spread, bases, rows, d)
        )
    }
}

/// The hash-drawn fields of a batch of `market_data` rows, column by column
/// ([`Generator::draw_market`]): symbol index, trader, quantity, the price
/// (in ten-thousandths: the symbol's base plus an offset drawn in
/// `-10_000..=10_000`), and how many milliseconds each time lags the
/// nominal time.
#[derive(Default)]
pub struct MarketDraws {
    symbols: Vec<u32>,
    traders: Vec<i64>,
    quantities: Vec<i64>,
    prices: Vec<i64>,
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
            prices: Vec::with_capacity(n),
            lags_ts: Vec::with_capacity(n),
            lags_tt: Vec::with_capacity(n),
            first: 0,
            stride: 1,
            per_minute: 1,
        }
    }

    /// The rows drawn, in order, each what [`Generator::market_row`] of
    /// the generator that drew them gives.
    ///
    /// # Panics
    /// When the times' lags were not drawn (batches of columns without
    /// either time skip them).
    pub fn rows(&self) -> impl Iterator<Item = MarketRow> + '_ {
        assert_eq!(self.lags_ts.len(), self.symbols.len(), "times drawn");
        let mut nominal = NominalTimes::new(self.first, self.stride, self.per_minute);
        (0..self.symbols.len()).map(move |k| {
            let t = nominal.next();
            let symbol = self.symbols[k];
            MarketRow {
                symbol,
                trader_id: self.traders[k],
                price: self.prices[k] as i128,
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
unsafe fn draw_market_avx512<const LAGS: bool>(
    seed: u64,
    symbols: u64,
    traders: u64,
    spread: u64,
    bases: &[i64],
    rows: RowIds,
    d: &mut MarketDraws,
) {
    draw_market_any::<LAGS>(seed, symbols, traders, spread, bases, rows, d)
}

/// [`draw_market_any`] compiled for AVX2 (four rows a step, each 64-bit
/// multiply made of three 32-bit ones).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn draw_market_avx2<const LAGS: bool>(
    seed: u64,
    symbols: u64,
    traders: u64,
    spread: u64,
    bases: &[i64],
    rows: RowIds,
    d: &mut MarketDraws,
) {
    draw_market_any::<LAGS>(seed, symbols, traders, spread, bases, rows, d)
}

/// Fills `d` with the fields of rows `rows` that [`Generator::market_row_at`]
/// draws from the row's three hashes, the price its symbol's entry of
/// `bases` plus the drawn offset: one pass of multiplies, shifts, a table
/// read and stores, no branch, so it vectorises. Without `LAGS` the times'
/// lags are not drawn (their vectors left empty): one hash a row fewer.
///
/// # Panics
/// Unless `bases` holds one price per symbol (`symbols` of them).
#[inline(always)]
fn draw_market_any<const LAGS: bool>(
    seed: u64,
    symbols: u64,
    traders: u64,
    spread: u64,
    bases: &[i64],
    rows: RowIds,
    d: &mut MarketDraws,
) {
    assert_eq!(bases.len() as u64, symbols, "a base price per symbol");
    let n = rows.len();
    for v in [&mut d.symbols, &mut d.lags_ts, &mut d.lags_tt] {
        v.clear();
        v.reserve(n);
    }
    for v in [&mut d.traders, &mut d.quantities, &mut d.prices] {
        v.clear();
        v.reserve(n);
    }
    let sy = &mut d.symbols.spare_capacity_mut()[..n];
    let (tr, qu) = (
        &mut d.traders.spare_capacity_mut()[..n],
        &mut d.quantities.spare_capacity_mut()[..n],
    );
    let pr = &mut d.prices.spare_capacity_mut()[..n];
    let lagged = if LAGS { n } else { 0 };
    let (lt, lq) = (
        &mut d.lags_ts.spare_capacity_mut()[..n],
        &mut d.lags_tt.spare_capacity_mut()[..n],
    );
    for k in 0..n {
        let i = rows.first + k as u64 * rows.stride;
        let (sym, trader) = halves(mix(seed, i, 1));
        let (price, quantity) = halves(mix(seed, i, 2));
        let s = below32(sym, symbols);
        sy[k].write(s as u32);
        tr[k].write(below32(trader, traders) as i64 + 1);
        // SAFETY: `below32(_, symbols)` is below `symbols` (a 32-bit value
        // times `symbols`, shifted down 32 bits), the length of `bases`
        // (asserted above).
        let base = unsafe { *bases.get_unchecked(s as usize) };
        pr[k].write(base + below32(price, 20_001) as i64 - 10_000);
        qu[k].write(below32(quantity, 1_000) as i64 + 1);
        if LAGS {
            let (late_ts, late_tt) = halves(mix(seed, i, 3));
            lt[k].write(below32(late_ts, spread) as u32);
            lq[k].write(below32(late_tt, spread) as u32);
        }
    }
    // SAFETY: each vector has capacity for `n` values (reserved above) and
    // the loop above wrote every one of its first `n` slots (the lags' only
    // with `LAGS`: otherwise they stay empty).
    unsafe {
        d.symbols.set_len(n);
        d.traders.set_len(n);
        d.quantities.set_len(n);
        d.prices.set_len(n);
        d.lags_ts.set_len(lagged);
        d.lags_tt.set_len(lagged);
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

#[cfg(test)]
mod tests;
