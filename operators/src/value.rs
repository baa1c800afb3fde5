//! Scalar values and the text forms of every SQL type.
//!
//! Text parsing is shared by the CSV/JSON readers and by `CAST(varchar AS ..)`,
//! so a value means the same thing wherever it is read.

use std::fmt;

use crate::decimal;
use crate::types::SqlType;

/// One typed SQL value (a literal, or a value read from text).
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Null,
    BigInt(i64),
    Double(f64),
    /// Scaled integer and its scale.
    Decimal(i128, u8),
    Varchar(String),
    Boolean(bool),
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp(i64),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => write!(f, "NULL"),
            Scalar::BigInt(v) => write!(f, "{v}"),
            Scalar::Double(v) => write!(f, "{v:?}"),
            Scalar::Decimal(v, s) => write!(f, "{}", decimal::format(*v, *s)),
            Scalar::Varchar(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Scalar::Boolean(b) => write!(f, "{}", if *b { "TRUE" } else { "FALSE" }),
            Scalar::Timestamp(ms) => write!(f, "TIMESTAMP '{}'", format_timestamp(*ms)),
        }
    }
}

/// Formats epoch milliseconds as ISO-8601 UTC with milliseconds:
/// `2024-01-15T10:01:00.000Z`.
pub fn format_timestamp(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    write_timestamp(&mut s, ms);
    s
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian;
/// H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// Writes `v` as `width` decimal digits (zero-padded) into `out`.
#[inline(always)]
fn put_digits(out: &mut [u8], v: u32) {
    let mut v = v;
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// The ISO-8601 text of `ms` (`2024-01-15T10:01:00.000Z`) when its year is
/// in 0..=9999 — every such text has exactly 24 bytes.
#[inline]
pub fn timestamp_text(ms: i64) -> Option<[u8; 24]> {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000) as u32;
    let (y, mo, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let mut t = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut t[0..4], y as u32);
    put_digits(&mut t[5..7], mo);
    put_digits(&mut t[8..10], d);
    put_digits(&mut t[11..13], in_day / 3_600_000);
    put_digits(&mut t[14..16], in_day / 60_000 % 60);
    put_digits(&mut t[17..19], in_day / 1_000 % 60);
    put_digits(&mut t[20..23], in_day % 1_000);
    Some(t)
}

/// Appends the ISO-8601 text of `ms` to `out` (years outside 0..=9999 as
/// chrono writes them; beyond chrono's range, the milliseconds).
pub fn write_timestamp(out: &mut String, ms: i64) {
    use std::fmt::Write;
    if let Some(t) = timestamp_text(ms) {
        out.push_str(std::str::from_utf8(&t).expect("ASCII"));
        return;
    }
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(dt) => {
            let _ = write!(out, "{}", dt.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        }
        None => {
            let _ = write!(out, "{ms}");
        }
    }
}

/// Parses a timestamp: ISO-8601 / RFC 3339 (`2024-01-15T10:01:00.000Z`,
/// `2024-01-15 10:01:00`, with or without offset; no offset means UTC), a
/// bare date, or integer epoch milliseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit())
        || (t.starts_with('-') && t.len() > 1 && t[1..].bytes().all(|b| b.is_ascii_digit()))
    {
        return t.parse::<i64>().ok();
    }
    if let Some(ms) = parse_canonical(t.as_bytes()) {
        return Some(ms);
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
    ] {
        if let Ok(dt) = chrono::DateTime::parse_from_str(t, fmt) {
            return Some(dt.timestamp_millis());
        }
    }
    let naive = t.strip_suffix('Z').unwrap_or(t);
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(naive, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    None
}

/// The form percore writes (`2024-01-15T10:01:00.000Z`, see
/// [`timestamp_text`]), read without chrono; `None` for anything else or an
/// impossible date or time (chrono then decides).
fn parse_canonical(t: &[u8]) -> Option<i64> {
    let t: &[u8; 24] = t.try_into().ok()?;
    // The 24 bytes as three words, checked a word at a time: digit lanes
    // must hold '0'..='9' (`b + 0x46` and `b - 0x30` both below 0x80; a
    // bad lane may carry or borrow into the next, but is caught itself),
    // separator lanes must equal the shape's bytes.
    let mut bad = 0u64;
    let mut v = [0u64; 3];
    for (k, m) in CANONICAL.iter().enumerate() {
        let w = u64::from_le_bytes(t[8 * k..8 * k + 8].try_into().expect("8 bytes"));
        bad |= ((w.wrapping_add(m.add) | w.wrapping_sub(m.sub)) & m.high) | ((w ^ m.shape) & m.sep);
        v[k] = w.wrapping_sub(m.sub);
    }
    if bad != 0 {
        return None;
    }
    let d = |i: usize| ((v[i / 8] >> (8 * (i % 8))) & 0xff) as u32;
    let two = |i: usize| d(i) * 10 + d(i + 1);
    let y = two(0) * 100 + two(2);
    let (mo, day, h, mi, sec) = (two(5), two(8), two(11), two(14), two(17));
    let milli = d(20) * 100 + two(21);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let valid = (1..=12).contains(&mo)
        && day >= 1
        && day <= MONTH_DAYS[(mo as usize).clamp(1, 12) - 1] + (leap && mo == 2) as u32
        && h < 24
        && mi < 60
        && sec < 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(y as i64, mo, day);
    Some(days * 86_400_000 + (h * 3_600_000 + mi * 60_000 + sec * 1_000 + milli) as i64)
}

/// Canonical timestamps read with the minute of the last one remembered:
/// text whose first 16 bytes (`YYYY-MM-DDTHH:MM`) are those of the last
/// text read in full is checked and read from its last 8 (`:SS.mmmZ`)
/// only. Reads what [`parse_canonical`] reads, as it reads it: a file's
/// consecutive times mostly share their minute.
#[derive(Clone, Debug, Default)]
pub(crate) struct CanonicalTimes {
    /// The last full read's first 16 bytes, and its minute in ms.
    minute: Option<([u8; 16], i64)>,
}

impl CanonicalTimes {
    #[inline]
    pub(crate) fn parse(&mut self, b: &[u8]) -> Option<i64> {
        let t: &[u8; 24] = b.try_into().ok()?;
        let (head, tail) = t.split_at(16);
        if let Some((prefix, minute_ms)) = &self.minute {
            if head == prefix {
                return seconds(tail).map(|ms| minute_ms + ms);
            }
        }
        let v = parse_canonical(t)?;
        let head: [u8; 16] = head.try_into().expect("16 bytes");
        self.minute = Some((head, v - v.rem_euclid(60_000)));
        Some(v)
    }
}

/// `:SS.mmmZ` (the canonical shape's last word) as milliseconds past the
/// minute, checked as [`parse_canonical`] checks that word.
#[inline(always)]
fn seconds(tail: &[u8]) -> Option<i64> {
    let w = u64::from_le_bytes(tail.try_into().ok()?);
    let m = &CANONICAL[2];
    let bad = ((w.wrapping_add(m.add) | w.wrapping_sub(m.sub)) & m.high) | ((w ^ m.shape) & m.sep);
    if bad != 0 {
        return None;
    }
    let v = w.wrapping_sub(m.sub);
    let d = |i: usize| ((v >> (8 * i)) & 0xff) as i64;
    let sec = d(1) * 10 + d(2);
    (sec < 60).then(|| sec * 1_000 + d(4) * 100 + d(5) * 10 + d(6))
}

/// Lane masks of one 8-byte word of the canonical timestamp shape.
struct Lanes {
    /// 0x30 in digit lanes (subtracted: the digit's value).
    sub: u64,
    /// 0x46 in digit lanes (added: a byte above '9' reaches 0x80).
    add: u64,
    /// 0x80 in digit lanes.
    high: u64,
    /// 0xff in separator lanes, and the separators' bytes there.
    sep: u64,
    shape: u64,
}

/// [`Lanes`] of the three words of `0000-00-00T00:00:00.000Z`.
const CANONICAL: [Lanes; 3] = {
    const SHAPE: &[u8; 24] = b"0000-00-00T00:00:00.000Z";
    let mut out = [const {
        Lanes {
            sub: 0,
            add: 0,
            high: 0,
            sep: 0,
            shape: 0,
        }
    }; 3];
    let mut i = 0;
    while i < 24 {
        let (k, shift) = (i / 8, 8 * (i % 8));
        if SHAPE[i] == b'0' {
            out[k].sub |= 0x30 << shift;
            out[k].add |= 0x46 << shift;
            out[k].high |= 0x80 << shift;
        } else {
            out[k].sep |= 0xff << shift;
            out[k].shape |= (SHAPE[i] as u64) << shift;
        }
        i += 1;
    }
    out
};

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`, the inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a boolean: `true/false`, `t/f`, `yes/no`, `1/0` (any case).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Parses the bytes of a text field as a value of type `ty`, as
/// [`parse_text`] reads their text: the shapes a file most often holds — a
/// plain integer, a decimal with at most its scale's fraction digits, the
/// canonical timestamp — straight from the bytes (no UTF-8 check, no trim);
/// anything else, and every error, through [`parse_text`].
pub fn parse_field(bytes: &[u8], ty: SqlType) -> Result<Scalar, String> {
    match ty {
        SqlType::BigInt => parse_int_field(bytes, ty).map(Scalar::BigInt),
        SqlType::Timestamp => parse_int_field(bytes, ty).map(Scalar::Timestamp),
        SqlType::Decimal { precision, scale } => {
            parse_decimal_field(bytes, precision, scale).map(|v| Scalar::Decimal(v, scale))
        }
        _ => parse_text(field_text(bytes)?, ty),
    }
}

/// [`parse_field`] for a BIGINT or TIMESTAMP (`ty`): the integer or the
/// milliseconds, in a register rather than a [`Scalar`].
#[inline]
pub fn parse_int_field(bytes: &[u8], ty: SqlType) -> Result<i64, String> {
    let fast = match ty {
        SqlType::BigInt => plain_int(bytes),
        SqlType::Timestamp => parse_canonical(bytes),
        _ => panic!("parse_int_field of a {ty} field"),
    };
    match fast {
        Some(v) => Ok(v),
        None => match parse_text(field_text(bytes)?, ty)? {
            Scalar::BigInt(v) | Scalar::Timestamp(v) => Ok(v),
            v => unreachable!("{ty} text parsed as {v:?}"),
        },
    }
}

/// [`parse_field`] for a DECIMAL(`precision`, `scale`): the scaled
/// integer, in registers rather than a [`Scalar`].
#[inline]
pub fn parse_decimal_field(bytes: &[u8], precision: u8, scale: u8) -> Result<i128, String> {
    let fast = decimal::parse_plain(bytes, scale).filter(|v| decimal::fits(*v, precision));
    match fast {
        Some(v) => Ok(v),
        None => match parse_text(field_text(bytes)?, SqlType::Decimal { precision, scale })? {
            Scalar::Decimal(v, _) => Ok(v),
            v => unreachable!("DECIMAL text parsed as {v:?}"),
        },
    }
}

/// A field's bytes as text, for the slow paths.
fn field_text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())
}

/// An optional sign and 1 to 18 digits (which cannot overflow); `None` for
/// anything else ([`parse_int_field`] then reads it the general way).
#[inline(always)]
pub(crate) fn plain_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = decimal::split_sign(b)?;
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as i64;
    }
    Some(if neg { -v } else { v })
}

/// Parses `text` as a value of type `ty`; the error says what was expected.
pub fn parse_text(text: &str, ty: SqlType) -> Result<Scalar, String> {
    let t = text.trim();
    Ok(match ty {
        SqlType::BigInt => Scalar::BigInt(
            t.parse::<i64>()
                .map_err(|_| format!("expected BIGINT, found {text:?}"))?,
        ),
        SqlType::Double => Scalar::Double(
            t.parse::<f64>()
                .map_err(|_| format!("expected DOUBLE, found {text:?}"))?,
        ),
        SqlType::Decimal { precision, scale } => {
            let v = decimal::parse(t, scale).map_err(|e| match e {
                decimal::ParseError::Invalid => format!("expected {ty}, found {text:?}"),
                decimal::ParseError::Overflow => format!("{text:?} does not fit {ty}"),
            })?;
            if !decimal::fits(v, precision) {
                return Err(format!("{text:?} does not fit {ty}"));
            }
            Scalar::Decimal(v, scale)
        }
        SqlType::Varchar => Scalar::Varchar(text.to_string()),
        SqlType::Boolean => Scalar::Boolean(
            parse_bool(t).ok_or_else(|| format!("expected BOOLEAN, found {text:?}"))?,
        ),
        SqlType::Timestamp => Scalar::Timestamp(parse_timestamp(t).ok_or_else(|| {
            format!("expected TIMESTAMP (ISO-8601 or epoch milliseconds), found {text:?}")
        })?),
    })
}

#[cfg(test)]
mod tests;
