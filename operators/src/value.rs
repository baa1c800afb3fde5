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
    let fast = match ty {
        SqlType::BigInt => plain_int(bytes).map(Scalar::BigInt),
        SqlType::Decimal { precision, scale } => decimal::parse_plain(bytes, scale)
            .filter(|v| decimal::fits(*v, precision))
            .map(|v| Scalar::Decimal(v, scale)),
        SqlType::Timestamp => parse_canonical(bytes).map(Scalar::Timestamp),
        _ => None,
    };
    if let Some(v) = fast {
        return Ok(v);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())?;
    parse_text(text, ty)
}

/// An optional sign and 1 to 18 digits (which cannot overflow); `None` for
/// anything else.
fn plain_int(b: &[u8]) -> Option<i64> {
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// chrono's reading of a text (the reference for the canonical form).
    fn chrono_ms(t: &str) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|d| d.timestamp_millis())
    }

    proptest! {
        /// Every time of years 0..=9999 written and read back is itself, and
        /// the text is what chrono writes and reads.
        #[test]
        fn canonical_text_round_trips(ms in -62_167_219_200_000i64..253_402_300_800_000) {
            let t = timestamp_text(ms).expect("year in range");
            let t = std::str::from_utf8(&t).unwrap();
            prop_assert_eq!(parse_timestamp(t), Some(ms));
            prop_assert_eq!(chrono_ms(t), Some(ms));
            let dt = chrono::DateTime::from_timestamp_millis(ms).unwrap();
            prop_assert_eq!(t, dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        }

        /// Texts of the canonical shape with any field values (impossible
        /// dates, hours, minutes) are read as chrono reads them.
        #[test]
        fn canonical_shape_reads_like_chrono(
            y in 0u32..10_000, mo in 0u32..14, d in 0u32..33,
            h in 0u32..26, mi in 0u32..62, s in 0u32..62, milli in 0u32..1000,
        ) {
            let t = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z");
            // chrono reads a leap second (:60) into the next minute; the
            // fast path leaves it to chrono, so both agree by construction.
            prop_assert_eq!(parse_timestamp(&t), chrono_ms(&t), "{}", t);
        }
    }

    /// The canonical form read a byte at a time (the reference for the
    /// word-at-a-time check).
    fn canonical_bytewise(t: &[u8]) -> Option<i64> {
        let t: &[u8; 24] = t.try_into().ok()?;
        let shape = b"0000-00-00T00:00:00.000Z";
        let mut num = Vec::new();
        let mut cur: Option<u32> = None;
        for (b, s) in t.iter().zip(shape) {
            if *s == b'0' {
                if !b.is_ascii_digit() {
                    return None;
                }
                cur = Some(cur.unwrap_or(0) * 10 + (b - b'0') as u32);
            } else {
                if b != s {
                    return None;
                }
                num.extend(cur.take());
            }
        }
        let [y, mo, d, h, mi, sec, milli] = num[..] else {
            unreachable!("seven fields")
        };
        let date = chrono::NaiveDate::from_ymd_opt(y as i32, mo, d)?;
        let time = chrono::NaiveTime::from_hms_milli_opt(h, mi, sec, milli)?;
        Some(date.and_time(time).and_utc().timestamp_millis())
    }

    proptest! {
        /// Canonical texts with one byte changed to any byte (digits,
        /// separators, high bytes) are read as the byte-at-a-time reading
        /// reads them.
        #[test]
        fn canonical_check_matches_bytewise(
            ms in -62_167_219_200_000i64..253_402_300_800_000,
            at in 0usize..24,
            byte in prop_oneof![
                proptest::num::u8::ANY,
                // Either side of the digits and of the lane arithmetic.
                proptest::sample::select(vec![
                    b'/', b':', b'0', b'9', b'-', b'T', b'.', b'Z', b' ', 0x7f, 0x80, 0xaf, 0xb0,
                    0xb9, 0xba, 0xff,
                ]),
            ],
        ) {
            let mut t = timestamp_text(ms).unwrap();
            prop_assert_eq!(parse_canonical(&t), Some(ms));
            t[at] = byte;
            prop_assert_eq!(parse_canonical(&t), canonical_bytewise(&t), "{:?}", t);
        }
    }

    #[test]
    fn canonical_calendar_edges_read_like_chrono() {
        for t in [
            "1900-02-29T00:00:00.000Z",
            "2000-02-29T12:00:00.000Z",
            "2023-02-29T00:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "2024-04-31T00:00:00.000Z",
            "2024-13-01T00:00:00.000Z",
            "2024-01-15T24:00:00.000Z",
            "0000-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            assert_eq!(parse_timestamp(t), chrono_ms(t), "{t}");
        }
        assert!(parse_timestamp("1900-02-29T00:00:00.000Z").is_none());
        assert!(parse_timestamp("2000-02-29T12:00:00.000Z").is_some());
    }

    #[test]
    fn timestamps_round_trip() {
        let ms = parse_timestamp("2024-01-15T10:01:00.000Z").unwrap();
        assert_eq!(format_timestamp(ms), "2024-01-15T10:01:00.000Z");
        assert_eq!(parse_timestamp("2024-01-15 10:01:00"), Some(ms));
        assert_eq!(parse_timestamp("2024-01-15T11:01:00+01:00"), Some(ms));
        assert_eq!(parse_timestamp(&ms.to_string()), Some(ms));
        assert_eq!(parse_timestamp("2024-01-15T10:01:00.123Z"), Some(ms + 123));
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn fast_timestamp_text_matches_chrono() {
        let mut x: i64 = 0x1234_5678;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Years 1 to 9999, either side of the epoch, leap days included.
            let ms = (x >> 1).rem_euclid(315_537_897_600_000) - 62_135_596_800_000;
            let want = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(format_timestamp(ms), want, "{ms}");
        }
        assert_eq!(
            format_timestamp(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999Z");
    }

    proptest! {
        /// Field bytes read as their text reads: the fast shapes and the
        /// fallback (spaces, exponents, extra fraction digits, overflow,
        /// junk) alike, errors included.
        #[test]
        fn parse_field_reads_as_parse_text(
            text in "[-+]?[0-9]{0,21}(\\.[0-9]{0,8})?|[ 0-9eE.+x-]{0,12}",
            ts in -62_167_219_200_000i64..253_402_300_800_000,
        ) {
            let types = [
                SqlType::BigInt,
                SqlType::decimal(18, 4),
                SqlType::decimal(5, 2),
                SqlType::decimal(38, 0),
                SqlType::decimal(38, 30),
                SqlType::Timestamp,
            ];
            let stamp = std::str::from_utf8(&timestamp_text(ts).unwrap()).unwrap().to_string();
            for t in [text.as_str(), stamp.as_str(), &stamp[..23], &format!(" {stamp}")] {
                for ty in types {
                    prop_assert_eq!(parse_field(t.as_bytes(), ty), parse_text(t, ty), "{:?} {}", t, ty);
                }
            }
        }
    }

    #[test]
    fn parse_field_rejects_what_parse_text_rejects() {
        for (bytes, ty) in [
            (&b"\xff1"[..], SqlType::BigInt),
            (b"", SqlType::BigInt),
            (b"-", SqlType::decimal(18, 4)),
            (b".", SqlType::decimal(18, 4)),
            (b"1.2.3", SqlType::decimal(18, 4)),
            (b"999999999999999999", SqlType::decimal(5, 2)),
            (b"9223372036854775808", SqlType::BigInt),
        ] {
            assert!(parse_field(bytes, ty).is_err(), "{bytes:?}");
        }
        assert_eq!(
            parse_field(b"-12.5", SqlType::decimal(18, 4)),
            Ok(Scalar::Decimal(-125_000, 4))
        );
        assert_eq!(parse_field(b"+7", SqlType::BigInt), Ok(Scalar::BigInt(7)));
    }

    #[test]
    fn parse_text_by_type() {
        assert_eq!(
            parse_text("12.5", SqlType::decimal(18, 2)),
            Ok(Scalar::Decimal(1250, 2))
        );
        assert!(parse_text("1234", SqlType::decimal(3, 0)).is_err());
        assert!(parse_text("x", SqlType::BigInt)
            .unwrap_err()
            .contains("BIGINT"));
        assert_eq!(
            parse_text("TRUE", SqlType::Boolean),
            Ok(Scalar::Boolean(true))
        );
    }
}
