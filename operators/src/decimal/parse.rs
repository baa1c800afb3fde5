//! DECIMAL values from text: the common plain shape straight from the
//! bytes ([`parse_plain`]), anything else — exponents, rounding of extra
//! fraction digits, overflow — through [`parse`].

use super::{div_round, p10};

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
