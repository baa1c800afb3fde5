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

/// Appends the ISO-8601 text of `ms` to `out`.
pub fn write_timestamp(out: &mut String, ms: i64) {
    use std::fmt::Write;
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
