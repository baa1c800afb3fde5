//! Number text written straight into an output buffer's spare room.
//!
//! Contract: [`put_i64`] appends `v`'s decimal text (`-` for negatives, no
//! leading zeros, `0` for zero); [`Decimals::put`] appends a DECIMAL's text
//! between quotes with exactly its scale's fraction digits (`"101.2500"`),
//! the same text as [`crate::decimal::format`], for values that fit 64 bits
//! ([`Decimals::put_wide`] for any). Both only append, into spare capacity
//! the caller has reserved ([`I64_ROOM`], [`DEC_ROOM`]): the JSON writer
//! reserves once a row, not once a value.
//!
//! The digits are stored where they end up, eight at a time from a
//! branch-free conversion (`eight_digits`). Writing them in place two at a
//! time from a table, as before, was no faster than writing them into a
//! scratch buffer and copying it (session 24 measured the same); the eight
//! at a time is what is faster (85 against 100 ns a row for the EMIT
//! CHANGES output shape, `bench/HISTORY.md`, session 29).

use strength_reduce::StrengthReducedU64;

use crate::decimal::{self, POW10_U64 as POW10};

/// The number of decimal digits of `n` (1 for 0).
#[inline(always)]
pub(super) fn digit_count(n: u64) -> usize {
    // The bit length times log10(2) is the digit count or one less; one
    // comparison with a power of ten tells which.
    // (`n | 1` counts zero as one digit and changes no other count: powers
    // of ten are even.)
    let m = n | 1;
    let bits = 64 - m.leading_zeros();
    let guess = ((bits * 1233) >> 12) as usize;
    guess + usize::from(m >= POW10[guess])
}

