//! Whole lines of a file's text into batches, through the reader its
//! format takes: CSV split at newlines and commas when the text has no
//! quotes or carriage returns, the csv crate otherwise, JSON lines.

use arrow_array::RecordBatch;
use percore_operators::codec::csv::{CsvLines, CsvReader};
use percore_operators::codec::jsonl::JsonLinesReader;
use percore_operators::codec::OnError;
use percore_operators::{Column, Format, Result};

/// Parses whole lines of `format` text (CSV without a header, its fields
/// for the schema columns at `csv_index`; only the columns `read`, when
/// given, parsed) into batches handed to `push`
/// with their rows' byte positions in `text`, until its end or its first
/// error. Returns the malformed rows skipped, and that error.
#[allow(clippy::too_many_arguments)]
pub(crate) fn parse_lines(
    format: Format,
    name: &str,
    text: &[u8],
    columns: &[Column],
    csv_index: Vec<usize>,
    read: Option<&[usize]>,
    batch_size: usize,
    on_error: OnError,
    push: &mut impl FnMut(RecordBatch, &[i64]),
) -> (u64, Result<()>) {
    match format {
        // Text without quotes or carriage returns: split at newlines and
        // commas (the same rows, faster).
        Format::Csv if CsvLines::applies(text) => {
            let r = CsvLines::new(name, text, columns, csv_index, batch_size, on_error);
            let mut r = match read {
                Some(cols) => r.reading_only(cols),
                None => r,
            };
            let result = drain(&mut r, CsvLines::next_batch, CsvLines::positions, push);
            (r.malformed_rows(), result)
        }
        Format::Csv => {
            let r = CsvReader::headerless(name, text, columns, csv_index, batch_size, on_error);
            let mut r = match read {
                Some(cols) => r.reading_only(cols),
                None => r,
            };
            let result = drain(&mut r, CsvReader::next_batch, CsvReader::positions, push);
            (r.malformed_rows(), result)
        }
        Format::JsonLines => {
            let mut r = JsonLinesReader::new(name, text, columns, batch_size, on_error);
            let result = drain(
                &mut r,
                JsonLinesReader::next_batch,
                JsonLinesReader::positions,
                push,
            );
            (r.malformed_rows(), result)
        }
    }
}

/// Hands every batch reader `r` reads to `push` with its rows' positions,
/// until the end of its input or its first error.
fn drain<R>(
    r: &mut R,
    next: impl Fn(&mut R) -> Result<Option<RecordBatch>>,
    positions: impl for<'a> Fn(&'a R) -> &'a [i64],
    push: &mut impl FnMut(RecordBatch, &[i64]),
) -> Result<()> {
    while let Some(b) = next(r)? {
        push(b, positions(r));
    }
    Ok(())
}
