//! DECIMAL values as text: exactly `scale` fraction digits (`"101.2500"`),
//! written right-aligned into a fixed buffer without the formatting
//! machinery, two digits at a time for values that fit 64 bits.

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
pub(crate) const POW10_U64: [u64; 20] = {
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
