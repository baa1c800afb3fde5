//! Exact decimal arithmetic on scaled integers.
//!
//! A DECIMAL(p,s) value `v` stands for `v / 10^s`, held in an `i128`. Nothing
//! here goes through floating point: rescaling up is a checked multiply,
//! rescaling down and division round half away from zero, and every
//! operation reports overflow instead of wrapping.

use strength_reduce::StrengthReducedU64;

/// `10^n` for `n` in `0..=38`.
pub const fn pow10(n: u8) -> i128 {
    let mut v: i128 = 1;
    let mut i = 0;
    while i < n {
        v *= 10;
        i += 1;
    }
    v
}

const POW10: [i128; 39] = {
    let mut t = [0i128; 39];
    let mut i = 0;
    while i < 39 {
        t[i] = pow10(i as u8);
        i += 1;
    }
    t
};

/// `10^n` from a table; `n` must be at most 38.
#[inline]
pub fn p10(n: u8) -> i128 {
    POW10[n as usize]
}

/// True when `v` has at most `precision` digits.
#[inline]
pub fn fits(v: i128, precision: u8) -> bool {
    let limit = POW10[precision.min(38) as usize];
    v > -limit && v < limit
}

/// True when every value of `vs` has at most `precision` digits, checked
/// in 64-bit words where it can be (AVX2 where the CPU has it, a run-time
/// check): at most 18 digits, a value fits when it fits 64 bits and its
/// low word is within the limit; at 19 and more, every value of 64 bits
/// but the least fits, and only a list holding another value is checked
/// in 128 bits. Each check ORs every value's verdict in, no branch per
/// value (`|v| < limit` exactly when `v + limit − 1`, wrapping, lies in
/// `0..=2·limit − 2`).
pub fn all_fit(vs: &[i128], precision: u8) -> bool {
    let p = precision.min(38) as usize;
    if p <= 18 {
        let limit = POW10[p] as u64;
        return fit_64(vs, limit - 1, 2 * limit - 2);
    }
    // `2^63 − 1` added, `2^64 − 2` the span: every 64-bit value passes but
    // the least, −2^63 (which fits 19 digits too, and is left to the
    // 128-bit check below).
    if fit_64(vs, (1 << 63) - 1, u64::MAX - 1) {
        return true;
    }
    let limit = POW10[p] as u128;
    let span = 2 * limit - 2;
    vs.iter().fold(true, |ok, &v| {
        ok & ((v as u128).wrapping_add(limit - 1) <= span)
    })
}

/// Whether every value of `vs` fits 64 bits (a BIGINT result, say).
pub fn fits_i64(vs: &[i128]) -> bool {
    fit_64(vs, 0, u64::MAX)
}

/// Whether every value of `vs` fits 64 bits with its low word `w`
/// satisfying `w + add <= span` (wrapping, unsigned).
fn fit_64(vs: &[i128], add: u64, span: u64) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above), the only target
        // feature `fit_64_avx2` enables.
        return unsafe { fit_64_avx2(vs, add, span) };
    }
    fit_64_any(vs, add, span)
}

/// [`fit_64`]'s portable pass: a value fits 64 bits when its high word is
/// its low word's sign.
#[inline(always)]
fn fit_64_any(vs: &[i128], add: u64, span: u64) -> bool {
    vs.iter().fold(0u64, |bad, &v| {
        let (lo, hi) = (v as i64, (v >> 64) as i64);
        bad | (hi != lo >> 63) as u64 | ((lo as u64).wrapping_add(add) > span) as u64
    }) == 0
}

