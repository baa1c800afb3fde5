//! One row's values drawn from `(seed, row)`: the counter-based hash and
//! its reductions to ranges, an `orders` row whole, and a `market_data`
//! row's nominal time (added up row after row, in chains side by side for a
//! batch, or computed for one row).
//!
//! Contract: each function is pure in its arguments: the same row drawn
//! alone, in a batch, or on another core gives the same values.

use strength_reduce::StrengthReducedU64;

use super::{OrderRow, START_MS};
use crate::cpu::by_cpu;

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

/// Chains [`fill_nominal`] carries side by side.
const LANES: usize = 8;

/// The nominal times of rows `first, first + stride, ...` into `out`, one
/// a slot: [`NominalTimes`]' values, added up in [`LANES`] chains side by
/// side (lane `j` carries slots `j, j + LANES, ...`), so no row's carry
/// waits on the row before it and the steps vectorise (AVX-512 or AVX2
/// where the CPU has it: a run-time check). One chain took three dependent
/// steps a row.
pub(super) fn fill_nominal(
    first: u64,
    stride: u64,
    per_minute: u64,
    out: &mut [std::mem::MaybeUninit<i64>],
) {
    by_cpu!(
        ["avx512f", "avx512vl"] => fill_nominal_avx512(first, stride, per_minute, out),
        ["avx2"] => fill_nominal_avx2(first, stride, per_minute, out);
        fill_nominal_any(first, stride, per_minute, out)
    )
}

/// [`fill_nominal_any`] compiled for AVX-512 (unsigned 64-bit compares).
///
/// # Safety
/// The CPU must have AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn fill_nominal_avx512(
    first: u64,
    stride: u64,
    per_minute: u64,
    out: &mut [std::mem::MaybeUninit<i64>],
) {
    fill_nominal_any(first, stride, per_minute, out)
}

/// [`fill_nominal_any`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_nominal_avx2(
    first: u64,
    stride: u64,
    per_minute: u64,
    out: &mut [std::mem::MaybeUninit<i64>],
) {
    fill_nominal_any(first, stride, per_minute, out)
}

/// [`fill_nominal`]'s loops: whole groups of [`LANES`] slots, each lane a
/// [`NominalTimes`] stepping `LANES` rows at a time; the last slots from
/// one chain.
#[inline(always)]
fn fill_nominal_any(
    first: u64,
    stride: u64,
    per_minute: u64,
    out: &mut [std::mem::MaybeUninit<i64>],
) {
    let total = out.len();
    let (groups, rest) = out.as_chunks_mut::<LANES>();
    let step = NominalTimes::new(0, LANES as u64 * stride, per_minute);
    let (dq, dr, pm) = (step.dq, step.dr, per_minute);
    let (mut q, mut r) = ([0u64; LANES], [0u64; LANES]);
    for j in 0..LANES {
        let lane = NominalTimes::new(first + j as u64 * stride, stride, per_minute);
        (q[j], r[j]) = (lane.q, lane.r);
    }
    for g in groups {
        for j in 0..LANES {
            g[j].write(START_MS + q[j] as i64);
            let x = r[j] + dr;
            let carry = (x >= pm) as u64;
            r[j] = x - (pm & carry.wrapping_neg());
            q[j] = q[j].wrapping_add(dq + carry);
        }
    }
    let done = (total - rest.len()) as u64;
    let mut tail = NominalTimes::new(first + done * stride, stride, per_minute);
    for slot in rest {
        slot.write(tail.next());
    }
}

/// [`fill_nominal`]'s result for `n` rows on each path this CPU runs
/// (portable, then AVX2 and AVX-512 where it has them), named.
#[cfg(test)]
pub(super) fn nominal_paths(
    first: u64,
    stride: u64,
    per_minute: u64,
    n: usize,
) -> Vec<(&'static str, Vec<i64>)> {
    type Fill = fn(u64, u64, u64, &mut [std::mem::MaybeUninit<i64>]);
    let mut paths: Vec<(&'static str, Fill)> = vec![("portable", fill_nominal_any)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: called only on this CPU, which has AVX2 (checked
            // just above).
            paths.push(("avx2", |a, b, c, d| unsafe {
                fill_nominal_avx2(a, b, c, d)
            }));
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: called only on this CPU, which has AVX-512 F and VL
            // (checked just above).
            paths.push(("avx512", |a, b, c, d| unsafe {
                fill_nominal_avx512(a, b, c, d)
            }));
        }
    }
    paths
        .into_iter()
        .map(|(name, fill)| {
            let mut v: Vec<i64> = Vec::with_capacity(n);
            fill(first, stride, per_minute, &mut v.spare_capacity_mut()[..n]);
            // SAFETY: every path writes each of the `n` slots it is given.
            unsafe { v.set_len(n) };
            (name, v)
        })
        .collect()
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
