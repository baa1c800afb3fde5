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

proptest! {
    /// A run of canonical times read through one [`CanonicalTimes`] (so
    /// most share the minute of the one before) reads as each read alone:
    /// times drawn within a few minutes of each other, some with a byte
    /// changed (in the shared minute or in the seconds; often to a digit,
    /// so seconds past 59 come up).
    #[test]
    fn remembered_minutes_read_as_each_time_alone(
        base in 0i64..4_000_000_000_000,
        steps in proptest::collection::vec(
            (
                0i64..90_000,
                proptest::option::of((
                    0usize..24,
                    prop_oneof![proptest::num::u8::ANY, b'0'..=b'9'],
                )),
            ),
            1..40,
        ),
    ) {
        let mut times = CanonicalTimes::default();
        let mut ms = base;
        for (step, change) in steps {
            ms += step;
            let mut t = timestamp_text(ms).unwrap();
            if let Some((at, byte)) = change {
                t[at] = byte;
            }
            prop_assert_eq!(times.parse(&t), parse_canonical(&t), "{:?}", t);
        }
    }
}