/// [`fit_64`] with AVX2: four values a step, their low and high words
/// split by two unpacks; a low word's sign is a signed compare with zero,
/// the unsigned compare a signed one with both sides' top bits flipped.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fit_64_avx2(vs: &[i128], add: u64, span: u64) -> bool {
    use std::arch::x86_64::*;
    let chunks = vs.chunks_exact(4);
    let rest = chunks.remainder();
    let (zero, top) = (_mm256_setzero_si256(), _mm256_set1_epi64x(i64::MIN));
    let (add_v, span_x) = (
        _mm256_set1_epi64x(add as i64),
        _mm256_set1_epi64x((span ^ (1 << 63)) as i64),
    );
    let mut bad = zero;
    for c in chunks {
        // SAFETY: `c` is four `i128`s, 64 bytes: two unaligned 32-byte
        // loads within it.
        let (a, b) = unsafe {
            let p = c.as_ptr() as *const __m256i;
            (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
        };
        let lo = _mm256_unpacklo_epi64(a, b);
        let hi = _mm256_unpackhi_epi64(a, b);
        let sign = _mm256_cmpgt_epi64(zero, lo);
        let x = _mm256_xor_si256(_mm256_add_epi64(lo, add_v), top);
        bad = _mm256_or_si256(bad, _mm256_xor_si256(hi, sign));
        bad = _mm256_or_si256(bad, _mm256_cmpgt_epi64(x, span_x));
    }
    _mm256_testz_si256(bad, bad) == 1 && fit_64_any(rest, add, span)
}

/// `n / d` rounded half away from zero. `d` must be non-zero.
#[inline]
pub fn div_round(n: i128, d: i128) -> i128 {
    let away = (n < 0) != (d < 0);
    // Most quotients (averages, ratios of prices) fit 64 bits: one hardware
    // division instead of two 128-bit library calls. (`i64::MIN / -1` would
    // overflow, so that numerator takes the 128-bit path.)
    if let (Ok(n), Ok(d)) = (i64::try_from(n), i64::try_from(d)) {
        if n != i64::MIN {
            let (q, r) = (n / d, n % d);
            return round_quotient(
                q as i128,
                r.unsigned_abs() as u128,
                d.unsigned_abs() as u128,
                away,
            );
        }
    }
    round_quotient(n / d, (n % d).unsigned_abs(), d.unsigned_abs(), away)
}

/// The truncated quotient `q` moved one step away from zero when the
/// remainder is at least half the divisor (`|2r| >= |d|`, compared without
/// overflowing); `negative`: the exact quotient is below zero.
#[inline(always)]
fn round_quotient(q: i128, r_abs: u128, d_abs: u128, negative: bool) -> i128 {
    if r_abs >= d_abs - r_abs {
        if negative {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    }
}

/// Changes the scale of `v` from `from` to `to`: exact when scaling up
/// (`None` on overflow), rounded half away from zero when scaling down.
#[inline]
pub fn rescale(v: i128, from: u8, to: u8) -> Option<i128> {
    if to >= from {
        let k = to - from;
        if k > 38 {
            return if v == 0 { Some(0) } else { None };
        }
        v.checked_mul(p10(k))
    } else {
        let k = from - to;
        if k > 38 {
            return Some(0);
        }
        Some(div_round(v, p10(k)))
    }
}

/// Exact quotient `(a / 10^sa) / (b / 10^sb)` at scale `out`, rounded half away
/// from zero. `None` on overflow; `b` must be non-zero.
pub fn div_scaled(a: i128, sa: u8, b: i128, sb: u8, out: u8) -> Option<i128> {
    // result * 10^out = a * 10^(out - sa + sb) / b
    let shift = out as i32 - sa as i32 + sb as i32;
    if shift >= 0 {
        let p = *POW10.get(shift as usize)?;
        // |a| < 2^63 and p <= 10^18 < 2^60: the product fits 128 bits.
        let n = if i64::try_from(a).is_ok() && shift <= 18 {
            a * p
        } else {
            a.checked_mul(p)?
        };
        Some(div_round(n, b))
    } else {
        let d = b.checked_mul(*POW10.get((-shift) as usize)?)?;
        Some(div_round(a, d))
    }
}

/// An average: a sum at scale `sa` divided by a positive count, at scale
/// `out` — [`div_scaled`] for one pair of scales, with the power of ten
/// looked up once, and, when the scaled sum fits 64 bits (as running
/// averages of prices do), one 64-bit division: a multiplication by a
/// precomputed reciprocal for counts up to [`RECIPROCALS`], a hardware
/// division above.
#[derive(Clone, Copy, Debug)]
pub struct Averager {
    sa: u8,
    out: u8,
    /// `10^(out - sa)` when that is non-negative and fits 64 bits, else 0.
    p: i64,
    /// `reciprocals[d - 1]` divides by `d`.
    reciprocals: &'static [StrengthReducedU64],
}

/// Counts whose division is a multiplication (a running average's count is
/// mostly small: a ROWS frame, the rows of a group in a window).
pub const RECIPROCALS: u64 = 1024;

fn reciprocals() -> &'static [StrengthReducedU64] {
    static TABLE: std::sync::OnceLock<Vec<StrengthReducedU64>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| (1..=RECIPROCALS).map(StrengthReducedU64::new).collect())
}

