//! One row's values drawn from `(seed, row)`: the counter-based hash and
//! its reductions to ranges, an `orders` row whole, and a `market_data`
//! row's nominal time (added up row after row, or computed for one row).
//!
//! Contract: each function is pure in its arguments: the same row drawn
//! alone, in a batch, or on another core gives the same values.

use strength_reduce::StrengthReducedU64;

use super::{OrderRow, START_MS};

/// SplitMix64 finaliser over (seed, row, salt).
#[inline]
pub(super) fn mix(seed: u64, i: u64, salt: u64) -> u64 {
    let mut z = seed
        .wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Row `i` of `orders` drawn with `seed`: two hashes of `(seed, i)`.
#[inline(always)]
pub(super) fn order_row(seed: u64, i: u64) -> OrderRow {
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
pub(super) fn below(h: u64, n: u64) -> u64 {
    ((h as u128 * n as u128) >> 64) as u64
}

/// 32 hash bits reduced to `0..n` by multiply-shift: each 64-bit hash
/// feeds two fields. `n` must be at most 2^32.
#[inline(always)]
pub(super) fn below32(h: u32, n: u64) -> u64 {
    debug_assert!(n <= 1 << 32);
    (h as u64 * n) >> 32
}

/// Nominal times of rows `first, first + stride, ...` one after another
/// ([`market_nominal`]'s values, by adding instead of dividing). The
/// quotient is kept in 64 bits, wrapping: the time keeps its low 64 bits
/// only, as [`market_nominal`]'s does.
pub(super) struct NominalTimes {
    /// The next row's `row * 60_000` as quotient and remainder by `per_minute`.
    q: u64,
    r: u64,
    /// `stride * 60_000` the same way.
    dq: u64,
    dr: u64,
    per_minute: u64,
}

impl NominalTimes {
    pub(super) fn new(first: u64, stride: u64, per_minute: u64) -> Self {
        let (x, d) = (first as u128 * 60_000, stride as u128 * 60_000);
        let m = per_minute as u128;
        NominalTimes {
            q: (x / m) as u64,
            r: (x % m) as u64,
            dq: (d / m) as u64,
            dr: (d % m) as u64,
            per_minute,
        }
    }

    #[inline(always)]
    pub(super) fn next(&mut self) -> i64 {
        let t = START_MS + self.q as i64;
        let (mut r, mut q) = (self.r + self.dr, self.q.wrapping_add(self.dq));
        if r >= self.per_minute {
            r -= self.per_minute;
            q = q.wrapping_add(1);
        }
        (self.r, self.q) = (r, q);
        t
    }
}

/// The low and high halves of a hash.
#[inline(always)]
pub(super) fn halves(h: u64) -> (u32, u32) {
    (h as u32, (h >> 32) as u32)
}

/// Row `i`'s nominal event time: `per_minute` rows per minute from START_MS
/// (`per_minute` divides by multiplying; batches add instead, see
/// [`NominalTimes`]).
#[inline(always)]
pub(super) fn market_nominal(per_minute: StrengthReducedU64, i: u64) -> i64 {
    START_MS
        + match i.checked_mul(60_000) {
            Some(x) => (x / per_minute) as i64,
            None => (i as u128 * 60_000 / per_minute.get() as u128) as i64,
        }
}

/// Ticker-like name of symbol `s`: three or four capital letters, distinct per `s`.
pub(super) fn symbol_name(s: u32) -> String {
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
