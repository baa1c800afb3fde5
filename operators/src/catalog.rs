//! Built-in streams and small shared parsers for stream options.
//!
//! `orders` and `market_data` exist without a `CREATE STREAM`: their schemas
//! are fixed here, and when no file is bound to them the built-in generator
//! feeds them.

use crate::plan::StreamDef;
use crate::types::{Column, SqlType};

/// Out-of-order bound of the generator's `market_data` timestamps, in ms.
pub const MARKET_DATA_DISORDER_MS: i64 = 2_000;

/// The hidden columns of a Kafka stream, after its declared ones: the
/// message's key, partition, offset and timestamp. `SELECT *` leaves them
/// out; name them to use them (`event_time = '_timestamp'`).
pub const KAFKA_HIDDEN: [(&str, SqlType); 4] = [
    ("_key", SqlType::Varchar),
    ("_partition", SqlType::BigInt),
    ("_offset", SqlType::BigInt),
    ("_timestamp", SqlType::Timestamp),
];

/// [`KAFKA_HIDDEN`] as columns.
pub fn kafka_hidden_columns() -> Vec<Column> {
    KAFKA_HIDDEN
        .iter()
        .map(|(n, t)| Column::new(*n, *t))
        .collect()
}

/// Whether `SELECT *` leaves a column out: internal ones (`__seq`) and
/// Kafka's message metadata.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with("__") || KAFKA_HIDDEN.iter().any(|(n, _)| *n == name)
}

/// The schema of a built-in stream, if `name` is one.
pub fn builtin_stream(name: &str) -> Option<StreamDef> {
    let name = name.to_ascii_lowercase();
    let (columns, lateness, event_time) = match name.as_str() {
        "orders" => (
            vec![
                Column::new("order_id", SqlType::BigInt),
                Column::new("customer_id", SqlType::BigInt),
                Column::new("order_date", SqlType::Varchar),
                Column::new("total_amount", SqlType::decimal(18, 2)),
            ],
            0,
            None,
        ),
        "market_data" => (
            vec![
                Column::new("symbol", SqlType::Varchar),
                Column::new("trader_id", SqlType::BigInt),
                Column::new("price", SqlType::decimal(18, 4)),
                Column::new("quantity", SqlType::BigInt),
                Column::new("timestamp", SqlType::Timestamp),
                Column::new("trade_time", SqlType::Timestamp),
            ],
            MARKET_DATA_DISORDER_MS,
            Some("timestamp".to_string()),
        ),
        _ => return None,
    };
    Some(StreamDef {
        name,
        columns,
        path: None,
        format: None,
        lateness_ms: lateness,
        event_time,
        kafka: None,
    })
}

/// Parses a duration: `5 seconds`, `5s`, `1m`, `1 MINUTE`, `250ms`, `2 hours`,
/// `1d`, or a bare number of milliseconds. Returns milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let t = text.trim().trim_matches('\'').trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.trim().parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" | "ms" | "millisecond" | "milliseconds" | "msec" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000.0,
        "h" | "hr" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        _ => return None,
    };
    let ms = num * factor;
    (ms.is_finite() && ms >= 0.0 && ms.fract() == 0.0 && ms < i64::MAX as f64).then_some(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("5 seconds"), Some(5_000));
        assert_eq!(parse_duration_ms("1m"), Some(60_000));
        assert_eq!(parse_duration_ms("1 MINUTE"), Some(60_000));
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("'2 hours'"), Some(7_200_000));
        assert_eq!(parse_duration_ms("1.5s"), Some(1_500));
        assert_eq!(parse_duration_ms("five"), None);
        assert_eq!(parse_duration_ms("3 fortnights"), None);
    }
}