impl Averager {
    pub fn new(sa: u8, out: u8) -> Self {
        let p = out
            .checked_sub(sa)
            .filter(|k| *k <= 18)
            .map_or(0, |k| p10(k) as i64);
        Averager {
            sa,
            out,
            p,
            reciprocals: reciprocals(),
        }
    }

    /// `None` on overflow; `count` must be positive.
    #[inline(always)]
    pub fn avg(self, sum: i128, count: i64) -> Option<i128> {
        if self.p != 0 && count > 0 {
            if let Some(n) = i64::try_from(sum).ok().and_then(|s| s.checked_mul(self.p)) {
                // |n| / count, rounded half up, signed back: half away from zero.
                let (a, d) = (n.unsigned_abs(), count as u64);
                let (q, r) = match self.reciprocals.get(d as usize - 1) {
                    Some(&rd) => StrengthReducedU64::div_rem(a, rd),
                    None => (a / d, a % d),
                };
                let q = (q + (r >= d - r) as u64) as i128;
                return Some(if n < 0 { -q } else { q });
            }
        }
        div_scaled(sum, self.sa, count as i128, 0, self.out)
    }
}

/// Formats `v` at `scale` with exactly `scale` fraction digits: `"101.2500"`.
pub fn format(v: i128, scale: u8) -> String {
    let mut s = String::with_capacity(24);
    write_to(&mut s, v, scale);
    s
}

/// Appends the text of `v` at `scale` to `out`.
pub fn write_to(out: &mut String, v: i128, scale: u8) {
    let mut buf = [0u8; TEXT_MAX];
    let at = text_into(v, scale, &mut buf);
    out.push_str(std::str::from_utf8(&buf[at..]).expect("ASCII"));
}

/// Bytes the text of any DECIMAL value can take: 39 digits, a sign, a
/// point and a leading zero.
pub const TEXT_MAX: usize = 48;

/// Writes the text of `v` at `scale` (as [`format`](fn@format) gives it) right-aligned
/// into `buf`; returns where it starts. A value that fits 64 bits (all but
/// the widest DECIMALs) is written two digits at a time from a table.
#[inline]
pub fn text_into(v: i128, scale: u8, buf: &mut [u8; TEXT_MAX]) -> usize {
    let abs = v.unsigned_abs();
    let mut at = buf.len();
    match u64::try_from(abs) {
        Ok(n) if scale <= 19 => {
            let mut int = n;
            if scale > 0 {
                let p = POW10_U64[scale as usize];
                let frac = n % p;
                int = n / p;
                // Exactly `scale` fraction digits, zero-padded.
                at = put_digits(buf, at, frac, scale as usize);
                at -= 1;
                buf[at] = b'.';
            }
            at = put_digits(buf, at, int, 1);
        }
        _ => at = text_digitwise(abs, scale as usize, buf),
    }
    if v < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    at
}

/// `10^n` for `n` in `0..=19`.
const POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// "00" to "99".
const PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// Writes `n` ending just before `end`, with at least `min` digits
/// (zero-padded); returns where the digits start.
#[inline(always)]
fn put_digits(buf: &mut [u8; TEXT_MAX], end: usize, mut n: u64, min: usize) -> usize {
    let stop = end - min;
    let mut at = end;
    while n >= 100 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[(n % 100) as usize]);
        n /= 100;
    }
    if n >= 10 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[n as usize]);
    } else if n > 0 {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    while at > stop {
        at -= 1;
        buf[at] = b'0';
    }
    at
}

