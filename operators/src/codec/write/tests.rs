use super::*;
use std::sync::Arc;

proptest::proptest! {
    /// Every row comes back from its JSON line with the values that went
    /// in: integers, DECIMALs of any width (quoted, exactly their scale's
    /// digits, checked against the integer's own digits), times (years outside 0..=9999 too), booleans, doubles,
    /// NULLs, and keys of any length.
    #[test]
    fn rows_come_back_from_the_json(
        rows in proptest::collection::vec(
            (
                proptest::option::of(proptest::num::i64::ANY),
                proptest::option::of(proptest::num::i128::ANY),
                -1_000_000_000_000i128..1_000_000_000_000,
                proptest::option::of(proptest::prop_oneof![
                    -300_000_000_000_000i64..300_000_000_000_000,
                    // Repeats (window bounds): the last time's text is reused.
                    0i64..3,
                ]),
                proptest::option::of(proptest::bool::ANY),
                -1e12f64..1e12,
            ),
            0..40,
        ),
        scale in 0u8..=38,
    ) {
        use arrow_array::{BooleanArray, Decimal128Array, Float64Array, Int64Array, TimestampMillisecondArray};
        let narrow = 4u8;
        let a = rows.iter().map(|r| r.0).collect::<Int64Array>();
        let d = rows.iter().map(|r| r.1).collect::<Decimal128Array>().with_precision_and_scale(38, scale as i8).unwrap();
        let n = rows.iter().map(|r| Some(r.2)).collect::<Decimal128Array>().with_precision_and_scale(18, narrow as i8).unwrap();
        let t = rows.iter().map(|r| r.3).collect::<TimestampMillisecondArray>();
        let b = rows.iter().map(|r| r.4).collect::<BooleanArray>();
        let f = rows.iter().map(|r| Some(r.5)).collect::<Float64Array>();
        let long_key = "k".repeat(40);
        let batch = RecordBatch::try_from_iter([
            ("a", Arc::new(a) as arrow_array::ArrayRef),
            ("wide_decimal", Arc::new(d) as _),
            ("n", Arc::new(n) as _),
            (long_key.as_str(), Arc::new(t) as _),
            ("b", Arc::new(b) as _),
            ("f", Arc::new(f) as _),
        ]).unwrap();
        let mut out = Vec::new();
        write_jsonl(&batch, &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        proptest::prop_assert_eq!(lines.len(), rows.len());
        for (line, r) in lines.iter().zip(&rows) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            proptest::prop_assert_eq!(&v["a"], &r.0.map_or(serde_json::Value::Null, |x| x.into()));
            let want = r.1.map_or(serde_json::Value::Null, |x| decimal::digits_text(x, scale).into());
            proptest::prop_assert_eq!(&v["wide_decimal"], &want);
            proptest::prop_assert_eq!(&v["n"], &serde_json::Value::from(decimal::digits_text(r.2, narrow)));
            let want = r.3.map_or(serde_json::Value::Null, |ms| {
                let mut s = String::new();
                write_timestamp(&mut s, ms);
                s.into()
            });
            proptest::prop_assert_eq!(&v[long_key.as_str()], &want);
            proptest::prop_assert_eq!(&v["b"], &r.4.map_or(serde_json::Value::Null, |x| x.into()));
            proptest::prop_assert_eq!(v["f"].as_f64(), Some(r.5));
        }
    }
}

#[test]
fn strings_come_back_from_the_json_as_they_went_in() {
    let texts = [
        "AAPL",
        "",
        "say \"hi\"",
        "back\\slash",
        "tab\there",
        "line\nbreak",
        "\u{1}",
        "é→✓",
        "a/b",
    ];
    let batch = RecordBatch::try_from_iter([(
        "s",
        Arc::new(arrow_array::StringArray::from(texts.to_vec())) as arrow_array::ArrayRef,
    )])
    .unwrap();
    let mut out = Vec::new();
    write_jsonl(&batch, &mut out);
    let got: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["s"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(got, texts);
}

/// The CSV text of a batch as the `csv` crate's default writer gives it for
/// each value's [`value_text`] (NULL empty): the reference for
/// [`write_csv_rows`].
fn csv_crate_rows(batch: &RecordBatch) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let types = types_of(batch);
    for i in 0..batch.num_rows() {
        for (col, ty) in batch.columns().iter().zip(&types) {
            w.write_field(value_text(col.as_ref(), *ty, i).unwrap_or_default())
                .unwrap();
        }
        w.write_record(None::<&[u8]>).unwrap();
    }
    w.into_inner().unwrap()
}

proptest::proptest! {
    /// CSV rows, byte for byte those of the `csv` crate: every type, NULLs,
    /// wide DECIMALs, times outside the four-digit years, doubles, and text
    /// that needs quotes (commas, quotes, line breaks) or not; and a
    /// one-column batch, whose empty records are written as `""`.
    #[test]
    fn csv_rows_are_the_csv_crates(
        rows in proptest::collection::vec(
            (
                proptest::option::of(proptest::num::i64::ANY),
                proptest::option::of(proptest::num::i128::ANY),
                proptest::option::of(-1_000_000_000_000i128..1_000_000_000_000),
                proptest::option::of(-300_000_000_000_000i64..300_000_000_000_000),
                proptest::option::of(proptest::bool::ANY),
                proptest::option::of(-1e12f64..1e12),
                proptest::option::of("[a-c,\"\r\n é]{0,6}"),
            ),
            0..40,
        ),
        scale in 0u8..=38,
    ) {
        use arrow_array::{BooleanArray, Decimal128Array, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
        let a = rows.iter().map(|r| r.0).collect::<Int64Array>();
        let d = rows.iter().map(|r| r.1).collect::<Decimal128Array>().with_precision_and_scale(38, scale as i8).unwrap();
        let n = rows.iter().map(|r| r.2).collect::<Decimal128Array>().with_precision_and_scale(18, 4).unwrap();
        let t = rows.iter().map(|r| r.3).collect::<TimestampMillisecondArray>();
        let b = rows.iter().map(|r| r.4).collect::<BooleanArray>();
        let f = rows.iter().map(|r| r.5).collect::<Float64Array>();
        let s = rows.iter().map(|r| r.6.clone()).collect::<StringArray>();
        let batch = RecordBatch::try_from_iter([
            ("a", Arc::new(a) as arrow_array::ArrayRef),
            ("d", Arc::new(d) as _),
            ("n", Arc::new(n) as _),
            ("t", Arc::new(t) as _),
            ("b", Arc::new(b) as _),
            ("f", Arc::new(f) as _),
            ("s", Arc::new(s) as _),
        ]).unwrap();
        let mut out = b"before\n".to_vec();
        write_csv_rows(&batch, &mut out);
        let mut want = b"before\n".to_vec();
        want.extend(csv_crate_rows(&batch));
        proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(want).unwrap());
        for c in 0..batch.num_columns() {
            let one = batch.project(&[c]).unwrap();
            let mut out = Vec::new();
            write_csv_rows(&one, &mut out);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(csv_crate_rows(&one)).unwrap());
        }
    }
}
