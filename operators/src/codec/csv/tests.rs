use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use proptest::prelude::*;

fn read(text: &str, only: Option<&[usize]>) -> Result<Vec<RecordBatch>> {
    let columns = [
        Column::new("a", SqlType::BigInt),
        Column::new("s", SqlType::Varchar),
        Column::new("b", SqlType::BigInt),
    ];
    let r = CsvReader::new("t.csv", text.as_bytes(), &columns, 2, OnError::Fail)?;
    let mut r = match only {
        Some(cols) => r.reading_only(cols),
        None => r,
    };
    std::iter::from_fn(|| r.next_batch().transpose()).collect()
}

#[test]
fn columns_left_unread_are_null_and_never_parsed() {
    let text = "b,s,a\n1,x,10\nnot a number,y,20\n3,z,\n";
    // Every column read: the bad BIGINT is an error naming its row and column.
    let err = read(text, None).unwrap_err().to_string();
    assert!(err.contains("row 2") && err.contains("column `b`"), "{err}");
    // Only `a`: the same values of `a`, the others NULL, no error.
    let only_a = read(text, Some(&[0])).unwrap();
    let a: Vec<Option<i64>> = only_a
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<Int64Type>()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(a, vec![Some(10), Some(20), None]);
    for b in &only_a {
        assert_eq!(b.column(1).null_count(), b.num_rows());
        assert_eq!(b.column(2).null_count(), b.num_rows());
    }
    // A row still needs a field for every column, read or not.
    let err = read("b,s,a\n1,x\n", Some(&[0])).unwrap_err().to_string();
    assert!(err.contains("fewer than the header"), "{err}");
}

/// Everything a reader gave for a text: each batch with its rows' positions,
/// the error it stopped with (as the user reads it), and rows skipped.
type Outcome = (Vec<(RecordBatch, Vec<i64>)>, Option<String>, u64);

fn by_csv_crate(text: &str, columns: &[Column], read: Option<&[usize]>, skip: bool) -> Outcome {
    let on_error = if skip { OnError::Skip } else { OnError::Fail };
    let index = (0..columns.len()).rev().collect();
    let r = CsvReader::headerless("t.csv", text.as_bytes(), columns, index, 3, on_error);
    let r = match read {
        Some(cols) => r.reading_only(cols),
        None => r,
    };
    let (next, positions) = (CsvReader::next_batch, CsvReader::positions);
    outcome(r, next, positions, CsvReader::malformed_rows)
}

fn by_lines(text: &str, columns: &[Column], read: Option<&[usize]>, skip: bool) -> Outcome {
    let on_error = if skip { OnError::Skip } else { OnError::Fail };
    let index = (0..columns.len()).rev().collect();
    let r = CsvLines::new("t.csv", text.as_bytes(), columns, index, 3, on_error);
    let r = match read {
        Some(cols) => r.reading_only(cols),
        None => r,
    };
    let (next, positions) = (CsvLines::next_batch, CsvLines::positions);
    outcome(r, next, positions, CsvLines::malformed_rows)
}

/// Reads `r` to its end or its first error, through its `next_batch`,
/// `positions` and `malformed_rows`.
fn outcome<R>(
    mut r: R,
    next: impl Fn(&mut R) -> Result<Option<RecordBatch>>,
    positions: impl for<'a> Fn(&'a R) -> &'a [i64],
    malformed: impl Fn(&R) -> u64,
) -> Outcome {
    let mut batches = Vec::new();
    loop {
        match next(&mut r) {
            Ok(Some(b)) => batches.push((b, positions(&r).to_vec())),
            Ok(None) => return (batches, None, malformed(&r)),
            Err(e) => return (batches, Some(e.to_string()), malformed(&r)),
        }
    }
}

/// The csv crate's outcome with each row placed where its own text starts:
/// for a row after empty lines, the crate gives the byte and line where
/// those empty lines start; the splitter gives the row's own.
fn physical((batches, error, skipped): Outcome, text: &str) -> Outcome {
    let own = |p: i64| {
        p + text[p as usize..]
            .bytes()
            .take_while(|b| *b == b'\n')
            .count() as i64
    };
    let batches = batches
        .into_iter()
        .map(|(b, pos)| (b, pos.into_iter().map(own).collect()))
        .collect();
    // "row R (line L)": L becomes the line of the R-th line that is not empty.
    let error = error.map(|e| {
        let Some((head, rest)) = e.split_once("row ") else {
            return e;
        };
        let (row, rest) = rest.split_once(" (line ").expect("a row's line");
        let (_, rest) = rest.split_once(')').expect("a row's line");
        let r: usize = row.parse().expect("a row number");
        let line = text
            .split('\n')
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .nth(r - 1)
            .expect("row r")
            .0
            + 1;
        format!("{head}row {row} (line {line}){rest}")
    });
    (batches, error, skipped)
}

proptest::proptest! {
    /// On text without quotes or carriage returns, the line splitter gives
    /// what the csv crate's reader gives: the same batches, row positions,
    /// first error (row, line, column and message) and skipped rows — but
    /// for a row after empty lines, whose own line and byte it gives
    /// ([`physical`]). Lines
    /// are drawn with empty ones, missing and extra fields, empty fields,
    /// malformed numbers and times, spaces and non-ASCII text; the last
    /// line with or without its newline.
    #[test]
    fn the_line_splitter_reads_what_the_csv_crate_reads(
        lines in proptest::collection::vec(
            proptest::collection::vec(
                proptest::prop_oneof![
                    4 => (-99_999i64..99_999).prop_map(|v| v.to_string()),
                    2 => (-9_999_999i64..9_999_999).prop_map(|v| format!("{}.{:02}", v / 100, (v % 100).abs())),
                    2 => (0u32..86_400).prop_map(|s| format!("2024-01-15T{:02}:{:02}:{:02}.123Z", s / 3600, s / 60 % 60, s % 60)),
                    1 => proptest::strategy::Just(String::new()),
                    1 => "[a-z é]{0,6}",
                    1 => proptest::strategy::Just("1.2.3".to_string()),
                ],
                0..6,
            ),
            0..12,
        ),
        final_newline in proptest::bool::ANY,
        skip in proptest::bool::ANY,
        only_some in proptest::bool::ANY,
    ) {
        let mut text = lines.iter().map(|f| f.join(",")).collect::<Vec<_>>().join("\n");
        if final_newline {
            text.push('\n');
        }
        prop_assume!(CsvLines::applies(text.as_bytes()));
        let columns = [
            Column::new("t", SqlType::Timestamp),
            Column::new("s", SqlType::Varchar),
            Column::new("d", SqlType::Decimal { precision: 9, scale: 2 }),
            Column::new("n", SqlType::BigInt),
        ];
        let read: Option<&[usize]> = only_some.then_some(&[1, 3]);
        let want = physical(by_csv_crate(&text, &columns, read, skip), &text);
        let got = by_lines(&text, &columns, read, skip);
        prop_assert_eq!(got, want, "text: {:?}", text);
    }
}

#[test]
fn text_with_quotes_or_carriage_returns_goes_to_the_csv_crate() {
    assert!(CsvLines::applies(b"1,a\n2,b\n"));
    assert!(!CsvLines::applies(b"1,\"a,b\"\n"));
    assert!(!CsvLines::applies(b"1,a\r\n"));
}