/// The digits of `abs` at `scale`, one at a time (values beyond 64 bits).
fn text_digitwise(abs: u128, scale: usize, buf: &mut [u8; TEXT_MAX]) -> usize {
    let (mut at, mut placed, mut u) = (buf.len(), 0, abs);
    // At least one digit before the point.
    while u > 0 || placed <= scale {
        if placed == scale && scale > 0 {
            at -= 1;
            buf[at] = b'.';
        }
        at -= 1;
        buf[at] = b'0' + (u % 10) as u8;
        u /= 10;
        placed += 1;
    }
    at
}

/// A leading `-` or `+` taken off number text: whether it was `-`, and the
/// rest; `None` for empty text.
#[inline(always)]
pub(crate) fn split_sign(b: &[u8]) -> Option<(bool, &[u8])> {
    Some(match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    })
}

/// The common shape of decimal text read from its bytes: an optional sign,
/// 1 to 18 digits with at most one point among them and at most `scale`
/// after it (so nothing rounds). `None` for anything else — [`parse`]
/// decides those. Where both read a text they agree.
#[inline]
pub fn parse_plain(b: &[u8], scale: u8) -> Option<i128> {
    let (neg, digits) = split_sign(b)?;
    if digits.len() > 19 {
        return None;
    }
    let (mut acc, mut point) = (0u64, None);
    for (i, &c) in digits.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d <= 9 {
            acc = acc * 10 + d as u64;
        } else if c == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    let count = digits.len() - point.is_some() as usize;
    let frac = point.map_or(0, |p| digits.len() - p - 1);
    if count == 0 || count > 18 || frac > scale as usize || scale > 38 {
        return None;
    }
    let v = (acc as i128).checked_mul(p10(scale - frac as u8))?;
    Some(if neg { -v } else { v })
}

/// Why a decimal text could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Invalid,
    Overflow,
}

/// Parses decimal text (`-12.5`, `3`, `.25`, `1e3`) to a value at `scale`,
/// rounding extra fraction digits half away from zero.
pub fn parse(text: &str, scale: u8) -> Result<i128, ParseError> {
    let t = text.trim();
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (
            &t[..i],
            t[i + 1..].parse::<i32>().map_err(|_| ParseError::Invalid)?,
        ),
        None => (t, 0),
    };
    let (neg, digits) = match mantissa.as_bytes().first() {
        Some(b'-') => (true, &mantissa[1..]),
        Some(b'+') => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int_part, frac_part) = match digits.find('.') {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(ParseError::Invalid);
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ParseError::Invalid);
    }
    // All digits as one integer at scale frac_len - exp, then rescale;
    // up to 18 digits cannot overflow 64 bits, so need no checks.
    let digits = int_part.bytes().chain(frac_part.bytes());
    let acc: i128 = if int_part.len() + frac_part.len() <= 18 {
        digits.fold(0u64, |a, b| a * 10 + (b - b'0') as u64) as i128
    } else {
        let mut acc: i128 = 0;
        for b in digits {
            acc = acc
                .checked_mul(10)
                .and_then(|a| a.checked_add((b - b'0') as i128))
                .ok_or(ParseError::Overflow)?;
        }
        acc
    };
    let cur_scale = frac_part.len() as i32 - exp;
    let target = scale as i32;
    let v = if cur_scale <= target {
        let k = (target - cur_scale) as u32;
        if k > 38 {
            if acc == 0 {
                0
            } else {
                return Err(ParseError::Overflow);
            }
        } else {
            acc.checked_mul(p10(k as u8)).ok_or(ParseError::Overflow)?
        }
    } else {
        let k = (cur_scale - target) as u32;
        if k > 38 {
            0
        } else {
            div_round(acc, p10(k as u8))
        }
    };
    Ok(if neg { -v } else { v })
}

/// A DECIMAL's text built from its integer's own digits: zero-padded to
/// more than `scale` digits, the point `scale` from the right, a minus sign
/// when negative — the reference the text writers are tested against.
#[cfg(test)]
pub(crate) fn digits_text(v: i128, scale: u8) -> String {
    let digits = format!("{:0>w$}", v.unsigned_abs(), w = scale as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - scale as usize);
    let sign = if v < 0 { "-" } else { "" };
    match scale {
        0 => format!("{sign}{int}"),
        _ => format!("{sign}{int}.{frac}"),
    }
}

#[cfg(test)]
mod tests;