/// The eight digits of `x < 10^8` as ASCII bytes, the most significant in
/// the lowest byte, with no branch and no table: the number is split into
/// two four-digit halves in 32-bit lanes, each lane into two-digit halves
/// in 16-bit lanes, each of those into digits in bytes, every division by a
/// multiplication and a shift that is exact for the lane's range.
#[inline(always)]
fn eight_digits(x: u64) -> u64 {
    debug_assert!(x < 100_000_000);
    let high = x / 10_000;
    let merged = high | ((x - high * 10_000) << 32);
    // Each lane (< 10^4) divided by 100: lane * 10486 >> 20.
    let hundreds = ((merged * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let pairs = hundreds | ((merged - hundreds * 100) << 16);
    // Each 16-bit lane (< 100) divided by 10: lane * 103 >> 10.
    let tens = ((pairs * 103) >> 10) & 0x000F_000F_000F_000F;
    let digits = tens | ((pairs - tens * 10) << 8);
    digits | 0x3030_3030_3030_3030
}

/// Writes the last `count` (1..=8) of the eight digits of `x < 10^8` to
/// `dst[..count]`; the 8 bytes from `dst` are all written.
///
/// # Safety
/// `dst` must be valid for writes of 8 bytes.
#[inline(always)]
unsafe fn put_up_to_eight(dst: *mut u8, x: u64, count: usize) {
    debug_assert!((1..=8).contains(&count));
    let text = eight_digits(x) >> (8 * (8 - count));
    // SAFETY: the caller's promise; unaligned is fine for a byte buffer.
    unsafe { dst.cast::<u64>().write_unaligned(text.to_le()) };
}

/// Writes `n < 10^count` as exactly `count` (1..=20) digits, zero-padded on
/// the left, to `dst[..count]`; the bytes up to `dst + max(count, 8)` may be
/// written.
///
/// # Safety
/// `dst` must be valid for writes of `count.max(8)` bytes.
#[inline(always)]
unsafe fn put_digits(dst: *mut u8, n: u64, count: usize) {
    debug_assert!((1..=20).contains(&count));
    // SAFETY (all three arms): each eight-byte store starts at most
    // `count - 8` bytes in when `count > 8`, or at `dst` otherwise.
    unsafe {
        if count <= 8 {
            put_up_to_eight(dst, n, count);
        } else if count <= 16 {
            put_up_to_eight(dst, n / 100_000_000, count - 8);
            put_up_to_eight(dst.add(count - 8), n % 100_000_000, 8);
        } else {
            let rest = n % 10_000_000_000_000_000;
            put_up_to_eight(dst, n / 10_000_000_000_000_000, count - 16);
            put_up_to_eight(dst.add(count - 16), rest / 100_000_000, 8);
            put_up_to_eight(dst.add(count - 8), rest % 100_000_000, 8);
        }
    }
}

/// Spare capacity [`put_i64`] needs: a sign and 19 digits, and 8 bytes a
/// digit store may reach past them.
pub(super) const I64_ROOM: usize = 28;

/// Appends the decimal text of `v`.
///
/// # Safety
/// `out` must have at least [`I64_ROOM`] bytes of spare capacity.
#[inline(always)]
pub(super) unsafe fn put_i64(out: &mut Vec<u8>, v: i64) {
    debug_assert!(out.capacity() - out.len() >= I64_ROOM);
    let n = v.unsigned_abs();
    let sign = usize::from(v < 0);
    let digits = digit_count(n);
    let len = out.len();
    // SAFETY: the caller left at least 28 bytes after `len`: a sign, at
    // most 19 digits (`i64::MIN` has 19) and the 8 bytes `put_digits` may
    // store past them. Every byte up to the new length is written before
    // `set_len` covers it.
    unsafe {
        let p = out.as_mut_ptr().add(len);
        *p = b'-';
        put_digits(p.add(sign), n, digits);
        out.set_len(len + sign + digits);
    }
}

/// A DECIMAL column's scale, with `10^scale` ready to divide by.
pub(super) struct Decimals {
    scale: u8,
    /// `10^scale` when the scale is 1..=19: values that fit 64 bits are
    /// split at the point by it.
    unit: Option<StrengthReducedU64>,
}

/// Spare capacity [`Decimals::put`] needs: two quotes, a sign, 20 digits
/// and a point (a value below one has a leading zero and at most 19
/// others), and 8 bytes a digit store may reach past them.
pub(super) const DEC_ROOM: usize = 32;

impl Decimals {
    pub(super) fn new(scale: u8) -> Decimals {
        let unit = (1..=19)
            .contains(&scale)
            .then(|| StrengthReducedU64::new(POW10[scale as usize]));
        Decimals { scale, unit }
    }

    /// Appends the text of `v`, between quotes if `QUOTED`, and returns
    /// true when `v` fits 64 bits and the scale is at most 19; otherwise
    /// appends nothing and returns false (see [`Decimals::put_wide`]).
    ///
    /// # Safety
    /// `out` must have at least [`DEC_ROOM`] bytes of spare capacity.
    #[inline(always)]
    pub(super) unsafe fn put<const QUOTED: bool>(&self, out: &mut Vec<u8>, v: i128) -> bool {
        debug_assert!(out.capacity() - out.len() >= DEC_ROOM);
        let Ok(n) = u64::try_from(v.unsigned_abs()) else {
            return false;
        };
        let (int, frac) = match self.unit {
            Some(unit) => StrengthReducedU64::div_rem(n, unit),
            None if self.scale == 0 => (n, 0),
            None => return false,
        };
        let sign = usize::from(v < 0);
        let int_digits = digit_count(int);
        let scale = self.scale as usize;
        let point = usize::from(scale > 0);
        let quote = usize::from(QUOTED);
        let len = out.len();
        // SAFETY: the caller left at least 32 bytes after `len`. The text is
        // a quote, a sign, the integer part's digits, a point, `scale`
        // fraction digits and a quote. The digits are those of `n` (at most
        // 20) or, for a value below one, a zero and `scale <= 19` digits, so
        // the text takes at most 24 bytes, and a digit store reaches at most
        // 8 bytes past the digits it writes. Each byte of the text is
        // written, in order, before `set_len` covers it.
        unsafe {
            let p = out.as_mut_ptr().add(len);
            *p = b'"';
            let p = p.add(quote);
            *p = b'-';
            let p = p.add(sign);
            put_digits(p, int, int_digits);
            *p.add(int_digits) = b'.';
            if scale > 0 {
                put_digits(p.add(int_digits + 1), frac, scale);
            }
            *p.add(int_digits + point + scale) = b'"';
            out.set_len(len + 2 * quote + sign + int_digits + point + scale);
        }
        true
    }

    /// Appends the text of any value, between quotes if `quoted`, through
    /// the general text.
    #[cold]
    pub(super) fn put_wide(&self, out: &mut Vec<u8>, v: i128, quoted: bool) {
        let mut buf = [0u8; decimal::TEXT_MAX];
        let at = decimal::text_into(v, self.scale, &mut buf);
        let quote: &[u8] = if quoted { b"\"" } else { b"" };
        out.extend_from_slice(quote);
        out.extend_from_slice(&buf[at..]);
        out.extend_from_slice(quote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Digit counts, integer and DECIMAL texts against the standard
        /// library's formatting and the DECIMAL reference, around every
        /// power of ten as well as anywhere.
        #[test]
        fn number_text_matches_the_formatters(
            v in proptest::prop_oneof![
                proptest::num::i64::ANY,
                (0usize..19, -1i64..=1, proptest::bool::ANY)
                    .prop_map(|(e, d, neg)| {
                        let x = 10i64.pow(e as u32) + d;
                        if neg { -x } else { x }
                    }),
            ],
            wide in proptest::num::i128::ANY,
            scale in 0u8..=38,
        ) {
            let n = v.unsigned_abs();
            proptest::prop_assert_eq!(digit_count(n), n.to_string().len());
            let mut out = b"x".to_vec();
            out.reserve(I64_ROOM);
            // SAFETY: room reserved.
            unsafe { put_i64(&mut out, v) };
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), format!("x{v}"));
            let dec = Decimals::new(scale);
            for d in [v as i128, wide, i128::from(u64::MAX), -i128::from(u64::MAX)] {
                let fast = u64::try_from(d.unsigned_abs()).is_ok() && scale <= 19;
                let mut quoted = b"x".to_vec();
                let mut plain = b"x".to_vec();
                quoted.reserve(DEC_ROOM);
                plain.reserve(DEC_ROOM);
                // SAFETY: room reserved.
                unsafe {
                    proptest::prop_assert_eq!(dec.put::<true>(&mut quoted, d), fast);
                    proptest::prop_assert_eq!(dec.put::<false>(&mut plain, d), fast);
                }
                if !fast {
                    dec.put_wide(&mut quoted, d, true);
                    dec.put_wide(&mut plain, d, false);
                }
                let text = decimal::digits_text(d, scale);
                proptest::prop_assert_eq!(String::from_utf8(quoted).unwrap(), format!("x\"{text}\""));
                proptest::prop_assert_eq!(String::from_utf8(plain).unwrap(), format!("x{text}"));
            }
        }
    }

    #[test]
    fn the_extremes() {
        for v in [0, 1, -1, 9, 10, 99, 100, i64::MAX, i64::MIN] {
            let mut out = Vec::with_capacity(I64_ROOM);
            // SAFETY: room reserved.
            unsafe { put_i64(&mut out, v) };
            assert_eq!(out, v.to_string().as_bytes());
        }
        assert_eq!(digit_count(0), 1);
        assert_eq!(digit_count(u64::MAX), 20);
    }
}
