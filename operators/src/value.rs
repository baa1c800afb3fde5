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

fn push_digits(out: &mut String, v: u32, width: usize) {
    let mut buf = [b'0'; 4];
    let mut v = v;
    for i in (0..width).rev() {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.push_str(std::str::from_utf8(&buf[..width]).expect("ASCII digits"));
}

/// Appends the ISO-8601 text of `ms` to `out`.
pub fn write_timestamp(out: &mut String, ms: i64) {
    use std::fmt::Write;
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000) as u32;
    let (y, mo, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        push_digits(out, y as u32, 4);
        out.push('-');
        push_digits(out, mo, 2);
        out.push('-');
        push_digits(out, d, 2);
        out.push('T');
        push_digits(out, in_day / 3_600_000, 2);
        out.push(':');
        push_digits(out, in_day / 60_000 % 60, 2);
        out.push(':');
        push_digits(out, in_day / 1_000 % 60, 2);
        out.push('.');
        push_digits(out, in_day % 1_000, 3);
        out.push('Z');
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

/// Parses a boolean: `true/false`, `t/f`, `yes/no`, `1/0` (any case).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
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
